# shellcheck shell=sh
# --memory SIZE is what the guest has: MemTotal is SIZE less the kernel's own
# reservations (its image, struct pages, the legacy hole), which stay under
# 16 MiB + 3% for this small kernel.
for m in 64M 2G; do
	need_kvmrun "memory-$m" || continue
	case $m in
	*M) bytes=$((${m%M} << 20)) ;;
	*G) bytes=$((${m%G} << 30)) ;;
	esac
	l2_run "mem$m.log" --kernel "$L2_BZIMAGE" --initrd "$L2_INITRD" --memory "$m" \
		--cmdline "lab.run=report,reboot"
	expect_clean "memory-$m-boot" "mem$m.log" '^L2: report done' || continue
	kb=$(sed -n 's/^L2 MemTotal: *\([0-9]*\) kB.*/\1/p' "mem$m.log")
	have=$((kb * 1024))
	slack=$(((16 << 20) + bytes / 100 * 3))
	if [ -z "$kb" ]; then
		fail "memory-$m" "no MemTotal in the report"
	elif [ "$have" -gt "$bytes" ] || [ "$have" -lt $((bytes - slack)) ]; then
		fail "memory-$m" "MemTotal ${kb} kB is not within $((slack >> 20)) MiB below $m"
	else
		echo "LAB: --memory $m: MemTotal $kb kB"
		pass "memory-$m"
	fi
done
