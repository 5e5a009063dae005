# shellcheck shell=sh
# Networking under kvmrun (--net tap=) and QEMU microvm (tap netdev, vhost
# off, virtio-net-device), same L2 guest, alternating, in rounds. L1 holds
# 10.0.0.1 on the tap and runs an iperf3 server; in L2 (10.0.0.2):
# ping -c bench.pings= -i 0.2 (RTT), iperf3 -c for bench.secs= seconds
# (tx: L2->L1), then iperf3 -c -R (rx: L1->L2).
. /lab/scenarios/bench-lib.sh
rounds=$(bench_arg rounds 3)
secs=$(bench_arg secs 5)
pings=$(bench_arg pings 20)
tap=benchtap0
tunctl -t $tap >/dev/null
ip addr add 10.0.0.1/24 dev $tap
ip link set $tap up
/usr/bin/iperf3 -s >iperf-server.log 2>&1 &
srv=$!
# vmmtime's "kvmstat" lines read KVM's statistics in L1's debugfs; without
# it they are left out and the rest still runs.
[ -d /sys/kernel/debug/kvm ] || mount -t debugfs none /sys/kernel/debug 2>/dev/null || true
if [ -d /sys/kernel/debug/kvm ]; then kd=yes; else kd="no (no KVM exit statistics)"; fi
words="quiet reboot=t panic=-1 bench.run=net bench.secs=$secs bench.pings=$pings"
gk="--kernel $L2_VMLINUX --initrd $BENCH_L2_INITRD --memory 256M --cpus 1"
gq="-m 256M -kernel $L2_VMLINUX -initrd $BENCH_L2_INITRD"
nq="-netdev tap,id=n0,ifname=$tap,script=no,downscript=no,vhost=off -device virtio-net-device,netdev=n0"
echo "BENCH-INFO net rounds=$rounds secs=$secs pings=$pings words='$words'"
echo "BENCH-INFO kvm debugfs in L1: $kd"
echo "BENCH-INFO kvmrun command: $KVMRUN $gk --net tap=$tap --cmdline '$words'"
echo "BENCH-INFO qemu command: $QEMU $(qemu_base) $gq $nq -append '$KVMRUN_DEFAULT_CMDLINE $words'"
k() { vmm_run "net kvmrun $1" "k$1.log" 900 "$KVMRUN" $gk --metrics k$1.log.metrics --net tap=$tap --cmdline "$words"; }
# shellcheck disable=SC2046
q() { vmm_run "net qemu $1" "q$1.log" 900 "$QEMU" $(qemu_base) $gq $nq -append "$KVMRUN_DEFAULT_CMDLINE $words"; }
ok=1
alternate "$rounds" || ok=0
kill $srv 2>/dev/null
cp iperf-server.log "$LAB_OUT/" 2>/dev/null
tunctl -d $tap >/dev/null
if [ $ok = 1 ]; then pass bench-net; else fail bench-net "a run did not end cleanly (see BENCH-RAW lines)"; fi
