# SPDX-License-Identifier: Apache-2.0
"""Snapshots and restores of the probe guest: --snapshot-dir + SIGUSR2, --snapshot-on-ready,
--snapshot-then exit|resume, --restore DIR. A restored guest goes on from where it was: its
serial interrupts (echo), its LAPIC timer and memory (count), over generations of snapshot and
restore; a disk in use (blk-loop) goes on in a restored guest, its writes landing in the image
the restore was given; bad snapshot directories are one line and status 2, with nothing written."""
import hashlib
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import time
import zlib

import hostkind
from kvmtest import KVMRUN, TMP, copy_sparse, probe, result


class Vm:
    """A kvmrun with its console on pipes: send lines, wait for output."""

    def __init__(self, args, pre=()):
        self.log = os.path.join(TMP, f"snap-{time.monotonic_ns()}.log")
        self.p = subprocess.Popen(list(pre) + [KVMRUN] + args + ["--log", self.log],
                                  stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.out = b""

    def until(self, marker, timeout=30):
        deadline = time.time() + timeout
        while marker not in self.out and time.time() < deadline:
            r, _, _ = select.select([self.p.stdout], [], [], 0.2)
            if r:
                chunk = os.read(self.p.stdout.fileno(), 65536)
                if not chunk:
                    break
                self.out += chunk
        return marker in self.out

    def send(self, data):
        try:
            self.p.stdin.write(data)
            self.p.stdin.flush()
        except BrokenPipeError:
            pass

    def wait(self, timeout=30):
        """Status and all of stdout and stderr; killed after timeout (status -9)."""
        try:
            out, err = self.p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            out, err = self.p.communicate()
        self.out += out
        return self.p.returncode, err.decode(errors="replace")

    def logged(self):
        return open(self.log).read() if os.path.exists(self.log) else ""


def fresh(name):
    d = os.path.join(TMP, name)
    shutil.rmtree(d, ignore_errors=True)
    return d


def take_echo(d, *extra, pre=()):
    """Boot the echo probe, echo one line, snapshot with SIGUSR2: (status, err, vm)."""
    vm = Vm(["-k", probe("pvh"), "-c", "probe.exit=echo", "--snapshot-dir", d] + list(extra),
            pre)
    ok = vm.until(b"PROBE echo-ready")
    vm.send(b"before\n")
    ok = ok and vm.until(b"PROBE echo=before")
    vm.p.send_signal(signal.SIGUSR2)
    return ok, vm


def echo_restored(d, word, *extra, pre=()):
    """Restore d, echo `word` and quit: (ok, status, stdout, err)."""
    vm = Vm(["--restore", d] + list(extra), pre)
    vm.send(word.encode() + b"\nquit\n")
    seen = vm.until(b"PROBE echo=quit")
    st, err = vm.wait()
    return seen and b"PROBE echo=" + word.encode() in vm.out, st, vm.out, err


def allocated(path):
    return os.stat(path).st_blocks * 512


def echo():
    d = fresh("snap-echo")
    ok, vm = take_echo(d)
    st, err = vm.wait()
    files = all(os.path.exists(os.path.join(d, f)) for f in ("state", "memory", "config.json"))
    result("snapshot/sigusr2-exit", ok and st == 0 and files and "snapshot written" in vm.logged(),
           f"status {st} files {files} err {err!r} log {vm.logged()[-300:]!r}")
    mem = os.path.join(d, "memory")
    size, used = os.path.getsize(mem), allocated(mem)
    result("snapshot/memory-sparse", size == 128 << 20 and used < 4 << 20,
           f"memory file {size} bytes, {used} allocated")
    seen, st, out, err = echo_restored(d, "after")
    result("snapshot/restore-echo", seen and st == 0 and b"PROBE done" not in out,
           f"status {st} out {out[-300:]!r} err {err!r}")
    # Clones of one snapshot: each runs on its own from the same files.
    clones = [Vm(["--restore", d]) for _ in range(3)]
    for i, c in enumerate(clones):
        c.send(f"clone{i}\nquit\n".encode())
    res = [(c.until(f"PROBE echo=clone{i}".encode()), c.wait()[0]) for i, c in enumerate(clones)]
    result("snapshot/three-clones", all(s and st == 0 for s, st in res), f"{res}")


def memory_truncated():
    """The memory file truncated under two running clones: each ends (status 1, one line naming
    the file) before its pages go, and the truncation waits for them; a clone of another
    snapshot runs on."""
    d = fresh("snap-trunc")
    ok, vm = take_echo(d)
    vm.wait()
    other = fresh("snap-trunc-other")
    copy_sparse(d, other)
    clones = [Vm(["--restore", d]) for _ in range(2)]
    bystander = Vm(["--restore", other])
    for i, c in enumerate(clones + [bystander]):
        c.send(f"up{i}\n".encode())
        ok = c.until(f"PROBE echo=up{i}".encode()) and ok
    mem = os.path.join(d, "memory")
    t0 = time.monotonic()
    os.truncate(mem, 0)  # held by the clones' leases until they have gone
    waited = time.monotonic() - t0
    ends = [c.wait(20) for c in clones]
    result("snapshot/memory-truncated-ends-clones",
           ok and all(st == 1 and mem + ": the restored guest's memory file is being truncated"
                      in err for st, err in ends),
           f"{ends}; truncate waited {waited:.3f} s")
    bystander.send(b"still\nquit\n")
    seen = bystander.until(b"PROBE echo=still")
    st, err = bystander.wait()
    result("snapshot/memory-truncated-others-run-on", seen and st == 0, f"status {st} {err!r}")


def resume():
    d = fresh("snap-resume")
    ok, vm = take_echo(d, "--snapshot-then", "resume")
    for _ in range(300):
        if "snapshot written" in vm.logged():
            break
        time.sleep(0.1)
    ok = ok and "snapshot written" in vm.logged()  # else the typed line would be in it
    vm.send(b"still\nquit\n")
    ok = ok and vm.until(b"PROBE echo=still")
    st, err = vm.wait()
    result("snapshot/then-resume", ok and st == 0, f"status {st} err {err!r}")
    seen, st, _, err = echo_restored(d, "restored")
    result("snapshot/then-resume-restores", seen and st == 0, f"status {st} err {err!r}")


def ticks(out):
    return [int(w.split(b"=")[1]) for w in out.split() if w.startswith(b"tick=")]


def count():
    """The LAPIC timer and guest memory go on across restores, for ten generations."""
    d0 = fresh("snap-count-0")
    vm = Vm(["-k", probe("pvh"), "-c", "probe.exit=count probe.count=100000", "-n", "2",
             "--snapshot-dir", d0])
    ok = vm.until(b"tick=30 ")
    vm.p.send_signal(signal.SIGUSR2)
    st, err = vm.wait()
    last = max(ticks(vm.out) or [0])
    ok = ok and st == 0 and b"mem=bad" not in vm.out
    result("snapshot/count-taken", ok, f"status {st} err {err!r} out {vm.out[-200:]!r}")
    gens, why = 0, ""
    prev = d0
    for g in range(1, 11):
        d = fresh(f"snap-count-{g}")
        vm = Vm(["--restore", prev, "--snapshot-dir", d])
        got = vm.until(f"tick={last + 30} ".encode())
        vm.p.send_signal(signal.SIGUSR2)
        st, err = vm.wait()
        t = ticks(vm.out)
        # On from the snapshot's tick (not from 0), memory intact, and snapshotted again.
        if not (got and st == 0 and t and t[0] == last + 10 and b"mem=bad" not in vm.out):
            why = f"generation {g}: ticks {t[:3]}... after {last}, status {st}, err {err!r}"
            break
        gens, last, prev = g, max(t), d
    result("snapshot/count-ten-generations", gens == 10, why or f"{gens} generations")


def dirty_pages(d):
    return sum(bin(b).count("1") for b in open(os.path.join(d, "dirty"), "rb").read())


def diff():
    """--track-dirty: a restored guest's snapshots hold only the pages it wrote since, name
    their base, and restore through the chain (two diffs deep), memory and timer intact."""
    d0 = fresh("snap-diff-0")
    vm = Vm(["-k", probe("pvh"), "-c", "probe.exit=count probe.count=100000", "-m", "256M",
             "--snapshot-dir", d0])
    ok = vm.until(b"tick=30 ")
    vm.p.send_signal(signal.SIGUSR2)
    st, err = vm.wait()
    last = max(ticks(vm.out) or [0])
    chain, why, sizes = [d0], "", []
    for g in (1, 2):
        d = fresh(f"snap-diff-{g}")
        vm = Vm(["--restore", chain[-1], "--snapshot-dir", d, "--track-dirty"])
        got = vm.until(f"tick={last + 30} ".encode())
        vm.p.send_signal(signal.SIGUSR2)
        st, err = vm.wait()
        t = ticks(vm.out)
        n = dirty_pages(d) if os.path.exists(os.path.join(d, "dirty")) else -1
        used = allocated(os.path.join(d, "memory"))
        sizes.append((n, used))
        if not (got and st == 0 and t and t[0] == last + 10 and b"mem=bad" not in vm.out
                and 0 < n < 256 and used <= n * 4096 + (64 << 10)
                and "diff snapshot" in vm.logged()):
            why = (f"diff {g}: status {st}, ticks {t[:2]} after {last}, {n} dirty pages, "
                   f"{used} bytes allocated, err {err!r}")
            break
        chain.append(d)
        last = max(t)
    full = allocated(os.path.join(d0, "memory"))
    print(f"INFO snapshot: full snapshot {full} bytes allocated; diffs (dirty pages, bytes "
          f"allocated): {sizes}", flush=True)
    result("snapshot/diff-small", not why and ok,
           why or f"full snapshot {full} bytes allocated; diffs (dirty pages, bytes): {sizes}")
    r = Vm(["--restore", chain[-1]])
    got = r.until(f"tick={last + 20} ".encode())
    r.p.kill()
    r.wait()
    t = ticks(r.out)
    result("snapshot/diff-chain-restores", got and t and t[0] == last + 10
           and b"mem=bad" not in r.out, f"chain {len(chain)} deep, ticks {t[:2]} after {last}")
    if len(chain) < 3:
        return
    x = fresh("snap-diff-x")
    copy_sparse(chain[2], x)
    with open(os.path.join(x, "dirty"), "r+b") as fh:
        b0 = fh.read(1)
        fh.seek(0)
        fh.write(bytes([b0[0] ^ 0x80]))
    bad("diff-dirty-damaged", ["--restore", x], "damaged")
    # The base written over by a new snapshot: its diffs no longer restore.
    vm = Vm(["-k", probe("pvh"), "-c", "probe.exit=count probe.count=100000", "-m", "256M",
             "--snapshot-dir", d0])
    vm.until(b"tick=20 ")
    vm.p.send_signal(signal.SIGUSR2)
    st, err = vm.wait()
    # At once after the clones above: their locks went with them (not with their teardown).
    result("snapshot/diff-base-rewritten", st == 0 and "snapshot written" in vm.logged(),
           f"status {st} {err!r}")
    bad("diff-base-written-over", ["--restore", chain[1]], "is not the snapshot it was taken")
    bad("track-dirty-alone", ["-k", probe("pvh"), "--track-dirty"], "--track-dirty")


def clocks(out):
    return [(int(a.split(b"=")[1]), int(b.split(b"=")[1])) for line in out.splitlines()
            if line.startswith(b"PROBE clock tsc=") for a, b in [line.split()[2:4]]]


def clock():
    """The TSC and kvmclock go on across a restore, from where they were and together."""
    d = fresh("snap-clock")
    vm = Vm(["-k", probe("pvh"), "-c", "probe.exit=clock", "--snapshot-dir", d])
    vm.until(b"PROBE clock-ready")
    time.sleep(2)
    vm.p.send_signal(signal.SIGUSR2)
    vm.wait()
    before = clocks(vm.out)
    r = Vm(["--restore", d, "--log-level", "debug"])
    r.until(b"PROBE clock tsc=", 10)
    time.sleep(1.5)
    r.p.kill()
    r.wait()
    after = clocks(r.out)
    why = f"{len(before)} samples before, {len(after)} after"
    ok = len(before) >= 3 and len(after) >= 3
    if ok:
        (t0, k0), (t1, k1) = before[0], before[-1]
        rate = (t1 - t0) / (k1 - k0)  # TSC ticks per kvmclock ns
        (t2, k2), (t3, k3) = after[0], after[-1]
        # the step across the restore: about one sample apart on both clocks, not a jump
        step_k, step_t = k2 - k1, (t2 - t1) / rate
        # The probe reads both from one TSC reading, as Linux's clocksource watchdog does.
        # Set as KVM TSC offsets at one instant they step together to the nanosecond; set
        # as MSRs (a KVM without TSC offset control) the time between two ioctls shows
        # (tens of us, more on a loaded host): 5 ms then, which caught 17 ms and 8 s.
        # On PVM (kvm_pvm) the offsets path leaves the restored kvmclock 3.5 to 12 ms behind
        # the TSC (measured 2026-12-06, cause not found; exact under SVM in L1, and PVM runs
        # no Linux). Held there to Linux's clocksource watchdog threshold (62.5 ms: a step
        # below it is not "unstable"), and reported.
        exact = "as KVM TSC offsets" in r.logged()
        pvm = hostkind.kind()[0] == "pvm"
        skew = abs(step_t - step_k)
        bound = 62.5e6 if pvm else 1e3 if exact else 5e6
        ok = 0 < step_k < 2e9 and skew < bound and \
            abs((t3 - t2) / (k3 - k2) - rate) < 0.01 * rate
        print(f"INFO snapshot: TSC and kvmclock {skew:.0f} ns apart after the restore "
              f"({'TSC offsets' if exact else 'TSC as MSRs'}{', PVM' if pvm else ''})",
              flush=True)
        why = (f"last before tsc={t1} kvm={k1}, first after tsc={t2} kvm={k2}: kvmclock step "
               f"{step_k} ns, TSC step {step_t:.0f} ns; rate {rate:.4f} then "
               f"{(t3 - t2) / max(k3 - k2, 1):.4f}")
    result("snapshot/clock-continues", ok, why)


def sectors(path):
    """The 16 words the blk-loop probe writes: sector k's first 8 bytes."""
    data = open(path, "rb").read(16 * 512)
    return [struct.unpack_from("<Q", data, k * 512)[0] for k in range(16)]


def disk_image(name):
    path = os.path.join(TMP, name)
    with open(path, "wb") as fh:
        fh.truncate(1 << 20)
    return path


def disk():
    """A disk in steady use: snapshot mid-loop, restore with a copy of the image, go on."""
    d = fresh("snap-disk")
    img = disk_image("snap-disk.img")
    vm = Vm(["-k", probe("pvh"), "-c", "probe.hostile=blk-loop probe.count=200", "--disk", img,
             "--snapshot-dir", d])
    ok = vm.until(b"blk-loop i=50 ")
    vm.p.send_signal(signal.SIGUSR2)
    st, err = vm.wait()
    result("snapshot/disk-taken", ok and st == 0 and b" bad" not in vm.out
           and '"path_on_host":' in open(os.path.join(d, "config.json")).read(),
           f"status {st} err {err!r} out {vm.out[-200:]!r}")
    at = sectors(img)
    n = max(at)  # the last round whose write reached the image before the snapshot
    copy = img + ".clone"
    shutil.copy(img, copy)
    r = Vm(["--restore", d, "--disk", copy])
    got = r.until(b"PROBE blk-loop done", 90)
    st, err = r.wait()
    seen = [int(x) for x in re.findall(rb"blk-loop i=(\d+) ok", r.out)]
    result("snapshot/disk-restore-continues",
           got and st == 0 and b" bad" not in r.out and b"ready" not in r.out and seen
           and n - 10 < seen[0] <= n + 10 and seen[-1] == 200,
           f"status {st} image at round {n}, restored printed {seen[:2]}..{seen[-1:]} "
           f"err {err!r} out {r.out[-200:]!r}")
    want = [max(i for i in range(1, 201) if i % 16 == k) for k in range(16)]
    result("snapshot/disk-writes-land-in-copy", sectors(copy) == want and sectors(img) == at,
           f"copy {sectors(copy)} want {want}; original {sectors(img)} was {at}")
    # The config.json path: without --disk, the restore takes the snapshot's image.
    other = Vm(["--restore", d])
    got = other.until(b"PROBE blk-loop done", 90)
    st, _ = other.wait()
    result("snapshot/disk-from-config", got and st == 0 and sectors(img) == want,
           f"status {st} image {sectors(img)}")
    small = disk_image("snap-disk-small.img")
    os.truncate(small, 512 << 10)
    bad("disk-size", ["--restore", d, "--disk", small], "the snapshot's disk 0 had", keep=small)
    bad("disk-ro", ["--restore", d, "--disk", copy + ",ro"], "ro and cache=", keep=copy)
    bad("disk-extra", ["--restore", d, "--disk", copy, "--disk", small], "has 1 disk",
        keep=small)
    gone = fresh("snap-disk-gone")
    copy_sparse(d, gone)
    cfg = os.path.join(gone, "config.json")
    text = open(cfg).read().replace(img, img + ".missing")
    open(cfg, "w").write(text)
    bad("disk-missing", ["--restore", gone], ".missing")


def nic():
    """A NIC in a snapshot: config.json names its tap and MAC; a restore takes them, or the
    tap given in its place (a clone's own), keeping the MAC; another MAC is refused."""
    ns = f"kvmrun-sn{os.getpid()}"
    pre = ["ip", "netns", "exec", ns]
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        for tap in ("snt0", "snt1"):
            subprocess.run(pre + ["ip", "tuntap", "add", "dev", tap, "mode", "tap", "vnet_hdr"],
                           check=True)
            subprocess.run(pre + ["ip", "link", "set", tap, "up"], check=True)
        d = fresh("snap-nic")
        ok, vm = take_echo(d, "--net", "tap=snt0,mac=52:54:00:aa:bb:01", pre=pre)
        st, err = vm.wait()
        cfg = open(os.path.join(d, "config.json")).read() if st == 0 else ""
        result("snapshot/nic-taken", ok and st == 0 and '"host_dev_name":"snt0"' in cfg
               and '"guest_mac":"52:54:00:aa:bb:01"' in cfg, f"status {st} err {err!r} {cfg!r}")
        seen, st, _, err = echo_restored(d, "owntap", "--net", "tap=snt1", pre=pre)
        result("snapshot/nic-restore-other-tap", seen and st == 0, f"status {st} err {err!r}")
        seen, st, _, err = echo_restored(d, "fromconfig", pre=pre)
        result("snapshot/nic-restore-from-config", seen and st == 0, f"status {st} err {err!r}")
        bad("nic-other-mac", ["--restore", d, "--net", "tap=snt1,mac=52:54:00:aa:bb:02"],
            "not the snapshot's MAC", pre=pre)
        bad("nic-extra", ["--restore", d, "--net", "tap=snt1", "--net", "tap=snt0"],
            "has 1 NIC", pre=pre)
    finally:
        subprocess.run(["ip", "netns", "del", ns])


def nic_stream():
    """A NIC on a stream (passt's socket) in a snapshot: config.json cannot name the socket's
    connection, so a restore must be given one (--net in its position, a clone's own peer) and
    says so when it is not. (The link-status side, a snapshot taken with the peer gone, is
    unit/net/stream_link_restored: the probe drives no NIC here.)"""
    d = fresh("snap-stream")
    peers = []
    for name in ("peer1", "peer2"):
        path = os.path.join(TMP, f"snap-{name}.sock")
        if os.path.exists(path):
            os.unlink(path)
        p = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        p.bind(path)
        p.listen(1)
        peers.append((p, path))
    ok, vm = take_echo(d, "--net", f"stream={peers[0][1]},mac=52:54:00:aa:bb:07")
    st, err = vm.wait()
    result("snapshot/nic-stream-taken", ok and st == 0 and "snapshot written" in vm.logged(),
           f"status {st} err {err!r}")
    bad("nic-stream-not-given", ["--restore", d], "give --net for it")
    seen, st, _, err = echo_restored(d, "newpeer", "--net", f"stream={peers[1][1]}")
    result("snapshot/nic-stream-restores-on-new-peer", seen and st == 0,
           f"status {st} err {err!r}")
    for p, path in peers:
        p.close()
        os.unlink(path)


def on_ready():
    d = fresh("snap-ready")
    vm = Vm(["-k", probe("pvh"), "-c", "probe.boot_timer probe.exit=echo",
             "--snapshot-on-ready", d])
    st, err = vm.wait()
    result("snapshot/on-ready", st == 0 and "snapshot written" in vm.logged()
           and os.path.getsize(os.path.join(d, "state")) > 0, f"status {st} err {err!r}")
    seen, st, _, err = echo_restored(d, "ready")
    result("snapshot/on-ready-restores", seen and st == 0, f"status {st} err {err!r}")


def no_dir_sigusr2():
    """SIGUSR2 without --snapshot-dir, and the vCPU kick signal sent from outside, end nothing."""
    vm = Vm(["-k", probe("pvh"), "-c", "probe.exit=echo"])
    ok = vm.until(b"PROBE echo-ready")
    vm.p.send_signal(signal.SIGUSR2)
    vm.p.send_signal(signal.SIGVTALRM)
    time.sleep(0.5)
    vm.send(b"alive\nquit\n")
    ok = ok and vm.until(b"PROBE echo=alive")
    st, err = vm.wait()
    result("snapshot/sigusr2-without-dir", ok and st == 0, f"status {st} err {err!r}")


def bad(name, args, needle, d=None, keep=None, pre=()):
    before = hashlib.sha256(open(keep, "rb").read()).hexdigest() if keep else None
    p = subprocess.run(list(pre) + [KVMRUN] + args, capture_output=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    err = p.stderr.decode(errors="replace")
    same = not keep or hashlib.sha256(open(keep, "rb").read()).hexdigest() == before
    result(f"snapshot/bad-{name}", p.returncode == 2 and needle in err
           and len(err.strip().splitlines()) == 1 and same,
           f"status {p.returncode} stderr {err!r} unchanged {same}")


def bad_inputs():
    good = fresh("snap-good")
    ok, vm = take_echo(good)
    vm.wait()

    def copy(name, edit):
        d = fresh(f"snap-{name}")
        copy_sparse(good, d)
        edit(d)
        return d

    def poke(d, off, data):
        with open(os.path.join(d, "state"), "r+b") as fh:
            fh.seek(off)
            fh.write(data)

    def recrc(d):
        """The header edited on purpose: a CRC that matches it again (zlib's CRC-32)."""
        path = os.path.join(d, "state")
        data = bytearray(open(path, "rb").read())
        data[12:16] = b"\0\0\0\0"
        data[12:16] = struct.pack("<I", zlib.crc32(data))
        open(path, "wb").write(data)

    state = os.path.join(good, "state")
    n = os.path.getsize(state)
    bad("missing-dir", ["--restore", os.path.join(TMP, "nowhere")], "--restore")
    bad("empty-state", ["--restore", copy("empty", lambda d: open(os.path.join(d, "state"),
                                                                   "w").close())], "empty")
    bad("crc", ["--restore", copy("crc", lambda d: poke(d, n // 2, b"\xff\x00\xff"))], "CRC")
    bad("truncated", ["--restore", copy("trunc", lambda d: os.truncate(os.path.join(d, "state"),
                                                                       n - 100))], "truncated")
    bad("version", ["--restore", copy("ver", lambda d: poke(d, 8, struct.pack("<I", 99)))],
        "version 99")
    bad("magic", ["--restore", copy("magic", lambda d: poke(d, 0, b"NOTSNAPS"))],
        "not a kvmrun snapshot")
    bad("cpu", ["--restore", copy("cpu", lambda d: (poke(d, 56, b"OtherVendor!"), recrc(d)))],
        "another kind of CPU")
    def bad_cr0(d):
        """vCPU 0's CR0 with paging on and protection off: decodes, but no CPU holds it."""
        path = os.path.join(d, "state")
        data = bytearray(open(path, "rb").read())
        off = 96  # the header; then records of (tag, index, length) and their bytes
        while off + 16 <= len(data):
            tag, index, length = struct.unpack_from("<IIQ", data, off)
            if tag == 2 and index == 0:  # vCPU 0: kvm_regs (144 bytes), then kvm_sregs
                struct.pack_into("<Q", data, off + 16 + 144 + 224, 0x80000000)
                break
            off += 16 + length
        open(path, "wb").write(data)
        recrc(d)

    bad("kvm-refuses-state", ["--restore", copy("cr0", bad_cr0)], "vCPU 0")
    bad("memory-size", ["--restore", copy("memsz", lambda d: os.truncate(
        os.path.join(d, "memory"), 64 << 20))], "memory is 67108864 bytes")
    # Only kvmrun's own regular files: a FIFO does not hang the restore, a link is not followed.
    def state_fifo(d):
        os.unlink(os.path.join(d, "state"))
        os.mkfifo(os.path.join(d, "state"))

    def memory_link(d):
        os.unlink(os.path.join(d, "memory"))
        os.symlink(os.path.join(good, "memory"), os.path.join(d, "memory"))

    bad("state-fifo", ["--restore", copy("fifo", state_fifo)], "state: not a regular file")
    bad("memory-symlink", ["--restore", copy("link", memory_link)], "memory: a symbolic link")
    victim = os.path.join(TMP, "snap-victim")
    with open(victim, "w") as fh:
        fh.write("not a snapshot's to overwrite\n")
    planted = fresh("snap-planted")
    os.makedirs(planted, exist_ok=True)
    os.symlink(victim, os.path.join(planted, "state"))
    bad("dir-with-planted-link", ["-k", probe("pvh"), "--snapshot-dir", planted],
        "state: a symbolic link", keep=victim)
    bad("with-kernel", ["--restore", good, "-k", probe("pvh")], "--kernel")
    bad("with-memory", ["--restore", good, "-m", "256M"], "--memory")
    bad("with-disk", ["--restore", good, "--disk", os.path.join(good, "memory")],
        "has 0 disks")
    bad("then-without-dir", ["-k", probe("pvh"), "--snapshot-then", "exit"], "--snapshot-then")
    bad("then-value", ["-k", probe("pvh"), "--snapshot-dir", fresh("snap-y"), "--snapshot-then",
                       "later"], "exit or resume")
    bad("into-own-dir", ["--restore", good, "--snapshot-dir", good], "--snapshot-dir", keep=state)
    # A directory a restored clone runs from is not written over.
    clone = Vm(["--restore", good])
    clone.send(b"x\n")
    clone.until(b"PROBE echo=x")
    bad("dir-in-use", ["-k", probe("pvh"), "--snapshot-dir", good], "in use", keep=state)
    clone.send(b"quit\n")
    st, err = clone.wait()
    # Refused without opening it for writing: that would have ended the clone (its lease).
    result("snapshot/dir-in-use-clone-runs-on", b"PROBE echo=quit" in clone.out and st == 0,
           f"status {st} {err!r}")


echo()
memory_truncated()
resume()
count()
clock()
disk()
nic()
nic_stream()
diff()
on_ready()
no_dir_sigusr2()
bad_inputs()
