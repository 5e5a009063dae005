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
