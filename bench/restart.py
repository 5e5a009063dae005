#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Reboot benchmark: how fast a guest that reboots comes back, and whether it finds the last run.

The probe guest's reboot-triple mode prints whether the last run's mark is still in RAM
("PROBE reboot.memory=clean|stale"), leaves its mark and triple-faults. Rows, each run for
BENCH_SECS seconds per round, rounds alternating (BENCH_ROUNDS):
  kvmrun-restart  kvmrun --on-reboot restart: the same process boots again (RAM dropped, the
                  boot image and KVM state put back)
  qemu-reboot     QEMU microvm without -no-reboot: QEMU's own in-process system reset
  kvmrun-exec     a new kvmrun per boot (the default --on-reboot exit), back to back: what a
                  launcher that restarts its VM pays
Per row: boots per second, the median and p90 cycle (one boot's mark to the next), how many
boots found the last run's mark in RAM, and the VMM's peak RSS (VmHWM). Needs /dev/kvm
(./build.sh bench runs it in L1 where the host has none).
  python3 bench/restart.py      BENCH_SECS=8 BENCH_ROUNDS=3
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECS = float(os.environ.get("BENCH_SECS", "8"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CPU = os.environ.get("BENCH_QEMU_CPU", "host,-arch-capabilities")  # as bench/boot.sh
MARK = b"PROBE reboot.memory="


def hwm_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def loop(cmd, secs):
    """Run one VMM that reboots by itself for `secs`: (mark times, clean, stale, peak RSS KiB).
    A thread reads its console with blocking reads (polling would take L1's one vCPU)."""
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL)
    times, kinds = [], []

    def reader():
        for line in p.stdout:
            if line.startswith(MARK):
                times.append(time.monotonic())
                kinds.append(line[len(MARK):].strip())

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    time.sleep(secs)
    hwm = hwm_kib(p.pid)  # the peak so far: read before the kill
    p.kill()
    p.wait()
    t.join(timeout=5)
    return times, kinds.count(b"clean"), kinds.count(b"stale"), hwm


def execs(cmd, secs):
    """A new VMM per boot, back to back, for `secs`."""
    times, clean, stale, hwm = [], 0, 0, 0
    end = time.monotonic() + secs
    while time.monotonic() < end:
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        if MARK + b"clean" in r.stdout and r.returncode == 0:
            clean += 1
            times.append(time.monotonic())
    return times, clean, stale, hwm


def main():
    if not os.access("/dev/kvm", os.W_OK):
        sys.exit("bench/restart.py: /dev/kvm is not usable (./build.sh bench runs this in L1)")
    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        subprocess.run([os.path.join(TOP, "build.sh"), "need", "qemu-system-x86"], check=True)
        qemu = shutil.which("qemu-system-x86_64")
    work = tempfile.mkdtemp(prefix="kvmrun-restart.")
    kvmrun = os.path.join(work, "kvmrun")
    probe = os.path.join(work, "probe.pvh")
    shutil.copy(os.path.join(TOP, "kvmrun"), kvmrun)
    shutil.copy(os.path.join(TOP, "test/guest/out/probe.pvh"), probe)
    base = [kvmrun, "--memory", "128M", "--kernel", probe, "--cmdline", "probe.exit=reboot-triple"]
    rows = {
        "kvmrun-restart": (loop, base + ["--on-reboot", "restart"]),
        "qemu-reboot": (loop, [qemu, "-M", "microvm,x-option-roms=off,rtc=off", "-accel", "kvm",
                               "-cpu", CPU, "-m", "128M", "-nodefaults", "-no-user-config",
                               "-nographic", "-serial", "stdio", "-kernel", probe,
                               "-append", "probe.exit=reboot-triple"]),
        "kvmrun-exec": (execs, base),
    }
    got = {name: [] for name in rows}
    stats = {name: [0, 0, 0] for name in rows}  # clean, stale, hwm
    order = list(rows)
    for r in range(ROUNDS):
        for name in (order if r % 2 == 0 else order[::-1]):
            fn, cmd = rows[name]
            times, clean, stale, hwm = fn(cmd, SECS)
            got[name] += [b - a for a, b in zip(times, times[1:])]
            stats[name][0] += clean
            stats[name][1] += stale
            stats[name][2] = max(stats[name][2], hwm)
            print(f"bench/restart.py: round {r + 1} {name}: {len(times)} boots in {SECS:.0f} s",
                  file=sys.stderr, flush=True)
    shutil.rmtree(work)
    where = "inside L1 (QEMU TCG, emulated SVM)" if os.environ.get("L1_HOST") else "on this host"
    print(f"Reboot cycle, probe guest (reboot-triple), {ROUNDS} rounds x {SECS:.0f} s per row, "
          f"{where}; {subprocess.run([qemu, '--version'], capture_output=True, text=True).stdout.splitlines()[0]}")
    print(f"{'row':<16} {'boots/s':>8} {'cycle ms (median)':>18} {'p90':>8} {'clean':>6} "
          f"{'stale':>6} {'peak RSS MiB':>13}")
    med = {}
    for name in rows:
        d = sorted(got[name])
        if not d:
            print(f"{name:<16} no cycles measured")
            continue
        med[name] = statistics.median(d) * 1000
        p90 = d[min(len(d) - 1, int(len(d) * 0.9))] * 1000
        hwm = stats[name][2] / 1024 if stats[name][2] else float("nan")
        print(f"{name:<16} {len(d) / sum(d):8.1f} {med[name]:18.1f} {p90:8.1f} "
              f"{stats[name][0]:6d} {stats[name][1]:6d} {hwm:13.1f}")
    if "kvmrun-restart" in med and "qemu-reboot" in med:
        print(f"Ratio kvmrun-restart/qemu-reboot (median cycle): "
              f"{med['kvmrun-restart'] / med['qemu-reboot']:.2f}x")
    if "kvmrun-restart" in med and "kvmrun-exec" in med:
        print(f"Ratio kvmrun-restart/kvmrun-exec (median cycle): "
              f"{med['kvmrun-restart'] / med['kvmrun-exec']:.2f}x")


main()
