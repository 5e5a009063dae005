#!/bin/bash
# mkroot.sh: a bootable ext4 root disk of Debian 12 (bookworm) for kvmrun,
# made from Debian's own packages, and the kvmrun command that boots it.
#
#   tools/mkroot.sh [-o root.ext4] [-s 2G] [--kernel auto|host|package]
#
# Why mmdebstrap and not debootstrap: it resolves and installs every package
# with apt in one pass (debootstrap unpacks the base one package at a time and
# then runs its second stage), so a tree takes about a third of the time; it
# takes the extra packages, several apt sources and our configuration steps
# (--include, --customize-hook) in the same run; and it is in bookworm.
#
# The tree is built in a folder and the image made with `mke2fs -t ext4 -d`:
# no loop device, no mount. mke2fs copies owners and modes as they are, so
# this runs as root (mmdebstrap's root mode); booting the image needs only
# /dev/kvm (an ordinary user in group kvm).
#
# What the guest is: minbase plus systemd, udev, dbus, systemd-networkd (DHCP
# on every ethernet interface; kvmrun's virtio-net is eth0 under Debian's
# kernel) with systemd-resolved, iproute2, iputils-ping, wget, procps and
# kmod; hostname, /etc/fstab with /dev/vda as /, and a getty on the serial
# console ttyS0 that logs root in without a password (a test VM; the root
# password itself stays locked, so nothing else logs in without one).
# Documentation, man pages and translations are left out (dpkg path-exclude).
#
# A greeting that shows the network (/etc/profile.d/kvmrun-hello.sh): when
# the kernel command line has kvmrun.hello=URL, the first login shell of a
# boot waits up to 30 s for a default route, then prints, on lines that
# start with "kvmrun.hello:", the guest's IPv4 address, two pings of the
# default gateway and the first line of URL fetched with wget. Without it,
# nothing. (./build.sh demo uses it: URL is an HTTP server on the host.)
#
# The kernel (--kernel):
#   host     the host's own /boot/vmlinuz-$(uname -r) and its initrd.img.
#            Debian's initramfs-tools (MODULES=most) puts virtio_mmio,
#            virtio_blk, virtio_net and ext4 in every initrd, and its udev
#            loads them through ACPI, where kvmrun describes its devices; so
#            root=/dev/vda works unchanged. The host's /lib/modules/$(uname -r)
#            is copied into the image so the guest can load the rest.
#   package  Debian's kernel (linux-image-amd64) installed in the image with
#            initramfs-tools; its vmlinuz and initrd.img are copied out next
#            to the image (NAME.vmlinuz, NAME.initrd.img). For hosts without
#            a Debian kernel in /boot (containers, CI, the test lab).
#   auto     (default) host when /boot has the running kernel, else package.
set -euo pipefail

prog=${0##*/}
usage() {
	cat <<EOF
usage: $prog [options]
Make a bootable ext4 root disk of Debian 12 (bookworm) for kvmrun, from
Debian's packages (mmdebstrap, then mke2fs -d; no loop mount). Run as root.

  -o, --output FILE      the image (default root.ext4; sparse)
  -s, --size SIZE        its size, as mke2fs takes it (default 2G)
  -k, --kernel WHICH     auto (default), host (/boot/vmlinuz-\$(uname -r) and
                         its initrd), or package (linux-image-amd64 installed
                         in the image; vmlinuz and initrd copied out next to it)
      --hostname NAME    the guest's hostname (default kvmrun)
      --mirror URL       Debian mirror (default http://deb.debian.org/debian)
      --include PKGS     more packages, comma-separated
  -f, --force            overwrite FILE (and its .vmlinuz/.initrd.img)
  -h, --help             this text

It prints the kvmrun command that boots the image.
EOF
}
usage_err() {
	echo "$prog: $*" >&2
	echo "Try '$prog --help'." >&2
	exit 2
}
die() {
	echo "$prog: error: $*" >&2
	exit 1
}
say() { echo "$prog: $*" >&2; }

out=root.ext4 size=2G kernel=auto hostname=kvmrun force=
mirror=http://deb.debian.org/debian
security=http://deb.debian.org/debian-security
extra=
while [ $# -gt 0 ]; do
	case $1 in
	-h | --help)
		usage
		exit 0
		;;
	-o | --output | -s | --size | -k | --kernel | --hostname | --mirror | --include)
		[ $# -ge 2 ] || usage_err "$1 needs a value"
		case $1 in
		-o | --output) out=$2 ;;
		-s | --size) size=$2 ;;
		-k | --kernel) kernel=$2 ;;
		--hostname) hostname=$2 ;;
		--mirror) mirror=$2 ;;
		--include) extra=$2 ;;
		esac
		shift 2
		;;
	-f | --force)
		force=1
		shift
		;;
	*) usage_err "unknown argument '$1'" ;;
	esac
done
case $kernel in auto | host | package) ;; *) usage_err "--kernel: '$kernel' is not auto, host or package" ;; esac
[[ $size =~ ^[0-9]+[KMGT]?$ ]] || usage_err "--size: '$size' is not a size like 2G or 1500M"
[[ $hostname =~ ^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$ ]] || usage_err "--hostname: '$hostname' is not a host name"
[[ $extra =~ ^[a-z0-9.+,-]*$ ]] || usage_err "--include: '$extra' is not a comma-separated list of package names"
[ -n "$out" ] || usage_err "--output is empty"
[ "$(id -u)" = 0 ] || die "run as root: mke2fs -d keeps the owners of the files it copies, and only root can own them as Debian wants (booting the image needs no root)"

# The two halves of the kernel's files, and where they end up.
base=${out%.ext4}
krel=$(uname -r)
if [ -z "$force" ]; then
	for f in "$out" "$base.vmlinuz" "$base.initrd.img"; do
		[ ! -e "$f" ] || die "$f exists (-f to overwrite)"
	done
fi
[ -d "$(dirname "$out")" ] || die "no folder $(dirname "$out") for $out"
if [ "$kernel" = auto ]; then
	if [ -r "/boot/vmlinuz-$krel" ] && [ -r "/boot/initrd.img-$krel" ]; then
		kernel=host
	else
		kernel=package
		say "no readable /boot/vmlinuz-$krel and initrd.img-$krel here: installing Debian's kernel in the image (--kernel package)"
	fi
fi
if [ "$kernel" = host ]; then
	[ -r "/boot/vmlinuz-$krel" ] || die "--kernel host: no readable /boot/vmlinuz-$krel (use --kernel package)"
	[ -r "/boot/initrd.img-$krel" ] || die "--kernel host: no readable /boot/initrd.img-$krel (use --kernel package)"
fi

t0=$(date +%s)
# The tools: from Debian's packages, with build.sh's helper in a checkout.
top=$(cd "$(dirname "$0")/.." && pwd)
missing=()
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
command -v mke2fs >/dev/null || missing+=(e2fsprogs)
if [ ${#missing[@]} -gt 0 ]; then
	if [ -x "$top/build.sh" ]; then
		"$top/build.sh" need "${missing[@]}" || die "cannot install ${missing[*]}"
	else
		apt-get install -y -q "${missing[@]}" >&2 || die "cannot install ${missing[*]}"
	fi
fi

pkgs=systemd-sysv,udev,dbus,systemd-resolved,iproute2,iputils-ping,wget,ca-certificates,procps,kmod,netbase
[ "$kernel" = package ] && pkgs=$pkgs,linux-image-amd64,initramfs-tools
[ -n "$extra" ] && pkgs=$pkgs,$extra

work=$(mktemp -d "${TMPDIR:-/var/tmp}/mkroot.XXXXXX")
trap 'rm -rf "$work"' EXIT
tree=$work/root

# The greeting (see the header); sourced by login shells, so it runs in a
# subshell and never exits the shell. Once a boot (/run is a tmpfs).
cat >"$work/hello.sh" <<'HELLO'
# kvmrun.hello=URL on the kernel command line: show the network (mkroot.sh).
if [ ! -e /run/kvmrun-hello ] && grep -q 'kvmrun\.hello=' /proc/cmdline; then
	: >/run/kvmrun-hello 2>/dev/null
	(
		url=$(tr ' ' '\n' </proc/cmdline | sed -n 's/^kvmrun\.hello=//p' | tail -n 1)
		n=0
		while [ -z "$(ip -4 route show default)" ] && [ $n -lt 30 ]; do
			[ $n = 0 ] && echo "kvmrun.hello: waiting for DHCP..."
			sleep 1
			n=$((n + 1))
		done
		gw=$(ip -4 route show default | awk '{ print $3; exit }')
		echo "kvmrun.hello: address $(ip -4 -o addr show scope global | awk '{ printf "%s %s ", $2, $4 }')gateway ${gw:-none}"
		if [ -n "$gw" ]; then
			ping -c 2 -W 3 "$gw" | sed -n 's/^/kvmrun.hello: ping: /; /bytes from\|packets/p'
		fi
		line=$(wget -q -T 10 -t 2 -O - "$url" | head -n 1)
		echo "kvmrun.hello: wget $url: ${line:-(nothing fetched)}"
	)
fi
HELLO

# The configuration, as a script mmdebstrap runs on the finished tree ($1).
cat >"$work/configure.sh" <<EOF
#!/bin/bash
set -euo pipefail
r=\$1
echo $hostname >"\$r/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\t$hostname\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"\$r/etc/hosts"
printf '# <device> <mount point> <type> <options> <dump> <pass>\n/dev/vda / ext4 errors=remount-ro 0 1\n' >"\$r/etc/fstab"
# DHCP on whatever ethernet name the kernel gives kvmrun's NIC (eth0 under
# Debian's kernel: virtio-mmio has no predictable name).
cat >"\$r/etc/systemd/network/20-wired.network" <<'NET'
[Match]
Name=eth* en*

[Network]
DHCP=yes
NET
# The serial console logs root in: kvmrun's console is ttyS0, and the getty
# generator starts serial-getty@ttyS0 for console=ttyS0.
mkdir -p "\$r/etc/systemd/system/serial-getty@ttyS0.service.d"
cat >"\$r/etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf" <<'GETTY'
[Service]
ExecStart=
ExecStart=-/sbin/agetty -o '-p -f -- \\\\u' --keep-baud --autologin root 115200,57600,38400,9600 - \$TERM
GETTY
install -m 644 "$work/hello.sh" "\$r/etc/profile.d/kvmrun-hello.sh"
systemctl --root="\$r" enable systemd-networkd.service systemd-resolved.service
# Nothing here needs network-online.target; a guest without a NIC would
# otherwise wait two minutes for it whenever something asks.
systemctl --root="\$r" disable systemd-networkd-wait-online.service
EOF
chmod 755 "$work/configure.sh"

say "building the Debian tree (mmdebstrap --variant=minbase, kernel: $kernel)"
# eatmydata (mmdebstrap's own hook, removed again at the end) spares dpkg
# its fsyncs: a tree that is copied into an image at once needs none.
mmdebstrap --variant=minbase --include="$pkgs" \
	--hook-dir=/usr/share/mmdebstrap/hooks/eatmydata \
	--dpkgopt='path-exclude=/usr/share/man/*' \
	--dpkgopt='path-exclude=/usr/share/locale/*' \
	--dpkgopt='path-include=/usr/share/locale/locale.alias' \
	--dpkgopt='path-exclude=/usr/share/doc/*' \
	--dpkgopt='path-include=/usr/share/doc/*/copyright' \
	--dpkgopt='path-exclude=/usr/share/info/*' \
	--customize-hook="$work/configure.sh \"\$1\"" \
	bookworm "$tree" \
	"deb $mirror bookworm main" \
	"deb $mirror bookworm-updates main" \
	"deb $security bookworm-security main" >&2 ||
	die "mmdebstrap failed (see above)"
t1=$(date +%s)

rm -f "$base.vmlinuz" "$base.initrd.img"
if [ "$kernel" = package ]; then
	v=
	for f in "$tree"/boot/vmlinuz-*; do [ -f "$f" ] && v=${f##*/vmlinuz-}; done
	if [ -z "$v" ] || [ ! -f "$tree/boot/initrd.img-$v" ]; then
		die "the image has no kernel and initrd.img in /boot (linux-image-amd64 did not install?)"
	fi
	cp "$tree/boot/vmlinuz-$v" "$base.vmlinuz"
	cp "$tree/boot/initrd.img-$v" "$base.initrd.img"
	vmlinuz=$base.vmlinuz initrd=$base.initrd.img
else
	if [ -d "/lib/modules/$krel" ]; then
		mkdir -p "$tree/lib/modules"
		cp -a "/lib/modules/$krel" "$tree/lib/modules/"
	fi
	vmlinuz=/boot/vmlinuz-$krel initrd=/boot/initrd.img-$krel
fi

say "making $out ($size, ext4, from the tree with mke2fs -d)"
rm -f "$out"
mke2fs -q -F -t ext4 -L debian-root -d "$tree" "$out" "$size" ||
	die "mke2fs could not make $out (is $size big enough for $(du -sh "$tree" | cut -f1)?)"
t2=$(date +%s)
say "done in $((t2 - t0)) s (tree $((t1 - t0)) s, image $((t2 - t1)) s); $(du -h "$out" | cut -f1) used of $size"
cat <<EOF
kvmrun --kernel $vmlinuz --initrd $initrd --memory 1G \\
       --disk $out --cmdline "root=/dev/vda"
EOF
