#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Rate limits, configured against achieved: the lab's `limits` scenario (a Linux
# guest's O_DIRECT disk reads at bw=4M and iops=200, 16 MiB over TCP each way
# at rx-bw=2M and tx-bw=2M, a neighbour guest's unlimited disk beside it; see
# test/lab/scenarios/93-limits.sh), then the bucket arithmetic's model of the
# same requests with Firecracker's flat 100 ms retry beside kvmrun's exact
# timer (test/unit/test_ratelimit.c), for ops limits from 10 to 100000/s.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"
[ -x ./kvmrun ] || ./build.sh >&2
echo "bench/limits.sh: kvmrun $(git rev-parse --short HEAD 2>/dev/null || echo '?'); host $(uname -r), $(nproc) CPUs"
out=$(mktemp)
res=$(mktemp -d)
trap 'rm -rf "$out" "$res"' EXIT
LAB_RESULTS=$res bash test/lab/run.sh limits >"$out" 2>&1 || true
grep -E '^(PASS|FAIL|SKIP) ' "$out" || true
grep -h 'LAB: limits:' "$res"/console-*.txt 2>/dev/null | sed 's/^LAB: //' || true
echo "model (exact timer vs a flat 100 ms retry, 11 simulated seconds, 4 KiB requests):"
bash test/unit/run.sh ratelimit | sed -n 's/^INFO ratelimit: /  /p'
