# SPDX-License-Identifier: Apache-2.0
"""The probe guest on this host's /dev/kvm: what kvmrun hands over, checked from inside."""
import json
import os
import re
import signal
import struct
import time

from kvmtest import (DEFAULT_CMDLINE, KVMRUN, TMP, expected_e820, fnv1a64, probe, probe_facts,
                     result, run, start_until, stop)

MIB = 1 << 20


def check_boot(name, fmt, cpus=1, mem=128 * MIB, initrd=None, cmdline=None):
    args = ["--kernel", probe(fmt), "--cpus", str(cpus), "--memory", f"{mem // MIB}M"]
    if initrd:
        args += ["--initrd", initrd]
    if cmdline:
        args += ["--cmdline", cmdline]
    status, out, err = run(args)
    f = probe_facts(out)
    want_cmd = DEFAULT_CMDLINE + (" " + cmdline if cmdline else "")
    e820 = expected_e820(mem)
    want_e820 = [f"0x{a:x}-0x{b:x}:{t}" for a, b, t in e820]
    got_e820 = f.get("e820", [])
    got_e820 = got_e820 if isinstance(got_e820, list) else [got_e820]
    usable = sum(b - a for a, b, t in e820 if t == 1)
    problems = []
    if status != 0:
        problems.append(f"status {status} ({err.strip()[:200]})")
    expect = {"boot": fmt.rstrip("32"), "cmdline": want_cmd, "e820_count": str(len(e820)),
              "mem_usable": str(usable), "mem_check": "ok", "hypervisor": "KVMKVMKVM",
              "mp_cpus": str(cpus), "mp_ioapic": "0xfec00000", "cpus_up": str(cpus)}
    if initrd:
        data = open(initrd, "rb").read()
        expect["initrd_size"] = str(len(data))
        expect["initrd_fnv"] = fnv1a64(data)
    else:
        expect["initrd_size"] = "0"
    for k, v in expect.items():
        if f.get(k) != v:
            problems.append(f"{k}={str(f.get(k))[:80]!s} want {v[:80]}")
    if got_e820 != want_e820:
        problems.append(f"e820 {got_e820} want {want_e820}")
    if "error" in f:
        problems.append(f"probe error {f['error']}")
    if "done" not in f:
        problems.append("no PROBE done")
    result(name, not problems, "; ".join(problems))


def boots():
    for fmt in ("pvh", "bzimage", "elf"):
        check_boot(f"probe/{fmt}-1cpu-128M", fmt)
    for fmt, cpus in (("pvh", 2), ("pvh", 4), ("bzimage", 2), ("elf", 4), ("pvh", 32)):
        check_boot(f"probe/{fmt}-{cpus}cpus", fmt, cpus=cpus)
    for fmt, mem in (("pvh", 64 * MIB), ("bzimage", 64 * MIB), ("pvh", 4096 * MIB),
                     ("elf", 4096 * MIB), ("bzimage", 4096 * MIB)):
        check_boot(f"probe/{fmt}-{mem // MIB}M", fmt, mem=mem)
    rd = os.path.join(TMP, "initrd.bin")
    with open(rd, "wb") as fh:
        fh.write(os.urandom(3 * MIB + 123))
    for fmt in ("pvh", "bzimage", "elf"):
        check_boot(f"probe/{fmt}-initrd", fmt, initrd=rd)
    long_cmd = " ".join(f"probe.word{i}=" + "x" * 40 for i in range(80))  # ~3.8 KB
    for fmt in ("pvh", "bzimage", "elf"):
        check_boot(f"probe/{fmt}-long-cmdline", fmt, cmdline=long_cmd)
    check_boot("probe/pvh-2cpus-4G-initrd", "pvh", cpus=2, mem=4096 * MIB, initrd=rd)
    # A PVH kernel linked as ELF32 boots through its note like the ELF64 one.
    check_boot("probe/pvh32-1cpu-128M", "pvh32")
    check_boot("probe/pvh32-2cpus-initrd", "pvh32", cpus=2, initrd=rd)


def exits():
    status, out, err = run(["-k", probe("pvh"), "-c", "probe.exit=triple"])
    result("exit/triple-fault-is-0", status == 0 and "PROBE done" in out, f"status {status} {err}")
    status, out, err = run(["-k", probe("bzimage")])
    result("exit/i8042-reset-is-0", status == 0 and "PROBE done" in out, f"status {status} {err}")
    status, out, err = run(["-k", probe("pvh"), "-c", "probe.exit=emulfail"])
    result("exit/kvm-internal-error-is-3",
           status == 3 and "emulation failure" in err and "RIP 0x" in err
           and len(err.strip().splitlines()) == 1, f"status {status} stderr {err!r}")
    for sig, mode, want, extra in ((signal.SIGTERM, "wait", 0, "PROBE ctrl-alt-del"),
                                   (signal.SIGTERM, "halt", 128 + 15, ""),
                                   (signal.SIGINT, "halt", 128 + 2, ""),
                                   (signal.SIGHUP, "halt", 128 + 1, ""),
                                   # The fault handler gives the terminal back and dies of
                                   # the signal (main's filter has no rt_sigreturn to return
                                   # with: it was SIGSYS, 159)
                                   (signal.SIGSEGV, "halt", -signal.SIGSEGV, ""),
                                   (signal.SIGBUS, "halt", -signal.SIGSEGV, ""),
                                   (signal.SIGFPE, "halt", -signal.SIGFPE, ""),
                                   (signal.SIGILL, "halt", -signal.SIGILL, "")):
        marker = b"PROBE waiting" if mode == "wait" else b"PROBE done"
        # wait: the guest answers Ctrl-Alt-Del (10 s: under ASan or in L1); halt: the grace
        # period ends it, and is measured
        p, seen = start_until(["-k", probe("pvh"), "-c", f"probe.exit={mode}",
                               "--shutdown-timeout", "10" if mode == "wait" else "1"], marker)
        t0 = time.time()
        out, err = stop(p, sig)
        took = time.time() - t0
        out = (seen + out).decode(errors="replace")
        name = f"exit/{signal.Signals(sig).name}-{mode}-is-{want}"
        ok = p.returncode == want and extra in out
        if mode == "halt" and sig == signal.SIGTERM:
            ok = ok and 0.9 < took < 10  # waited the grace period, not forever
        result(name, ok, f"status {p.returncode} after {took:.1f}s; stderr {err!r}")


def restarts():
    """--on-reboot restart: a reboot boots the machine again, from zeroed RAM; poweroff exits."""
    metrics = os.path.join(TMP, "restart-metrics.json")
    for mode in ("reboot", "reboot-triple"):
        name = f"restart/{mode}"
        p, seen = start_until(["-k", probe("pvh"), "-c", f"probe.exit={mode}", "--on-reboot",
                               "restart", "--metrics", metrics],
                              b"reboot.memory=", timeout=30)
        # Read on until four boots have said how they found RAM.
        deadline = time.time() + 60
        while seen.count(b"reboot.memory=") < 4 and time.time() < deadline:
            chunk = p.stdout.read1(4096)
            if not chunk:
                break
            seen += chunk
        out, err = stop(p, signal.SIGTERM)
        text = (seen + out).decode(errors="replace")
        boots = text.count("reboot.memory=")
        result(f"{name}-boots-again", boots >= 4 and text.count("PROBE boot=pvh") >= 4,
               f"{boots} boots seen; stderr {err!r}")
        result(f"{name}-memory-zeroed", "reboot.memory=stale" not in text
               and text.count("reboot.memory=clean") == boots,
               f"{text.count('reboot.memory=stale')} boots found the last run's mark")
        # SIGTERM: the guest's next reboot ends kvmrun (Ctrl-Alt-Del is how guests stop).
        try:
            m = json.loads(open(metrics).read().strip().splitlines()[-1])
        except (OSError, ValueError, IndexError):
            m = {}
        result(f"{name}-sigterm-exits-0", p.returncode == 0 and m.get("reboots", 0) >= 3,
               f"status {p.returncode}, reboots {m.get('reboots')}; stderr {err!r}")
    # Poweroff always exits, restart or not.
    status, out, err = run(["-k", probe("pvh"), "-c", "probe.exit=acpi probe.acpi=poweroff",
                            "--on-reboot", "restart"])
    result("restart/poweroff-exits-0", status == 0 and out.count("PROBE boot=") == 1,
           f"status {status}, {out.count('PROBE boot=')} boots; {err!r}")
    # The default is exit, as before.
    status, out, err = run(["-k", probe("pvh"), "-c", "probe.exit=reboot"])
    result("restart/default-exit", status == 0 and out.count("reboot.memory=") == 1,
           f"status {status}; {err!r}")
    status, out, err = run(["-k", probe("pvh"), "--on-reboot", "again"])
    result("restart/bad-value-is-2", status == 2 and "--on-reboot" in err
           and len(err.strip().splitlines()) == 1, f"status {status} {err!r}")


def bad_inputs():
    bz = open(probe("bzimage"), "rb").read()
    paths = {}
    for name, data in (("trunc.bzImage", bz[:1500]), ("trunc.elf", open(probe("elf"), "rb").read()[:300]),
                       ("random.bin", os.urandom(65536)), ("empty", b""),
                       ("big.bin", b"\0" * (5 * MIB))):
        paths[name] = os.path.join(TMP, name)
        with open(paths[name], "wb") as fh:
            fh.write(data)
    paths["fifo"] = os.path.join(TMP, "fifo")  # nobody reads or writes it: opening must not wait
    if not os.path.exists(paths["fifo"]):
        os.mkfifo(paths["fifo"])
    small = bytearray(bz)
    struct.pack_into("<I", small, 0x238, 255)  # cmdline_size: 255
    paths["small-cmdline.bzImage"] = os.path.join(TMP, "small-cmdline.bzImage")
    with open(paths["small-cmdline.bzImage"], "wb") as fh:
        fh.write(small)
    k = ["--kernel", probe("pvh")]
    cases = [
        ("missing-kernel", ["--kernel", "/nonexistent/bzImage"], "/nonexistent/bzImage"),
        ("no-kernel-flag", [], "--kernel"),
        ("truncated-bzimage", ["--kernel", paths["trunc.bzImage"]], "trunc.bzImage"),
        ("truncated-elf", ["--kernel", paths["trunc.elf"]], "trunc.elf"),
        ("random-kernel", ["--kernel", paths["random.bin"]], "random.bin"),
        ("empty-kernel", ["--kernel", paths["empty"]], "empty"),
        ("directory-kernel", ["--kernel", TMP], TMP),
        ("devnull-kernel", ["--kernel", "/dev/null"], "/dev/null"),
        ("fifo-kernel", ["--kernel", paths["fifo"]], "not a regular file"),
        ("fifo-initrd", k + ["--initrd", paths["fifo"]], "not a regular file"),
        ("fifo-log-without-reader", k + ["--log", paths["fifo"]], "a FIFO needs a reader"),
        ("elf32-without-pvh-note", ["--kernel", probe("elf32")], "PVH entry note"),
        ("memory-0", k + ["--memory", "0"], "--memory"),
        ("memory-absurd", k + ["--memory", "4096T"], "--memory"),
        ("memory-nan", k + ["--memory", "lots"], "--memory"),
        ("memory-too-small-for-kernel", ["--kernel", probe("bzimage"), "--memory", "4M",
                                         "--initrd", paths["big.bin"]], "raise --memory"),
        ("cpus-0", k + ["--cpus", "0"], "--cpus"),
        ("cpus-1000", k + ["--cpus", "1000"], "--cpus"),
        ("cpus-nan", k + ["--cpus", "two"], "--cpus"),
        ("missing-initrd", k + ["--initrd", "/nonexistent/initrd"], "/nonexistent/initrd"),
        ("directory-initrd", k + ["--initrd", TMP], "--initrd"),
        ("cmdline-too-long-for-protocol", ["--kernel", paths["small-cmdline.bzImage"],
                                           "--cmdline", "x" * 300], "--cmdline"),
        ("cmdline-too-long", k + ["--cmdline", "x" * 70000], "--cmdline"),
        ("unknown-flag", k + ["--frobnicate"], "--frobnicate"),
        ("bad-console", k + ["--console", "serial"], "--console"),
        ("stray-argument", k + ["extra"], "extra"),
        # No abbreviations: a flag added later must not change what --mem meant.
        ("abbreviated-flag", k + ["--mem", "64M"], "write --memory in full"),
        ("abbreviated-switch", k + ["--no-h"], "write --no-hugepages in full"),
        ("ambiguous-flag", k + ["--snap", "x"], "unknown option --snap"),
        ("abbreviated-config", k + ["--conf", "x"], "unknown option --conf"),
        ("empty-config", k + ["--config="], "--config needs a value"),
        ("config-file-named", k + ["--config-file", "/nonexistent/vm.json"],
         "--config-file /nonexistent/vm.json"),
        ("cmdline-looks-like-config", ["--cmdline", "--config", "--kernel", "/nonexistent/k"],
         "--kernel /nonexistent/k"),
        ("memory-value-named", k + ["--memory", "3M"], "--memory 3 MiB: at least 4M"),
        ("test-hook-not-alone", k + ["--seccomp-list"], "a test hook, given alone"),
    ]
    cases += [
        ("net-bad-mac", k + ["--net", "tap=kvx0,mac=zz:00:00:00:00:01"], "bad MAC"),
        ("net-bad-kind", k + ["--net", "tup=kvx0"], "want tap=NAME, fd=N or stream=PATH"),
        ("net-long-tap", k + ["--net", "tap=a-very-long-tap-name"], "longer than 15"),
        ("disk-bad-option", k + ["--disk", "/x,rw"], "unknown option"),
        # 20 devices would need GSIs up to 24: the IOAPIC has 0..23 (5 are taken).
        ("too-many-devices", k + sum((["--disk", f"/x{i}"] for i in range(16)), [])
         + sum((["--net", f"tap=kvx{i}"] for i in range(4)), []), "at most 19"),
    ]
    for name, args, needle in cases:
        status, out, err = run(args, timeout=20)
        lines = err.strip().splitlines()
        ok = status == 2 and len(lines) == 1 and needle in lines[0] and lines[0].startswith("kvmrun: ")
        # The flag is named once ("--net X: --net X: ..." was seen).
        flag = next((a for a in args if a in ("--net", "--disk")), None)
        ok = ok and (flag is None or lines[0].count(flag) == 1)
        result(f"cli/{name}", ok, f"status {status} stderr {err!r}")
    status, out, err = run(["--help"])
    result("cli/help", status == 0 and "--kernel" in out and "Exit status" in out, err)
    status, out, err = run(["--version"])
    result("cli/version", status == 0 and out.startswith("kvmrun "), err)
    status, out, err = run(k + ["--console", "file=/nonexistent/dir/log"])
    result("cli/console-file-unwritable", status == 2 and "/nonexistent/dir/log" in err, err)
    log = os.path.join(TMP, "console.log")
    status, out, err = run(k + ["--console", f"file={log}"])
    result("console/file", status == 0 and out == "" and "PROBE done" in open(log).read(),
           f"status {status} {err}")
    status, out, err = run(k + ["--console", "none"])
    result("console/none", status == 0 and out == "", f"status {status} {err}")


def checked_before_kvm():
    """Every input is checked before /dev/kvm is opened: a bad one is a usage error naming it
    whatever the host's KVM (seen: a bad kernel reported as '/dev/kvm: No such file')."""
    import shutil
    import subprocess
    if not result("cli/strace-available", shutil.which("strace") is not None, "no strace"):
        return
    k = ["--kernel", probe("pvh")]
    for name, args, needle in (
            ("kernel", ["--kernel", "/etc/passwd"], "/etc/passwd"),
            ("elf32-no-note", ["--kernel", probe("elf32")], "PVH entry note"),
            ("initrd", k + ["--initrd", "/nonexistent/initrd"], "/nonexistent/initrd"),
            ("disk", k + ["--disk", "/nonexistent/disk.img"], "/nonexistent/disk.img"),
            ("console", k + ["--console", "file=/nonexistent/dir/c"], "/nonexistent/dir/c"),
            ("log", k + ["--log", "/nonexistent/dir/log"], "/nonexistent/dir/log"),
            ("metrics", k + ["--metrics", "/nonexistent/dir/m"], "/nonexistent/dir/m")):
        trace = os.path.join(TMP, f"before-kvm-{name}.trace")
        p = subprocess.run(["strace", "-f", "-qq", "-e", "trace=open,openat", "-o", trace,
                            KVMRUN] + args, capture_output=True, text=True, timeout=30,
                           stdin=subprocess.DEVNULL)
        opened_kvm = "/dev/kvm" in open(trace).read()
        result(f"cli/checked-before-kvm-{name}", p.returncode == 2 and needle in p.stderr
               and not opened_kvm, f"status {p.returncode}; /dev/kvm opened: {opened_kvm}; "
               f"stderr {p.stderr.strip()!r}")


def ram_huge_kib(pid, size_kib):
    """AnonHugePages of the guest RAM mapping alone (the anonymous one of exactly the guest's
    size): the whole process's total also counts the heap, which under ASAN's allocator the
    host's THP "always" makes huge whatever kvmrun asks for its RAM. -1 if none is found."""
    found, size, anon = -1, 0, False
    with open(f"/proc/{pid}/smaps") as fh:
        for line in fh:
            head = line.split()
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                anon = len(head) < 6
            elif head[0] == "Size:":
                size = int(head[1])
            elif head[0] == "AnonHugePages:" and anon and size == size_kib:
                found = max(found, int(head[1]))
    return found


def big_probe():
    """probe.pvh with its one PT_LOAD grown to 3 MiB of memory (a bigger BSS, zeroed like
    the rest): a kernel whose footprint is over one huge page, as Linux's is."""
    data = bytearray(open(probe("pvh"), "rb").read())
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    for i in range(phnum):
        off = phoff + i * phentsize
        if struct.unpack_from("<I", data, off)[0] == 1:  # PT_LOAD: p_memsz at +40
            struct.pack_into("<Q", data, off + 40, 3 << 20)
            break
    path = os.path.join(TMP, "probe-3m.pvh")
    with open(path, "wb") as fh:
        fh.write(data)
    return path


def hugepages():
    """Guest RAM on 2 MiB pages with --hugepages (or the config's huge_pages "2M"), and by
    default for a kernel of 2 MiB or more; on 4 KiB pages (none huge, whatever the host's
    THP default) with --no-hugepages ("None") and by default for a smaller kernel."""
    try:
        thp = open("/sys/kernel/mm/transparent_hugepage/enabled").read()
    except OSError:
        thp = "[never]"
    mode = thp[thp.find("[") + 1:thp.find("]")]
    big = big_probe()

    def cfg(name, kernel, huge):
        path = os.path.join(TMP, f"huge-{name}.json")
        with open(path, "w") as fh:
            fh.write('{"boot-source": {"kernel_image_path": "%s", "boot_args": "probe.exit=wait"},'
                     ' "machine-config": {"vcpu_count": 1, "mem_size_mib": 256, "huge_pages": "%s"}}'
                     % (kernel, huge))
        return ["--config", path]

    def flags(kernel, *extra):
        return ["-k", kernel, "-m", "256M", "-c", "probe.exit=wait"] + list(extra)

    log = os.path.join(TMP, "huge.log")
    for name, args, huge in (("flag", flags(probe("pvh"), "--hugepages"), True),
                             ("config-2M", cfg("2m", probe("pvh"), "2M"), True),
                             ("config-Transparent", cfg("thp", probe("pvh"), "Transparent"), True),
                             ("auto-big-kernel", flags(big), True),
                             ("auto-small-kernel", flags(probe("pvh")), False),
                             ("no-flag", flags(big, "--no-hugepages"), False),
                             ("config-None", cfg("none", big, "None"), False),
                             ("flag-last-wins", flags(big, "--hugepages", "--no-hugepages"),
                              False)):
        if os.path.exists(log):
            os.unlink(log)
        p, seen = start_until(args + ["--shutdown-timeout", "1", "--log", log],
                              b"PROBE waiting")
        kib = ram_huge_kib(p.pid, 256 << 10) if b"PROBE waiting" in seen else -1
        _, err = stop(p, signal.SIGTERM)
        booted = b"PROBE waiting" in seen and p.returncode == 0
        said = open(log).read() if os.path.exists(log) else ""
        told = ("on 2 MiB pages" if huge else "on 4 KiB pages") in said
        if huge:
            # THP "never": the choice stands but the host gives small pages.
            ok = booted and told and (kib >= 2048 if mode != "never" else kib == 0)
        else:
            # MADV_NOHUGEPAGE: none even where the host's default is "always".
            ok = booted and told and kib == 0
        result(f"memory/hugepages-{name}", ok,
               f"THP {mode}; AnonHugePages {kib} kB; log says 2 MiB: {'on 2 MiB' in said}; "
               f"status {p.returncode}; stderr {err!r}")

boots()
exits()
restarts()
bad_inputs()
checked_before_kvm()
hugepages()
