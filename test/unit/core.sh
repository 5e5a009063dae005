#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Unit tests (no KVM) for the guest-address gate, the bus, e820, MP table and loaders.
set -uo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$(mktemp -d /tmp/kvmrun-unit.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
if ! gcc -std=gnu11 -g -O1 -D_GNU_SOURCE -fsanitize=address,undefined -fno-sanitize-recover=all \
	-I"$TOP" -o "$OUT/test_core" "$TOP/test/unit/test_core.c" "$TOP/mem.c" "$TOP/bus.c" \
	"$TOP/boot.c" "$TOP/mptable.c" 2>"$OUT/cc.log"; then
	echo "FAIL unit/core-build: $(head -c 600 "$OUT/cc.log")"
	exit 0
fi
cd "$OUT" && ./test_core || echo "FAIL unit/core: crashed (status $?)"
