# shellcheck shell=sh
# --on-reboot restart with Linux: the guest reboots (reboot -f) three times and
# comes back each time in the same kvmrun process, on the same disk: a count
# in the disk's first sector goes 1, 2, 3, 4, and the 64 KiB the first boot
# wrote after it read back the same on every later boot. Each boot is a fresh
# one (its uptime starts again near 0). The fourth boot powers off: status 0,
# and the metrics count 3 reboots. (The probe guest's test shows the next run
# finds zeroed RAM: t_probe.py restart/*.)
if need_kvmrun restart; then
	dd if=/dev/zero of="$LAB_TMP/restart.img" bs=1M count=1 2>/dev/null
	l2_run restart.log --kernel "$L2_BZIMAGE" --initrd "$L2_INITRD" \
		--disk "$LAB_TMP/restart.img" --on-reboot restart --metrics "$LAB_TMP/restart.metrics" \
		--cmdline "lab.run=bootcount lab.boots=4"
	counts=$(sed -n 's/^L2 bootcount \([0-9]*\) .*/\1/p' restart.log | tr -d '\r' | tr '\n' ' ')
	sums=$(sed -n 's/^L2 bootcount [0-9]* data \([0-9a-f]*\) .*/\1/p' restart.log | sort -u | wc -l)
	ups=$(sed -n 's/^L2 bootcount .* uptime \([0-9.]*\).*/\1/p' restart.log | tr -d '\r' | tr '\n' ' ')
	reboots=$(sed -n 's/.*"reboots": *\([0-9]*\).*/\1/p' "$LAB_TMP/restart.metrics" | tail -1)
	echo "LAB: restart: boots seen '$counts', uptimes '$ups', reboots $reboots, status $L2_RC in ${L2_SECS}s"
	if [ "$counts" = "1 2 3 4 " ] && [ "$L2_RC" = 0 ]; then
		pass restart-boots-4
	else
		fail restart-boots-4 "boot counts '$counts', kvmrun status $L2_RC"
		show restart.log
	fi
	if [ "$sums" = 1 ] && [ -n "$counts" ]; then
		pass restart-disk-kept
	else
		fail restart-disk-kept "the first boot's data read back $sums different ways"
	fi
	# A fresh boot each time: no boot's uptime goes past the time one boot takes.
	if [ -n "$ups" ] && awk -v u="$ups" 'BEGIN { n = split(u, a, " "); for (i = 1; i <= n; i++) if (a[i] > 60) exit 1 }'; then
		pass restart-fresh-boots
	else
		fail restart-fresh-boots "uptimes at each boot's count: '$ups'"
	fi
	if [ "$reboots" = 3 ]; then
		pass restart-metrics
	else
		fail restart-metrics "metrics reboots '$reboots', wanted 3"
	fi
fi
