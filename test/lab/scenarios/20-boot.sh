# shellcheck shell=sh
# Boot L2 to init from the bzImage and from the PVH vmlinux, with an initrd.
# The bzImage boot also checks that the command line arrives intact and that
# the e820 map the kernel saw is a sane map of the memory asked for.
words="lab.run=report,reboot lab.w1=plain lab.w2=a-b_c.d/e:f=g,h lab.w3=\"x\" lab.last=end"

# ranges: "START END ..." lines in hex of any width -> sorted decimal pairs.
ranges() {
	while read -r a b _; do echo "$((a)) $((b))"; done | sort -n
}

if need_kvmrun boot-bzimage; then
	l2_run bz.log --kernel "$L2_BZIMAGE" --initrd "$L2_INITRD" --memory 256M --cmdline "$words"
	expect_clean boot-bzimage bz.log '^L2: report done'

	# /proc/cmdline holds kvmrun's defaults, then our words unchanged.
	got=$(sed -n 's/^L2 cmdline=//p' bz.log | tr -d '\r')
	case " $got " in
	*" $words "*) pass boot-cmdline ;;
	*) fail boot-cmdline "/proc/cmdline is '$got', wanted it to end with '$words'" ;;
	esac

	# The map as the kernel read it (BIOS-e820 lines) must be what it kept
	# (/sys/firmware/memmap), sorted and non-overlapping, with usable RAM
	# adding up to --memory less at most the legacy hole below 1 MiB.
	tr -d '\r' <bz.log | sed -n 's/^L2 BIOS-e820: \[mem \(0x[0-9a-f]*\)-\(0x[0-9a-f]*\)\] \(.*\)/\1 \2 \3/p' >e820
	tr -d '\r' <bz.log | sed -n 's/^L2 memmap \(0x[0-9a-f]*\)-\(0x[0-9a-f]*\) \(.*\)/\1 \2 \3/p' >memmap
	cat e820 memmap >"$LAB_OUT/e820.txt"
	why=
	prev_end=-1
	usable=0
	while read -r a b type; do
		[ $((a)) -gt "$prev_end" ] || why="entry $a-$b overlaps or is out of order"
		prev_end=$((b))
		[ "$type" = usable ] && usable=$((usable + b - a + 1))
	done <e820
	want=$((256 << 20))
	[ -s e820 ] || why="no BIOS-e820 lines in the guest's dmesg"
	[ -z "$why" ] && [ "$usable" -gt "$want" ] && why="usable RAM $usable > --memory $want"
	[ -z "$why" ] && [ "$usable" -lt $((want - (1 << 20))) ] && why="usable RAM $usable < --memory $want less 1 MiB"
	# memmap's types read "System RAM"/"Reserved"; compare the ranges only.
	[ -z "$why" ] && [ "$(ranges <e820)" != "$(ranges <memmap)" ] &&
		why="/sys/firmware/memmap differs from the boot map"
	# Every "System RAM" range in /proc/iomem lies inside a usable entry.
	tr -d '\r' <bz.log | sed -n 's/^L2 iomem \([0-9a-f]*\)-\([0-9a-f]*\) : System RAM$/0x\1 0x\2/p' >ram
	[ -z "$why" ] && [ ! -s ram ] && why="no System RAM in /proc/iomem"
	while read -r a b; do
		inside=
		while read -r s e type; do
			[ "$type" = usable ] && [ $((s)) -le $((a)) ] && [ $((b)) -le $((e)) ] && inside=1
		done <e820
		[ -z "$why" ] && [ -z "$inside" ] && why="/proc/iomem System RAM $a-$b is not usable in the e820 map"
	done <ram
	if [ -z "$why" ]; then
		pass boot-e820
	else
		fail boot-e820 "$why"
		sed 's/^/  | /' e820
	fi
fi

if need_kvmrun boot-pvh; then
	l2_run pvh.log --kernel "$L2_VMLINUX" --initrd "$L2_INITRD" --cmdline "$words"
	if expect_clean boot-pvh pvh.log '^L2: report done'; then
		has pvh.log "$words" || fail boot-pvh-cmdline "command line not intact under PVH"
	fi
fi
