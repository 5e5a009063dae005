# SPDX-License-Identifier: Apache-2.0
"""Shared helpers for the Python test scripts: run kvmrun, report PASS/FAIL lines."""
import atexit
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KVMRUN = os.environ.get("KVMRUN", os.path.join(TOP, "kvmrun"))
GUEST = os.environ.get("GUEST_OUT", os.path.join(TOP, "test", "guest", "out"))
DEFAULT_CMDLINE = ("console=ttyS0 reboot=k panic=1 pci=off i8042.noaux i8042.nomux "
                   "i8042.dumbkbd")
FORMATS = {"pvh": "probe.pvh", "bzimage": "probe.bzImage", "elf": "probe.elf",
           "pvh32": "probe32.pvh", "elf32": "probe32.elf"}
TMP = tempfile.mkdtemp(prefix="kvmrun-test.")
failures = 0


def probe(fmt):
    return os.path.join(GUEST, FORMATS[fmt])


PREFIX = os.environ.get("KVMRUN_TEST_PREFIX", "")


def result(name, ok, why=""):
    global failures
    name = PREFIX + name
    if ok:
        print(f"PASS {name}", flush=True)
    else:
        failures += 1
        why = " ".join(str(why).split())[:400]
        print(f"FAIL {name}: {why}", flush=True)
    return ok


def _crashed(kind, value, tb):
    """A script that dies of an exception has not run the tests after it: a FAIL, not silence."""
    import traceback
    traceback.print_exception(kind, value, tb)
    script = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "script"
    result(f"{script}/crashed", False, f"{kind.__name__}: {value} (the checks after it did not run)")


sys.excepthook = _crashed


def children(pid="self"):
    """Pids of a process's children still running (of this one: kvmrun processes a test left
    behind)."""
    kids = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                kids += [int(k) for k in fh.read().split()]
        except OSError:
            pass
    return kids


@atexit.register
def _clean_up():
    """A script that stopped midway (a failed check, an exception) leaves no kvmrun running to
    load the host for the scripts after it; TMP goes when every check passed (kept to look at
    otherwise: its path is in the FAIL lines)."""
    for pid in children():
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    if failures == 0 and not os.environ.get("KVMRUN_TEST_KEEP"):
        shutil.rmtree(TMP, ignore_errors=True)


def copy_sparse(src, dst):
    """Copy a file or directory keeping holes (shutil writes a sparse memory file out whole)."""
    subprocess.run(["cp", "-a", "--sparse=always", src, dst], check=True)


def run(args, timeout=60, stdin=subprocess.DEVNULL):
    """Run kvmrun; returns (status, stdout, stderr). status -1 on a timeout."""
    try:
        p = subprocess.run([KVMRUN] + args, stdin=stdin, capture_output=True,
                           timeout=timeout)
        return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    except subprocess.TimeoutExpired as e:
        return -1, (e.stdout or b"").decode(errors="replace"), "timeout"


def start_until(args, marker, timeout=30):
    """Start kvmrun and read its stdout until `marker` (bytes) or EOF/timeout: (Popen, bytes)."""
    p = subprocess.Popen([KVMRUN] + args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    seen = b""
    deadline = time.time() + timeout
    while marker not in seen and time.time() < deadline:
        # a silent guest must not hold the read past the deadline
        if not select.select([p.stdout], [], [], max(0.0, deadline - time.time()))[0]:
            break
        chunk = os.read(p.stdout.fileno(), 65536)  # unbuffered: select sees all there is
        if not chunk:
            break
        seen += chunk
    return p, seen


def stop(p, sig, timeout=30):
    """Send `sig` to a kvmrun from start_until and wait (killing it after `timeout` s): (out, err)."""
    p.send_signal(sig)
    try:
        return p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        return p.communicate()


def probe_facts(out):
    """PROBE key=value lines as a dict (repeated keys become lists)."""
    facts = {}
    for line in out.splitlines():
        line = line.rstrip("\r")
        if not line.startswith("PROBE "):
            continue
        key, _, val = line[6:].partition("=")
        if key in facts:
            if not isinstance(facts[key], list):
                facts[key] = [facts[key]]
            facts[key].append(val)
        else:
            facts[key] = val
    return facts


def fnv1a64(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
    return f"{h:016x}"


def expected_e820(mem):
    low = min(mem, 0xC0000000)
    m = [(0, 0x9fc00, 1), (0x9fc00, 0xa0000, 2), (0xe0000, 0x100000, 2), (0x100000, low, 1)]
    if mem > low:
        m.append((1 << 32, (1 << 32) + mem - low, 1))
    return m


USER = 65534  # nobody


def user_cmd():
    """The command prefix that runs a program as an ordinary user (uid 65534) who can open
    /dev/kvm: its group when the group may read and write it (Debian: root:kvm 0660), else
    nogroup when everyone may. Inside the disposable L1 (test/l1/), where devtmpfs leaves it
    0600, it is opened up. On a host whose /dev/kvm is root's alone (0600: no udev made it
    root:kvm), the host's node is left as it is: the program runs in a mount namespace of its
    own where a node of the same device, group nogroup and mode 0660, is bound over
    /dev/kvm (on a tmpfs over /mnt, gone with the namespace), as Debian's udev rule would
    make it. [] when this process is not root (it is such a user already); a string saying
    why when there is no way."""
    import stat
    if os.geteuid() != 0:
        return []
    try:
        st = os.stat("/dev/kvm")
    except OSError as e:
        return f"/dev/kvm: {e.strerror}"
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o006 != 0o006 and mode & 0o060 != 0o060 and os.environ.get("L1_HOST"):
        os.chmod("/dev/kvm", 0o666)
        mode = 0o666
    setpriv = ["setpriv", f"--reuid={USER}", "--clear-groups"]
    if mode & 0o006 == 0o006:
        return setpriv[:2] + [f"--regid={USER}"] + setpriv[2:]
    if mode & 0o060 == 0o060:
        return setpriv[:2] + [f"--regid={st.st_gid}"] + setpriv[2:]
    import shutil
    if not (shutil.which("unshare") and os.path.isdir("/mnt")):
        return (f"/dev/kvm is mode {mode:04o}: an ordinary user cannot open it "
                "(give its group read and write, as Debian's udev rule does with group kvm)")
    node = (f"mount -t tmpfs -o mode=0755 kvmrun-user /mnt && "
            f"mknod -m 0660 /mnt/kvm c {os.major(st.st_rdev)} {os.minor(st.st_rdev)} && "
            f"chgrp {USER} /mnt/kvm && mount --bind /mnt/kvm /dev/kvm && exec \"$@\"")
    return (["unshare", "--mount", "--propagation", "private", "sh", "-c", node, "sh"]
            + setpriv[:2] + [f"--regid={USER}"] + setpriv[2:])


def user_copy():
    """kvmrun and the probe images in a folder any user may read (the checkout may live under
    a private home): returns the folder."""
    import shutil
    d = tempfile.mkdtemp(prefix="kvmrun-user.", dir="/tmp")
    os.chmod(d, 0o755)
    shutil.copy2(KVMRUN, os.path.join(d, "kvmrun"))
    for f in FORMATS.values():
        shutil.copy2(os.path.join(GUEST, f), os.path.join(d, f))
        os.chmod(os.path.join(d, f), 0o644)
    os.chmod(os.path.join(d, "kvmrun"), 0o755)
    return d


def finish():
    sys.exit(0)
