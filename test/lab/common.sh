# shellcheck shell=bash
# Host-side helpers shared by the lab's build scripts, run.sh and demo.sh.
# Source it; it sets LAB (this folder), TOP (the checkout) and LAB_CACHE.
# shellcheck disable=SC2034 # TOP is for the scripts that source this
LAB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$LAB/../.." && pwd)
# Everything built lives outside the checkout, keyed by its inputs.
LAB_CACHE=${KVMRUN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kvmrun}
mkdir -p "$LAB_CACHE"

log() { echo "lab: $*" >&2; }
die() { echo "lab: error: $*" >&2; exit 1; }

# need_pkgs PKG...: install the Debian packages that are missing (build.sh's helper).
# Returns 1 (after build.sh's one-line reason) when apt-get failed.
need_pkgs() { "$TOP/build.sh" need "$@" || { log "cannot install $*"; return 1; }; }

# pkg_version PKG: the installed version of a Debian package.
pkg_version() { dpkg-query -W -f='${Version}' "$1"; }

# key_of FILE|-s STRING...: a short hash of the given files' contents and
# strings, used to name a cache entry so that it changes with its inputs.
key_of() {
	{
		while [ $# -gt 0 ]; do
			if [ "$1" = -s ]; then
				printf '%s\n' "$2"
				shift 2
			else
				printf '%s\n' "${1##*/}"
				cat "$1"
				shift
			fi
		done
	} | sha256sum | cut -c1-16
}

# cache_done DIR: true when DIR was completed by an earlier build. A build
# writes into DIR.tmp and renames it, so a half-built entry never looks done.
cache_done() { [ -f "$1/.done" ]; }
cache_begin() { rm -rf "$1.tmp"; mkdir -p "$1.tmp"; }
cache_commit() { touch "$1.tmp/.done"; rm -rf "$1"; mv "$1.tmp" "$1"; }

# mk_cpio DIR OUT FILTER...: pack DIR as a newc cpio owned by root, piped
# through FILTER (e.g. gzip -9, or lz4 -l for the kernel's legacy LZ4 format).
mk_cpio() {
	local dir=$1 out=$2
	shift 2
	(cd "$dir" && find . -mindepth 1 | LC_ALL=C sort |
		cpio --quiet -o -H newc -R 0:0) | "$@" >"$out"
}

# stage_busybox DIR: a root skeleton with busybox-static and its applets.
stage_busybox() {
	local dir=$1 a
	mkdir -p "$dir"/{bin,dev,etc,proc,sys,tmp,root,lib/modules}
	ln -s bin "$dir/sbin"
	cp /bin/busybox "$dir/bin/busybox"
	for a in $(/bin/busybox --list); do
		[ "$a" = busybox ] || ln -s busybox "$dir/bin/$a"
	done
}

# stage_modules MODDIR DEST NAME...: copy the named modules of the kernel
# tree MODDIR (lib/modules/<release>) and everything they depend on into DEST,
# flat, with DEST/order listing them in an order insmod can follow.
stage_modules() {
	local moddir=$1 dest=$2 done_list=" "
	shift 2
	mkdir -p "$dest"
	: >"$dest/order"
	_stage_one() {
		local name=${1//-/_} file dep
		case $done_list in *" $name "*) return 0 ;; esac
		file=$(find "$moddir/kernel" -name "$name.ko*" -o -name "${name//_/-}.ko*" | head -1)
		[ -n "$file" ] || die "module $1 not found under $moddir"
		for dep in $(modinfo -F depends "$file" | tr , ' '); do
			_stage_one "$dep"
		done
		case $file in
		*.ko.xz) xz -dc "$file" >"$dest/$name.ko" ;;
		*.ko.zst) zstd -qdc "$file" >"$dest/$name.ko" ;;
		*) cp "$file" "$dest/$name.ko" ;;
		esac
		echo "$name.ko" >>"$dest/order"
		done_list="$done_list$name "
	}
	local m
	for m in "$@"; do _stage_one "$m"; done
}

# rootdisk_image package|host: the Debian 12 root disk of tools/mkroot.sh
# (--kernel WHICH, 2G), built once into the cache (4-6 minutes) and keyed by
# the tool's text and the kernel it boots: Debian's kernel package version,
# or this host's release. Prints the entry's folder (root.ext4, and with
# package its root.vmlinuz and root.initrd.img; build-secs); returns 1, with
# the end of mkroot's log, when the build failed. Used by the lab scenario
# rootdisk and by demo.sh.
rootdisk_image() {
	local args=(--kernel "$1" --size 2G) kver dir t
	if [ "$1" = package ]; then
		kver=$(apt-cache policy linux-image-amd64 2>/dev/null | sed -n 's/^ *Candidate: //p')
	else
		kver=$(uname -r)
	fi
	dir=$LAB_CACHE/rootdisk-$(key_of "$TOP/tools/mkroot.sh" -s "${args[*]}" -s "$kver")
	if ! cache_done "$dir"; then
		log "making the Debian root disk with tools/mkroot.sh ${args[*]} (first time only: about 5 minutes; its log: $dir.tmp/build.log)"
		cache_begin "$dir"
		t=$(date +%s)
		if ! "$TOP/tools/mkroot.sh" "${args[@]}" -o "$dir.tmp/root.ext4" \
			>"$dir.tmp/command.txt" 2>"$dir.tmp/build.log"; then
			log "tools/mkroot.sh failed; the last lines of its log:"
			tail -n 15 "$dir.tmp/build.log" | sed 's/^/lab:   | /' >&2
			rm -rf "$dir.tmp"
			return 1
		fi
		echo "$(($(date +%s) - t))" >"$dir.tmp/build-secs"
		cache_commit "$dir"
	fi
	echo "$dir"
}
