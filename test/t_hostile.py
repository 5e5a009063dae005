# SPDX-License-Identifier: Apache-2.0
"""Hostile guests: the probe's probe.hostile= modes against kvmrun's virtio-blk, UART and i8042.

Every run must end with kvmrun exiting 0 (the probe triple-faults or resets at the end), never
a crash (signal, status >= 128) or a KVM fault (3), and the disk image must hold exactly what the
valid requests wrote. Per virtio-blk case the acceptable answers follow virtio 1.x (section
numbers below): a status byte the device could legitimately write, or DEVICE_NEEDS_RESET, or
"none" where the chain has no status byte the device may write.
"""
import hashlib
import json
import os
import random
import subprocess

from kvmtest import TMP, fnv1a64, probe, probe_facts, result, run

SECTOR = 512
IMG_SECTORS = 2048  # 1 MiB
WSEC = 8            # probe.blk_write_sector
MEMORY = "128M"     # the probe's "outside RAM" address 0x40000000 needs < 1 GiB
NR = 0x40           # DEVICE_NEEDS_RESET

# Cases whose status byte is a valid writable byte of the chain: the device must answer it with
# an error (IOERR 1 / UNSUPP 2) or give up with NEEDS_RESET (2.1.2). Value: the chain's
# writable byte total as built, the bound on used_len (2.7.8.2: len never exceeds what the
# chain can hold).
ERROR = {
    "past-end-data": 513, "past-end-hdr": 1, "hole-data": 513, "high-data": 513,
    "overflow": 0x2001, "huge-len": 0x100000000, "zero-len-hdr": 513, "hdr-writable": 529,
    "write-wrong-dir": 513, "write-partial-oob": 1, "write-past-end": 1, "write-straddle-end": 1,
    "write-sector-wrap": 1, "write-sector-max": 1, "read-odd-len": 512, "read-past-end": 513,
    "wz-past-end": 1, "discard-wrap": 1,
}
# Cases without a status byte the device may write (a cycle has no last descriptor; a
# read-only or zero-length status; a status beyond a nested, out-of-range or misshapen indirect
# table, 2.7.5.3): the byte must stay untouched; used_len 0, or no used element with NEEDS_RESET.
NO_ANSWER = ["past-end-status", "self-loop", "long-chain", "status-readonly",
             "status-readonly-out", "zero-len-status", "zero-len-all", "indirect-nested",
             "indirect-oob", "indirect-overflow", "indirect-len", "indirect-zero", "status-middle"]
# The ring itself is corrupt (avail idx more than the queue size ahead, head >= queue size):
# NEEDS_RESET, or ignored; never a request carried out.
RING = ["avail-jump", "head-oob"]


def pattern(sector):
    return bytes((i * 131 + sector * 7 + 1) & 0xff for i in range(SECTOR))


def make_image(name):
    rng = random.Random(0x6b766d72)
    data = bytes(rng.getrandbits(8) for _ in range(IMG_SECTORS * SECTOR))
    path = os.path.join(TMP, name)
    with open(path, "wb") as fh:
        fh.write(data)
    return path, data


def parse_case(val):
    """'1 used_len=1 devstatus=0xf' -> (status or None, used_len or None, devstatus)."""
    parts = val.split()
    st = None if parts[0] == "none" else int(parts[0])
    kv = dict(p.split("=", 1) for p in parts[1:])
    used = None if kv.get("used_len", "none") == "none" else int(kv["used_len"])
    return st, used, int(kv.get("devstatus", "0x0"), 16)


def boot(mode, img, ro=False, extra=""):
    disk = img + (",ro" if ro else "")
    cmd = f"probe.hostile={mode}" + (f" {extra}" if extra else "")
    return run(["--kernel", probe("pvh"), "--memory", MEMORY, "--disk", disk, "--cmdline", cmd],
               timeout=120)


def check_exit(name, status, err, out):
    ok = status == 0
    why = f"status {status}"
    if status < 0:
        why += " (timeout: kvmrun hung)"
    elif status >= 128:
        why += " (killed by a signal: kvmrun crashed)"
    elif status == 3:
        why += " (KVM fault)"
    tail = " | ".join(out.strip().splitlines()[-3:])
    return result(f"{name}/exit-0", ok, f"{why}; stderr {err.strip()[:200]!r}; last lines: {tail}")


def sectors_changed(before, after):
    return [s for s in range(len(before) // SECTOR)
            if before[s * SECTOR:(s + 1) * SECTOR] != after[s * SECTOR:(s + 1) * SECTOR]]


def check_case(name, f, case, ro):
    key = f"blk.{case}"
    if key not in f:
        return result(f"{name}/{case}", False, "no line (the probe stopped before it)")
    val = f[key]
    if isinstance(val, list):
        return result(f"{name}/{case}", False, f"printed {len(val)} times: {val}")
    st, used, dev = parse_case(val)
    nr = bool(dev & NR)
    why = f"got {val}"
    if case in ERROR:
        ok = (st in (1, 2) and used is not None and used <= ERROR[case]) or (st is None and nr)
        why += f"; want status 1 or 2 with used_len <= {ERROR[case]}, or NEEDS_RESET"
    elif case in NO_ANSWER:
        ok = st is None and (used == 0 or (used is None and nr))
        why += "; want status none with used_len 0, or no used element and NEEDS_RESET"
    elif case in RING:
        ok = st is None and (used is None or nr)
        why += "; want NEEDS_RESET (or the buffers ignored), no request carried out"
    elif case == "indirect-next":
        # INDIRECT with NEXT is forbidden to the driver (2.7.5.3.1); the device may refuse the
        # chain or answer an error, but must not succeed.
        ok = (st is None and (used == 0 or (used is None and nr))) or st in (1, 2)
        why += "; want none/NEEDS_RESET or an error status"
    elif case.startswith("data-over-"):
        # A valid read into the rings themselves: it succeeds; what the device makes of the
        # clobbered ring afterwards (NEEDS_RESET, or more garbage chains consumed so the
        # used index moves past the one the probe waits for) is its business.
        ok = st == 0 and ((used is not None and used <= 513) or (used is None and nr))
        why += "; want status 0 with used_len <= 513, or status 0 and NEEDS_RESET"
    elif case == "zero-len-data":
        ok = st in (0, 1, 2) and used is not None and used <= 1
        why += "; want a status with used_len <= 1"
    elif case == "unknown-type":
        ok = (st in (1, 2) and used is not None and used <= 513) or (st is None and nr)
        why += "; want UNSUPP (or IOERR)"
    elif case == "write":
        want = 1 if ro else 0
        ok = st == want and used is not None and used <= 1 and not nr
        why += f"; want status {want} with used_len <= 1"
    else:  # valid reads: read0, readback, indirect-ok, after
        ok = st == 0 and used is not None and 1 <= used <= 513 and not nr
        why += "; want status 0 with used_len <= 513"
    return result(f"{name}/{case}", ok, why)


def blk_chains(ro):
    name = "hostile/blk-chains" + ("-ro" if ro else "")
    img, orig = make_image("blk-ro.img" if ro else "blk.img")
    status, out, err = boot("blk-chains", img, ro=ro, extra=f"probe.blk_write_sector={WSEC}")
    f = probe_facts(out)
    check_exit(name, status, err, out)
    result(f"{name}/done", "blk.done" in f and "error" not in f,
           f"blk.done {'blk.done' in f}; error={f.get('error')}")
    result(f"{name}/capacity", f.get("blk.capacity") == str(IMG_SECTORS),
           f"capacity {f.get('blk.capacity')} want {IMG_SECTORS}")
    cases = (["read0", "write", "readback", "indirect-ok", "indirect-next", "zero-len-data",
              "unknown-type", "after", "data-over-desc", "data-over-avail", "data-over-used"]
             + list(ERROR) + NO_ANSWER + RING)
    for case in cases:
        check_case(name, f, case, ro)
    s0 = fnv1a64(orig[:SECTOR])
    for key in ("read0_fnv", "indirect-ok_fnv", "after_fnv"):
        result(f"{name}/{key}", f.get(f"blk.{key}") == s0,
               f"{f.get(f'blk.{key}')} want {s0} (sector 0 of the image)")
    want_back = pattern(WSEC) if not ro else orig[WSEC * SECTOR:(WSEC + 1) * SECTOR]
    result(f"{name}/readback_fnv", f.get("blk.readback_fnv") == fnv1a64(want_back),
           f"{f.get('blk.readback_fnv')} want {fnv1a64(want_back)}")
    after = open(img, "rb").read()
    if ro:
        ok = hashlib.sha256(after).digest() == hashlib.sha256(orig).digest()
        result(f"{name}/image-unchanged", ok,
               f"size {len(after)}; sectors changed {sectors_changed(orig, after)[:20]}")
    else:
        changed = sectors_changed(orig, after)
        ok = len(after) == len(orig) and changed == [WSEC] and \
            after[WSEC * SECTOR:(WSEC + 1) * SECTOR] == pattern(WSEC)
        result(f"{name}/image-only-sector-{WSEC}", ok,
               f"size {len(after)} want {len(orig)}; sectors changed {changed[:20]} "
               f"want [{WSEC}] holding the pattern")


def blk_ops_checks(name, status, out, err, before, after):
    f = probe_facts(out)
    check_exit(name, status, err, out)
    for case in ("ops-write", "ops-flush", "ops-write-zeroes", "ops-readback", "ops-discard",
                 "ops-flush2"):
        st, used, dev = parse_case(f.get(f"blk.{case}", "none"))
        result(f"{name}/{case}", st == 0 and not dev & NR, f"got {f.get(f'blk.{case}')}")
    result(f"{name}/zeroes-read-back", f.get("blk.ops-zero") == "1", f"ops-zero={f.get('blk.ops-zero')}")
    zero = bytes(16 * SECTOR)
    changed = sectors_changed(before, after)
    result(f"{name}/image", after[40 * SECTOR:56 * SECTOR] == zero
           and all(40 <= c < 56 for c in changed) and len(after) == len(before),
           f"sectors 40-55 zero: {after[40 * SECTOR:56 * SECTOR] == zero}; changed {changed[:20]}")


def blk_ops():
    """Valid FLUSH, WRITE_ZEROES and DISCARD (negotiated), on an image file (fallocate) and, as
    root, on a loop block device (BLKZEROOUT, BLKDISCARD): sectors 40-55 end up zero, no other
    changes."""
    img, orig = make_image("ops.img")
    status, out, err = boot("blk-ops", img)
    blk_ops_checks("hostile/blk-ops", status, out, err, orig, open(img, "rb").read())
    if os.geteuid() != 0:
        return
    img, orig = make_image("ops-loop.img")
    q = subprocess.run(["losetup", "-f", "--show", img], capture_output=True, text=True)
    if not result("hostile/blk-ops-bdev/losetup", q.returncode == 0, q.stderr.strip()):
        return
    dev = q.stdout.strip()
    try:
        status, out, err = boot("blk-ops", dev)
        with open(dev, "rb") as fh:
            after = fh.read(len(orig))
    finally:
        subprocess.run(["losetup", "-d", dev])
    blk_ops_checks("hostile/blk-ops-bdev", status, out, err, orig, after)


def check_final_read(name, f, orig):
    v = f.get("blk.read0")
    ok = (isinstance(v, str) and v.split()[0] == "0"
          and f.get("blk.read0_fnv") == fnv1a64(orig[:SECTOR]))
    result(f"{name}/final-read", ok, f"blk.read0={v} fnv={f.get('blk.read0_fnv')}")


def check_image_same(name, img, orig):
    after = open(img, "rb").read()
    result(f"{name}/image-unchanged", after == orig,
           f"size {len(after)}; sectors changed {sectors_changed(orig, after)[:20]}")


def poke_facts(out):
    """Like probe_facts, but keyed by the word after PROBE for 'PROBE poke.x k=v' lines."""
    facts = {}
    for line in out.splitlines():
        line = line.rstrip("\r")
        if not line.startswith("PROBE poke."):
            continue
        key, _, rest = line[6:].partition(" ")
        facts.setdefault(key, []).append(dict(p.split("=", 1) for p in rest.split() if "=" in p))
    return facts


def mmio_poke():
    name = "hostile/mmio-poke"
    img, orig = make_image("poke.img")
    status, out, err = boot("mmio-poke", img)
    f = probe_facts(out)
    p = poke_facts(out)
    check_exit(name, status, err, out)
    result(f"{name}/done", "PROBE poke.done" in out and "error" not in f,
           f"poke.done {'PROBE poke.done' in out}; error={f.get('error')}")
    check_final_read(name, f, orig)
    check_image_same(name, img, orig)
    # 2.1.2: no buffer consumed before DRIVER_OK.
    ne = p.get("poke.notify-early", [{}])[0]
    result(f"{name}/no-use-before-driver-ok", ne.get("used") == "0x0",
           f"used idx {ne.get('used')} before DRIVER_OK, want 0x0")
    # 2.2.1: features the device never offered cannot be accepted: FEATURES_OK reads back clear.
    fb = p.get("poke.features-bogus", [{}])[0]
    result(f"{name}/features-bogus-refused",
           "devstatus" in fb and not int(fb["devstatus"], 16) & 0x8,
           f"devstatus {fb.get('devstatus')} after FEATURES_OK with all bits: want bit 3 clear")
    # 4.2.2: DeviceFeatures past the defined words reads 0; QueueNumMax of a missing queue is 0.
    fs = p.get("poke.features-sel7", [{}])[0]
    result(f"{name}/device-features-sel7-zero", fs.get("devfeat") == "0x0",
           f"DeviceFeatures at sel 7 = {fs.get('devfeat')}")
    qs = p.get("poke.queue-sel", [])
    result(f"{name}/missing-queues",
           len(qs) == 4 and all(q.get("num_max") == "0x0" for q in qs),
           f"queue-sel lines {qs}: want num_max 0x0 for sel 1, 4, 99, 0xffffffff")
    want = ["sweep", "queue-oob", "queue-misaligned", "queue-used-in-window", "qnum-7", "qnum-0",
            "qnum-257", "qnum-65536", "notify-early-after-ok", "garbage-heads", "garbage-descs",
            "garbage-idx", "driver-ok-first", "no-features-ok", "features-legacy", "unmapped",
            "ports"]
    missing = [w for w in want if f"poke.{w}" not in p]
    result(f"{name}/all-steps", not missing, f"missing poke lines: {missing}")


def reg_read():
    """Register reads come from the window kvmrun maps read-only: no exit per read."""
    name = "hostile/reg-read-no-exits"
    img, _ = make_image("regs.img")
    mfile = os.path.join(TMP, "regs.metrics")
    status, out, err = run(["--kernel", probe("pvh"), "--memory", MEMORY, "--disk", img,
                            "--cmdline", "probe.hostile=reg-read", "--metrics", mfile], timeout=120)
    p = poke_facts(out).get("poke.regs", [{}])[0]
    try:
        with open(mfile) as fh:
            mmio = json.loads(fh.read().splitlines()[-1])["exits"]["mmio"]
    except (OSError, ValueError, IndexError, KeyError) as e:
        mmio = f"unreadable metrics: {e}"
    # 4096 + 1024 + 3 reads and 1000 ACKs of VRING, none exiting; the ~25 exits left are the
    # writes that set the device up, the ACK of VRING|CONFIG and the final read's.
    a = poke_facts(out).get("poke.ack", [{}])[0]
    f = probe_facts(out)
    ok = (status == 0 and p.get("magic") == "0x74726976" and p.get("version") == "0x2"
          and p.get("id") == "0x2" and p.get("isr") == "0x0" and isinstance(mmio, int) and mmio < 64)
    result(name, ok, f"status {status}; regs {p}; mmio exits {mmio} (want < 64); stderr {err!r}")
    # The used-buffer bit is set by the request, stays set after ACKs of it alone (KVM takes
    # them), and an ACK naming CONFIG too exits and clears it.
    result("hostile/reg-read-ack",
           a.get("isr_req") == "0x1" and a.get("isr_ack1") == "0x1" and a.get("isr_ack3") == "0x0"
           and "error" not in f, f"ack facts {a}; error={f.get('error')}")


def serial_poke():
    name = "hostile/serial-poke"
    img, orig = make_image("serial.img")
    status, out, err = boot("serial-poke", img)
    f = probe_facts(out)
    check_exit(name, status, err, out)
    result(f"{name}/done", "PROBE serial-poke.done" in out and "error" not in f,
           f"serial-poke.done {'PROBE serial-poke.done' in out}; error={f.get('error')}")
    # The UART is sane again: the lines after the poke arrive whole.
    check_final_read(name, f, orig)
    check_image_same(name, img, orig)


def i8042_poke():
    name = "hostile/i8042-poke"
    img, orig = make_image("i8042.img")
    status, out, err = boot("i8042-poke", img)
    f = probe_facts(out)
    check_exit(name, status, err, out)
    result(f"{name}/done", "PROBE i8042-poke.done" in out and "error" not in f,
           f"i8042-poke.done {'PROBE i8042-poke.done' in out}; error={f.get('error')}")
    check_final_read(name, f, orig)
    check_image_same(name, img, orig)
    # The reset pulse still works after the poking (else: error=reset-ignored, triple fault).
    result(f"{name}/reset-still-works", "PROBE i8042-poke.reset" in out and "error" not in f,
           f"reset line {'PROBE i8042-poke.reset' in out}; error={f.get('error')}")


def edge_cases():
    # No disk: blk-chains cannot start (error line) and mmio-poke pokes an unclaimed window.
    status, out, err = run(["--kernel", probe("pvh"), "--memory", MEMORY,
                            "--cmdline", "probe.hostile=blk-chains"])
    f = probe_facts(out)
    result("hostile/blk-chains-nodisk", status == 0 and f.get("error") == "blk-negotiate",
           f"status {status}; error={f.get('error')}; stderr {err.strip()[:200]!r}")
    status, out, err = run(["--kernel", probe("pvh"), "--memory", MEMORY,
                            "--cmdline", "probe.hostile=mmio-poke"])
    f = probe_facts(out)
    ok = status == 0 and "PROBE poke.done" in out and "blk.absent" in f and "error" not in f
    result("hostile/mmio-poke-nodisk", ok,
           f"status {status}; poke.done {'PROBE poke.done' in out}; stderr {err.strip()[:200]!r}")
    status, out, err = run(["--kernel", probe("pvh"), "--cmdline", "probe.hostile=bogus"])
    f = probe_facts(out)
    result("hostile/unknown-mode", status == 0 and f.get("error") == "unknown-exit-mode",
           f"status {status}; error={f.get('error')}")


blk_chains(ro=False)
blk_chains(ro=True)
blk_ops()
mmio_poke()
reg_read()
serial_poke()
i8042_poke()
edge_cases()
