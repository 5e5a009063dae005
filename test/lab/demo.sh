#!/bin/bash
# Boot the lab's L2 guest to an interactive busybox shell on this terminal.
# With hardware KVM, kvmrun runs it directly; on a PVM host (module kvm_pvm,
# where a stock Linux guest cannot run) it runs inside the lab's L1 under
# QEMU, with L1's console on this terminal (Ctrl-A x leaves QEMU at once).
# In the guest, `reboot -f` or `poweroff -f` ends kvmrun.
# Environment: KVMRUN (default ./kvmrun), LAB_DEMO=direct|lab to choose.
set -euo pipefail
. "$(dirname "$0")/common.sh"

kvmrun=${KVMRUN:-$TOP/kvmrun}
how=${LAB_DEMO:-}
if [ -z "$how" ]; then
	if [ -c /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ]; then
		how=direct
	else
		how=lab
	fi
fi

case $how in
direct)
	[ -x "$kvmrun" ] || die "no kvmrun at $kvmrun: run ./build.sh first"
	l2k=$("$LAB/build-l2-kernel.sh")
	l2i=$("$LAB/build-l2-initramfs.sh" plain)
	log "booting L2 with kvmrun directly on this host's KVM"
	exec "$kvmrun" --kernel "$l2k/bzImage" --initrd "$l2i" --cmdline "lab.run=shell"
	;;
lab)
	need_pkgs qemu-system-x86
	[ -x "$kvmrun" ] || log "no kvmrun at $kvmrun: you get an L1 shell only"
	mapfile -t l1 < <("$LAB/build-l1.sh")
	log "/dev/kvm here is $( [ -d /sys/module/kvm_pvm ] && echo PVM || echo missing):" \
		"booting L1 under QEMU TCG (a few seconds), then L2 in it; Ctrl-A x quits QEMU"
	exec qemu-system-x86_64 -M q35,accel=tcg -cpu EPYC,+svm,+npt -m "${LAB_MEM:-3072}" -smp "${LAB_SMP:-1}" \
		-nodefaults -no-user-config -nographic -serial mon:stdio -no-reboot \
		-kernel "${l1[0]}" -initrd "${l1[1]}" \
		-append "console=ttyS0 reboot=t panic=-1 quiet lab.mode=demo"
	;;
*) die "LAB_DEMO must be direct or lab" ;;
esac
