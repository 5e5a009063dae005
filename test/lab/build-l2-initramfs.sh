#!/bin/bash
# Build the L2 guest's initramfs: busybox-static and l2/init. With "debian"
# it also carries the virtio modules of Debian's stock kernel, for booting
# that kernel as L2. Cached by inputs; prints the path of the LZ4 cpio.
set -euo pipefail
. "$(dirname "$0")/common.sh"

variant=${1:-plain}
need_pkgs busybox-static cpio lz4 kmod gcc libc6-dev
inputs=("$LAB/build-l2-initramfs.sh" "$LAB/common.sh" "$LAB/l2/init" "$LAB/l2/ctrlaltdel" "$LAB/l2/profile"
	"$LAB/l2/udhcpc" "$LAB/l2/blkpat.c")
nettool=$("$LAB/build-nettool.sh") # the UDP echo for the network scenarios
inputs+=("$nettool")
extra=()
case $variant in
plain) ;;
debian)
	dk=$("$LAB/build-debian-kernel.sh")
	extra=(-s "$dk")
	;;
*) die "unknown initramfs variant '$variant' (plain or debian)" ;;
esac
key=$(key_of "${inputs[@]}" -s "$variant" -s "$(pkg_version busybox-static)" "${extra[@]}")
out=$LAB_CACHE/l2-initramfs-$variant-$key
if cache_done "$out"; then
	echo "$out/initramfs.cpio.lz4"
	exit 0
fi
cache_begin "$out"
root=$out.tmp/root
stage_busybox "$root"
install -m 755 "$LAB/l2/init" "$root/init"
mkdir -p "$root/lab"
install -m 755 "$LAB/l2/ctrlaltdel" "$root/lab/ctrlaltdel"
install -m 755 "$LAB/l2/udhcpc" "$root/lab/udhcpc"
install -m 644 "$LAB/l2/profile" "$root/etc/profile"
# blkpat: the disk pattern writer/checker of the virtio-blk scenarios.
gcc -static -O2 -s -o "$root/bin/blkpat" "$LAB/l2/blkpat.c"
install -m 755 "$nettool" "$root/lab/nettool"
if [ "$variant" = debian ]; then
	# Order matters: virtio_ring, virtio, then the transports and drivers.
	stage_modules "$dk/lib/modules/$(cat "$dk/release")" "$root/lib/modules" \
		virtio_ring virtio virtio_mmio virtio_pci virtio_blk failover net_failover virtio_net \
		crc32c_generic ext4 # ext4 for the acpi-debian disk checks
fi
mk_cpio "$root" "$out.tmp/initramfs.cpio.lz4" lz4 -l -9 -q
rm -rf "$root"
cache_commit "$out"
echo "$out/initramfs.cpio.lz4"
