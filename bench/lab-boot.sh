#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Boot-to-init benchmark inside the nested lab: the lab's L2 kernel (the PVH
# vmlinux, entered the same way by both) with the lab's plain busybox
# initramfs, 256 MiB, 1 vCPU, under kvmrun (as is, with --no-pit, with
# --hugepages) and under QEMU -M microvm, in one L1 boot, alternating. Measured in L1 by a static timer (bench/lab/vmmtime.c)
# from fork+exec of the VMM to the L2 init's first console line
# ("L2: init started"). QEMU runs from an L1 initramfs variant that carries
# it (bench/lab/build.sh); the test L1 is unchanged.
#   bash bench/lab-boot.sh            BENCH_BOOTS=10 (runs per VMM)
#   BENCH_QEMU_CPU=host               first -cpu tried for QEMU in L1
# Takes the shared lab lock. Prints the table and the ratios.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"
. bench/lab/stats.sh
BOOTS=${BENCH_BOOTS:-10}
[ -x ./kvmrun ] || ./build.sh >&2
WORK=$(mktemp -d /tmp/kvmrun-labboot.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
# A private copy: a rebuild in the checkout cannot change what is measured.
cp kvmrun "$WORK/kvmrun"
lab_console bench-boot "bench.boots=$BOOTS"

# BENCH-RAW boot VMM I mark 0 MS / exit STATUS MS CPU_MS
col() { # VMM KIND FIELD: values of FIELD in the runs of VMM whose exit status was 0
	# (a run's "mark" line comes before its "exit" line; consoles may be concatenated)
	awk -v vmm="$1" -v kind="$2" -v f="$3" '
	$1 == "BENCH-RAW" && $2 == "boot" && $3 == vmm {
		if ($5 == "mark") m = $(f)
		if ($5 == "exit") { if ($6 == 0) print (kind == "mark") ? m : $(f); m = "" }
	}' "$con" | grep .
}
nok() { awk -v vmm="$1" '$1 == "BENCH-RAW" && $2 == "boot" && $3 == vmm && $5 == "exit" && $6 == 0' "$con" | wc -l; }
nall() { awk -v vmm="$1" '$1 == "BENCH-RAW" && $2 == "boot" && $3 == vmm && $5 == "exit"' "$con" | wc -l; }

echo
echo "kvmrun lab boot benchmark: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), kvmrun $(git rev-parse --short HEAD) ($(stat -c %s kvmrun) bytes), $(qemu-system-x86_64 --version | head -n1)"
grep -a '^BENCH-INFO' "$con" | sed 's/^BENCH-INFO /  /'
echo
printf '| %-14s | %-6s | %-28s | %-28s | %-22s |\n' VMM "ok/all" "launch-to-init ms med (min-max)" \
	"launch-to-exit ms med (min-max)" "CPU ms (whole run) med"
echo "|----------------|--------|------------------------------|------------------------------|------------------------|"
for v in kvmrun kvmrun-nopit kvmrun-huge qemu; do
	printf '| %-14s | %-6s | %-28s | %-28s | %-22s |\n' "$v" "$(nok $v)/$(nall $v)" \
		"$(col $v mark 7 | median) ($(col $v mark 7 | minmax))" \
		"$(col $v exit 7 | median) ($(col $v exit 7 | minmax))" "$(col $v exit 8 | median)"
done
k=$(col kvmrun mark 7 | median) kn=$(col kvmrun-nopit mark 7 | median) q=$(col qemu mark 7 | median)
kh=$(col kvmrun-huge mark 7 | median)
echo
echo "Ratio kvmrun/QEMU, boot to init (medians): $(ratio "$k" "$q")x; kvmrun --no-pit/QEMU: $(ratio "$kn" "$q")x;" \
	"kvmrun --hugepages/QEMU: $(ratio "$kh" "$q")x"
echo "CPU ratio kvmrun/QEMU (whole run, medians): $(ratio "$(col kvmrun exit 8 | median)" "$(col qemu exit 8 | median)")x"
awk -v r="$(ratio "$k" "$q")" 'BEGIN { print "Target kvmrun faster than QEMU microvm: " ((r != "-" && r < 1) ? "met" : "NOT met") }'
[ "$(nok kvmrun)" -gt 0 ] && [ "$(nok qemu)" -gt 0 ]
