#!/bin/bash
# ./build.sh demo: boot Debian 12 under kvmrun on this terminal, networked by
# passt, and land in its root shell. The guest is the root disk of
# tools/mkroot.sh (built once into the cache: about 5 minutes the first
# time); its greeting (kvmrun.hello=, see mkroot.sh) shows the network: the
# guest's address, two pings of the gateway answered, and the first line of
# hello.txt fetched from an HTTP server this demo starts on the host's
# loopback (passt maps the gateway's address onto it). kvmrun and passt run
# as an ordinary user. `poweroff` in the guest ends the demo.
#
# With hardware KVM, kvmrun runs here (direct): as $SUDO_USER (or nobody)
# with /dev/kvm's group, on a sparse copy of the disk that goes away at the
# end with passt and the HTTP server (python3 http.server). On a PVM host
# (module kvm_pvm, where a stock Linux guest cannot run) or without
# /dev/kvm it runs inside the lab's L1 under QEMU (lab), with L1's console
# on this terminal (Ctrl-A x leaves QEMU at once): L1 gets the disk copy
# and the image's kernel as drives, and its init (lab.mode=demo-debian)
# starts passt, busybox httpd and kvmrun as uid 1000; L1 boots in about a
# minute, Debian in it takes 80-100 s more under TCG.
#
# LAB_DEMO_GUEST=busybox boots the lab's small L2 (busybox shell, no disk
# or network; `poweroff -f` ends it) instead, as this demo did before.
# Environment: KVMRUN (default ./kvmrun), LAB_DEMO=direct|lab to choose,
# LAB_DEMO_GUEST=debian|busybox.
set -euo pipefail
. "$(dirname "$0")/common.sh"

kvmrun=${KVMRUN:-$TOP/kvmrun}
guest=${LAB_DEMO_GUEST:-debian}
how=${LAB_DEMO:-}
if [ -z "$how" ]; then
	if [ -c /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ]; then
		how=direct
	else
		how=lab
	fi
fi
case $guest in debian | busybox) ;; *) die "LAB_DEMO_GUEST must be debian or busybox" ;; esac
case $how in direct | lab) ;; *) die "LAB_DEMO must be direct or lab" ;; esac

# hello SERVER: the hello file's line.
hello() { echo "Hello from the host: this file came through passt from $1"; }

# qemu_l1 MODE QEMU-ARGS...: L1 under QEMU TCG on this terminal.
qemu_l1() {
	local mode=$1
	shift
	mapfile -t l1 < <("$LAB/build-l1.sh")
	log "/dev/kvm here is $([ -d /sys/module/kvm_pvm ] && echo PVM || echo missing):" \
		"booting L1 under QEMU TCG, then the guest in it; Ctrl-A x quits QEMU"
	qemu-system-x86_64 -M q35,accel=tcg -cpu EPYC,+svm,+npt -m "${LAB_MEM:-3072}" -smp "${LAB_SMP:-1}" \
		-nodefaults -no-user-config -nographic -serial mon:stdio -no-reboot \
		-kernel "${l1[0]}" -initrd "${l1[1]}" "$@" \
		-append "console=ttyS0 reboot=t panic=-1 quiet lab.mode=$mode"
}

if [ "$guest" = busybox ]; then
	if [ "$how" = direct ]; then
		[ -x "$kvmrun" ] || die "no kvmrun at $kvmrun: run ./build.sh first"
		l2k=$("$LAB/build-l2-kernel.sh")
		l2i=$("$LAB/build-l2-initramfs.sh" plain)
		log "booting L2 with kvmrun directly on this host's KVM"
		exec "$kvmrun" --kernel "$l2k/bzImage" --initrd "$l2i" --cmdline "lab.run=shell"
	fi
	need_pkgs qemu-system-x86
	[ -x "$kvmrun" ] || log "no kvmrun at $kvmrun: you get an L1 shell only"
	qemu_l1 demo
	exit
fi

[ -x "$kvmrun" ] || die "no kvmrun at $kvmrun: run ./build.sh first"
[ "$(id -u)" = 0 ] || die "run as root: tools/mkroot.sh builds the root disk as root (the guest then runs as an ordinary user)"
if [ "$how" = lab ]; then
	need_pkgs e2fsprogs tar qemu-system-x86 || exit 1
else
	need_pkgs e2fsprogs passt python3 || exit 1
fi

# The image: with this host's kernel in /boot when it is readable (direct),
# else Debian's kernel package installed in it (and always in the lab: L1
# runs Debian's kernel package, not this host's).
krel=$(uname -r)
kind=package
if [ "$how" = direct ] && [ -r "/boot/vmlinuz-$krel" ] && [ -r "/boot/initrd.img-$krel" ]; then
	kind=host
fi
img=$(rootdisk_image "$kind") || die "no root disk (tools/mkroot.sh failed, see above)"
if [ "$kind" = host ]; then
	vmlinuz=/boot/vmlinuz-$krel initrd=/boot/initrd.img-$krel
else
	vmlinuz=$img/root.vmlinuz initrd=$img/root.initrd.img
fi

# Everything of this run in one folder, removed at exit with the helpers.
# /var/tmp: the ordinary user must reach it (a TMPDIR may be root's own).
run=$(mktemp -d /var/tmp/kvmrun-demo.XXXXXX)
pids=()
# shellcheck disable=SC2317 # the EXIT trap runs it
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cp --sparse=always "$img/root.ext4" "$run/root.ext4"

if [ "$how" = lab ]; then
	mkdir "$run/boot"
	cp "$vmlinuz" "$run/boot/vmlinuz"
	cp "$initrd" "$run/boot/initrd.img"
	cp "$img/build-secs" "$run/boot/"
	tar -cf "$run/boot.tar" -C "$run/boot" .
	rc=0
	qemu_l1 demo-debian \
		-drive "file=$run/root.ext4,if=none,id=rootdisk,format=raw,cache=unsafe" \
		-device virtio-blk-pci,drive=rootdisk,serial=rootdisk \
		-drive "file=$run/boot.tar,if=none,id=rootdisk-boot,format=raw,cache=unsafe" \
		-device virtio-blk-pci,drive=rootdisk-boot,serial=rootdisk-boot || rc=$?
	exit "$rc"
fi

# direct: the ordinary user, and /dev/kvm through its group.
user=${SUDO_USER:-nobody}
[ "$user" = root ] && user=nobody
uid=$(id -u "$user") gid=$(id -g "$user")
kvm_gid=$(stat -c %g /dev/kvm)
as_user=(setpriv --reuid="$uid" --regid="$gid" --clear-groups)
as_kvm=(setpriv --reuid="$uid" --regid="$gid" --groups="$kvm_gid")
if ! "${as_kvm[@]}" test -r /dev/kvm -a -w /dev/kvm; then
	log "/dev/kvm ($(stat -c '%A %U:%G' /dev/kvm)) does not let its group in: kvmrun runs as root"
	as_kvm=()
fi
cp "$vmlinuz" "$run/vmlinuz"
cp "$initrd" "$run/initrd.img"
cp "$kvmrun" "$run/kvmrun"
mkdir "$run/www"
chown -R "$uid:$gid" "$run"

net=() cmdline="root=/dev/vda"
gw=$(ip -4 route show default | awk '{ print $3; exit }')
if [ -z "$gw" ]; then
	log "this host has no IPv4 default route, which passt needs: the guest gets no network"
else
	port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	hello "python3 http.server on the host's 127.0.0.1:$port" >"$run/www/hello.txt"
	"${as_user[@]}" /usr/bin/python3 -m http.server --bind 127.0.0.1 --directory "$run/www" "$port" \
		>"$run/http.log" 2>&1 &
	pids+=($!)
	# passt answers the guest's pings with "ping" sockets, which the
	# kernel gives only to groups in ping_group_range (Debian's systemd
	# opens it to all; the kernel's default to none).
	read -r lo hi </proc/sys/net/ipv4/ping_group_range
	if [ "$gid" -lt "$lo" ] || [ "$gid" -gt "$hi" ]; then
		log "net.ipv4.ping_group_range ($lo $hi) leaves out $user's group $gid: passt cannot pass the guest's pings on"
	fi
	# -1: passt ends when kvmrun closes its socket.
	"${as_user[@]}" passt -f -1 -4 -s "$run/passt.sock" >"$run/passt.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 50); do
		[ -S "$run/passt.sock" ] && break
		sleep 0.2
	done
	[ -S "$run/passt.sock" ] || die "passt made no socket: $(tail -n 5 "$run/passt.log")"
	net=(--net "stream=$run/passt.sock")
	cmdline="$cmdline kvmrun.hello=http://$gw:$port/hello.txt"
fi
log "booting Debian 12 with kvmrun as $user on this host's KVM${net:+, networked by passt}; 'poweroff' in the guest ends it"
rc=0
"${as_kvm[@]}" "$run/kvmrun" --kernel "$run/vmlinuz" --initrd "$run/initrd.img" --memory 1G \
	--disk "$run/root.ext4" "${net[@]}" --cmdline "$cmdline" || rc=$?
exit "$rc"
