# shellcheck shell=sh
# The guest ends kvmrun with status 0 by reboot -f, poweroff -f, or a panic
# with panic=-1; SIGTERM to kvmrun shuts the guest down through Ctrl-Alt-Del.
for how in reboot poweroff; do
	need_kvmrun "$how" || continue
	l2_run "$how.log" --kernel "$L2_BZIMAGE" --initrd "$L2_INITRD" --cmdline "lab.run=$how"
	expect_clean "$how" "$how.log" "^L2: $how -f"
done

if need_kvmrun panic; then
	l2_run panic.log --kernel "$L2_BZIMAGE" --initrd "$L2_INITRD" --cmdline "lab.run=panic panic=-1"
	expect_clean panic panic.log 'Kernel panic'
fi

if need_kvmrun sigterm; then
	"$KVMRUN" --kernel "$L2_BZIMAGE" --initrd "$L2_INITRD" --cmdline "lab.run=wait" \
		</dev/null >term.log 2>&1 &
	pid=$!
	why=
	if wait_for term.log '^L2: waiting' 90; then
		kill -TERM "$pid"
		t0=$(now)
		n=0
		while kill -0 "$pid" 2>/dev/null && [ $n -lt 300 ]; do
			sleep 0.2
			n=$((n + 1))
		done
		if kill -0 "$pid" 2>/dev/null; then
			why="kvmrun still running 60s after SIGTERM"
		else
			wait "$pid"
			rc=$?
			echo "LAB: kvmrun ended $(elapsed "$t0")s after SIGTERM with status $rc"
			if ! has term.log '^L2: ctrl-alt-del'; then
				why="the guest saw no Ctrl-Alt-Del"
				# The usual cause: the guest found no working i8042.
				has term.log 'i8042.*(failed|No controller)' &&
					why="$why ($(grep -E -m1 'i8042.*(failed|No controller)' term.log | tr -d '\r'))"
			elif ! has term.log '^L2: shutting down'; then
				why="the guest did not shut down through init"
			elif [ "$rc" != 0 ]; then
				why="kvmrun ended with status $rc"
			fi
		fi
	else
		why="the guest did not reach its wait state"
	fi
	kill -KILL "$pid" 2>/dev/null
	cp term.log "$LAB_OUT/"
	if [ -z "$why" ]; then
		pass sigterm
	else
		fail sigterm "$why"
		show term.log
	fi
fi
