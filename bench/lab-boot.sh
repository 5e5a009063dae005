#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Linux boot-to-init benchmark in the nested lab: bench/lab/linux-boot.sh
# (kvmrun against QEMU microvm, the lab's small L2 kernel and Debian's stock
# kernel, with the phases of each boot) inside one L1 boot of test/l1/run.sh
# (Debian's kernel under QEMU TCG with an emulated SVM CPU, the host's root
# over 9p), so that every host measures on the same kind of machine.
#   bash bench/lab-boot.sh                 BENCH_BOOTS=8 runs per row
#   BENCH_WHERE=direct bash bench/lab-boot.sh   on this host's /dev/kvm instead
# Other settings (BENCH_ROWS, BENCH_ROW_<name>, BENCH_QEMU_CPU): see
# bench/lab/linux-boot.sh. Builds (and caches) the inputs first: the lab's L2
# kernel and initramfs, Debian's kernel and its initramfs.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"
log() { echo "bench/lab-boot.sh: $*" >&2; }
./build.sh need qemu-system-x86 gcc libc6-dev >&2 || { log "cannot install QEMU and gcc"; exit 1; }
[ -x ./kvmrun ] || ./build.sh >&2

l2k=$(test/lab/build-l2-kernel.sh)
dk=$(test/lab/build-debian-kernel.sh)
LB_LAB_INITRD=$(test/lab/build-l2-initramfs.sh plain)
LB_DEB_INITRD=$(test/lab/build-l2-initramfs.sh debian)
export LB_LAB_KERNEL=$l2k/vmlinux LB_LAB_INITRD LB_DEB_KERNEL=$dk/vmlinuz LB_DEB_INITRD
# A private copy: a rebuild in the checkout cannot change what is measured.
WORK=$(mktemp -d /tmp/kvmrun-labboot.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cp kvmrun "$WORK/kvmrun"
export LB_KVMRUN=$WORK/kvmrun

echo "bench/lab-boot.sh: kvmrun $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo '+changes')" \
	"($(stat -c %s kvmrun) bytes); host $(uname -r), $(nproc) CPUs"
if [ "${BENCH_WHERE:-lab}" = direct ]; then
	exec bash bench/lab/linux-boot.sh
fi
log "running in L1 (test/l1/run.sh -g bench-boot)"
exec bash test/l1/run.sh -g bench-boot "bash bench/lab/linux-boot.sh"
