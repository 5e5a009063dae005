# shellcheck shell=sh
# --net fd=N: the launcher opens the tap (nettool tapfd: /dev/net/tun,
# TUNSETIFF tapf with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, the fd put on 5)
# and execs kvmrun with --net fd=5; the guest's network works through it:
# MAC, ping both ways, UDP 1..1472 through the echo in L2, 8 MiB of TCP from
# L1 with md5sum on both ends. The tap is not persistent: it goes with kvmrun.
MAC_F=52:54:00:00:00:0f
FD_MB=8

if need_kvmrun net-fd-boot; then
	l2_bg f 300 /lab/nettool tapfd tapf 5 "$KVMRUN" --kernel "$L2_BZIMAGE" --initrd "$L2_INITRD" \
		--net "fd=5,mac=$MAC_F" --cmdline "lab.ip=10.0.4.2/24 lab.run=net,shell"
	n=0
	while [ ! -e /sys/class/net/tapf ] && [ $n -lt 50 ]; do
		sleep 0.2
		n=$((n + 1))
	done
	ip addr add 10.0.4.1/24 dev tapf
	ip link set tapf up
	echo "LAB: tapf flags $(cat /sys/class/net/tapf/tun_flags 2>/dev/null) (0x5002: TAP, NO_PI, VNET_HDR)"
	dd if=/dev/urandom of=a bs=1M count=$FD_MB 2>/dev/null
	a_md5=$(md5sum a | cut -d' ' -f1)
	if ! wait_for f.log '^L2: shell ready' 150; then
		fail net-fd-boot "no L2 shell within 150s (kvmrun status $(cat f.rc 2>/dev/null))"
		show f.log
	elif ! has f.log '^L2 net eth0 mac='; then
		fail net-fd-boot "the guest did not configure eth0"
		show f.log
	else
		pass net-fd-boot
		sleep 1
		got=$(sed -n 's/^L2 net eth0 mac=\([0-9a-f:]*\).*/\1/p' f.log)
		if [ "$got" = "$MAC_F" ]; then
			pass net-fd-mac
		else
			fail net-fd-mac "guest's eth0 has MAC '$got', wanted $MAC_F"
		fi

		ping -c 3 -w 30 10.0.4.2 >ping1 2>&1
		if grep -q ' 3 packets received' ping1; then
			pass net-fd-ping-l1-l2
		else
			fail net-fd-ping-l1-l2 "$(grep -E 'packets|ping:' ping1 | head -2 | tr '\n' ' ')"
		fi
		l2_type f 'ping -c 3 -w 30 10.0.4.1 >/tmp/p 2>&1; echo "R""X: ping $? $(grep packets /tmp/p)"'
		if ! wait_for f.log '^RX: ping' 45; then
			fail net-fd-ping-l2-l1 "no answer from the guest's ping within 45s"
		elif has f.log '^RX: ping 0 3 packets transmitted, 3 packets received'; then
			pass net-fd-ping-l2-l1
		else
			fail net-fd-ping-l2-l1 "$(grep '^RX: ping' f.log | tr -d '\r')"
		fi

		if timeout -s KILL 300 /lab/nettool udpcheck 10.0.4.2 7 1 1472 >udp 2>&1; then
			pass net-fd-udp
		else
			fail net-fd-udp "$(tr '\n' ' ' <udp)"
		fi
		echo "LAB: $(cat udp)"

		nc -l -p 5003 -e cat a &
		ncpid=$!
		sleep 0.5
		l2_type f 'nc 10.0.4.1 5003 </dev/null >/tmp/in; echo "R""X: tcp-in $? $(wc -c </tmp/in) $(md5sum </tmp/in)"'
		if ! wait_for f.log '^RX: tcp-in' 150; then
			fail net-fd-tcp "the guest did not report the transfer within 150s"
		else
			set -- $(sed -n 's/^RX: tcp-in //p' f.log | tr -d '\r')
			if [ "$1" = 0 ] && [ "$2" = $((FD_MB << 20)) ] && [ "$3" = "$a_md5" ]; then
				pass net-fd-tcp
			else
				fail net-fd-tcp "nc status $1, $2 bytes, md5 $3 (sent $((FD_MB << 20)) bytes, md5 $a_md5)"
			fi
		fi
		kill "$ncpid" 2>/dev/null
	fi
	l2_end f
	if [ "$L2_RC" = 0 ]; then
		pass net-fd-exit
	else
		fail net-fd-exit "kvmrun (through nettool tapfd) ended with status $L2_RC"
		show f.log
	fi
	rm -f a
fi
