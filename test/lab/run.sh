#!/bin/bash
# Run the nested lab: boot Debian's stock kernel as L1 under QEMU TCG with
# emulated SVM, and inside it run kvmrun on the lab scenarios. Prints one
# "PASS lab/<check>" or "FAIL lab/<check>: <reason>" line per check.
#   test/lab/run.sh                 all scenarios in test/lab/scenarios/
#   test/lab/run.sh boot cpus       just these (names without the NN- prefix)
#   test/lab/run.sh on-demand-stress   kvmrun started and ended 150 times in one
#                                   L1 (not in the default run: ~4 min)
# Environment: KVMRUN (the static binary under test, default ./kvmrun),
# LAB_VERBOSE=1 (copy L1's console to stderr), LAB_MEM (L1 MiB, 3072),
# LAB_SMP (L1's vCPUs, 1: with 2, L1 hung in about half the runs; README),
# LAB_TCG_THREAD (multi), LAB_KVM_AMD (parameters for L1's kvm-amd),
# LAB_IDLE (seconds without console output before L1 counts as dead:
# LAB_L2_TIMEOUT + 60, since a hung kvmrun is killed and reported before),
# LAB_TIMEOUT (seconds for one L1 boot, 3600), LAB_L2_TIMEOUT (seconds one
# kvmrun run may take in L1, 120), LAB_RESULTS (folder that gets the consoles
# and the files scenarios left in LAB_OUT; default lab-results in the cache,
# emptied at the start of each run).
# Exit status: 0 if every check passed, 1 if any failed, 2 if L1 died twice.
set -euo pipefail
# The body is one compound command, read whole before it runs: editing this
# file during a (long) run cannot change what the run does.
{
. "$(dirname "$0")/common.sh"

# setup_fail WHY: the lab could not start; one FAIL line says why.
setup_fail() {
	echo "FAIL lab/setup: $*"
	exit 1
}
need_pkgs qemu-system-x86 tar || setup_fail "cannot install qemu-system-x86 and tar (apt-get; see above)"
LAB_MEM=${LAB_MEM:-3072}
LAB_IDLE=${LAB_IDLE:-$((${LAB_L2_TIMEOUT:-120} + 60))}
LAB_TIMEOUT=${LAB_TIMEOUT:-3600}
LAB_TCG_THREAD=${LAB_TCG_THREAD:-multi}
LAB_SMP=${LAB_SMP:-1}
LAB_KVM_AMD=${LAB_KVM_AMD:-}
TMP=$(mktemp -d /tmp/kvmrun-lab.XXXXXX)
RESULTS=${LAB_RESULTS:-$LAB_CACHE/lab-results}
rm -rf "$RESULTS"
mkdir -p "$RESULTS"
qemu_pid=
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	[ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

# Scenarios: scenarios/NN-name.sh runs inside L1; an optional
# scenarios/NN-name.host is sourced here first to prepare disks.
all=()
for f in "$LAB"/scenarios/*.sh; do
	n=${f##*/}
	n=${n%.sh}
	all+=("${n#[0-9][0-9]-}")
done
want=("$@")
if [ ${#want[@]} -eq 0 ]; then
	# Scenarios named on-demand-* (stress runs) only run when asked for.
	for n in "${all[@]}"; do
		[[ $n == on-demand-* ]] || want+=("$n")
	done
fi
for s in "${want[@]}"; do
	printf '%s\n' "${all[@]}" | grep -qxF "$s" || die "no scenario '$s' (have: ${all[*]})"
done

# lab_drive ID IMAGE: attach IMAGE (raw) as a virtio disk that L1 finds
# with `lab_disk ID` (its serial); for use in scenarios/*.host files.
drives=()
# shellcheck disable=SC2317 # called by scenarios/*.host
lab_drive() {
	drives+=(-drive "file=$2,if=none,id=$1,format=raw,cache=unsafe"
		-device "virtio-blk-pci,drive=$1,serial=$1")
}

log "assembling L1"
t=$(date +%s)
l1=()
mapfile -t l1 < <("$LAB/build-l1.sh" || true)
[ ${#l1[@]} -eq 2 ] && [ -f "${l1[1]}" ] ||
	setup_fail "assembling L1 failed (test/lab/build-l1.sh: its error is above)"
log "L1 ready in $(($(date +%s) - t))s: ${l1[1]}"
for s in "${want[@]}"; do
	for h in "$LAB"/scenarios/[0-9][0-9]-"$s".host "$LAB"/scenarios/"$s".host; do
		# shellcheck disable=SC1090
		[ -f "$h" ] && LAB_TMP=$TMP SCENARIO=$s . "$h"
	done
done

# dump_l1 FILE: the vCPU registers of the running L1, for a post-mortem.
dump_l1() {
	exec 5<>"$TMP/mon.out"
	# Registers, and both local APICs (timer, IRR/ISR): a hung L1 was seen
	# idle in HLT with interrupts enabled on both vCPUs.
	printf 'info registers -a\ninfo lapic 0\ninfo lapic 1\n' >"$TMP/mon.in"
	timeout 5 cat <&5 >"$1" || true
	exec 5<&-
	log "L1's registers at the hang: $1"
}

# boot_l1 N SCENARIO...: one L1 boot running the scenarios; its console goes
# to $TMP/console-N. Returns 0 if L1's init reached its end marker.
boot_l1() {
	local n=$1 scen
	shift
	scen=$(
		IFS=,
		echo "$*"
	)
	local con=$TMP/console-$n out=$TMP/out-$n.img
	truncate -s 256M "$out"
	: >"$con"
	# QEMU's monitor on a pair of fifos, to dump a hung L1's registers.
	rm -f "$TMP/mon.in" "$TMP/mon.out"
	mkfifo "$TMP/mon.in" "$TMP/mon.out"
	qemu-system-x86_64 -M q35 -accel "tcg,thread=$LAB_TCG_THREAD" -cpu EPYC,+svm,+npt \
		-m "$LAB_MEM" -smp "$LAB_SMP" \
		-nodefaults -no-user-config -display none -monitor "pipe:$TMP/mon" -no-reboot \
		-serial "file:$con" -kernel "${l1[0]}" -initrd "${l1[1]}" \
		-append "console=ttyS0 reboot=t panic=-1 quiet loglevel=5 lab.mode=test lab.scenarios=$scen lab.l2_timeout=${LAB_L2_TIMEOUT:-120} lab.kvm_amd=$LAB_KVM_AMD" \
		-drive "file=$out,if=none,id=lab-out,format=raw,cache=unsafe" \
		-device virtio-blk-pci,drive=lab-out,serial=lab-out \
		"${drives[@]}" </dev/null >"$TMP/qemu-$n.log" 2>&1 &
	qemu_pid=$!
	local start last_size=-1 size idle_since
	start=$(date +%s)
	idle_since=$start
	local tail_pid=
	if [ -n "${LAB_VERBOSE:-}" ]; then
		tail -n +1 -F "$con" 2>/dev/null | tr -d '\r' >&2 &
		tail_pid=$!
	fi
	dead_reason=
	while kill -0 "$qemu_pid" 2>/dev/null; do
		sleep 2
		size=$(stat -c %s "$con")
		if [ "$size" != "$last_size" ]; then
			last_size=$size
			idle_since=$(date +%s)
		elif [ $(($(date +%s) - idle_since)) -ge "$LAB_IDLE" ]; then
			dead_reason="no console output for ${LAB_IDLE}s (L1 hung)"
			dump_l1 "$RESULTS/l1-hang-$n.txt"
			kill "$qemu_pid"
			break
		fi
		# A soft lockup of a minute does not heal: both of L1's vCPUs were
		# seen stuck for good after the first one, still printing warnings.
		if grep -aEq 'soft lockup - CPU#[0-9]+ stuck for ([6-9][0-9]|[0-9]{3,})s' "$con"; then
			dead_reason="L1 soft lockup: $(grep -aEo 'CPU#[0-9]+ stuck for [0-9]+s! \[[^]]*\]' "$con" | head -2 | tr '\n' ' ')"
			dump_l1 "$RESULTS/l1-hang-$n.txt"
			kill "$qemu_pid"
			break
		fi
		if [ $(($(date +%s) - start)) -ge "$LAB_TIMEOUT" ]; then
			dead_reason="L1 still running after ${LAB_TIMEOUT}s"
			kill "$qemu_pid"
			break
		fi
	done
	wait "$qemu_pid" || true
	qemu_pid=
	[ -n "$tail_pid" ] && kill "$tail_pid" 2>/dev/null
	tr -d '\r' <"$con" >"$RESULTS/console-$n.txt"
	log "L1 boot $n took $(($(date +%s) - start))s"
	mkdir -p "$RESULTS/out"
	tar -xf "$out" -C "$RESULTS/out" 2>/dev/null || true
	rm -f "$out"
	if grep -q '^LAB: ALL DONE' "$RESULTS/console-$n.txt"; then
		return 0
	fi
	[ -n "$dead_reason" ] || dead_reason="L1 ended without its end marker"
	return 1
}

# report N: turn the results of scenarios that finished in boot N into
# PASS/FAIL lines; sets `unfinished` to the scenarios that did not.
failed=0
report() {
	local c=$RESULTS/console-$1 s
	unfinished=()
	for s in "${@:2}"; do
		if ! grep -q "^LAB: END $s\( \|$\)" "$c.txt"; then
			unfinished+=("$s")
			continue
		fi
		# Results between this scenario's BEGIN and END markers.
		sed -n "/^LAB: BEGIN $s\$/,/^LAB: END $s\( \|\$\)/p" "$c.txt" |
			sed -n 's/^LAB-RESULT: \(PASS\|FAIL\|SKIP\) \(.*\)/\1 lab\/\2/p' >"$TMP/r"
		[ -s "$TMP/r" ] || echo "FAIL lab/$s: the scenario reported no result" >"$TMP/r"
		cat "$TMP/r"
		grep -q '^FAIL' "$TMP/r" && failed=1
		log "scenario $s: $(sed -n "s/^LAB: END $s //p" "$c.txt")"
	done
	return 0
}

# in_scenario N: " in scenario X" when boot N died inside one.
in_scenario() {
	local s
	s=$(sed -n 's/^LAB: BEGIN //p' "$RESULTS/console-$1.txt" | tail -1)
	[ -n "$s" ] && ! grep -q "^LAB: END $s\( \|\$\)" "$RESULTS/console-$1.txt" && echo " in scenario $s"
	return 0
}

boot_l1 1 "${want[@]}" && ok=1 || ok=0
report 1 "${want[@]}"
if [ "$ok" = 0 ]; then
	log "LAB FAILURE (not a test failure): L1 died$(in_scenario 1): $dead_reason; console: $RESULTS/console-1.txt"
	tail -n 15 "$RESULTS/console-1.txt" | sed 's/^/lab:   | /' >&2
	log "booting L1 again once for: ${unfinished[*]:-(nothing left)}"
	if [ ${#unfinished[@]} -gt 0 ]; then
		retry=("${unfinished[@]}")
		boot_l1 2 "${retry[@]}" && ok=1 || ok=0
		report 2 "${retry[@]}"
		if [ "$ok" = 0 ]; then
			log "LAB FAILURE again: L1 died$(in_scenario 2): $dead_reason; console: $RESULTS/console-2.txt"
			tail -n 15 "$RESULTS/console-2.txt" | sed 's/^/lab:   | /' >&2
			# An L1 (the emulated first-level host) that dies is the lab's failure,
			# not a verdict on kvmrun: SKIP, loudly, so the suite can tell them apart.
			for s in "${unfinished[@]}"; do
				echo "SKIP lab/$s: lab failure: L1 died twice before the scenario finished"
			done
			exit 2
		fi
	fi
fi
# scenarios/NN-name.after (optional, bash): host-side checks once L1 is
# done, e.g. reading back the disk images its .host file attached (still in
# $LAB_TMP); it reports with pass CHECK / fail CHECK REASON like a scenario.
for s in "${want[@]}"; do
	for a in "$LAB"/scenarios/[0-9][0-9]-"$s".after; do
		[ -f "$a" ] || continue
		# shellcheck disable=SC1090
		(
			set +e
			pass() { echo "PASS lab/$1"; }
			fail() { echo "FAIL lab/$1: $2"; }
			LAB_TMP=$TMP SCENARIO=$s LAB_OUT=$RESULTS/out/$s
			. "$a"
		) >"$TMP/r" 2>&1 || echo "FAIL lab/$s-host: $a ended with status $?" >>"$TMP/r"
		cat "$TMP/r"
		grep -q '^FAIL' "$TMP/r" && failed=1
	done
done
log "consoles and scenario files in $RESULTS"
exit $failed
}
