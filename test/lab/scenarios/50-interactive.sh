# shellcheck shell=sh
# An interactive session: type into the L2 shell through kvmrun's console
# (its stdin is a fifo here) and read the answers from its output.
if need_kvmrun interactive; then
	# A kvmrun that died must not take this script down with SIGPIPE.
	trap "" PIPE
	mkfifo in
	(
		timeout -s KILL "$L2_TIMEOUT" "$KVMRUN" --kernel "$L2_BZIMAGE" --initrd "$L2_INITRD" \
			--cmdline "lab.run=shell" <in >sh.log 2>&1
		echo $? >rc
	) &
	exec 3>in
	why=
	if ! wait_for sh.log '^L2: shell ready' 90; then
		why="no shell prompt within 90s"
	else
		sleep 1
		echo 'echo "sum=$((6 * 7))"' >&3
		wait_for sh.log '^sum=42' 30 || why="no answer to an arithmetic echo"
	fi
	if [ -z "$why" ]; then
		echo 'echo "cpus=$(nproc) $(cat /proc/sys/kernel/ostype)"' >&3
		wait_for sh.log '^cpus=[0-9]+ Linux' 30 || why="no answer to a second command"
	fi
	echo 'reboot -f' >&3
	wait_for rc . 60 || why="${why:-kvmrun did not end after 'reboot -f'}"
	exec 3>&-
	wait
	cp sh.log "$LAB_OUT/"
	if [ -z "$why" ] && [ "$(cat rc)" != 0 ]; then
		why="kvmrun ended with status $(cat rc)"
	fi
	if [ -z "$why" ]; then
		pass interactive
	else
		fail interactive "$why"
		show sh.log
	fi
fi
