# SPDX-License-Identifier: Apache-2.0
"""Seccomp on every thread, filters that really kill, and the privilege drop."""
import os
import signal
import subprocess
import time

from kvmtest import KVMRUN, TMP, probe, result, start_until, stop


def proc_status(pid, tid=None):
    path = f"/proc/{pid}/task/{tid}/status" if tid else f"/proc/{pid}/status"
    fields = {}
    with open(path) as fh:
        for line in fh:
            k, _, v = line.partition(":")
            fields[k] = v.strip()
    return fields


def start_halted(extra):
    """A running kvmrun whose probe halts after its report: threads stay up for inspection."""
    return start_until(["-k", probe("pvh"), "-c", "probe.exit=halt"] + extra, b"PROBE done")


def stop_int(p):
    _, err = stop(p, signal.SIGINT, timeout=20)
    return p.returncode, err.decode(errors="replace")


def every_thread_filtered():
    imgs = []
    for i in range(2):
        imgs.append(os.path.join(TMP, f"sec{i}.img"))
        with open(imgs[-1], "wb") as fh:
            fh.truncate(1 << 20)
    p, seen = start_halted(["--cpus", "3", "--disk", imgs[0], "--disk", imgs[1]])
    tids = sorted(os.listdir(f"/proc/{p.pid}/task"))
    modes = {t: proc_status(p.pid, t).get("Seccomp") for t in tids}
    status, err = stop_int(p)
    # main + 3 vCPUs + one I/O thread per disk
    result("seccomp/every-thread", len(tids) >= 6 and all(m == "2" for m in modes.values()),
           f"threads {modes}; stderr {err}")
    result("seccomp/guest-ran-confined", b"PROBE done" in seen and status == 130,
           f"status {status} {err}")


def filters_kill():
    for role in ("main", "vcpu", "io", "teardown"):
        p = subprocess.run([KVMRUN, "--seccomp-selftest", role], capture_output=True, timeout=20)
        result(f"seccomp/{role}-filter-kills", p.returncode == -signal.SIGSYS,
               f"status {p.returncode} {p.stderr!r}")
    p = subprocess.run([KVMRUN, "--seccomp-selftest", "bogus"], capture_output=True, timeout=20)
    result("seccomp/selftest-bad-role", p.returncode == 2, f"status {p.returncode}")


def children(pid):
    kids = []
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{t}/children") as fh:
                kids += [int(c) for c in fh.read().split()]
        except OSError:
            pass
    return kids


def pidfd_supported():
    try:
        os.close(os.pidfd_open(os.getpid()))
        return True
    except (AttributeError, OSError):
        return False


def teardown_child():
    """The child that takes the VM's teardown off kvmrun's exit holds the VM fd
    and a pidfd of kvmrun (a pipe before Linux 5.3), nothing else (no disk, so the lock goes with kvmrun), is
    confined, and ends when kvmrun does."""
    img = os.path.join(TMP, "td.img")
    with open(img, "wb") as fh:
        fh.truncate(1 << 20)
    p, seen = start_halted(["--disk", img])
    kids = children(p.pid)
    fds, st = {}, {}
    if len(kids) == 1:
        k = kids[0]
        st = proc_status(k)
        for fd in os.listdir(f"/proc/{k}/fd"):
            fds[fd] = os.readlink(f"/proc/{k}/fd/{fd}")
    status, err = stop_int(p)
    result("teardown/one-child", len(kids) == 1 and st.get("Name") == "kvmrun-teardown",
           f"children {kids} {st.get('Name')}")
    # It waits on a pidfd of kvmrun (so it outlives every kvmrun thread,
    # KVM's own worker included); a pipe only where pidfd_open is missing.
    waits_on = "anon_inode:[pidfd]" if pidfd_supported() else "pipe:"
    result("teardown/only-vm-fd", sorted(fds.values(), key=str) != [] and
           any(v == "anon_inode:kvm-vm" for v in fds.values()) and
           any(v.startswith(waits_on) for v in fds.values()) and
           len(fds) == 2, f"fds {fds} (want the VM and {waits_on})")
    result("teardown/confined", st.get("Seccomp") == "2", f"Seccomp {st.get('Seccomp')}")
    # Ends with kvmrun (reaped by init, so: gone or a zombie within a second).
    gone = False
    for _ in range(50):
        try:
            state = proc_status(kids[0]).get("State", "") if kids else "Z"
        except OSError:
            state = "Z"
        if state.startswith("Z") or state.startswith("X"):
            gone = True
            break
        time.sleep(0.02)
    result("teardown/ends-with-kvmrun", gone and status == 130, f"status {status} {err}")
    # The disk's lock went with kvmrun, not with the child: a second kvmrun
    # can take it at once.
    q = subprocess.run([KVMRUN, "-k", probe("pvh"), "-c", "probe.exit=reset", "--disk", img,
                        "--console", "none"], capture_output=True, timeout=30)
    result("teardown/disk-free-at-exit", q.returncode == 0, f"status {q.returncode} {q.stderr!r}")


def no_seccomp_is_loud():
    p, seen = start_halted(["--no-seccomp"])
    modes = {t: proc_status(p.pid, t).get("Seccomp") for t in os.listdir(f"/proc/{p.pid}/task")}
    status, err = stop_int(p)
    result("seccomp/no-seccomp-warns", "WARNING" in err and "--no-seccomp" in err
           and all(m == "0" for m in modes.values()), f"{modes} {err!r}")


def jail():
    root = os.path.join(TMP, "jail")
    os.mkdir(root)
    img = os.path.join(TMP, "jail.img")
    with open(img, "wb") as fh:
        fh.truncate(1 << 20)
    p, seen = start_halted(["--chroot", root, "--uid", "65534", "--gid", "65534",
                            "--cpus", "2", "--disk", img])
    st = proc_status(p.pid)
    rootlink = os.readlink(f"/proc/{p.pid}/root")
    status, err = stop_int(p)
    uid_ok = st["Uid"].split() == ["65534"] * 4 and st["Gid"].split() == ["65534"] * 4
    caps_ok = all(int(st[k], 16) == 0 for k in ("CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb"))
    result("jail/ids", uid_ok, f"Uid {st['Uid']} Gid {st['Gid']}")
    result("jail/no-capabilities", caps_ok, {k: st[k] for k in st if k.startswith("Cap")})
    result("jail/root", rootlink == root, rootlink)
    result("jail/no-new-privs-and-seccomp", st.get("NoNewPrivs") == "1" and st.get("Seccomp") == "2",
           st.get("NoNewPrivs"))
    result("jail/guest-boots", b"PROBE done" in seen and b"PROBE error" not in seen, seen[-200:])
    # The disk works from inside the jail: the probe's valid read and write succeed and
    # the write lands in the image.
    with open(img, "wb") as fh:
        fh.write(bytes(range(256)) * 4096)
    r = subprocess.run([KVMRUN, "-k", probe("pvh"), "--chroot", root, "--uid", "65534", "--gid", "65534",
                        "--disk", img, "--cmdline", "probe.hostile=blk-chains probe.blk_write_sector=8"],
                       capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    out = r.stdout.decode()
    data = open(img, "rb").read()
    pattern = bytes(((i * 131 + 8 * 7 + 1) & 0xff) for i in range(512))
    result("jail/disk-io", r.returncode == 0 and "PROBE blk.read0=0 " in out and "PROBE blk.write=0 " in out
           and data[8 * 512:9 * 512] == pattern, f"status {r.returncode} {r.stderr[-200:]!r}")
    # A tap opened before the jail keeps working after it (the device attaches, the guest runs).
    ns = f"kvmrun-j{os.getpid()}"
    if subprocess.run(["ip", "netns", "add", ns]).returncode == 0:
        try:
            r = subprocess.run(["ip", "netns", "exec", ns, KVMRUN, "-k", probe("pvh"), "--chroot", root,
                                "--uid", "65534", "--gid", "65534", "--net", "tap=kvj0"],
                               capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
            result("jail/net-attaches", r.returncode == 0 and b"PROBE done" in r.stdout,
                   f"status {r.returncode} {r.stderr!r}")
        finally:
            subprocess.run(["ip", "netns", "del", ns])
    for name, args, needle in (("missing-dir", ["--chroot", "/nonexistent/jail"], "--chroot"),
                               ("file-not-dir", ["--chroot", img], "--chroot"),
                               ("bad-uid", ["--uid", "nobody"], "--uid")):
        r = subprocess.run([KVMRUN, "-k", probe("pvh")] + args, capture_output=True, timeout=20,
                           stdin=subprocess.DEVNULL)
        err = r.stderr.decode()
        result(f"jail/{name}", r.returncode == 2 and needle in err and r.stdout == b"",
               f"status {r.returncode} {err!r}")


every_thread_filtered()
teardown_child()
filters_kill()
no_seccomp_is_loud()
jail()
