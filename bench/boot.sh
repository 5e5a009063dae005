#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Start-up benchmark: launch-to-exit wall time, CPU time and peak RSS of
# kvmrun against QEMU (microvm) booting the probe guest's bench mode
# ("PROBE hello" then a triple fault), plus kvmrun's exec-to-first-KVM_RUN,
# its start-up stages, and the same for bench/bare.c (the least a KVM
# program does before its first KVM_RUN) as the host's floor.
#   bash bench/boot.sh              (or ./build.sh bench)
#   BENCH_RUNS=30                   runs per row (default 20)
#   BENCH_QEMU_CPU=host,-arch-capabilities   QEMU -cpu value (see below)
# Runs alternate kvmrun and QEMU (and swap which goes first every round);
# tables give median, min and p90 of the runs that succeeded. A run that
# fails (exit status not 0, or no "PROBE hello") is reported and excluded;
# the script exits 1 if every run of a row failed.
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"
RUNS=${BENCH_RUNS:-20}
# Plain "-cpu host" aborts here: QEMU 7.2 sets MSR 0x10a (ARCH_CAPABILITIES),
# which this host's KVM (kvm_pvm) refuses. Dropping that one feature works.
QEMU_CPU=${BENCH_QEMU_CPU:-host,-arch-capabilities}

log() { echo "bench/boot.sh: $*" >&2; }
die() { echo "bench/boot.sh: error: $*" >&2; exit 1; }

need() { "$TOP/build.sh" need "$@" || die "cannot install $*"; }
need qemu-system-x86 gcc libc6-dev

[ -x ./kvmrun ] && [ -f test/guest/out/probe.pvh ] || ./build.sh >&2
[ -w /dev/kvm ] || die "/dev/kvm is not usable"
QEMU=$(command -v qemu-system-x86_64) || die "qemu-system-x86_64 not found"

# Everything measured is copied into a private folder first, so that a
# rebuild in the checkout during the run cannot mix two binaries.
WORK=$(mktemp -d /tmp/kvmrun-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
gcc -O2 -static -Wall -Wextra -o "$WORK/launch" bench/launch.c
gcc -O2 -static -Wall -Wextra -o "$WORK/bare" bench/bare.c
cp kvmrun "$WORK/kvmrun"
cp test/guest/out/probe.pvh test/guest/out/probe.bzImage test/guest/out/probe.elf "$WORK/"

KVMRUN=("$WORK/kvmrun" --memory 128M --console stdio --cmdline probe.bench --kernel)
QEMU_ARGS=("$QEMU" -M microvm,x-option-roms=off,pit=off,pic=off,rtc=off -accel kvm -cpu "$QEMU_CPU"
	-m 128M -nodefaults -no-user-config -nographic -serial stdio -no-reboot
	-append probe.bench -kernel "$WORK/probe.pvh")

RES=$WORK/results # lines: ROW key=value...
: >"$RES"
FAILS=$WORK/fails
: >"$FAILS"

# measure ROW launch-options... -- command...
measure() {
	local row=$1 line
	shift
	line=$("$WORK/launch" "$@" 2>>"$FAILS.stderr") || die "launcher failed: $(tail -n1 "$FAILS.stderr")"
	if [[ $line == *"status=exit:0 "* && $line == *"expect=1"* ]]; then
		echo "$row $line" >>"$RES"
	else
		echo "$row $line $(tail -n1 "$FAILS.stderr" 2>/dev/null)" >>"$FAILS"
		log "FAILED run of $row: $line"
	fi
}

kvm_pvh() { measure kvmrun-pvh -t -e "PROBE hello" -- "${KVMRUN[@]}" "$WORK/probe.pvh"; }
qemu_pvh() { measure qemu-pvh -e "PROBE hello" -- "${QEMU_ARGS[@]}"; }
# The same with --no-pit: QEMU runs with pit=off, so this row is like for like.
kvm_nopit() { measure kvmrun-pvh-nopit -t -e "PROBE hello" -- "${KVMRUN[@]:0:${#KVMRUN[@]}-1}" --no-pit --kernel "$WORK/probe.pvh"; }
kvm_bz() { measure kvmrun-bzImage -t -e "PROBE hello" -- "${KVMRUN[@]}" "$WORK/probe.bzImage"; }
kvm_elf() { measure kvmrun-elf -t -e "PROBE hello" -- "${KVMRUN[@]}" "$WORK/probe.elf"; }
bare() { measure bare-kvm -t -e "PROBE hello" -- "$WORK/bare"; }

log "warming up (1 unmeasured run each)"
"$WORK/launch" -e x -- "${KVMRUN[@]}" "$WORK/probe.pvh" >/dev/null
"$WORK/launch" -e x -- "${QEMU_ARGS[@]}" >/dev/null
log "$RUNS rounds: kvmrun and QEMU alternating, then the bzImage and ELF forms"
for ((i = 0; i < RUNS; i++)); do
	if ((i % 2 == 0)); then kvm_pvh; qemu_pvh; kvm_nopit; else kvm_nopit; qemu_pvh; kvm_pvh; fi
	kvm_bz
	kvm_elf
	bare
done
# The RSS a forked child inherits from the launcher (a floor for ru_maxrss).
for ((i = 0; i < 5; i++)); do "$WORK/launch" -n | sed 's/^/launcher-floor /; s/expect=-/expect=1/' >>"$RES"; done
# Exact peak RSS (VmHWM at exit under ptrace; the timings of these runs are
# not used): ru_maxrss under-reads small processes on Linux >= 6.2.
for ((i = 0; i < 3; i++)); do
	"$WORK/launch" -x -e "PROBE hello" -- "${KVMRUN[@]}" "$WORK/probe.pvh" 2>/dev/null \
		| grep 'status=exit:0 .*expect=1' | sed 's/^/hwm-kvmrun /' >>"$RES" || true
	"$WORK/launch" -x -e "PROBE hello" -- "${QEMU_ARGS[@]}" 2>/dev/null \
		| grep 'status=exit:0 .*expect=1' | sed 's/^/hwm-qemu /' >>"$RES" || true
done

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
count() { awk -v row="$1" '$1 == row' "$RES" | wc -l; }
nfail() { awk -v row="$1" '$1 == row' "$FAILS" | wc -l; }
med() { stats "$1" "$2" "$3" | cut -d' ' -f1; }

echo
where="directly on this host's /dev/kvm"
[ -n "${L1_HOST:-}" ] && where="inside L1 (test/l1/run.sh: QEMU TCG, emulated SVM; this host has no /dev/kvm)"
echo "kvmrun boot benchmark: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $where, $(nproc) CPUs, kernel $(uname -r)," \
	"kvmrun $(git rev-parse --short HEAD 2>/dev/null || echo '?') ($(stat -c %s kvmrun) bytes)," \
	"$("$QEMU" --version | head -n1)"
echo "runs per row: $RUNS (ok/failed shown); values: median / min / p90"
echo
ROWFMT='| %-15s | %-7s | %-22s | %-22s | %-25s | %-22s | %-22s | %-22s |\n'
printf "$ROWFMT" row "ok/fail" "launch-to-exit ms" "CPU ms (user+sys)" "peak RSS MiB (ru_maxrss)" \
	"exec-to-1st-KVM_RUN ms" "main-to-1st-KVM_RUN ms" "1st-KVM_RUN-to-exit ms"
dash() { printf -- '-%.0s' $(seq "$1"); }
echo "|$(dash 17)|$(dash 9)|$(dash 24)|$(dash 24)|$(dash 27)|$(dash 24)|$(dash 24)|$(dash 24)|"
fmt() { read -r a b c; [ "$a" = - ] && echo "-" || echo "$a / $b / $c"; }
status=0
for row in kvmrun-pvh kvmrun-pvh-nopit qemu-pvh kvmrun-bzImage kvmrun-elf bare-kvm; do
	ok=$(count $row)
	[ "$ok" -gt 0 ] || { log "every run of $row failed"; status=1; }
	printf "$ROWFMT" "$row" "$ok/$(nfail $row)" \
		"$(stats $row wall_ns 1e6 | fmt)" "$(stats $row cpu_ns 1e6 | fmt)" \
		"$(stats $row maxrss_kib 1024 | fmt)" "$(stats $row exec_to_run_ns 1e6 | fmt)" \
		"$(stats $row main_to_run_ns 1e6 | fmt)" "$(stats $row run_to_exit_ns 1e6 | fmt)"
done
# Where exec-to-first-KVM_RUN goes: kvmrun's stage marks (KVMRUN_TRACE_BOOT),
# medians over the kvmrun-pvh runs, each stage's own time (its end minus the
# previous stage's end; exec-to-main first, first KVM_RUN last).
breakdown() {
	local prev=0 name v out
	out="exec-to-main $(awk -v a="$(med "$1" exec_to_main_ns 1e3)" 'BEGIN { printf "%.0f", a }')"
	for name in $(awk -v row="$1" '$1 == row { for (i = 2; i <= NF; i++) if ($i ~ /^st_/) { split($i, kv, "="); print substr(kv[1], 4) } exit }' "$RES"); do
		v=$(med "$1" "st_$name" 1)
		out="$out, $name $(awk -v a="$v" -v b="$prev" 'BEGIN { printf "%.0f", a - b }')"
		prev=$v
	done
	echo "$out, threads-to-first-KVM_RUN $(awk -v a="$(med "$1" main_to_run_ns 1e3)" -v b="$prev" 'BEGIN { printf "%.0f", a - b }')"
}
echo
echo "kvmrun-pvh start-up stages (µs, medians): $(breakdown kvmrun-pvh)"
echo "  (config: parsing; load: open disks and taps, mmap guest RAM, outputs, guest image, ACPI, MP table;"
echo "   vm: /dev/kvm, KVM_CREATE_VM; cpuid: KVM_GET_SUPPORTED_CPUID; memory: the memory slots;"
echo "   irqchip: irqchip and PIT; jail: devices, capabilities; vcpus: vCPU state;"
echo "   threads: event loop, teardown child, threads started and confined)"
echo "Floor (bare-kvm: bench/bare.c, the least a KVM program does before KVM_RUN: VM, 128 MiB slot, irqchip,"
echo "  supported CPUID, one vCPU, no devices, threads or seccomp): exec-to-first-KVM_RUN $(med bare-kvm exec_to_run_ns 1e6) ms" \
	"(exec-to-main $(med bare-kvm exec_to_main_ns 1e6)); kvmrun-pvh $(med kvmrun-pvh exec_to_run_ns 1e6) ms"
echo
echo "RSS cross-checks (KiB, median of the runs): launcher floor (forked child, no exec)" \
	"ru_maxrss $(med launcher-floor maxrss_kib 1); exact VmHWM at exit: kvmrun $(med hwm-kvmrun vmhwm_kib 1)," \
	"QEMU $(med hwm-qemu vmhwm_kib 1) (ru_maxrss in those runs: $(med hwm-kvmrun maxrss_kib 1)," \
	"$(med hwm-qemu maxrss_kib 1))"
if [ -s "$FAILS" ]; then
	echo "failed runs (excluded):"
	sed 's/^/  /' "$FAILS"
fi

[ "$(count kvmrun-pvh)" -gt 0 ] && [ "$(count qemu-pvh)" -gt 0 ] || exit 1
kw=$(med kvmrun-pvh wall_ns 1e6); qw=$(med qemu-pvh wall_ns 1e6)
kc=$(med kvmrun-pvh cpu_ns 1e6); qc=$(med qemu-pvh cpu_ns 1e6)
kr=$(med kvmrun-pvh maxrss_kib 1024); qr=$(med qemu-pvh maxrss_kib 1024)
ke=$(med kvmrun-pvh exec_to_run_ns 1e6)
khwm=$(med hwm-kvmrun vmhwm_kib 1024)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
verdict() { awk -v v="$1" -v lim="$2" 'BEGIN { print (v <= lim) ? "met" : "NOT met" }'; }
echo
echo "Ratios kvmrun/QEMU (medians, PVH): wall $(ratio "$kw" "$qw")x, CPU $(ratio "$kc" "$qc")x, peak RSS $(ratio "$kr" "$qr")x"
if [ "$(count kvmrun-pvh-nopit)" -gt 0 ]; then
	knw=$(med kvmrun-pvh-nopit wall_ns 1e6)
	echo "Like for like (kvmrun --no-pit vs QEMU pit=off): wall $knw ms, $(ratio "$knw" "$qw")x"
fi
echo
echo "Targets (kvmrun, PVH, medians):"
printf '  %-40s %-28s %s\n' "launch-to-exit <= 4 ms" "$kw ms" "$(verdict "$kw" 4)"
printf '  %-40s %-28s %s\n' "launch-to-exit <= 0.12x QEMU" "$(ratio "$kw" "$qw")x" "$(verdict "$(ratio "$kw" "$qw")" 0.12)"
printf '  %-40s %-28s %s\n' "peak RSS <= 3 MiB" "$kr MiB (exact VmHWM $khwm MiB)" \
	"$(verdict "$(awk -v a="$kr" -v b="$khwm" 'BEGIN { print (a > b) ? a : b }')" 3)"
printf '  %-40s %-28s %s\n' "exec-to-first-KVM_RUN <= 1 ms" "$ke ms" "$(verdict "$ke" 1)"
exit $status
