#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The whole test suite, run through ./build.sh test. Its first line says what
# this host's /dev/kvm is and where the tests that need KVM run:
#   hardware KVM   everything directly
#   PVM            everything directly (the probe guest runs on PVM); Linux
#                  guests in the nested lab, as on every host
#   none           every test that needs KVM (the unit tests that create a VM,
#                  test/t_*.py, their ASan+UBSan pass) inside one L1 per phase
#                  that sees this host's root (test/l1/run.sh)
# Phases: unit, integration (also as an ordinary user), asan, seccomp, fuzz,
# lab; each test prints one PASS or FAIL
# line, the end lists each phase's wall time and the last line is
# "N passed, N failed". Nothing is skipped: a test that needs KVM and could
# not run is a FAIL saying why.
#   KVMRUN_TEST_HOST=direct|l1     run the KVM tests directly or in L1 (default: by the host)
#   KVMRUN_TESTS="t_probe t_console"  only these integration scripts (no unit, ASan, fuzz, lab)
#   KVMRUN_SKIP_LAB=1              leave the nested lab out
#   KVMRUN_FUZZ_SECONDS=N          fuzzing time per target (5)
set -uo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP" || exit 1
LOG=$(mktemp /tmp/kvmrun-suite.XXXXXX)
TIMES=$(mktemp /tmp/kvmrun-times.XXXXXX)
trap 'rm -f "$LOG" "$TIMES"' EXIT

read -r kind why < <(python3 test/hostkind.py)
where=${KVMRUN_TEST_HOST:-}
case $where in
"") [ "$kind" = none ] && where=l1 || where=direct ;;
direct | l1) ;;
*) echo "test/run.sh: KVMRUN_TEST_HOST must be direct or l1, not '$where'" >&2; exit 2 ;;
esac
case $where in
direct) how="tests that need KVM run directly" ;;
l1) how="tests that need KVM run inside L1 (test/l1/run.sh, QEMU TCG with SVM, this host's root over 9p)" ;;
esac
[ -n "${KVMRUN_TEST_HOST:-}" ] && how="$how (KVMRUN_TEST_HOST=$where)"
echo "host: $kind: $why; $how; Linux guests in the nested lab"

run() { # run one test program, echoing its lines and keeping them for the count
	echo "== $*"
	"$@" 2>&1 | tee -a "$LOG"
}

# bounded CMD: one test script, ended after 25 minutes (a hang is a FAIL, not
# the end of CI's time; test/l1/run.sh has its own watch over L1).
bounded() {
	local rc
	timeout -k 30 "${KVMRUN_SCRIPT_TIMEOUT:-1500}" bash -c "$1"
	rc=$?
	if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		echo "FAIL timeout: '$1' timed out after ${KVMRUN_SCRIPT_TIMEOUT:-1500} s (or was killed)"
	fi
}

# kvm GROUP CMD...: commands that need /dev/kvm, directly or in one L1 boot.
kvm() {
	local group=$1 c
	shift
	if [ "$where" = l1 ]; then
		run bash test/l1/run.sh -g "$group" "$@"
	else
		for c in "$@"; do run bounded "$c"; done
	fi
}

# phase NAME CMD...: time one phase.
phase() {
	local name=$1 t0
	shift
	t0=$(date +%s)
	"$@"
	echo "$name $(($(date +%s) - t0))" >>"$TIMES"
}

unit() {
	local k
	run test/format.sh
	k=$(test/unit/run.sh --kvm)
	run test/unit/run.sh --build
	# shellcheck disable=SC2046 # names, one word each
	run test/unit/run.sh --run $(for n in $(test/unit/run.sh --names); do
		case " $k " in *" $n "*) ;; *) echo "$n" ;; esac
	done)
	kvm unit "test/unit/run.sh --run $k"
}

scripts=()
if [ -n "${KVMRUN_TESTS:-}" ]; then
	for t in $KVMRUN_TESTS; do scripts+=("test/${t%.py}.py"); done
else
	# t_seccomp.py reruns the others under strace: a phase of its own.
	for t in test/t_*.py; do [ "$t" = test/t_seccomp.py ] || scripts+=("$t"); done
fi
integration() {
	local cmds=() s inst
	# The README's install command, on the host (it builds); t_install.py
	# checks and runs what it installed wherever KVM is.
	inst=$(mktemp -d /tmp/kvmrun-install.XXXXXX)
	PREFIX=$inst ./build.sh install >"$inst.log" 2>&1 || cat "$inst.log"
	rm -f "$inst.log"
	for s in "${scripts[@]}"; do cmds+=("python3 $s"); done
	# The probe-guest scripts once more as an ordinary user with access to /dev/kvm.
	[ -z "${KVMRUN_TESTS:-}" ] &&
		cmds+=("python3 test/as_user.py t_probe.py t_console.py t_acpi.py t_hostile.py")
	KVMRUN_INSTALLED=$inst kvm integration "${cmds[@]}"
	rm -rf "$inst"
}

# The integration tests once more against the ASan+UBSan build: any report
# changes an exit status or adds output, and fails the test.
asan() {
	local cmds=() s
	for s in test/t_probe.py test/t_console.py test/t_hostile.py test/t_hostile_net.py test/t_orchestrator.py test/t_api.py; do
		cmds+=("KVMRUN=$TOP/kvmrun-asan KVMRUN_TEST_PREFIX=asan/ ASAN_OPTIONS=detect_leaks=0:exitcode=99 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 python3 $s")
	done
	kvm asan "${cmds[@]}"
}

# The nested lab: QEMU TCG emulating SVM on a shared 2-core host is flaky
# (HOST-NOTES). A lab run with failures is repeated once, whole, in a fresh
# L1, and only the second run counts; both runs' lines stay in the output.
lab() {
	local first
	first=$(mktemp /tmp/kvmrun-lab1.XXXXXX)
	echo "== bash test/lab/run.sh"
	bash test/lab/run.sh 2>&1 | tee "$first"
	if grep -q -e '^FAIL ' -e '^SKIP lab/.*lab failure' "$first"; then
		echo "lab: $(grep -c -e '^FAIL ' -e '^SKIP lab/' "$first") failed or unfinished checks in the first lab run (above, not counted);" \
			"running the whole lab once more in a fresh L1; its results count"
		run bash test/lab/run.sh
	else
		cat "$first" >>"$LOG"
	fi
	rm -f "$first"
}

[ -n "${KVMRUN_BUILD_SECONDS:-}" ] && echo "build $KVMRUN_BUILD_SECONDS" >>"$TIMES"
if [ -n "${KVMRUN_TESTS:-}" ]; then
	phase integration integration
else
	phase unit unit
	phase integration integration
	[ -x kvmrun-asan ] && phase asan asan
	# Each role's seccomp allowlist against what the roles call (strace).
	phase seccomp kvm seccomp "python3 test/t_seccomp.py"
	# Every committed fuzz input (crashes found earlier included) as a
	# regression test, plus a few seconds of fuzzing per target. No KVM.
	phase fuzz run bash fuzz/run.sh "${KVMRUN_FUZZ_SECONDS:-5}"
	[ -z "${KVMRUN_SKIP_LAB:-}" ] && phase lab lab
fi

passed=$(grep -c '^PASS ' "$LOG")
failed=$(grep -c '^FAIL ' "$LOG")
# A SKIP is a failure to test: the lab reports an L1 that died twice so.
skipped=$(grep -c '^SKIP ' "$LOG")
if [ "$skipped" -gt 0 ]; then
	echo "Not run (counted as failed):"
	grep '^SKIP ' "$LOG"
	failed=$((failed + skipped))
fi
if grep -q '^FAIL ' "$LOG"; then
	echo "Failures:"
	grep '^FAIL ' "$LOG"
fi
echo "Phase wall times (s): $(awk '{ printf "%s%s %s", sep, $1, $2; sep = ", " }' "$TIMES")"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
