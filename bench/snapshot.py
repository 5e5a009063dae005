#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Restore against cold boot, in one run: the probe guest (echo mode) booted cold and restored
from a snapshot, at 128 MiB and 2 GiB, alternating, BENCH_RUNS times each (default 10).

Per run: `running` (kvmrun's own --ready-fd line: microseconds from its main() to the first
KVM_RUN) and `answer` (ms from launch until the guest echoes a line sent at launch: for a cold
boot the whole boot, for a restore the time until the restored guest works). Then the snapshot
write (time from kvmrun's log, memory file size and allocation) and BENCH_CLONES (default 20)
concurrent clones of the 128 MiB snapshot: each one's Pss. Prints medians and ratios.

The peer, in the same run and alternating with kvmrun's rows: QEMU microvm (Debian's
qemu-system-x86, -accel kvm, as bench/restart.py starts it) with the same probe guest and RAM
sizes. Its snapshot: QMP `stop` + `migrate` to "exec:cat > FILE" once the guest is echo-ready
(QEMU 7.2 has no file: migration URI; no bandwidth cap); the write time is QEMU's own
(query-migrate total-time).
Its restore (qemu-restore-*): a fresh QEMU with -incoming "exec:cat FILE", QMP `cont` once the
incoming migration completed (the source was stopped, so the guest stays paused until then),
then the line, and the time from launch until the guest echoes it. Beside it: launch until the
guest runs (QEMU: `cont` answered; kvmrun: its --ready-fd line, written just before the first
KVM_RUN). Prints kvmrun / QEMU ratios. BENCH_QEMU=0 leaves the peer out.

    python3 bench/snapshot.py            (needs /dev/kvm; on a host without it:
    test/l1/run.sh -g bench "python3 bench/snapshot.py")
"""
import json
import os
import re
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KVMRUN = os.environ.get("KVMRUN", os.path.join(TOP, "kvmrun"))
PROBE = os.path.join(TOP, "test", "guest", "out", "probe.pvh")
RUNS = int(os.environ.get("BENCH_RUNS", "10"))
CLONES = int(os.environ.get("BENCH_CLONES", "20"))
TMP = tempfile.mkdtemp(prefix="kvmrun-snapbench.")
PEER = os.environ.get("BENCH_QEMU", "1") != "0"
QEMU_CPU = os.environ.get("BENCH_QEMU_CPU", "host,-arch-capabilities")  # as bench/restart.py
QEMU_ACCEL = os.environ.get("BENCH_QEMU_ACCEL", "kvm")


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
    """(running_us, answer_ms, launch to the ready line ms) for a guest in echo mode; None on
    failure. A thread blocks on the ready fd, so the line's arrival is timed without polling."""
    p, r, t0 = launch(args)
    got = {}

    def ready_reader():
        got["line"] = read_until(r, b"\n", 60) or b""
        got["t"] = time.monotonic()

    th = threading.Thread(target=ready_reader, daemon=True)
    th.start()
    p.stdin.write(b"bench\n")
    p.stdin.flush()
    seen = read_until(p.stdout.fileno(), b"PROBE echo=bench")
    answer = (time.monotonic() - t0) * 1000
    th.join(5)
    ready = got.get("line", b"")
    os.close(r)
    p.stdin.write(b"quit\n")
    p.stdin.flush()
    try:
        p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
    m = re.search(rb"running (\d+)", ready)
    if not (seen and m and p.returncode == 0):
        return None
    return int(m.group(1)), answer, (got["t"] - t0) * 1000


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


class Qmp:
    """QMP over a unix socket QEMU connects to (-chardev socket,...,server=off): this side
    listens first, so nothing polls for QEMU's socket to appear."""

    def __init__(self, listener, timeout=120):
        listener.settimeout(timeout)
        self.sock, _ = listener.accept()
        listener.close()
        self.sock.settimeout(timeout)
        self.file = self.sock.makefile("rb")
        self.events = []
        self.read()  # the greeting
        self.cmd("qmp_capabilities")

    def read(self):
        line = self.file.readline()
        if not line:
            raise EOFError("QMP: QEMU closed the socket")
        return json.loads(line)

    def cmd(self, name, **args):
        self.sock.sendall(json.dumps({"execute": name, "arguments": args}).encode() + b"\n")
        while True:
            msg = self.read()
            if "event" in msg:
                self.events.append(msg)
            elif "error" in msg:
                raise RuntimeError(f"QMP {name}: {msg['error']}")
            elif "return" in msg:
                return msg["return"]

    def event(self, match):
        """Wait for the first event `match` accepts (ones already received count)."""
        while True:
            for e in self.events:
                if match(e):
                    self.events.remove(e)
                    return e
            msg = self.read()
            if "event" in msg:
                self.events.append(msg)

    def close(self):
        self.file.close()
        self.sock.close()


def qemu_bin():
    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        subprocess.run([os.path.join(TOP, "build.sh"), "need", "qemu-system-x86"], check=True)
        qemu = shutil.which("qemu-system-x86_64")
    return qemu


def qemu_launch(mem, extra):
    """QEMU microvm with the probe in echo mode and a QMP connection: (process, Qmp, t0)."""
    path = os.path.join(TMP, f"qmp-{os.getpid()}-{time.monotonic_ns()}.sock")
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lsock.bind(path)
    lsock.listen(1)
    cmd = [QEMU, "-M", "microvm,x-option-roms=off,rtc=off", "-accel", QEMU_ACCEL,
           "-cpu", QEMU_CPU, "-m", mem, "-nodefaults", "-no-user-config", "-nographic",
           "-serial", "stdio", "-kernel", PROBE, "-append", "probe.exit=echo",
           "-chardev", f"socket,id=qmp,path={path}", "-mon", "chardev=qmp,mode=control"] + extra
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        q = Qmp(lsock)
    except (OSError, EOFError):
        p.kill()
        p.communicate()
        raise
    finally:
        os.unlink(path)
    return p, q, t0


def qemu_end(p, q):
    try:
        q.cmd("quit")
    except (OSError, EOFError, RuntimeError):
        pass
    q.close()
    try:
        p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()


def qemu_take(mem):
    """QEMU's snapshot of the echo-ready probe: QMP stop + migrate to a file.
    (file, QEMU's total-time ms, wall ms from stop to completed, size, allocated)."""
    f = os.path.join(TMP, f"qemu-{mem}.mig")
    p, q, _ = qemu_launch(mem, [])
    if not read_until(p.stdout.fileno(), b"PROBE echo-ready"):
        qemu_end(p, q)
        return None
    t = time.monotonic()
    # no bandwidth cap (QEMU 7.2's default is 32 MiB/s): a save to a file, as libvirt's does
    q.cmd("migrate-set-parameters", **{"max-bandwidth": 1 << 40})
    q.cmd("stop")
    q.cmd("migrate", uri=f"exec:cat > {f}")
    while True:  # query-migrate, as a launcher would without events
        st = q.cmd("query-migrate")
        if st.get("status") in ("completed", "failed", "cancelled"):
            break
        time.sleep(0.01)
    wall = (time.monotonic() - t) * 1000
    qemu_end(p, q)
    if st.get("status") != "completed":
        print(f"QEMU snapshot {mem}: migration {st.get('status')}", file=sys.stderr)
        return None
    s = os.stat(f)
    return f, st.get("total-time", -1), wall, s.st_size, s.st_blocks * 512


def qemu_one(mem, f):
    """A fresh QEMU restoring `f`: (launch to running ms, answer ms, QMP ready ms, RAM loaded ms).
    The line goes in once `cont` has answered: bytes QEMU's serial took in while the incoming
    state was loading would be overwritten by the saved UART."""
    try:
        p, q, t0 = qemu_launch(mem, ["-global", "migration.x-events=on",
                                     "-incoming", f"exec:cat {f}"])
    except (OSError, EOFError, socket.timeout):
        return None
    t_qmp = time.monotonic()
    ok = None
    try:
        if q.cmd("query-status")["status"] == "inmigrate":
            e = q.event(lambda e: e["event"] == "MIGRATION" and
                        e["data"]["status"] in ("completed", "failed", "cancelled"))
            if e["data"]["status"] != "completed":
                raise RuntimeError(f"incoming migration {e['data']['status']}")
        t_loaded = time.monotonic()
        q.cmd("cont")
        t_run = time.monotonic()
        p.stdin.write(b"bench\n")
        p.stdin.flush()
        if read_until(p.stdout.fileno(), b"PROBE echo=bench"):
            t_ans = time.monotonic()
            ok = tuple((x - t0) * 1000 for x in (t_run, t_ans, t_qmp, t_loaded))
    except (OSError, EOFError, RuntimeError, socket.timeout) as e:
        print(f"QEMU restore {mem}: {e}", file=sys.stderr)
    qemu_end(p, q)
    return ok


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
    global QEMU
    host = os.uname()
    QEMU = qemu_bin() if PEER else None
    print(f"kvmrun snapshot benchmark: {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}, "
          f"{host.release}, {os.cpu_count()} CPUs; {RUNS} runs per row, alternating")
    if QEMU:
        print("peer: " + subprocess.run([QEMU, "--version"], capture_output=True,
                                        text=True).stdout.splitlines()[0] +
              f", -M microvm -accel {QEMU_ACCEL} -cpu {QEMU_CPU}")
    snaps, written, qsnaps = {}, {}, {}
    for mem in ("128M", "2G"):
        d, us, size, alloc = take(mem)
        snaps[mem] = d
        written[mem] = (us / 1000, size, alloc)
        print(f"snapshot {mem}: written in {us / 1000:.1f} ms; memory file {size >> 20} MiB, "
              f"{alloc >> 10} KiB allocated")
        if QEMU:
            qs = qemu_take(mem)
            if qs:
                qsnaps[mem] = qs
                print(f"QEMU snapshot {mem}: written in {qs[1]:.1f} ms (QEMU's total-time; "
                      f"QMP stop to completed {qs[2]:.1f} ms); migration file {qs[3] >> 10} KiB, "
                      f"{qs[4] >> 10} KiB allocated")
            else:
                print(f"QEMU snapshot {mem}: failed")
    rows = {k: [] for k in ("cold-128M", "restore-128M", "cold-2G", "restore-2G")}
    qrows = {f"qemu-restore-{m}": [] for m in qsnaps}
    for _ in range(RUNS):
        for name in rows:
            kind, mem = name.split("-")
            args = (["-k", PROBE, "-m", mem, "-c", "probe.exit=echo"] if kind == "cold"
                    else ["--restore", snaps[mem]])
            r = one(args)
            if r:
                rows[name].append(r)
            if kind == "restore" and f"qemu-restore-{mem}" in qrows:
                r = qemu_one(mem, qsnaps[mem][0])
                if r:
                    qrows[f"qemu-restore-{mem}"].append(r)
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
    qmed = {}
    if QEMU:
        # The peer: launch to running (kvmrun's ready line; QEMU's cont answered) and to the answer.
        print("| restore | ok | launch to QMP ready ms | launch to RAM loaded ms | "
              "launch to the guest running ms (median) | "
              "launch to the guest's answer ms (median) |")
        print("|---|---|---|---|---|---|")
        for mem in ("128M", "2G"):
            vals = rows[f"restore-{mem}"]
            if vals:
                print(f"| kvmrun {mem} | {len(vals)}/{RUNS} | - | - | "
                      f"{statistics.median(v[2] for v in vals):.1f} | "
                      f"{statistics.median(v[1] for v in vals):.1f} |")
            vals = qrows.get(f"qemu-restore-{mem}", [])
            if not vals:
                print(f"| QEMU {mem} | 0/{RUNS} | - | - | - | - |")
                continue
            qmed[mem] = [statistics.median(v[i] for v in vals) for i in range(4)]
            print(f"| QEMU {mem} | {len(vals)}/{RUNS} | {qmed[mem][2]:.1f} | {qmed[mem][3]:.1f} | "
                  f"{qmed[mem][0]:.1f} | {qmed[mem][1]:.1f} |")
        for mem in qmed:
            vals = rows[f"restore-{mem}"]
            if not vals:
                continue
            run = statistics.median(v[2] for v in vals) / qmed[mem][0]
            ans = statistics.median(v[1] for v in vals) / qmed[mem][1]
            ms, _, alloc = written[mem]
            qs = qsnaps[mem]
            print(f"kvmrun / QEMU, {mem}: restore to running {run:.3f}x, to the answer {ans:.3f}x; "
                  f"snapshot write {ms / qs[1] if qs[1] > 0 else float('nan'):.3f}x; "
                  f"file allocated {alloc / qs[4] if qs[4] else float('nan'):.3f}x")
    n, pss = clones(snaps["128M"])
    good = [x for x in pss if x >= 0]
    print(f"{CLONES} concurrent clones of the 128 MiB snapshot: {n} answered; Pss per clone KiB "
          f"median {statistics.median(good) if good else -1}, max {max(good) if good else -1}")
    shutil.rmtree(TMP, ignore_errors=True)
    peer_ok = not QEMU or len(qmed) == 2
    return 0 if len(med) == 4 and n == CLONES and peer_ok else 1


QEMU = None
sys.exit(main())
