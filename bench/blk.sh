#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Block benchmark inside the nested lab: kvmrun --disk against QEMU microvm
# (-device virtio-blk-device, -drive ...,cache=writeback,aio=threads: the
# same cache mode as kvmrun) on the same raw image in L1's tmpfs, the same L2
# guest (lab kernel as PVH vmlinux, 256 MiB, 1 vCPU), alternating in one L1
# boot. In L2, bench/lab/blkio.c (static; Debian's fio needs SysV shm, which
# the L2 kernel lacks): O_DIRECT, psync, queue depth 1, 1 MiB sequential read
# and write, 4 KiB random read and write. The VMM's CPU per request comes
# from its /proc/PID/stat read by L1's timer right when L2 prints the
# phase's begin and end lines: utime+stime, and the same less guest_time
# (the VMM's own work, without the guest's execution).
#   bash bench/blk.sh       BENCH_ROUNDS=3 (L2 boots per VMM)  BENCH_SECS=5 (per test)
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"
. bench/lab/stats.sh
[ -x ./kvmrun ] || ./build.sh >&2
WORK=$(mktemp -d /tmp/kvmrun-labblk.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cp kvmrun "$WORK/kvmrun"
lab_console bench-blk "bench.rounds=${BENCH_ROUNDS:-3}" "bench.secs=${BENCH_SECS:-5}"

# Per run and mode: value, ops, CPU ticks, VMM-only ticks.
# BENCH-RAW blk VMM R result blkio MODE bs= ops= bytes= secs= MBps= iops= errors=
# BENCH-RAW blk VMM R cpu begin-MODE MS TICKS GUEST
awk '$1 == "BENCH-RAW" && $2 == "blk" {
	vmm = $3; r = $4
	if ($5 == "cpu") {
		split($6, a, "-"); k = vmm " " r " " a[2]
		if (a[1] == "begin") { b[k] = $8; bg[k] = $9 } else { e[k] = $8; eg[k] = $9 }
	}
	if ($5 == "result" && $6 == "blkio") {
		k = vmm " " r " " $7
		for (i = 8; i <= NF; i++) { split($i, kv, "="); f[k, kv[1]] = kv[2] }
		keys[k] = 1
	}
}
END {
	for (k in keys) {
		if (f[k, "errors"] != 0 || !(k in e)) continue
		ops = f[k, "ops"]
		# ticks are 10 ms; per request in microseconds
		printf "%s %s %s %s %.2f %.2f\n", k, f[k, "MBps"], f[k, "iops"], ops,
			(e[k] - b[k]) * 10000 / ops, ((e[k] - eg[k]) - (b[k] - bg[k])) * 10000 / ops
	}
}' "$con" >"$WORK/rows" # VMM R MODE MBps iops ops cpu_us own_us
get() { awk -v v="$1" -v m="$2" -v c="$3" '$1 == v && $3 == m { print $(c) }' "$WORK/rows"; }

echo
echo "kvmrun lab block benchmark: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), kvmrun $(git rev-parse --short HEAD) ($(stat -c %s kvmrun) bytes), $(qemu-system-x86_64 --version | head -n1)"
grep -a '^BENCH-INFO' "$con" | sed 's/^BENCH-INFO /  /'
echo "  values: medians over the rounds (n = runs that completed); CPU per request in microseconds"
echo
printf '| %-10s | %-13s | %-13s | %-13s | %-7s | %-15s | %-15s | %-7s | %-15s | %-15s | %-7s |\n' test unit \
	"kvmrun (n)" "QEMU (n)" ratio "kvmrun CPU/req" "QEMU CPU/req" ratio "kvmrun own/req" "QEMU own/req" ratio
echo "|------------|---------------|---------------|---------------|---------|-----------------|-----------------|---------|-----------------|-----------------|---------|"
status=0
for m in seqread seqwrite randread randwrite; do
	case $m in seq*) c=4 u="MB/s (1 MiB)" ;; *) c=5 u="IOPS (4 KiB)" ;; esac
	kv=$(get kvmrun $m $c | median) qv=$(get qemu $m $c | median)
	kc=$(get kvmrun $m 7 | median) qc=$(get qemu $m 7 | median)
	ko=$(get kvmrun $m 8 | median) qo=$(get qemu $m 8 | median)
	printf '| %-10s | %-13s | %-13s | %-13s | %-7s | %-15s | %-15s | %-7s | %-15s | %-15s | %-7s |\n' $m "$u" \
		"$kv ($(get kvmrun $m $c | wc -l))" "$qv ($(get qemu $m $c | wc -l))" "$(ratio "$kv" "$qv")" \
		"$kc" "$qc" "$(ratio "$kc" "$qc")" "$ko" "$qo" "$(ratio "$ko" "$qo")"
	[ "$kv" = - ] && status=1
done
echo
echo "Per run (VMM round test MB/s IOPS requests CPU-us/req own-us/req):"
sort -k3,3 -k1,1 -k2,2n "$WORK/rows" | sed 's/^/  /'
echo
echo "Targets: kvmrun >= QEMU on every row (ratio >= 1); CPU per request <= 0.5x QEMU's (ratio <= 0.5)."
exit $status
