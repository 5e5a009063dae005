# shellcheck shell=sh
# Snapshot and restore a Linux guest, the lab's kernel and Debian's stock
# one (with ACPI), with a disk and a NIC: boot it to its shell, write its
# disk and ping L1, snapshot it on SIGUSR2 (kvmrun exits 0), then restore
# three clones at once, each with its own copy of the image and its own tap
# (in its own network namespace, where the tap has the snapshot's address
# and MAC). Each answers a command on its console with an uptime that goes on
# from the snapshot's (not from 0), writes its disk (read back in L1 after
# it ended) and pings L1 through its tap; Debian's kernel (CONFIG_VMGENID)
# logs that it reseeded its CRNG on the VM generation ID kvmrun changed; 20 s later its clock has gone on with
# L1's (a restored TSC-deadline of 0 once left Linux asleep, its clock
# standing still) and its kernel log has no soft lockup, RCU stall or TSC
# marked unstable (the TSC and kvmclock once came back up to ~2 ms apart, and
# Linux's clocksource watchdog then gave up its TSC). Also reports how long a
# clone took to answer against the cold boot to its shell.
# netns NAME: a network namespace (L1 has busybox: unshare and nsenter, no
# `ip netns`) held by a sleeping process whose pid is in NAME.ns, with tap
# `snaptap` at 10.0.3.1/24 and a fixed MAC (a restored guest's ARP cache
# still holds it), lo up. in_ns NAME CMD...: run CMD in it (a function:
# l2_bg takes `nsenter -t PID -n CMD` instead). ns_del NAME.
netns() {
	unshare -n sleep 100000 &
	echo $! >"$1.ns"
	_n=50
	while [ "$(readlink "/proc/$!/ns/net")" = "$(readlink /proc/self/ns/net)" ] && [ $_n -gt 0 ]; do
		sleep 0.1
		_n=$((_n - 1))
	done
	in_ns "$1" sh -c 'tunctl -t snaptap >/dev/null &&
		ip link set snaptap address 02:00:00:00:03:01 &&
		ip addr add 10.0.3.1/24 dev snaptap && ip link set snaptap up && ip link set lo up'
}
in_ns() {
	_ns=$1
	shift
	nsenter -t "$(cat "$_ns.ns")" -n "$@"
}
ns_del() { kill "$(cat "$1.ns")" 2>/dev/null; }

snapshot_test() {
	name=$1 kernel=$2 initrd=$3 mem=$4 vmgenid=$5
	if need_kvmrun "snapshot-$name-take"; then
		t0=$(now)
		netns "snap-$name-0" || fail "snapshot-$name-take" "cannot make a network namespace with a tap"
		truncate -s 4M "snap-$name.img"
		l2_bg "snap-$name" 300 nsenter -t "$(cat "snap-$name-0.ns")" -n "$KVMRUN" --kernel "$kernel" \
			--initrd "$initrd" --memory "$mem" --disk "snap-$name.img" --net tap=snaptap \
			--cmdline "lab.ip=10.0.3.2/24 lab.run=net,shell" --snapshot-dir "snap-$name"
		why=
		if ! wait_for "snap-$name.log" '^L2: shell ready' 90; then
			why="no shell prompt within 90s"
		fi
		cold=$(elapsed "$t0")
		if [ -z "$why" ]; then
			# The devices in use before the snapshot: a write, and L1's ARP entry.
			l2_type "snap-$name" 'echo before | dd of=/dev/vda conv=fsync 2>/dev/null; ping -c 1 -w 10 10.0.3.1 >/dev/null; echo "be""fore $?"'
			wait_for "snap-$name.log" '^before 0' 30 || why="the guest did not write its disk and ping L1 before the snapshot"
		fi
		[ -n "$why" ] || kill -USR2 "$(cat "snap-$name.pid")"
		wait_for "snap-$name.rc" . 60 || kill -KILL "$(cat "snap-$name.pid")" 2>/dev/null
		wait_for "snap-$name.rc" . 10
		kill "$(cat "snap-$name.hold")" 2>/dev/null
		rc=$(cat "snap-$name.rc" 2>/dev/null)
		[ -z "$why" ] && [ "$rc" != 0 ] && why="the snapshot run ended with status $rc"
		[ -z "$why" ] && [ ! -s "snap-$name/state" ] && why="no state file written"
		cp "snap-$name.log" "$LAB_OUT/"
		if [ -n "$why" ]; then
			fail "snapshot-$name-take" "$why"
			show "snap-$name.log"
		else
			pass "snapshot-$name-take"
			echo "LAB: $name: cold boot to the shell: ${cold}s; memory file $(du -k "snap-$name/memory" | cut -f1) KiB allocated"
		fi
	fi

	if [ -s "snap-$name/state" ] && need_kvmrun "snapshot-$name-clones"; then
		up0=$(sed -n 's/^\[ *\([0-9]*\)\..*/\1/p' "snap-$name.log" | tail -1)
		t0=$(now)
		why=
		for c in "$name-1" "$name-2" "$name-3"; do
			cp "snap-$name.img" "$c.img"
			netns "snap-$c" || why="${why}no network namespace for $c; "
			l2_bg "$c" 120 nsenter -t "$(cat "snap-$c.ns")" -n "$KVMRUN" --restore "snap-$name" \
				--disk "$c.img" --net tap=snaptap
		done
		for c in "$name-1" "$name-2" "$name-3"; do
			l2_type "$c" "echo \"an\"\"swer $c=\$((6 * 7)) up=\$(cut -d. -f1 /proc/uptime)\""
		done
		for c in "$name-1" "$name-2" "$name-3"; do
			wait_for "$c.log" "^answer $c=42 " 60 || why="${why}$c did not answer; "
		done
		answer=$(elapsed "$t0")
		for c in "$name-1" "$name-2" "$name-3"; do
			up=$(sed -n "s/^answer $c=42 up=\([0-9]*\).*/\1/p" "$c.log" | tr -d '\r')
			# up0 is the last printk stamp (sched_clock), which runs ahead of
			# /proc/uptime by the boot's first second or two.
			[ -n "$up" ] && [ "$up" -ge $((${up0:-0} - 2)) ] ||
				why="${why}$c's uptime $up is less than the snapshot's ${up0}s; "
		done
		if [ -z "$why" ]; then
			pass "snapshot-$name-clones"
			echo "LAB: $name: three clones answered ${answer}s after their launch (cold boot to the shell: ${cold:-?}s)"
		else
			fail "snapshot-$name-clones" "$why"
			show "$name-1.log" 15
		fi
		# Each clone's disk and NIC: it writes its name, pings L1 through its
		# own tap, and L1 pings it.
		for c in "$name-1" "$name-2" "$name-3"; do
			l2_type "$c" "echo $c | dd of=/dev/vda conv=fsync 2>/dev/null; ping -c 2 -w 15 10.0.3.1 >/dev/null; echo \"pi\"\"ng $c=\$?\""
		done
		why=
		for c in "$name-1" "$name-2" "$name-3"; do
			wait_for "$c.log" "^ping $c=" 40 || why="${why}$c did not answer; "
			has "$c.log" "^ping $c=0" || why="${why}$c's ping of L1 failed; "
			in_ns "snap-$c" ping -c 2 -w 15 10.0.3.2 >/dev/null 2>&1 ||
				why="${why}L1 cannot ping $c; "
		done
		if [ -z "$why" ]; then
			pass "snapshot-$name-clones-devices"
		else
			fail "snapshot-$name-clones-devices" "$why"
			show "$name-1.log" 15
		fi
		sleep 15
		for c in "$name-1" "$name-2" "$name-3"; do
			l2_type "$c" "echo \"com\"\"plaints $c=\$(dmesg | grep -ci -e 'soft lockup' -e 'rcu.*stall') tsc=\$(dmesg | grep -c 'Marking TSC unstable') up=\$(cut -d. -f1 /proc/uptime) crng=\$(dmesg | grep -c 'crng reseeded due to virtual machine fork') why=\$(dmesg | grep -m1 'Marking TSC unstable' | sed 's/.*due to //')\""
		done
		why=
		for c in "$name-1" "$name-2" "$name-3"; do
			wait_for "$c.log" "^complaints $c=" 30 || why="${why}$c did not answer after 20 s; "
			n=$(sed -n "s/^complaints $c=\([0-9]*\).*/\1/p" "$c.log" | tr -d '\r')
			[ "$n" = 0 ] || why="${why}$c's kernel log has $n lines of soft lockups or RCU stalls; "
			tsc=$(sed -n "s/^complaints $c=[0-9]* tsc=\([0-9]*\).*/\1/p" "$c.log" | tr -d '\r')
			tscwhy=$(sed -n "s/^complaints $c=.* why=//p" "$c.log" | tr -d '\r')
			[ "${tsc:-0}" = 0 ] || why="${why}$c marked its TSC unstable (due to $tscwhy); "
			crng=$(sed -n "s/^complaints $c=.* crng=\([0-9]*\).*/\1/p" "$c.log" | tr -d '\r')
			if [ "$vmgenid" = yes ]; then
				[ "${crng:-0}" -ge 1 ] || why="${why}$c's kernel did not reseed its CRNG (no 'crng reseeded due to virtual machine fork'); "
			else
				echo "LAB: $c: $name's kernel has no VMGENID driver; crng reseed lines: ${crng:-?}"
			fi
			a=$(sed -n "s/^answer $c=42 up=\([0-9]*\).*/\1/p" "$c.log" | tr -d '\r')
			b=$(sed -n "s/^complaints $c=[0-9]* tsc=[0-9]* up=\([0-9]*\).*/\1/p" "$c.log" | tr -d '\r')
			[ -n "$a" ] && [ -n "$b" ] && [ $((b - a)) -ge 15 ] ||
				why="${why}$c's uptime went from ${a}s to ${b}s over L1's 20 s; "
		done
		for c in "$name-1" "$name-2" "$name-3"; do
			l2_end "$c"
			[ "$L2_RC" = 0 ] || why="${why}$c ended with status $L2_RC; "
			# Its write is in its own copy, on the image's first sector.
			[ "$(head -c ${#c} "$c.img")" = "$c" ] || why="${why}$c.img does not start with $c; "
			ns_del "snap-$c"
		done
		[ "$(head -c 6 "snap-$name.img")" = before ] ||
			why="${why}the snapshot's own image changed after the snapshot; "
		ns_del "snap-$name-0"
		if [ -z "$why" ]; then
			pass "snapshot-$name-clones-clean"
		else
			fail "snapshot-$name-clones-clean" "$why"
			show "$name-1.log" 30
		fi
	fi
}

snapshot_test lab "$L2_BZIMAGE" "$L2_INITRD" 256M no
snapshot_test debian "$DEBIAN_VMLINUZ" "$DEBIAN_INITRD" 512M yes
