# shellcheck shell=sh
# virtio-net over a tap (--net tap=NAME,mac=MAC), every packet inside L1:
# L1 has tap0 at 10.0.2.1/24, the L2 guest configures eth0 as 10.0.2.2/24
# from lab.ip= and keeps a shell on its console that this script types into.
# Checks: the MAC the guest sees, ping both ways, UDP datagrams of 1..1472
# bytes through an echo in L2, and 64 MiB over TCP each way (busybox nc,
# md5sum on both ends; the throughput is printed, for information).
NET_MAC=52:54:00:ab:cd:01
NET_MB=64

# mibps BYTES SECS: MiB/s with one decimal.
mibps() { awk -v b="$1" -v s="$2" 'BEGIN { if (s <= 0) s = 0.01; printf "%.1f", b / 1048576 / s }'; }

# md5 FILE: just the hash.
md5() { md5sum "$1" | cut -d' ' -f1; }

if need_kvmrun net-boot; then
	tunctl -t tap0 >/dev/null
	ip addr add 10.0.2.1/24 dev tap0
	ip link set tap0 up
	l2_bg g 900 "$KVMRUN" --kernel "$L2_BZIMAGE" --initrd "$L2_INITRD" --memory 512M \
		--net "tap=tap0,mac=$NET_MAC" --metrics "$LAB_TMP/g.metrics" \
		--cmdline "lab.ip=10.0.2.2/24 lab.run=net,shell"
	# The data for L1 -> L2, made while L2 boots.
	t0=$(now)
	dd if=/dev/urandom of=a bs=1M count=$NET_MB 2>/dev/null
	a_md5=$(md5 a)
	echo "LAB: ${NET_MB} MiB of random data in L1 in $(elapsed "$t0")s: $a_md5"
	if ! wait_long g.log '^L2: shell ready' 120; then
		fail net-boot "no L2 shell within 120s (kvmrun status $(cat g.rc 2>/dev/null))"
		show g.log
	elif ! has g.log '^L2 net eth0 mac='; then
		fail net-boot "the guest did not configure eth0"
		show g.log
	else
		pass net-boot
		sleep 1

		# The MAC given with mac= is the guest's.
		got=$(sed -n 's/^L2 net eth0 mac=\([0-9a-f:]*\).*/\1/p' g.log)
		if [ "$got" = "$NET_MAC" ]; then
			pass net-mac
		else
			fail net-mac "guest's eth0 has MAC '$got', wanted $NET_MAC"
		fi

		# Ping L1 -> L2 and L2 -> L1 (3 of 3 answered).
		ping -c 3 -w 30 10.0.2.2 >ping1 2>&1
		if grep -q ' 3 packets received' ping1; then
			pass net-ping-l1-l2
		else
			fail net-ping-l1-l2 "$(grep -E 'packets|ping:' ping1 | head -2 | tr '\n' ' ')"
		fi
		l2_type g 'ping -c 3 -w 30 10.0.2.1 >/tmp/p 2>&1; echo "R""X: ping $? $(grep packets /tmp/p)"'
		if ! wait_long g.log '^RX: ping' 45; then
			fail net-ping-l2-l1 "no answer from the guest's ping within 45s"
		elif has g.log '^RX: ping 0 3 packets transmitted, 3 packets received'; then
			pass net-ping-l2-l1
		else
			fail net-ping-l2-l1 "$(grep '^RX: ping' g.log | tr -d '\r')"
		fi

		# UDP: every size from 1 to 1472 (a full 1500-byte frame) comes back
		# from nettool's echo in L2 with the same bytes.
		t0=$(now)
		if timeout -s KILL 300 /lab/nettool udpcheck 10.0.2.2 7 1 1472 >udp 2>&1; then
			pass net-udp-1-1472
		else
			fail net-udp-1-1472 "$(tr '\n' ' ' <udp)"
		fi
		echo "LAB: $(cat udp) ($(elapsed "$t0")s)"

		# TCP L1 -> L2: the sender listens (busybox nc -l ... < file stops
		# early), the guest connects and reports size and md5.
		nc -l -p 5001 -e cat a &
		ncpid=$!
		sleep 0.5
		l2_type g 't=$(cut -d" " -f1 /proc/uptime); nc 10.0.2.1 5001 </dev/null >/tmp/in; echo "R""X: tcp-in $? $t $(cut -d" " -f1 /proc/uptime) $(wc -c </tmp/in) $(md5sum </tmp/in)"'
		if ! wait_long g.log '^RX: tcp-in' 600; then
			fail net-tcp-l1-to-l2 "the guest did not report the transfer within 600s"
		else
			set -- $(sed -n 's/^RX: tcp-in //p' g.log | tr -d '\r')
			# $1 status, $2 $3 start/end (guest uptime), $4 bytes, $5 md5
			secs=$(awk -v a="$2" -v b="$3" 'BEGIN { printf "%.2f", b - a }')
			echo "LAB: TCP L1 -> L2: $4 bytes in ${secs}s = $(mibps "$4" "$secs") MiB/s (guest's clock)"
			if [ "$1" = 0 ] && [ "$4" = $((NET_MB << 20)) ] && [ "$5" = "$a_md5" ]; then
				pass net-tcp-l1-to-l2
			else
				fail net-tcp-l1-to-l2 "nc status $1, $4 bytes, md5 $5 (sent $((NET_MB << 20)) bytes, md5 $a_md5)"
			fi
		fi
		kill "$ncpid" 2>/dev/null

		# TCP L2 -> L1: the guest makes its own data and serves it.
		l2_type g 'dd if=/dev/urandom of=/tmp/out bs=1M count='"$NET_MB"' 2>/dev/null; echo "R""X: gen $(md5sum </tmp/out)"'
		if ! wait_long g.log '^RX: gen' 300; then
			fail net-tcp-l2-to-l1 "the guest did not make its data within 300s"
		else
			b_md5=$(sed -n 's/^RX: gen \([0-9a-f]*\).*/\1/p' g.log)
			l2_type g 'nc -l -p 5002 -e cat /tmp/out &'
			sleep 2
			fetch_retry b 600 nc 10.0.2.2 5002
			rc=$FETCH_RC secs=$FETCH_SECS
			size=$(wc -c <b)
			got=$(md5 b)
			echo "LAB: TCP L2 -> L1: $size bytes in ${secs}s = $(mibps "$size" "$secs") MiB/s (L1's clock)"
			if [ "$rc" = 0 ] && [ "$size" = $((NET_MB << 20)) ] && [ "$got" = "$b_md5" ]; then
				pass net-tcp-l2-to-l1
			else
				fail net-tcp-l2-to-l1 "nc status $rc, $size bytes, md5 $got (guest sent $((NET_MB << 20)) bytes, md5 $b_md5) $(cat b.err)"
			fi
		fi
	fi
	l2_end g
	if [ "$L2_RC" = 0 ]; then
		pass net-exit
	else
		fail net-exit "kvmrun ended with status $L2_RC after reboot -f"
		show g.log
	fi
	# kvmrun's exit metrics: both 64 MiB transfers went through eth0 with no
	# bad chain or fd error; the guest's driver complained of nothing.
	nets=$(grep -o '"nets":{[^}]*}' g.metrics 2>/dev/null | tail -1)
	cp g.metrics "$LAB_OUT/" 2>/dev/null
	echo "LAB: metrics: $nets"
	bad_re='(virtio_net|eth0:).*([Ee]rror|bad|[Uu]nexpected|timed out|fail|not a head)'
	field() { echo "$nets" | sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"; }
	if [ -z "$nets" ]; then
		fail net-counters "no nets line in kvmrun's --metrics file"
	elif [ "$(field errors)" != 0 ] || [ "$(field rx_bytes)" -lt $((NET_MB << 20)) ] ||
		[ "$(field tx_bytes)" -lt $((NET_MB << 20)) ]; then
		fail net-counters "$nets"
	elif has g.log "$bad_re"; then
		fail net-counters "the guest's kernel: $(grep -E "$bad_re" g.log | head -2 | tr -d '\r' | tr '\n' ' ')"
	else
		pass net-counters
	fi
	rm -f a b
	tunctl -d tap0 >/dev/null
fi
