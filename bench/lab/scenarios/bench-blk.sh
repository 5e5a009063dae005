# shellcheck shell=sh
# Block I/O under kvmrun (--disk) and QEMU microvm (virtio-blk-device on the
# same raw image, cache=writeback, aio=threads: what kvmrun does), same L2
# guest (the PVH vmlinux + the benchmark initramfs), alternating, in rounds.
# In L2, blkio (O_DIRECT, psync, queue depth 1) runs seqread/seqwrite 1 MiB
# and randread/randwrite 4 KiB for bench.secs= seconds each.
. /lab/scenarios/bench-lib.sh
rounds=$(bench_arg rounds 3)
secs=$(bench_arg secs 5)
mib=$(bench_arg disk_mib 256)
img=$LAB_TMP/disk.img
dd if=/dev/zero of="$img" bs=1M count="$mib" 2>/dev/null
words="quiet reboot=t panic=-1 bench.run=blk bench.secs=$secs"
gk="--kernel $L2_VMLINUX --initrd $BENCH_L2_INITRD --memory 256M --cpus 1"
gq="-m 256M -kernel $L2_VMLINUX -initrd $BENCH_L2_INITRD"
dq="-drive id=d0,file=$img,format=raw,if=none,cache=writeback,aio=threads -device virtio-blk-device,drive=d0"
echo "BENCH-INFO blk rounds=$rounds secs=$secs image=${mib}MiB on L1 tmpfs, words='$words'"
echo "BENCH-INFO kvmrun command: $KVMRUN $gk --disk $img --cmdline '$words'"
echo "BENCH-INFO qemu command: $QEMU $(qemu_base) $gq $dq -append '$KVMRUN_DEFAULT_CMDLINE $words'"
k() { vmm_run "blk kvmrun $1" "k$1.log" 900 "$KVMRUN" $gk --metrics k$1.log.metrics --disk "$img" --cmdline "$words"; }
# shellcheck disable=SC2046
q() { vmm_run "blk qemu $1" "q$1.log" 900 "$QEMU" $(qemu_base) $gq $dq -append "$KVMRUN_DEFAULT_CMDLINE $words"; }
ok=1
alternate "$rounds" || ok=0
if [ $ok = 1 ]; then pass bench-blk; else fail bench-blk "a run did not end cleanly (see BENCH-RAW lines)"; fi
