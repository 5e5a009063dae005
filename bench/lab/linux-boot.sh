#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Linux boot to init under kvmrun and QEMU microvm, where /dev/kvm works (in
# the lab: inside L1, run by bench/lab-boot.sh, which builds the inputs).
# Two kernels, both to the L2 init's first line ("L2: init started"):
#   lab  the lab's small L2 kernel as a PVH vmlinux, the plain initramfs
#   deb  Debian's stock kernel as a bzImage (ACPI on for both VMMs), the
#        initramfs with its virtio modules
# 256 MiB, 1 vCPU, quiet, the same command-line words for both VMMs. Rows:
# kvmrun with its defaults, kvmrun with the flags named in the row, QEMU.
# Runs rotate through the rows, one round at a time, after one unmeasured
# warm-up run per VMM and kernel.
#
# Per run, in ms from fork+exec of the VMM (bench/lab/vmmtime.c):
#   run    the first KVM_RUN (the first kvm_entry trace event)
#   kern   kernel entry (the first kvm_entry at a kernel address: at or
#          above 1 MiB below 3 GiB, or in the kernel's high half; QEMU runs
#          its firmware before)
#   con    the first console byte
#   init   the init's first line
#   exit   the VMM's exit (the guest reboots right after its first line)
# and at the init line: KVM exits and nested page faults (KVM's debugfs
# statistics of the VM: exits, pf_taken), the VM's 4 KiB and 2 MiB nested
# mappings (pages_4k, pages_2m), and the VMM's resident memory.
#
# Environment: LB_KVMRUN, LB_LAB_KERNEL, LB_LAB_INITRD, LB_DEB_KERNEL,
# LB_DEB_INITRD (inputs; lab-boot.sh sets them), BENCH_BOOTS (runs per
# row, 8), BENCH_QEMU_CPU (host), BENCH_ROWS (the rows, space-separated;
# default below), BENCH_ROW_<name>="kvmrun flags" (an extra kvmrun row).
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BOOTS=${BENCH_BOOTS:-8}
QCPU=${BENCH_QEMU_CPU:-host}
ROWS=${BENCH_ROWS:-"lab-kvmrun lab-kvmrun-4k lab-kvmrun-nopit lab-qemu deb-kvmrun deb-kvmrun-4k deb-qemu"}
die() { echo "bench/lab/linux-boot.sh: error: $*" >&2; exit 1; }
[ -w /dev/kvm ] || die "/dev/kvm is not usable"
QEMU=$(command -v qemu-system-x86_64) || die "qemu-system-x86_64 not found"
for v in LB_KVMRUN LB_LAB_KERNEL LB_LAB_INITRD LB_DEB_KERNEL LB_DEB_INITRD; do
	[ -f "${!v:-}" ] || die "$v: '${!v:-}' is not a file"
done

# Private copies on local storage (in L1 the inputs sit on 9p).
W=$(mktemp -d /tmp/kvmrun-linuxboot.XXXXXX)
trap 'rm -rf "$W"' EXIT
cp "$LB_KVMRUN" "$W/kvmrun"
cp "$LB_LAB_KERNEL" "$W/lab.kernel"
cp "$LB_LAB_INITRD" "$W/lab.initrd"
cp "$LB_DEB_KERNEL" "$W/deb.kernel"
cp "$LB_DEB_INITRD" "$W/deb.initrd"
gcc -O2 -static -Wall -Wextra -o "$W/vmmtime" "$TOP/bench/lab/vmmtime.c"

WORDS="quiet reboot=t panic=-1 lab.run=reboot"
DEFAULT_CMDLINE="console=ttyS0 reboot=k panic=1 pci=off i8042.noaux i8042.nomux i8042.dumbkbd"
QBASE=(-enable-kvm -cpu "$QCPU" -smp 1 -m 256M -nodefaults -no-user-config -nographic
	-serial stdio -no-reboot -global virtio-mmio.force-legacy=false)

# set_cmd ROW: the row's command line in CMD.
set_cmd() {
	local set=${1%%-*} vmm=${1#*-} flags=()
	local k=$W/$set.kernel i=$W/$set.initrd
	case $vmm in
	qemu)
		local acpi=off
		[ "$set" = deb ] && acpi=on
		CMD=("$QEMU" -M "microvm,x-option-roms=off,pit=off,pic=off,rtc=off,acpi=$acpi" "${QBASE[@]}"
			-kernel "$k" -initrd "$i" -append "$DEFAULT_CMDLINE $WORDS")
		return ;;
	kvmrun) ;;
	kvmrun-4k) flags=(--no-hugepages) ;;
	kvmrun-nopit) flags=(--no-pit) ;;
	kvmrun-huge) flags=(--hugepages) ;;
	*)
		local var=BENCH_ROW_${vmm//-/_}
		[ -n "${!var:-}" ] || die "row $1: unknown (set $var to its kvmrun flags)"
		read -ra flags <<<"${!var}" ;;
	esac
	CMD=("$W/kvmrun" --kernel "$k" --initrd "$i" --memory 256M --cpus 1 "${flags[@]}" --cmdline "$WORDS")
}
for r in $ROWS; do set_cmd "$r"; done # every row is known before anything runs

# Two trace instances keep the first kvm_entry events: any, and at a kernel
# address. overwrite=0 with a one-page buffer: the earliest events stay.
T=/sys/kernel/tracing
mountpoint -q $T || mount -t tracefs nodev $T 2>/dev/null || true
mountpoint -q /sys/kernel/debug || mount -t debugfs nodev /sys/kernel/debug 2>/dev/null || true
tracing=0
if [ -d $T/instances ] && [ -d $T/events/kvm/kvm_entry ]; then
	for n in first kern; do
		d=$T/instances/kvmrun-lb-$n
		[ -d "$d" ] || mkdir "$d"
		echo mono >"$d/trace_clock"
		echo 0 >"$d/options/overwrite"
		echo 4 >"$d/buffer_size_kb"
	done
	echo '(rip >= 0x100000 && rip < 0xc0000000) || rip >= 0xffffffff80000000' \
		>$T/instances/kvmrun-lb-kern/events/kvm/kvm_entry/filter
	for n in first kern; do echo 1 >$T/instances/kvmrun-lb-$n/events/kvm/kvm_entry/enable; done
	tracing=1
fi
trace_arm() {
	[ $tracing = 1 ] || return 0
	for n in first kern; do
		echo 0 >$T/instances/kvmrun-lb-$n/tracing_on
		: >$T/instances/kvmrun-lb-$n/trace
		echo 1 >$T/instances/kvmrun-lb-$n/tracing_on
	done
}
# trace_first NAME: the timestamp (s) of the instance's first event, or "-".
trace_first() {
	[ $tracing = 1 ] || { echo -; return; }
	awk '!/^#/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+\.[0-9]+:$/) { sub(":", "", $i); print $i; exit } }
		END { if (NR == 0) print "-" }' $T/instances/kvmrun-lb-"$1"/trace | head -n 1
}

RAW=$W/raw.txt
: >"$RAW"
# run ROW I: one measured boot; appends a BENCH-RUN line to $RAW.
run() {
	local row=$1 i=$2 log=$W/$1.$2
	set_cmd "$row"
	trace_arm
	"$W/vmmtime" -k -o "$log.con" -t 300 -m "L2: init started" -- "${CMD[@]}" >"$log.t" 2>&1 || true
	[ "$i" = 0 ] && return
	local t0 first_s kern_s
	t0=$(awk '$1 == "start" { print $2 }' "$log.t")
	first_s=$(trace_first first) kern_s=$(trace_first kern)
	awk -v row="$row" -v i="$i" -v t0="$t0" -v fs="$first_s" -v ks="$kern_s" '
	function ms(s) { return s == "-" ? "-" : sprintf("%.2f", (s - t0) * 1000) }
	function kv(name,   j, a) { for (j = 3; j <= NF; j++) { split($j, a, "="); if (a[1] == name) return a[2] } return "-" }
	$1 == "first" { con = $2 }
	$1 == "mark" && $2 == 0 { init = $3 }
	$1 == "mem" && $2 == 0 { rss = $3; huge = $4 }
	$1 == "kvmstat" && $2 == "mark0" { ex = kv("exits"); pf = kv("pf_taken"); p4 = kv("pages_4k"); p2 = kv("pages_2m") }
	$1 == "exit" { st = $2; ext = $3; cpu = $4 }
	END {
		ok = (st == 0 && init != "") ? "ok" : "failed"
		printf "BENCH-RUN %s %s %s run=%s kern=%s con=%s init=%s exit=%s cpu=%s exits=%s npf=%s p4k=%s p2m=%s rss=%s huge=%s\n",
			row, i, ok, ms(fs), ms(ks), con == "" ? "-" : con, init == "" ? "-" : init, ext, cpu,
			ex == "" ? "-" : ex, pf == "" ? "-" : pf, p4 == "" ? "-" : p4, p2 == "" ? "-" : p2, rss, huge
	}' "$log.t" | tee -a "$RAW"
	if ! grep -q "^BENCH-RUN $row $i ok" "$RAW"; then
		echo "  $row run $i failed; the console's last lines:"
		tail -n 5 "$log.con" | tr -d '\r' | sed 's/^/  | /'
	fi
	rm -f "$log.con" "$log.t"
}

echo "kvmrun Linux boot benchmark: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(uname -r), $("$W/kvmrun" --version | head -n 1)," \
	"$("$QEMU" --version | head -n 1); $BOOTS runs per row; trace phases: $([ $tracing = 1 ] && echo yes || echo no)"
for r in $ROWS; do run "$r" 0; done # warm-up: page cache, first-run costs
read -ra rows <<<"$ROWS"
for ((i = 1; i <= BOOTS; i++)); do
	# Rotate the order every round: each row takes each place in turn.
	for ((j = 0; j < ${#rows[@]}; j++)); do
		run "${rows[$(((j + i) % ${#rows[@]}))]}" "$i"
	done
done

# The table: medians over the runs that reached init.
med() { # ROW FIELD
	awk -v row="$1" -v f="$2" '$1 == "BENCH-RUN" && $2 == row && $4 == "ok" {
		for (j = 5; j <= NF; j++) { split($j, a, "="); if (a[1] == f && a[2] != "-") print a[2] } }' "$RAW" |
		sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) { print "-"; exit }
			m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.1f\n", m }'
}
count() { awk -v row="$1" -v s="$2" '$1 == "BENCH-RUN" && $2 == row && (s == "" || $4 == s)' "$RAW" | wc -l; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.3f\n", a / b }'; }
echo
echo "Medians (ms from launch; counts per boot to init; RSS in MiB at init):"
printf '| %-18s | %-6s | %-7s | %-7s | %-7s | %-7s | %-7s | %-7s | %-6s | %-6s | %-5s | %-5s | %-6s | %-9s |\n' \
	row ok/all run kern con init "init/Q" exit exits npf p4k p2m rss "rss huge"
echo "|--------------------|--------|---------|---------|---------|---------|---------|---------|--------|--------|-------|-------|--------|-----------|"
for r in $ROWS; do
	q=$(med "${r%%-*}-qemu" init)
	mib() { awk -v k="$1" 'BEGIN { if (k == "-") print "-"; else printf "%.1f\n", k / 1024 }'; }
	printf '| %-18s | %-6s | %-7s | %-7s | %-7s | %-7s | %-7s | %-7s | %-6s | %-6s | %-5s | %-5s | %-6s | %-9s |\n' \
		"$r" "$(count "$r" ok)/$(count "$r" "")" "$(med "$r" run)" "$(med "$r" kern)" "$(med "$r" con)" \
		"$(med "$r" init)" "$(ratio "$(med "$r" init)" "$q")" "$(med "$r" exit)" "$(med "$r" exits)" \
		"$(med "$r" npf)" "$(med "$r" p4k)" "$(med "$r" p2m)" "$(mib "$(med "$r" rss)")" "$(mib "$(med "$r" huge)")"
done
echo
for set in lab deb; do
	q=$(med "$set-qemu" init) k=$(med "$set-kvmrun" init)
	if [ "$q" = - ] || [ "$k" = - ]; then continue; fi
	r=$(ratio "$k" "$q")
	awk -v s="$set" -v r="$r" 'BEGIN { printf "%s: kvmrun (defaults) / QEMU microvm, launch to init: %sx; target <= 0.8x: %s\n",
		s, r, (r + 0 <= 0.8) ? "met" : "NOT met" }'
done
# Every row must have reached init at least once.
for r in $ROWS; do [ "$(count "$r" ok)" -gt 0 ] || die "row $r never reached init"; done
