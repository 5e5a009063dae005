# SPDX-License-Identifier: Apache-2.0
"""The interactive console: a pty like a user's terminal, and a pipe like a script's."""
import os
import select
import signal
import subprocess
import termios
import time

from kvmtest import KVMRUN, probe, result


def read_until(fd, marker, timeout=30):
    buf = b""
    deadline = time.time() + timeout
    while marker not in buf and time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
    return buf


def pty_session():
    master, slave = os.openpty()
    before = termios.tcgetattr(slave)
    p = subprocess.Popen([KVMRUN, "-k", probe("pvh"), "-c", "probe.exit=echo"],
                         stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    seen = read_until(master, b"PROBE echo-ready")
    raw = termios.tcgetattr(slave)
    result("console/pty-raw-mode", not (raw[3] & termios.ICANON) and not (raw[3] & termios.ECHO),
           f"lflag {raw[3]:#x}")
    os.write(master, b"hello guest\r")
    seen += read_until(master, b"PROBE echo=hello guest")
    result("console/pty-line-echo", b"PROBE echo=hello guest" in seen, seen[-300:])
    # Ctrl-A Ctrl-A passes one Ctrl-A through; Ctrl-A x quits.
    os.write(master, b"a\x01\x01b\r")
    seen += read_until(master, b"PROBE echo=a^Ab")
    result("console/pty-escape-literal", b"PROBE echo=a^Ab" in seen, seen[-200:])
    os.write(master, b"\x01x")
    try:
        status = p.wait(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        status = "hung"
    after = termios.tcgetattr(slave)
    result("console/pty-ctrl-a-x-quits", status == 0, f"status {status}")
    result("console/pty-mode-restored", after == before, f"{after} != {before}")
    os.close(master)
    os.close(slave)


def pipe_session():
    p = subprocess.Popen([KVMRUN, "-k", probe("bzimage"), "-c", "probe.exit=echo"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = read_until(p.stdout.fileno(), b"PROBE echo-ready")
    # Ctrl-A is plain data on a pipe: only a terminal gets the escape.
    p.stdin.write(b"one\ntwo \x01x\nquit\n")
    p.stdin.flush()
    try:
        out, err = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    out = seen + out
    result("console/pipe-lines", b"PROBE echo=one" in out and b"PROBE echo=two ^Ax" in out
           and p.returncode == 0, f"status {p.returncode} out {out[-300:]!r} err {err!r}")


def slow_reader():
    """A console nobody reads for a while must not stop the guest for good."""
    r, w = os.pipe()
    p = subprocess.Popen([KVMRUN, "-k", probe("pvh"), "-n", "2"], stdin=subprocess.DEVNULL,
                         stdout=w, stderr=subprocess.PIPE)
    os.close(w)
    time.sleep(1.0)  # the pipe stays unread for a second
    out = read_until(r, b"PROBE done")
    status = p.wait(timeout=30)
    os.close(r)
    result("console/slow-reader", status == 0 and b"PROBE done" in out, f"status {status}")


def stuck_reader():
    """A console nobody ever reads, and a guest that prints on: main never blocks on it. A
    SIGINT still ends kvmrun at once (its last output waits a second at most), and an
    API-less orchestrator's SIGTERM is served the same way."""
    r, w = os.pipe()
    p = subprocess.Popen([KVMRUN, "-k", probe("pvh"), "-c", "probe.exit=print probe.count=10000000"],
                         stdin=subprocess.DEVNULL, stdout=w, stderr=subprocess.PIPE)
    os.close(w)
    time.sleep(2.0)  # the pipe (64 KiB) and the UART (16 KiB) are full long before this
    t0 = time.monotonic()
    p.send_signal(signal.SIGINT)
    try:
        status = p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        status = p.wait()
    took = time.monotonic() - t0
    os.close(r)
    result("console/stuck-reader-sigint", status == 130 and took < 5,
           f"status {status} (want 130) after {took:.2f} s")


def input_while_guest_does_not_read():
    """Console input the guest does not read (the UART's 1 KiB full): kvmrun waits for room
    without spinning on stdin."""
    p = subprocess.Popen([KVMRUN, "-k", probe("pvh"), "-c", "probe.exit=wait"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = read_until(p.stdout.fileno(), b"PROBE waiting")
    try:
        p.stdin.write(b"x" * 8192)  # more than the UART takes; the rest stays in the pipe
        p.stdin.flush()
    except BrokenPipeError:
        pass
    time.sleep(0.5)
    def cpu():  # main's own (the vCPU spins in the guest's wait loop)
        with open(f"/proc/{p.pid}/task/{p.pid}/stat") as fh:
            f = fh.read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    c0, t0 = cpu(), time.monotonic()
    time.sleep(2.0)
    used = (cpu() - c0) / (time.monotonic() - t0)
    p.kill()
    p.wait()
    result("console/full-uart-no-spin", b"PROBE waiting" in seen and used < 0.3,
           f"kvmrun's main thread used {used * 100:.0f}% of a CPU while the guest left its "
           f"input unread")


pty_session()
pipe_session()
slow_reader()
stuck_reader()
input_while_guest_does_not_read()
