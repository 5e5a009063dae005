#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Assemble the benchmark variant of the lab's L1 initramfs: the test L1
# (test/lab/build-l1.sh, unchanged) with one more LZ4 cpio appended that adds
#   /usr/bin/qemu-system-x86_64 and the libraries ldd lists, plus the one
#     firmware file microvm opens (/usr/share/qemu/qboot.rom, alias
#     bios-microvm.bin; found with strace),
#   /usr/bin/iperf3 and its libraries,
#   /lab/bench/vmmtime (static timer), /lab/bench/l2.cpio.lz4 (the benchmark
#     L2 initramfs: busybox, bench/lab/l2-init as /init, blkio, iperf3),
#   /lab/scenarios/bench-*.sh (bench/lab/scenarios).
# The kernel unpacks concatenated archives in order, so the test L1 stays as
# it is and only benchmark runs carry QEMU. Prints the L1 kernel and the
# benchmark initramfs, like build-l1.sh.
set -euo pipefail
BENCH=$(cd "$(dirname "$0")" && pwd)
. "$BENCH/../../test/lab/common.sh"

need_pkgs qemu-system-x86 iperf3 gcc libc6-dev busybox-static cpio lz4 kmod
mapfile -t l1 < <("$LAB/build-l1.sh")
l2k=$("$LAB/build-l2-kernel.sh")

key=$(key_of "$BENCH/build.sh" "$BENCH/vmmtime.c" "$BENCH/blkio.c" "$BENCH/l2-init" \
	"$BENCH"/scenarios/*.sh "${l1[1]}" "$l2k/vmlinux" -s "$(pkg_version qemu-system-x86)" \
	-s "$(pkg_version iperf3)" -s "$(pkg_version busybox-static)")
out=$LAB_CACHE/bench-l1-$key
if ! cache_done "$out"; then
	cache_begin "$out"
	t=$out.tmp
	gcc -O2 -static -Wall -Wextra -o "$t/vmmtime" "$BENCH/vmmtime.c"
	gcc -O2 -static -Wall -Wextra -o "$t/blkio" "$BENCH/blkio.c"

	# copy_with_libs ROOT BINARY: the binary and what ldd says it loads, at
	# the same paths (following symlinks), so the dynamic loader finds them.
	copy_with_libs() {
		local root=$1 bin=$2 lib
		install -D -m 755 "$bin" "$root$bin"
		for lib in $(ldd "$bin" | grep -oE '/[^ ]+'); do
			[ -e "$root$lib" ] || install -D -m 755 "$(readlink -f "$lib")" "$root$lib"
		done
	}

	# The benchmark L2 initramfs.
	r2=$t/l2root
	stage_busybox "$r2"
	install -m 755 "$BENCH/l2-init" "$r2/init"
	install -D -m 755 "$t/blkio" "$r2/bench/blkio"
	copy_with_libs "$r2" /usr/bin/iperf3
	ln -s /usr/bin/iperf3 "$r2/bench/iperf3"
	mk_cpio "$r2" "$t/l2.cpio.lz4" lz4 -l -9 -q
	rm -rf "$r2"

	# The overlay for L1.
	r1=$t/l1root
	mkdir -p "$r1/lab/bench" "$r1/lab/scenarios" "$r1/usr/share/qemu"
	copy_with_libs "$r1" /usr/bin/qemu-system-x86_64
	copy_with_libs "$r1" /usr/bin/iperf3
	cp -L /usr/share/qemu/qboot.rom /usr/share/qemu/bios-microvm.bin "$r1/usr/share/qemu/"
	install -m 755 "$t/vmmtime" "$r1/lab/bench/vmmtime"
	cp "$t/l2.cpio.lz4" "$r1/lab/bench/l2.cpio.lz4"
	install -m 644 "$BENCH"/scenarios/*.sh "$r1/lab/scenarios/"
	mk_cpio "$r1" "$t/overlay.cpio.lz4" lz4 -l -1 -q
	rm -rf "$r1"
	cat "${l1[1]}" "$t/overlay.cpio.lz4" >"$t/initramfs.cpio.lz4"
	rm -f "$t/overlay.cpio.lz4"
	cache_commit "$out"
	find "$LAB_CACHE" -maxdepth 1 -name 'bench-l1-*' ! -name '*.tmp' -printf '%T@ %p\n' |
		sort -rn | tail -n +3 | cut -d' ' -f2- | xargs -r rm -rf
fi
echo "${l1[0]}"
echo "$out/initramfs.cpio.lz4"
