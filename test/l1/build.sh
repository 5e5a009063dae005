#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Assemble the initramfs of the L1 that shares the host's root (test/l1/run.sh):
# busybox-static, test/l1/init and the modules of Debian's stock kernel that
# it needs (9p and overlay for the root, kvm-amd for /dev/kvm, tun, veth,
# bridge and loop for the tests). Unlike the lab's L1 it carries no kvmrun,
# no guests and no tests: those are read from the host's own root. Cached by
# inputs; prints two lines: L1's kernel (Debian's vmlinuz) and the initramfs.
set -euo pipefail
L1=$(cd "$(dirname "$0")" && pwd)
. "$L1/../lab/common.sh"
log() { echo "l1: $*" >&2; }
die() { echo "l1: error: $*" >&2; exit 1; }

need_pkgs busybox-static cpio lz4 kmod
dk=$("$LAB/build-debian-kernel.sh")
# The order in which init loads them: stage_modules adds dependencies first.
MODULES=(virtio_pci 9pnet_virtio 9p overlay irqbypass kvm ccp kvm-amd tun veth bridge loop)
key=$(key_of "$L1/build.sh" "$L1/init" "$LAB/common.sh" -s "${MODULES[*]}" \
	-s "$(pkg_version busybox-static)" -s "$dk")
out=$LAB_CACHE/l1-hostroot-$key
if ! cache_done "$out"; then
	cache_begin "$out"
	root=$out.tmp/root
	stage_busybox "$root"
	install -m 755 "$L1/init" "$root/init"
	stage_modules "$dk/lib/modules/$(cat "$dk/release")" "$root/lib/modules" "${MODULES[@]}"
	mk_cpio "$root" "$out.tmp/initramfs.cpio.lz4" lz4 -l -1 -q
	rm -rf "$root"
	cache_commit "$out"
	# Keep the newest two assemblies: each is a few MiB.
	find "$LAB_CACHE" -maxdepth 1 -name 'l1-hostroot-*' ! -name '*.tmp' -printf '%T@ %p\n' |
		sort -rn | tail -n +3 | cut -d' ' -f2- | xargs -r rm -rf
fi
echo "$dk/vmlinuz"
echo "$out/initramfs.cpio.lz4"
