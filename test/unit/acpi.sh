#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# ACPI unit tests (no KVM): build test_acpi.c against acpi.c and mem.c with ASan and
# UBSan, run it, pass its PASS/FAIL lines through. A crash or sanitizer report is a FAIL.
set -uo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$(mktemp -d /tmp/kvmrun-unit-acpi.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if ! gcc -std=gnu11 -g -O1 -Wall -Wextra -Wshadow -Werror -Wno-unused-parameter -D_GNU_SOURCE \
	-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
	-I"$TOP" -o "$OUT/test_acpi" "$TOP/test/unit/test_acpi.c" "$TOP/acpi.c" "$TOP/mem.c" \
	2>"$OUT/cc.log"; then
	echo "FAIL unit/acpi/build: $(head -c 600 "$OUT/cc.log")"
	exit 0
fi
"$OUT/test_acpi" >"$OUT/log" 2>"$OUT/stderr"
status=$?
cat "$OUT/log"
if [ "$status" -ne 0 ] && ! grep -q '^FAIL' "$OUT/log"; then
	echo "FAIL unit/acpi: exited with status $status: $(head -c 800 "$OUT/stderr")"
fi
