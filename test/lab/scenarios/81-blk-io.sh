# shellcheck shell=sh
# virtio-blk data paths: a pattern written with O_DIRECT by 4 processes at
# random offsets with mixed sizes, read back and verified (and verified again
# on the host); data the guest synced survives kill -9 of kvmrun; a read-only
# disk refuses the guest's writes and stays unchanged.
# l2_sh FILE: the kernel words that make L2's init run FILE (l2/init "sh").
l2_sh() { echo "lab.run=sh,reboot lab.sh=$(gzip -9c "$1" | base64 -w0)"; }
# The pattern's parameters; 81-blk-io.after uses the same.
PAT_SEED=4242 PAT_OPS=48 PAT_WORKERS=4

pat=$(lab_disk blk-pat)
if [ -z "$pat" ]; then
	fail blk-pattern "no blk-pat disk in L1"
elif need_kvmrun blk-pattern; then
	cat >pat.sh <<PAT
blkpat write /dev/vda $PAT_SEED $PAT_OPS $PAT_WORKERS && blkpat verify /dev/vda $PAT_SEED $PAT_OPS $PAT_WORKERS
PAT
	l2_run pat.log --kernel "$L2_BZIMAGE" --initrd "$L2_INITRD" --cpus 2 --memory 256M \
		--disk "$pat" --metrics pat.metrics --cmdline "$(l2_sh pat.sh)"
	# kvmrun's own account of how the run ended (seen once: status 0 with the
	# guest's console stopping mid-boot and nothing written).
	echo "LAB: blk-pattern exit: $(grep -o '"reason":"[^"]*"' pat.metrics 2>/dev/null)"
	cp pat.metrics "$LAB_OUT/" 2>/dev/null
	if expect_clean blk-pattern-run pat.log '^L2: sh status'; then
		if has pat.log '^blkpat: verify ok' && has pat.log '^L2: sh status 0'; then
			pass blk-pattern
			grep -a '^blkpat:' pat.log | tr -d '\r' | sed 's/^/LAB: /'
		else
			fail blk-pattern "$(grep -a '^blkpat' pat.log | tr -d '\r' | head -4 | tr '\n' ' ')"
		fi
	fi
fi

# Durability: the guest writes through the page cache, syncs, says so, and
# idles; kvmrun is killed with SIGKILL at once. The data must be on the disk.
dur=$(lab_disk blk-dur)
if [ -z "$dur" ]; then
	fail blk-durable "no blk-dur disk in L1"
elif need_kvmrun blk-durable; then
	seq 1 150000 >dur.data
	n=$(wc -c <dur.data)
	want=$(md5sum <dur.data | cut -d' ' -f1)
	cat >dur.sh <<DUR
seq 1 150000 | dd of=/dev/vda bs=4k conv=notrunc 2>/dev/null
sync
echo "L2: synced"
sleep 600
DUR
	"$KVMRUN" --kernel "$L2_BZIMAGE" --initrd "$L2_INITRD" --memory 256M --disk "$dur" \
		--cmdline "$(l2_sh dur.sh)" </dev/null >dur.log 2>&1 &
	pid=$!
	if wait_for dur.log '^L2: synced' 90; then
		kill -KILL "$pid"
		wait "$pid"
		rc=$?
		got=$(head -c "$n" "$dur" | md5sum | cut -d' ' -f1)
		if [ "$rc" != 137 ]; then
			fail blk-durable "kvmrun ended with status $rc after SIGKILL"
		elif [ "$got" = "$want" ]; then
			pass blk-durable
		else
			fail blk-durable "after kill -9 the disk's first $n bytes have md5 $got, the guest synced $want"
		fi
		# The lock died with kvmrun: a new one opens the disk and reads it.
		echo "echo \"L2 dur-md5 \$(head -c $n /dev/vda | md5sum | cut -d' ' -f1)\"" >dur2.sh
		l2_run dur2.log --kernel "$L2_BZIMAGE" --initrd "$L2_INITRD" --memory 256M \
			--disk "$dur" --cmdline "$(l2_sh dur2.sh)"
		if expect_clean blk-durable-reopen dur2.log '^L2: sh status 0' &&
			! has dur2.log "^L2 dur-md5 $want"; then
			fail blk-durable-guest-readback "$(grep -a '^L2 dur-md5' dur2.log | tr -d '\r')"
		fi
	else
		kill -KILL "$pid" 2>/dev/null
		fail blk-durable "the guest never said 'L2: synced'"
		show dur.log
	fi
	cp dur.log "$LAB_OUT/"
	echo "$n $want" >"$LAB_OUT/dur-want.txt"
fi

# Read-only: writes fail in the guest, the disk is unchanged.
ro=$(lab_disk blk-ro)
if [ -z "$ro" ]; then
	fail blk-ro "no blk-ro disk in L1"
elif need_kvmrun blk-ro; then
	before=$(md5sum <"$ro" | cut -d' ' -f1)
	cat >ro.sh <<'RO'
echo "L2 ro-flag $(cat /sys/block/vda/ro)"
if dd if=/dev/zero of=/dev/vda bs=4096 count=1 oflag=direct conv=notrunc 2>/tmp/e; then
	echo "L2 ro-dd wrote"
else
	echo "L2 ro-dd failed: $(grep -v records /tmp/e | head -1)"
fi
blockdev --setrw /dev/vda 2>/dev/null
if dd if=/dev/zero of=/dev/vda bs=512 seek=100 count=8 conv=notrunc,fsync 2>/tmp/e; then
	echo "L2 ro-dd2 wrote"
else
	echo "L2 ro-dd2 failed: $(grep -v records /tmp/e | head -1)"
fi
blkdiscard /dev/vda 2>/dev/null && echo "L2 ro-discard done"
blkpat zeroout /dev/vda 0 65536 2>/dev/null && echo "L2 ro-zeroout done"
echo "L2 ro-md5 $(md5sum </dev/vda | cut -d' ' -f1)"
RO
	l2_run ro.log --kernel "$L2_BZIMAGE" --initrd "$L2_INITRD" --memory 256M \
		--disk "$ro,ro" --cmdline "$(l2_sh ro.sh)"
	after=$(md5sum <"$ro" | cut -d' ' -f1)
	if expect_clean blk-ro-run ro.log '^L2: sh status'; then
		why=
		has ro.log '^L2 ro-flag 1' || why="/sys/block/vda/ro is not 1"
		has ro.log '^L2 ro-dd failed' || why="${why:+$why; }O_DIRECT dd to the disk did not fail"
		has ro.log '^L2 ro-dd2 failed' || why="${why:+$why; }dd after blockdev --setrw did not fail"
		has ro.log '^L2 ro-(discard|zeroout) done' && why="${why:+$why; }discard or write-zeroes succeeded"
		has ro.log "^L2 ro-md5 $before" || why="${why:+$why; }the guest read other bytes than the disk holds"
		[ "$after" = "$before" ] || why="${why:+$why; }the disk's md5 changed from $before to $after"
		if [ -z "$why" ]; then
			pass blk-ro
			grep -a '^L2 ro-' ro.log | tr -d '\r' | sed 's/^/LAB: /'
		else
			fail blk-ro "$why"
			show ro.log
		fi
	fi
fi
