#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The snapshot's memory write on this host (no /dev/kvm needed): bench/snapwrite.c
# over 1 GiB of RAM with 256 MiB and 1 GiB touched, to DIR (default: a directory
# under /tmp; BENCH_DIR=/dev/shm/x for tmpfs), beside a write of all of RAM.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"
./build.sh need gcc libc6-dev >&2
W=$(mktemp -d /tmp/kvmrun-snapwrite.XXXXXX)
trap 'rm -rf "$W"' EXIT
gcc -O2 -std=gnu11 -Wall -Wextra -o "$W/snapwrite" bench/snapwrite.c snapfile.c
DIR=${BENCH_DIR:-$W}
mkdir -p "$DIR"
echo "bench/snapwrite.sh: kvmrun $(git rev-parse --short HEAD 2>/dev/null || echo '?'); $DIR on $(df --output=fstype "$DIR" | tail -1); host $(uname -r)"
"$W/snapwrite" "$DIR" 1024 256
"$W/snapwrite" "$DIR" 1024 1024
