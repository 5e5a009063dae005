# shellcheck shell=sh disable=SC2034 # VMM_XPID is read by vmm_run (bench-lib.sh)
# Networking, same L2 guest, in rounds, in one L1 boot:
#   kvmrun --net tap= and QEMU microvm (tap netdev, vhost off,
#     virtio-net-device) on one tap: L1 holds 10.0.0.1 on it, the guest
#     10.0.0.2;
#   kvmrun --net stream=SOCK and QEMU microvm (-netdev stream, unix client)
#     on passt (bench.stream=0 leaves these out): each run gets its own passt
#     (uid 1000, -f -1 -4, uplink the dummy "ptup" 10.0.7.15/24 with a default
#     route via 10.0.7.1, started as test/lab/scenarios/96-passt.sh does),
#     the guest takes passt's view statically (10.0.7.15/24, router 10.0.7.1,
#     MTU bench.stream_mtu=, 65520 as passt's DHCP offers) and reaches L1's
#     loopback through the gateway 10.0.7.1.
# In L2: ping -c bench.pings= -i 0.2 (RTT) to L1 (the gateway under passt),
# iperf3 -c for bench.secs= seconds (tx: L2->L1), then iperf3 -c -R (rx:
# L1->L2), against one iperf3 server in L1. Under passt, vmmtime also times
# passt ("xcpu" lines).
. /lab/scenarios/bench-lib.sh
rounds=$(bench_arg rounds 3)
secs=$(bench_arg secs 5)
pings=$(bench_arg pings 20)
stream=$(bench_arg stream 1)
smtu=$(bench_arg stream_mtu 65520)
tap=benchtap0
tunctl -t $tap >/dev/null
ip addr add 10.0.0.1/24 dev $tap
ip link set $tap up
ip link set lo up
/usr/bin/iperf3 -s >iperf-server.log 2>&1 &
srv=$!
# vmmtime's "kvmstat" lines read KVM's statistics in L1's debugfs; without
# it they are left out and the rest still runs.
[ -d /sys/kernel/debug/kvm ] || mount -t debugfs none /sys/kernel/debug 2>/dev/null || true
if [ -d /sys/kernel/debug/kvm ]; then kd=yes; else kd="no (no KVM exit statistics)"; fi
words="quiet reboot=t panic=-1 bench.run=net bench.secs=$secs bench.pings=$pings"
swords="$words bench.net=passt bench.mtu=$smtu"
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

# passt as in 96-passt.sh: uid 1000, its own mount namespace whose root is
# a bind mount of L1's tree moved over / (passt's pivot_root refuses L1's
# initramfs root). The unshare, sh, chroot and nettool all exec, so $! is
# passt's pid.
PT_UID=1000
mkdir -p pt root
chown "$PT_UID:$PT_UID" pt
if [ "$stream" = 1 ]; then
	ip link add ptup type dummy
	ip addr add 10.0.7.15/24 dev ptup
	ip link set ptup up
	ip route add default via 10.0.7.1 dev ptup
	# The guest's pings to the gateway leave passt as ping-socket echoes to
	# 10.0.7.1 (uid 1000 may open ping sockets), which L1 then answers
	# itself: 10.0.7.1 is also one of its own addresses. TCP to the gateway
	# is passt's mapping onto L1's loopback, where iperf3 listens.
	echo "0 2147483647" >/proc/sys/net/ipv4/ping_group_range
	ip addr add 10.0.7.1/32 dev lo
	echo "BENCH-INFO kvmrun stream command: $KVMRUN $gk --net stream=SOCK --cmdline '$swords'"
	echo "BENCH-INFO qemu stream command: $QEMU $(qemu_base) $gq -netdev stream,id=n0,server=off,addr.type=unix,addr.path=SOCK -device virtio-net-device,netdev=n0 -append '$KVMRUN_DEFAULT_CMDLINE $swords'"
	echo "BENCH-INFO passt command: /usr/bin/passt -f -1 -4 -s SOCK -l LOG -i ptup (uid $PT_UID)"
fi
# passt_up NAME: a fresh passt on pt/NAME.sock; sets PASST_PID, VMM_XPID.
passt_up() {
	rm -f "pt/$1.sock"
	# shellcheck disable=SC2016 # $1 and $@ are the inner shell's
	unshare -m sh -c 'mount --rbind / "$1" && cd "$1" && mount --move . / && shift && exec chroot . "$@"' \
		sh "$LAB_TMP/root" /lab/nettool asuser "$PT_UID" "$PT_UID" \
		/usr/bin/passt -f -1 -4 -s "$LAB_TMP/pt/$1.sock" -l "$LAB_TMP/pt/$1.log" -i ptup \
		>"pt/$1.err" 2>&1 &
	PASST_PID=$! VMM_XPID=$!
	_n=0
	while [ ! -S "pt/$1.sock" ] && [ $_n -lt 50 ]; do
		sleep 0.2
		_n=$((_n + 1))
	done
	echo "BENCH-RAW passt $1 pid $PASST_PID comm $(cat /proc/$PASST_PID/comm 2>/dev/null)"
	[ -S "pt/$1.sock" ] && return 0
	echo "BENCH-RAW passt $1 no socket within 10s: $(tail -n 3 "pt/$1.err" "pt/$1.log" 2>/dev/null | tr '\n' ' ')"
	return 1
}
# passt_down NAME: passt is gone (-1: it exits with its one client); its log.
passt_down() {
	kill "$PASST_PID" 2>/dev/null
	wait "$PASST_PID" 2>/dev/null
	VMM_XPID=
	cp "pt/$1.log" "$LAB_OUT/passt-$1.log" 2>/dev/null
}
ks() {
	passt_up k$1 || return 1
	vmm_run "net kvmrun-stream $1" "ks$1.log" 900 "$KVMRUN" $gk --metrics ks$1.log.metrics \
		--net "stream=$LAB_TMP/pt/k$1.sock" --cmdline "$swords"
	_rc=$?
	passt_down k$1
	return $_rc
}
# shellcheck disable=SC2046
qs() {
	passt_up q$1 || return 1
	vmm_run "net qemu-stream $1" "qs$1.log" 900 "$QEMU" $(qemu_base) $gq \
		-netdev "stream,id=n0,server=off,addr.type=unix,addr.path=$LAB_TMP/pt/q$1.sock" \
		-device virtio-net-device,netdev=n0 -append "$KVMRUN_DEFAULT_CMDLINE $swords"
	_rc=$?
	passt_down q$1
	return $_rc
}
ok=1
if [ "$stream" = 1 ]; then
	# Four runs a round, the order reversed every other round.
	i=1
	while [ $i -le "$rounds" ]; do
		if [ $((i % 2)) = 1 ]; then order="k q ks qs"; else order="qs ks q k"; fi
		for f in $order; do
			$f $i || ok=0
		done
		i=$((i + 1))
	done
else
	alternate "$rounds" || ok=0
fi
kill $srv 2>/dev/null
cp iperf-server.log "$LAB_OUT/" 2>/dev/null
tunctl -d $tap >/dev/null
[ "$stream" != 1 ] || ip link del ptup
if [ $ok = 1 ]; then pass bench-net; else fail bench-net "a run did not end cleanly (see BENCH-RAW lines)"; fi
