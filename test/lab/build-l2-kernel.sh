#!/bin/bash
# Build the lab's L2 guest kernel (bzImage and the PVH vmlinux) from Debian's
# linux-source-6.1 with l2.config over allnoconfig. Cached by inputs; prints
# the folder holding bzImage, vmlinux and config on stdout.
set -euo pipefail
. "$(dirname "$0")/common.sh"

need_pkgs linux-source-6.1 make gcc bc flex bison libelf-dev libssl-dev xz-utils lz4 cpio
src_ver=$(pkg_version linux-source-6.1)
key=$(key_of "$LAB/l2.config" "$LAB/build-l2-kernel.sh" -s "$src_ver")
out=$LAB_CACHE/l2-kernel-$key
if cache_done "$out"; then
	echo "$out"
	exit 0
fi

# The unpacked source is shared by every config of one package version.
src=$LAB_CACHE/linux-source-$src_ver
if ! cache_done "$src"; then
	log "unpacking linux-source $src_ver"
	cache_begin "$src"
	tar -xJf /usr/src/linux-source-6.1.tar.xz -C "$src.tmp" --strip-components=1
	cache_commit "$src"
fi

cache_begin "$out"
build=$out.tmp/build
mkdir -p "$build"
log "building the L2 kernel in $build (make -j2; about 10 minutes cold)"
t0=$(date +%s)
make -s -C "$src" O="$build" KCONFIG_ALLCONFIG="$LAB/l2.config" allnoconfig >&2

# Kconfig drops a requested option silently when a dependency is missing:
# insist that every line of the fragment made it into .config.
bad=0
while IFS= read -r line; do
	case $line in
	CONFIG_*=n) want="# ${line%=n} is not set" ;;
	CONFIG_*) want=$line ;;
	*) continue ;;
	esac
	if [ "${line%=n}" != "$line" ]; then
		! grep -q "^${line%=n}=" "$build/.config" && continue
	else
		grep -qxF "$want" "$build/.config" && continue
	fi
	echo "lab: l2.config: '$line' did not survive (.config has: $(grep "${line%%=*}[= ]" "$build/.config" || echo nothing))" >&2
	bad=1
done <"$LAB/l2.config"
[ $bad -eq 0 ] || die "l2.config does not apply cleanly to linux-source $src_ver"

make -s -C "$src" O="$build" -j"${LAB_JOBS:-2}" bzImage vmlinux >&2
cp "$build/arch/x86/boot/bzImage" "$build/vmlinux" "$out.tmp/"
cp "$build/.config" "$out.tmp/config"
echo "$(($(date +%s) - t0))" >"$out.tmp/build-seconds"
rm -rf "$build"
cache_commit "$out"
log "L2 kernel built in $(cat "$out/build-seconds")s: $out"
echo "$out"
