#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Linux snapshot benchmark in the nested lab: bench/lab/linux-snapshot.py
# (cold boot to init against restore to an answer on the console, the
# snapshot write, and 50 concurrent clones' memory) inside one L1 boot of
# test/l1/run.sh, for the lab's small L2 kernel and Debian's stock kernel.
#   bash bench/lab-snapshot.sh                   BENCH_RUNS=8, BENCH_CLONES=50
#   BENCH_WHERE=direct bash bench/lab-snapshot.sh   on this host's /dev/kvm instead
# Builds (and caches) the inputs first.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"
[ -x ./kvmrun ] || ./build.sh >&2
l2k=$(test/lab/build-l2-kernel.sh)
dk=$(test/lab/build-debian-kernel.sh)
LS_LAB_INITRD=$(test/lab/build-l2-initramfs.sh plain)
LS_DEB_INITRD=$(test/lab/build-l2-initramfs.sh debian)
export LS_LAB_KERNEL=$l2k/vmlinux LS_LAB_INITRD LS_DEB_KERNEL=$dk/vmlinuz LS_DEB_INITRD
# A private copy: a rebuild in the checkout cannot change what is measured.
WORK=$(mktemp -d /tmp/kvmrun-labsnap.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cp kvmrun "$WORK/kvmrun"
export LS_KVMRUN=$WORK/kvmrun
echo "bench/lab-snapshot.sh: kvmrun $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo '+changes');" \
	"host $(uname -r), $(nproc) CPUs"
if [ "${BENCH_WHERE:-lab}" = direct ]; then
	exec python3 bench/lab/linux-snapshot.py
fi
echo "bench/lab-snapshot.sh: running in L1 (test/l1/run.sh -g bench-snap)" >&2
exec bash test/l1/run.sh -g bench-snap "python3 bench/lab/linux-snapshot.py"
