#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Network benchmark inside the nested lab: kvmrun --net tap= against QEMU
# microvm (-netdev tap,...,vhost=off -device virtio-net-device) on the same
# tap in L1, the same L2 guest (lab kernel as PVH vmlinux, 256 MiB, 1 vCPU),
# alternating in one L1 boot. L1 (10.0.0.1) runs Debian's iperf3 server; L2
# (10.0.0.2) runs ping (busybox, 0.2 s interval) and iperf3 -c (tx: L2->L1)
# and iperf3 -c -R (rx: L1->L2). The VMM's CPU per packet: its /proc/PID/stat
# utime+stime (and the same less guest_time: the VMM's own work) read by L1's
# timer when L2 prints the phase's begin/end lines, over the frames L2's eth0
# counted in that phase (rx+tx; with TSO/GSO a frame can be up to 64 KiB, so
# CPU per MiB is given too).
# A second table splits the VMM's CPU per frame by thread (vmmtime's
# "threads" lines: a thread with guest time is a vCPU thread, its own CPU is
# utime+stime less guest time; kvmrun leaves its threads unnamed, so the
# others are the main thread, listed first, and I/O threads) and gives KVM's
# exit counters per frame (vmmtime's "kvmstat" lines, from L1's debugfs).
# The same run also puts both VMMs on passt (bench/lab/scenarios/bench-net.sh):
# kvmrun --net stream=SOCK and QEMU -netdev stream (unix client), each run
# on its own passt in L1, the guest with passt's view of the network
# (10.0.7.15/24, gateway 10.0.7.1 = L1's loopback for TCP, MTU 65520 by
# default), ping and iperf3 tx/rx to the gateway; passt's own CPU is timed
# along (vmmtime -x). A third table sets these beside the tap rows, with
# ratios kvmrun stream / tap and kvmrun / QEMU on the stream, and the CPU
# table is repeated for the stream runs. BENCH_STREAM=0 leaves them out.
#   bash bench/net.sh       BENCH_ROUNDS=3  BENCH_SECS=5 (per iperf3 run)  BENCH_PINGS=20
#                           BENCH_STREAM=1  BENCH_STREAM_MTU=65520 (the guest's MTU on passt)
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"
. bench/lab/stats.sh
[ -x ./kvmrun ] || ./build.sh >&2
WORK=$(mktemp -d /tmp/kvmrun-labnet.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cp kvmrun "$WORK/kvmrun"
lab_console bench-net "bench.rounds=${BENCH_ROUNDS:-3}" "bench.secs=${BENCH_SECS:-5}" "bench.pings=${BENCH_PINGS:-20}" \
	"bench.stream=${BENCH_STREAM:-1}" "bench.stream_mtu=${BENCH_STREAM_MTU:-65520}"

# rows: VMM R PHASE VALUE PACKETS MIB CPU_US_PER_PKT OWN_US_PER_PKT CPU_MS_PER_MIB OWN_MS_PER_MIB
#       PASST_US_PER_PKT PASST_MS_PER_MIB
# VMM: kvmrun, qemu (tap), kvmrun-stream, qemu-stream (passt). VALUE: Mbit/s
# (receiver side) for tx/rx, average RTT ms for ping. PASST_*: passt's CPU
# ("xcpu" lines), "-" for tap runs.
awk '$1 == "BENCH-RAW" && $2 == "net" {
	vmm = $3; r = $4
	if ($5 == "cpu") {
		split($6, a, "-"); k = vmm " " r " " a[2]
		if (a[1] == "begin") { b[k] = $8; bg[k] = $9 } else { e[k] = $8; eg[k] = $9 }
	} else if ($5 == "xcpu") {
		split($6, a, "-"); k = vmm " " r " " a[2]
		if (a[1] == "begin") xb[k] = $7; else xe[k] = $7
	} else if ($5 == "result" && $6 == "netpkts") {
		split($7, a, "-"); k = vmm " " r " " a[2]
		for (i = 8; i <= NF; i++) { split($i, kv, "="); s[k, a[1], kv[1]] = kv[2] }
	} else if ($5 == "result" && $6 == "iperf") {
		k = vmm " " r " " $7; val = ""; last = ""
		for (i = 8; i <= NF; i++) {
			if ($i == "Mbits/sec" || $i == "Gbits/sec") last = ($i == "Gbits/sec") ? $(i - 1) * 1000 : $(i - 1)
			if ($i == "receiver") val = last
		}
		if (val != "") { v[k] = val; keys[k] = 1 }
	} else if ($5 == "result" && $6 == "ping") {
		k = vmm " " r " ping"
		for (i = 7; i <= NF; i++) if ($i == "min/avg/max" && $(i + 1) == "=") { split($(i + 2), m, "/"); v[k] = m[2]; keys[k] = 1 }
	}
}
END {
	for (k in keys) {
		if (!(k in e)) continue
		p = (s[k, "end", "rx_packets"] + s[k, "end", "tx_packets"]) - (s[k, "begin", "rx_packets"] + s[k, "begin", "tx_packets"])
		mib = ((s[k, "end", "rx_bytes"] + s[k, "end", "tx_bytes"]) - (s[k, "begin", "rx_bytes"] + s[k, "begin", "tx_bytes"])) / 1048576
		c = (e[k] - b[k]) * 10; o = ((e[k] - eg[k]) - (b[k] - bg[k])) * 10   # ms
		# passt (the "xcpu" lines of stream runs): its CPU per frame and per MiB.
		xf = "-"; xm = "-"
		if ((k in xb) && (k in xe) && xb[k] >= 0 && xe[k] >= 0) {
			x = (xe[k] - xb[k]) * 10
			if (p) xf = sprintf("%.2f", x * 1000 / p)
			if (mib) xm = sprintf("%.3f", x / mib)
		}
		printf "%s %s %d %.2f %.2f %.2f %.3f %.3f %s %s\n", k, v[k], p, mib,
			p ? c * 1000 / p : 0, p ? o * 1000 / p : 0, mib ? c / mib : 0, mib ? o / mib : 0, xf, xm
	}
}' "$con" >"$WORK/rows"
get() { awk -v v="$1" -v m="$2" -v c="$3" '$1 == v && $3 == m { print $(c) }' "$WORK/rows"; }

echo
echo "kvmrun lab network benchmark: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), kvmrun $(git rev-parse --short HEAD) ($(stat -c %s kvmrun) bytes), $(qemu-system-x86_64 --version | head -n1), passt $(dpkg-query -W -f='${Version}' passt 2>/dev/null)"
grep -a '^BENCH-INFO' "$con" | sed 's/^BENCH-INFO /  /'
echo "  values: medians over the rounds (n = runs that completed); CPU per packet in microseconds, per MiB in ms"
echo
F='| %-5s | %-16s | %-12s | %-12s | %-6s | %-13s | %-13s | %-6s | %-13s | %-13s | %-6s | %-13s | %-13s |\n'
printf "$F" test unit "kvmrun (n)" "QEMU (n)" ratio "kvmrun CPU/pk" "QEMU CPU/pk" ratio "kvmrun own/pk" "QEMU own/pk" ratio \
	"CPU/MiB k" "CPU/MiB Q"
echo "|-------|------------------|--------------|--------------|--------|---------------|---------------|--------|---------------|---------------|--------|---------------|---------------|"
status=0
for m in tx rx ping; do
	case $m in tx) u="Mbit/s L2->L1" ;; rx) u="Mbit/s L1->L2" ;; ping) u="RTT avg ms" ;; esac
	kv=$(get kvmrun $m 4 | median) qv=$(get qemu $m 4 | median)
	kc=$(get kvmrun $m 7 | median) qc=$(get qemu $m 7 | median)
	ko=$(get kvmrun $m 8 | median) qo=$(get qemu $m 8 | median)
	printf "$F" $m "$u" "$kv ($(get kvmrun $m 4 | wc -l))" "$qv ($(get qemu $m 4 | wc -l))" "$(ratio "$kv" "$qv")" \
		"$kc" "$qc" "$(ratio "$kc" "$qc")" "$ko" "$qo" "$(ratio "$ko" "$qo")" \
		"$(get kvmrun $m 9 | median)" "$(get qemu $m 9 | median)"
	[ "$kv" = - ] && status=1
done
echo
echo "Per run (VMM round phase value frames MiB CPU-us/frame own-us/frame CPU-ms/MiB own-ms/MiB passt-us/frame passt-ms/MiB):"
sort -k3,3 -k1,1 -k2,2n "$WORK/rows" | sed 's/^/  /'
echo
echo "Targets: throughput kvmrun >= QEMU (ratio >= 1), RTT no worse (ratio <= 1), CPU per packet <= 0.5x QEMU's."

# The tap and passt's stream side by side (when the run had stream rows).
# getn VMM PHASE COL: the numeric values of COL; getx VMM PHASE: VMM CPU
# plus passt's CPU per MiB (passt's "-" for a tap run counts as 0).
getn() { get "$@" | grep -E '^-?[0-9.]+$' || true; }
getx() { awk -v v="$1" -v m="$2" '$1 == v && $3 == m { print $9 + ($12 == "-" ? 0 : $12) }' "$WORK/rows"; }
label() { case $1 in kvmrun) echo "kvmrun tap" ;; qemu) echo "QEMU tap" ;; kvmrun-stream) echo "kvmrun stream" ;; qemu-stream) echo "QEMU stream" ;; esac; }
if grep -qE '^(kvmrun|qemu)-stream ' "$WORK/rows"; then
	echo
	echo "tap against passt (kvmrun --net stream=SOCK, QEMU -netdev stream): medians over the rounds; value:"
	echo "Mbit/s (tx, rx) or RTT ms (ping); frames: L2 eth0 rx+tx in the phase; CPU per frame in us, per MiB in ms;"
	echo "own: the VMM less its guest's time; passt's CPU is outside the VMM (its own column; + passt: VMM's CPU/MiB plus passt's):"
	echo
	S='| %-4s | %-13s | %-12s | %-8s | %-8s | %-8s | %-8s | %-8s | %-8s | %-9s | %-9s |\n'
	# shellcheck disable=SC2059 # the format is $S
	printf "$S" test VMM "value (n)" frames "CPU/fr" "own/fr" "CPU/MiB" "own/MiB" "passt/fr" "passt/MiB" "+ passt"
	echo "|------|---------------|--------------|----------|----------|----------|----------|----------|----------|-----------|-----------|"
	for m in tx rx ping; do
		for vm in kvmrun qemu kvmrun-stream qemu-stream; do
			n=$(getn $vm $m 4 | wc -l)
			[ "$n" -gt 0 ] || continue
			if [ $m = ping ]; then # a mostly idle guest: CPU per frame says little
				# shellcheck disable=SC2059 # the format is $S
				printf "$S" $m "$(label $vm)" "$(getn $vm $m 4 | median) ($n)" "$(getn $vm $m 5 | median)" - - - - - - -
				continue
			fi
			# shellcheck disable=SC2059 # the format is $S
			printf "$S" $m "$(label $vm)" "$(getn $vm $m 4 | median) ($n)" "$(getn $vm $m 5 | median)" \
				"$(getn $vm $m 7 | median)" "$(getn $vm $m 8 | median)" "$(getn $vm $m 9 | median)" \
				"$(getn $vm $m 10 | median)" "$(getn $vm $m 11 | median)" "$(getn $vm $m 12 | median)" \
				"$(getx $vm $m | median)"
		done
	done
	echo
	declare -A med
	echo "Ratios of the medians (throughput: higher is better; RTT and CPU: lower is better):"
	echo
	R='| %-4s | %-18s | %-22s | %-22s | %-18s |\n'
	# shellcheck disable=SC2059 # the format is $R
	printf "$R" test metric "kvmrun stream / tap" "kvmrun / QEMU, stream" "QEMU stream / tap"
	echo "|------|--------------------|------------------------|------------------------|--------------------|"
	for m in tx rx ping; do
		for c in 4 5 7 8 9 10 x; do
			case $c in
			4) [ $m = ping ] && name="RTT ms" || name="Mbit/s" ;;
			5) name="frames" ;; 7) name="CPU us/frame" ;; 8) name="own us/frame" ;;
			9) name="CPU ms/MiB" ;; 10) name="own ms/MiB" ;; x) name="CPU+passt ms/MiB" ;;
			esac
			[ $m = ping ] && [ "$c" != 4 ] && continue
			for vm in kvmrun qemu kvmrun-stream qemu-stream; do
				if [ $c = x ]; then med[$vm]=$(getx $vm $m | median); else med[$vm]=$(getn $vm $m $c | median); fi
			done
			# shellcheck disable=SC2059 # the format is $R
			printf "$R" $m "$name" "$(ratio "${med[kvmrun-stream]}" "${med[kvmrun]}")" \
				"$(ratio "${med[kvmrun-stream]}" "${med[qemu-stream]}")" "$(ratio "${med[qemu-stream]}" "${med[qemu]}")"
		done
	done
	for vm in kvmrun-stream qemu-stream; do
		[ "$(getn $vm tx 4 | wc -l)" -gt 0 ] || status=1
	done
fi

# Where the CPU goes. Per run of tx and rx, over the frames of the phase:
# $WORK/rows2: VMM R PHASE METRIC VALUE, METRIC vcpu_own (us: utime+stime-guest
# of the threads with guest time), other (us: CPU of the threads without),
# own (us: all threads' utime+stime-guest), kvm:NAME (KVM counter per frame);
# $WORK/threads (round 1): VMM PHASE NAME TID ROLE TICKS GUEST_TICKS CPU_US GUEST_US OWN_US.
# BENCH-RAW net VMM R threads begin-PHASE NAME:TICKS:GUEST:TID:VCSW:NVCSW:UTIME ...  (main thread first)
# BENCH-RAW net VMM R kvmstat begin-PHASE NAME=VALUE ...
awk -v rows2="$WORK/rows2" -v thr="$WORK/threads" '
$1 == "BENCH-RAW" && $2 == "net" && ($5 == "threads" || $5 == "kvmstat" || ($5 == "result" && $6 == "netpkts")) {
	res = $5 == "result"; tag = res ? $7 : $6; first = res ? 8 : 7
	split(tag, a, "-"); when = a[1]; ph = a[2]
	if (ph != "tx" && ph != "rx") next
	k = $3 SUBSEP $4 SUBSEP ph; runs[k] = 1
	for (i = first; i <= NF; i++) {
		if ($5 == "threads") {
			n = split($i, t, ":"); tid = (n >= 4) ? t[4] : i
			T[k, when, tid] = t[2]; G[k, when, tid] = t[3]; CS[k, when, tid] = t[5]; U[k, when, tid] = t[7]
			if (when == "end") { nm[k, tid] = t[1]; ord[k, i - first] = tid; nt[k] = i - first + 1 }
			seenT[k, when] = 1
		} else {
			split($i, kv, "=")
			if (res) S[k, when, kv[1]] = kv[2]
			else { K[k, when, kv[1]] = kv[2]; if (when == "end") kn[kv[1]] = 1; seenK[k, when] = 1 }
		}
	}
}
END {
	for (k in runs) {
		split(k, kk, SUBSEP); vmm = kk[1]; r = kk[2]; ph = kk[3]
		p = (S[k, "end", "rx_packets"] + S[k, "end", "tx_packets"]) - (S[k, "begin", "rx_packets"] + S[k, "begin", "tx_packets"])
		if (p <= 0) continue
		if (seenT[k, "begin"] && seenT[k, "end"]) {
			vo = 0; ot = 0; ow = 0; vcs = 0; ocs = 0; vu = 0; ou = 0
			for (j = 0; j < nt[k]; j++) {
				tid = ord[k, j]
				tb = ((k, "begin", tid) in T) ? T[k, "begin", tid] : 0
				gb = ((k, "begin", tid) in G) ? G[k, "begin", tid] : 0
				dt = T[k, "end", tid] - tb; dg = G[k, "end", tid] - gb
				role = (G[k, "end", tid] > 0) ? "vcpu" : (j == 0 ? "main" : "other")
				cb = ((k, "begin", tid) in CS) ? CS[k, "begin", tid] : 0
				ub = ((k, "begin", tid) in U) ? U[k, "begin", tid] : 0
				du = U[k, "end", tid] - ub
				if (role == "vcpu") { vo += dt - dg; vcs += CS[k, "end", tid] - cb; vu += du - dg }
				else { ot += dt; ocs += CS[k, "end", tid] - cb; ou += du }
				ow += dt - dg
				if (r == 1)
					printf "%s %s %s %s %s %d %d %.2f %.2f %.2f\n", vmm, ph, nm[k, tid], tid, role, dt, dg,
						dt * 10000 / p, dg * 10000 / p, (dt - dg) * 10000 / p >thr
			}
			printf "%s %s %s vcpu_own %.4f\n", vmm, r, ph, vo * 10000 / p >rows2
			printf "%s %s %s other %.4f\n", vmm, r, ph, ot * 10000 / p >rows2
			printf "%s %s %s own %.4f\n", vmm, r, ph, ow * 10000 / p >rows2
			printf "%s %s %s vcpu_cs %.4f\n", vmm, r, ph, vcs / p >rows2
			printf "%s %s %s vcpu_user %.4f\n", vmm, r, ph, vu * 10000 / p >rows2
			printf "%s %s %s other_user %.4f\n", vmm, r, ph, ou * 10000 / p >rows2
			printf "%s %s %s other_cs %.4f\n", vmm, r, ph, ocs / p >rows2
		}
		if (seenK[k, "begin"] && seenK[k, "end"])
			for (c in kn)
				if ((k, "begin", c) in K && (k, "end", c) in K)
					printf "%s %s %s kvm:%s %.6f\n", vmm, r, ph, c, (K[k, "end", c] - K[k, "begin", c]) / p >rows2
	}
}' "$con"
touch "$WORK/rows2" "$WORK/threads"

# where_table A B: the table below for VMM tags A (kvmrun's) and B (QEMU's).
where_table() {
awk -v A="$1" -v B="$2" '
{ key = $1 SUBSEP $3 SUBSEP $4; n[key]++; v[key, n[key]] = $5; if ($4 ~ /^kvm:/) kc[substr($4, 5)] = 1 }
function med(key,   m, i, j, a, x) {
	m = n[key]; if (!m) return "-"
	for (i = 1; i <= m; i++) {
		x = v[key, i] + 0
		for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]
		a[j + 1] = x
	}
	return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
}
function fmt(x, f) { return x == "-" ? "-" : sprintf(f, x) }
function rat(a, b) { return (a == "-" || b == "-" || b == 0) ? "-" : sprintf("%.3f", a / b) }
function row(label, metric, f,   ph, out, a, b) {
	out = sprintf("| %-34s", label)
	for (ph = 1; ph <= 2; ph++) {
		a = med(A SUBSEP P[ph] SUBSEP metric); b = med(B SUBSEP P[ph] SUBSEP metric)
		out = out sprintf(" | %10s | %10s | %7s", fmt(a, f), fmt(b, f), rat(a, b))
	}
	print out " |"
}
END {
	P[1] = "tx"; P[2] = "rx"
	print "| per frame                          | tx kvmrun  | tx QEMU    | tx k/Q  | rx kvmrun  | rx QEMU    | rx k/Q  |"
	print "|------------------------------------|------------|------------|---------|------------|------------|---------|"
	printf "| %-34s", "runs (n)"
	for (ph = 1; ph <= 2; ph++)
		printf " | %10d | %10d | %7s", n[A SUBSEP P[ph] SUBSEP "own"], n[B SUBSEP P[ph] SUBSEP "own"], ""
	print " |"
	row("vCPU thread(s) own CPU us", "vcpu_own", "%.2f")
	row("  of it in user space us", "vcpu_user", "%.2f")
	row("other threads CPU us", "other", "%.2f")
	row("  of it in user space us", "other_user", "%.2f")
	row("all threads own CPU us", "own", "%.2f")
	row("vCPU thread(s) sleeps (vol. cs)", "vcpu_cs", "%.3f")
	row("other threads sleeps (vol. cs)", "other_cs", "%.3f")
	nf = split("exits mmio_exits io_exits irq_injections halt_exits irq_exits halt_wakeup", fixed, " ")
	for (i = 1; i <= nf; i++) { isfixed[fixed[i]] = 1; row("KVM " fixed[i], "kvm:" fixed[i], "%.3f") }
	ne = 0
	for (c in kc) {
		if (c in isfixed) continue
		for (ph = 1; ph <= 2; ph++) {
			a = med(A SUBSEP P[ph] SUBSEP "kvm:" c); b = med(B SUBSEP P[ph] SUBSEP "kvm:" c)
			if (a != "-" && b != "-" && (a - b > 0.1 || b - a > 0.1)) { ex[++ne] = c; break }
		}
	}
	for (i = 2; i <= ne; i++) { x = ex[i]; for (j = i - 1; j >= 1 && ex[j] > x; j--) ex[j + 1] = ex[j]; ex[j + 1] = x }
	for (i = 1; i <= ne; i++) row("KVM " ex[i], "kvm:" ex[i], "%.3f")
	if (!length(kc)) print "| (no KVM counters: no debugfs in L1) |            |            |         |            |            |         |"
}' "$WORK/rows2"
}
echo
echo "Where the VMM's CPU per frame goes (medians over the rounds; CPU in microseconds per frame, from"
echo "/proc/PID/task/TID/stat in 10 ms ticks; a vCPU thread is one with guest time, its own CPU excludes"
echo "that; KVM counters from L1's debugfs, per frame; other counters listed where kvmrun and QEMU differ by > 0.1):"
echo
where_table kvmrun qemu
if grep -qE '^(kvmrun|qemu)-stream ' "$WORK/rows2"; then
	echo
	echo "The same for the stream runs on passt (columns kvmrun = kvmrun --net stream=, QEMU = -netdev stream):"
	echo
	where_table kvmrun-stream qemu-stream
fi
echo
echo "Per thread, round 1 (main: the process's first thread; vcpu: has guest time; ticks of 10 ms; us per frame):"
echo
T='| %-13s | %-5s | %-18s | %-7s | %-5s | %8s | %8s | %9s | %9s | %9s |\n'
# shellcheck disable=SC2059 # the format is $T
printf "$T" VMM phase thread tid role ticks guest CPU/fr guest/fr own/fr
echo "|---------------|-------|--------------------|---------|-------|----------|----------|-----------|-----------|-----------|"
# shellcheck disable=SC2059 # the format is $T
sort -s -k1,1 -k2,2r "$WORK/threads" | while read -r vm ph name tid role t g c gu o; do
	printf "$T" "$vm" "$ph" "$name" "$tid" "$role" "$t" "$g" "$c" "$gu" "$o"
done
exit $status
