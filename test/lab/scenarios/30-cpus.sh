# shellcheck shell=sh
# --cpus N is what the guest sees in /proc/cpuinfo and nproc.
for n in 1 2 4; do
	need_kvmrun "cpus-$n" || continue
	l2_run "cpus$n.log" --kernel "$L2_BZIMAGE" --initrd "$L2_INITRD" --cpus "$n" \
		--cmdline "lab.run=report,reboot"
	expect_clean "cpus-$n-boot" "cpus$n.log" '^L2: report done' || continue
	got=$(sed -n 's/^L2 cpuinfo-processors=\([0-9]*\).*/\1/p' "cpus$n.log")
	online=$(sed -n 's/^L2 nproc=\([0-9]*\).*/\1/p' "cpus$n.log")
	if [ "$got" = "$n" ] && [ "$online" = "$n" ]; then
		pass "cpus-$n"
	else
		fail "cpus-$n" "guest sees $got processors in /proc/cpuinfo, nproc $online"
		show "cpus$n.log"
	fi
done
