# shellcheck shell=sh
# Debian's stock kernel as L2 finds kvmrun's devices only through ACPI (it
# has no virtio_mmio.device= support): both disks appear, the ext4 one
# mounts and round-trips data (read back on the host), a NIC appears, --cpus 4
# gives 4 CPUs (MADT), and poweroff -f / reboot -f (i8042 and ACPI reset)
# end kvmrun with status 0. kvmrun's --metrics exit line names the path.
l2_sh() { echo "lab.sh=$(gzip -9c "$1" | base64 -w0)"; }
# reason METRICS: the exit reason in kvmrun's metrics file.
reason() { sed -n 's/.*"event":"exit".*"reason":"\([^"]*\)".*/\1/p' "$1" | tail -1; }
ext=$(lab_disk deb-ext4)
if [ -z "$ext" ]; then
	fail acpi-debian-disks "no deb-ext4 disk in L1"
elif need_kvmrun acpi-debian-disks; then
	truncate -s 6M raw.img
	# A tap for a NIC, when L1 can make one (tun.ko).
	net=
	if tunctl -t labdeb0 >/dev/null 2>&1 && ip link set labdeb0 up; then
		net="--net tap=labdeb0"
	fi
	cat >deb.sh <<'DEB'
echo "L2 blocks $(ls /sys/block | tr '\n' ' ')"
for d in vda vdb; do echo "L2 disk $d size=$(cat /sys/block/$d/size 2>/dev/null)"; done
echo "L2 net $(ls /sys/class/net | tr '\n' ' ')"
echo "L2 acpi-devices $(ls /sys/bus/acpi/devices | grep -c LNRO0005)"
mkdir -p /mnt
if mount -t ext4 /dev/vda /mnt; then
	echo "L2 seed $(cat /mnt/seed.txt)"
	seq 1 100000 >/mnt/deb-out.txt
	echo "L2 wrote $(md5sum </mnt/deb-out.txt | cut -d' ' -f1)"
	umount /mnt && echo "L2 umounted"
else
	echo "L2 mount failed"
fi
echo "debian wrote vdb" | dd of=/dev/vdb conv=fsync 2>/dev/null && echo "L2 vdb written"
DEB
	# shellcheck disable=SC2086 # $net is empty or one flag and its value
	l2_run deb.log --kernel "$DEBIAN_VMLINUZ" --initrd "$DEBIAN_INITRD" --memory 512M --cpus 4 \
		--disk "$ext" --disk raw.img $net --metrics deb.metrics \
		--cmdline "quiet lab.run=report,sh,poweroff $(l2_sh deb.sh)"
	cp deb.metrics "$LAB_OUT/" 2>/dev/null
	[ -n "$net" ] && ip link del labdeb0 2>/dev/null
	if expect_clean acpi-debian-poweroff deb.log '^L2: poweroff -f'; then
		r=$(reason deb.metrics)
		echo "LAB: poweroff: $r"
		case $r in *ACPI*) pass acpi-debian-poweroff-acpi ;; *) fail acpi-debian-poweroff-acpi "exit reason '$r'" ;; esac
	fi
	tr -d '\r' <deb.log | grep -a '^L2 \(blocks\|disk\|net\|acpi\|seed\|wrote\|umounted\|mount\|vdb\|nproc\)' | sed 's/^/LAB: /'
	has deb.log '^L2: insmod .* failed' && fail acpi-debian-modules "$(grep -a '^L2: insmod' deb.log | head -3 | tr '\r\n' '  ')"
	extsec=$(($(blockdev --getsize64 "$ext") / 512))
	if has deb.log "^L2 disk vda size=$extsec" && has deb.log "^L2 disk vdb size=$((6 << 11))"; then
		pass acpi-debian-disks
	else
		fail acpi-debian-disks "want vda of $extsec and vdb of $((6 << 11)) sectors: $(grep -a '^L2 \(blocks\|disk\)' deb.log | tr -d '\r' | tr '\n' ' ')"
	fi
	if has deb.log '^L2 seed seeded by the host' && has deb.log '^L2 umounted' &&
		[ "$(head -c 17 raw.img)" = "debian wrote vdb" ]; then
		pass acpi-debian-ext4
	else
		fail acpi-debian-ext4 "mount/read/write/umount or the raw write did not round-trip: $(grep -a '^L2 \(seed\|wrote\|mount\|umounted\|vdb\)' deb.log | tr -d '\r' | tr '\n' ' ')"
	fi
	tr -d '\r' <deb.log | sed -n 's/^L2 wrote //p' >"$LAB_OUT/wrote.txt"
	got=$(sed -n 's/^L2 nproc=\([0-9]*\).*/\1/p' deb.log)
	if [ "$got" = 4 ]; then pass acpi-debian-cpus-4; else fail acpi-debian-cpus-4 "nproc is '$got'"; fi
	if [ -z "$net" ]; then
		skip acpi-debian-nic "no tap in L1"
	elif has deb.log '^L2 net .*eth0'; then
		pass acpi-debian-nic
	else
		fail acpi-debian-nic "$(grep -a '^L2 net' deb.log | tr -d '\r')"
	fi
fi

# reboot -f through the i8042 (kvmrun's default reboot=k) and through the
# ACPI reset register (reboot=a).
for how in k a; do
	need_kvmrun "acpi-debian-reboot-$how" || continue
	l2_run "reboot-$how.log" --kernel "$DEBIAN_VMLINUZ" --initrd "$DEBIAN_INITRD" --memory 512M \
		--metrics "reboot-$how.metrics" --cmdline "quiet reboot=$how lab.run=reboot"
	if expect_clean "acpi-debian-reboot-$how" "reboot-$how.log" '^L2: reboot -f'; then
		r=$(reason "reboot-$how.metrics")
		echo "LAB: reboot=$how: $r"
		case $how:$r in
		k:*i8042* | a:*ACPI*) pass "acpi-debian-reboot-$how-path" ;;
		*) fail "acpi-debian-reboot-$how-path" "exit reason '$r'" ;;
		esac
	fi
done
