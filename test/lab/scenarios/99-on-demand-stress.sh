# shellcheck shell=sh
# On demand only (test/lab/run.sh on-demand-stress): kvmrun started and
# ended 150 times in a row in one L1, the probe guest with 1 and 2 vCPUs,
# every tenth run a Linux L2. This is what reproduced L1 hangs
# after VMM exits with a 2-vCPU L1 (README, "When L1 dies"); a pass says
# the lab (and kvmrun's start and exit) held up through all of them.
need_kvmrun on-demand-stress || return 0
[ -f /lab/probe.bzImage ] || { fail on-demand-stress "no probe guest in L1 (run ./build.sh first)"; return 0; }
i=0 bad=0
while [ $i -lt 150 ]; do
	i=$((i + 1))
	c=$((i % 2 + 1))
	timeout -s KILL 30 "$KVMRUN" --kernel /lab/probe.bzImage --cpus $c \
		--cmdline probe.exit=reset </dev/null >probe.log 2>&1
	rc=$?
	if [ $rc != 0 ]; then
		bad=$((bad + 1))
		echo "LAB: probe run $i (--cpus $c): status $rc"
		tail -n 3 probe.log
	fi
	if [ $((i % 10)) = 0 ]; then
		l2_run "l2-$i.log" --kernel "$L2_BZIMAGE" --initrd "$L2_INITRD" --cpus $c \
			--cmdline "lab.run=report,reboot"
		if ! has "l2-$i.log" '^L2: report done' || [ "$L2_RC" != 0 ]; then
			bad=$((bad + 1))
			show "l2-$i.log" 10
		fi
	fi
done
if [ $bad = 0 ]; then
	pass on-demand-stress
else
	fail on-demand-stress "$bad of $i runs went wrong (above)"
fi
