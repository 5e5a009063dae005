# shellcheck shell=sh
# Snapshot and restore a Linux guest, the lab's kernel and Debian's stock
# one (with ACPI): boot it to its shell, snapshot it on SIGUSR2 (kvmrun
# exits 0), then restore three clones at once. Each answers a command on its console with an uptime that goes on
# from the snapshot's (not from 0); 20 s later its clock has gone on with
# L1's (a restored TSC-deadline of 0 once left Linux asleep, its clock
# standing still) and its kernel log has no soft lockup or RCU stall. A TSC
# marked unstable is reported, not failed: a restore can still leave the TSC
# and kvmclock ~2 ms apart (issue 17, not understood yet); Linux then keeps
# kvm-clock alone and runs on. Also reports how long a clone took to answer
# against the cold boot to its shell.
snapshot_test() {
	name=$1 kernel=$2 initrd=$3 mem=$4
	if need_kvmrun "snapshot-$name-take"; then
		t0=$(now)
		"$KVMRUN" --kernel "$kernel" --initrd "$initrd" --memory "$mem" \
			--cmdline "lab.run=shell" --snapshot-dir "snap-$name" </dev/null >"snap-$name.log" 2>&1 &
		pid=$!
		why=
		if ! wait_for "snap-$name.log" '^L2: shell ready' 90; then
			why="no shell prompt within 90s"
			kill -KILL "$pid" 2>/dev/null
		fi
		cold=$(elapsed "$t0")
		sleep 1
		[ -z "$why" ] && kill -USR2 "$pid"
		wait "$pid"
		rc=$?
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
		for c in "$name-1" "$name-2" "$name-3"; do
			l2_bg "$c" 120 "$KVMRUN" --restore "snap-$name"
		done
		why=
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
		sleep 20
		for c in "$name-1" "$name-2" "$name-3"; do
			l2_type "$c" "echo \"com\"\"plaints $c=\$(dmesg | grep -ci -e 'soft lockup' -e 'rcu.*stall') tsc=\$(dmesg | grep -c 'Marking TSC unstable') up=\$(cut -d. -f1 /proc/uptime)\""
		done
		why=
		for c in "$name-1" "$name-2" "$name-3"; do
			wait_for "$c.log" "^complaints $c=" 30 || why="${why}$c did not answer after 20 s; "
			n=$(sed -n "s/^complaints $c=\([0-9]*\).*/\1/p" "$c.log" | tr -d '\r')
			[ "$n" = 0 ] || why="${why}$c's kernel log has $n lines of soft lockups or RCU stalls; "
			tsc=$(sed -n "s/^complaints $c=[0-9]* tsc=\([0-9]*\).*/\1/p" "$c.log" | tr -d '\r')
			[ "${tsc:-0}" = 0 ] || echo "LAB: $c: the guest marked its TSC unstable after the restore (known, issue 17)"
			a=$(sed -n "s/^answer $c=42 up=\([0-9]*\).*/\1/p" "$c.log" | tr -d '\r')
			b=$(sed -n "s/^complaints $c=[0-9]* tsc=[0-9]* up=\([0-9]*\).*/\1/p" "$c.log" | tr -d '\r')
			[ -n "$a" ] && [ -n "$b" ] && [ $((b - a)) -ge 15 ] ||
				why="${why}$c's uptime went from ${a}s to ${b}s over L1's 20 s; "
		done
		for c in "$name-1" "$name-2" "$name-3"; do
			l2_end "$c"
			[ "$L2_RC" = 0 ] || why="${why}$c ended with status $L2_RC; "
		done
		if [ -z "$why" ]; then
			pass "snapshot-$name-clones-clean"
		else
			fail "snapshot-$name-clones-clean" "$why"
			show "$name-1.log" 30
		fi
	fi
}

snapshot_test lab "$L2_BZIMAGE" "$L2_INITRD" 256M
snapshot_test debian "$DEBIAN_VMLINUZ" "$DEBIAN_INITRD" 512M
