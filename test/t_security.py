# SPDX-License-Identifier: Apache-2.0
"""Seccomp on every thread, filters that really kill, and the privilege drop."""
import os
import signal
import subprocess
import time

import kvmtest
from kvmtest import KVMRUN, TMP, TOP, children, probe, result, start_until, stop


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
    for role in ("main", "vcpu", "io", "net", "teardown", "snapshot", "api", "opener", "restart",
                 "restart-snap"):
        p = subprocess.run([KVMRUN, "--seccomp-selftest", role], capture_output=True, timeout=20)
        result(f"seccomp/{role}-filter-kills", p.returncode == -signal.SIGSYS,
               f"status {p.returncode} {p.stderr!r}")
    p = subprocess.run([KVMRUN, "--seccomp-selftest", "bogus"], capture_output=True, timeout=20)
    result("seccomp/selftest-bad-role", p.returncode == 2, f"status {p.returncode}")


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
    # Ends with kvmrun (reaped by init, so: gone or a zombie; within 10 s: the VM's teardown
    # is the child's exit, slow under load or nested).
    gone = False
    for _ in range(500):
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


def every_thread_jailed():
    """Threads made before the jail (the API thread; the opener) drop what main drops: the
    capability sets, the bounding set, and gain no_new_privs; capabilities are per thread, so
    main's drop does not reach them. With --uid too: the ids change in every thread at once,
    which clears a thread's capabilities before it could drop its own bounding set."""
    for name, extra in (("", []), ("-uid", ["--uid", "65534", "--gid", "65534"])):
        sock = os.path.join(TMP, f"jail-api{name}.sock")
        p, seen = start_halted(["--api-sock", sock] + extra)
        tasks = {}
        for t in os.listdir(f"/proc/{p.pid}/task"):
            st = proc_status(p.pid, t)
            tasks[f"{st.get('Name')}({t})"] = st
        status, err = stop_int(p)
        loose = {n: {k: st.get(k) for k in ("CapEff", "CapPrm", "CapBnd", "NoNewPrivs", "Seccomp")}
                 for n, st in tasks.items()
                 if any(int(st.get(k, "1"), 16) for k in ("CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb"))
                 or st.get("NoNewPrivs") != "1" or st.get("Seccomp") != "2"}
        names = {n.split("(")[0] for n in tasks}
        result(f"jail/every-thread-dropped{name}", b"PROBE done" in seen and not loose
               and {"kvmrun-api", "kvmrun-opener"} <= names,
               f"threads {sorted(tasks)}; still privileged {loose}; status {status} {err[-200:]!r}")


def build_helper(name):
    """test/NAME.c built into TMP (gcc), or None."""
    exe = os.path.join(TMP, name)
    r = subprocess.run(["gcc", "-std=gnu11", "-O1", "-Wall", "-o", exe,
                        os.path.join(TOP, "test", name + ".c")], capture_output=True, timeout=120)
    return exe if r.returncode == 0 else None


def confined_before_first_run():
    """When the first vCPU enters KVM_RUN (test/firstrun.c holds it there under ptrace), every
    thread of kvmrun and the teardown child already run under their filters."""
    helper = build_helper("firstrun")
    if not result("seccomp/first-run-helper-builds", helper is not None, "gcc test/firstrun.c"):
        return
    imgs = []
    for i in range(2):
        imgs.append(os.path.join(TMP, f"fr{i}.img"))
        with open(imgs[-1], "wb") as fh:
            fh.truncate(1 << 20)
    r = subprocess.run([helper, KVMRUN, "-k", probe("pvh"), "--cpus", "2", "--disk", imgs[0],
                        "--disk", imgs[1]], capture_output=True, text=True, timeout=120,
                       stdin=subprocess.DEVNULL)
    tasks = [dict(kv.split("=", 1) for kv in line.split()[1:])
             for line in r.stdout.splitlines() if line.startswith("TASK ")]
    names = sorted(t["name"] for t in tasks)
    loose = [f"{t['name']}({t['tid']})={t['seccomp']}" for t in tasks if t["seccomp"] != "2"]
    # main, two vCPUs, an I/O thread per disk, and the teardown child
    result("seccomp/confined-before-first-run", r.returncode == 0 and len(tasks) >= 6
           and "kvmrun-teardown" in names and not loose and "FIRSTRUN done" in r.stdout,
           f"status {r.returncode}; tasks {names}; unconfined {loose}; stderr {r.stderr[-200:]!r}")
    want = {"kvmrun-vcpu0", "kvmrun-vcpu1", "kvmrun-io0", "kvmrun-io1", "kvmrun-teardown"}
    result("seccomp/threads-named", want <= set(names), f"tasks {names}")


def fds_closed():
    """Fds a launcher leaks are closed; the named ones stay; /dev/kvm is not held."""
    leak_file = open(os.path.join(TMP, "leaked"), "w")
    leak_r, leak_w = os.pipe()
    ready_r, ready_w = os.pipe()
    cons_r, cons_w = os.pipe()
    leaked = (leak_file.fileno(), leak_r, leak_w)
    # By what they are, not their numbers: kvmrun reuses the numbers of fds it closed.
    leaked_what = {os.readlink(f"/proc/self/fd/{fd}") for fd in leaked}
    named = {fd: os.readlink(f"/proc/self/fd/{fd}") for fd in (ready_w, cons_w)}
    p = subprocess.Popen([KVMRUN, "-k", probe("pvh"), "-c", "probe.exit=halt", "--ready-fd",
                          str(ready_w), "--console", f"fd={cons_w}"],
                         pass_fds=leaked + (ready_w, cons_w), stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    os.close(ready_w)
    os.close(cons_w)
    seen = b""
    while b"PROBE done" not in seen:
        chunk = os.read(cons_r, 4096)
        if not chunk:
            break
        seen += chunk
    fds = {}
    for fd in os.listdir(f"/proc/{p.pid}/fd"):
        try:
            fds[int(fd)] = os.readlink(f"/proc/{p.pid}/fd/{fd}")
        except OSError:
            pass
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=20)
    for fd in (leak_r, leak_w, ready_r, cons_r):
        os.close(fd)
    leak_file.close()  # its own fd: closed once, here
    kept_leak = [f"{fd}: {what}" for fd, what in fds.items() if what in leaked_what]
    result("fds/leaked-closed", b"PROBE done" in seen and not kept_leak,
           f"leaked fds still open in kvmrun: {kept_leak}; fds {fds}")
    result("fds/named-kept", all(fds.get(fd) == what for fd, what in named.items()),
           f"named {named}; fds {fds}")
    result("fds/no-dev-kvm", not any(v == "/dev/kvm" for v in fds.values()), f"fds {fds}")


def as_user():
    """An ordinary user with access to /dev/kvm runs kvmrun (everything it can drop is dropped);
    --chroot/--uid/--gid it has no privilege for are one clear error each."""
    cmd = kvmtest.user_cmd()
    if not result("user/setup", isinstance(cmd, list), cmd):
        return
    work = kvmtest.user_copy()
    kv, pvh = os.path.join(work, "kvmrun"), os.path.join(work, "probe.pvh")
    r = subprocess.run(cmd + [kv, "-k", pvh], capture_output=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    result("user/boots", r.returncode == 0 and b"PROBE done" in r.stdout,
           f"status {r.returncode} {r.stderr!r}")
    for flag, args in (("chroot", ["--chroot", work]), ("uid", ["--uid", "65534"]),
                       ("gid", ["--gid", "65534"])):
        r = subprocess.run(cmd + [kv, "-k", pvh] + args, capture_output=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        err = r.stderr.decode()
        result(f"user/{flag}-without-privilege", r.returncode == 2 and f"--{flag}" in err
               and len(err.strip().splitlines()) == 1 and r.stdout == b"",
               f"status {r.returncode} {err!r}")
    p = subprocess.Popen(cmd + [kv, "-k", pvh, "-c", "probe.exit=halt"], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = b""
    while b"PROBE done" not in seen:
        chunk = p.stdout.read1(4096)
        if not chunk:
            break
        seen += chunk
    st = proc_status(p.pid) if b"PROBE done" in seen else {}
    p.send_signal(signal.SIGINT)
    p.communicate(timeout=20)
    result("user/confined", st.get("Seccomp") == "2" and st.get("NoNewPrivs") == "1"
           and int(st.get("CapEff", "1"), 16) == 0, {k: st.get(k) for k in
                                                     ("Seccomp", "NoNewPrivs", "CapEff")})


every_thread_filtered()
confined_before_first_run()
fds_closed()
as_user()
teardown_child()
filters_kill()
no_seccomp_is_loud()
jail()
every_thread_jailed()
