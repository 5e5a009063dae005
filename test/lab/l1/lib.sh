# shellcheck shell=sh disable=SC2034 # the variables are for the scenarios
# Helpers for lab scenarios; they run inside L1 under busybox sh, sourced by
# /init in a subshell with SCENARIO, LAB_TMP (a scratch folder, the cwd) and
# LAB_OUT (files here come back to the host) set.
KVMRUN=/lab/kvmrun
L2_BZIMAGE=/lab/l2/bzImage
L2_VMLINUX=/lab/l2/vmlinux
L2_INITRD=/lab/l2/initramfs.cpio.lz4
DEBIAN_VMLINUZ=/lab/debian/vmlinuz
DEBIAN_INITRD=/lab/debian/initramfs.cpio.lz4
# Seconds an L2 run may take before the lab calls it hung and kills it.
L2_TIMEOUT=${L2_TIMEOUT:-120}

# One result line per check; the host turns them into PASS/FAIL lines.
pass() { echo "LAB-RESULT: PASS $1"; }
fail() { echo "LAB-RESULT: FAIL $1: $2"; }
skip() { echo "LAB-RESULT: SKIP $1: $2"; }

# need_kvmrun CHECK: fail CHECK unless kvmrun and /dev/kvm are there.
need_kvmrun() {
	[ -c /dev/kvm ] || { fail "$1" "no /dev/kvm in L1"; return 1; }
	[ -x "$KVMRUN" ] || { fail "$1" "kvmrun was not built (no KVMRUN binary on the host)"; return 1; }
}

# now: seconds since L1 booted, with hundredths.
now() { cut -d' ' -f1 /proc/uptime; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

# l2_run LOG ARGS...: run kvmrun ARGS with its console in LOG and no input,
# killing it after L2_TIMEOUT seconds. Sets L2_RC (137: killed by the
# timeout) and L2_SECS; the log and the status go to LAB_OUT as well.
l2_run() {
	_log=$1
	shift
	_t0=$(now)
	echo "+ kvmrun $*" >"$_log.cmd"
	# kvmrun says why it stopped only in its metrics when the status is 0;
	# a failed check shows it (see show).
	_m=
	case " $* " in *" --metrics "*) ;; *) _m="--metrics $_log.metrics" ;; esac
	rm -f "$_log.metrics"
	# shellcheck disable=SC2086 # $_m is empty or two words
	timeout -s KILL "$L2_TIMEOUT" "$KVMRUN" $_m "$@" </dev/null >"$_log" 2>&1
	L2_RC=$?
	L2_SECS=$(elapsed "$_t0")
	echo "LAB: kvmrun $* -> status $L2_RC in ${L2_SECS}s"
	cp "$_log" "$LAB_OUT/" 2>/dev/null
}

# has LOG PATTERN: the log holds a complete line (one that ends in a
# newline) matching the extended regex. A line the guest is still writing
# does not count yet: wait_for saw '^RX: ping' when only half of that line
# was on the slow console, and the check after it failed.
has() {
	_nl='
'
	_h=$(cat "$1" 2>/dev/null; echo x)
	_h=${_h%x}
	case $_h in
	*"$_nl") ;;
	*) _h=${_h%"${_h##*"$_nl"}"} ;; # drop the unfinished last line
	esac
	printf '%s' "$_h" | grep -Eq "$2"
}

# show LOG: print the last lines of an L2 log on the console for a failure.
show() {
	echo "LAB: last lines of $1:"
	tail -n "${2:-25}" "$1" | sed 's/^/  | /'
	[ -f "$1.metrics" ] && echo "LAB: kvmrun's exit: $(grep -o '"status":[0-9]*,"reason":"[^"]*"' "$1.metrics" | tail -1)"
	return 0
}

# expect_clean CHECK LOG MARKER: the common verdict of a run that should
# reach MARKER and end kvmrun with status 0. Returns 0 when it passed.
expect_clean() {
	if [ "$L2_RC" = 137 ]; then
		fail "$1" "kvmrun did not end within ${L2_TIMEOUT}s"
	elif ! has "$2" "$3"; then
		fail "$1" "no '$3' on the L2 console (kvmrun status $L2_RC)"
	elif [ "$L2_RC" != 0 ]; then
		fail "$1" "kvmrun ended with status $L2_RC"
	else
		pass "$1"
		return 0
	fi
	show "$2"
	return 1
}

# lab_disk ID: the /dev node of the virtio disk the host attached with
# serial ID (run.sh's lab_drive), or nothing.
lab_disk() {
	for _b in /sys/block/vd*; do
		[ -f "$_b/serial" ] && [ "$(cat "$_b/serial")" = "$1" ] && echo "/dev/${_b##*/}" && return 0
	done
	return 1
}

# wait_for LOG PATTERN SECONDS: wait until LOG has a line matching PATTERN.
wait_for() {
	_n=$(($3 * 5))
	while [ "$_n" -gt 0 ]; do
		has "$1" "$2" && return 0
		sleep 0.2
		_n=$((_n - 1))
	done
	return 1
}

# wait_long LOG PATTERN SECONDS: wait_for in 30 s steps, saying after each
# what the guest last printed (L1's console must not stay silent for the
# host's idle limit); gives up early once the kvmrun writing LOG has ended
# (l2_bg's NAME.rc beside NAME.log).
wait_long() {
	_left=$3
	while [ "$_left" -gt 0 ]; do
		_step=30
		[ "$_left" -lt 30 ] && _step=$_left
		wait_for "$1" "$2" "$_step" && return 0
		if [ -f "${1%.log}.rc" ]; then
			has "$1" "$2"
			return
		fi
		_left=$((_left - _step))
		[ "$_left" -gt 0 ] && echo "LAB: waiting for '$2' in $1 (${_left}s left); it last" \
			"printed: $(tr -d '\r' <"$1" 2>/dev/null | grep -a . | tail -1 | cut -c1-100)"
	done
	return 1
}

# fetch_retry OUT SECS CMD ARGS...: CMD (a client writing what it gets to
# stdout) into OUT, killed after SECS; again, a second apart and up to 10
# times, while OUT stays empty (the guest's server may not listen yet).
# Sets FETCH_RC (CMD's status) and FETCH_SECS (the last try's time).
fetch_retry() {
	_out=$1 _secs=$2 _n=0
	shift 2
	while :; do
		_t0=$(now)
		timeout -s KILL "$_secs" "$@" </dev/null >"$_out" 2>"$_out.err"
		FETCH_RC=$?
		FETCH_SECS=$(elapsed "$_t0")
		[ -s "$_out" ] || [ $_n -ge 10 ] && break
		_n=$((_n + 1))
		sleep 1
	done
}

# l2_bg NAME SECS CMD ARGS...: start CMD (kvmrun, or a launcher that execs
# it) in the background, killed after SECS, with its console in NAME.log and
# its input from the fifo NAME.in (held open, so it never sees EOF); NAME.rc
# gets its exit status. Type into the guest with l2_type, end with l2_end.
l2_bg() {
	_n=$1 _s=$2
	shift 2
	rm -f "$_n.in" "$_n.rc"
	mkfifo "$_n.in"
	sleep 100000 <>"$_n.in" &
	echo $! >"$_n.hold"
	echo "+ $*" >"$_n.log.cmd"
	(
		timeout -s KILL "$_s" "$@" <"$_n.in" >"$_n.log" 2>&1 &
		echo $! >"$_n.pid"
		wait $!
		echo $? >"$_n.rc"
	) &
}

# l2_type NAME LINE: type LINE (and Enter) into the guest's console.
l2_type() { echo "$2" >"$1.in"; }

# l2_end NAME: `reboot -f` into the guest's shell; wait up to 60 s for
# kvmrun to end (then kill it). Sets L2_RC (137: killed) and copies the log
# to LAB_OUT.
l2_end() {
	[ -f "$1.rc" ] || l2_type "$1" "reboot -f"
	wait_for "$1.rc" . 60 || kill -KILL "$(cat "$1.pid")" 2>/dev/null
	wait_for "$1.rc" . 10
	L2_RC=$(cat "$1.rc" 2>/dev/null)
	kill "$(cat "$1.hold")" 2>/dev/null
	echo "LAB: $(cat "$1.log.cmd") -> status $L2_RC"
	cp "$1.log" "$LAB_OUT/" 2>/dev/null
}
