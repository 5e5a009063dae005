#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Density benchmark: VMs started per second and the monitor's memory per VM,
# kvmrun against QEMU (microvm), both booting the probe guest (PVH image).
#   bash bench/density.sh
#   DENSITY_N=50               mode 1: VMs per throughput round
#   DENSITY_CONCURRENCY=2xCPUs mode 1: at most this many alive at once
#   DENSITY_ROUNDS=5           mode 1: rounds per VMM (alternating)
#   DENSITY_M=20               mode 2: concurrent long-lived VMs
#   DENSITY_MEM_ROUNDS=2       mode 2: rounds per VMM (alternating)
#   DENSITY_MAX_LOAD=1.5       wait (bounded) for the 1-min load to drop below this
#   DENSITY_LOAD_WAIT=180      ... for at most this many seconds, then go on and say so
#   BENCH_QEMU_CPU=host,-arch-capabilities   QEMU -cpu value (as bench/boot.sh)
#   DENSITY_RAW=FILE           also copy the raw per-round and per-VM lines to FILE
# Mode 1 (throughput): N VMs of `probe.bench` (prints "PROBE hello", then
# triple-faults; both monitors exit 0), at most C alive at once, a new one
# started as soon as one is reaped; wall time from the first fork to the
# last wait4. A round counts only if every VM exited 0 and printed
# "PROBE hello". Mode 2 (memory): M VMs of `probe.exit=halt` (the probe's
# full report, "PROBE done", then cli;hlt) started at once; when every one
# printed "PROBE done", VmRSS (/proc/PID/status) and Pss (smaps_rollup) of
# each monitor process are read, then each one's on-CPU time over a 1 s idle
# window; then kvmrun gets SIGINT (must exit 130) and QEMU SIGKILL, and the
# script checks no process of this run is left. The launcher is
# bench/swarm.c (same conventions as bench/launch.c). VMMs alternate and
# swap order every round; figures are medians over rounds.
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"
NCPU=$(nproc)
N=${DENSITY_N:-50}
C=${DENSITY_CONCURRENCY:-$((2 * NCPU))}
ROUNDS=${DENSITY_ROUNDS:-5}
M=${DENSITY_M:-20}
MEM_ROUNDS=${DENSITY_MEM_ROUNDS:-2}
MAX_LOAD=${DENSITY_MAX_LOAD:-1.5}
LOAD_WAIT=${DENSITY_LOAD_WAIT:-180}
# Plain "-cpu host" aborts here: QEMU 7.2 sets MSR 0x10a (ARCH_CAPABILITIES),
# which this host's KVM (kvm_pvm) refuses. Dropping that one feature works.
QEMU_CPU=${BENCH_QEMU_CPU:-host,-arch-capabilities}

log() { echo "bench/density.sh: $*" >&2; }
die() { echo "bench/density.sh: error: $*" >&2; exit 1; }
[[ $LOAD_WAIT =~ ^[0-9]+$ ]] || die "DENSITY_LOAD_WAIT must be a number of seconds (got '$LOAD_WAIT')"
for v in N C ROUNDS M MEM_ROUNDS; do
	[[ ${!v} =~ ^[0-9]+$ ]] && [ "${!v}" -ge 1 ] || die "$v must be a positive integer (got '${!v}')"
done

need() { "$TOP/build.sh" need "$@" || die "cannot install $*"; }
need qemu-system-x86 gcc libc6-dev procps

[ -x ./kvmrun ] && [ -f test/guest/out/probe.pvh ] || ./build.sh >&2
[ -w /dev/kvm ] || die "/dev/kvm is not usable"
QEMU=$(command -v qemu-system-x86_64) || die "qemu-system-x86_64 not found"

# Everything measured is copied into a private folder first (a rebuild in
# the checkout during the run cannot mix two binaries). Its path is on every
# VM's command line, which is how the leftover check finds our processes.
WORK=$(mktemp -d /tmp/kvmrun-density.XXXXXX)
# ours: PIDs of processes whose command line names $WORK (any still running)
ours() {
	local p c
	for p in /proc/[0-9]*; do
		c=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
		[[ $c == *"$WORK/"* ]] && echo "${p#/proc/}"
	done
	return 0
}
# ours_settled: ours, after giving the runs' kvmrun-teardown children (which
# end a few ms after their kvmrun, README) up to a second to go.
ours_settled() {
	local i left
	for ((i = 0; i < 20; i++)); do
		left=$(ours)
		[ -z "$left" ] && return 0
		sleep 0.05
	done
	echo "$left"
}
cleanup() {
	local left
	left=$(ours_settled)
	# only processes of this run (their command line names $WORK), by PID
	[ -z "$left" ] || { log "killing leftover PIDs $left"; kill -KILL $left 2>/dev/null || true; }
	rm -rf "$WORK"
}
trap cleanup EXIT
gcc -O2 -static -Wall -Wextra -o "$WORK/swarm" bench/swarm.c
cp kvmrun "$WORK/kvmrun"
cp test/guest/out/probe.pvh "$WORK/"

KVMRUN=("$WORK/kvmrun" --memory 128M --console stdio --kernel "$WORK/probe.pvh" --cmdline)
QEMU_ARGS=("$QEMU" -M microvm,x-option-roms=off,pit=off,pic=off,rtc=off -accel kvm -cpu "$QEMU_CPU"
	-m 128M -nodefaults -no-user-config -nographic -serial stdio -no-reboot
	-kernel "$WORK/probe.pvh" -append)

RES=$WORK/results # lines: ROW round=R load1=L key=value...
: >"$RES"
status=0

load1() { cut -d' ' -f1 /proc/loadavg; }
above() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a > b) }'; }

# Bounded wait for a quieter machine: the host is shared (TCG lab, fuzzers).
LOAD_START=$(load1)
UPTIME_START=$(uptime)
waited=0
while above "$(load1)" "$MAX_LOAD" && ((waited < LOAD_WAIT)); do
	((waited == 0)) && log "1-min load $(load1) > $MAX_LOAD: waiting up to ${LOAD_WAIT}s for it to drop"
	sleep 10
	waited=$((waited + 10))
done
LOAD_GO=$(load1)
if above "$LOAD_GO" "$MAX_LOAD"; then
	log "load still $LOAD_GO after ${waited}s: running anyway (noted in the output)"
fi
# What else was using the CPU when we started (top 3 other processes).
BUSY=$(ps -eo pcpu=,comm= --sort=-pcpu | awk '$1 >= 5 { printf "%s%s %s%%", (n++ ? ", " : ""), $2, $1 } n >= 3 { exit }')

# tp VMM: one throughput round (mode 1); mem VMM: one memory round (mode 2).
# swarm prints one summary line then one line per VM; both go to $RES.
record() {
	local row=$1 round=$2 l=$3 out=$4
	echo "$out" | awk -v row="$row" -v r="$round" -v l="$l" '
		$1 == "swarm" { $1 = ""; print row " round=" r " load1=" l $0 }
		$1 == "vm" { $1 = ""; print row "-vm round=" r $0 }' >>"$RES"
}
tp() {
	local vmm=$1 round=$2 l out rc=0
	l=$(load1)
	if [ "$vmm" = kvmrun ]; then
		out=$("$WORK/swarm" -r -n "$N" -c "$C" -e "PROBE hello" -- "${KVMRUN[@]}" probe.bench) || rc=$?
	else
		out=$("$WORK/swarm" -r -n "$N" -c "$C" -e "PROBE hello" -- "${QEMU_ARGS[@]}" probe.bench) || rc=$?
	fi
	[ $rc -eq 0 ] || die "swarm failed (status $rc) in throughput round $round of $vmm"
	record "tp-$vmm" "$round" "$l" "$out"
	if ! grep -q "^tp-$vmm round=$round .* failed=0 " "$RES"; then
		log "throughput round $round of $vmm: some VMs failed (round excluded)"
		status=1
	fi
}
mem() {
	local vmm=$1 round=$2 l out rc=0 left
	l=$(load1)
	if [ "$vmm" = kvmrun ]; then
		out=$("$WORK/swarm" -h -n "$M" -e "PROBE done" -s 2 -x 130 -- "${KVMRUN[@]}" probe.exit=halt) || rc=$?
	else
		out=$("$WORK/swarm" -h -n "$M" -e "PROBE done" -s 9 -- "${QEMU_ARGS[@]}" probe.exit=halt) || rc=$?
	fi
	record "mem-$vmm" "$round" "$l" "$out"
	left=$(ours_settled)
	if [ $rc -ne 0 ] || [ -n "$left" ] || ! grep -q "^mem-$vmm round=$round .* left=0 .* failed=0 " "$RES"; then
		log "memory round $round of $vmm: failed (swarm status $rc, leftover PIDs: ${left:-none}; round excluded)"
		status=1
	fi
}

T_BEGIN=$(date -u '+%H:%M:%S')
log "load ${LOAD_START} at start (waited ${waited}s, now ${LOAD_GO}); warming up (1 unmeasured VM each)"
"$WORK/swarm" -r -n 1 -c 1 -e x -- "${KVMRUN[@]}" probe.bench >/dev/null 2>&1 || true
"$WORK/swarm" -r -n 1 -c 1 -e x -- "${QEMU_ARGS[@]}" probe.bench >/dev/null 2>&1 || true
log "mode 1: $ROUNDS rounds x $N VMs, concurrency $C, kvmrun and QEMU alternating"
for ((i = 1; i <= ROUNDS; i++)); do
	if ((i % 2)); then tp kvmrun $i; tp qemu $i; else tp qemu $i; tp kvmrun $i; fi
done
log "mode 2: $MEM_ROUNDS rounds x $M concurrent VMs, kvmrun and QEMU alternating"
for ((i = 1; i <= MEM_ROUNDS; i++)); do
	if ((i % 2)); then mem kvmrun $i; mem qemu $i; else mem qemu $i; mem kvmrun $i; fi
done
LOAD_END=$(load1)
T_END=$(date -u '+%H:%M:%S')
LEFT=$(ours_settled)
[ -z "$LEFT" ] || { log "processes of this run still present: $LEFT"; status=1; }

# vals ROW KEY [FILTER]: KEY's values over ROW's lines (only counted rounds).
ok_rounds() { awk -v row="$1" '$1 == row && / failed=0 / && (!/ left=/ || / left=0 /) { print $2 }' "$RES"; }
vals() {
	local row=$1 key=$2
	awk -v row="$row" -v key="$key" -v ok="$(ok_rounds "${row%-vm}" | tr '\n' ' ')" '
	BEGIN { n = split(ok, a, " "); for (i = 1; i <= n; i++) good[a[i]] = 1 }
	$1 == row && ($2 in good) { for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == key) print kv[2] } }
	' "$RES"
}
# summ: "median min max p90 mean" of stdin (numbers), or "- - - - -"
summ() {
	sort -g | awk '{ v[NR] = $1; s += $1 }
	END {
		if (NR == 0) { print "- - - - -"; exit }
		med = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.6g %.6g %.6g %.6g %.6g\n", med, v[1], v[NR], v[int(0.9 * NR + 0.999999)], s / NR
	}'
}
col() { cut -d' ' -f"$1"; }
# per-round derived values for mode 1
tp_rate() { awk -v row="tp-$1" -v ok="$(ok_rounds "tp-$1" | tr '\n' ' ')" '
	BEGIN { n = split(ok, a, " "); for (i = 1; i <= n; i++) good[a[i]] = 1 }
	$1 == row && ($2 in good) { for (i = 3; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
		if (what == "rate") print f["n"] / (f["wall_ns"] / 1e9)
		else if (what == "cpu") print f["cpu_ns"] / f["n"] / 1e6
		else if (what == "busy") print 100 * f["host_busy_ns"] / f["host_total_ns"]
		else if (what == "load") print f["load1"] }' what="$2" "$RES"; }
mem_round() { awk -v row="mem-$1" -v ok="$(ok_rounds "mem-$1" | tr '\n' ' ')" -v what="$2" '
	BEGIN { n = split(ok, a, " "); for (i = 1; i <= n; i++) good[a[i]] = 1 }
	$1 == row && ($2 in good) { for (i = 3; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
		print f[what] / (what ~ /_kib$/ ? f["n"] * 1024 : 1) }' "$RES"; }
f1() { awk -v v="$1" -v d="${2:-1}" 'BEGIN { if (v == "-" || v == "") print "-"; else printf("%." d "f\n", v) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.3f", a / b }'; }

echo
where="directly on this host's /dev/kvm"
[ -n "${L1_HOST:-}" ] && where="inside L1 (test/l1/run.sh: QEMU TCG, emulated SVM; this host has no /dev/kvm)"
echo "kvmrun density benchmark: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $where, $NCPU CPUs" \
	"($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM," \
	"kernel $(uname -r), KVM module $(for m in kvm_pvm kvm_intel kvm_amd; do [ -d /sys/module/$m ] && echo $m; done | head -n1),"
echo "kvmrun $(git rev-parse --short HEAD 2>/dev/null || echo '?') ($(stat -c %s kvmrun) bytes), $("$QEMU" --version | head -n1)"
echo "measured from $T_BEGIN to $T_END UTC; uptime at start:$UPTIME_START"
echo "load (1-min): $LOAD_START at start, $LOAD_GO when the runs began (waited ${waited}s for <= $MAX_LOAD)," \
	"$LOAD_END at the end; busiest other processes at start: ${BUSY:-none}"
echo
echo "Mode 1, throughput: $ROUNDS rounds x $N VMs per VMM, at most $C alive at once, probe.bench, 128 MiB;"
echo "rounds counted: kvmrun $(ok_rounds tp-kvmrun | wc -l)/$ROUNDS, QEMU $(ok_rounds tp-qemu | wc -l)/$ROUNDS. Medians over rounds (min-max)."
echo
TF='| %-7s | %-22s | %-16s | %-24s | %-16s | %-14s | %-12s |\n'
printf "$TF" VMM "VMs/s (min-max)" "VMs/s per core" "per-VM launch-to-exit ms" "CPU ms per VM" "host busy %" "load (1-min)"
printf "$TF" "" "" "" "median / p90, all VMs" "(VMM process)" "during round" "per round"
echo "|---------|------------------------|------------------|--------------------------|------------------|----------------|--------------|"
declare -A RATE CPUVM WALLVM
for vmm in kvmrun qemu; do
	read -r rm rmin rmax _ _ <<<"$(tp_rate $vmm rate | summ)"
	RATE[$vmm]=$rm
	read -r wm _ _ wp _ <<<"$(vals tp-$vmm-vm wall_ns | awk '{ print $1 / 1e6 }' | summ)"
	WALLVM[$vmm]=$wm
	CPUVM[$vmm]=$(tp_rate $vmm cpu | summ | col 1)
	printf "$TF" "$vmm" "$(f1 "$rm") ($(f1 "$rmin")-$(f1 "$rmax"))" \
		"$(awk -v r="$rm" -v c="$NCPU" 'BEGIN { if (r == "-") print "-"; else printf "%.1f", r / c }')" \
		"$(f1 "$wm") / $(f1 "$wp")" "$(f1 "${CPUVM[$vmm]}" 2)" "$(f1 "$(tp_rate $vmm busy | summ | col 1)" 0)" \
		"$(tp_rate $vmm load | summ | awk '{ printf "%.2f-%.2f", $2, $3 }')"
done
for vmm in kvmrun qemu; do
	echo "  $vmm VMs/s by round: $(awk -v row="tp-$vmm" '$1 == row { for (i = 3; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
		printf "%s%.1f%s", (k++ ? " " : ""), f["n"] / (f["wall_ns"] / 1e9), (f["failed"] > 0 ? "(failed)" : "") }' "$RES")"
done
echo
echo "Mode 2, memory: $MEM_ROUNDS rounds x $M concurrent VMs per VMM, probe.exit=halt, 128 MiB; rounds counted:" \
	"kvmrun $(ok_rounds mem-kvmrun | wc -l)/$MEM_ROUNDS, QEMU $(ok_rounds mem-qemu | wc -l)/$MEM_ROUNDS."
echo "Per VM, mean over all VMs of the counted rounds (MiB unless said). MemAvailable drop: host-wide, per VM, median of rounds (noisy: shared host)."
echo
MF='| %-7s | %-9s | %-9s | %-8s | %-8s | %-11s | %-9s | %-7s | %-14s | %-15s | %-17s |\n'
printf "$MF" VMM VmRSS Pss Pss_Anon Pss_File "Private" "VmPTE KiB" threads "idle CPU %core" "ready ms median" "MemAvailable drop"
echo "|---------|-----------|-----------|----------|----------|-------------|-----------|---------|----------------|-----------------|-------------------|"
declare -A RSS PSS
mib() { vals "mem-$1-vm" "$2" | awk '{ print $1 / 1024 }' | summ | col 5; }
for vmm in kvmrun qemu; do
	RSS[$vmm]=$(mib $vmm vmrss_kib)
	PSS[$vmm]=$(mib $vmm pss_kib)
	idle=$(awk -v row="mem-$vmm" -v ok="$(ok_rounds "mem-$vmm" | tr '\n' ' ')" '
		BEGIN { n = split(ok, a, " "); for (i = 1; i <= n; i++) good[a[i]] = 1 }
		$1 == row && ($2 in good) { for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "idle_window_ns") w[$2] = kv[2] } }
		$1 == row "-vm" && ($2 in good) { for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "idle_cpu_ns") { s[$2] += kv[2]; c[$2]++ } } }
		END { for (r in s) if (w[r] > 0) { t += 100 * s[r] / c[r] / w[r]; k++ } if (k) printf "%.3f", t / k; else print "-" }' "$RES")
	printf "$MF" "$vmm" "$(f1 "${RSS[$vmm]}" 2)" "$(f1 "${PSS[$vmm]}" 2)" "$(f1 "$(mib $vmm pss_anon_kib)" 2)" \
		"$(f1 "$(mib $vmm pss_file_kib)" 2)" "$(f1 "$(mib $vmm private_kib)" 2)" \
		"$(f1 "$(vals mem-$vmm-vm vmpte_kib | summ | col 5)" 0)" "$(f1 "$(vals mem-$vmm-vm threads | summ | col 5)" 1)" \
		"$idle" "$(f1 "$(vals mem-$vmm-vm ready_ns | awk '{ print $1 / 1e6 }' | summ | col 1)" 0)" \
		"$(f1 "$(mem_round $vmm memavail_drop_kib | summ | col 1)" 2)"
done
echo
echo "Ratios kvmrun/QEMU: VMs/s $(ratio "${RATE[kvmrun]}" "${RATE[qemu]}")x (higher is better for kvmrun)," \
	"per-VM launch-to-exit $(ratio "${WALLVM[kvmrun]}" "${WALLVM[qemu]}")x, CPU per VM $(ratio "${CPUVM[kvmrun]}" "${CPUVM[qemu]}")x," \
	"VmRSS per VM $(ratio "${RSS[kvmrun]}" "${RSS[qemu]}")x, Pss per VM $(ratio "${PSS[kvmrun]}" "${PSS[qemu]}")x"
echo "Firecracker (NSDI '20) reports up to 150 microVMs/s per host, an m5d.metal with 48 cores:" \
	"about 3.1 VMs/s per core. Here: kvmrun $(awk -v r="${RATE[kvmrun]}" -v c="$NCPU" 'BEGIN { if (r == "-") print "-"; else printf "%.1f", r / c }')," \
	"QEMU $(awk -v r="${RATE[qemu]}" -v c="$NCPU" 'BEGIN { if (r == "-") print "-"; else printf "%.1f", r / c }') VMs/s per core" \
	"(a probe guest, not a Linux boot: not the same workload)."
if grep -q ' failed=[1-9]' "$RES" || grep -q ' left=[1-9]' "$RES"; then
	echo "failed rounds (excluded):"
	grep -E ' failed=[1-9]| left=[1-9]' "$RES" | grep -v -- '-vm ' | sed 's/^/  /'
fi
[ -z "${DENSITY_RAW:-}" ] || { cp "$RES" "$DENSITY_RAW"; log "raw results in $DENSITY_RAW"; }
[ -z "$LEFT" ] && echo "Leftover check: no process of this run is running (swarm reaped every PID; none of /proc/*/cmdline names $WORK)."
exit $status
