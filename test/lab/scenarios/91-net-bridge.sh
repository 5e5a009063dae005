# shellcheck shell=sh
# Two L2 guests on one bridge in L1 (two kvmrun instances, taps tapa and tapb
# in br0) reach each other: ping both ways and UDP datagrams of 1..1472 bytes
# from one guest through the other's echo. Guest A keeps the default MAC
# (52:54:00:12:34:56, interface 0), guest B gets mac=52:54:00:00:00:0b.
MAC_A=52:54:00:12:34:56
MAC_B=52:54:00:00:00:0b

if need_kvmrun net-bridge-boot; then
	ip link add br0 type bridge
	# No STP here: ports forward at once instead of after 15 s.
	echo 0 >/sys/class/net/br0/bridge/forward_delay
	ip addr add 10.0.3.1/24 dev br0
	ip link set br0 up
	for t in tapa tapb; do
		tunctl -t "$t" >/dev/null
		ip link set "$t" master br0
		ip link set "$t" up
	done
	l2_bg a 300 "$KVMRUN" --kernel "$L2_BZIMAGE" --initrd "$L2_INITRD" --net tap=tapa \
		--cmdline "lab.ip=10.0.3.2/24 lab.run=net,shell"
	l2_bg b 300 "$KVMRUN" --kernel "$L2_BZIMAGE" --initrd "$L2_INITRD" --net "tap=tapb,mac=$MAC_B" \
		--cmdline "lab.ip=10.0.3.3/24 lab.run=net,shell"
	why=
	for g in a b; do
		wait_for $g.log '^L2: shell ready' 150 || why="${why}guest $g has no shell (kvmrun status $(cat $g.rc 2>/dev/null)); "
	done
	if [ -n "$why" ]; then
		fail net-bridge-boot "$why"
		show a.log 10
		show b.log 10
	else
		pass net-bridge-boot
		sleep 1
		got_a=$(sed -n 's/^L2 net eth0 mac=\([0-9a-f:]*\).*/\1/p' a.log)
		got_b=$(sed -n 's/^L2 net eth0 mac=\([0-9a-f:]*\).*/\1/p' b.log)
		if [ "$got_a" = "$MAC_A" ]; then
			pass net-bridge-default-mac
		else
			fail net-bridge-default-mac "guest A (no mac=) has '$got_a', wanted $MAC_A"
		fi
		if [ "$got_b" = "$MAC_B" ]; then
			pass net-bridge-mac
		else
			fail net-bridge-mac "guest B has '$got_b', wanted $MAC_B"
		fi

		# guest_ping CHECK FROM TO_IP: FROM pings TO_IP, 3 of 3 answered.
		guest_ping() {
			l2_type "$2" "ping -c 3 -w 30 $3 >/tmp/p 2>&1; echo \"R\"\"X: ping-$3 \$? \$(grep packets /tmp/p)\""
			if ! wait_for "$2.log" "^RX: ping-$3" 45; then
				fail "$1" "no answer from guest $2's ping within 45s"
			elif has "$2.log" "^RX: ping-$3 0 3 packets transmitted, 3 packets received"; then
				pass "$1"
			else
				fail "$1" "$(grep "^RX: ping-$3" "$2.log" | tr -d '\r')"
			fi
		}
		guest_ping net-bridge-ping-a-b a 10.0.3.3
		guest_ping net-bridge-ping-b-a b 10.0.3.2

		# UDP from A through B's echo (nettool, started by the net step).
		l2_type a '/lab/nettool udpcheck 10.0.3.3 7 1 1472 >/tmp/u 2>&1; echo "R""X: udp $? $(cat /tmp/u)"'
		if ! wait_for a.log '^RX: udp' 150; then
			fail net-bridge-udp "guest A's udpcheck did not finish within 150s"
		elif has a.log '^RX: udp 0 '; then
			pass net-bridge-udp
		else
			fail net-bridge-udp "$(grep '^RX: udp' a.log | tr -d '\r')"
		fi
		echo "LAB: $(sed -n 's/^RX: udp [0-9]* //p' a.log | tr -d '\r')"
		echo "LAB: br0 saw $(cat /sys/class/net/br0/statistics/rx_packets) packets for L1, tapa/tapb sent $(cat /sys/class/net/tapa/statistics/tx_packets)/$(cat /sys/class/net/tapb/statistics/tx_packets) to the guests"
	fi
	why=
	for g in a b; do
		l2_end $g
		[ "$L2_RC" = 0 ] || why="${why}guest $g: kvmrun status $L2_RC; "
	done
	if [ -z "$why" ]; then
		pass net-bridge-exit
	else
		fail net-bridge-exit "$why"
	fi
	for t in tapa tapb; do tunctl -d "$t" >/dev/null; done
	ip link del br0
fi
