# shellcheck shell=bash
# SPDX-License-Identifier: Apache-2.0
# The one warning set for every C compile line: kvmrun (build.sh), its unit
# tests (test/unit/run.sh) and fuzz targets (fuzz/run.sh). Always with -Werror.
# shellcheck disable=SC2034 # used by the scripts that source this
WARN=(-Wall -Wextra -Wshadow -Wpointer-arith -Wcast-align -Wwrite-strings -Wmissing-prototypes
	-Wstrict-prototypes -Wold-style-definition -Wformat=2 -Wundef -Wvla -Wimplicit-fallthrough
	-Wno-unused-parameter)
