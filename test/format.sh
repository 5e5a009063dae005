#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The C sources hold .clang-format's layout: one PASS line, or one FAIL naming
# the files that drifted (fix: clang-format -i FILE). No KVM needed.
#   test/format.sh          check
#   test/format.sh --list   the files it checks
set -uo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"
files=(*.c *.h test/unit/*.c test/unit/*.h test/firstrun.c fuzz/*.c fuzz/*.h)
if [ "${1:-}" = --list ]; then
	printf '%s\n' "${files[@]}"
	exit 0
fi
if ! command -v clang-format >/dev/null; then
	echo "FAIL format/clang-format: clang-format is not installed (./build.sh need clang-format)"
	exit 1
fi
drift=()
for f in "${files[@]}"; do
	clang-format --style=file "$f" | cmp -s - "$f" || drift+=("$f")
done
if [ ${#drift[@]} -eq 0 ]; then
	echo "PASS format/clang-format"
else
	echo "FAIL format/clang-format: ${#drift[@]} of ${#files[@]} files drift from .clang-format: ${drift[*]} (clang-format -i them)"
	exit 1
fi
