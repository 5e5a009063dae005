# SPDX-License-Identifier: Apache-2.0
"""The orchestrator interface: --config, --ready-fd, --metrics, --log, --console fd=N, --net fd=N."""
import fcntl
import json
import os
import signal
import struct
import subprocess
import time

from kvmtest import KVMRUN, TMP, probe, probe_facts, result, run

IFF_TAP, IFF_NO_PI, IFF_VNET_HDR = 0x0002, 0x1000, 0x4000
TUNSETIFF = 0x400454CA


def write(path, text):
    with open(path, "w") as fh:
        fh.write(text)
    return path


def image(name, size=1 << 20):
    path = os.path.join(TMP, name)
    with open(path, "wb") as fh:
        fh.truncate(size)
    return path


def same_guest():
    """A Firecracker-style file and the equivalent flags give the guest the same machine."""
    a, b = image("cfg-a.img"), image("cfg-b.img")
    cfg = {
        "boot-source": {"kernel_image_path": probe("pvh"), "boot_args": "probe.exit=reset quiet"},
        "drives": [{"drive_id": "data", "path_on_host": b, "is_root_device": False,
                    "is_read_only": True, "cache_type": "Writeback"},
                   {"drive_id": "root", "path_on_host": a, "is_root_device": True,
                    "is_read_only": False, "cache_type": "Writeback"}],
        "machine-config": {"vcpu_count": 2, "mem_size_mib": 192, "smt": False},
    }
    path = write(os.path.join(TMP, "vm.json"), json.dumps(cfg))
    s1, out1, err1 = run(["--config", path])
    s2, out2, err2 = run(["--kernel", probe("pvh"), "--cpus", "2", "--memory", "192M",
                          "--disk", a, "--disk", b + ",ro",
                          "--cmdline", "root=/dev/vda rw probe.exit=reset quiet"])
    f1, f2 = probe_facts(out1), probe_facts(out2)
    keys = ("cmdline", "e820", "mem_usable", "mp_cpus", "cpus_up", "done")
    same = all(f1.get(k) == f2.get(k) for k in keys)
    result("config/same-as-flags", s1 == 0 and s2 == 0 and same and "root=/dev/vda rw" in f1.get("cmdline", ""),
           f"{s1} {s2} {[(k, f1.get(k), f2.get(k)) for k in keys if f1.get(k) != f2.get(k)]} {err1} {err2}")
    # Firecracker's partuuid on the root drive: root=PARTUUID= instead of /dev/vda (go-sdk's
    # PartUUID); on another drive it is taken and changes nothing.
    cfg["drives"][1]["partuuid"] = "0eaa91a0-01"
    cfg["drives"][0]["partuuid"] = "12345678-02"
    pu = write(os.path.join(TMP, "vm-partuuid.json"), json.dumps(cfg))
    s4, out4, err4 = run(["--config", pu])
    c4 = probe_facts(out4).get("cmdline", "")
    result("config/root-partuuid", s4 == 0 and "root=PARTUUID=0eaa91a0-01 rw" in c4
           and "/dev/vda" not in c4 and "12345678-02" not in c4, f"{s4} {c4!r} {err4}")
    s3, out3, err3 = run(["--config", path, "--cpus", "1", "--cmdline", "probe.exit=triple"])
    f3 = probe_facts(out3)
    result("config/flags-override", s3 == 0 and f3.get("cpus_up") == "1"
           and f3.get("cmdline", "").endswith("probe.exit=triple"), f"{s3} {f3.get('cmdline')} {err3}")


def config_errors():
    k = probe("pvh")
    cases = [
        ("unknown-top-field", {"boot-source": {"kernel_image_path": k}, "balloon": {}}, "balloon"),
        ("unknown-nested-field", {"boot-source": {"kernel_image_path": k},
                                  "drives": [{"drive_id": "a", "path_on_host": "/x",
                                              "is_root_device": False, "io_uring": 0}]},
         "drives[0].io_uring"),
        ("bad-partuuid", {"boot-source": {"kernel_image_path": k},
                          "drives": [{"drive_id": "a", "path_on_host": "/x",
                                      "is_root_device": True, "partuuid": "root partition"}]},
         "drives[0].partuuid"),
        ("wrong-type", {"boot-source": {"kernel_image_path": k},
                        "machine-config": {"vcpu_count": "two", "mem_size_mib": 128}},
         "machine-config.vcpu_count"),
        ("missing-required", {"machine-config": {"vcpu_count": 1, "mem_size_mib": 128}},
         "boot-source"),
        ("missing-nested", {"boot-source": {"initrd_path": "/x"}}, "boot-source.kernel_image_path"),
        ("unsupported-value", {"boot-source": {"kernel_image_path": k},
                               "machine-config": {"vcpu_count": 1, "mem_size_mib": 128, "smt": True}},
         "machine-config.smt"),
        # Found by fuzzing (fuzz/corpus/config/crash-*): a huge number, a comma smuggling an option.
        ("huge-pages-1G", {"boot-source": {"kernel_image_path": k},
                           "machine-config": {"vcpu_count": 1, "mem_size_mib": 128,
                                              "huge_pages": "1G"}},
         "machine-config.huge_pages"),
        ("huge-number", {"boot-source": {"kernel_image_path": k},
                         "machine-config": {"vcpu_count": 7e77, "mem_size_mib": 128}},
         "machine-config.vcpu_count"),
        ("comma-in-tap-name", {"boot-source": {"kernel_image_path": k},
                               "network-interfaces": [{"iface_id": "eth0",
                                                       "host_dev_name": "tap0,mac=02:00:00:00:00:09"}]},
         "host_dev_name"),
        ("bad-guest-mac", {"boot-source": {"kernel_image_path": k},
                           "network-interfaces": [{"iface_id": "eth0", "host_dev_name": "tap0",
                                                   "guest_mac": "zz:00:00:00:00:01"}]},
         "network-interfaces[0].guest_mac"),
        ("long-tap-name", {"boot-source": {"kernel_image_path": k},
                           "network-interfaces": [{"iface_id": "eth0",
                                                   "host_dev_name": "a-very-long-tap-name"}]},
         "network-interfaces[0].host_dev_name"),
        ("too-many-devices", {"boot-source": {"kernel_image_path": k},
                              "drives": [{"drive_id": f"d{i}", "path_on_host": f"/x{i}",
                                          "is_root_device": False} for i in range(16)],
                              "network-interfaces": [{"iface_id": f"e{i}",
                                                      "host_dev_name": f"kvx{i}"}
                                                     for i in range(4)]},
         "at most 19"),
        ("two-roots", {"boot-source": {"kernel_image_path": k},
                       "drives": [{"drive_id": "a", "path_on_host": "/a", "is_root_device": True},
                                  {"drive_id": "b", "path_on_host": "/b", "is_root_device": True}]},
         "is_root_device"),
    ]
    for name, doc, needle in cases:
        path = write(os.path.join(TMP, name + ".json"), json.dumps(doc, indent=1))
        status, out, err = run(["--config", path])
        lines = err.strip().splitlines()
        # A config error speaks the file's language: no command-line syntax in it.
        cli = [w for w in ("--net", "--disk", "tap=", "mac=") if w in err]
        result(f"config/{name}", status == 2 and len(lines) == 1 and needle in lines[0]
               and path in lines[0] and not cli, f"status {status} {err!r}")
    # Files the description names fail when opened: the line names the file and field, never
    # a flag the user did not type (it said --kernel, --disk, --log before).
    gone = os.path.join(TMP, "no-such-dir")
    for name, doc, needle in (
            ("kernel-missing", {"boot-source": {"kernel_image_path": gone + "/k"}},
             "boot-source.kernel_image_path " + gone + "/k"),
            ("initrd-missing", {"boot-source": {"kernel_image_path": k, "initrd_path": gone + "/i"}},
             "boot-source.initrd_path " + gone + "/i"),
            ("disk-missing", {"boot-source": {"kernel_image_path": k},
                              "drives": [{"drive_id": "a", "path_on_host": gone + "/d",
                                          "is_root_device": False}]},
             "drives[].path_on_host " + gone + "/d"),
            ("log-unwritable", {"boot-source": {"kernel_image_path": k},
                                "logger": {"log_path": gone + "/log"}}, "logger.log_path"),
            ("metrics-unwritable", {"boot-source": {"kernel_image_path": k},
                                    "metrics": {"metrics_path": gone + "/m"}},
             "metrics.metrics_path")):
        path = write(os.path.join(TMP, name + ".json"), json.dumps(doc))
        status, out, err = run(["--config-file", path])
        lines = err.strip().splitlines()
        result(f"config/{name}-names-field", status == 2 and len(lines) == 1
               and lines[0].startswith(f"kvmrun: {path}: {needle}") and " --" not in lines[0],
               f"status {status} {err!r}")
    # A flag over the file: its error is the flag's.
    path = write(os.path.join(TMP, "flag-over-file.json"),
                 json.dumps({"boot-source": {"kernel_image_path": k}}))
    status, out, err = run(["--config", path, "--kernel", gone + "/flag"])
    result("config/flag-over-file-names-flag", status == 2
           and err.strip() == f"kvmrun: --kernel {gone}/flag: No such file or directory", err)
    path = write(os.path.join(TMP, "malformed.json"), '{\n  "boot-source": {\n    "kernel_image_path": "x",\n  }\n}\n')
    status, out, err = run(["--config", path])
    result("config/malformed-json", status == 2 and "line 4" in err and "column" in err, err)
    status, out, err = run(["--config", os.path.join(TMP, "missing.json")])
    result("config/missing-file", status == 2 and "missing.json" in err, err)


def ready_and_metrics():
    r, w = os.pipe()
    metrics = os.path.join(TMP, "m.jsonl")
    log = os.path.join(TMP, "kv.log")
    img = image("metrics.img")
    p = subprocess.Popen([KVMRUN, "-k", probe("pvh"), "--disk", img, "--ready-fd", str(w),
                          "--metrics", metrics, "--log", log, "--log-level", "debug",
                          "-c", "probe.boot_timer probe.hostile=blk-chains"],
                         pass_fds=(w,), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    os.close(w)
    out, err = p.communicate(timeout=60)
    ready = os.read(r, 4096).decode()
    os.close(r)
    lines = ready.splitlines()
    ok = (len(lines) == 2 and lines[0].split()[0] == "running" and lines[1].split()[0] == "init"
          and 0 < int(lines[0].split()[1]) < int(lines[1].split()[1]))
    result("ready-fd/running-then-init", p.returncode == 0 and ok, f"{p.returncode} {ready!r} {err!r}")
    try:
        recs = [json.loads(x) for x in open(metrics)]
    except (OSError, ValueError) as e:
        recs = []
        result("metrics/valid-json", False, e)
    if recs:
        m = recs[-1]
        result("metrics/valid-json", m.get("event") == "exit" and m.get("status") == 0, recs[-1])
        disk = m.get("disks", {}).get("vda", {})
        result("metrics/counters-move", m["exits"]["io"] > 0 and disk.get("requests", 0) > 0
               and disk.get("bytes_read", 0) > 0 and disk.get("errors", 0) > 0
               and m["boot"]["init_us"] > m["boot"]["first_run_us"] > 0, m)
    text = open(log).read() if os.path.exists(log) else ""
    result("log/events", "guest running" in text and "init signalled" in text and "exit 0" in text
           and text.startswith("["), text[:300])
    # SIGUSR1: a line on demand while the guest runs.
    metrics2 = os.path.join(TMP, "m2.jsonl")
    p = subprocess.Popen([KVMRUN, "-k", probe("pvh"), "-c", "probe.exit=halt", "--metrics", metrics2],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = b""
    while b"PROBE done" not in seen:
        chunk = p.stdout.read1(4096)
        if not chunk:
            break
        seen += chunk
    p.send_signal(signal.SIGUSR1)
    # SIGINT only once the line is out: signalfd hands over the lower-numbered SIGINT first
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (os.path.exists(metrics2)
                                               and b"sigusr1" in open(metrics2, "rb").read()):
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    p.communicate(timeout=20)
    recs = [json.loads(x) for x in open(metrics2)] if os.path.exists(metrics2) else []
    result("metrics/sigusr1", [x["event"] for x in recs] == ["sigusr1", "exit"], recs)
    fifo = os.path.join(TMP, "fifo")
    os.mkfifo(fifo)
    status, out, err = run(["-k", probe("pvh"), "--metrics", fifo])
    result("metrics/fifo-without-reader", status == 2 and "--metrics" in err, err)
    metrics_fifo_lines_whole()


def metrics_fifo_lines_whole():
    """A FIFO that takes a line in parts (over PIPE_BUF, one page of pipe): every line the
    reader gets is whole JSON, never one cut short and glued to the next."""
    fifo = os.path.join(TMP, "fifo-slow")
    if not os.path.exists(fifo):
        os.mkfifo(fifo)
    r = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    fcntl.fcntl(r, 1031, 4096)  # F_SETPIPE_SZ: one page
    # 16 disks and the API's counters: a line of ~6 KiB, over PIPE_BUF and over the pipe
    disks = [a for i in range(16) for a in ("--disk", image(f"fifo{i}.img"))]
    sock = os.path.join(TMP, "fifo-slow.sock")
    p = subprocess.Popen([KVMRUN, "-k", probe("pvh"), "-c", "probe.exit=halt", "--metrics", fifo,
                          "--api-sock", sock] + disks,
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen, got = b"", b""
    while b"PROBE done" not in seen:
        chunk = p.stdout.read1(4096)
        if not chunk:
            break
        seen += chunk
    for _ in range(20):  # nobody reads meanwhile: lines are cut, tails held, lines dropped
        p.send_signal(signal.SIGUSR1)
        time.sleep(0.01)
    for i in range(20):  # read slowly; each SIGUSR1 writes a held tail, then a line
        try:
            got += os.read(r, 1000)
        except BlockingIOError:
            pass
        if i % 4 == 0:
            p.send_signal(signal.SIGUSR1)
        time.sleep(0.02)
    for _ in range(3):  # the pipe full and a tail held when the exit comes
        p.send_signal(signal.SIGUSR1)
        time.sleep(0.05)
    time.sleep(0.2)
    p.send_signal(signal.SIGINT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # the tail, then the exit line, as a slow reader reads
        try:
            chunk = os.read(r, 4096)
        except BlockingIOError:
            time.sleep(0.05)
            continue
        if not chunk:
            break
        got += chunk
    p.communicate(timeout=20)
    os.close(r)
    lines = got.decode(errors="replace").splitlines()
    try:
        events = [json.loads(x)["event"] for x in lines]
    except ValueError as e:
        events = [f"bad line: {e}"]
    result("metrics/fifo-lines-whole", len(events) >= 3 and events[-1] == "exit"
           and set(events) == {"sigusr1", "exit"} and len(lines[0]) > 4096,
           f"{events}; {[len(x) for x in lines]}")


def console_fd():
    r, w = os.pipe()
    p = subprocess.Popen([KVMRUN, "-k", probe("pvh"), "--console", f"fd={w}"], pass_fds=(w,),
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    os.close(w)
    out, err = p.communicate(timeout=30)
    got = b""
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        got += chunk
    os.close(r)
    result("console/fd", p.returncode == 0 and b"PROBE done" in got and out == b"",
           f"{p.returncode} {got[-100:]!r} {err!r}")
    status, out, err = run(["-k", probe("pvh"), "--console", "fd=77"])
    result("console/fd-closed", status == 2 and "fd=77" in err, err)


def netns(name):
    subprocess.run(["ip", "netns", "add", name], check=True)
    return name


def net():
    ns = netns(f"kvmrun-t{os.getpid()}")
    try:
        base = ["ip", "netns", "exec", ns]
        p = subprocess.run(base + [KVMRUN, "-k", probe("pvh"), "--net", "tap=kvt0,mac=02:00:00:00:00:01",
                                   "--net", "tap=kvt1"], capture_output=True, timeout=30,
                           stdin=subprocess.DEVNULL)
        out = p.stdout.decode()
        result("net/tap-attaches", p.returncode == 0 and "virtio_mmio.device=4K@0xd0001000:6" in out,
               f"{p.returncode} {p.stderr!r}")
        # A launcher opens the tap itself and hands the fd over.
        launcher = (
            "import fcntl,os,struct,subprocess,sys\n"
            f"fd=os.open('/dev/net/tun',os.O_RDWR)\n"
            f"fcntl.ioctl(fd,{TUNSETIFF},struct.pack('16sH','kvfd0'.encode(),{IFF_TAP | IFF_NO_PI | IFF_VNET_HDR}))\n"
            f"r=subprocess.run([{KVMRUN!r},'-k',{probe('pvh')!r},'--net','fd=%d,mac=02:00:00:00:00:02'%fd],"
            "pass_fds=(fd,),stdin=subprocess.DEVNULL,capture_output=True)\n"
            "sys.stdout.write(r.stdout.decode()); sys.stderr.write(r.stderr.decode()); sys.exit(r.returncode)\n")
        p = subprocess.run(base + ["python3", "-c", launcher], capture_output=True, timeout=30)
        result("net/fd-from-launcher", p.returncode == 0 and b"PROBE done" in p.stdout, p.stderr)
        busy = (
            "import fcntl,os,struct,subprocess,sys\n"
            f"fd=os.open('/dev/net/tun',os.O_RDWR)\n"
            f"fcntl.ioctl(fd,{TUNSETIFF},struct.pack('16sH','kvbusy'.encode(),{IFF_TAP | IFF_NO_PI | IFF_VNET_HDR}))\n"
            f"r=subprocess.run([{KVMRUN!r},'-k',{probe('pvh')!r},'--net','tap=kvbusy'],"
            "stdin=subprocess.DEVNULL,capture_output=True)\n"
            "sys.stderr.write(r.stderr.decode()); sys.exit(r.returncode)\n")
        p = subprocess.run(base + ["python3", "-c", busy], capture_output=True, timeout=30)
        err = p.stderr.decode()
        result("net/busy-tap", p.returncode == 2 and "kvbusy" in err and len(err.strip().splitlines()) == 1, err)
        r, w = os.pipe()
        for name, arg, needle, fds in (("bad-mac", "tap=kvt2,mac=zz:00:00:00:00:01", "mac", ()),
                                       ("multicast-mac", "tap=kvt2,mac=01:00:00:00:00:01", "mac", ()),
                                       ("closed-fd", "fd=99", "99", ()),
                                       ("not-a-tap", f"fd={r}", str(r), (r,)),
                                       ("bad-spec", "bridge=br0", "bridge", ())):
            p = subprocess.run(base + [KVMRUN, "-k", probe("pvh"), "--net", arg], capture_output=True,
                               timeout=30, stdin=subprocess.DEVNULL, pass_fds=fds)
            err = p.stderr.decode()
            result(f"net/{name}", p.returncode == 2 and needle in err and len(err.strip().splitlines()) == 1,
                   f"{p.returncode} {err!r}")
        os.close(r)
        os.close(w)
    finally:
        subprocess.run(["ip", "netns", "del", ns])


def launcher_20():
    """What an orchestrator does: 20 VMs at once from a shell loop, each with its own disk."""
    script = os.path.join(TMP, "launch.sh")
    write(script, f"""
set -u
cd {TMP}
for i in $(seq 1 20); do
  truncate -s 1M disk$i.img
  {KVMRUN} -k {probe('pvh')} --disk disk$i.img --console file=console$i.log --cmdline "vm=$i" </dev/null &
  pids="${{pids:-}} $!"
done
rc=0
for p in $pids; do wait $p || rc=$((rc+1)); done
exit $rc
""")
    t0 = time.time()
    p = subprocess.run(["bash", script], capture_output=True, timeout=300)
    took = time.time() - t0
    logs_ok = all("PROBE done" in open(os.path.join(TMP, f"console{i}.log")).read()
                  and f"vm={i}" in open(os.path.join(TMP, f"console{i}.log")).read() for i in range(1, 21))
    result("launcher/20-concurrent-vms", p.returncode == 0 and logs_ok,
           f"{p.returncode} failures, logs ok {logs_ok}, {took:.1f}s {p.stderr[-300:]!r}")


same_guest()
config_errors()
ready_and_metrics()
console_fd()
net()
launcher_20()
