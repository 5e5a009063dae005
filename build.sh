#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Build kvmrun as one static musl binary, and run its demo, tests and benchmarks.
#   ./build.sh            build ./kvmrun (and the probe guest)
#   ./build.sh demo       build, then boot the demo guest to a shell
#   ./build.sh test       build, then run the whole test suite
#   ./build.sh bench      build, then run the benchmarks under bench/
#   ./build.sh asan       also build ./kvmrun-asan (ASan+UBSan, dynamic)
#   ./build.sh fuzz [S]   run every fuzz target for S seconds (fuzz/run.sh)
#   ./build.sh install    install kvmrun and its man page under PREFIX (default /usr/local)
#   ./build.sh clean      remove build outputs from the checkout
#   ./build.sh need PKG.. apt-get install the Debian packages that are missing
#                         (the one such helper: bench/, fuzz/ and test/lab/ use it)
# Everything external comes from Debian packages; libraries are built from
# Debian's source packages with musl-gcc into a cache outside the checkout.
set -euo pipefail

TOP=$(cd "$(dirname "$0")" && pwd)
cd "$TOP"
CACHE=${KVMRUN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kvmrun}
BUILD=$TOP/build
VERSION=$(cat VERSION)

log() { echo "build.sh: $*" >&2; }
die() { echo "build.sh: error: $*" >&2; exit 1; }

# need PKG...: apt-get install whatever is missing (one update per run).
apt_updated=
need() {
	local missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "installing ${missing[*]}"
	# Wait for another apt or dpkg (an unattended upgrade, a second build)
	# instead of failing at once on its lock.
	local wait=(-o DPkg::Lock::Timeout=600)
	if [ -z "$apt_updated" ]; then
		apt-get "${wait[@]}" update -qq >&2 || die "apt-get update failed"
		apt_updated=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get "${wait[@]}" install -y -qq --no-install-recommends \
		"${missing[@]}" >&2 || die "apt-get install ${missing[*]} failed"
}

# Kernel headers for musl-gcc: musl ships none, Debian's linux-libc-dev has them.
musl_includes() {
	local inc=$CACHE/musl-kernel-headers
	if [ ! -e "$inc/video" ]; then
		mkdir -p "$inc"
		ln -sfn /usr/include/linux "$inc/linux"
		ln -sfn /usr/include/x86_64-linux-gnu/asm "$inc/asm"
		ln -sfn /usr/include/asm-generic "$inc/asm-generic"
		ln -sfn /usr/include/video "$inc/video"
	fi
	echo "$inc"
}

# Fetch a Debian source package into DIR without touching the system's apt
# setup: a private deb-src list that mirrors the system's binary sources.
apt_source() {
	local pkg=$1 dir=$2 aptdir=$CACHE/apt-src
	mkdir -p "$aptdir/lists/partial" "$aptdir/parts" "$dir"
	if [ -z "$(ls "$aptdir/parts")" ]; then
		if [ -f /etc/apt/sources.list.d/debian.sources ]; then
			sed 's/^Types:.*/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
				> "$aptdir/parts/debian-src.sources"
		elif [ -f /etc/apt/sources.list ]; then
			grep -E '^deb .*debian' /etc/apt/sources.list | sed 's/^deb /deb-src /' \
				> "$aptdir/parts/debian-src.list"
		fi
		[ -n "$(ls "$aptdir/parts")" ] || die "no Debian apt sources found to mirror as deb-src"
	fi
	local opts=(-oDir::Etc::SourceList=/dev/null -oDir::Etc::SourceParts="$aptdir/parts"
		-oDir::State::Lists="$aptdir/lists" -oDebug::NoLocking=1 -oAPT::Sandbox::User=root)
	apt-get "${opts[@]}" -qq update >&2 || die "apt-get update (deb-src) failed"
	(cd "$dir" && apt-get "${opts[@]}" -qq source --download-only "$pkg" >&2) \
		|| die "apt-get source $pkg failed"
}

# debsrc PKG: Debian's source package PKG unpacked with Debian's patches
# applied, once; prints its directory ($CACHE/src/PKG-VERSION).
debsrc() {
	local pkg=$1 dir
	dir=$(ls -d "$CACHE"/src/"$pkg"-[0-9]* 2>/dev/null | head -n1 || true)
	if [ -n "$dir" ] && [ -f "$dir/.kvmrun-unpacked" ]; then echo "$dir"; return; fi
	need dpkg-dev
	local work=$CACHE/work-$pkg
	rm -rf "$work"; mkdir -p "$work" "$CACHE/src"
	apt_source "$pkg" "$work"
	local dsc ver
	dsc=$(ls "$work"/*.dsc | head -n1)
	ver=$(sed -n 's/^Version: //p' "$dsc" | head -n1)
	dir=$CACHE/src/$pkg-$ver
	rm -rf "$dir"
	dpkg-source --no-check -x "$dsc" "$dir" >/dev/null || die "unpacking $pkg $ver failed"
	touch "$dir/.kvmrun-unpacked"
	rm -rf "$work"
	echo "$dir"
}

# libseccomp built with musl from Debian's source package, cached by version.
libseccomp() {
	local src out
	src=$(debsrc libseccomp)
	out=$CACHE/musl-$(basename "$src")
	if [ -f "$out/lib/libseccomp.a" ]; then echo "$out"; return; fi
	log "building $(basename "$src") with musl (once; cached in $out)"
	need gperf
	local inc
	inc=$(musl_includes)
	(cd "$src" && CC="musl-gcc -I$inc" ./configure -q --enable-static --disable-shared \
		--prefix="$out" >/dev/null && make -s -C src >/dev/null && make -s -C include install >/dev/null \
		&& make -s -C src install >/dev/null) >&2 || die "libseccomp build failed (see $src)"
	echo "$out"
}

# cJSON (the --config parser) from Debian's source package, built with musl.
libcjson() {
	local src out
	src=$(debsrc cjson)
	out=$CACHE/musl-$(basename "$src")
	if [ -f "$out/cJSON.o" ]; then echo "$out"; return; fi
	log "building $(basename "$src") with musl (once; cached in $out)"
	mkdir -p "$out"
	cp "$src/cJSON.h" "$out/"
	musl-gcc -std=c89 -O2 -c "$src/cJSON.c" -o "$out/cJSON.o.tmp" >&2 || die "cJSON build failed"
	mv "$out/cJSON.o.tmp" "$out/cJSON.o"
	echo "$out"
}

# http-parser (the --api-sock request parser) from Debian's source package, built with musl.
libhttpparser() {
	local src out
	src=$(debsrc http-parser)
	out=$CACHE/musl-$(basename "$src")
	if [ -f "$out/http_parser.o" ]; then echo "$out"; return; fi
	log "building $(basename "$src") with musl (once; cached in $out)"
	mkdir -p "$out"
	cp "$src/http_parser.h" "$out/"
	# Strict mode: header characters are checked against RFC 7230, not just accepted.
	musl-gcc -std=gnu99 -O2 -DHTTP_PARSER_STRICT=1 -c "$src/http_parser.c" \
		-o "$out/http_parser.o.tmp" >&2 || die "http-parser build failed"
	mv "$out/http_parser.o.tmp" "$out/http_parser.o"
	echo "$out"
}

. "$TOP/warnings.sh"
SRCS=(vmm.c vm.c machine.c api.c endpoints.c snapapi.c opener.c ratelimit.c limitsfile.c eventloop.c snapshot.c restart.c snapfile.c vmstate.c report.c boottimer.c config.c fcjson.c console.c log.c metrics.c cpu.c mem.c bus.c boot.c mptable.c serial.c i8042.c acpi.c aml.c acpi_pm.c virtio.c virtio_io.c virtq.c virtio_blk.c blkspec.c virtio_net.c netspec.c netstream.c tap.c seccomp.c jail.c teardown.c)

build_kvmrun() {
	need musl-tools gperf linux-libc-dev make gcc file
	local inc seccomp
	inc=$(musl_includes)
	seccomp=$(libseccomp)
	local cjson hp
	cjson=$(libcjson)
	hp=$(libhttpparser)
	mkdir -p "$BUILD"
	# The seccomp filters are compiled here, once, not at every VM start.
	musl-gcc -std=gnu11 -O1 -static -I"$inc" -I"$seccomp/include" -D_GNU_SOURCE -DKVMRUN_SECCOMP_GEN \
		-o "$BUILD/seccomp-gen" seccomp.c "$seccomp/lib/libseccomp.a"
	"$BUILD/seccomp-gen" > "$BUILD/seccomp_bpf.h.tmp"
	mv "$BUILD/seccomp_bpf.h.tmp" "$BUILD/seccomp_bpf.h"
	musl-gcc -std=gnu11 -O2 -g0 -s -static -I"$inc" -I"$BUILD" -isystem "$cjson" -isystem "$hp" "${WARN[@]}" -Werror \
		-DKVMRUN_VERSION="\"$VERSION\"" -D_GNU_SOURCE -pthread \
		-o "$BUILD/kvmrun" "${SRCS[@]}" "$cjson/cJSON.o" "$hp/http_parser.o"
	mv "$BUILD/kvmrun" "$TOP/kvmrun"
	file "$TOP/kvmrun" | grep -q "statically linked" || die "kvmrun is not statically linked"
	log "built $TOP/kvmrun ($(stat -c %s "$TOP/kvmrun") bytes, static)"
}

# The same sources with ASan and UBSan (dynamic, glibc): the integration suite
# runs once against it. Seccomp filters come from the static build's header.
build_asan() {
	need gcc
	local cjson hp
	cjson=$(libcjson)
	hp=$(libhttpparser)
	# http-parser is third-party: sanitized too, but not held to our warnings.
	gcc -std=gnu99 -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined \
		-fno-omit-frame-pointer -DHTTP_PARSER_STRICT=1 -c "$(debsrc http-parser)/http_parser.c" \
		-o "$BUILD/http_parser-asan.o"
	gcc -std=gnu11 -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined \
		-fno-omit-frame-pointer -I"$BUILD" -isystem "$cjson" -isystem "$hp" "${WARN[@]}" -Werror \
		-DKVMRUN_VERSION="\"$VERSION-asan\"" -D_GNU_SOURCE -pthread \
		-o "$TOP/kvmrun-asan" "${SRCS[@]}" "$(debsrc cjson)/cJSON.c" "$BUILD/http_parser-asan.o"
	log "built $TOP/kvmrun-asan (ASan+UBSan)"
}

build_guest() {
	need gcc binutils python3
	bash test/guest/build.sh "$TOP/test/guest/out" >&2
}

cmd=${1:-build}
[ $# -gt 0 ] && shift
case $cmd in
build) build_kvmrun; build_guest ;;
demo) build_kvmrun; build_guest; exec bash test/lab/demo.sh "$@" ;;
test)
	t0=$(date +%s)
	build_kvmrun; build_asan; build_guest
	# What the tests drive: taps in namespaces, ext4 images, ACPI disassembly,
	# the installed man page, seccomp traces, setpriv for the ordinary-user run,
	# the layout check, curl for Firecracker's getting-started sequence.
	need python3 iproute2 e2fsprogs acpica-tools procps man-db strace util-linux clang-format curl
	KVMRUN_BUILD_SECONDS=$(($(date +%s) - t0)) exec bash test/run.sh "$@" ;;
bench)
	build_kvmrun; build_guest
	# boot.sh, density.sh, snapshot.py and restart.py need /dev/kvm: without one they run inside L1
	# (test/l1/run.sh), kvmrun and QEMU side by side there. The lab
	# benchmarks boot their own L1 anyway.
	kind=$(python3 test/hostkind.py | cut -d' ' -f1)
	for b in bench/*.sh; do
		case $kind:$b in
		none:bench/boot.sh | none:bench/density.sh) bash test/l1/run.sh -g bench "bash $b" ;;
		*) bash "$b" ;;
		esac
	done
	for py in bench/snapshot.py bench/restart.py; do
		if [ "$kind" = none ]; then
			bash test/l1/run.sh -g bench "python3 $py"
		else
			python3 "$py"
		fi
	done ;;
install)
	build_kvmrun
	PREFIX=${PREFIX:-/usr/local}
	DESTDIR=${DESTDIR:-}
	install -D -m 0755 kvmrun "$DESTDIR$PREFIX/bin/kvmrun"
	install -D -m 0644 kvmrun.1 "$DESTDIR$PREFIX/share/man/man1/kvmrun.1"
	log "installed into $DESTDIR$PREFIX" ;;
asan) build_kvmrun; build_asan ;;
fuzz) build_kvmrun; exec bash fuzz/run.sh "$@" ;;
clean) rm -rf "$BUILD" kvmrun kvmrun-asan test/guest/out ;;
need) need "$@" ;;
*) echo "usage: $0 [build|demo|test|bench|asan|fuzz [S]|install|clean|need PKG...]" >&2; exit 2 ;;
esac
