# shellcheck shell=sh
# Boot L2 from an ext4 disk (root=/dev/vda, no initramfs): the guest checks
# the seeded file, writes files, syncs and reboots; a second boot finds
# them. The host reads them back afterwards (80-blk-root.after).
dev=$(lab_disk blk-root)
if [ -z "$dev" ]; then
	fail blk-root "no blk-root disk in L1"
elif need_kvmrun blk-root; then
	for boot in 1 2; do
		l2_run "root$boot.log" --kernel "$L2_BZIMAGE" --disk "$dev" --memory 256M \
			--cmdline "root=/dev/vda rw rootfstype=ext4 init=/init"
		expect_clean "blk-root-boot$boot" "root$boot.log" '^L2: synced' || break
	done
	tr -d '\r' <root1.log | sed -n 's/^L2 \(seed-md5\|wrote seq-md5\) \(.*\)/\1 \2/p' >"$LAB_OUT/guest-boot1.txt"
	tr -d '\r' <root2.log 2>/dev/null | sed -n 's/^L2 \(found .*\)/\1/p' >"$LAB_OUT/guest-boot2.txt"
	if has root1.log '^L2: root /dev/(root|vda) ext4 rw'; then
		pass blk-root-mounted
	else
		fail blk-root-mounted "the guest's / is not ext4 rw from the disk: $(grep -a '^L2: root' root1.log | tr -d '\r')"
	fi
	w=$(sed -n 's/^wrote seq-md5 //p' "$LAB_OUT/guest-boot1.txt")
	f=$(sed -n 's/^found seq-md5 //p' "$LAB_OUT/guest-boot2.txt")
	if [ -n "$w" ] && [ "$w" = "$f" ] && has root2.log '^L2 found hello hello from L2'; then
		pass blk-root-persist
	else
		fail blk-root-persist "boot 2 found seq md5 '$f', boot 1 wrote '$w'"
	fi
fi
