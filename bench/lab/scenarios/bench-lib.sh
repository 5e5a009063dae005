# shellcheck shell=sh disable=SC2034
# Shared by the benchmark scenarios (bench/lab/scenarios/bench-*.sh), which
# run inside the lab's L1 like test/lab/scenarios, sourced after l1/lib.sh.
VMMTIME=/lab/bench/vmmtime
QEMU=/usr/bin/qemu-system-x86_64
BENCH_L2_INITRD=/lab/bench/l2.cpio.lz4
export LD_LIBRARY_PATH=/lib/x86_64-linux-gnu

# bench_arg NAME DEFAULT: the value of bench.NAME= on L1's command line.
bench_arg() {
	_v=$(tr ' ' '\n' </proc/cmdline | sed -n "s/^bench\.$1=//p" | tail -1)
	echo "${_v:-$2}"
}

# QEMU microvm as the peer, as close to kvmrun as it goes: 1 vCPU, no PIT,
# PIC, RTC, option ROMs or ACPI (so it puts virtio_mmio.device= words on the
# command line itself), modern virtio-mmio like kvmrun's.
QEMU_CPU=$(bench_arg qemu_cpu host)
qemu_base() {
	echo "-M microvm,x-option-roms=off,pit=off,pic=off,rtc=off,acpi=off -enable-kvm -cpu $QEMU_CPU -smp 1" \
		"-nodefaults -no-user-config -nographic -serial stdio -no-reboot -global virtio-mmio.force-legacy=false"
}
# kvmrun's default command line, given to QEMU too, so both guests get the
# same words (kvmrun adds its own virtio_mmio.device= words; QEMU as well).
KVMRUN_DEFAULT_CMDLINE="console=ttyS0 reboot=k panic=1 pci=off i8042.noaux i8042.nomux i8042.dumbkbd"

# vmm_run TAG LOG TIMEOUT VMM-ARGS...: run under vmmtime, console in LOG;
# vmmtime's lines come out on L1's console as "BENCH-RAW TAG ...". With
# VMM_XPID set, vmmtime times that process along ("xcpu" lines).
vmm_run() {
	_tag=$1 _log=$2 _to=$3
	shift 3
	echo "+ $*" >"$_log.cmd"
	# shellcheck disable=SC2086 # ${VMM_XPID:+...}: two words or none
	"$VMMTIME" -o "$_log" -p "$_log.pid" -t "$_to" -m "L2: init started" ${VMM_XPID:+-x $VMM_XPID} \
		-- "$@" >"$_log.t" 2>&1
	sed "s/^/BENCH-RAW $_tag /" "$_log.t"
	grep -a '^BENCH-RESULT' "$_log" | tr -d '\r' | sed "s/^BENCH-RESULT /BENCH-RAW $_tag result /"
	# kvmrun runs pass --metrics LOG.metrics: why it stopped (a guest that ended early says how).
	[ ! -f "$_log.metrics" ] || sed -n 's/.*"event":"exit".*"reason":"\([^"]*\)".*/\1/p' "$_log.metrics" |
		tail -n 1 | sed "s/^/BENCH-RAW $_tag reason /"
	# The console's last lines: where a guest that ended early stopped.
	tail -n 3 "$_log" | tr -d '\r' | sed "s/^/BENCH-RAW $_tag tail /"
	cp "$_log" "$_log.cmd" "$LAB_OUT/" 2>/dev/null
	grep -q '^exit 0 ' "$_log.t" && grep -q '^mark 0 ' "$_log.t"
}

# pick_qemu_cpu LOG ARGS...: find a -cpu value this L1's kvm-amd takes
# (plain "host" first), by booting the guest given by ARGS (QEMU args after
# the base ones) once; sets QEMU_CPU.
pick_qemu_cpu() {
	_log=$1
	shift
	for c in "$QEMU_CPU" host,-arch-capabilities max; do
		QEMU_CPU=$c
		# shellcheck disable=SC2046
		if vmm_run warmup-qemu "$_log" 300 "$QEMU" $(qemu_base) "$@" >/dev/null; then
			echo "BENCH-INFO qemu_cpu=$QEMU_CPU"
			return 0
		fi
		echo "BENCH-INFO qemu -cpu $c failed: $(tail -n 3 "$_log" | tr '\r\n' '  ')"
	done
	return 1
}

# alternate ROUNDS: run the scenario's k N (kvmrun) and q N (QEMU) for N =
# 1..ROUNDS, swapping which goes first every round. Status 1 if any failed.
alternate() {
	_alt_rc=0 _alt_i=1
	while [ "$_alt_i" -le "$1" ]; do
		if [ $((_alt_i % 2)) = 1 ]; then
			k $_alt_i || _alt_rc=1
			q $_alt_i || _alt_rc=1
		else
			q $_alt_i || _alt_rc=1
			k $_alt_i || _alt_rc=1
		fi
		_alt_i=$((_alt_i + 1))
	done
	return $_alt_rc
}
