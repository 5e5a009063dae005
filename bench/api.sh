#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# API socket benchmark, in one run, side by side:
#  1. socket readiness: fork+exec of `kvmrun --api-sock S` (nothing else) to
#     the first connect() on S that succeeds, and to the answer of a first
#     GET / on it; beside it the floor, bench/apistart.c's own `-l S` mode (a
#     static program that only binds, listens and answers): what exec plus a
#     listening socket costs on this host. Two ways of waiting, each for both:
#     connect() tried every 50 µs from the exec on (the issue's method), and
#     "-i": asleep until S appears (inotify), then connect() every 50 µs. On a
#     host with one CPU (test/l1's L1) the first way takes CPU time from the
#     process it waits for; the second shows how much.
#  2. API-configured start against --config-file: `kvmrun --api-sock S
#     --ready-fd 3`, then on one keep-alive HTTP/1.1 connection (as
#     firecracker-go-sdk's client keeps it) PUT /machine-config, /boot-source,
#     /drives/rootfs, /logger and (when a tap can be made) /network-interfaces/
#     eth0, then PUT /actions InstanceStart; timed to InstanceStart's 204 and
#     to the "running" line on --ready-fd; against `kvmrun --config-file F
#     --ready-fd 3` with the same machine in Firecracker's JSON, timed to its
#     "running" line. The peer of the API start is kvmrun's own --config-file
#     start (no Firecracker here). api-start waits for the socket the "-i" way,
#     api-start-poll by polling every 50 µs from the exec on.
# Guest: the probe in bench mode (test/guest/out/probe.pvh, boot args
# "probe.bench": prints "PROBE hello", then triple-faults, kvmrun exits 0),
# 128 MiB, 1 vCPU, a sparse 64 MiB raw disk as rootfs, the console on stdout.
#   bash bench/api.sh                (or ./build.sh bench)
#   BENCH_RUNS=50                    runs per row (default 50)
#   BENCH_TAP=0                      no tap even when one could be made
#   KVMRUN=PATH                      the binary to measure (default ./kvmrun; the
#                                    header says when the checkout's C sources
#                                    differ from HEAD, i.e. ./kvmrun may not be HEAD)
# Without /dev/kvm (test/hostkind.py says "none") it takes the socket rows on
# this host first (they make no VM), then runs itself inside L1:
# test/l1/run.sh -g bench-api "bash bench/api.sh".
#   BENCH_SOCKET_ONLY=1              only the four socket rows (no /dev/kvm needed)
# Launcher: bench/apistart.c, C with raw sockets rather than Python's
# http.client: in L1 (1 vCPU, TCG) the client shares the CPU with kvmrun, and an
# interpreter's start-up and per-request overhead would be timed along with
# kvmrun's. t0 is CLOCK_MONOTONIC right before fork(), as in bench/launch.c.
# Rows alternate and swap order every round; tables give median / min / p90 of
# the runs that succeeded (exit 0 and "PROBE hello" for starts, every answer
# 2xx); failed runs are listed and excluded; the script exits 1 if every run
# of a row failed.
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"
RUNS=${BENCH_RUNS:-50}
[[ $RUNS =~ ^[0-9]+$ ]] && [ "$RUNS" -ge 1 ] || { echo "bench/api.sh: error: BENCH_RUNS must be a positive integer" >&2; exit 1; }

log() { echo "bench/api.sh: $*" >&2; }
die() { echo "bench/api.sh: error: $*" >&2; exit 1; }

need() { "$TOP/build.sh" need "$@" || die "cannot install $*"; }
need gcc libc6-dev iproute2

[ -x ./kvmrun ] && [ -f test/guest/out/probe.pvh ] || ./build.sh >&2
KVMRUN=${KVMRUN:-$TOP/kvmrun}
[ -x "$KVMRUN" ] || die "$KVMRUN: not an executable"
SOCKET_ONLY=${BENCH_SOCKET_ONLY:-0}
if [ ! -w /dev/kvm ] && [ "$SOCKET_ONLY" != 1 ]; then
	if [ -z "${L1_HOST:-}" ] && [ "$(python3 test/hostkind.py | cut -d' ' -f1)" = none ]; then
		# The socket rows need no KVM (kvmrun makes no VM before a client
		# configures one), so they are taken here first, on this host's own
		# kernel rather than under L1's TCG; then everything in L1.
		log "no /dev/kvm on this host: the socket rows here first (BENCH_SOCKET_ONLY=1), then all rows inside L1"
		BENCH_SOCKET_ONLY=1 bash "$0" || exit 1
		exec bash test/l1/run.sh -g bench-api "bash bench/api.sh"
	fi
	die "/dev/kvm is not usable"
fi

# Everything measured is copied into a private folder first, so that a
# rebuild in the checkout during the run cannot mix two binaries.
WORK=$(mktemp -d /tmp/kvmrun-apibench.XXXXXX)
TAP=
cleanup() {
	[ -n "$TAP" ] && ip link del "$TAP" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
gcc -O2 -static -Wall -Wextra -o "$WORK/apistart" bench/apistart.c
cp "$KVMRUN" "$WORK/kvmrun"
cp test/guest/out/probe.pvh "$WORK/"
truncate -s 64M "$WORK/rootfs.img"

# A tap for the NIC, if this host lets us make one (root, tun).
if [ "${BENCH_TAP:-1}" != 0 ] && ip tuntap add dev "kbapi$$" mode tap vnet_hdr 2>/dev/null; then
	TAP=kbapi$$
	ip link set "$TAP" up 2>/dev/null || true
fi

# The machine, once as API requests and once as Firecracker's config file.
MC='{"vcpu_count": 1, "mem_size_mib": 128}'
BS="{\"kernel_image_path\": \"$WORK/probe.pvh\", \"boot_args\": \"probe.bench\"}"
DR="{\"drive_id\": \"rootfs\", \"path_on_host\": \"$WORK/rootfs.img\", \"is_root_device\": true, \"is_read_only\": false}"
LG_API="{\"log_path\": \"$WORK/api.log\", \"level\": \"Info\"}"
LG_CFG="{\"log_path\": \"$WORK/cfg.log\", \"level\": \"Info\"}"
NI="{\"iface_id\": \"eth0\", \"host_dev_name\": \"$TAP\", \"guest_mac\": \"06:00:ac:10:00:02\"}"
{
	echo "PUT /machine-config $MC"
	echo "PUT /boot-source $BS"
	echo "PUT /drives/rootfs $DR"
	echo "PUT /logger $LG_API"
	[ -n "$TAP" ] && echo "PUT /network-interfaces/eth0 $NI"
	echo 'PUT /actions {"action_type": "InstanceStart"}'
} >"$WORK/requests"
{
	echo "{\"machine-config\": $MC, \"boot-source\": $BS, \"drives\": [$DR], \"logger\": $LG_CFG"
	[ -n "$TAP" ] && echo ", \"network-interfaces\": [$NI]"
	echo "}"
} >"$WORK/config.json"
NPUT=$(($(wc -l <"$WORK/requests") - 1))

RES=$WORK/results # lines: ROW round=I key=value...
: >"$RES"
FAILS=$WORK/fails
: >"$FAILS"

# measure ROW ROUND OK-STATUS apistart-options... -- command...
measure() {
	local row=$1 round=$2 ok=$3 line
	shift 3
	line=$("$WORK/apistart" "$@" 2>>"$WORK/stderr") || die "launcher failed: $(tail -n1 "$WORK/stderr")"
	if [[ " $line " =~ \ status=($ok)\  && $line != *http_fail=* && $line != *"expect=0"* ]]; then
		echo "$row round=$round $line" >>"$RES"
	else
		echo "$row round=$round $line $(tail -n1 "$WORK/stderr" 2>/dev/null)" >>"$FAILS"
		log "FAILED run of $row: $line"
	fi
}

S=$WORK/api.sock
ROWS=(sock-kvmrun sock-floor sock-kvmrun-i sock-floor-i api-start api-start-poll config-start)
[ "$SOCKET_ONLY" = 1 ] && ROWS=(sock-kvmrun sock-floor sock-kvmrun-i sock-floor-i)
# run ROW ROUND: one measured run of ROW.
# kvmrun ends on SIGTERM with 143; before 8f3345c the signal could reach its API thread and
# end it by the signal, leaving the socket file (both count; the summary says which).
run() {
	rm -f "$S"
	case $1 in
	sock-kvmrun) measure "$1" "$2" 'exit:143|signal:15' -s "$S" -g -k -- "$WORK/kvmrun" --api-sock "$S" ;;
	sock-floor) measure "$1" "$2" 'signal:15' -s "$S" -g -k -- "$WORK/apistart" -l "$S" ;;
	sock-kvmrun-i) measure "$1" "$2" 'exit:143|signal:15' -s "$S" -i -g -k -- "$WORK/kvmrun" --api-sock "$S" ;;
	sock-floor-i) measure "$1" "$2" 'signal:15' -s "$S" -i -g -k -- "$WORK/apistart" -l "$S" ;;
	api-start) measure "$1" "$2" 'exit:0' -s "$S" -i -q "$WORK/requests" -e "PROBE hello" -- \
		"$WORK/kvmrun" --api-sock "$S" --ready-fd 3 ;;
	api-start-poll) measure "$1" "$2" 'exit:0' -s "$S" -q "$WORK/requests" -e "PROBE hello" -- \
		"$WORK/kvmrun" --api-sock "$S" --ready-fd 3 ;;
	config-start) measure "$1" "$2" 'exit:0' -e "PROBE hello" -- \
		"$WORK/kvmrun" --config-file "$WORK/config.json" --ready-fd 3 ;;
	esac
}

log "warming up (1 unmeasured run each)"
for row in "${ROWS[@]}"; do run "$row" -1; done
: >"$RES"
: >"$FAILS"
log "$RUNS rounds of ${#ROWS[@]} rows (${ROWS[*]}); the order reversed every other round"
for ((i = 0; i < RUNS; i++)); do
	if ((i % 2 == 0)); then
		for ((j = 0; j < ${#ROWS[@]}; j++)); do run "${ROWS[j]}" $i; done
	else
		for ((j = ${#ROWS[@]} - 1; j >= 0; j--)); do run "${ROWS[j]}" $i; done
	fi
done

# Derived per run: main_to_connect_ns (kvmrun's main() to the connect), start_req_ns
# (the last PUT's answer to InstanceStart's: sending it, the start, the 204).
awk '{ delete k; for (i = 2; i <= NF; i++) { split($i, kv, "="); k[kv[1]] = kv[2] }
	x = ""
	if ("exec_to_main_ns" in k && "connect_ns" in k) x = x " main_to_connect_ns=" (k["connect_ns"] - k["exec_to_main_ns"])
	if ("start_ns" in k && "puts_done_ns" in k) x = x " start_req_ns=" (k["start_ns"] - k["puts_done_ns"])
	print $0 x }' "$RES" >"$RES.d" && mv "$RES.d" "$RES"

# stats ROW KEY SCALE: "median min p90" of KEY over ROW's runs, divided by SCALE.
stats() {
	awk -v row="$1" -v key="$2" -v scale="$3" '
	$1 == row { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == key) print kv[2] / scale } }
	' "$RES" | sort -g | awk '
	{ v[NR] = $1 }
	END {
		if (NR == 0) { print "- - -"; exit }
		med = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		p90 = v[int(0.9 * NR + 0.999999)]
		printf "%.2f %.2f %.2f\n", med, v[1], p90
	}'
}
# diffs ROW-A KEY-A ROW-B KEY-B SCALE: stats of A's KEY-A minus B's KEY-B, paired by round.
diffs() {
	awk -v ra="$1" -v ka="$2" -v rb="$3" -v kb="$4" -v scale="$5" '
	{ r = ""; v = ""; for (i = 2; i <= NF; i++) { split($i, kv, "=");
		if (kv[1] == "round") r = kv[2];
		if (($1 == ra && kv[1] == ka) || ($1 == rb && kv[1] == kb)) v = kv[2] }
	  if (v == "") next
	  if ($1 == ra) a[r] = v; else if ($1 == rb) b[r] = v }
	END { for (r in a) if (r in b) printf "%.6f\n", (a[r] - b[r]) / scale }
	' "$RES" | sort -g | awk '
	{ v[NR] = $1 }
	END {
		if (NR == 0) { print "- - - 0"; exit }
		med = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		p90 = v[int(0.9 * NR + 0.999999)]
		printf "%.2f %.2f %.2f %d\n", med, v[1], p90, NR
	}'
}
count() { awk -v row="$1" '$1 == row' "$RES" | wc -l; }
nfail() { awk -v row="$1" '$1 == row' "$FAILS" | wc -l; }
med() { stats "$1" "$2" "$3" | cut -d' ' -f1; }
fmt() { read -r a b c; [ "$a" = - ] && echo "-" || echo "$a / $b / $c"; }
dash() { printf -- '-%.0s' $(seq "$1"); }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
sub_() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a - b }'; }
verdict() { awk -v v="$1" -v lim="$2" 'BEGIN { x = (v < 0) ? -v : v; print (x <= lim) ? "met" : "NOT met" }'; }
# report_fails: list the failed runs; status 1 if every run of some row failed.
report_fails() {
	local row status=0
	for row in "${ROWS[@]}"; do
		[ "$(count "$row")" -gt 0 ] || { log "every run of $row failed"; status=1; }
	done
	if [ -s "$FAILS" ]; then
		echo "failed runs (excluded):"
		sed 's/^/  /' "$FAILS"
	fi
	return $status
}

rev="kvmrun $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
if [ "$KVMRUN" != "$TOP/kvmrun" ]; then
	rev="kvmrun $KVMRUN (checkout at ${rev#kvmrun })"
elif ! git diff --quiet HEAD -- '*.c' '*.h' 2>/dev/null; then
	rev="$rev plus uncommitted C changes in the checkout"
fi
echo
where="directly on this host's /dev/kvm"
[ -n "${L1_HOST:-}" ] && where="inside L1 (test/l1/run.sh: QEMU TCG, emulated SVM; this host has no /dev/kvm)"
[ "$SOCKET_ONLY" = 1 ] && where="socket rows only (BENCH_SOCKET_ONLY=1: no VM is made), on this host's own kernel"
echo "kvmrun API socket benchmark: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $where, $(nproc) CPUs, kernel $(uname -r)," \
	"$rev ($(stat -c %s "$WORK/kvmrun") bytes), load $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$SOCKET_ONLY" = 1 ]; then
	:
elif [ -n "$TAP" ]; then
	echo "API start: $NPUT PUTs (machine-config, boot-source, drives/rootfs, logger, network-interfaces/eth0 on tap $TAP) + InstanceStart"
else
	echo "API start: $NPUT PUTs (machine-config, boot-source, drives/rootfs, logger; no tap could be made here, so no network-interfaces) + InstanceStart"
fi
echo "runs per row: $RUNS (ok/failed shown); values: median / min / p90, ms from fork+exec"
echo "(own-listen: the floor's own clock when its listen() returned, so connect minus it is how late the launcher"
echo " sees the socket; for the api-start rows, kvmrun's own clock at the end of its config stage, a few system"
echo " calls before bind() and listen(): the sock-kvmrun rows have no such line, kvmrun is killed before it prints it)"
echo
echo "Socket readiness (first connect() that succeeds; then a GET / on it):"
R1='| %-40s | %-7s | %-22s | %-22s | %-22s | %-12s |\n'
printf "$R1" row "ok/fail" "exec-to-connect ms" "exec-to-GET-answer ms" "exec-to-own-listen ms" "failed tries"
echo "|$(dash 42)|$(dash 9)|$(dash 24)|$(dash 24)|$(dash 24)|$(dash 14)|"
srow() {
	local own=listen_ns
	[[ $1 == api-* ]] && own=config_ns
	printf "$R1" "$2" "$(count $1)/$(nfail $1)" "$(stats $1 connect_ns 1e6 | fmt)" "$3" "$(stats $1 $own 1e6 | fmt)" "$(med $1 tries 1)"
}
srow sock-kvmrun "sock-kvmrun: --api-sock S, poll 50 µs" "$(stats sock-kvmrun get_ns 1e6 | fmt)"
srow sock-floor "sock-floor: apistart -l S, poll 50 µs" "$(stats sock-floor get_ns 1e6 | fmt)"
srow sock-kvmrun-i "sock-kvmrun-i: --api-sock S, inotify" "$(stats sock-kvmrun-i get_ns 1e6 | fmt)"
srow sock-floor-i "sock-floor-i: apistart -l S, inotify" "$(stats sock-floor-i get_ns 1e6 | fmt)"
if [ "$SOCKET_ONLY" = 1 ]; then
	sk=$(med sock-kvmrun connect_ns 1e6); sf=$(med sock-floor connect_ns 1e6)
	ski=$(med sock-kvmrun-i connect_ns 1e6); sfi=$(med sock-floor-i connect_ns 1e6)
	echo
	echo "Target (medians):"
	printf '  %-56s %-30s %s\n' "API socket accepts within 1 ms of exec (poll 50 µs)" "$sk ms (floor $sf ms)" "$(verdict "$sk" 1)" \
		"  the same, waiting with inotify" "$ski ms (floor $sfi ms)" "$(verdict "$ski" 1)"
	echo "  kvmrun over the floor: $(sub_ "$sk" "$sf") ms polled, $(sub_ "$ski" "$sfi") ms inotify;" \
		"first GET / answered $(med sock-kvmrun-i get_ns 1e6) ms after exec (floor $(med sock-floor-i get_ns 1e6))"
	report_fails
	exit
fi
srow api-start "api-start (+ --ready-fd 3), inotify" "-"
srow api-start-poll "api-start-poll (+ --ready-fd 3), poll" "-"
echo
echo "Start: API-configured against --config-file (the same machine):"
R2='| %-14s | %-7s | %-22s | %-22s | %-22s | %-22s | %-22s | %-22s | %-22s | %-22s |\n'
printf "$R2" row "ok/fail" "exec-to-main ms" "exec-to-connect ms" "$NPUT PUTs answered ms" "exec-to-204 ms" \
	"exec-to-running-read ms" "exec-to-1st-KVM_RUN ms" "main-to-1st-KVM_RUN ms" "launch-to-exit ms"
echo "|$(dash 16)|$(dash 9)|$(dash 24)|$(dash 24)|$(dash 24)|$(dash 24)|$(dash 24)|$(dash 24)|$(dash 24)|$(dash 24)|"
for row in api-start api-start-poll config-start; do
	printf "$R2" "$row" "$(count $row)/$(nfail $row)" "$(stats $row exec_to_main_ns 1e6 | fmt)" "$(stats $row connect_ns 1e6 | fmt)" \
		"$(stats $row puts_ns 1e6 | fmt)" "$(stats $row start_ns 1e6 | fmt)" "$(stats $row ready_ns 1e6 | fmt)" \
		"$(stats $row exec_to_run_ns 1e6 | fmt)" "$(stats $row running_us 1e3 | fmt)" "$(stats $row wall_ns 1e6 | fmt)"
done
echo "  (PUTs answered: from connect to the answer of the last PUT before InstanceStart;"
echo "   running-read: this launcher read kvmrun's \"running US\" line on fd 3; 1st-KVM_RUN: kvmrun's"
echo "   own clock (KVMRUN_TRACE_BOOT); main-to-1st-KVM_RUN: the US of that line)"
for row in api-start api-start-poll; do
	echo "Where $row's time goes (medians, ms): exec-to-main $(med $row exec_to_main_ns 1e6)," \
		"main-to-connect $(med $row main_to_connect_ns 1e6), $NPUT PUTs $(med $row puts_ns 1e6)" \
		"($(awk -v a="$(med $row puts_ns 1e6)" -v n="$NPUT" 'BEGIN { printf "%.2f", a / n }') each)," \
		"InstanceStart sent to its 204 $(med $row start_req_ns 1e6)"
done
echo "  --config-file: exec-to-main $(med config-start exec_to_main_ns 1e6), main-to-1st-KVM_RUN $(med config-start running_us 1e3)"
echo "kvmrun's status after SIGTERM before InstanceStart (sock-kvmrun rows): $(grep -c '^sock-kvmrun.* status=exit:143 ' "$RES" || true) x exit 143," \
	"$(grep -c '^sock-kvmrun.* status=signal:15 ' "$RES" || true) x killed by the signal (the socket file then stays)"

report_fails || exit

# against ROW: the API start ROW against --config-file.
against() {
	local ar cr ak ck a204 d1 d2 d3
	ar=$(med "$1" ready_ns 1e6); cr=$(med config-start ready_ns 1e6)
	ak=$(med "$1" exec_to_run_ns 1e6); ck=$(med config-start exec_to_run_ns 1e6)
	a204=$(med "$1" start_ns 1e6)
	d1=$(diffs "$1" ready_ns config-start ready_ns 1e6)
	d2=$(diffs "$1" exec_to_run_ns config-start exec_to_run_ns 1e6)
	d3=$(diffs "$1" start_ns config-start ready_ns 1e6)
	pair() { set -- $1; echo "median $1 ms (min $2, p90 $3; $4 pairs)"; }
	echo "$1 against --config-file ($1 minus config-start):"
	printf '  %-44s %s\n' "exec-to-running-read, medians:" "$ar - $cr = $(sub_ "$ar" "$cr") ms, ratio $(ratio "$ar" "$cr")x" \
		"exec-to-1st-KVM_RUN, medians:" "$ak - $ck = $(sub_ "$ak" "$ck") ms, ratio $(ratio "$ak" "$ck")x" \
		"exec-to-204 against config's running-read:" "$a204 - $cr = $(sub_ "$a204" "$cr") ms, ratio $(ratio "$a204" "$cr")x" \
		"paired by round, running-read:" "$(pair "$d1")" \
		"paired by round, 1st-KVM_RUN:" "$(pair "$d2")" \
		"paired by round, 204 against running-read:" "$(pair "$d3")"
}
echo
against api-start
against api-start-poll
sk=$(med sock-kvmrun connect_ns 1e6); sf=$(med sock-floor connect_ns 1e6)
ski=$(med sock-kvmrun-i connect_ns 1e6); sfi=$(med sock-floor-i connect_ns 1e6)
d=$(sub_ "$(med api-start ready_ns 1e6)" "$(med config-start ready_ns 1e6)")
dk=$(sub_ "$(med api-start exec_to_run_ns 1e6)" "$(med config-start exec_to_run_ns 1e6)")
dp=$(sub_ "$(med api-start-poll ready_ns 1e6)" "$(med config-start ready_ns 1e6)")
echo
echo "Targets (medians):"
printf '  %-56s %-30s %s\n' "API socket accepts within 1 ms of exec (poll 50 µs)" "$sk ms (floor $sf ms)" "$(verdict "$sk" 1)" \
	"  the same, waiting with inotify" "$ski ms (floor $sfi ms)" "$(verdict "$ski" 1)" \
	"API start <= 1 ms from --config-file (running-read)" "$d ms" "$(verdict "$d" 1)" \
	"  the same on kvmrun's clock (1st KVM_RUN)" "$dk ms" "$(verdict "$dk" 1)" \
	"  the same with the socket polled (api-start-poll)" "$dp ms" "$(verdict "$dp" 1)"
echo "  (first GET / answered: kvmrun $(med sock-kvmrun-i get_ns 1e6) ms after exec, floor $(med sock-floor-i get_ns 1e6) ms; inotify rows)"
exit 0
