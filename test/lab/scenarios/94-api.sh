# shellcheck shell=sh
# Firecracker's HTTP API (kvmrun --api-sock) driven the way its clients do,
# with the lab's Linux guest, raw disk images and a tap (api0, 10.0.5.1/24 in
# L1, the guest 10.0.5.2/24); busybox has no Unix socket client, so
# requests go through `nettool http`.
#   getting-started  Firecracker's guide: PUT machine-config, boot-source,
#                    drives/rootfs (is_root_device), network-interfaces/eth0,
#                    actions InstanceStart (204); the guest reaches its shell,
#                    reads what L1 wrote on the disk and writes it (read back
#                    in L1 afterwards), pings L1 through the tap; GET / says
#                    Running, GET /machine-config what was PUT
#   go-sdk           firecracker-go-sdk's order: wait for the socket, poll GET
#                    /machine-config, PUT logger, metrics, machine-config,
#                    boot-source, drives, network-interfaces, InstanceStart;
#                    SendCtrlAltDel: the guest reboots through its init,
#                    kvmrun exits 0 within 60 s, the socket file is gone, the
#                    log and metrics files named by the PUTs were written
#   kata             --api-sock with --config-file, poll GET / until Running;
#                    PATCH /drives/data with a rate_limiter (204, and the
#                    guest's O_DIRECT reads slow down to it); PATCH /drives/
#                    placeholder path_on_host (Kata's placeholder drive: the
#                    guest sees the new size and the new image's bytes);
#                    PATCH /vm Paused
#                    (the guest's console stops, GET / says Paused) and
#                    Resumed (it goes on and answers a command)
API_IMG_MB=8

# api SOCK METHOD PATH [BODY]: one request; sets API_CODE (empty: no
# answer) and API_BODY, and prints one line unless API_QUIET is set.
api() {
	_s=$1 _m=$2 _p=$3
	shift 3
	API_OUT=$(timeout -s KILL 75 /lab/nettool http "$_s" "$_m" "$_p" "$@" 2>&1)
	API_CODE=$(echo "$API_OUT" | sed -n '1s/^HTTP \([0-9][0-9]*\)$/\1/p')
	if [ -n "$API_CODE" ]; then
		API_BODY=$(echo "$API_OUT" | sed 1d)
	else
		API_BODY=$API_OUT
	fi
	[ -n "${API_QUIET:-}" ] || echo "LAB: api: $_m $_p -> ${API_CODE:-no answer} $API_BODY"
}

# call CODE SOCK METHOD PATH [BODY]: api, and when the answer is not CODE,
# add why to $why. Returns 0 when it was CODE.
call() {
	_want=$1
	shift
	api "$@"
	[ "$API_CODE" = "$_want" ] && return 0
	why="${why}$2 $3 answered '${API_CODE:-nothing}' (wanted $_want): $API_BODY"
	_name=${1%.sock}
	sleep 0.5
	_e=$(ended "$_name") && why="$why; $_e"
	why="$why; "
	return 1
}

# wait_sock SOCK SECS: the socket file exists and GET /machine-config
# answers 200 (firecracker-go-sdk's waitForSocket).
wait_sock() {
	_n=$(($2 * 5))
	while [ "$_n" -gt 0 ]; do
		if [ -S "$1" ]; then
			API_QUIET=1 api "$1" GET /machine-config
			[ "$API_CODE" = 200 ] && return 0
		fi
		sleep 0.2
		_n=$((_n - 1))
	done
	return 1
}

# wait_gone FILE SECS: FILE no longer exists.
wait_gone() {
	_n=$(($2 * 5))
	while [ -e "$1" ] && [ "$_n" -gt 0 ]; do
		sleep 0.2
		_n=$((_n - 1))
	done
	[ ! -e "$1" ]
}

# wait_end NAME SECS: the l2_bg run NAME ended within SECS (else it is
# killed); sets L2_RC and copies its log to LAB_OUT.
wait_end() {
	wait_for "$1.rc" . "$2" || kill -KILL "$(cat "$1.pid")" 2>/dev/null
	wait_for "$1.rc" . 10
	L2_RC=$(cat "$1.rc" 2>/dev/null)
	kill "$(cat "$1.hold")" 2>/dev/null
	echo "LAB: $(cat "$1.log.cmd") -> status $L2_RC"
	cp "$1.log" "$LAB_OUT/" 2>/dev/null
}

# ended NAME: when the l2_bg run NAME has ended, why (for a failure line).
ended() {
	[ -f "$1.rc" ] || return 1
	_rc=$(cat "$1.rc")
	printf 'kvmrun ended with status %s' "$_rc"
	[ "$_rc" = 159 ] && printf ' (SIGSYS: its seccomp filter killed it)'
	return 0
}

# show_log LOG: show, and a line break after a log that ends mid-line
# (the guest's prompt), so that the next LAB line starts a line of its own.
show_log() {
	show "$@"
	[ -z "$(tail -c 1 "$1")" ] || echo
}

# boot_args RUN: Firecracker's getting-started boot_args and the lab's.
boot_args() { echo "console=ttyS0 reboot=k panic=1 pci=off lab.ip=10.0.5.2/24 lab.run=$1"; }

# preboot SOCK NAME RUN MAC: the pre-boot PUTs of a guest with NAME.img as
# its root drive and api0 as eth0, then InstanceStart (204).
preboot() {
	call 204 "$1" PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 256}' &&
		call 204 "$1" PUT /boot-source "{\"kernel_image_path\": \"$L2_BZIMAGE\", \"initrd_path\": \"$L2_INITRD\", \"boot_args\": \"$(boot_args "$3")\"}" &&
		call 204 "$1" PUT /drives/rootfs "{\"drive_id\": \"rootfs\", \"path_on_host\": \"$LAB_TMP/$2.img\", \"is_root_device\": true, \"is_read_only\": false}" &&
		call 204 "$1" PUT /network-interfaces/eth0 "{\"iface_id\": \"eth0\", \"guest_mac\": \"$4\", \"host_dev_name\": \"api0\"}" &&
		call 204 "$1" PUT /actions '{"action_type": "InstanceStart"}'
}

# end_clean CHECK NAME: reboot -f in the guest's shell; kvmrun must end
# with 0 and its socket file be gone.
end_clean() {
	l2_end "$2"
	if [ "$L2_RC" != 0 ]; then
		_left=
		wait_gone "$2.sock" 5 || _left="; its socket $2.sock is left behind"
		fail "$1" "kvmrun ended with status $L2_RC (wanted 0, from the guest's reboot -f)$_left"
		show_log "$2.log"
	elif ! wait_gone "$2.sock" 5; then
		fail "$1" "the socket $2.sock is still there 5 s after kvmrun ended"
	else
		pass "$1"
	fi
}

if need_kvmrun api-getting-started; then
	tunctl -t api0 >/dev/null
	ip addr add 10.0.5.1/24 dev api0
	ip link set api0 up

	# 1. Firecracker's getting-started sequence.
	truncate -s ${API_IMG_MB}M gs.img
	echo seed-from-l1 | dd of=gs.img bs=4096 seek=1 conv=notrunc 2>/dev/null
	rm -f gs.sock
	l2_bg gs 300 "$KVMRUN" --api-sock "$LAB_TMP/gs.sock" --id api-gs
	why=
	t0=$(now)
	if ! wait_sock gs.sock 10; then
		why="no API socket answering within 10 s"
	elif preboot gs.sock gs net,shell 52:54:00:ab:05:02; then
		echo "LAB: api: InstanceStart answered $(elapsed "$t0")s after kvmrun started"
		if ! wait_for gs.log '^L2: init started' 90; then
			why="the guest did not reach its init within 90 s"
		elif ! wait_for gs.log '^L2: shell ready' 60; then
			why="the guest's shell did not come up"
		elif ! has gs.log '^L2 net eth0 mac=52:54:00:ab:05:02 '; then
			why="the guest's eth0 is not there with the MAC given: $(grep -a '^L2 net' gs.log | tr -d '\r')"
		fi
	fi
	if [ -z "$why" ]; then
		pass api-getting-started
	else
		fail api-getting-started "$why"
		show_log gs.log
	fi
	if has gs.log '^L2: shell ready'; then
		# The disk: what L1 put at 4 KiB, then a write at 0 read back; the tap: ping L1.
		# shellcheck disable=SC2016 # expanded by the guest's shell
		l2_type gs 'r=$(dd if=/dev/vda bs=4096 skip=1 count=1 2>/dev/null | head -n1); echo written-by-l2 | dd of=/dev/vda bs=512 conv=sync,fsync 2>/dev/null; w=$(dd if=/dev/vda bs=512 count=1 iflag=direct 2>/dev/null | head -n1); grep -o "root=[^ ]* r[ow]" /proc/cmdline | sed "s/^/RO""OT /"; ping -c 1 -w 10 10.0.5.1 >/dev/null; echo "DI""SK read=$r wrote=$w ping=$?"'
		why=
		if ! wait_for gs.log '^DISK ' 60; then
			why="the guest did not answer on its console"
		else
			has gs.log '^DISK read=seed-from-l1 ' || why="${why}the guest read '$(sed -n 's/^DISK read=\([^ ]*\).*/\1/p' gs.log | tr -d '\r')' at 4 KiB, not L1's seed-from-l1; "
			has gs.log '^DISK .* wrote=written-by-l2 ' || why="${why}the guest did not read back its write; "
			has gs.log '^DISK .* ping=0' || why="${why}the guest could not ping L1 through the tap; "
			has gs.log '^ROOT root=/dev/vda rw' || why="${why}no root=/dev/vda rw on the guest's command line (is_root_device); "
		fi
		api gs.sock GET /
		case $API_BODY in
		*'"id":"api-gs"'*'"state":"Running"'*) ;;
		*) why="${why}GET / answered ${API_CODE:-nothing}: $API_BODY; " ;;
		esac
		api gs.sock GET /machine-config
		case $API_BODY in
		*'"vcpu_count":1'*'"mem_size_mib":256'*) ;;
		*) why="${why}GET /machine-config answered ${API_CODE:-nothing}: $API_BODY; " ;;
		esac
		if [ -z "$why" ]; then
			pass api-getting-started-guest
		else
			fail api-getting-started-guest "$why"
			show_log gs.log
		fi
	else
		fail api-getting-started-guest "no guest shell to run the checks in"
	fi
	end_clean api-getting-started-end gs
	got=$(dd if=gs.img bs=512 count=1 2>/dev/null | head -n1)
	if [ "$got" = written-by-l2 ]; then
		pass api-getting-started-disk
	else
		fail api-getting-started-disk "L1 reads '$got' at the image's start after the guest ended, not written-by-l2"
	fi
	rm -f gs.img
fi

# 2. firecracker-go-sdk's order, then SendCtrlAltDel.
if need_kvmrun api-go-sdk; then
	truncate -s ${API_IMG_MB}M sdk.img
	rm -f sdk.sock
	: >sdk.fclog
	: >sdk.fcmetrics
	l2_bg sdk 300 "$KVMRUN" --api-sock "$LAB_TMP/sdk.sock" --id api-sdk
	why=
	if ! wait_sock sdk.sock 10; then
		why="GET /machine-config on the socket did not answer 200 within 10 s ($API_OUT)"
	else
		echo "LAB: api: GET /machine-config -> $API_CODE $API_BODY"
		call 204 sdk.sock PUT /logger "{\"log_path\": \"$LAB_TMP/sdk.fclog\", \"level\": \"Debug\", \"show_level\": true, \"show_log_origin\": false}" &&
			call 204 sdk.sock PUT /metrics "{\"metrics_path\": \"$LAB_TMP/sdk.fcmetrics\"}" &&
			preboot sdk.sock sdk net,wait 52:54:00:ab:05:03
	fi
	if [ -z "$why" ] && ! wait_for sdk.log '^L2: waiting' 120; then
		why="the guest did not reach its init's wait state within 120 s"
	fi
	if [ -z "$why" ]; then
		pass api-go-sdk
	else
		fail api-go-sdk "$why"
		show_log sdk.log
	fi
	if [ -z "$why" ]; then
		sleep 1
		t0=$(now)
		call 204 sdk.sock PUT /actions '{"action_type": "SendCtrlAltDel"}'
		wait_end sdk 60
		echo "LAB: api: kvmrun ended $(elapsed "$t0")s after SendCtrlAltDel"
		if [ -n "$why" ]; then
			:
		elif [ "$L2_RC" = 137 ] || [ -z "$L2_RC" ]; then
			why="kvmrun did not end within 60 s of SendCtrlAltDel"
		elif ! has sdk.log '^L2: ctrl-alt-del'; then
			why="the guest saw no Ctrl-Alt-Del"
		elif ! has sdk.log '^L2: shutting down'; then
			why="the guest did not shut down through its init"
		elif [ "$L2_RC" != 0 ]; then
			why="kvmrun ended with status $L2_RC"
		elif ! wait_gone sdk.sock 5; then
			why="the socket sdk.sock is still there 5 s after kvmrun ended"
		fi
		if [ -z "$why" ]; then
			pass api-go-sdk-ctrl-alt-del
		else
			fail api-go-sdk-ctrl-alt-del "$why"
			show_log sdk.log
		fi
		# What PUT /logger and /metrics named was written.
		why=
		grep -q 'guest running' sdk.fclog || why="${why}the log file (PUT /logger) has no 'guest running' line; "
		grep -q '"event":"exit","status":0' sdk.fcmetrics || why="${why}the metrics file (PUT /metrics) has no exit line with status 0; "
		cp sdk.fclog sdk.fcmetrics "$LAB_OUT/" 2>/dev/null
		if [ -z "$why" ]; then
			pass api-go-sdk-logger-metrics
		else
			fail api-go-sdk-logger-metrics "$why"
			echo "LAB: sdk.fclog: $(wc -c <sdk.fclog) bytes; sdk.fcmetrics: $(wc -c <sdk.fcmetrics) bytes"
		fi
	else
		wait_end sdk 1
	fi
	rm -f sdk.img
fi

# 3. Kata's order: a --config-file and the socket; PATCHes on a running guest.
if need_kvmrun api-kata; then
	truncate -s ${API_IMG_MB}M kata.img
	truncate -s ${API_IMG_MB}M kata-data.img
	# Kata's placeholder drive: a 1 MiB stand-in, later swapped for an 8 MiB image
	# with a marker 4 MiB in.
	truncate -s 1M kata-ph.img
	rm -f kata-new.img
	truncate -s 8M kata-new.img
	printf 'KATA-SWAPPED-42' | dd of=kata-new.img bs=512 seek=8192 conv=notrunc 2>/dev/null
	rm -f kata.sock
	cat >kata.json <<EOF
{
  "boot-source": {
    "kernel_image_path": "$L2_BZIMAGE",
    "initrd_path": "$L2_INITRD",
    "boot_args": "$(boot_args net,shell)"
  },
  "drives": [
    { "drive_id": "rootfs", "path_on_host": "$LAB_TMP/kata.img", "is_root_device": true, "is_read_only": false },
    { "drive_id": "data", "path_on_host": "$LAB_TMP/kata-data.img", "is_root_device": false, "is_read_only": false, "rate_limiter": {} },
    { "drive_id": "placeholder", "path_on_host": "$LAB_TMP/kata-ph.img", "is_root_device": false, "is_read_only": false }
  ],
  "network-interfaces": [
    { "iface_id": "eth0", "guest_mac": "52:54:00:ab:05:04", "host_dev_name": "api0" }
  ],
  "machine-config": { "vcpu_count": 1, "mem_size_mib": 256 }
}
EOF
	cp kata.json "$LAB_OUT/"
	l2_bg kata 300 "$KVMRUN" --api-sock "$LAB_TMP/kata.sock" --config-file kata.json --id api-kata
	why=
	t0=$(now)
	state=
	n=0
	while [ $n -lt 600 ]; do
		if [ -S kata.sock ]; then
			API_QUIET=1 api kata.sock GET /
			case $API_BODY in *'"state":"Running"'*) state=Running && break ;; esac
		fi
		[ -f kata.rc ] && break
		sleep 0.2
		n=$((n + 1))
	done
	if [ "$state" != Running ]; then
		why="GET / did not say Running within 120 s (last: ${API_CODE:-no answer} $API_BODY)"
	else
		echo "LAB: api: GET / said Running $(elapsed "$t0")s after kvmrun started: $API_BODY"
		if ! wait_for kata.log '^L2: shell ready' 120; then
			why="the guest's shell did not come up"
		fi
	fi
	if [ -z "$why" ]; then
		pass api-kata
	else
		fail api-kata "$why"
		show_log kata.log
	fi
	if [ -z "$why" ]; then
		# read_data TAG: the guest reads 3 MiB of its data disk with O_DIRECT;
		# the guest's seconds in DATA_SECS.
		read_data() {
			l2_type kata "a=\$(cut -d' ' -f1 /proc/uptime); dd if=/dev/vdb of=/dev/null bs=64k count=48 iflag=direct 2>/dev/null; echo \"$1\" \$a \$(cut -d' ' -f1 /proc/uptime)"
			wait_for kata.log "^$1 " 60
			DATA_SECS=$(sed -n "s/^$1 \([0-9.]*\) \([0-9.]*\).*/\1 \2/p" kata.log | tr -d '\r' | tail -1 |
				awk '{ printf "%.2f", $2 - $1 }')
		}
		read_data FREE
		free=$DATA_SECS
		# 1 MiB/s after a full bucket of 1 MiB: 3 MiB take 2 s.
		if call 204 kata.sock PATCH /drives/data '{"drive_id": "data", "rate_limiter": {"bandwidth": {"size": 1048576, "refill_time": 1000}}}'; then
			read_data LIMITED
			limited=$DATA_SECS
			echo "LAB: api: the guest read 3 MiB of its data disk in ${free:-?}s before the PATCH, ${limited:-?}s after it (1 MiB/s, 1 MiB bucket)"
			if ! awk -v s="${limited:-0}" 'BEGIN { exit !(s >= 1.8) }'; then
				why="the guest read 3 MiB in ${limited:-?}s after the PATCH; at 1 MiB/s it takes 2 s"
			fi
		fi
		if [ -z "$why" ]; then
			pass api-kata-patch-drive
		else
			fail api-kata-patch-drive "$why"
		fi

		# The placeholder drive (/dev/vdc) swapped for another image: the guest
		# sees the new size (a config-change interrupt) and the new contents.
		why=
		if ended kata >/dev/null; then
			why=$(ended kata)
		elif call 204 kata.sock PATCH /drives/placeholder "{\"drive_id\": \"placeholder\", \"path_on_host\": \"$LAB_TMP/kata-new.img\"}"; then
			sleep 1
			l2_type kata 'echo "vdc-size $(cat /sys/block/vdc/size) $(dd if=/dev/vdc bs=512 skip=8192 count=1 iflag=direct 2>/dev/null | head -c 15)"'
			if ! wait_for kata.log '^vdc-size ' 30; then
				why="the guest did not answer on its console after the swap; "
			else
				line=$(grep -a '^vdc-size ' kata.log | tr -d '\r' | tail -1)
				echo "LAB: api: after PATCH path_on_host the guest says: $line"
				[ "$line" = "vdc-size 16384 KATA-SWAPPED-42" ] ||
					why="the guest saw '$line' after the swap (want 'vdc-size 16384 KATA-SWAPPED-42'); "
			fi
		fi
		if [ -z "$why" ]; then
			pass api-kata-placeholder-drive
		else
			fail api-kata-placeholder-drive "$why"
		fi
		why=

		# Pause and resume: a ticker in the guest prints every 0.5 s.
		ticks() { grep -ac '^tick' kata.log; }
		if why=$(ended kata); then
			why="$why before the pause; "
		else
			l2_type kata '(while :; do echo "ti""ck"; sleep 0.5; done) & echo $! >/tmp/tick.pid'
			wait_for kata.log '^tick' 20 || why="the guest's ticker did not start; "
			sleep 1
		fi
		if [ -z "$why" ] && call 204 kata.sock PATCH /vm '{"state": "Paused"}'; then
			sleep 1
			s1=$(stat -c %s kata.log)
			t1=$(ticks)
			api kata.sock GET /
			case $API_BODY in *'"state":"Paused"'*) ;; *) why="${why}GET / while paused answered: $API_BODY; " ;; esac
			sleep 3
			s2=$(stat -c %s kata.log)
			[ "$s1" = "$s2" ] || why="${why}the guest's console went on while paused ($((s2 - s1)) bytes in 3 s); "
			if call 204 kata.sock PATCH /vm '{"state": "Resumed"}'; then
				api kata.sock GET /
				case $API_BODY in *'"state":"Running"'*) ;; *) why="${why}GET / after the resume answered: $API_BODY; " ;; esac
				n=0
				while [ "$(ticks)" -le "$t1" ] && [ $n -lt 100 ]; do
					sleep 0.2
					n=$((n + 1))
				done
				[ "$(ticks)" -gt "$t1" ] || why="${why}the guest's ticker did not go on after the resume; "
				# shellcheck disable=SC2016 # expanded by the guest's shell
				l2_type kata 'kill $(cat /tmp/tick.pid); echo "al""ive $((6 * 7))"'
				wait_for kata.log '^alive 42' 30 || why="${why}the guest did not answer on its console after the resume; "
			fi
		fi
		if [ -z "$why" ]; then
			pass api-kata-pause-resume
		else
			fail api-kata-pause-resume "$why"
			show_log kata.log
		fi
	fi
	end_clean api-kata-end kata
	rm -f kata.img kata-data.img kata-ph.img kata-new.img
fi
[ -e /sys/class/net/api0 ] && tunctl -d api0 >/dev/null
