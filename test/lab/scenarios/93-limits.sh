# shellcheck shell=sh
# Rate limits on a Linux guest (the lab's kernel), each measured on the
# guest's clock after its bucket's first second of burst, and checked within
# 2% of the configured rate:
#   disk bw    --disk a.img,bw=4M: dd reads 32 MiB with O_DIRECT
#   disk iops  --disk b.img,iops=200: dd reads 1400 blocks of 4 KiB, O_DIRECT
#   net rx/tx  --net tap=...,rx-bw=2M,tx-bw=2M: 16 MiB over TCP each way,
#              timed by the receiver from its first byte to its last (nettool
#              recvtime); the bytes are what kvmrun counted (frames, headers
#              included: SIGUSR1 metrics lines around each transfer)
# and a neighbour: a second guest reading its unlimited disk (32 MiB, O_DIRECT)
# while the first one is held to its bandwidth limit takes no more than 1.5x
# what it takes alone (both share L1's one vCPU).
LIM_MB=32

# rate_row NAME CONFIGURED TOTAL BUCKET SECS: print the achieved rate after
# the full bucket, (TOTAL - BUCKET) / SECS; status 1 when it is not within 2%.
rate_row() {
	awk -v n="$1" -v c="$2" -v t="$3" -v b="$4" -v s="$5" 'BEGIN {
		a = s > 0 ? (t - b) / s : 0
		printf "LAB: limits: %-10s configured %10.0f/s achieved %10.0f/s (%+.2f%%) in %.2f s\n", n, c, a, 100 * (a - c) / c, s
		exit (a < 0.98 * c || a > 1.02 * c) }'
}

# guest_secs LOG KEY: seconds between the two uptimes on the guest's "KEY a b" line.
guest_secs() {
	sed -n "s/^$2 \([0-9.]*\) \([0-9.]*\).*/\1 \2/p" "$1" | tr -d '\r' | tail -1 |
		awk '{ printf "%.2f", $2 - $1 }'
}

if need_kvmrun limits-disk; then
	truncate -s ${LIM_MB}M a.img
	truncate -s 8M b.img
	truncate -s ${LIM_MB}M c.img
	tunctl -t lim0 >/dev/null
	ip addr add 10.0.4.1/24 dev lim0
	ip link set lim0 up
	l2_bg lim 900 "$KVMRUN" --kernel "$L2_BZIMAGE" --initrd "$L2_INITRD" --memory 256M \
		--disk a.img,bw=4M --disk b.img,iops=200 --disk c.img \
		--net tap=lim0,rx-bw=2M,tx-bw=2M --metrics lim.metrics \
		--cmdline "lab.ip=10.0.4.2/24 lab.run=net,shell"
	truncate -s ${LIM_MB}M nb.img
	l2_bg nb 900 "$KVMRUN" --kernel "$L2_BZIMAGE" --initrd "$L2_INITRD" --memory 128M \
		--disk nb.img --cmdline "lab.run=shell"
	# nb_read N: the neighbour reads its disk; its seconds in NB_SECS.
	nb_read() {
		l2_type nb "a=\$(cut -d' ' -f1 /proc/uptime); dd if=/dev/vda of=/dev/null bs=1M count=$LIM_MB iflag=direct 2>/dev/null; echo \"N\"\"B$1 \$a \$(cut -d' ' -f1 /proc/uptime)\""
		wait_for nb.log "^NB$1 " 60
		NB_SECS=$(guest_secs nb.log "NB$1")
	}
	if ! wait_for lim.log '^L2: shell ready' 120 || ! wait_for nb.log '^L2: shell ready' 60; then
		fail limits-disk "no shell within 120s"
		show lim.log
	else
		sleep 1
		# The unlimited disk first: what the guest manages without a limit.
		l2_type lim "a=\$(cut -d' ' -f1 /proc/uptime); dd if=/dev/vdc of=/dev/null bs=1M count=$LIM_MB iflag=direct 2>/dev/null; echo \"UN\"\"LIM \$a \$(cut -d' ' -f1 /proc/uptime)\""
		wait_for lim.log '^UNLIM ' 120
		un=$(guest_secs lim.log UNLIM)
		echo "LAB: limits: the unlimited disk: $LIM_MB MiB in ${un}s"
		nb_read 1
		alone=$NB_SECS
		l2_type lim "a=\$(cut -d' ' -f1 /proc/uptime); dd if=/dev/vda of=/dev/null bs=1M count=$LIM_MB iflag=direct 2>/dev/null; echo \"B\"\"W \$a \$(cut -d' ' -f1 /proc/uptime)\""
		sleep 2 # the limited read is under way (its first 4 MiB went at once)
		nb_read 2
		beside=$NB_SECS
		echo "LAB: limits: the neighbour read $LIM_MB MiB in ${alone}s alone, ${beside}s beside the limited guest"
		wait_for lim.log '^BW ' 120
		if awk -v a="${alone:-0}" -v b="${beside:-0}" 'BEGIN { exit !(a > 0 && b > 0 && b <= 1.5 * a + 0.05) }'; then
			pass limits-neighbour
		else
			fail limits-neighbour "the neighbour took ${beside}s beside the limited guest, ${alone}s alone"
		fi
		l2_type lim "a=\$(cut -d' ' -f1 /proc/uptime); dd if=/dev/vdb of=/dev/null bs=4k count=1400 iflag=direct 2>/dev/null; echo \"IO\"\"PS \$a \$(cut -d' ' -f1 /proc/uptime)\""
		wait_for lim.log '^IOPS ' 120
		why=
		s=$(guest_secs lim.log BW)
		rate_row disk-bw 4194304 $((LIM_MB << 20)) 4194304 "${s:-0}" || why="${why}bw: ${s}s for $LIM_MB MiB at 4 MiB/s; "
		s=$(guest_secs lim.log IOPS)
		rate_row disk-iops 200 1400 200 "${s:-0}" || why="${why}iops: ${s}s for 1400 reads at 200/s; "
		if [ -z "$why" ]; then pass limits-disk; else fail limits-disk "$why"; fi

		# Network: 16 MiB each way, timed from the first byte to the last by
		# the receiver (nettool recvtime); the bytes are what kvmrun counted
		# (frames, headers included: SIGUSR1 metrics lines around each).
		dd if=/dev/urandom of=lim.data bs=1M count=16 2>/dev/null
		l2_type lim "dd if=/dev/urandom of=/tmp/out bs=1M count=16 2>/dev/null; echo \"GEN\"\"ERATED\""
		wait_for lim.log '^GENERATED' 60
		why=
		for dir in rx tx; do
			echo "LAB: limits: network $dir"
			kill -USR1 "$(cat lim.pid)"
			sleep 0.5
			if [ $dir = rx ]; then
				nc -l -p 5011 -e cat lim.data &
				sleep 0.5
				l2_type lim "/lab/nettool recvtime 10.0.4.1 5011"
				wait_for lim.log '^RECV ' 90
			else
				l2_type lim "nc -l -p 5012 -e cat /tmp/out & echo \"SER\"\"VING\""
				wait_for lim.log '^SERVING' 30
				sleep 1
				timeout -s KILL 90 /lab/nettool recvtime 10.0.4.2 5012 >lim.recv
			fi
			kill -USR1 "$(cat lim.pid)"
			sleep 0.5
		done
		field() { grep '"event":"sigusr1"' lim.metrics | sed -n "$1p" | sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p"; }
		rx=$(($(field 2 rx_bytes) - $(field 1 rx_bytes)))
		tx=$(($(field 4 tx_bytes) - $(field 3 tx_bytes)))
		s=$(sed -n 's/^RECV [0-9]* \([0-9.]*\).*/\1/p' lim.log | tr -d '\r' | tail -1)
		rate_row net-rx 2097152 "$rx" 2097152 "${s:-0}" || why="${why}rx: $rx bytes in ${s}s at 2 MiB/s; "
		s=$(sed -n 's/^RECV [0-9]* \([0-9.]*\).*/\1/p' lim.recv)
		rate_row net-tx 2097152 "$tx" 2097152 "${s:-0}" || why="${why}tx: $tx bytes in ${s}s at 2 MiB/s; "
		if [ -z "$why" ]; then
			pass limits-net
		else
			fail limits-net "$why"
			show lim.log 20
		fi
		cp lim.metrics "$LAB_OUT/" 2>/dev/null
	fi
	l2_end lim
	l2_end nb
	tunctl -d lim0 >/dev/null
	rm -f a.img b.img c.img nb.img lim.data lim.recv
fi
