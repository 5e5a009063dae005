# shellcheck shell=bash
# Host-side helpers for bench/lab-*.sh: statistics over the BENCH-RAW lines
# of a benchmark L1's console.

# median: the median of the numbers on stdin (one a line), or "-".
median() {
	sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "-"; exit }
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.2f\n", m }'
}
# minmax: "min-max" of the numbers on stdin.
minmax() { sort -g | awk 'NR == 1 { a = $1 } { b = $1 } END { if (NR) printf "%.2f-%.2f\n", a, b; else print "-" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.3f\n", a / b }'; }

# lab_console SCENARIO ARG...: the benchmark L1's console in $WORK/console.txt
# (sets con): a fresh L1 running SCENARIO with ARGs and $WORK/kvmrun, or with
# BENCH_CONSOLE=FILE... the console(s) of an earlier one (e.g. one boot that
# ran several scenarios: flock /tmp/kvmrun-lab.lock bench/lab/run.sh FILE
# bench-blk,bench-net ...). BENCH_KEEP=FILE keeps a copy. Exits on a failed lab.
lab_console() {
	local scen=$1 me="bench/${0##*/}" keep
	shift
	con=$WORK/console.txt
	if [ -n "${BENCH_CONSOLE:-}" ]; then
		# shellcheck disable=SC2086 # may name several files
		cat $BENCH_CONSOLE | tr -d "\r" >"$con"
	else
		echo "$me: booting the benchmark L1 (waits for /tmp/kvmrun-lab.lock)" >&2
		if ! KVMRUN=$WORK/kvmrun flock /tmp/kvmrun-lab.lock bench/lab/run.sh "$con" "$scen" "$@" \
			"bench.qemu_cpu=${BENCH_QEMU_CPU:-host}"; then
			keep=${BENCH_KEEP:-/tmp/kvmrun-lab${scen#bench-}-console.txt}
			cp "$con" "$keep"
			echo "$me: the lab failed; console in $keep" >&2
			exit 1
		fi
	fi
	[ -z "${BENCH_KEEP:-}" ] || cp "$con" "$BENCH_KEEP"
}
