#!/usr/bin/env bash
# virtio unit tests: build test_virtq.c, test_blk.c, test_net.c (no /dev/kvm needed) and
# test_thread.c (a VM fd without vCPUs; SKIPs without /dev/kvm)
# with ASan and UBSan against virtio.c, virtq.c, virtio_blk.c, virtio_net.c and mem.c, run
# them, pass their PASS/FAIL lines through. A test binary that dies (sanitizer report,
# crash) is a FAIL too. (test_core.c has its own script, core.sh.)
set -u
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=${UNIT_OUT:-$TOP/build/unit}
CC=${CC:-gcc}
CFLAGS=(-std=gnu11 -g -O1 -Wall -Wextra -Wshadow -Werror -D_GNU_SOURCE
	-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
SRCS=("$TOP/virtio.c" "$TOP/virtq.c" "$TOP/virtio_blk.c" "$TOP/virtio_net.c" "$TOP/mem.c")
mkdir -p "$OUT"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# A loop device for the block-device test, when we may make one.
LOOPDEV=
if [ "$(id -u)" = 0 ] && command -v losetup >/dev/null; then
	LOOPIMG=$(mktemp /tmp/kvmrun-loop.XXXXXX)
	truncate -s 4M "$LOOPIMG"
	if LOOPDEV=$(losetup -f --show "$LOOPIMG" 2>/dev/null); then
		export BLK_TEST_DEV=$LOOPDEV
	else
		LOOPDEV=
	fi
	trap '[ -n "$LOOPDEV" ] && losetup -d "$LOOPDEV"; rm -f "$LOOPIMG"' EXIT
fi

rc=0
for src in "$TOP"/test/unit/test_virtq.c "$TOP"/test/unit/test_blk.c "$TOP"/test/unit/test_thread.c \
	"$TOP"/test/unit/test_net.c; do
	name=$(basename "$src" .c)
	bin="$OUT/$name"
	if ! "$CC" "${CFLAGS[@]}" -o "$bin" "$src" "${SRCS[@]}" -lpthread 2>"$OUT/$name.build.log"; then
		echo "FAIL $name: does not compile (see $OUT/$name.build.log)"
		sed 's/^/    /' "$OUT/$name.build.log" | head -20
		rc=1
		continue
	fi
	log="$OUT/$name.log"
	"$bin" >"$log" 2>"$OUT/$name.stderr"
	status=$?
	cat "$log"
	if [ "$status" -ne 0 ] && ! grep -q '^FAIL' "$log"; then
		echo "FAIL $name: exited with status $status (see $OUT/$name.stderr)"
		sed 's/^/    /' "$OUT/$name.stderr" | head -30
	fi
	[ "$status" -eq 0 ] || rc=1
done
exit $rc
