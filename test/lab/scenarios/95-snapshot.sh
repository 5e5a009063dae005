# shellcheck shell=sh
# Snapshot and restore a Linux guest: boot the lab kernel to its shell,
# snapshot it on SIGUSR2 (kvmrun exits 0), then restore three clones at
# once. Each answers a command on its console with an uptime that goes on
# from the snapshot's (not from 0); 20 s later its clock has gone on with
# L1's (a restored TSC-deadline of 0 once left Linux asleep, its clock
# standing still) and its kernel log has no soft lockup, RCU stall or TSC
# marked unstable. Also reports how long a clone took to answer against the
# cold boot to its shell.
if need_kvmrun snapshot-take; then
	t0=$(now)
	"$KVMRUN" --kernel "$L2_BZIMAGE" --initrd "$L2_INITRD" --memory 256M \
		--cmdline "lab.run=shell" --snapshot-dir snap </dev/null >snap.log 2>&1 &
	pid=$!
	why=
	if ! wait_for snap.log '^L2: shell ready' 90; then
		why="no shell prompt within 90s"
		kill -KILL "$pid" 2>/dev/null
	fi
	cold=$(elapsed "$t0")
	sleep 1
	[ -z "$why" ] && kill -USR2 "$pid"
	wait "$pid"
	rc=$?
	[ -z "$why" ] && [ "$rc" != 0 ] && why="the snapshot run ended with status $rc"
	[ -z "$why" ] && [ ! -s snap/state ] && why="no state file written"
	cp snap.log "$LAB_OUT/"
	if [ -n "$why" ]; then
		fail snapshot-take "$why"
		show snap.log
	else
		pass snapshot-take
		echo "LAB: cold boot to the shell: ${cold}s; memory file $(du -k snap/memory | cut -f1) KiB allocated"
	fi
fi

if [ -s snap/state ] && need_kvmrun snapshot-clones; then
	up0=$(sed -n 's/^\[ *\([0-9]*\)\..*/\1/p' snap.log | tail -1)
	t0=$(now)
	for c in c1 c2 c3; do
		l2_bg "$c" 120 "$KVMRUN" --restore snap
	done
	why=
	for c in c1 c2 c3; do
		l2_type "$c" "echo \"an\"\"swer $c=\$((6 * 7)) up=\$(cut -d. -f1 /proc/uptime)\""
	done
	for c in c1 c2 c3; do
		wait_for "$c.log" "^answer $c=42 " 60 || why="${why}$c did not answer; "
	done
	answer=$(elapsed "$t0")
	for c in c1 c2 c3; do
		up=$(sed -n "s/^answer $c=42 up=\([0-9]*\).*/\1/p" "$c.log" | tr -d '\r')
		[ -n "$up" ] && [ "$up" -ge "${up0:-0}" ] ||
			why="${why}$c's uptime $up is less than the snapshot's ${up0}s; "
	done
	if [ -z "$why" ]; then
		pass snapshot-clones
		echo "LAB: three clones answered ${answer}s after their launch (cold boot to the shell: ${cold:-?}s)"
	else
		fail snapshot-clones "$why"
		show c1.log 15
	fi
	sleep 20
	for c in c1 c2 c3; do
		l2_type "$c" "echo \"com\"\"plaints $c=\$(dmesg | grep -ci -e 'soft lockup' -e 'rcu.*stall' -e 'unstable') up=\$(cut -d. -f1 /proc/uptime)\""
	done
	why=
	for c in c1 c2 c3; do
		wait_for "$c.log" "^complaints $c=" 30 || why="${why}$c did not answer after 20 s; "
		n=$(sed -n "s/^complaints $c=\([0-9]*\).*/\1/p" "$c.log" | tr -d '\r')
		[ "$n" = 0 ] || why="${why}$c's kernel log has $n lines of soft lockups, RCU stalls or unstable clocks; "
		a=$(sed -n "s/^answer $c=42 up=\([0-9]*\).*/\1/p" "$c.log" | tr -d '\r')
		b=$(sed -n "s/^complaints $c=[0-9]* up=\([0-9]*\).*/\1/p" "$c.log" | tr -d '\r')
		[ -n "$a" ] && [ -n "$b" ] && [ $((b - a)) -ge 15 ] ||
			why="${why}$c's uptime went from ${a}s to ${b}s over L1's 20 s; "
	done
	for c in c1 c2 c3; do
		l2_end "$c"
		[ "$L2_RC" = 0 ] || why="${why}$c ended with status $L2_RC; "
	done
	if [ -z "$why" ]; then
		pass snapshot-clones-clean
	else
		fail snapshot-clones-clean "$why"
		show c1.log 30
	fi
fi
