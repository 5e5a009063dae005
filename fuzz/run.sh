#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Build the libFuzzer targets (ASan + UBSan) and fuzz each for a bounded time on a copy of its
# committed corpus, one target at a time.
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]     (default 30 s; targets: virtq blk net netstream boot config snap api)
# Prints one line per target in the test format:
#   PASS fuzz/<target>: <execs> execs, <cov> coverage
#   FAIL fuzz/<target>: <crash file>: <first line of the report>   (report lines follow, indented)
# and exits nonzero if any target crashed, hung, leaked or did not build. Every committed corpus
# input runs first, so a crash input added to fuzz/corpus/<target>/ is a regression test.
# Outputs (binaries, work corpora, crash files) go to ${FUZZ_OUT:-build/fuzz}.
set -uo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$TOP"
CACHE=${KVMRUN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kvmrun}
OUT=${FUZZ_OUT:-$TOP/build/fuzz}
SECS=30
if [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]]; then
	SECS=$1
	shift
fi
ALL=(virtq blk net netstream boot config snap api)
TARGETS=("${@:-${ALL[@]}}")

log() { echo "fuzz/run.sh: $*" >&2; }

# clang with libFuzzer and the sanitizer runtimes (Debian 12: clang-14, libclang-rt-14-dev).
need_clang() {
	"$TOP/build.sh" need clang-14 libclang-rt-14-dev || return 1
	CC=$(command -v clang-14 || command -v clang) || return 1
}

# cJSON for the config target: Debian's source package, as build.sh unpacks it.
cjson_src() {
	local dir
	dir=$(ls -d "$CACHE"/src/cjson-[0-9]* 2>/dev/null | head -n1)
	if [ -z "$dir" ] || [ ! -f "$dir/cJSON.c" ]; then
		log "no cJSON source in $CACHE/src: running build.sh once to fetch it"
		bash "$TOP/build.sh" >&2 || return 1
		dir=$(ls -d "$CACHE"/src/cjson-[0-9]* 2>/dev/null | head -n1)
	fi
	[ -n "$dir" ] && [ -f "$dir/cJSON.c" ] && echo "$dir"
}

SAN=(-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
# shellcheck source=../warnings.sh
. "$TOP/warnings.sh"
CFLAGS=(-std=gnu11 -g -O1 -D_GNU_SOURCE -pthread "${WARN[@]}" -Werror)

# build TARGET: $OUT/fuzz_TARGET, or a message on stdout and status 1.
build() {
	local t=$1 srcs=() extra=() main=fuzz/fuzz_$1.c
	case $t in
	virtq) srcs=(virtio.c virtio_io.c virtq.c ratelimit.c mem.c) ;;
	blk) srcs=(virtio_blk.c blkspec.c virtio.c virtio_io.c virtq.c ratelimit.c mem.c) ;;
	net) srcs=(virtio_net.c netspec.c netstream.c tap.c virtio.c virtio_io.c virtq.c ratelimit.c mem.c) ;;
	netstream) # fuzz_net.c over a stream socket: passt's framing, a peer sending any bytes
		main=fuzz/fuzz_net.c extra=(-DFUZZ_NET_STREAM)
		srcs=(virtio_net.c netspec.c netstream.c tap.c virtio.c virtio_io.c virtq.c ratelimit.c mem.c) ;;
	boot) srcs=(boot.c mem.c) ;;
	snap) srcs=(snapfile.c serial.c i8042.c virtio.c virtio_io.c virtq.c ratelimit.c mem.c) ;;
	config)
		local cj
		cj=$(cjson_src) || { echo "no cJSON source (build.sh could not fetch it)"; return 1; }
		# Third-party: instrumented too (its parser is the first thing a config file meets), no -Werror.
		"$CC" -std=gnu11 -g -O1 "${SAN[@]/fuzzer,/fuzzer-no-link,}" -c "$cj/cJSON.c" \
			-o "$OUT/cJSON.o" 2>"$OUT/cJSON.build.log" || { echo "cJSON does not compile"; return 1; }
		srcs=(blkspec.c netspec.c ratelimit.c log.c "$OUT/cJSON.o")
		extra=(-isystem "$cj") ;;
	api)
		local cj hp
		cj=$(cjson_src) || { echo "no cJSON source (build.sh could not fetch it)"; return 1; }
		hp=$(ls -d "$CACHE"/src/http-parser-[0-9]* 2>/dev/null | head -n1)
		[ -f "$hp/http_parser.c" ] || { echo "no http-parser source (run ./build.sh once)"; return 1; }
		# Third-party, instrumented (it meets the client's bytes first), no -Werror.
		"$CC" -std=gnu11 -g -O1 "${SAN[@]/fuzzer,/fuzzer-no-link,}" -c "$cj/cJSON.c" \
			-o "$OUT/cJSON.o" 2>"$OUT/cJSON.build.log" || { echo "cJSON does not compile"; return 1; }
		"$CC" -std=gnu11 -g -O1 -DHTTP_PARSER_STRICT=1 "${SAN[@]/fuzzer,/fuzzer-no-link,}" \
			-c "$hp/http_parser.c" -o "$OUT/http_parser.o" 2>"$OUT/http_parser.build.log" \
			|| { echo "http-parser does not compile"; return 1; }
		srcs=(fcjson.c metrics.c log.c blkspec.c netspec.c ratelimit.c "$OUT/cJSON.o" "$OUT/http_parser.o")
		extra=(-isystem "$cj" -isystem "$hp" -DKVMRUN_VERSION='"fuzz"') ;;
	*) echo "no such target"; return 1 ;;
	esac
	if ! "$CC" "${CFLAGS[@]}" "${SAN[@]}" "${extra[@]}" -o "$OUT/fuzz_$t" "$main" \
		"${srcs[@]}" 2>"$OUT/$t.build.log"; then
		echo "does not compile (see $OUT/$t.build.log)"
		sed 's/^/    /' "$OUT/$t.build.log" | head -20
		return 1
	fi
}

# The first line worth reading in a libFuzzer log, then its next lines (indented).
report() {
	local log=$1 first
	first=$(grep -m1 -nE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|fuzz invariant broken|==[0-9]+== ?ERROR' "$log" | cut -d: -f1)
	[ -n "$first" ] || first=$(grep -m1 -n 'deadly signal\|timeout\|out-of-memory' "$log" | cut -d: -f1)
	[ -n "$first" ] || first=1
	sed -n "${first}p" "$log" | sed -E 's/^==[0-9]+==//'
	sed -n "$((first + 1)),$((first + 12))p" "$log" | sed 's/^/    /'
}

mkdir -p "$OUT"
if ! need_clang; then
	for t in "${TARGETS[@]}"; do echo "FAIL fuzz/$t: no clang with libFuzzer (apt-get failed)"; done
	exit 1
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
rc=0
for t in "${TARGETS[@]}"; do
	if ! msg=$(build "$t"); then
		echo "FAIL fuzz/$t: $msg"
		rc=1
		continue
	fi
	work=$OUT/work/$t
	rm -rf "$work"
	mkdir -p "$work/corpus" "$work/crashes"
	[ -d "fuzz/corpus/$t" ] && cp -r "fuzz/corpus/$t/." "$work/corpus/"
	dict=()
	[ -f "fuzz/$t.dict" ] && dict=(-dict="fuzz/$t.dict")
	"$OUT/fuzz_$t" -max_total_time="$SECS" -timeout=25 -rss_limit_mb=2048 -max_len=8192 \
		-print_final_stats=1 -artifact_prefix="$work/crashes/" "${dict[@]}" \
		"$work/corpus" >"$work/log" 2>&1
	status=$?
	crash=$(ls -t "$work/crashes/" 2>/dev/null | head -n1)
	if [ "$status" -eq 0 ] && [ -z "$crash" ]; then
		execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
		cov=$(grep -oE 'cov: [0-9]+' "$work/log" | tail -n1 | cut -d' ' -f2)
		echo "PASS fuzz/$t: ${execs:-?} execs, ${cov:-?} coverage"
	else
		where=${crash:+$work/crashes/$crash}
		echo "FAIL fuzz/$t: ${where:-exit status $status (see $work/log)}: $(report "$work/log")"
		rc=1
	fi
done
exit $rc
