#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Restore against cold boot, in one run: the probe guest (echo mode) booted cold and restored
from a snapshot, at 128 MiB and 2 GiB, alternating, BENCH_RUNS times each (default 10).

Per run: `running` (kvmrun's own --ready-fd line: microseconds from its main() to the first
KVM_RUN) and `answer` (ms from launch until the guest echoes a line sent at launch: for a cold
boot the whole boot, for a restore the time until the restored guest works). Then the snapshot
write (time from kvmrun's log, memory file size and allocation) and BENCH_CLONES (default 20)
concurrent clones of the 128 MiB snapshot: each one's Pss. Prints medians and ratios.

    python3 bench/snapshot.py            (needs /dev/kvm; on a host without it:
    test/l1/run.sh -g bench "python3 bench/snapshot.py")
"""
import os
import re
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KVMRUN = os.environ.get("KVMRUN", os.path.join(TOP, "kvmrun"))
PROBE = os.path.join(TOP, "test", "guest", "out", "probe.pvh")
RUNS = int(os.environ.get("BENCH_RUNS", "10"))
CLONES = int(os.environ.get("BENCH_CLONES", "20"))
TMP = tempfile.mkdtemp(prefix="kvmrun-snapbench.")


def launch(args, log=None):
    r, w = os.pipe()
    extra = ["--ready-fd", str(w)] + (["--log", log] if log else [])
    t0 = time.monotonic()
    p = subprocess.Popen([KVMRUN] + args + extra, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, pass_fds=(w,))
    os.close(w)
    return p, r, t0


def read_until(fd, needle, timeout=60):
    buf, end = b"", time.monotonic() + timeout
    while needle not in buf and time.monotonic() < end:
        if select.select([fd], [], [], 0.5)[0]:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            buf += chunk
    return buf if needle in buf else None


def one(args):
    """(running_us, answer_ms) for a guest in echo mode; None on failure."""
    p, r, t0 = launch(args)
    p.stdin.write(b"bench\n")
    p.stdin.flush()
    seen = read_until(p.stdout.fileno(), b"PROBE echo=bench")
    answer = (time.monotonic() - t0) * 1000
    ready = read_until(r, b"\n", 5) or b""
    os.close(r)
    p.stdin.write(b"quit\n")
    p.stdin.flush()
    try:
        p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
    m = re.search(rb"running (\d+)", ready)
    return (int(m.group(1)), answer) if seen and m and p.returncode == 0 else None


def take(mem):
    d = os.path.join(TMP, f"snap-{mem}")
    log = os.path.join(TMP, f"take-{mem}.log")
    p, r, _ = launch(["-k", PROBE, "-m", mem, "-c", "probe.exit=echo", "--snapshot-dir", d], log)
    read_until(p.stdout.fileno(), b"PROBE echo-ready")
    p.send_signal(signal.SIGUSR2)
    p.communicate(timeout=120)
    os.close(r)
    m = re.search(r"snapshot written .*: (\d+) of (\d+) MiB .* in (\d+) us", open(log).read())
    st = os.stat(os.path.join(d, "memory"))
    return d, (int(m.group(3)) if m else -1), st.st_size, st.st_blocks * 512


def pss_kib(pid):
    with open(f"/proc/{pid}/smaps_rollup") as fh:
        for line in fh:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return -1


def clones(d):
    ps = [subprocess.Popen([KVMRUN, "--restore", d], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(CLONES)]
    for p in ps:
        p.stdin.write(b"x\n")
        p.stdin.flush()
    ok = [read_until(p.stdout.fileno(), b"PROBE echo=x", 60) is not None for p in ps]
    pss = [pss_kib(p.pid) for p in ps]
    for p in ps:
        p.stdin.write(b"quit\n")
        p.stdin.flush()
    for p in ps:
        try:
            p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
    return sum(ok), pss


def main():
    host = os.uname()
    print(f"kvmrun snapshot benchmark: {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}, "
          f"{host.release}, {os.cpu_count()} CPUs; {RUNS} runs per row, alternating")
    snaps = {}
    for mem in ("128M", "2G"):
        d, us, size, alloc = take(mem)
        snaps[mem] = d
        print(f"snapshot {mem}: written in {us / 1000:.1f} ms; memory file {size >> 20} MiB, "
              f"{alloc >> 10} KiB allocated")
    rows = {k: [] for k in ("cold-128M", "restore-128M", "cold-2G", "restore-2G")}
    for _ in range(RUNS):
        for name in rows:
            kind, mem = name.split("-")
            args = (["-k", PROBE, "-m", mem, "-c", "probe.exit=echo"] if kind == "cold"
                    else ["--restore", snaps[mem]])
            r = one(args)
            if r:
                rows[name].append(r)
    med = {}
    print("| row | ok | main to first KVM_RUN us (median) | launch to the guest's answer ms (median) |")
    print("|---|---|---|---|")
    for name, vals in rows.items():
        if not vals:
            print(f"| {name} | 0/{RUNS} | - | - |")
            continue
        med[name] = (statistics.median(v[0] for v in vals), statistics.median(v[1] for v in vals))
        print(f"| {name} | {len(vals)}/{RUNS} | {med[name][0]:.0f} | {med[name][1]:.1f} |")
    if len(med) == 4:
        print(f"first KVM_RUN, restore / cold: 128M {med['restore-128M'][0] / med['cold-128M'][0]:.3f}x, "
              f"2G {med['restore-2G'][0] / med['cold-2G'][0]:.3f}x; restore 2G / 128M "
              f"{med['restore-2G'][0] / med['restore-128M'][0]:.3f}x")
        print(f"answer, restore / cold: 128M {med['restore-128M'][1] / med['cold-128M'][1]:.3f}x, "
              f"2G {med['restore-2G'][1] / med['cold-2G'][1]:.3f}x")
    n, pss = clones(snaps["128M"])
    good = [x for x in pss if x >= 0]
    print(f"{CLONES} concurrent clones of the 128 MiB snapshot: {n} answered; Pss per clone KiB "
          f"median {statistics.median(good) if good else -1}, max {max(good) if good else -1}")
    shutil.rmtree(TMP, ignore_errors=True)
    return 0 if len(med) == 4 and n == CLONES else 1


sys.exit(main())
