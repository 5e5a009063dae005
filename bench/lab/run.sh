#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Boot the benchmark L1 (bench/lab/build.sh) once and run the named
# benchmark scenarios (bench/lab/scenarios/NAME.sh) in it:
#   bench/lab/run.sh CONSOLE_FILE SCENARIO[,SCENARIO...] [EXTRA_L1_CMDLINE_WORDS...]
# Extra words (e.g. bench.rounds=3) reach the scenarios through L1's
# /proc/cmdline. L1's console (CR stripped) goes to CONSOLE_FILE. An L1 that
# ends without "LAB: ALL DONE" (or prints nothing for BENCH_IDLE seconds, 600)
# is a lab failure: it is booted once more, and the script exits 2 if that
# dies too. Take the shared lock around it: flock /tmp/kvmrun-lab.lock ...
# Environment: KVMRUN (static kvmrun to carry, default ./kvmrun), LAB_MEM (3072).
set -euo pipefail
BENCH=$(cd "$(dirname "$0")" && pwd)
con_out=$1 scen=$2
shift 2
extra="$*"
mapfile -t l1 < <("$BENCH/build.sh")
tmp=$(mktemp -d /tmp/kvmrun-benchlab.XXXXXX)
qpid=
trap '[ -n "$qpid" ] && kill "$qpid" 2>/dev/null; rm -rf "$tmp"' EXIT
idle=${BENCH_IDLE:-600}
for attempt in 1 2; do
	con=$tmp/console-$attempt
	: >"$con"
	qemu-system-x86_64 -M q35 -accel tcg,thread=multi -cpu EPYC,+svm,+npt -m "${LAB_MEM:-3072}" -smp 2 \
		-nodefaults -no-user-config -display none -no-reboot -serial "file:$con" \
		-kernel "${l1[0]}" -initrd "${l1[1]}" \
		-append "console=ttyS0 reboot=t panic=-1 quiet loglevel=5 lab.mode=test lab.scenarios=$scen lab.l2_timeout=900 $extra" \
		</dev/null >"$tmp/qemu.log" 2>&1 &
	qpid=$!
	last=-1 since=$(date +%s)
	while kill -0 "$qpid" 2>/dev/null; do
		sleep 2
		size=$(stat -c %s "$con")
		if [ "$size" != "$last" ]; then
			last=$size since=$(date +%s)
		elif [ $(($(date +%s) - since)) -ge "$idle" ]; then
			echo "bench/lab: L1 silent for ${idle}s, killing it" >&2
			kill "$qpid"
			break
		fi
		if grep -aEq 'soft lockup - CPU#[0-9]+ stuck for ([6-9][0-9]|[0-9]{3,})s' "$con"; then
			echo "bench/lab: L1 soft lockup, killing it" >&2
			kill "$qpid"
			break
		fi
	done
	wait "$qpid" || true
	qpid=
	tr -d '\r' <"$con" >"$con_out"
	grep -q '^LAB: ALL DONE' "$con_out" && exit 0
	echo "bench/lab: LAB FAILURE (attempt $attempt): L1 ended without its end marker; last lines:" >&2
	tail -n 12 "$con_out" | sed 's/^/bench\/lab:   | /' >&2
done
exit 2
