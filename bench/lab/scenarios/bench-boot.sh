# shellcheck shell=sh
# Boot-to-init of the lab's L2 kernel (the PVH vmlinux) and plain initramfs
# under kvmrun and QEMU microvm, alternating, bench.boots= runs of each.
# Time: launch of the VMM to the L2 init's first line ("L2: init started"),
# taken by vmmtime from the console pipe.
. /lab/scenarios/bench-lib.sh
n=$(bench_arg boots 10)
words="quiet reboot=t panic=-1 lab.run=reboot"
guest_k="--kernel $L2_VMLINUX --initrd $L2_INITRD --memory 256M --cpus 1"
guest_q="-m 256M -kernel $L2_VMLINUX -initrd $L2_INITRD"
echo "BENCH-INFO boot runs=$n words='$words'"
k() { vmm_run "boot kvmrun $1" "k$1.log" 300 "$KVMRUN" $guest_k --metrics k$1.log.metrics --cmdline "$words"; }
kn() { vmm_run "boot kvmrun-nopit $1" "kn$1.log" 300 "$KVMRUN" $guest_k --no-pit --cmdline "$words"; }
kh() { vmm_run "boot kvmrun-huge $1" "kh$1.log" 300 "$KVMRUN" $guest_k --hugepages --cmdline "$words"; }
# shellcheck disable=SC2046
q() { vmm_run "boot qemu $1" "q$1.log" 300 "$QEMU" $(qemu_base) $guest_q -append "$KVMRUN_DEFAULT_CMDLINE $words"; }
if pick_qemu_cpu qw.log $guest_q -append "$KVMRUN_DEFAULT_CMDLINE $words"; then
	echo "BENCH-INFO qemu command: $QEMU $(qemu_base) $guest_q -append '$KVMRUN_DEFAULT_CMDLINE $words'"
else
	fail bench-boot "QEMU did not boot the L2 guest with any -cpu"
fi
k 0 >/dev/null # warm-up
i=1
while [ "$i" -le "$n" ]; do
	if [ $((i % 2)) = 1 ]; then k $i; q $i; kn $i; kh $i; else kh $i; kn $i; q $i; k $i; fi
	i=$((i + 1))
done
pass bench-boot
