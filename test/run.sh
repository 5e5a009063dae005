#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The whole test suite: unit tests, probe-guest tests on this host's /dev/kvm,
# then Linux guests in the nested lab. Every test prints one PASS/FAIL line;
# the last line is "N passed, N failed". Run through ./build.sh test.
#   KVMRUN_TESTS="t_cli t_probe"  run only these scripts (and skip the lab)
#   KVMRUN_SKIP_LAB=1             skip the nested lab
set -uo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"
LOG=$(mktemp /tmp/kvmrun-suite.XXXXXX)
trap 'rm -f "$LOG"' EXIT

run() { # run one test program, echoing its lines and keeping them for the count
	echo "== $*"
	"$@" 2>&1 | tee -a "$LOG"
}

scripts=()
if [ -n "${KVMRUN_TESTS:-}" ]; then
	for t in $KVMRUN_TESTS; do scripts+=("$(ls test/"$t".* 2>/dev/null | head -n1)"); done
else
	[ -f test/unit/run.sh ] && scripts+=(test/unit/run.sh)
	scripts+=(test/unit/core.sh test/unit/acpi.sh)
	for t in test/t_*.sh test/t_*.py; do [ -f "$t" ] && scripts+=("$t"); done
fi
for s in "${scripts[@]}"; do
	case $s in
	*.py) run python3 "$s" ;;
	*) run bash "$s" ;;
	esac
done
# The integration tests once more against the ASan+UBSan build: any report
# changes an exit status or adds output, and fails the test.
if [ -z "${KVMRUN_TESTS:-}" ] && [ -x kvmrun-asan ]; then
	for s in test/t_probe.py test/t_console.py test/t_hostile.py test/t_hostile_net.py test/t_orchestrator.py; do
		[ -f "$s" ] && KVMRUN=$TOP/kvmrun-asan KVMRUN_TEST_PREFIX=asan/ \
			ASAN_OPTIONS=detect_leaks=0:exitcode=99 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
			run python3 "$s"
	done
fi
# Every committed fuzz input (crashes found earlier included) as a regression
# test, plus a few seconds of fuzzing per target.
if [ -z "${KVMRUN_TESTS:-}" ] && [ -f fuzz/run.sh ]; then
	run bash fuzz/run.sh "${KVMRUN_FUZZ_SECONDS:-5}"
fi
# The nested lab: QEMU TCG emulating SVM on a shared 2-core host is flaky
# (HOST-NOTES; seen here: an L2 kernel ending now and then at random points of
# its early boot). A lab run with failures is repeated once, whole, in a fresh
# L1, and only the second run counts; both runs' lines stay in the output.
if [ -z "${KVMRUN_TESTS:-}" ] && [ -z "${KVMRUN_SKIP_LAB:-}" ] && [ -f test/lab/run.sh ]; then
	LAB1=$(mktemp /tmp/kvmrun-lab1.XXXXXX)
	echo "== bash test/lab/run.sh"
	bash test/lab/run.sh 2>&1 | tee "$LAB1"
	if grep -q -e '^FAIL ' -e '^SKIP lab/.*lab failure' "$LAB1"; then
		echo "lab: $(grep -c -e '^FAIL ' -e '^SKIP lab/' "$LAB1") failed or unfinished checks in the first lab run (above, not counted);" \
			"running the whole lab once more in a fresh L1; its results count"
		run bash test/lab/run.sh
	else
		cat "$LAB1" >>"$LOG"
	fi
	rm -f "$LAB1"
fi

passed=$(grep -c '^PASS ' "$LOG")
failed=$(grep -c '^FAIL ' "$LOG")
if grep -q '^SKIP ' "$LOG"; then
	echo "Skipped (not counted):"
	grep '^SKIP ' "$LOG"
fi
if [ "$failed" -gt 0 ]; then
	echo "Failures:"
	grep '^FAIL ' "$LOG"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
