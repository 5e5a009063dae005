# shellcheck shell=sh disable=SC2086 # $AS_USER: a command prefix of several words
# virtio-net over passt (--net stream=SOCK: QEMU's -netdev stream protocol,
# each frame a 4-byte big-endian length and the Ethernet frame), with passt
# and kvmrun run by an ordinary user (uid 1000, /dev/kvm group kvm as udev
# would set it). passt's uplink in L1 is a dummy interface with 10.0.7.15/24
# and a default route via 10.0.7.1, so passt hands the guest 10.0.7.15 by
# DHCP with 10.0.7.1 as its router, and maps connections to 10.0.7.1 onto
# L1's loopback. Checks: with no peer on the socket, one line and status 2;
# the guest's DHCP lease (address, router, MTU 65520); 16 MiB fetched with
# wget from busybox httpd on 127.0.0.1 in L1, and 16 MiB back through
# passt's port forward (-t), md5sum on both ends (throughput printed, for
# information); passt killed mid-transfer: kvmrun logs one "link down" line,
# keeps running, the guest still answers on its console and sees carrier 0;
# a fake peer (nettool streampeer) that sends a frame length of 0, and in a
# second run 65537: the same, and kvmrun's metrics at exit say bad_length 1,
# link_up 0.
PT_UID=1000
PT_KVM_GID=104 # "kvm", as Debian's udev makes /dev/kvm root:kvm 0660
PT_HOST=10.0.7.15
PT_GW=10.0.7.1
PT_MB=16

# $AS_USER CMD ARG...: CMD as the ordinary user, in the kvm group (a command
# prefix, not a function, so that timeout, l2_bg and $! see the program).
AS_USER="/lab/nettool asuser $PT_UID $PT_UID,$PT_KVM_GID"

# pt_sock PATH: wait up to 10 s for a listening Unix socket at PATH.
pt_sock() {
	_n=0
	while [ ! -S "$1" ] && [ $_n -lt 50 ]; do
		sleep 0.2
		_n=$((_n + 1))
	done
	[ -S "$1" ]
}

# passt_start SOCK LOG ARG...: passt as the user, in the foreground, on SOCK,
# one client, IPv4 only, logging to LOG; sets PASST_PID. passt sandboxes
# itself with pivot_root, which the initramfs root of L1 (rootfs) refuses,
# so it runs in its own mount namespace whose root is a bind mount of L1's
# tree moved over / (what switch_root does): a process root that is a mount
# with a parent, and not a chroot (which would forbid its user namespace).
passt_start() {
	_s=$1 _l=$2
	shift 2
	mkdir -p "$LAB_TMP/root"
	# shellcheck disable=SC2016 # $1 and $@ are the inner shell's
	unshare -m sh -c 'mount --rbind / "$1" && cd "$1" && mount --move . / && shift && exec chroot . "$@"' \
		sh "$LAB_TMP/root" /lab/nettool asuser "$PT_UID" "$PT_UID" \
		/usr/bin/passt -f -1 -4 -s "$_s" -l "$_l" "$@" >"$_l.err" 2>&1 &
	PASST_PID=$!
	pt_sock "$_s"
}

# pt_uid PID: the real uid a process runs as.
pt_uid() { awk '/^Uid:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }

# mibps BYTES SECS: MiB/s with one decimal.
mibps() { awk -v b="$1" -v s="$2" 'BEGIN { if (s <= 0) s = 0.01; printf "%.1f", b / 1048576 / s }'; }

# md5 FILE: just the hash.
md5() { md5sum "$1" | cut -d' ' -f1; }

# nets_field METRICS FIELD: FIELD of nets.eth0 in kvmrun's --metrics file.
nets_field() {
	grep -o '"nets":{[^}]*}' "$1" 2>/dev/null | tail -1 | sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p"
}

# pt_alive CHECK NAME: after the link went down, kvmrun (started by l2_bg
# NAME) still runs and the guest still answers on its console with carrier 0.
pt_alive() {
	if [ -f "$2.rc" ] || ! pidof kvmrun >/dev/null; then
		fail "$1-alive" "kvmrun ended with status $(cat "$2.rc" 2>/dev/null) after the link went down"
		show "$2.log"
		return 1
	fi
	pass "$1-alive"
	l2_type "$2" 'echo "R""X: carrier $(cat /sys/class/net/eth0/carrier) $(cat /sys/class/net/eth0/operstate)"'
	if ! wait_long "$2.log" '^RX: carrier' 30; then
		fail "$1-carrier" "the guest did not answer on its console within 30s"
		show "$2.log"
	elif has "$2.log" '^RX: carrier 0 '; then
		pass "$1-carrier"
		echo "LAB: the guest: $(grep '^RX: carrier' "$2.log" | tr -d '\r')"
	else
		fail "$1-carrier" "the guest sees $(grep '^RX: carrier' "$2.log" | tr -d '\r')"
	fi
}

# pt_linkdown CHECK NAME: kvmrun's output has exactly one "link down" line.
pt_linkdown() {
	if ! wait_long "$2.log" 'link down' 30; then
		fail "$1" "no 'link down' line from kvmrun within 30s"
		show "$2.log"
		return 1
	fi
	_n=$(grep -c 'link down' "$2.log")
	echo "LAB: kvmrun said: $(grep 'link down' "$2.log" | head -3 | tr -d '\r' | tr '\n' ' ')"
	if [ "$_n" = 1 ]; then
		pass "$1"
	else
		fail "$1" "$_n 'link down' lines, wanted one"
	fi
}

# pt_metrics CHECK METRICS BAD: kvmrun's metrics at exit: bad_length BAD,
# link_up 0.
pt_metrics() {
	cp "$2" "$LAB_OUT/" 2>/dev/null
	echo "LAB: metrics: $(grep -o '"nets":{[^}]*}' "$2" 2>/dev/null | tail -1)"
	_b=$(nets_field "$2" bad_length)
	_u=$(nets_field "$2" link_up)
	if [ "$_b" = "$3" ] && [ "$_u" = 0 ]; then
		pass "$1"
	else
		fail "$1" "bad_length '$_b' (wanted $3), link_up '$_u' (wanted 0) in kvmrun's --metrics"
	fi
}

if need_kvmrun passt-boot; then
	kvm_mode=$(stat -c '%a %g' /dev/kvm)
	chgrp "$PT_KVM_GID" /dev/kvm
	chmod 660 /dev/kvm
	mkdir -p u/www
	chown -R "$PT_UID:$PT_UID" u
	ip link set lo up
	ip link add ptup type dummy
	ip addr add "$PT_HOST/24" dev ptup
	ip link set ptup up
	ip route add default via "$PT_GW" dev ptup

	# 0. No peer on the socket: one line naming it, status 2 (README: a bad
	# input, checked before /dev/kvm is opened), no guest started.
	timeout -s KILL 30 $AS_USER "$KVMRUN" --kernel "$L2_BZIMAGE" \
		--net "stream=$LAB_TMP/u/none.sock" >none.out 2>none.err
	rc=$?
	echo "LAB: no socket: status $rc: $(cat none.err)"
	if [ "$rc" = 2 ] && [ "$(wc -l <none.err)" = 1 ] && grep -q "u/none.sock" none.err &&
		[ ! -s none.out ]; then
		pass passt-no-socket
	else
		fail passt-no-socket "status $rc (wanted 2), $(wc -l <none.err) lines on stderr (wanted one naming the socket), $(wc -c <none.out) bytes on stdout"
	fi

	# 1. passt, httpd on L1's loopback, a guest that takes DHCP.
	$AS_USER sh -c "dd if=/dev/urandom of=u/www/a bs=1M count=$PT_MB 2>/dev/null"
	a_md5=$(md5 u/www/a)
	$AS_USER httpd -f -p 127.0.0.1:8080 -h "$LAB_TMP/u/www" &
	httpd_pid=$!
	if ! passt_start "$LAB_TMP/u/passt.sock" "$LAB_TMP/u/passt.log" -i ptup -t 5002; then
		fail passt-boot "passt did not make its socket within 10s"
		sed 's/^/  | /' u/passt.log u/passt.log.err 2>/dev/null | tail -20
	else
		l2_bg g 600 $AS_USER "$KVMRUN" \
			--kernel "$L2_BZIMAGE" --initrd "$L2_INITRD" --memory 512M \
			--net "stream=$LAB_TMP/u/passt.sock" --metrics "$LAB_TMP/u/g.metrics" \
			--cmdline "lab.run=dhcp,shell"
		if ! wait_long g.log '^L2: shell ready' 120; then
			fail passt-boot "no L2 shell within 120s (kvmrun status $(cat g.rc 2>/dev/null))"
			show g.log
		else
			pass passt-boot
			sleep 1
			# kvmrun is two processes (its teardown helper is a child).
			k_uid=$(for p in $(pidof kvmrun); do pt_uid "$p"; done | sort -u | tr '\n' ' ')
			p_uid=$(pt_uid "$PASST_PID")
			echo "LAB: uids: kvmrun ($(pidof kvmrun)) $k_uid, $(cat "/proc/$PASST_PID/comm" 2>/dev/null) $p_uid"
			if [ "$k_uid" = "$PT_UID " ] && [ "$p_uid" = "$PT_UID" ]; then
				pass passt-user
			else
				fail passt-user "kvmrun runs as uid '$k_uid', passt as '$p_uid', wanted $PT_UID"
			fi

			# The lease: passt offers L1's own address, its gateway, MTU 65520.
			lease=$(grep '^L2 dhcp eth0' g.log | tr -d '\r')
			echo "LAB: $lease"
			if [ "$lease" = "L2 dhcp eth0 ip=$PT_HOST/24 router=$PT_GW mtu=65520" ]; then
				pass passt-dhcp
			else
				fail passt-dhcp "'$lease', wanted ip=$PT_HOST/24 router=$PT_GW mtu=65520"
				show g.log
			fi

			# L1 -> L2: wget from httpd on L1's 127.0.0.1, through the gateway.
			l2_type g 't=$(cut -d" " -f1 /proc/uptime); wget -q -O /tmp/in http://'"$PT_GW"':8080/a; echo "R""X: wget $? $t $(cut -d" " -f1 /proc/uptime) $(wc -c </tmp/in) $(md5sum </tmp/in)"'
			if ! wait_long g.log '^RX: wget' 300; then
				fail passt-wget "the guest did not report the download within 300s"
			else
				# shellcheck disable=SC2046 # the fields of the line
				set -- $(sed -n 's/^RX: wget //p' g.log | tr -d '\r')
				# $1 status, $2 $3 start/end (guest uptime), $4 bytes, $5 md5
				secs=$(awk -v a="$2" -v b="$3" 'BEGIN { printf "%.2f", b - a }')
				echo "LAB: passt L1 -> L2 (wget): $4 bytes in ${secs}s = $(mibps "$4" "$secs") MiB/s (guest's clock)"
				if [ "$1" = 0 ] && [ "$4" = $((PT_MB << 20)) ] && [ "$5" = "$a_md5" ]; then
					pass passt-wget
				else
					fail passt-wget "wget status $1, $4 bytes, md5 $5 (served $((PT_MB << 20)) bytes, md5 $a_md5)"
				fi
			fi

			# L2 -> L1: the guest serves its own data on port 5002, which passt
			# forwards from L1 (-t 5002).
			l2_type g 'dd if=/dev/urandom of=/tmp/out bs=1M count='"$PT_MB"' 2>/dev/null; nc -l -p 5002 -e cat /tmp/out & echo "R""X: gen $(md5sum </tmp/out)"'
			if ! wait_long g.log '^RX: gen' 120; then
				fail passt-l2-to-l1 "the guest did not make its data within 120s"
			else
				b_md5=$(sed -n 's/^RX: gen \([0-9a-f]*\).*/\1/p' g.log)
				sleep 1
				# shellcheck disable=SC2086 # $AS_USER is a command prefix
				fetch_retry b 300 $AS_USER nc 127.0.0.1 5002
				rc=$FETCH_RC secs=$FETCH_SECS
				size=$(wc -c <b)
				got=$(md5 b)
				echo "LAB: passt L2 -> L1 (port forward): $size bytes in ${secs}s = $(mibps "$size" "$secs") MiB/s (L1's clock)"
				if [ "$rc" = 0 ] && [ "$size" = $((PT_MB << 20)) ] && [ "$got" = "$b_md5" ]; then
					pass passt-l2-to-l1
				else
					fail passt-l2-to-l1 "nc status $rc, $size bytes, md5 $got (guest sent $((PT_MB << 20)) bytes, md5 $b_md5) $(cat b.err)"
				fi
				rm -f b
			fi

			# passt killed while the guest takes an endless stream from L1.
			nc -l -p 5003 -e cat /dev/zero &
			zpid=$!
			sleep 0.5
			l2_type g 'nc '"$PT_GW"' 5003 >/dev/null & sleep 2; a=$(cat /sys/class/net/eth0/statistics/rx_bytes); sleep 1; echo "R""X: flow $a $(cat /sys/class/net/eth0/statistics/rx_bytes)"'
			if ! wait_long g.log '^RX: flow' 60; then
				fail passt-kill "the guest did not report its stream within 60s"
			else
				# shellcheck disable=SC2046 # the fields of the line
				set -- $(sed -n 's/^RX: flow //p' g.log | tr -d '\r')
				kill -KILL "$PASST_PID"
				echo "LAB: passt killed with the stream running ($((($2 - $1) >> 10)) KiB in the guest's last second)"
				if [ "$2" -gt "$1" ]; then
					pass passt-kill
				else
					fail passt-kill "no data flowed to the guest before the kill ($1 -> $2 bytes)"
				fi
				pt_linkdown passt-kill-link-down g && pt_alive passt-kill g
			fi
			kill "$zpid" 2>/dev/null
		fi
		l2_end g
		if [ "$L2_RC" = 0 ]; then
			pass passt-exit
		else
			fail passt-exit "kvmrun ended with status $L2_RC after reboot -f"
			show g.log
		fi
		pt_metrics passt-kill-metrics u/g.metrics 0
		tx=$(nets_field u/g.metrics tx_bytes)
		rx=$(nets_field u/g.metrics rx_bytes)
		if [ "${tx:-0}" -ge $((PT_MB << 20)) ] && [ "${rx:-0}" -ge $((PT_MB << 20)) ] &&
			[ "$(nets_field u/g.metrics errors)" = 0 ]; then
			pass passt-counters
		else
			fail passt-counters "rx_bytes '$rx', tx_bytes '$tx', errors '$(nets_field u/g.metrics errors)'"
		fi
	fi
	kill -KILL "$PASST_PID" 2>/dev/null
	kill "$httpd_pid" 2>/dev/null
	cp u/passt.log "$LAB_OUT/" 2>/dev/null

	# 2. A peer that sends a frame length of 0 at once, then one of 65537
	# after the guest's first frame: each takes the link down for good.
	for len in 0 65537; do
		c=passt-bad-length-$len
		mode=
		[ "$len" = 0 ] || mode=after-frame
		# shellcheck disable=SC2086 # $mode is empty or one word
		$AS_USER /lab/nettool streampeer "$LAB_TMP/u/peer.sock" "$len" $mode >"peer$len.log" 2>&1 &
		peer=$!
		if ! pt_sock "$LAB_TMP/u/peer.sock"; then
			fail "$c" "nettool streampeer made no socket: $(cat "peer$len.log")"
			continue
		fi
		l2_bg p 300 $AS_USER "$KVMRUN" \
			--kernel "$L2_BZIMAGE" --initrd "$L2_INITRD" \
			--net "stream=$LAB_TMP/u/peer.sock" --metrics "$LAB_TMP/u/p.metrics" \
			--cmdline "lab.ip=$PT_HOST/24 lab.run=net,shell"
		if ! wait_long p.log '^L2: shell ready' 120; then
			fail "$c" "no L2 shell within 120s (kvmrun status $(cat p.rc 2>/dev/null))"
			show p.log
		else
			# A frame from the guest (an ARP request), in case it sent none.
			l2_type p "ping -c 1 -W 1 $PT_GW >/dev/null 2>&1"
			pt_linkdown "$c" p && pt_alive "$c" p
		fi
		l2_end p
		echo "LAB: $(tr '\n' ' ' <"peer$len.log")"
		if [ "$L2_RC" = 0 ]; then
			pass "$c-exit"
		else
			fail "$c-exit" "kvmrun ended with status $L2_RC after reboot -f"
			show p.log
		fi
		pt_metrics "$c-metrics" u/p.metrics 1
		kill "$peer" 2>/dev/null
		rm -f u/p.metrics u/peer.sock
	done

	ip link del ptup
	rm -rf u
	chgrp "${kvm_mode#* }" /dev/kvm
	chmod "${kvm_mode% *}" /dev/kvm
fi
