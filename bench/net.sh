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
#   bash bench/net.sh       BENCH_ROUNDS=3  BENCH_SECS=5 (per iperf3 run)  BENCH_PINGS=20
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"
. bench/lab/stats.sh
[ -x ./kvmrun ] || ./build.sh >&2
WORK=$(mktemp -d /tmp/kvmrun-labnet.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cp kvmrun "$WORK/kvmrun"
lab_console bench-net "bench.rounds=${BENCH_ROUNDS:-3}" "bench.secs=${BENCH_SECS:-5}" "bench.pings=${BENCH_PINGS:-20}"

# rows: VMM R PHASE VALUE PACKETS MIB CPU_US_PER_PKT OWN_US_PER_PKT CPU_MS_PER_MIB OWN_MS_PER_MIB
# VALUE: Mbit/s (receiver side) for tx/rx, average RTT ms for ping.
awk '$1 == "BENCH-RAW" && $2 == "net" {
	vmm = $3; r = $4
	if ($5 == "cpu") {
		split($6, a, "-"); k = vmm " " r " " a[2]
		if (a[1] == "begin") { b[k] = $8; bg[k] = $9 } else { e[k] = $8; eg[k] = $9 }
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
		printf "%s %s %d %.2f %.2f %.2f %.3f %.3f\n", k, v[k], p, mib,
			p ? c * 1000 / p : 0, p ? o * 1000 / p : 0, mib ? c / mib : 0, mib ? o / mib : 0
	}
}' "$con" >"$WORK/rows"
get() { awk -v v="$1" -v m="$2" -v c="$3" '$1 == v && $3 == m { print $(c) }' "$WORK/rows"; }

echo
echo "kvmrun lab network benchmark: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), kvmrun $(git rev-parse --short HEAD) ($(stat -c %s kvmrun) bytes), $(qemu-system-x86_64 --version | head -n1)"
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
echo "Per run (VMM round phase value frames MiB CPU-us/frame own-us/frame CPU-ms/MiB own-ms/MiB):"
sort -k3,3 -k1,1 -k2,2n "$WORK/rows" | sed 's/^/  /'
echo
echo "Targets: throughput kvmrun >= QEMU (ratio >= 1), RTT no worse (ratio <= 1), CPU per packet <= 0.5x QEMU's."
exit $status
