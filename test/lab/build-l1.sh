#!/bin/bash
# Assemble L1's initramfs: busybox-static, l1/init, the kvm-amd (and virtio,
# tun, bridge) modules of Debian's stock kernel, the kvmrun under test, the
# L2 kernels and initramfs, the scenarios, and passt with the C library it
# links (the --net stream= scenario's peer). Prints two lines on stdout:
# the L1 kernel (Debian's vmlinuz) and the L1 initramfs. Cached by inputs.
# KVMRUN names the kvmrun binary (default: the checkout's ./kvmrun); a missing
# one is left out, and the scenarios that need it fail.
set -euo pipefail
. "$(dirname "$0")/common.sh"

need_pkgs busybox-static cpio lz4 kmod passt
dk=$("$LAB/build-debian-kernel.sh")
l2k=$("$LAB/build-l2-kernel.sh")
l2i=$("$LAB/build-l2-initramfs.sh" plain)
l2d=$("$LAB/build-l2-initramfs.sh" debian)
nettool=$("$LAB/build-nettool.sh") # UDP checker and tap-fd launcher (network scenarios)
# The probe guest (built by ./build.sh) for the on-demand stress scenario.
probe=$TOP/test/guest/out/probe.bzImage
[ -f "$probe" ] || probe=
kvmrun=${KVMRUN:-$TOP/kvmrun}
if [ -f "$kvmrun" ]; then
	# L1 has no C library: only a static binary runs there.
	if file -L "$kvmrun" 2>/dev/null | grep -q 'dynamically linked'; then
		die "$kvmrun is dynamically linked; the lab needs a static kvmrun"
	fi
else
	log "no kvmrun at $kvmrun: the lab runs without it"
	kvmrun=
fi

# passt is dynamically linked: it comes with the libraries ldd names, each at
# the path ldd gives (the loader too), as L1 has no C library of its own.
passt=(/usr/bin/passt /usr/bin/passt.avx2)
mapfile -t passt_libs < <(ldd "${passt[@]}" |
	sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p' | sort -u)
[ ${#passt_libs[@]} -ge 2 ] || die "ldd named no libraries for ${passt[*]}"

inputs=("$LAB/build-l1.sh" "$LAB/common.sh" "$LAB/l1/init" "$LAB/l1/lib.sh"
	"$l2k/bzImage" "$l2k/vmlinux" "$l2i" "$l2d" "$dk/vmlinuz" "$LAB"/scenarios/*.sh)
inputs+=("$nettool" "${passt[@]}" "${passt_libs[@]}")
[ -n "$probe" ] && inputs+=("$probe")
[ -n "$kvmrun" ] && inputs+=("$kvmrun")
key=$(key_of "${inputs[@]}" -s "$(pkg_version busybox-static)" -s "$dk")
out=$LAB_CACHE/l1-$key
if ! cache_done "$out"; then
	cache_begin "$out"
	root=$out.tmp/root
	stage_busybox "$root"
	install -m 755 "$LAB/l1/init" "$root/init"
	mkdir -p "$root/lab/l2" "$root/lab/debian" "$root/lab/scenarios"
	install -m 644 "$LAB/l1/lib.sh" "$root/lab/lib.sh"
	install -m 644 "$LAB"/scenarios/*.sh "$root/lab/scenarios/"
	cp "$l2k/bzImage" "$l2k/vmlinux" "$l2i" "$root/lab/l2/"
	cp "$dk/vmlinuz" "$root/lab/debian/vmlinuz"
	cp "$l2d" "$root/lab/debian/initramfs.cpio.lz4"
	[ -n "$kvmrun" ] && install -m 755 "$kvmrun" "$root/lab/kvmrun"
	install -m 755 "$nettool" "$root/lab/nettool"
	mkdir -p "$root/usr/bin"
	install -m 755 "${passt[@]}" "$root/usr/bin/"
	for f in "${passt_libs[@]}"; do
		mkdir -p "$root${f%/*}"
		cp -L "$f" "$root$f"
	done
	[ -n "$probe" ] && install -m 644 "$probe" "$root/lab/probe.bzImage"
	# kvm-amd gives L1 its /dev/kvm; virtio_pci + virtio_blk take the
	# host's extra drives; tun and bridge are for the networking scenarios,
	# dummy gives passt an uplink with an address and a default route.
	stage_modules "$dk/lib/modules/$(cat "$dk/release")" "$root/lib/modules" \
		irqbypass kvm ccp kvm-amd virtio_pci virtio_blk tun bridge dummy
	mk_cpio "$root" "$out.tmp/initramfs.cpio.lz4" lz4 -l -1 -q
	rm -rf "$root"
	cache_commit "$out"
	# Keep the newest few assemblies only: each holds every kernel.
	find "$LAB_CACHE" -maxdepth 1 -name 'l1-*' ! -name '*.tmp' -printf '%T@ %p\n' |
		sort -rn | tail -n +4 | cut -d' ' -f2- | xargs -r rm -rf
fi
echo "$dk/vmlinuz"
echo "$out/initramfs.cpio.lz4"
