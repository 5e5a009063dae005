# SPDX-License-Identifier: Apache-2.0
"""Each role's seccomp allowlist is exactly what that role calls.

The workloads that reach kvmrun's paths (the console, hostile disk and NIC scripts, and the
exits, signals, outputs and block-device disk below) run once more with KVMRUN pointing at a
wrapper that runs kvmrun under `strace -f -ff` (the scripts' own PASS/FAIL lines are shown
indented, not counted: under strace, timing checks may fail; only the traces matter here).
Not the whole suite: under ptrace in L1 it takes over 20 minutes, and its other runs repeat
these paths (boots of other formats and sizes). Every trace file is one thread or
process; its role comes from the name kvmrun gives it (kvmrun-vcpuN, kvmrun-ioN, kvmrun-netN,
kvmrun-teardown; the main thread is the one that execs kvmrun), and every call it makes after
its seccomp() counts for that role. `kvmrun --seccomp-list` gives the allowlists. FAIL when a
role called something its list lacks (the filter would have killed it) or when a list holds a
rule that no role ever used, unless CONTINGENT below says why the suite cannot reach it.
"""
import collections
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

from kvmtest import KVMRUN, TMP, TOP, probe, result

# Rules no workload here can reach, each with the host or path that needs it. Kept short:
# every entry is a call the filter allows without a test seeing it made.
CONTINGENT = {
    ("main", "clock_gettime"): "the vDSO's fallback: hosts whose clocksource has no vDSO path",
    ("vcpu", "clock_gettime"): "the vDSO's fallback, as for main",
    ("io", "clock_gettime"): "the vDSO's fallback, as for main",
    ("vcpu", ("ioctl", 0x5404)): "TCSETSF: the crash handler gives the terminal back when a "
                                 "vCPU thread faults",
    ("io", ("ioctl", 0x5404)): "TCSETSF: the same for a disk's I/O thread",
    ("net", "clock_gettime"): "the vDSO's fallback, as for main",
    ("net", "timerfd_settime"): "a NIC's rate limiter waiting (virtio.c's, as for a disk, "
                                "whose traced workload reaches it; NIC limits run in the lab)",
    ("net", ("ioctl", 0x5404)): "TCSETSF: the same for a NIC's thread",
    ("api", ("ioctl", 0x5404)): "TCSETSF: the same for the API thread",
    ("api", "ioctl"): "TCSETSF above: the API thread's only ioctl",
    ("opener", ("ioctl", 0x5404)): "TCSETSF: the same for the opener thread",
    ("api", "clock_gettime"): "the vDSO's fallback, as for main",
    ("opener", "clock_gettime"): "the vDSO's fallback, as for main",
    ("opener", ("ioctl", 0x80081272)): "BLKGETSIZE64: PATCH /drives path_on_host onto a block "
                                        "device (the workload swaps image files)",
    ("opener", ("ioctl", 0x1268)): "BLKSSZGET: the same",
    ("opener", "ioctl"): "the two requests above: a block device swapped in",
    ("teardown", "read"): "the pipe the teardown child waits on where the kernel has no "
                          "pidfd_open (before Linux 5.3)",
}

SCRIPTS = ["t_console.py", "t_hostile.py", "t_hostile_net.py"]

CALL = re.compile(r"^(\w+)\((.*)")


def allowlists():
    out = subprocess.run([KVMRUN, "--seccomp-list"], capture_output=True, text=True,
                         timeout=10).stdout
    rules = collections.defaultdict(set)
    names = {}
    for line in out.splitlines():
        role, kind, what, *rest = line.split()
        if kind == "syscall":
            rules[role].add(what)
        else:
            req = int(what, 16)
            rules[role].add(("ioctl", req))
            names[req] = rest[0] if rest else what
    return rules, names


def wrapper(traces):
    """A kvmrun under strace. -D: strace runs as a detached grandchild and kvmrun keeps the
    wrapper's pid, so the scripts' signals and kills reach kvmrun itself (strace as the parent
    blocks SIGINT and SIGTERM, and a kill of it left kvmrun running on untraced)."""
    path = os.path.join(TMP, "kvmrun-traced")
    with open(path, "w") as fh:
        fh.write("#!/bin/sh\n"
                 f"d=$(mktemp -d {traces}/run.XXXXXX)\n"
                 f'exec strace -D -f -ff -qq -e raw=ioctl -o "$d/t" {KVMRUN} "$@"\n')
    os.chmod(path, 0o755)
    return path


def other_workloads(traced):
    """Paths the scripts above do not take: exits, signals, outputs. (Block devices: t_hostile's
    blk-ops runs on a loop device too.)"""
    k = ["-k", probe("pvh")]
    metrics, log = os.path.join(TMP, "m.jsonl"), os.path.join(TMP, "kv.log")
    r, w = os.pipe()
    ready_r, ready_w = os.pipe()  # one fd per flag: --console fd= and --ready-fd may not share
    snaps = [os.path.join(TMP, f"snap{i}") for i in range(5)]
    limited_img = os.path.join(TMP, "limited.img")
    with open(limited_img, "wb") as fh:
        fh.truncate(1 << 20)
    limits_conf = os.path.join(TMP, "limits.conf")
    with open(limits_conf, "w") as fh:
        fh.write("vda bw=1M\n")
    runs = [(k + ["-c", "probe.exit=emulfail"], None),
            (["-k", probe("bzimage"), "--cpus", "2", "--console", "file=" + os.path.join(TMP, "c")],
             None),
            (k + ["--console", f"fd={w}", "--ready-fd", str(ready_w), "--metrics", metrics, "--log", log,
                  "--log-level", "debug", "-c", "probe.boot_timer probe.exit=wait",
                  "--shutdown-timeout", "5"], signal.SIGTERM),
            (k + ["-c", "probe.exit=halt", "--shutdown-timeout", "1", "--metrics", metrics],
             signal.SIGUSR1),
            (k + ["-c", "probe.exit=halt"], signal.SIGINT),
            # --limits: SIGHUP reads the file again and changes the limit.
            (k + ["--disk", limited_img, "--limits", limits_conf, "-c", "probe.exit=halt"],
             signal.SIGHUP),
            # A rate-limited disk: its I/O thread arms the limiter's timer.
            (k + ["--disk", limited_img + ",iops=20", "-c",
                  "probe.hostile=blk-rate probe.count=40 probe.size=512"], None),
            # The snapshot role: written then exit, written then resume, from a restore, and
            # a diff of a restored guest (--track-dirty reads pagemap).
            (k + ["-c", "probe.exit=halt", "--snapshot-dir", snaps[0]], signal.SIGUSR2),
            (k + ["-c", "probe.exit=halt", "--snapshot-dir", snaps[1], "--snapshot-then",
                  "resume"], signal.SIGUSR2),
            (["--restore", snaps[0], "--snapshot-dir", snaps[2]], signal.SIGUSR2),
            (["--restore", snaps[0], "--snapshot-dir", snaps[3], "--track-dirty"],
             signal.SIGUSR2),
            # The restart role: the probe reboots again and again, each one put back to its
            # boot state; SIGTERM makes the next reboot the last.
            (k + ["-c", "probe.exit=reboot", "--on-reboot", "restart"], signal.SIGTERM),
            # Both: reboots put back, then a snapshot (and the exit it asks for).
            (k + ["-c", "probe.exit=reboot", "--on-reboot", "restart", "--snapshot-dir",
                  snaps[4]], signal.SIGUSR2)]
    try:
        for args, sig in runs:
            p = subprocess.Popen([traced] + args, stdin=subprocess.DEVNULL,
                                 pass_fds=(w, ready_w),
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            if sig:
                time.sleep(3)  # traced and in L1: let the guest reach its wait
                kid = p.pid  # kvmrun itself (strace -D)
                os.kill(kid, sig)
                if sig in (signal.SIGUSR1, signal.SIGHUP) or (sig == signal.SIGUSR2
                                                             and "resume" in args):
                    time.sleep(2)
                    os.kill(kid, signal.SIGINT)
            try:
                out, _ = p.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                p.kill()
                out, _ = p.communicate()
            print(f"  traced| kvmrun {' '.join(args)}: status {p.returncode}", flush=True)
    finally:
        for fd in (r, w, ready_r, ready_w):
            os.close(fd)


def api_call(sock, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else b""
    sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {len(data)}"
                 f"\r\n\r\n".encode() + data)
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(65536)
    head, _, rest = answer.partition(b"\r\n\r\n")
    m = re.search(rb"Content-Length: (\d+)", head)
    while m and len(rest) < int(m.group(1)):
        rest += sock.recv(65536)
    return int(head.split()[1])


def api_workload(traced):
    """--api-sock: the API thread's calls (clients come, send, go), main answering, the opener
    thread swapping a disk's image, and the teardown child removing the socket."""
    sock_path = os.path.join(TMP, "api.sock")
    img, img2 = os.path.join(TMP, "api.img"), os.path.join(TMP, "api2.img")
    for path in (img, img2):
        with open(path, "wb") as fh:
            fh.truncate(1 << 20)
    if os.path.exists(sock_path):
        os.unlink(sock_path)
    p = subprocess.Popen([traced, "--api-sock", sock_path], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    codes = []
    try:
        for _ in range(500):
            if os.path.exists(sock_path):
                break
            time.sleep(0.02)
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(60)
        for _ in range(100):  # a refused connect is tried again (no kvmrun of ours refuses)
            try:
                s.connect(sock_path)
                break
            except ConnectionRefusedError:
                time.sleep(0.1)
        steps = [("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 64}),
                 ("PUT", "/boot-source", {"kernel_image_path": probe("pvh"),
                                          "boot_args": "probe.exit=wait"}),
                 ("PUT", "/drives/rootfs", {"drive_id": "rootfs", "path_on_host": img,
                                            "is_root_device": False}),
                 ("PUT", "/actions", {"action_type": "InstanceStart"}),
                 ("GET", "/", None),
                 ("PATCH", "/vm", {"state": "Paused"}),
                 ("PATCH", "/vm", {"state": "Resumed"}),
                 ("PATCH", "/drives/rootfs", {"drive_id": "rootfs",
                                              "rate_limiter": {"ops": {"size": 10,
                                                                       "refill_time": 100}}}),
                 # A snapshot through the API: the opener makes its directory and files.
                 ("PATCH", "/vm", {"state": "Paused"}),
                 ("PUT", "/snapshot/create", {"snapshot_path": os.path.join(TMP, "api-snap"),
                                              "snapshot_type": "Full"}),
                 ("PATCH", "/vm", {"state": "Resumed"}),
                 # The opener thread: an image swapped in, and one that cannot open.
                 ("PATCH", "/drives/rootfs", {"drive_id": "rootfs", "path_on_host": img2}),
                 ("PATCH", "/drives/rootfs", {"drive_id": "rootfs",
                                              "path_on_host": img2 + ".missing"}),
                 ("PUT", "/nope", {})]
        for method, path, body in steps:
            codes.append(api_call(s, method, path, body))
            print(f"  traced| --api-sock: {method} {path}: {codes[-1]}", flush=True)
        # A second client that leaves mid-request: its connection is closed.
        s2 = socket.socket(socket.AF_UNIX)
        s2.connect(sock_path)
        s2.sendall(b"PUT /actions HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")
        s2.close()
        codes.append(api_call(s, "PUT", "/actions", {"action_type": "SendCtrlAltDel"}))
        s.close()
        out, _ = p.communicate(timeout=120)
    except (OSError, ValueError, IndexError, subprocess.TimeoutExpired) as e:
        p.kill()  # kvmrun itself (strace -D)
        try:
            p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        print(f"  traced| --api-sock: {e!r} after answers {codes}", flush=True)
    print(f"  traced| kvmrun --api-sock: answers {codes}, status {p.returncode}, socket "
          f"{'left behind' if os.path.exists(sock_path) else 'removed'}", flush=True)


def role_of(lines):
    for line in lines[:400]:
        if line.startswith("execve("):
            # main, or main allowed to write snapshots (a filter of its own)
            # (the API's PUT /snapshot/create makes main write snapshots too), or restart
            snap = '"--snapshot-dir"' in line or '"--snapshot-on-ready"' in line \
                or '"--api-sock"' in line
            if '"--on-reboot", "restart"' in line:
                return "restart-snap" if snap else "restart"
            return "snapshot" if snap else "main"
        m = re.match(r'prctl\(PR_SET_NAME, "kvmrun-(vcpu|io|net|teardown|api|opener)', line)
        if m:
            return m.group(1)
    return None


def used_calls(lines):
    """Calls after the thread's seccomp() returned 0: names, ioctl requests, a SIGSYS."""
    used, confined, sigsys = set(), False, None
    for line in lines:
        if line.startswith("--- SIGSYS"):
            sigsys = line.strip()
        m = CALL.match(line)
        if not m:
            continue
        name, args = m.group(1), m.group(2)
        if line.rstrip().endswith("<detached ...>"):
            # strace lost the thread at that syscall's entry because another thread's
            # exit_group was killing it; seen as "exit_group(130 <detached ...>" in a vCPU's
            # trace when main ended on SIGINT (130 is main's status: that is main's call).
            continue
        if not confined:
            confined = name == "seccomp" and line.rstrip().endswith("= 0")
            continue
        used.add(name)
        if name == "ioctl":
            parts = args.split(",")
            if len(parts) > 1:
                try:
                    used.add(("ioctl", int(parts[1].strip(), 0) & 0xffffffff))
                except ValueError:
                    pass
    return used, confined, sigsys


def main():
    if not result("seccomp-trace/strace-available", shutil.which("strace") is not None,
                  "strace missing (./build.sh test installs it)"):
        return
    traces = os.path.join(TMP, "traces")
    os.mkdir(traces)
    traced = wrapper(traces)
    env = dict(os.environ, KVMRUN=traced, KVMRUN_TEST_PREFIX="traced/")
    for script in SCRIPTS:
        p = subprocess.Popen([sys.executable, os.path.join(TOP, "test", script)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in p.stdout:
            print(f"  traced| {line.rstrip()}", flush=True)
        p.wait()
    other_workloads(traced)
    api_workload(traced)
    rules, names = allowlists()
    used = collections.defaultdict(set)
    threads = collections.Counter()
    problems = []
    where = {}  # (role, call) not allowed -> the first trace that made it
    for run in os.listdir(traces):
        for f in os.listdir(os.path.join(traces, run)):
            with open(os.path.join(traces, run, f), errors="replace") as fh:
                lines = fh.read().splitlines()
            role = role_of(lines)
            if role is None:
                continue
            calls, confined, sigsys = used_calls(lines)
            if sigsys:
                problems.append(f"{role} thread killed: {sigsys}")
            if confined:
                threads[role] += 1
                used[role] |= calls
                for c in calls - rules.get(role, set()):
                    where.setdefault((role, c), (run, f, lines[-6:]))
    for role in ("main", "vcpu", "io", "net", "teardown", "snapshot", "api", "opener",
                 "restart", "restart-snap"):
        allowed = rules.get(role, set())
        extra = used[role] - allowed
        # The snapshot and restart roles hold main's rules too, and restart-snap both roles':
        # those count as used where main (or a snapshot) used them.
        also = {"snapshot": used["main"], "restart": used["main"],
                "restart-snap": used["main"] | used["snapshot"] | used["restart"]}.get(
            role, set())
        unused = {r for r in allowed - used[role] - also
                  if (role, r) not in CONTINGENT and ("main", r) not in CONTINGENT}

        def show(s):
            return sorted(f"ioctl {names.get(x[1], hex(x[1]))}" if isinstance(x, tuple) else x
                          for x in s)
        nsys = len([r for r in allowed if not isinstance(r, tuple)])
        nioc = len(allowed) - nsys
        print(f"INFO seccomp/{role}: {nsys} syscalls and {nioc} ioctl requests allowed; "
              f"{threads[role]} traced threads used {len(used[role] & allowed)} of them: "
              f"{' '.join(show(used[role] & allowed))}")
        for c in extra:
            run, f, tail = where.get((role, c), ("?", "?", []))
            print(f"INFO seccomp/{role}: {show({c})[0]} in {run}/{f}, ending: " + " | ".join(tail))
        result(f"seccomp/{role}-calls-allowed", threads[role] > 0 and not extra,
               f"{threads[role]} threads traced; called but not allowed: {show(extra)}")
        result(f"seccomp/{role}-rules-used", threads[role] > 0 and not unused,
               f"allowed but never called: {show(unused)}")
        for (r, rule), why in CONTINGENT.items():
            if r == role and rule in allowed and rule not in used[role]:
                print(f"INFO seccomp/{role}: {show({rule})[0]} allowed, not reached here: {why}")
    result("seccomp/no-sigsys", not problems, "; ".join(problems[:5]))


main()
