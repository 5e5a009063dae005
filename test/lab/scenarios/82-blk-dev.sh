# shellcheck shell=sh
# virtio-blk device facts: GET_ID (serial=), capacity of a host block device
# and of files (a size that is not a multiple of 512 is rounded down),
# discard and write-zeroes reading back as zeros, two and eight disks at
# once, and a second kvmrun on a disk in use failing cleanly.
l2_sh() { echo "lab.run=sh,reboot lab.sh=$(gzip -9c "$1" | base64 -w0)"; }
# md5 of LEN bytes of FILE at byte offset OFF (both multiples of 64 KiB).
md5_at() { dd if="$1" bs=65536 skip=$(($2 / 65536)) count=$(($3 / 65536)) 2>/dev/null | md5sum | cut -d' ' -f1; }
M=1048576
zero1m=$(head -c $M /dev/zero | md5sum | cut -d' ' -f1)

# Two disks: the host block device (vda) and a file on L1's tmpfs (vdb).
cap=$(lab_disk blk-cap)
if [ -z "$cap" ]; then
	fail blk-two-disks "no blk-cap disk in L1"
elif need_kvmrun blk-two-disks; then
	seq 1 2000000 | head -c $((8 * M)) >dz.img
	cp dz.img dz.want
	# What the guest will do to vdb: discard 1-2 MiB, zero 4-5 MiB.
	dd if=/dev/zero of=dz.want bs=$M seek=1 count=1 conv=notrunc 2>/dev/null
	dd if=/dev/zero of=dz.want bs=$M seek=4 count=1 conv=notrunc 2>/dev/null
	blocks0=$(stat -c %b dz.img)
	dd if=/dev/urandom of="$cap" bs=$M count=4 conv=notrunc 2>/dev/null
	sync
	cat >two.sh <<'TWO'
for d in vda vdb; do
	q=/sys/block/$d/queue
	echo "L2 disk $d size=$(cat /sys/block/$d/size) serial=$(cat /sys/block/$d/serial) dmax=$(cat $q/discard_max_bytes) wzmax=$(cat $q/write_zeroes_max_bytes)"
done
M=1048576
blkdiscard -o $M -l $M /dev/vdb && echo "L2 discard vdb ok"
blkpat zeroout /dev/vdb $((4 * M)) $M && echo "L2 zeroout vdb ok"
blkpat zeroout /dev/vda $((2 * M)) $M && echo "L2 zeroout vda ok"
blkdiscard -o 0 -l $M /dev/vda && echo "L2 discard vda ok"
rd() { dd if=/dev/$1 bs=65536 skip=$(($2 / 65536)) count=16 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1; }
echo "L2 md5 vdb@1M $(rd vdb $M) vdb@4M $(rd vdb $((4 * M))) vda@2M $(rd vda $((2 * M)))"
TWO
	l2_run two.log --kernel "$L2_BZIMAGE" --initrd "$L2_INITRD" --memory 256M \
		--disk "$cap,serial=blk-cap-serial" --disk "dz.img,serial=dz-file" --cmdline "$(l2_sh two.sh)"
	if expect_clean blk-two-disks two.log '^L2: sh status 0'; then
		tr -d '\r' <two.log | grep -a '^L2 ' | sed 's/^/LAB: /'
		capsec=$(($(blockdev --getsize64 "$cap") / 512))
		# GET_ID and capacity, on a block device and on a file.
		if has two.log "^L2 disk vda size=$capsec serial=blk-cap-serial " &&
			has two.log "^L2 disk vdb size=$((8 * M / 512)) serial=dz-file "; then
			pass blk-serial-capacity
		else
			fail blk-serial-capacity "want vda size=$capsec serial=blk-cap-serial, vdb size=$((8 * M / 512)) serial=dz-file: $(grep -a '^L2 disk' two.log | tr -d '\r' | tr '\n' ' ')"
		fi
		has two.log '^L2 disk vdb .* dmax=[1-9][0-9]* wzmax=[1-9]' || fail blk-dwz-limits "the guest sees no discard or write-zeroes limits on vdb"
		# Discard (a hole in the file) and write-zeroes read back as zeros,
		# in the guest and here, and nothing else changed.
		why=
		has two.log '^L2 discard vdb ok' || why="blkdiscard on vdb failed"
		has two.log '^L2 zeroout vdb ok' || why="${why:+$why; }BLKZEROOUT on vdb failed"
		has two.log "^L2 md5 vdb@1M $zero1m vdb@4M $zero1m " || why="${why:+$why; }the guest does not read zeros back"
		[ "$(md5sum <dz.img)" = "$(md5sum <dz.want)" ] || why="${why:+$why; }the file is not the original with 1-2 MiB and 4-5 MiB zeroed"
		blocks1=$(stat -c %b dz.img)
		[ "$blocks1" -lt "$blocks0" ] || why="${why:+$why; }the file's blocks went from $blocks0 to $blocks1 (no hole punched)"
		if [ -z "$why" ]; then pass blk-discard-zeroes; else fail blk-discard-zeroes "$why"; fi
		# The same on the host block device (discard there is advisory).
		why=
		has two.log '^L2 zeroout vda ok' || why="BLKZEROOUT on vda failed"
		has two.log '^L2 discard vda ok' || why="${why:+$why; }blkdiscard on vda failed"
		has two.log "^L2 md5 .* vda@2M $zero1m" || why="${why:+$why; }the guest does not read zeros back"
		[ "$(md5_at "$cap" $((2 * M)) $M)" = "$zero1m" ] || why="${why:+$why; }L1 does not read zeros at 2 MiB"
		if [ -z "$why" ]; then pass blk-bdev-zeroes; else fail blk-bdev-zeroes "$why"; fi
	fi
	rm -f dz.img dz.want
fi

# Eight disks, files of sizes that are not all multiples of 512.
if need_kvmrun blk-eight-disks; then
	args=
	: >eight.want
	for i in 1 2 3 4 5 6 7 8; do
		size=$((i * M + (i - 1) * 300))
		truncate -s "$size" "d$i.img"
		args="$args --disk d$i.img,serial=disk-$i"
		echo "size=$((size / 512)) serial=disk-$i" >>eight.want
	done
	cat >eight.sh <<'EIGHT'
for b in /sys/block/vd*; do echo "L2 disk ${b##*/} size=$(cat $b/size) serial=$(cat $b/serial)"; done
EIGHT
	# shellcheck disable=SC2086 # $args is the list of --disk flags
	l2_run eight.log --kernel "$L2_BZIMAGE" --initrd "$L2_INITRD" --memory 256M $args \
		--cmdline "$(l2_sh eight.sh)"
	if expect_clean blk-eight-disks-run eight.log '^L2: sh status 0'; then
		tr -d '\r' <eight.log | sed -n 's/^L2 disk vd[a-z] //p' | sort >eight.got
		sort eight.want >eight.w
		if cmp -s eight.got eight.w; then
			pass blk-eight-disks
		else
			fail blk-eight-disks "the guest sees: $(tr '\n' ';' <eight.got) want: $(tr '\n' ';' <eight.w)"
		fi
	fi
	rm -f d?.img
fi

# A disk in use: a second kvmrun fails at once with status 2 and one line
# naming the image, for a host block device (O_EXCL) and a file (OFD lock),
# read-write or read-only.
if [ -n "$cap" ] && need_kvmrun blk-locked; then
	truncate -s 4M lock.img
	"$KVMRUN" --kernel "$L2_BZIMAGE" --initrd "$L2_INITRD" --memory 128M --disk "$cap" \
		--disk lock.img --cmdline "lab.run=wait" </dev/null >first.log 2>&1 &
	pid=$!
	if wait_for first.log '^L2: waiting' 90; then
		# A read-only open wants a shared lock: refused as well.
		for spec in "$cap" lock.img "$cap,ro" lock.img,ro; do
			img=${spec%,ro}
			name=blk-locked-${img##*/}
			[ "$spec" = "$img" ] || name=$name-ro
			timeout -s KILL 20 "$KVMRUN" --kernel "$L2_BZIMAGE" --initrd "$L2_INITRD" \
				--disk "$spec" --cmdline "lab.run=poweroff" </dev/null >second.log 2>&1
			rc=$?
			lines=$(wc -l <second.log)
			echo "LAB: second kvmrun on $spec: status $rc: $(head -c 300 second.log)"
			if [ "$rc" = 2 ] && [ "$lines" = 1 ] && grep -qF "$img" second.log; then
				pass "$name"
			else
				fail "$name" "status $rc, $lines lines: $(head -3 second.log | tr '\n' ' ')"
			fi
		done
		kill -TERM "$pid"
		n=0
		while kill -0 "$pid" 2>/dev/null && [ $n -lt 300 ]; do sleep 0.2; n=$((n + 1)); done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid"
		rc=$?
		[ "$rc" = 0 ] || fail blk-locked-first "the first kvmrun ended with status $rc after SIGTERM"
	else
		kill -KILL "$pid" 2>/dev/null
		fail blk-locked "the first guest never reached its wait state"
		show first.log
	fi
	cp first.log "$LAB_OUT/"
fi
