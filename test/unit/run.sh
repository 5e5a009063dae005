#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The unit tests, one entry point: each test/unit/test_NAME.c is built with
# ASan and UBSan against the modules it tests, with one set of flags, and run;
# its PASS/FAIL lines pass through. A binary that does not build, or dies
# (sanitizer report, crash) without a FAIL line of its own, is a FAIL too.
#   test/unit/run.sh [NAME...]          build and run (default: all)
#   test/unit/run.sh --build [NAME...]  build only, into build/unit/
#   test/unit/run.sh --run [NAME...]    run what --build made
#   test/unit/run.sh --kvm              the names that need /dev/kvm
#   test/unit/run.sh --names            every name
# Names: core acpi ratelimit snap serial virtq blk net thread. Only thread and net create a VM (no
# vCPU); test/run.sh runs those two in L1 where the host has no /dev/kvm.
set -uo pipefail
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=${UNIT_OUT:-$TOP/build/unit}
CC=${CC:-gcc}
# shellcheck source=../../warnings.sh
. "$TOP/warnings.sh"
CFLAGS=(-std=gnu11 -g -O1 "${WARN[@]}" -Werror -D_GNU_SOURCE -I"$TOP"
	-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
ALL=(core acpi ratelimit snap serial virtq blk net thread)
KVM=(thread net)
VIRTIO=(ratelimit.c virtio.c virtio_io.c virtq.c virtio_blk.c blkspec.c virtio_net.c netspec.c netstream.c tap.c mem.c)

# srcs NAME: the modules a test links against.
srcs() {
	case $1 in
	core) echo mem.c bus.c boot.c mptable.c ;;
	acpi) echo acpi.c aml.c acpi_pm.c mem.c ;;
	ratelimit) echo ratelimit.c ;;
	snap) echo snapfile.c ;;
	serial) echo serial.c console.c ratelimit.c ;;
	virtq | blk | net | thread) echo "${VIRTIO[@]}" ;;
	*) return 1 ;;
	esac
}

build() {
	local name=$1 mods m
	mods=$(srcs "$name") || { echo "FAIL unit/$name: no such unit test (have: ${ALL[*]})"; return 1; }
	local files=()
	for m in $mods; do files+=("$TOP/$m"); done
	if ! "$CC" "${CFLAGS[@]}" -o "$OUT/test_$name" "$TOP/test/unit/test_$name.c" "${files[@]}" \
		-lpthread 2>"$OUT/test_$name.build.log"; then
		echo "FAIL unit/$name: does not compile (see $OUT/test_$name.build.log)"
		sed 's/^/    /' "$OUT/test_$name.build.log" | head -20
		rm -f "$OUT/test_$name"
		return 1
	fi
}

# A loop device for the block-device test, when we may make one.
loop_setup() {
	LOOPDEV=
	[ "$(id -u)" = 0 ] && command -v losetup >/dev/null || return 0
	LOOPIMG=$(mktemp /tmp/kvmrun-loop.XXXXXX)
	truncate -s 4M "$LOOPIMG"
	if LOOPDEV=$(losetup -f --show "$LOOPIMG" 2>/dev/null); then
		export BLK_TEST_DEV=$LOOPDEV
	else
		LOOPDEV=
	fi
	trap '[ -n "$LOOPDEV" ] && losetup -d "$LOOPDEV"; rm -f "$LOOPIMG"' EXIT
}

run() {
	local name=$1 bin=$OUT/test_$1 status
	if [ ! -x "$bin" ]; then
		echo "FAIL unit/$name: not built (test/unit/run.sh --build $name)"
		return 1
	fi
	# The tests write their scratch files in the current directory.
	(cd "$OUT" && "$bin") >"$OUT/test_$name.log" 2>"$OUT/test_$name.stderr"
	status=$?
	cat "$OUT/test_$name.log"
	if [ "$status" -ne 0 ] && ! grep -q '^FAIL' "$OUT/test_$name.log"; then
		echo "FAIL unit/$name: exited with status $status (see $OUT/test_$name.stderr)"
		sed 's/^/    /' "$OUT/test_$name.stderr" | head -30
	fi
	return "$status"
}

mode=all
case ${1:-} in
--build) mode=build; shift ;;
--run) mode=run; shift ;;
--kvm) echo "${KVM[*]}"; exit 0 ;;
--names) echo "${ALL[*]}"; exit 0 ;;
-*) echo "usage: test/unit/run.sh [--build|--run|--kvm|--names] [NAME...]" >&2; exit 2 ;;
esac
names=("$@")
[ ${#names[@]} -gt 0 ] || names=("${ALL[@]}")
mkdir -p "$OUT"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
rc=0
if [ "$mode" != run ]; then
	for n in "${names[@]}"; do build "$n" || rc=1; done
fi
if [ "$mode" != build ]; then
	loop_setup
	for n in "${names[@]}"; do run "$n" || rc=1; done
fi
exit $rc
