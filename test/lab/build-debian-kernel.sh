#!/bin/bash
# Fetch Debian's stock kernel (the package linux-image-amd64 depends on) and
# unpack it into the cache, never into the system. It is L1's kernel, and the
# "stock kernel as L2" scenario boots it again inside. Prints the folder:
# vmlinuz, release, and lib/modules/<release>/.
set -euo pipefail
. "$(dirname "$0")/common.sh"

need_pkgs kmod
pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)/\1/p' | head -1)
if [ -z "$pkg" ]; then
	apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
	pkg=$(apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)/\1/p' | head -1)
fi
[ -n "$pkg" ] || die "cannot tell which package linux-image-amd64 depends on"
ver=$(apt-cache policy "$pkg" | sed -n 's/^ *Candidate: //p')
out=$LAB_CACHE/debian-kernel-$pkg-$ver
if cache_done "$out"; then
	echo "$out"
	exit 0
fi
log "fetching $pkg $ver"
cache_begin "$out"
(cd "$out.tmp" && apt-get download -q "$pkg=$ver" >&2)
dpkg-deb -x "$out.tmp"/*.deb "$out.tmp/root"
rm -f "$out.tmp"/*.deb
release=${pkg#linux-image-}
mv "$out.tmp/root/boot/vmlinuz-$release" "$out.tmp/vmlinuz"
mkdir -p "$out.tmp/lib/modules"
mv "$out.tmp/root/lib/modules/$release" "$out.tmp/lib/modules/"
rm -rf "$out.tmp/root"
echo "$release" >"$out.tmp/release"
cache_commit "$out"
echo "$out"
