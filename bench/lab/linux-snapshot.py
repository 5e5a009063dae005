#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Linux snapshot and restore against cold boot, where /dev/kvm works (in the lab: inside L1,
run by bench/lab-snapshot.sh, which builds the inputs). For each kernel (lab: the lab's small
L2 kernel as a PVH vmlinux; deb: Debian's stock kernel as a bzImage, ACPI on), 256 MiB, 1 vCPU:

  cold     launch -> the init's first line ("L2: init started"), BENCH_RUNS times
  restore  launch of `kvmrun --restore` with a command already on its stdin -> the guest's
           first console byte, and -> the command's answer, BENCH_RUNS times
  write    the snapshot itself (kvmrun's log: time, memory written; the file's allocation)
  clones   BENCH_CLONES (default 50) restores of the one snapshot at once: all must answer;
           then each one's Pss, and the part of it that is the pages the clone wrote itself
           (its guest RAM mapping's Private_Dirty): Pss minus those is what a clone costs
           beyond the pages it dirtied (the target: <= 1 MiB)

Times are ms from fork+exec, medians. The snapshot is taken 1 s after the guest's shell is up.
Environment: LS_KVMRUN, LS_LAB_KERNEL, LS_LAB_INITRD, LS_DEB_KERNEL, LS_DEB_INITRD (inputs),
BENCH_RUNS (8), BENCH_CLONES (50), BENCH_SETS ("lab deb").
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

RUNS = int(os.environ.get("BENCH_RUNS", "8"))
CLONES = int(os.environ.get("BENCH_CLONES", "50"))
SETS = os.environ.get("BENCH_SETS", "lab deb").split()
W = tempfile.mkdtemp(prefix="kvmrun-linuxsnap.")


def die(msg):
    print(f"bench/lab/linux-snapshot.py: error: {msg}", file=sys.stderr)
    sys.exit(1)


def inputs():
    files = {}
    for v in ("LS_KVMRUN", "LS_LAB_KERNEL", "LS_LAB_INITRD", "LS_DEB_KERNEL", "LS_DEB_INITRD"):
        p = os.environ.get(v, "")
        if not os.path.isfile(p):
            die(f"{v}: '{p}' is not a file")
        # private copies on local storage (in L1 the inputs sit on 9p)
        files[v] = shutil.copy(p, os.path.join(W, v.lower()))
    os.chmod(files["LS_KVMRUN"], 0o755)
    return files


class Guest:
    """A kvmrun with its console on pipes; times in ms from launch."""

    def __init__(self, argv, stdin_text=b""):
        self.out, self.t0 = b"", time.monotonic()
        self.marks = {}
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT)
        if stdin_text:
            self.p.stdin.write(stdin_text)
            self.p.stdin.flush()

    def pump(self, timeout):
        r, _, _ = select.select([self.p.stdout], [], [], timeout)
        if not r:
            return False
        chunk = os.read(self.p.stdout.fileno(), 65536)
        if not chunk:
            return False
        now = (time.monotonic() - self.t0) * 1000
        self.marks.setdefault("first", now)
        self.out += chunk
        return True

    def until(self, needle, timeout=120):
        end = time.monotonic() + timeout
        while needle not in self.out and time.monotonic() < end:
            if not self.pump(0.5) and self.p.poll() is not None:
                break
        if needle in self.out:
            self.marks.setdefault(needle, (time.monotonic() - self.t0) * 1000)
            return self.marks[needle]
        return None

    def end(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else float("nan")


def machine(f, kset):
    k, i = f[f"LS_{kset.upper()}_KERNEL"], f[f"LS_{kset.upper()}_INITRD"]
    return [f["LS_KVMRUN"], "--kernel", k, "--initrd", i, "--memory", "256M", "--cpus", "1"]


def progress(msg):
    """A line now and then: test/l1/run.sh takes an L1 silent for 300 s as hung."""
    print(f"linux-snapshot: {msg}", flush=True)


def cold(f, kset):
    progress(f"{kset}: {RUNS} cold boots")
    times = []
    for _ in range(RUNS):
        g = Guest(machine(f, kset) + ["--cmdline", "quiet lab.run=reboot"])
        times.append(g.until(b"L2: init started"))
        g.until(b"L2: reboot", 60)
        g.end()
    return times


def take(f, kset, d):
    log = os.path.join(W, f"{kset}.log")
    g = Guest(machine(f, kset) + ["--cmdline", "quiet lab.run=shell", "--snapshot-dir", d,
                                 "--log", log])
    if g.until(b"L2: shell ready") is None:
        die(f"{kset}: no shell: {g.out[-300:]!r}")
    time.sleep(1)
    g.p.send_signal(signal.SIGUSR2)
    g.p.wait(timeout=120)
    text = open(log).read()
    m = re.search(r"snapshot written to .*?: (\d+) of (\d+) MiB of RAM, \d+ vCPUs, in (\d+) us",
                  text)
    if g.p.returncode != 0 or not m:
        die(f"{kset}: the snapshot failed (status {g.p.returncode}): {text[-300:]!r}")
    alloc = os.stat(os.path.join(d, "memory")).st_blocks * 512
    return int(m.group(1)), int(m.group(3)) / 1000, alloc


def restores(f, d):
    progress(f"{RUNS} restores")
    first, answer = [], []
    for n in range(RUNS):
        g = Guest([f["LS_KVMRUN"], "--restore", d], f"echo an''swer{n}\n".encode())
        answer.append(g.until(f"answer{n}".encode(), 60))
        first.append(g.marks.get("first"))
        g.end()
    return first, answer


def smaps_numbers(pid, memfile):
    """(Pss of the process, Private_Dirty of its guest RAM mapping) in KiB."""
    pss = dirty = 0
    inside = False
    with open(f"/proc/{pid}/smaps") as fh:
        for line in fh:
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                inside = line.rstrip().endswith(memfile)
            elif line.startswith("Pss:"):
                pss += int(line.split()[1])
            elif inside and line.startswith("Private_Dirty:"):
                dirty += int(line.split()[1])
    return pss, dirty


def clones(f, d):
    progress(f"{CLONES} clones at once")
    gs = [Guest([f["LS_KVMRUN"], "--restore", d], f"echo cl''one{n}\n".encode())
          for n in range(CLONES)]
    ok = [g.until(f"clone{n}".encode(), 300) is not None for n, g in enumerate(gs)]
    time.sleep(1)
    memfile = os.path.realpath(os.path.join(d, "memory"))
    rows = []
    for g in gs:
        try:
            rows.append(smaps_numbers(g.p.pid, memfile))
        except OSError:
            rows.append(None)
    for g in gs:
        g.end()
    return sum(ok), rows


def main():
    if not os.access("/dev/kvm", os.W_OK):
        die("/dev/kvm is not usable")
    f = inputs()
    print(f"linux-snapshot: {RUNS} runs per row, {CLONES} clones; ms from launch (medians)")
    for kset in SETS:
        d = os.path.join(W, f"snap-{kset}")
        c = cold(f, kset)
        mib, write_ms, alloc = take(f, kset, d)
        first, answer = restores(f, d)
        n_ok, rows = clones(f, d)
        good = [r for r in rows if r]
        over = [p - dirty for p, dirty in good]
        print(f"{kset}: cold boot to init {med(c):.1f} ms; restore: first console byte "
              f"{med(first):.1f} ms, answer {med(answer):.1f} ms = "
              f"{100 * med(answer) / med(c):.1f}% of the cold boot to init")
        print(f"{kset}: snapshot write: {mib} MiB of RAM written in {write_ms:.1f} ms, memory "
              f"file {alloc >> 10} KiB allocated")
        if good:
            print(f"{kset}: {n_ok} of {CLONES} clones answered; Pss per clone: median "
                  f"{med([p for p, _ in good]):.0f} KiB, of it pages the clone wrote "
                  f"{med([x for _, x in good]):.0f} KiB; Pss beyond those: median "
                  f"{med(over):.0f} KiB, max {max(over)} KiB (target <= 1024)")
        else:
            print(f"{kset}: {n_ok} of {CLONES} clones answered; no smaps read")
    shutil.rmtree(W, ignore_errors=True)


if __name__ == "__main__":
    main()
