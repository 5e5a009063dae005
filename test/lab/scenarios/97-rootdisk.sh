# shellcheck shell=sh disable=SC2016 # the single-quoted lines are typed into the guest's shell
# A whole Debian 12 (systemd, from tools/mkroot.sh) boots from its ext4 disk
# with root=/dev/vda and Debian's kernel and initrd.img (initramfs-tools,
# udev, MODULES=most): the serial console logs root in, typed commands run,
# a file written and synced in boot 1 is there in boot 2 (and on the host:
# 97-rootdisk.after), and `poweroff` ends kvmrun with status 0 both times.
# rd_cmd NAME LINE PATTERN SECS: type LINE until PATTERN shows (a line typed
# while the getty and the shell start may be lost). Bash's first output line
# after a command starts with an escape sequence (bracketed paste off), so
# PATTERN is not anchored; the commands compute their markers ($((6*7))) so
# that the echoed command line cannot match.
rd_cmd() {
	_tries=$(($4 / 10))
	while [ "$_tries" -gt 0 ]; do
		l2_type "$1" "$2"
		wait_for "$1.log" "$3" 10 && return 0
		[ -f "$1.rc" ] && return 1
		_tries=$((_tries - 1))
	done
	return 1
}
# rd_boot N: one boot of the disk; the checks rootdisk-*-N.
rd_boot() {
	_g=rd$1
	_t0=$(now)
	# shellcheck disable=SC2086 # $net is empty or one flag and its value
	l2_bg "$_g" 900 "$KVMRUN" --kernel kern/vmlinuz --initrd kern/initrd.img --memory 1G \
		--disk "$dev" $net --metrics "$_g.log.metrics" --cmdline "root=/dev/vda"
	if ! wait_long "$_g.log" 'login: root \(automatic login\)' 420; then
		fail "rootdisk-login-$1" "no root login on the serial console (kvmrun status $(cat "$_g.rc" 2>/dev/null))"
		show "$_g.log" 40
		l2_end "$_g"
		return 1
	fi
	echo "LAB: rootdisk: boot $1 reached the login in $(elapsed "$_t0")s"
	pass "rootdisk-login-$1"
	# $((6*7)) prints 42: the echoed command line does not match the answer.
	if rd_cmd "$_g" 'echo rootdisk-shell-$((6*7))' 'rootdisk-shell-42' 120; then
		pass "rootdisk-shell-$1"
	else
		fail "rootdisk-shell-$1" "a command typed on the console did not run"
		show "$_g.log" 40
	fi
	l2_type "$_g" 'echo; grep -E "^(VERSION_CODENAME|PRETTY_NAME)=" /etc/os-release; findmnt -no SOURCE,FSTYPE,OPTIONS /; echo "rootdisk net: $(ls /sys/class/net | tr "\n" " ")"; echo "rootdisk state: $(systemctl is-system-running)"; systemd-analyze | head -1; echo rootdisk-info-$((1+1))'
	wait_for "$_g.log" 'rootdisk-info-2' 60
	tr -d '\r' <"$_g.log" | grep -aE '^(VERSION_CODENAME|PRETTY_NAME)=|^/dev/vda|^rootdisk (net|state)|^Startup finished' | sed "s/^/LAB: rootdisk: boot $1: /"
	if [ "$1" = 1 ]; then
		if has "$_g.log" '^VERSION_CODENAME=bookworm'; then
			pass rootdisk-os-release
		else
			fail rootdisk-os-release "no VERSION_CODENAME=bookworm from /etc/os-release"
		fi
		if has "$_g.log" '^/dev/vda +ext4 +rw'; then
			pass rootdisk-root-vda
		else
			fail rootdisk-root-vda "/ is not /dev/vda ext4 rw: $(tr -d '\r' <"$_g.log" | grep -a '^/dev/' | head -1)"
		fi
		rd_cmd "$_g" 'echo "written in boot 1" >/root/rootdisk.txt && sync && echo rootdisk-synced-$((2+3))' 'rootdisk-synced-5' 60
	else
		if rd_cmd "$_g" 'echo "rootdisk-found: $(cat /root/rootdisk.txt)"' 'rootdisk-found: written in boot 1' 60; then
			pass rootdisk-persist
		else
			fail rootdisk-persist "boot 2 does not find what boot 1 wrote: $(tr -d '\r' <"$_g.log" | grep -a "rootdisk-found: w" | tail -1)"
		fi
	fi
	_t1=$(now)
	l2_type "$_g" poweroff
	_left=180
	while [ "$_left" -gt 0 ] && ! wait_for "$_g.rc" . 30; do
		_left=$((_left - 30))
		echo "LAB: rootdisk: waiting for kvmrun to end after poweroff (${_left}s left); the guest last printed: $(tr -d '\r' <"$_g.log" | grep -a . | tail -1 | cut -c1-100)"
	done
	l2_end "$_g"
	if [ "$L2_RC" = 0 ]; then
		echo "LAB: rootdisk: boot $1 powered off in $(elapsed "$_t1")s"
		pass "rootdisk-poweroff-$1"
	else
		fail "rootdisk-poweroff-$1" "kvmrun ended with status '$L2_RC' after poweroff"
		show "$_g.log" 30
	fi
	cp "$_g.log.metrics" "$LAB_OUT/" 2>/dev/null
	return 0
}

dev=$(lab_disk rootdisk)
boot=$(lab_disk rootdisk-boot)
if [ -z "$dev" ] || [ -z "$boot" ]; then
	fail rootdisk "no rootdisk disks in L1 (did tools/mkroot.sh fail on the host? see run.sh's log)"
elif need_kvmrun rootdisk; then
	mkdir -p kern
	tar -xf "$boot" -C kern
	echo "LAB: rootdisk: image built in $(cat kern/build-secs)s on the host; vmlinuz $(wc -c <kern/vmlinuz) B, initrd.img $(wc -c <kern/initrd.img) B"
	# A NIC when L1 can make a tap, to see what Debian names it.
	net=
	if tunctl -t labrd0 >/dev/null 2>&1 && ip link set labrd0 up; then
		net="--net tap=labrd0"
	fi
	rd_boot 1 && rd_boot 2
	[ -n "$net" ] && ip link del labrd0 2>/dev/null
fi
