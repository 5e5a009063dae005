# SPDX-License-Identifier: Apache-2.0
"""Hostile guest against kvmrun's virtio-net: the probe's probe.hostile=net-chains mode.

The test makes its own network namespace, runs kvmrun in it on a tap it creates, and plays the
host side with a raw AF_PACKET socket on that tap: it sends frames into the guest when the probe
prints `PROBE net.rx-ready=<phase>` and captures everything the guest transmits. Expectations
(virtio 1.x 5.1.6): valid TX frames reach the tap exactly once and byte for byte; no hostile TX
chain puts anything on the wire (in particular no truncated frame); every TX chain comes back
with used length 0, or the device sets DEVICE_NEEDS_RESET (ring corruption); RX frames arrive
whole with the right num_buffers (merged buffers) or, too big for a buffer without MRG_RXBUF,
not at all; hostile RX buffers are returned with length 0 and their memory untouched, and later
valid buffers still work; kvmrun exits 0 at the probe's triple fault.
"""
import ctypes
import json
import os
import queue
import socket
import subprocess
import threading
import time

from kvmtest import KVMRUN, TMP, fnv1a64, probe, probe_facts, result, run

NAME = "hostile/net-chains"
NS = f"kvmrun-hn{os.getpid()}"
TAP = "kvhn0"
MAC = "52:54:00:12:34:99"
GUEST = bytes.fromhex(MAC.replace(":", ""))
PEER = bytes.fromhex("020000000099")
ETYPE = b"\x88\xb5"
NR = 0x40  # DEVICE_NEEDS_RESET
DEADLINE = 120  # seconds for the whole run (under ASan, in L1)
CLONE_NEWNET = 0x40000000
ETH_P_ALL = 3
PACKET_OUTGOING = 4
RXBUF = 2048
METRICS = os.path.join(TMP, "hostile-net-metrics.json")

# Frames the host sends per RX phase: (length, seed); the last one carries the end marker.
PHASES = {
    "rxa": [(60, 1), (1514, 2), (9000, 3)],
    "rxd": [(9000, 15), (9000, 16)],
    "rxh": [(1514, 4)],
    "rxm": [(9000, 5), (60, 6)],
    "rxo": [(60, 7)],
    "rxb": [(9000, 8), (60, 9), (1514, 10)],
}
RXH_CASES = ["readable", "oob", "overflow", "zero-len", "short", "loop", "mixed", "order",
             "ind-nested", "ind-oob", "partial-oob", "huge-len", "ind-len"]
# TX: valid cases and their frame lengths (must arrive once, intact).
TX_VALID = {"tx-60": 60, "tx-1514": 1514, "tx-one-desc": 100, "tx-scatter": 1000,
            "tx-indirect": 200, "tx-after": 60, "txb-60": 60, "txb-csum": 100, "txb-1514": 1514}
TX_MAYBE = {"tx-max": 65550}  # the largest frame kvmrun takes: the tap may refuse it
TX_BAD = ["tx-short", "tx-hdr-only", "tx-runt", "tx-too-long", "tx-huge", "tx-past-end",
          "tx-partial-oob", "tx-hdr-oob", "tx-overflow", "tx-huge-len", "tx-writable",
          "tx-all-writable", "tx-order", "tx-self-loop", "tx-long-chain", "tx-next-oob",
          "tx-ind-nested", "tx-ind-oob", "tx-ind-len", "tx-ind-zero", "tx-ind-next",
          "tx-ind-idx", "tx-ind-huge", "tx-csum", "tx-gso-tcp4", "tx-gso-udp", "tx-gso-ecn",
          "tx-flags", "txb-indirect", "txb-gso-tcp6"]
TX_RING = ["tx-avail-jump", "tx-head-oob"]  # corrupt ring: NEEDS_RESET (or ignored)

libc = ctypes.CDLL(None, use_errno=True)


def host_frame(length, seed, last):
    f = bytearray((i * 7 + seed) & 0xff for i in range(length))
    f[0:6], f[6:12], f[12:14] = GUEST, PEER, ETYPE
    f[14], f[15] = 1 if last else 0, seed
    return bytes(f)


def tx_frame(tag, length):
    f = bytearray((i * 13 + 5) & 0xff for i in range(max(length, 46)))
    f[0:6], f[6:12], f[12:14] = b"\xff" * 6, GUEST, ETYPE
    f[14:46] = tag.encode().ljust(32, b"\0")
    return bytes(f[:length])


def ip(*args, check=True):
    return subprocess.run(["ip", *args], capture_output=True, timeout=10, check=check)


def packet_socket():
    """A raw AF_PACKET socket on the tap, created inside the namespace."""
    here = os.open("/proc/self/ns/net", os.O_RDONLY)
    there = os.open(f"/var/run/netns/{NS}", os.O_RDONLY)
    try:
        if libc.setns(there, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns")
        try:
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
            s.bind((TAP, ETH_P_ALL))
            s.settimeout(0.2)
            return s
        finally:
            if libc.setns(here, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back")
    finally:
        os.close(here)
        os.close(there)


class Capture(threading.Thread):
    """Everything the tap receives from kvmrun (not what we send) with ethertype 0x88b5."""

    def __init__(self, sock):
        super().__init__(daemon=True)
        self.sock, self.frames, self.stop = sock, [], threading.Event()
        self.errors = 0

    def run(self):
        while True:
            try:
                data, addr = self.sock.recvfrom(70000)
            except socket.timeout:
                if self.stop.is_set():
                    return  # asked to stop, and nothing more is queued
                continue
            except OSError:
                # e.g. ENETDOWN once, when the tap loses its carrier: frames still queued
                # are read on the next call (the tap gone for good: not without end)
                if self.stop.is_set() and self.sock.fileno() < 0:
                    return
                self.errors += 1
                if self.stop.is_set() and self.errors > 100:
                    return
                time.sleep(0.01)
                continue
            if addr[2] != PACKET_OUTGOING and data[12:14] == ETYPE:
                self.frames.append(data)


def rest(q, timeout=5):
    """What a reader() has still to put in q, up to its end (None) or `timeout` s of quiet."""
    got = []
    while True:
        try:
            item = q.get(timeout=timeout)
        except queue.Empty:
            return got
        if item is None:
            return got
        got.append(item)


def reader(stream, q):
    for raw in iter(stream.readline, b""):
        q.put(raw.decode(errors="replace"))
    q.put(None)


# rx-flood: frames that wait in kvmrun while the guest offers only malformed buffers.
FLOOD_FRAMES = [(60, 12), (1514, 13), (60, 14)]


def drive(extra, mode="net-chains"):
    """Run the probe and play the host. Returns (status, stdout, stderr, frames, sent, why)."""
    cmd = ["ip", "netns", "exec", NS, KVMRUN, "--kernel", probe("pvh"), "--memory", "128M",
           *extra, "--net", f"tap={TAP},mac={MAC}", "--metrics", METRICS,
           "--cmdline", f"probe.hostile={mode}"]
    # The tap outlives kvmrun (persistent), so frames written just before the exit are not
    # lost with the device; MTU 9000 for the 9000-byte frames the host sends.
    ip("-n", NS, "tuntap", "add", "dev", TAP, "mode", "tap", "vnet_hdr")
    ip("-n", NS, "link", "set", TAP, "mtu", "9000", "up")
    sock = packet_socket()
    cap = Capture(sock)
    cap.start()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    lines, errs = queue.Queue(), queue.Queue()
    threading.Thread(target=reader, args=(p.stdout, lines), daemon=True).start()
    threading.Thread(target=reader, args=(p.stderr, errs), daemon=True).start()
    out, sent, why = [], [], ""
    end = time.monotonic() + DEADLINE
    try:
        while True:
            try:
                line = lines.get(timeout=max(0.05, end - time.monotonic()))
            except queue.Empty:
                why = "deadline"
                break
            if line is None:
                break
            out.append(line)
            if not line.startswith("PROBE net.rx-ready="):
                continue
            phase = line.strip().split("=", 1)[1]
            frames = FLOOD_FRAMES if phase == "flood" else PHASES.get(phase, [])
            for i, (length, seed) in enumerate(frames):
                # rxo's frame finds a broken ring: it carries no end marker, as it may turn
                # up at the start of a later phase
                last = i == len(frames) - 1 and phase != "rxo"
                sock.send(host_frame(length, seed, last))
                sent.append((phase, length, seed))
        try:
            status = p.wait(timeout=max(1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            why = why or "deadline"
            p.kill()
            status = -1
            p.wait(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=10)
        cap.stop.set()  # it reads on until the socket stays quiet for its timeout
        cap.join(timeout=30)
        sock.close()
    out += rest(lines)  # stdout and stderr after the exit, to their ends
    return status, "".join(out), "".join(rest(errs)), cap.frames, sent, why


def kv(val):
    return dict(p.split("=", 1) for p in (val or "").split() if "=" in p)


def one(f, key):
    v = f.get(key)
    return v[-1] if isinstance(v, list) else v


def frames_of(f, phase):
    """The probe's frame lines of a phase, in order, as dicts."""
    got, i = [], 0
    while f"net.{phase}-{i}" in f:
        got.append(kv("len=" + one(f, f"net.{phase}-{i}").split("=", 1)[1]))
        i += 1
    return got


def want_rx(length, seed, last):
    return {"len": str(length), "fnv": fnv1a64(host_frame(length, seed, last))}


def check_rx(f):
    for phase in ("rxa", "rxd", "rxh", "rxm", "rxb"):
        end = kv(one(f, f"net.{phase}-end"))
        got = frames_of(f, phase)
        frames = PHASES[phase]
        want = [want_rx(n, s, i == len(frames) - 1) for i, (n, s) in enumerate(frames)]
        if phase == "rxm":
            want = want[1:]  # the 9000-byte frame met a bad chain mid-way: dropped whole
        if phase == "rxb":
            want = want[1:]  # 9000 bytes do not fit a 2 KiB buffer without MRG_RXBUF: dropped
            stale = want_rx(60, 7, False)  # rxo's frame, held while the ring was broken
            if got and {k: got[0].get(k) for k in ("len", "fnv")} == stale:
                got = got[1:]
        seen = [{k: g.get(k) for k in ("len", "fnv")} for g in got]
        result(f"{NAME}/{phase}-frames", seen == want and end.get("last") == "1",
               f"got {seen} want {want}; end {end}")
        # num_buffers: a buffer per 2 KiB of header + frame with MRG_RXBUF, 1 without
        # (rxd's 40 KiB buffers hold any of its frames whole: one each)
        bad = [g for g in got if "missing" in g or
               int(g.get("bufs", 0)) < (int(g["len"]) + 12 + RXBUF - 1) // RXBUF
               and phase != "rxd" or (phase in ("rxb", "rxd") and g.get("bufs") != "1")]
        result(f"{NAME}/{phase}-num-buffers", got and not bad, f"frames {got}")
        # Headers: no GSO ever; flags 0 without GUEST_CSUM, at most DATA_VALID with it.
        bad = [g for g in got if g.get("gso") != "0" or
               g.get("flags") not in (("0x0", "0x2") if phase == "rxb" else ("0x0",))]
        result(f"{NAME}/{phase}-header", got and not bad, f"frames {got}")
    rxh_dev = int(kv(one(f, "net.rxh-end")).get("devstatus", "0x0"), 16)
    for case in RXH_CASES:
        v = kv(one(f, f"net.rxh-{case}"))
        used = v.get("used_len")
        ok = v.get("intact") == "1" and (used == "0" or (used == "none" and rxh_dev & NR))
        result(f"{NAME}/rxh-{case}", ok,
               f"got {v or None}; want used_len=0 (or NEEDS_RESET) and the buffer untouched")
    m = kv(one(f, "net.rxm-end"))
    result(f"{NAME}/rxm-chains-returned", m.get("zero") == "2",
           f"rxm-end {m}: want both chains of the dropped frame back with length 0")
    for case in ("rx-avail-jump", "rx-head-oob"):
        v = kv(one(f, f"net.{case}"))
        dev = int(v.get("devstatus", "0x0"), 16)
        result(f"{NAME}/{case}", v.get("used") == "none" and dev & NR,
               f"got {v or None}; want NEEDS_RESET and no buffer used")
    o = kv(one(f, "net.rxo-end"))
    result(f"{NAME}/rxo-nothing-delivered", o.get("frames") == "0", f"rxo-end {o}")


def check_tx(f, frames):
    by_tag = {}
    untagged = []
    for fr in frames:
        if fr[6:12] != GUEST:
            continue
        tag = fr[14:46].split(b"\0", 1)[0].decode(errors="replace") if len(fr) >= 46 else ""
        if tag in TX_VALID or tag in TX_MAYBE or tag in TX_BAD or tag in TX_RING:
            by_tag.setdefault(tag, []).append(fr)
        else:
            untagged.append(fr)
    for tag, n in TX_VALID.items():
        got = by_tag.get(tag, [])
        ok = len(got) == 1 and got[0] == tx_frame(tag, n)
        result(f"{NAME}/{tag}-on-tap", ok,
               f"{len(got)} frames, lengths {[len(g) for g in got]}, want one of {n} bytes intact")
    for tag, n in TX_MAYBE.items():
        got = by_tag.get(tag, [])
        ok = len(got) == 0 or (len(got) == 1 and got[0] == tx_frame(tag, n))
        result(f"{NAME}/{tag}-whole-or-nothing", ok,
               f"{len(got)} frames, lengths {[len(g) for g in got]}")
    for tag in TX_BAD + TX_RING:
        got = by_tag.get(tag, [])
        result(f"{NAME}/{tag}-not-on-tap", not got,
               f"{len(got)} frames reached the tap, lengths {[len(g) for g in got]}")
    result(f"{NAME}/tx-no-stray-frames", not untagged,
           f"{len(untagged)} frames from the guest MAC without a known case name: "
           f"{[(len(u), u[14:46]) for u in untagged[:5]]}")
    for tag in list(TX_VALID) + list(TX_MAYBE) + TX_BAD:
        v = kv("used_len=" + (one(f, f"net.{tag}") or "=").split("=", 1)[1])
        dev = int(v.get("devstatus", "0x0"), 16)
        ok = v.get("used_len") == "0" and not dev & NR
        result(f"{NAME}/{tag}-returned", ok, f"got {one(f, f'net.{tag}')}; want used_len=0")
    for tag in TX_RING:
        v = kv("used_len=" + (one(f, f"net.{tag}") or "=").split("=", 1)[1])
        dev = int(v.get("devstatus", "0x0"), 16)
        ok = v.get("used_len") == "none" or (v.get("used_len") == "0" and not dev & NR)
        result(f"{NAME}/{tag}-refused", ok, f"got {one(f, f'net.{tag}')}; "
               "want NEEDS_RESET and no used element (or the buffers ignored)")


def check_metrics(frames):
    """kvmrun's own count agrees with the tap: every frame it wrote arrived."""
    try:
        with open(METRICS) as fh:
            m = json.loads(fh.read().strip().splitlines()[-1])["nets"]["eth0"]
    except (OSError, ValueError, KeyError, IndexError) as e:
        result(f"{NAME}/metrics", False, f"no metrics: {e}")
        return
    mine = [fr for fr in frames if fr[6:12] == GUEST]
    result(f"{NAME}/metrics-tx-frames", m.get("tx_frames") == len(mine),
           f"kvmrun tx_frames {m.get('tx_frames')}, frames on the tap {len(mine)}; {m}")


def main(name, extra, base):
    global NAME
    NAME = name
    try:
        ip("netns", "add", NS)
    except Exception as e:  # noqa: BLE001 - no namespaces here: one failure, not a crash
        result(f"{NAME}/netns", False, f"ip netns add: {e}")
        return
    try:
        # No IPv6 on the tap: the kernel's own router solicitations would be RX noise.
        subprocess.run(["ip", "netns", "exec", NS, "sysctl", "-qw",
                        "net.ipv6.conf.all.disable_ipv6=1",
                        "net.ipv6.conf.default.disable_ipv6=1"], capture_output=True, timeout=10)
        t0 = time.monotonic()
        status, out, err, frames, sent, why = drive(extra)
        took = time.monotonic() - t0
        f = probe_facts(out)
        tail = " | ".join(out.strip().splitlines()[-3:])
        reason = f"status {status}" + (" (timeout: kvmrun hung or the probe stalled)"
                                       if status < 0 else " (kvmrun crashed)"
                                       if status >= 128 else " (KVM fault)" if status == 3 else "")
        result(f"{NAME}/exit-0", status == 0,
               f"{reason}; {why}; {took:.1f} s; stderr {err.strip()[:200]!r}; last lines: {tail}")
        result(f"{NAME}/done", "PROBE net.done" in out and "error" not in f,
               f"net.done {'PROBE net.done' in out}; error={f.get('error')}")
        result(f"{NAME}/device", f.get("net.base") == base and f.get("net.mac") == MAC
               and f.get("net.link") == "1",
               f"base {f.get('net.base')} mac {f.get('net.mac')} link {f.get('net.link')}")
        result(f"{NAME}/host-sent", len(sent) == sum(len(v) for v in PHASES.values()),
               f"sent {sent}")
        check_rx(f)
        check_tx(f, frames)
        check_metrics(frames)
    except Exception as e:  # noqa: BLE001 - setup trouble is one failure line, not a crash
        result(f"{NAME}/host-side", False, f"{type(e).__name__}: {e}")
    finally:
        ip("-n", NS, "link", "del", TAP, check=False)
        ip("netns", "del", NS, check=False)



def rx_flood():
    """A guest that refills its RX ring with malformed chains as fast as kvmrun returns them
    (a second vCPU does it) while frames wait: the device must still answer the first vCPU's
    register writes (each takes the device lock), not spin on the chains holding it."""
    global NAME
    NAME = "hostile/rx-flood"
    try:
        ip("netns", "add", NS)
        subprocess.run(["ip", "netns", "exec", NS, "sysctl", "-qw",
                        "net.ipv6.conf.all.disable_ipv6=1",
                        "net.ipv6.conf.default.disable_ipv6=1"], capture_output=True, timeout=10)
        status, out, err, frames, sent, why = drive(["--cpus", "2"], mode="rx-flood")
        f = probe_facts(out)
        v = kv(one(f, "net.flood"))
        worst = int(v.get("worst_us", 10**9))
        print(f"INFO {NAME}: {v}", flush=True)
        result(f"{NAME}/exit-0", status == 0 and "error" not in f,
               f"status {status}; {why}; error={f.get('error')}; stderr {err.strip()[:200]!r}")
        # Without a bound the device held its lock until the flood's own 8 s limit.
        result(f"{NAME}/register-writes-answered", v.get("writes") == "50" and worst < 2000000,
               f"flood line {v or None}: want 50 writes, the slowest under 2 s")
        result(f"{NAME}/flood-ran", int(v.get("chains", 0)) >= 128
               and not int(v.get("devstatus", "0x0"), 16) & NR and len(sent) > 0,
               f"flood line {v or None}; frames sent {sent}")
    except Exception as e:  # noqa: BLE001 - setup trouble is one failure line, not a crash
        result(f"{NAME}/host-side", False, f"{type(e).__name__}: {e}")
    finally:
        ip("-n", NS, "link", "del", TAP, check=False)
        ip("netns", "del", NS, check=False)


def no_nic():
    """Without a NIC the mode says so and the probe still ends cleanly."""
    status, out, err = run(["--kernel", probe("pvh"), "--memory", "128M",
                            "--cmdline", "probe.hostile=net-chains"], timeout=60)
    f = probe_facts(out)
    result("hostile/net-chains-nonic", status == 0 and f.get("error") == "net-absent",
           f"status {status}; error={f.get('error')}; stderr {err.strip()[:200]!r}")


main("hostile/net-chains", [], "0xd0000000")
# A disk first: the NIC moves to the second window (GSI 6); the probe finds it there.
DISK = os.path.join(TMP, "hostile-net-disk.img")
with open(DISK, "wb") as fh:
    fh.truncate(1 << 20)
main("hostile/net-chains-after-disk", ["--disk", DISK], "0xd0001000")
rx_flood()
no_nic()
