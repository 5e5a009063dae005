# SPDX-License-Identifier: Apache-2.0
"""The Firecracker-compatible API on --api-sock, driven the way its clients drive it.

Raw HTTP/1.1 over AF_UNIX (no curl: the malformed requests need bytes no client sends):
- curl-getting-started/*: the guide's own curl commands, as written but for the paths (a
  script of them), with "tap0" in a netns, then Ctrl-Alt-Del;
- getting-started/*: Firecracker's getting-started sequence against `kvmrun --api-sock S` alone
  (machine-config, boot-source, drives/rootfs, InstanceStart), then GET / and PATCH /vm
  Paused/Resumed (a paused guest spends no CPU), and SIGTERM (the socket goes with kvmrun);
- gosdk/*: firecracker-go-sdk's order (socket, GET /machine-config until it answers, logger,
  metrics, machine-config, boot-source, drives, a tap in a netns, InstanceStart), FlushMetrics,
  a NIC rate-limit PATCH, then SendCtrlAltDel (the probe's wait mode resets on it);
- kata/*: Kata's order: --config-file boots at once, GET / until "Running", PATCH /drives;
- api/*: before start: instance info, defaults, every kind of bad request (each a 400 whose
  fault_message names the field, 413 for a big body, a closed connection for malformed HTTP),
  a client killed mid-body; running/*: after start: pre-boot calls refused, a stalled client
  blocks no one, 100 connections at once, the guest keeps running;
- snapshot-create/*, snapshot-load/*, snapshot-diff/*: PUT /snapshot/create of a paused guest
  into a directory, and PUT /snapshot/load of it in another kvmrun (the guest goes on from where
  it was), and their refusals; a load with track_dirty_pages, a "Diff" of it, and a load of
  that diff through its base; snapshot-pair/*: the same with a pair of files (state, memory)
  as Firecracker's clients name them;
- no-kvm/*: a /dev/kvm that does not work is reported at InstanceStart (400, status 1);
- cli/*: the socket path already there is status 2, --no-api with --api-sock, --version, the
  Firecracker option aliases;
- the time from exec to an accepting socket (polled every 0.5 ms) is printed as an INFO line:
  a FAIL only when there is no socket within 2 s (speed targets live in bench/).
"""
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import stat
import struct
import subprocess
import threading
import time

from kvmtest import KVMRUN, TMP, TOP, copy_sparse, probe, probe_facts, result, run

VERSION = open(os.path.join(TOP, "VERSION")).read().strip()
if os.path.basename(KVMRUN).endswith("-asan"):  # build.sh asan marks its version
    VERSION += "-asan"
WAIT = "probe.exit=wait"  # prints "PROBE waiting", resets on Ctrl-Alt-Del
BOOT_ARGS = "console=ttyS0 reboot=k panic=1 pci=off " + WAIT
BAD_PATH = "Invalid request method and/or path"
NOT_OFFERED = "kvmrun does not offer"


def image(name, size=1 << 20):
    path = os.path.join(TMP, name)
    with open(path, "wb") as fh:
        fh.truncate(size)
    return path


def sock_path(name):
    return os.path.join(TMP, name + ".sock")


# ---- HTTP over the Unix socket ----

class Response:
    """One HTTP response (status None: no answer; then `error` says why)."""

    def __init__(self, status=None, reason="", headers=None, body=b"", error=""):
        self.status, self.reason, self.headers, self.body, self.error = (
            status, reason, headers or {}, body, error)
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    @property
    def fault(self):
        return self.json.get("fault_message", "") if isinstance(self.json, dict) else ""

    def get(self, key, default=None):
        return self.json.get(key, default) if isinstance(self.json, dict) else default

    def __str__(self):
        if self.status is None:
            return f"no answer ({self.error})"
        return f"{self.status} {self.reason} {self.body[:300]!r}"


def request(method, path, body=None, headers=()):
    """The bytes of one request as Firecracker's clients send it; body: dict/list (JSON), str or bytes."""
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    elif isinstance(body, str):
        body = body.encode()
    head = f"{method} {path} HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    for h in headers:
        head += h + "\r\n"
    return head.encode() + b"\r\n" + (body or b"")


class Conn:
    """A client connection that keeps what it read past one response (keep-alive)."""

    def __init__(self, path, timeout=10.0):
        self.buf = b""
        self.error = ""
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        deadline = time.monotonic() + timeout
        while True:
            # A full backlog is EAGAIN on a Unix socket: retry, as a blocking connect would wait.
            self.s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                self.s.connect(path)
                break
            except (BlockingIOError, InterruptedError):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"connect {path}: backlog full for {timeout} s")
                time.sleep(0.01)

    def send(self, data):
        """False when the server had closed its end (EPIPE/ECONNRESET): what it answered may
        still be there to read."""
        try:
            self.s.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError) as e:
            self.error = str(e)
            return False

    def _recv(self, deadline):
        self.s.settimeout(max(0.001, deadline - time.monotonic()))
        try:
            return self.s.recv(65536)
        except socket.timeout:
            raise
        except ConnectionResetError:
            return b""

    def response(self, timeout=10.0):
        """The next response; Response(None) when the server closed without one or went quiet."""
        deadline = time.monotonic() + timeout
        try:
            while b"\r\n\r\n" not in self.buf:
                chunk = self._recv(deadline)
                if not chunk:
                    return Response(error=f"connection closed after {self.buf[:100]!r}")
                self.buf += chunk
            head, self.buf = self.buf.split(b"\r\n\r\n", 1)
            lines = head.decode(errors="replace").split("\r\n")
            parts = lines[0].split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
                return Response(error=f"bad status line {lines[0]!r}")
            status, reason = int(parts[1]), parts[2] if len(parts) > 2 else ""
            headers = {}
            for line in lines[1:]:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
            if status == 204 or status == 304 or status < 200:
                return Response(status, reason, headers, b"")
            if "content-length" in headers:
                n = int(headers["content-length"])
                while len(self.buf) < n:
                    chunk = self._recv(deadline)
                    if not chunk:
                        break
                    self.buf += chunk
                body, self.buf = self.buf[:n], self.buf[n:]
                return Response(status, reason, headers, body)
            body = self.buf  # no length: the body ends with the connection
            while True:
                chunk = self._recv(deadline)
                if not chunk:
                    break
                body += chunk
            self.buf = b""
            return Response(status, reason, headers, body)
        except socket.timeout:
            return Response(error=f"no answer within {timeout} s (read {self.buf[:100]!r})")
        except OSError as e:
            return Response(error=str(e))

    def closed(self, timeout=3.0):
        """True when the server closes the connection within `timeout` s (nothing more sent)."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                chunk = self._recv(deadline)
                if not chunk:
                    return True
                self.buf += chunk
        except socket.timeout:
            return False
        except OSError:
            return True

    def close(self):
        self.s.close()


def exchange(path, data, timeout=10.0):
    """Send raw bytes on a fresh connection and read one response: (Response, Conn or None)."""
    try:
        c = Conn(path, timeout)
    except OSError as e:
        return Response(error=f"connect: {e}"), None
    c.send(data)
    return c.response(timeout), c


DEAF = set()  # sockets that once kept a request unanswered: later ones get 1 s, not 5


def api(path, method, url, body=None, timeout=None):
    """One request on its own connection, as curl does: the Response."""
    if timeout is None:
        timeout = 1.0 if path in DEAF else 5.0
    r, c = exchange(path, request(method, url, body), timeout)
    if c:
        c.close()
    if r.status is None and "no answer within" in r.error:
        DEAF.add(path)
    return r


# ---- kvmrun with its output drained in the background ----

class Vmm:
    def __init__(self, args, sock, wrap=()):
        self.sock = sock
        self.out = bytearray()
        self.err = bytearray()
        self.t0 = time.monotonic()
        self.p = subprocess.Popen(list(wrap) + [KVMRUN] + args, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.threads = [threading.Thread(target=self._drain, args=(f, b), daemon=True)
                        for f, b in ((self.p.stdout, self.out), (self.p.stderr, self.err))]
        for t in self.threads:
            t.start()

    @staticmethod
    def _drain(f, buf):
        while True:
            chunk = os.read(f.fileno(), 65536)
            if not chunk:
                return
            buf += chunk

    def accepts(self, timeout=2.0, step=0.0005):
        """Seconds from exec to the first connect that succeeds (every `step` s); None if none."""
        deadline = self.t0 + timeout
        while time.monotonic() < deadline:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(self.sock)
                return time.monotonic() - self.t0
            except OSError:
                pass
            finally:
                s.close()
            if self.p.poll() is not None:
                return None
            time.sleep(step)
        return None

    def wait_out(self, marker, timeout=30.0):
        """True once `marker` (str) is on kvmrun's stdout (the guest's console)."""
        deadline = time.monotonic() + timeout
        m = marker.encode()
        while m not in self.out and time.monotonic() < deadline:
            if self.p.poll() is not None:
                self.wait(0)  # its drain threads hold the last output: wait for them
                return m in self.out
            time.sleep(0.02)
        return m in self.out

    def wait(self, timeout):
        """The exit status (None after `timeout` s), with all of stdout and stderr read: the
        drain threads may still hold the last bytes when the process has gone."""
        try:
            status = self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        for t in self.threads:
            t.join(5)
        return status

    def stop(self, sig=signal.SIGTERM, timeout=20.0):
        """Send `sig` (unless it has ended) and wait; killed after `timeout` s: the status,
        None when it had to be killed."""
        if self.p.poll() is None:
            self.p.send_signal(sig)
        status = self.wait(timeout)
        if status is None:
            self.p.kill()
            self.p.wait()
        for t in self.threads:
            t.join(5)
        return status

    def cpu(self):
        """CPU seconds kvmrun's threads have used (ns from schedstat, else clock ticks)."""
        total = 0
        try:
            for tid in os.listdir(f"/proc/{self.p.pid}/task"):
                with open(f"/proc/{self.p.pid}/task/{tid}/schedstat") as fh:
                    total += int(fh.read().split()[0])
            return total / 1e9
        except (OSError, ValueError, IndexError):
            pass
        try:
            with open(f"/proc/{self.p.pid}/stat") as fh:
                f = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0  # it has ended
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

    @property
    def stdout(self):
        return self.out.decode(errors="replace")

    @property
    def stderr(self):
        return self.err.decode(errors="replace")

    def why(self):
        st = self.p.poll()
        return (f"{'running' if st is None else ended(st)}; stdout ...{self.stdout[-300:]!r}; "
                f"stderr {self.stderr[-400:]!r}")


def ended(status):
    """How a Vmm.stop()/wait() status reads in a failure message."""
    if status is None:
        return "still running (killed by the test)"
    if status < 0:
        return (f"killed by {signal.Signals(-status).name} (the signal's default action: "
                "kvmrun had no handler for it, or seccomp killed it)")
    return f"exit status {status}"


def gone(path, timeout=5.0):
    """True once `path` no longer exists (within `timeout` s)."""
    deadline = time.monotonic() + timeout
    while os.path.lexists(path) and time.monotonic() < deadline:
        time.sleep(0.02)
    return not os.path.lexists(path)


def expect(name, r, status, needle=None):
    """A check that the response has `status` and, for errors, a fault_message holding `needle`
    (or at least one, when needle is None)."""
    ok = r.status == status
    if status == 400:
        ok = ok and isinstance(r.fault, str) and r.fault != "" and (needle is None or needle in r.fault)
    want = f"{status}" + (f" with fault_message naming {needle!r}" if needle else "")
    return result(name, ok, f"expected {want}, got {r}")


def state_is(sock, want, timeout=5.0):
    """GET / until "state" is `want` (the last Response)."""
    deadline = time.monotonic() + timeout
    while True:
        r = api(sock, "GET", "/")
        if r.get("state") == want or time.monotonic() > deadline:
            return r
        time.sleep(0.05)


# ---- the command line (no API server needed for most) ----

def cli():
    s = sock_path("exists-file")
    with open(s, "w") as fh:
        fh.write("not a socket\n")
    status, out, err = run(["--api-sock", s], timeout=30)
    lines = err.strip().splitlines()
    result("cli/api-sock-exists-file", status == 2 and len(lines) == 1 and "--api-sock" in err
           and s in err and "unknown option" not in err and os.path.isfile(s) and open(s).read() == "not a socket\n",
           f"status {status} stderr {err!r}; file still there: {os.path.isfile(s)}")
    s = sock_path("exists-stale")
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(s)
    stale.close()  # a socket file nobody listens on, as a crashed VMM leaves it
    status, out, err = run(["--api-sock", s], timeout=30)
    lines = err.strip().splitlines()
    result("cli/api-sock-exists-stale-socket", status == 2 and len(lines) == 1 and "--api-sock" in err
           and s in err and "unknown option" not in err and os.path.exists(s), f"status {status} stderr {err!r}")
    s = sock_path("noapi")
    status, out, err = run(["--api-sock", s, "--no-api"], timeout=30)
    result("cli/no-api-with-api-sock", status == 2 and len(err.strip().splitlines()) == 1
           and "--api-sock" in err and "--no-api" in err and "unknown option" not in err
           and not os.path.exists(s), f"status {status} stderr {err!r}")
    status, out, err = run(["--version"], timeout=30)
    result("cli/version", status == 0 and out.strip() == f"kvmrun v{VERSION}",
           f"status {status} stdout {out!r} (want 'kvmrun v{VERSION}') stderr {err!r}")
    # Firecracker's option names for kvmrun's: --config-file, --log-path, --metrics-path,
    # --level, --no-api, --boot-timer (accepted; the boot timer is always on).
    cfg = os.path.join(TMP, "alias.json")
    with open(cfg, "w") as fh:
        json.dump({"boot-source": {"kernel_image_path": probe("pvh"),
                                   "boot_args": "probe.exit=reset probe.boot_timer"},
                   "machine-config": {"vcpu_count": 1, "mem_size_mib": 128}}, fh)
    log, metrics = os.path.join(TMP, "alias.log"), os.path.join(TMP, "alias.metrics")
    status, out, err = run(["--config-file", cfg, "--log-path", log, "--metrics-path", metrics,
                            "--level", "debug", "--no-api", "--boot-timer"])
    text = open(log).read() if os.path.exists(log) else ""
    recs = []
    try:
        recs = [json.loads(x) for x in open(metrics) if x.strip()]
    except (OSError, ValueError):
        pass
    result("cli/firecracker-aliases", status == 0 and "PROBE done" in out and "guest running" in text
           and recs and recs[-1].get("event") == "exit",
           f"status {status} stderr {err!r}; log {text[:200]!r}; metrics {recs[-1:]}")


# ---- before start: instance info, defaults, bad requests ----

def partial_then_killed(sock, data):
    """A client that sends `data` (part of a request) and is killed with SIGKILL."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(sock)
            s.sendall(data)
            os.write(w, b"x")
            time.sleep(60)
        finally:
            os._exit(0)
    os.close(w)
    os.read(r, 1)
    os.close(r)
    time.sleep(0.2)  # let the server read what it sent
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    time.sleep(0.2)


def before_start():
    s = sock_path("prestart")
    vmm = Vmm(["--api-sock", s, "--id", "t-api-1"], s)
    secs = vmm.accepts(10.0)  # a gate, not a timing check (ASan, L1): bench/ has the target
    if secs is not None:
        print(f"INFO api: the socket accepted a connection {secs * 1000:.2f} ms after exec "
              f"(polled every 0.5 ms; bench/ has the target)", flush=True)
    result("api/socket-accepts", secs is not None,
           f"no connectable socket at {s} 10 s after exec; {vmm.why()}")
    try:
        mode = os.lstat(s).st_mode
    except OSError as e:
        mode = e.strerror
    result("api/socket-mode-0600", isinstance(mode, int) and stat.S_ISSOCK(mode)
           and stat.S_IMODE(mode) == 0o600, f"{s}: mode {oct(mode) if isinstance(mode, int) else mode}")
    r = api(s, "GET", "/")
    result("api/get-instance-info", r.status == 200 and r.json == {
        "id": "t-api-1", "state": "Not started", "vmm_version": VERSION, "app_name": "kvmrun"}
        and r.headers.get("content-type", "").startswith("application/json"), r)
    r = api(s, "GET", "/version")
    result("api/get-version", r.status == 200 and r.json == {"firecracker_version": VERSION}, r)
    r = api(s, "GET", "/machine-config")
    result("api/get-machine-config-defaults", r.status == 200 and r.get("vcpu_count") == 1
           and r.get("mem_size_mib") == 128 and r.get("smt") is False
           and r.get("track_dirty_pages") is False
           # unset: kvmrun chooses at start; "None" read back and PUT would pin 4 KiB pages
           and r.json is not None and "huge_pages" not in r.json, r)
    r = api(s, "PATCH", "/machine-config", {"vcpu_count": 2})
    m = api(s, "GET", "/machine-config")
    result("api/patch-machine-config", r.status == 204 and m.get("vcpu_count") == 2
           and m.get("mem_size_mib") == 128, f"PATCH: {r}; GET: {m}")
    # Go's client and Kata's reuse a connection: two requests on one.
    try:
        c = Conn(s)
        c.send(request("GET", "/version") + request("GET", "/machine-config"))
        r1, r2 = c.response(), c.response()
        c.close()
    except OSError as e:
        r1 = r2 = Response(error=str(e))
    result("api/keep-alive-two-requests", r1.status == 200 and r2.status == 200
           and r2.get("vcpu_count") == 2, f"first {r1}; second {r2}")
    # curl's Expect: 100-continue (bodies over 1 KiB in older curls): told to go on at once;
    # never an HTTP/1.0 client (RFC 9110), which gets only the answer once its body came.
    r1, r2 = expect_continue(s, "HTTP/1.1")
    result("api/expect-100-continue", r1.status == 100 and r2.status == 204,
           f"first {r1}; then {r2}")
    r1, r2 = expect_continue(s, "HTTP/1.0")
    result("api/expect-100-continue-not-http10", r1.status is None and r2.status == 204,
           f"first {r1}; then {r2}")

    img = image("prestart.img")
    fifo = os.path.join(TMP, "api.fifo")  # nobody reads or writes it: opening must not wait
    if not os.path.exists(fifo):
        os.mkfifo(fifo)
    mc = {"vcpu_count": 1, "mem_size_mib": 128}
    drive = {"drive_id": "rootfs", "path_on_host": img, "is_root_device": True, "is_read_only": False}
    cases = [
        ("wrong-method", "DELETE", "/machine-config", None, BAD_PATH),
        ("wrong-method-post-actions", "POST", "/actions", {"action_type": "InstanceStart"}, BAD_PATH),
        ("unknown-path", "GET", "/no-such-thing", None, BAD_PATH),
        ("unknown-path-put", "PUT", "/drives", drive, BAD_PATH),
        ("bad-json", "PUT", "/machine-config", '{"vcpu_count": 2, "mem_size_mib": ', None),
        ("not-an-object", "PUT", "/machine-config", "[1, 2]", None),
        ("wrong-type", "PUT", "/machine-config", {"vcpu_count": "two", "mem_size_mib": 128}, "vcpu_count"),
        ("wrong-type-patch", "PATCH", "/machine-config", {"mem_size_mib": True}, "mem_size_mib"),
        ("wrong-type-bool", "PUT", "/drives/rootfs", dict(drive, is_read_only="no"), "is_read_only"),
        ("missing-field", "PUT", "/machine-config", {"vcpu_count": 1}, "mem_size_mib"),
        ("vcpu-count-zero", "PUT", "/machine-config", {"vcpu_count": 0, "mem_size_mib": 128}, "vcpu_count"),
        ("unknown-field", "PUT", "/machine-config", dict(mc, cpus=4), "cpus"),
        ("unknown-field-drive", "PUT", "/drives/rootfs", dict(drive, io_uring=0), "io_uring"),
        ("drive-id-mismatch", "PUT", "/drives/other", drive, "drive_id"),
        ("drive-path-missing", "PUT", "/drives/rootfs",
         dict(drive, path_on_host=os.path.join(TMP, "no-such.img")), "path_on_host"),
        ("kernel-missing", "PUT", "/boot-source",
         {"kernel_image_path": os.path.join(TMP, "no-such-kernel")}, "kernel_image_path"),
        ("kernel-fifo", "PUT", "/boot-source", {"kernel_image_path": fifo}, "not a regular file"),
        ("initrd-directory", "PUT", "/boot-source",
         {"kernel_image_path": probe("pvh"), "initrd_path": TMP}, "initrd_path"),
        ("drive-fifo", "PUT", "/drives/rootfs", dict(drive, path_on_host=fifo),
         "not a regular file or block device"),
        ("iface-id-mismatch", "PUT", "/network-interfaces/eth0",
         {"iface_id": "eth1", "host_dev_name": "kvapi0"}, "iface_id"),
        ("bad-action", "PUT", "/actions", {"action_type": "Reboot"}, "action_type"),
        ("bad-logger-level", "PUT", "/logger",
         {"log_path": os.path.join(TMP, "x.log"), "level": "Loud"}, "level"),
        ("logger-module-unknown", "PUT", "/logger",
         {"log_path": os.path.join(TMP, "x.log"), "module": "api_server::request"}, "module"),
        ("metrics-no-path", "PUT", "/metrics", {}, "metrics_path"),
        ("patch-drive-before-start", "PATCH", "/drives/rootfs",
         {"drive_id": "rootfs", "path_on_host": img}, None),
        ("patch-vm-before-start", "PATCH", "/vm", {"state": "Paused"}, None),
        ("instance-start-without-kernel", "PUT", "/actions", {"action_type": "InstanceStart"}, None),
    ]
    for name, method, url, body, needle in cases:
        expect(f"api/error-{name}", api(s, method, url, body), 400, needle)
    r = api(s, "PUT", "/drives/rootfs", dict(drive, io_engine="Turbo"))
    result("api/error-field-named-plainly", r.status == 400 and isinstance(r.fault, str)
           and r.fault.startswith("io_engine:"), r)
    firecracker_accepts(drive)
    checked_at_put(drive)
    for url in ("/vsock", "/balloon", "/mmds", "/mmds/config", "/entropy", "/pmem/x",
                "/hotplug/memory", "/cpu-config"):
        expect(f"api/not-offered{url.replace('/', '-')}", api(s, "PUT", url, {}), 400, NOT_OFFERED)
    r = api(s, "GET", "/balloon")
    expect("api/not-offered-get-balloon", r, 400, NOT_OFFERED)

    # 100 KiB of body: over the 64 KiB limit on headers and body.
    big = {"kernel_image_path": probe("pvh"), "boot_args": "x" * (100 << 10)}
    r, c = exchange(s, request("PUT", "/boot-source", big))
    if c:
        c.close()
    result("api/error-huge-body-413", r.status == 413, f"expected 413, got {r}")
    # The same size as a header: the limit counts the headers too.
    r, c = exchange(s, request("GET", "/", headers=("X-Pad: " + "p" * (100 << 10),)))
    if c:
        c.close()
    result("api/error-huge-header-413", r.status == 413, f"expected 413, got {r}")

    for name, data in (("request-line", b"GARBAGE\r\n\r\n"),
                       ("protocol", b"GET / HTTX/1.1\r\nHost: x\r\n\r\n"),
                       ("header", b"GET / HTTP/1.1\r\nNo colon here\r\n\r\n"),
                       ("content-length", b"PUT /machine-config HTTP/1.1\r\nContent-Length: lots\r\n\r\n{}"),
                       ("binary", b"\x00\x01\x02\xff\xfe\r\n\r\n")):
        r, c = exchange(s, data)
        closed = c.closed() if c and r.status is not None else r.status is None
        if c:
            c.close()
        result(f"api/malformed-{name}", r.status == 400 and closed,
               f"expected 400 and the connection closed; got {r}, closed {closed}")

    # A client that hangs up before its answer: main's write of it is EPIPE, not SIGPIPE.
    for i in range(3):
        c = Conn(s)
        c.send(request("PUT", "/actions", {"action_type": "InstanceStart"}))
        c.s.shutdown(socket.SHUT_RDWR)
        c.close()
    time.sleep(0.3)
    r = api(s, "GET", "/")
    result("api/client-gone-before-answer", vmm.p.poll() is None and r.status == 200,
           f"GET / {r}; {vmm.why()}")

    # Clients that open connections and keep them idle cannot lock others out: with every
    # slot (128) taken, the one idle longest makes room for a newcomer.
    idle = [Conn(s) for _ in range(128)]
    time.sleep(0.3)
    r = api(s, "GET", "/")
    first_closed = idle[0].closed(timeout=2.0)
    for c in idle:
        c.close()
    result("api/idle-connections-make-room", r.status == 200 and first_closed,
           f"GET / with 128 idle connections open: {r}; the oldest closed: {first_closed}")

    # A client dies halfway through a body: nothing of it is applied.
    body = json.dumps({"vcpu_count": 3, "mem_size_mib": 256}).encode()
    head = request("PUT", "/machine-config", body)
    partial_then_killed(s, head[:len(head) - len(body) // 2])
    m = api(s, "GET", "/machine-config")
    result("api/killed-mid-body-changes-nothing", m.get("vcpu_count") == 2 and m.get("mem_size_mib") == 128
           and vmm.p.poll() is None, f"GET /machine-config: {m}; {vmm.why()}")
    r = api(s, "GET", "/")
    result("api/errors-change-nothing", m.get("vcpu_count") == 2 and r.get("state") == "Not started",
           f"machine-config {m}; instance {r}")
    was = os.path.lexists(s)
    status = vmm.stop(signal.SIGTERM, 10)
    result("api/sigterm-before-start", was and status is not None and status >= 0 and gone(s),
           f"{ended(status)}; socket still there: {os.path.lexists(s)}; stderr {vmm.stderr[-300:]!r}")


# ---- 1. Firecracker's getting-started sequence ----

def getting_started():
    s = sock_path("gs")
    a, b = image("gs-a.img"), image("gs-b.img")
    vmm = Vmm(["--api-sock", s], s)
    result("getting-started/socket", vmm.accepts(10.0) is not None, vmm.why())
    expect("getting-started/put-machine-config",
           api(s, "PUT", "/machine-config", {"vcpu_count": 2, "mem_size_mib": 128}), 204)
    expect("getting-started/put-boot-source",
           api(s, "PUT", "/boot-source", {"kernel_image_path": probe("pvh"), "boot_args": BOOT_ARGS}), 204)
    expect("getting-started/put-drive",
           api(s, "PUT", "/drives/rootfs", {"drive_id": "rootfs", "path_on_host": a,
                                            "is_root_device": True, "is_read_only": False}), 204)
    r = api(s, "PUT", "/drives/rootfs", {"drive_id": "rootfs", "path_on_host": b,
                                         "is_root_device": True, "is_read_only": False})
    cfg = api(s, "GET", "/vm/config")
    drives = cfg.get("drives", [])
    result("getting-started/put-drive-again-replaces", r.status == 204 and len(drives) == 1
           and drives[0].get("drive_id") == "rootfs" and drives[0].get("path_on_host") == b,
           f"second PUT: {r}; drives {drives}")
    bs, mc = cfg.get("boot-source") or {}, cfg.get("machine-config") or {}
    wrong = [what for what, ok in (
        ("status 200", cfg.status == 200),
        ("boot-source.kernel_image_path", bs.get("kernel_image_path") == probe("pvh")),
        ("boot-source.boot_args", bs.get("boot_args") == BOOT_ARGS),
        ("machine-config.vcpu_count 2", mc.get("vcpu_count") == 2),
        ("machine-config.mem_size_mib 128", mc.get("mem_size_mib") == 128),
        ('"network-interfaces": []', cfg.get("network-interfaces") == [])) if not ok]
    result("getting-started/get-vm-config", not wrong, f"wrong or missing: {wrong}; got {cfg.body[-300:]!r}")
    r = api(s, "GET", "/")
    result("getting-started/not-started-yet", r.get("state") == "Not started" and not vmm.out,
           f"{r}; stdout {vmm.stdout[:200]!r}")
    expect("getting-started/instance-start", api(s, "PUT", "/actions", {"action_type": "InstanceStart"}), 204)
    booted = vmm.wait_out("PROBE waiting")
    f = probe_facts(vmm.stdout)
    cmdline = f.get("cmdline", "")
    result("getting-started/guest-runs", booted and f.get("done") == "" and f.get("cpus_up") == "2"
           and WAIT in cmdline and "root=/dev/vda rw" in cmdline
           and cmdline.count("virtio_mmio.device=") == 1, vmm.why())
    r = api(s, "GET", "/")
    result("getting-started/state-running", r.status == 200 and r.json == {
        "id": "anonymous-instance", "state": "Running", "vmm_version": VERSION, "app_name": "kvmrun"}, r)
    expect("getting-started/instance-start-twice",
           api(s, "PUT", "/actions", {"action_type": "InstanceStart"}), 400)
    # The probe's wait mode polls the i8042 without end: running, it keeps a CPU busy.
    c0 = vmm.cpu()
    time.sleep(1)
    busy = vmm.cpu() - c0
    r = api(s, "PATCH", "/vm", {"state": "Paused"})
    st = api(s, "GET", "/")
    result("getting-started/pause", r.status == 204 and st.get("state") == "Paused", f"PATCH: {r}; GET /: {st}")
    time.sleep(0.2)
    c0 = vmm.cpu()
    time.sleep(1)
    idle = vmm.cpu() - c0
    print(f"INFO api: kvmrun used {busy:.3f} s of CPU in 1 s running, {idle:.3f} s paused", flush=True)
    result("getting-started/paused-guest-uses-no-cpu", busy > 0.2 and idle < 0.2 * busy,
           f"{busy:.3f} s of CPU in 1 s running, {idle:.3f} s paused")
    r = api(s, "PATCH", "/vm", {"state": "Resumed"})
    st = api(s, "GET", "/")
    c0 = vmm.cpu()
    time.sleep(1)
    again = vmm.cpu() - c0
    result("getting-started/resume", r.status == 204 and st.get("state") == "Running" and again > 0.2,
           f"PATCH: {r}; GET /: {st}; {again:.3f} s of CPU in 1 s after resuming")
    was = os.path.lexists(s)
    status = vmm.stop(signal.SIGTERM, 20)
    result("getting-started/sigterm", status == 0 and "PROBE ctrl-alt-del" in vmm.stdout,
           f"expected the guest's Ctrl-Alt-Del and status 0; {ended(status)}; "
           f"ctrl-alt-del on the console: {'PROBE ctrl-alt-del' in vmm.stdout}; stderr {vmm.stderr[-300:]!r}")
    result("getting-started/socket-removed", was and gone(s),
           f"{s} still there after kvmrun ended" if was else f"{s} was never there")


# ---- 2. firecracker-go-sdk's order ----

def gosdk():
    s = sock_path("gosdk")
    log, metrics = os.path.join(TMP, "gosdk.log"), os.path.join(TMP, "gosdk.metrics")
    for path in (log, metrics):  # the SDK makes the files (or FIFOs) before it names them
        open(path, "w").close()
    root, data = image("gosdk-root.img"), image("gosdk-data.img")
    ns = f"kvmrun-api{os.getpid()}"
    p = subprocess.run(["ip", "netns", "add", ns], capture_output=True)
    if not result("gosdk/netns", p.returncode == 0, p.stderr):
        return
    try:
        vmm = Vmm(["--api-sock", s, "--id", "gosdk-vm"], s, wrap=["ip", "netns", "exec", ns])
        # waitForSocket: stat every 10 ms, then GET /machine-config until it answers.
        deadline = time.monotonic() + 10
        while not os.path.exists(s) and time.monotonic() < deadline and vmm.p.poll() is None:
            time.sleep(0.01)
        r = Response(error="socket never appeared")
        while os.path.exists(s) and time.monotonic() < deadline:
            r = api(s, "GET", "/machine-config")
            if r.status == 200:
                break
            time.sleep(0.01)
        seen = r.status == 200
        result("gosdk/wait-for-socket", seen, f"{r}; {vmm.why()}")
        steps = [
            ("put-logger", "PUT", "/logger", {"log_path": log, "level": "Debug", "show_level": True,
                                              "show_log_origin": False}),
            ("put-metrics", "PUT", "/metrics", {"metrics_path": metrics}),
            ("put-machine-config", "PUT", "/machine-config",
             {"vcpu_count": 1, "mem_size_mib": 128, "smt": False, "track_dirty_pages": False}),
            ("put-boot-source", "PUT", "/boot-source", {"kernel_image_path": probe("pvh"),
                                                        "boot_args": BOOT_ARGS}),
            ("put-root-drive", "PUT", "/drives/root_drive",
             {"drive_id": "root_drive", "path_on_host": root, "is_root_device": True,
              "is_read_only": False}),
            ("put-drive", "PUT", "/drives/1",
             {"drive_id": "1", "path_on_host": data, "is_root_device": False, "is_read_only": True,
              "rate_limiter": {}}),
            ("put-network-interface", "PUT", "/network-interfaces/1",
             {"iface_id": "1", "host_dev_name": "kvapi0", "guest_mac": "02:00:00:00:00:0a",
              "rx_rate_limiter": {}, "tx_rate_limiter": {}}),
            ("instance-start", "PUT", "/actions", {"action_type": "InstanceStart"}),
        ]
        for name, method, url, body in steps:
            expect(f"gosdk/{name}", api(s, method, url, body), 204)
        booted = vmm.wait_out("PROBE waiting")
        f = probe_facts(vmm.stdout)
        cmdline = f.get("cmdline", "")
        result("gosdk/guest-runs", booted and "root=/dev/vda rw" in cmdline
               and cmdline.count("virtio_mmio.device=") == 3, f"cmdline {cmdline!r}; {vmm.why()}")
        text = open(log).read()
        result("gosdk/logger-writes", "guest running" in text, f"log {text[:300]!r}")
        expect("gosdk/patch-network-interface",
               api(s, "PATCH", "/network-interfaces/1",
                   {"iface_id": "1", "rx_rate_limiter": {"bandwidth": {"size": 1 << 20, "refill_time": 100}},
                    "tx_rate_limiter": {}}), 204)
        before = open(metrics).read().splitlines()
        r = api(s, "PUT", "/actions", {"action_type": "FlushMetrics"})
        deadline = time.monotonic() + 3
        after = before
        while len(after) <= len(before) and time.monotonic() < deadline:
            time.sleep(0.05)
            after = open(metrics).read().splitlines()
        try:
            recs = [json.loads(x) for x in after]
        except ValueError as e:
            recs = [f"not JSON: {e}"]
        result("gosdk/flush-metrics", r.status == 204 and len(after) == len(before) + 1
               and isinstance(recs[-1], dict),
               f"{r}; {len(before)} lines before, {len(after)} after: {after[-1:]}")
        # Each request counted once (InstanceStart passes two threads), under its own method.
        put = recs[-1].get("put_api_requests", {}) if isinstance(recs[-1], dict) else {}
        patch = recs[-1].get("patch_api_requests", {}) if isinstance(recs[-1], dict) else {}
        result("gosdk/metrics-count-requests", put.get("actions_count") == 1
               and put.get("actions_fails") == 0 and put.get("drive_count") == 2
               and patch.get("network_count") == 1, f"put {put}; patch {patch}")
        r = api(s, "PUT", "/actions", {"action_type": "SendCtrlAltDel"})
        status = vmm.wait(20)
        result("gosdk/send-ctrl-alt-del", r.status == 204 and "PROBE ctrl-alt-del" in vmm.stdout
               and status == 0, f"{r}; {vmm.why()}")
        # StopVMM: SIGTERM, to whatever is still running.
        status = vmm.stop(signal.SIGTERM, 20)
        result("gosdk/socket-removed", seen and gone(s),
               f"{s} still there; {vmm.why()}" if seen else f"{s} never answered")
        try:
            recs = [json.loads(x) for x in open(metrics) if x.strip()]
        except (OSError, ValueError) as e:
            recs = [str(e)]
        result("gosdk/metrics-at-exit", recs and isinstance(recs[-1], dict)
               and recs[-1].get("event") == "exit", recs[-1:])
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


# ---- 3. Kata's order ----

def kata():
    s = sock_path("kata")
    root, holder, new = image("kata-root.img"), image("kata-holder.img"), image("kata-new.img")
    cfg = os.path.join(TMP, "kata.json")
    with open(cfg, "w") as fh:
        json.dump({"boot-source": {"kernel_image_path": probe("pvh"), "boot_args": BOOT_ARGS},
                   "machine-config": {"vcpu_count": 1, "mem_size_mib": 128},
                   "drives": [{"drive_id": "rootfs", "path_on_host": root, "is_root_device": True,
                               "is_read_only": True},
                              {"drive_id": "drive_1", "path_on_host": holder,
                               "is_root_device": False, "is_read_only": False}]}, fh)
    vmm = Vmm(["--api-sock", s, "--id", "kata-sandbox", "--config-file", cfg], s)
    # waitVMMRunning: GET / until "Running" (errors while the socket is not there are retried).
    deadline = time.monotonic() + 30
    r = Response(error="never answered")
    while time.monotonic() < deadline and vmm.p.poll() is None:
        r = api(s, "GET", "/", timeout=5)
        if r.get("state") == "Running":
            break
        time.sleep(0.01)
    result("kata/config-file-boots-running", r.get("state") == "Running" and r.get("id") == "kata-sandbox",
           f"GET /: {r}; {vmm.why()}")
    result("kata/guest-runs", vmm.wait_out("PROBE waiting"), vmm.why())
    expect("kata/patch-drive-rate-limiter",
           api(s, "PATCH", "/drives/drive_1",
               {"drive_id": "drive_1",
                "rate_limiter": {"bandwidth": {"size": 1 << 20, "refill_time": 1000},
                                 "ops": {"size": 100, "one_time_burst": 10, "refill_time": 1000}}}), 204)
    # null is Firecracker's "no update": the bucket stays (it was switched off here once).
    expect("kata/patch-drive-null-bucket",
           api(s, "PATCH", "/drives/drive_1",
               {"drive_id": "drive_1", "rate_limiter": {"bandwidth": None, "ops": None}}), 204)
    cfgr = api(s, "GET", "/vm/config")
    d1 = [d for d in cfgr.get("drives", []) if isinstance(d, dict) and d.get("drive_id") == "drive_1"]
    rl = d1[0].get("rate_limiter", {}) if d1 else {}
    result("kata/null-bucket-keeps-limits", rl.get("bandwidth", {}).get("size") == 1 << 20
           and rl.get("ops", {}).get("size") == 100, f"drive_1's rate_limiter: {rl}")
    expect("kata/patch-drive-empty-rate-limiter",
           api(s, "PATCH", "/drives/drive_1", {"drive_id": "drive_1", "rate_limiter": {}}), 204)
    expect("kata/patch-drive-unknown", api(s, "PATCH", "/drives/drive_9",
                                           {"drive_id": "drive_9", "rate_limiter": {}}), 400)
    expect("kata/patch-drive-id-mismatch", api(s, "PATCH", "/drives/drive_1",
                                               {"drive_id": "rootfs", "rate_limiter": {}}), 400, "drive_id")
    expect("kata/patch-drive-bad-bucket",
           api(s, "PATCH", "/drives/drive_1",
               {"drive_id": "drive_1", "rate_limiter": {"ops": {"size": -1, "refill_time": 1000}}}),
           400, "size")
    # Kata's block hotplug: a placeholder drive gets its real file.
    expect("kata/patch-drive-path",
           api(s, "PATCH", "/drives/drive_1", {"drive_id": "drive_1", "path_on_host": new}), 204)
    cfgr = api(s, "GET", "/vm/config")
    d1 = [d for d in cfgr.get("drives", []) if isinstance(d, dict) and d.get("drive_id") == "drive_1"]
    result("kata/vm-config-after-patch", len(d1) == 1 and d1[0].get("path_on_host") == new,
           f"drive_1 should have path_on_host {new}; got {cfgr}")
    status = vmm.stop(signal.SIGTERM, 20)
    result("kata/sigterm", status == 0 and "PROBE ctrl-alt-del" in vmm.stdout and gone(s),
           f"expected the guest's Ctrl-Alt-Del and status 0; {ended(status)}; "
           f"ctrl-alt-del on the console: {'PROBE ctrl-alt-del' in vmm.stdout}; socket gone: "
           f"{not os.path.lexists(s)}; stderr {vmm.stderr[-300:]!r}")


# ---- 4. after start: refusals, stalled and many clients ----

def one_get(s, results, i):
    try:
        c = Conn(s, 30)
        c.send(request("GET", "/"))
        r = c.response(30)
        closed = r.status is None and "closed" in r.error
        c.close()
        results[i] = (r, closed)
    except OSError as e:
        results[i] = (Response(error=str(e)), False)


def running():
    s = sock_path("run")
    vmm = Vmm(["--api-sock", s, "--kernel", probe("pvh"), "-c", WAIT], s)
    booted = vmm.wait_out("PROBE waiting")
    r = state_is(s, "Running")
    result("running/kernel-and-api-sock-boots-at-once", booted and r.get("state") == "Running"
           and r.get("id") == "anonymous-instance", f"GET /: {r}; {vmm.why()}")
    img = image("run.img")
    refused = [
        ("put-machine-config", "PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 128}),
        ("patch-machine-config", "PATCH", "/machine-config", {"vcpu_count": 1}),
        ("put-boot-source", "PUT", "/boot-source", {"kernel_image_path": probe("pvh")}),
        ("put-drive", "PUT", "/drives/late", {"drive_id": "late", "path_on_host": img,
                                              "is_root_device": False}),
        ("put-network-interface", "PUT", "/network-interfaces/eth0",
         {"iface_id": "eth0", "host_dev_name": "kvapi1"}),
        ("put-logger", "PUT", "/logger", {"log_path": os.path.join(TMP, "late.log")}),
        ("put-metrics", "PUT", "/metrics", {"metrics_path": os.path.join(TMP, "late.metrics")}),
        ("instance-start", "PUT", "/actions", {"action_type": "InstanceStart"}),
    ]
    for name, method, url, body in refused:
        expect(f"running/refused-{name}", api(s, method, url, body), 400)
    expect("running/patch-vm-bad-state", api(s, "PATCH", "/vm", {"state": "Sleeping"}), 400, "state")
    r = api(s, "GET", "/machine-config")
    result("running/get-machine-config", r.status == 200 and r.get("vcpu_count") == 1
           and r.get("mem_size_mib") == 128, r)

    # A client that sends half a request and stalls blocks no one.
    try:
        slow = Conn(s)
        slow.send(b"GET / HT")
        t0 = time.monotonic()
        r = api(s, "GET", "/", timeout=5)
        took = time.monotonic() - t0
        slow.send(b"TP/1.1\r\nHost: localhost\r\n\r\n")
        late = slow.response(5)
        slow.close()
    except OSError as e:
        r, late, took = Response(error=str(e)), Response(), -1
    result("running/stalled-client-blocks-no-one", r.get("state") == "Running",
           f"the second client got {r} after {took:.2f} s; the stalled one, completed, got {late}")
    try:
        slow = Conn(s)
        slow.send(request("PATCH", "/vm", {"state": "Paused"})[:-5])  # the body's last bytes missing
        r = api(s, "GET", "/", timeout=5)
        slow.close()
    except OSError as e:
        r = Response(error=str(e))
    result("running/stalled-body-blocks-no-one", r.get("state") == "Running", f"the second client got {r}")

    # 100 connections at once: each answered or closed; the guest runs on.
    results = [None] * 100
    threads = [threading.Thread(target=one_get, args=(s, results, i), daemon=True) for i in range(100)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.1, 60 - (time.monotonic() - t0)))
    answered = sum(1 for x in results if x and x[0].get("state") == "Running")
    closed = sum(1 for x in results if x and x[1])
    bad = [(i, str(x[0]) if x else "no result within 60 s") for i, x in enumerate(results)
           if not x or (x[0].get("state") != "Running" and not x[1])]
    print(f"INFO api: 100 concurrent connections: {answered} answered, {closed} closed, in "
          f"{time.monotonic() - t0:.2f} s", flush=True)
    result("running/100-concurrent-connections", not bad and answered > 0,
           f"{answered} answered, {closed} closed; the others: {bad[:5]}")

    # A client killed mid-body: nothing happens.
    body = json.dumps({"state": "Paused"}).encode()
    head = request("PATCH", "/vm", body)
    partial_then_killed(s, head[:len(head) - len(body) // 2])
    r = api(s, "GET", "/")
    result("running/killed-mid-body-changes-nothing", r.get("state") == "Running", r)

    was = os.path.lexists(s)
    r = api(s, "PUT", "/actions", {"action_type": "SendCtrlAltDel"})
    status = vmm.wait(20)
    result("running/guest-alive-ctrl-alt-del", r.status == 204 and "PROBE ctrl-alt-del" in vmm.stdout
           and status == 0, f"{r}; {vmm.why()}")
    vmm.stop(signal.SIGKILL, 5)
    result("running/socket-removed", was and gone(s),
           f"{s} still there after kvmrun ended" if was else f"{s} was never there")


# Firecracker's getting-started sequence (docs/getting-started.md), as a user types it with
# curl: only the paths (and the kernel: the probe) are ours; the bodies, the MAC, "tap0",
# "show_log_origin": true and the headers are the guide's.
GETTING_STARTED = r"""
set -e
API_SOCKET="$1"; KERNEL="$2"; ROOTFS="$3"; LOGFILE="$4"
TAP_DEV="tap0"
FC_MAC="06:00:AC:10:00:02"
KERNEL_BOOT_ARGS="console=ttyS0 reboot=k panic=1 pci=off probe.exit=wait"
curl -fsS -X PUT --unix-socket "${API_SOCKET}" \
    --data "{
        \"log_path\": \"${LOGFILE}\",
        \"level\": \"Debug\",
        \"show_level\": true,
        \"show_log_origin\": true
    }" \
    "http://localhost/logger"
curl -fsS -X PUT --unix-socket "${API_SOCKET}" \
    --data "{
        \"kernel_image_path\": \"${KERNEL}\",
        \"boot_args\": \"${KERNEL_BOOT_ARGS}\"
    }" \
    "http://localhost/boot-source"
curl -fsS -X PUT --unix-socket "${API_SOCKET}" \
    --data "{
        \"drive_id\": \"rootfs\",
        \"path_on_host\": \"${ROOTFS}\",
        \"is_root_device\": true,
        \"is_read_only\": false
    }" \
    "http://localhost/drives/rootfs"
curl -fsS -X PUT --unix-socket "${API_SOCKET}" \
    --data "{
        \"iface_id\": \"net1\",
        \"guest_mac\": \"$FC_MAC\",
        \"host_dev_name\": \"$TAP_DEV\"
    }" \
    "http://localhost/network-interfaces/net1"
sleep 0.015
curl -fsS -X PUT --unix-socket "${API_SOCKET}" \
    --data "{
        \"action_type\": \"InstanceStart\"
    }" \
    "http://localhost/actions"
echo GETTING-STARTED-DONE
"""


def curl_getting_started():
    if not shutil.which("curl"):
        result("curl-getting-started/curl", False, "no curl (./build.sh test installs it)")
        return
    script = os.path.join(TMP, "getting-started.sh")
    with open(script, "w") as fh:
        fh.write(GETTING_STARTED)
    s, root, log = sock_path("curl-gs"), image("curl-gs-root.img"), os.path.join(TMP, "curl-gs.log")
    ns = f"kvmrun-gs{os.getpid()}"
    p = subprocess.run(["ip", "netns", "add", ns], capture_output=True)
    if not result("curl-getting-started/netns", p.returncode == 0, p.stderr):
        return
    try:
        vmm = Vmm(["--api-sock", s], s, wrap=["ip", "netns", "exec", ns])
        vmm.accepts(5)
        p = subprocess.run(["ip", "netns", "exec", ns, "bash", script, s, probe("pvh"), root, log],
                           capture_output=True, text=True, timeout=60)
        result("curl-getting-started/sequence", p.returncode == 0 and
               "GETTING-STARTED-DONE" in p.stdout, f"status {p.returncode}: {p.stdout[-300:]!r} "
               f"{p.stderr[-300:]!r}; {vmm.why()}")
        booted = vmm.wait_out("PROBE waiting")
        f = probe_facts(vmm.stdout)
        result("curl-getting-started/guest-boots", booted and "root=/dev/vda rw" in f.get("cmdline", "")
               and f.get("cmdline", "").count("virtio_mmio.device=") == 2, vmm.why())
        r = subprocess.run(["curl", "-fsS", "--unix-socket", s, "http://localhost/vm/config"],
                           capture_output=True, text=True, timeout=10)
        result("curl-getting-started/mac-and-tap", '"guest_mac":"06:00:ac:10:00:02"' in r.stdout
               and '"host_dev_name":"tap0"' in r.stdout, r.stdout[-400:])
        text = open(log).read() if os.path.exists(log) else ""
        result("curl-getting-started/log-written-with-origin",
               re.search(r"\] (info|debug): [a-z_]+\.c:\d+: guest running", text),
               f"{log}: {text[:300]!r}")
        subprocess.run(["curl", "-fsS", "-X", "PUT", "--unix-socket", s, "--data",
                        '{"action_type": "SendCtrlAltDel"}', "http://localhost/actions"],
                       capture_output=True, timeout=10)
        status = vmm.wait(20)
        result("curl-getting-started/ctrl-alt-del", status == 0 and "PROBE ctrl-alt-del" in vmm.stdout,
               vmm.why())
        vmm.stop(signal.SIGKILL, 5)
    finally:
        subprocess.run(["ip", "netns", "del", ns])


def ends_on_ctrl_alt_del(name, vmm, sock):
    """SendCtrlAltDel: the probe guest says so and powers off, kvmrun exits 0."""
    r = api(sock, "PUT", "/actions", {"action_type": "SendCtrlAltDel"})
    status = vmm.wait(20)
    result(name, r.status == 204 and status == 0 and "PROBE ctrl-alt-del" in vmm.stdout,
           f"{r}; {vmm.why()}")
    vmm.stop(signal.SIGKILL, 5)


def expect_continue(s, version):
    """A PATCH's head with Expect: 100-continue, what comes in 0.5 s, then its body and the
    answer: (first response or none, answer)."""
    try:
        c = Conn(s)
        head, body = request("PATCH", "/machine-config", {"vcpu_count": 2},
                             headers=("Expect: 100-continue",)).split(b"\r\n\r\n", 1)
        c.send(head.replace(b"HTTP/1.1", version.encode(), 1) + b"\r\n\r\n")
        r1 = c.response(0.5)
        c.send(body)
        r2 = c.response()
        c.close()
    except OSError as e:
        r1 = r2 = Response(error=str(e))
    return r1, r2


def firecracker_accepts(drive):
    """What Firecracker takes, kvmrun takes too (on an instance of its own: it stays unstarted)."""
    s = sock_path("fcaccepts")
    vmm = Vmm(["--api-sock", s], s)
    vmm.accepts(5)
    for name, method, url, body in (
            ("logger-level-only", "PUT", "/logger", {"level": "Warning"}),
            ("logger-off-null-path", "PUT", "/logger", {"log_path": None, "level": "Off"}),
            ("drive-io-engine-async", "PUT", "/drives/rootfs", dict(drive, io_engine="Async")),
            ("patch-machine-config-null", "PATCH", "/machine-config",
             {"vcpu_count": 2, "mem_size_mib": None})):
        expect(f"api/firecracker-accepts-{name}", api(s, method, url, body), 204)
    r = api(s, "GET", "/machine-config")
    result("api/patch-null-is-no-change", r.get("vcpu_count") == 2 and r.get("mem_size_mib") == 128, r)
    expect("api/error-patch-machine-config-empty", api(s, "PATCH", "/machine-config", {}), 400,
           "Empty PATCH request.")
    expect("api/error-patch-machine-config-all-null",
           api(s, "PATCH", "/machine-config", {"vcpu_count": None}), 400, "Empty PATCH request.")
    expect("api/error-patch-machine-config-unknown-null",
           api(s, "PATCH", "/machine-config", {"vcpu_count": 2, "bogus": None}), 400, "bogus")
    vmm.stop(signal.SIGKILL, 5)


def busy_tap(name):
    """A tap attached by this process (not multi-queue): anyone else's TUNSETIFF is EBUSY."""
    fd = os.open("/dev/net/tun", os.O_RDWR)
    iff_tap, iff_no_pi, iff_vnet_hdr = 0x0002, 0x1000, 0x4000
    fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH22x", name.encode(),
                                            iff_tap | iff_no_pi | iff_vnet_hdr))
    return fd


def checked_at_put(drive):
    """What Firecracker checks at the PUT (it opens the files and the tap then), kvmrun checks
    there too, not at InstanceStart: the client learns it at the call that caused it."""
    s = sock_path("fcchecks")
    vmm = Vmm(["--api-sock", s], s)
    vmm.accepts(5)
    dangling = os.path.join(TMP, "dangling.log")
    if not os.path.lexists(dangling):
        os.symlink("/nonexistent/dir/log", dangling)
    for name, url, body, needle in (
            ("logger-dir-missing", "/logger", {"log_path": "/nonexistent/dir/log"}, "log_path"),
            ("logger-is-directory", "/logger", {"log_path": TMP}, "is a directory"),
            ("metrics-dir-missing", "/metrics", {"metrics_path": "/nonexistent/m"},
             "metrics_path"),
            ("logger-empty-path", "/logger", {"log_path": ""}, "log_path"),
            ("logger-dangling-symlink", "/logger", {"log_path": dangling}, "symbolic link")):
        expect(f"api/checked-at-put-{name}", api(s, "PUT", url, body), 400, needle)
    log = os.path.join(TMP, "put-check.log")
    expect("api/checked-at-put-logger-ok", api(s, "PUT", "/logger", {"log_path": log}), 204)
    result("api/checked-at-put-creates-nothing", not os.path.exists(log), f"{log} exists")
    expect("api/checked-at-put-root-drive", api(s, "PUT", "/drives/rootfs", drive), 204)
    expect("api/checked-at-put-second-root",
           api(s, "PUT", "/drives/other", dict(drive, drive_id="other")), 400, "is_root_device")
    fd = busy_tap("kvbusy0")
    try:
        expect("api/checked-at-put-tap-busy", api(s, "PUT", "/network-interfaces/eth0", {
            "iface_id": "eth0", "host_dev_name": "kvbusy0"}), 400, "host_dev_name")
    finally:
        os.close(fd)
    mac = "02:00:00:00:00:aa"
    expect("api/checked-at-put-tap-free", api(s, "PUT", "/network-interfaces/eth0", {
        "iface_id": "eth0", "host_dev_name": "kvbusy0", "guest_mac": mac}), 204)
    expect("api/checked-at-put-mac-twice", api(s, "PUT", "/network-interfaces/eth1", {
        "iface_id": "eth1", "host_dev_name": "kvbusy1", "guest_mac": mac.upper()}), 400,
           "guest_mac")
    expect("api/checked-at-put-tap-twice", api(s, "PUT", "/network-interfaces/eth1", {
        "iface_id": "eth1", "host_dev_name": "kvbusy0"}), 400, "host_dev_name")
    vmm.stop(signal.SIGKILL, 5)
    # A flag's file that fails at InstanceStart is named by its flag, not as the API's field.
    s = sock_path("fcflagdisk")
    vmm = Vmm(["--api-sock", s, "--disk", os.path.join(TMP, "no-such-flag.img")], s)
    vmm.accepts(5)
    api(s, "PUT", "/boot-source", {"kernel_image_path": probe("pvh")})
    expect("api/start-error-names-flag", api(s, "PUT", "/actions",
                                             {"action_type": "InstanceStart"}, timeout=30),
           400, "--disk " + os.path.join(TMP, "no-such-flag.img"))
    vmm.stop(signal.SIGKILL, 5)


def snapshot_load():
    """PUT /snapshot/load before start: a kvmrun snapshot directory, as --restore runs it."""
    # PUT /snapshot/create of a paused guest (the directory is made), then a load of it.
    d = os.path.join(TMP, "api-snap")
    s0 = sock_path("snapcreate")
    vmm = Vmm(["--api-sock", s0, "-k", probe("pvh"), "-c", WAIT], s0)
    vmm.accepts(5)
    result("snapshot-create/guest-waits", vmm.wait_out("PROBE waiting"), vmm.why())
    expect("snapshot-create/running-refused",
           api(s0, "PUT", "/snapshot/create", {"snapshot_path": d}), 400, "paused")
    expect("snapshot-create/pause", api(s0, "PATCH", "/vm", {"state": "Paused"}), 204)
    expect("snapshot-create/diff-refused",
           api(s0, "PUT", "/snapshot/create", {"snapshot_path": d, "snapshot_type": "Diff"}),
           400, "snapshot_type")
    expect("snapshot-create/written",
           api(s0, "PUT", "/snapshot/create",
               {"snapshot_path": d, "mem_file_path": d + "/memory", "snapshot_type": "Full"},
               timeout=30), 204)
    # Firecracker's clients name two files: the state file and the memory file.
    pair = os.path.join(TMP, "api-pair")
    expect("snapshot-pair/into-a-directory",
           api(s0, "PUT", "/snapshot/create", {"snapshot_path": d, "mem_file_path": pair + ".mem"}),
           400, "snapshot_path")
    expect("snapshot-pair/same-file",
           api(s0, "PUT", "/snapshot/create", {"snapshot_path": pair, "mem_file_path": pair}),
           400, "mem_file_path")
    expect("snapshot-pair/same-file-other-name",
           api(s0, "PUT", "/snapshot/create",
               {"snapshot_path": pair + ".x", "mem_file_path": os.path.join(
                   os.path.dirname(pair), ".", os.path.basename(pair) + ".x")}),
           400, "the same file")
    expect("snapshot-pair/no-diff",
           api(s0, "PUT", "/snapshot/create", {"snapshot_path": pair + ".state",
                                                "mem_file_path": pair + ".mem",
                                                "snapshot_type": "Diff"}), 400, "snapshot_type")
    expect("snapshot-pair/written",
           api(s0, "PUT", "/snapshot/create", {"snapshot_path": pair + ".state",
                                                "mem_file_path": pair + ".mem"}, timeout=30), 204)
    result("snapshot-pair/files", all(os.path.isfile(pair + x) for x in (".state", ".mem", ".state.json"))
           and not os.path.exists(os.path.join(d, "memory.json")),
           f"{sorted(f for f in os.listdir(TMP) if f.startswith('api-pair'))}")
    result("snapshot-create/files", all(os.path.exists(os.path.join(d, f))
                                        for f in ("state", "memory", "config.json")),
           f"{os.listdir(d) if os.path.isdir(d) else 'no directory'}")
    result("snapshot-create/still-paused", state_is(s0, "Paused").get("state") == "Paused",
           vmm.why())
    expect("snapshot-create/resume", api(s0, "PATCH", "/vm", {"state": "Resumed"}), 204)
    ends_on_ctrl_alt_del("snapshot-create/original-goes-on", vmm, s0)
    s = sock_path("snapload")
    vmm = Vmm(["--api-sock", s], s)
    vmm.accepts(5)
    expect("snapshot-load/missing-dir", api(s, "PUT", "/snapshot/load",
                                            {"snapshot_path": d + "-none"}), 400, "snapshot_path")
    expect("snapshot-load/resume-not-bool", api(s, "PUT", "/snapshot/load",
                                                {"snapshot_path": d, "resume_vm": "yes"}), 400,
           "resume_vm")
    expect("snapshot-load/clock-realtime-true", api(s, "PUT", "/snapshot/load", {
        "snapshot_path": d, "clock_realtime": True}), 400, "clock_realtime")
    expect("snapshot-load/huge-pages-2M", api(s, "PUT", "/snapshot/load", {
        "snapshot_path": d, "huge_pages": "2M"}), 400, "huge_pages")
    expect("snapshot-load/other-memory-file",
           api(s, "PUT", "/snapshot/load",
               {"snapshot_path": d, "mem_backend": {"backend_type": "File",
                                                    "backend_path": "/tmp/elsewhere"}}), 400,
           "mem_backend")
    expect("snapshot-load/overrides-not-objects",
           api(s, "PUT", "/snapshot/load", {"snapshot_path": d, "network_overrides": [[0], 1]}),
           400, "network_overrides[0]")
    # A look at the (empty) configuration first is no configuration.
    r = api(s, "GET", "/vm/config")
    result("snapshot-load/get-vm-config-first", r.status == 200, r)
    # firecracker-go-sdk's order: the logger and metrics, then the load.
    log, metrics = os.path.join(TMP, "snapload.log"), os.path.join(TMP, "snapload.metrics")
    expect("snapshot-load/logger-first", api(s, "PUT", "/logger", {"log_path": log,
                                                                    "level": "Info"}), 204)
    expect("snapshot-load/metrics-first", api(s, "PUT", "/metrics", {"metrics_path": metrics}),
           204)
    r = api(s, "PUT", "/snapshot/load",
            {"snapshot_path": d, "mem_backend": {"backend_type": "File",
                                                 "backend_path": d + "/memory"},
             "resume_vm": True, "clock_realtime": False, "huge_pages": "None"}, timeout=30)
    expect("snapshot-load/loads", r, 204)
    result("snapshot-load/running", state_is(s, "Running").get("state") == "Running", vmm.why())
    expect("snapshot-load/twice", api(s, "PUT", "/snapshot/load", {"snapshot_path": d}), 400)
    ends_on_ctrl_alt_del("snapshot-load/guest-goes-on", vmm, s)
    text = open(log).read() if os.path.exists(log) else ""
    result("snapshot-load/logger-applies", "restoring" in text and "guest running" in text,
           f"{log}: {text[:300]!r}")
    result("snapshot-load/metrics-apply", os.path.exists(metrics) and '"exit"' in open(metrics).read(),
           f"{metrics}: {open(metrics).read()[-300:] if os.path.exists(metrics) else 'none'!r}")
    snapshot_diff(d)
    snapshot_pair_load(pair)
    snapshot_net_override()
    # Configured first, then a load: refused, as Firecracker refuses it.
    s2 = sock_path("snapload2")
    vmm = Vmm(["--api-sock", s2], s2)
    vmm.accepts(5)
    api(s2, "PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 64})
    expect("snapshot-load/after-configuring", api(s2, "PUT", "/snapshot/load",
                                                  {"snapshot_path": d}), 400, "snapshot_path")
    vmm.stop(signal.SIGTERM, 10)


def snapshot_pair_load(pair):
    """PUT /snapshot/load of the pair of files, as firecracker-go-sdk sends it: the guest goes on."""
    s = sock_path("pairload")
    vmm = Vmm(["--api-sock", s], s)
    vmm.accepts(5)
    expect("snapshot-pair/no-tracking", api(s, "PUT", "/snapshot/load",
                                            {"snapshot_path": pair + ".state",
                                             "mem_file_path": pair + ".mem",
                                             "track_dirty_pages": True}), 400, "track_dirty_pages")
    expect("snapshot-pair/loads", api(s, "PUT", "/snapshot/load",
                                      {"snapshot_path": pair + ".state",
                                       "mem_backend": {"backend_type": "File",
                                                       "backend_path": pair + ".mem"},
                                       "resume_vm": True}, timeout=30), 204)
    result("snapshot-pair/running", state_is(s, "Running").get("state") == "Running", vmm.why())
    ends_on_ctrl_alt_del("snapshot-pair/guest-goes-on", vmm, s)


def snapshot_diff(base):
    """PUT /snapshot/load with track_dirty_pages, then PUT /snapshot/create "Diff": the pages
    written since the load, naming the base; a load of the diff runs the guest on."""
    dd = os.path.join(TMP, "api-snap-diff")
    s = sock_path("snapdiff")
    vmm = Vmm(["--api-sock", s], s)
    vmm.accepts(5)
    expect("snapshot-diff/track-not-bool", api(s, "PUT", "/snapshot/load",
                                               {"snapshot_path": base, "track_dirty_pages": "yes"}),
           400, "track_dirty_pages")
    expect("snapshot-diff/load-tracking", api(s, "PUT", "/snapshot/load",
                                              {"snapshot_path": base, "track_dirty_pages": True,
                                               "resume_vm": True}, timeout=30), 204)
    r = api(s, "GET", "/machine-config")
    result("snapshot-diff/machine-config-says-tracking", r.get("track_dirty_pages") is True, r)
    expect("snapshot-diff/pause", api(s, "PATCH", "/vm", {"state": "Paused"}), 204)
    expect("snapshot-diff/written", api(s, "PUT", "/snapshot/create",
                                        {"snapshot_path": dd, "mem_file_path": dd + "/memory",
                                         "snapshot_type": "Diff"}, timeout=30), 204)
    full = os.stat(os.path.join(base, "memory")).st_blocks * 512
    diff = os.stat(os.path.join(dd, "memory")).st_blocks * 512 if os.path.exists(dd) else -1
    result("snapshot-diff/small", os.path.exists(os.path.join(dd, "dirty")) and 0 <= diff < full,
           f"diff memory {diff} bytes allocated, base {full}; {os.listdir(dd) if os.path.isdir(dd) else 'no directory'}")
    expect("snapshot-diff/resume", api(s, "PATCH", "/vm", {"state": "Resumed"}), 204)
    ends_on_ctrl_alt_del("snapshot-diff/tracked-guest-goes-on", vmm, s)
    # The diff loads through its base, and the guest goes on from where the diff was taken.
    s = sock_path("snapdiffload")
    vmm = Vmm(["--api-sock", s], s)
    vmm.accepts(5)
    # Without resume_vm (Firecracker's default false; go-sdk leaves a false out) it loads
    # paused: a Ctrl-Alt-Del sent now waits until PATCH /vm Resumed lets the guest run.
    expect("snapshot-diff/loads", api(s, "PUT", "/snapshot/load", {"snapshot_path": dd},
                                      timeout=30), 204)
    result("snapshot-diff/loaded-paused", state_is(s, "Paused").get("state") == "Paused",
           vmm.why())
    r = api(s, "PUT", "/actions", {"action_type": "SendCtrlAltDel"})
    time.sleep(1)
    result("snapshot-diff/paused-guest-waits", r.status == 204 and vmm.p.poll() is None
           and "PROBE ctrl-alt-del" not in vmm.stdout, f"{r}; {vmm.why()}")
    expect("snapshot-diff/loaded-resumes", api(s, "PATCH", "/vm", {"state": "Resumed"}), 204)
    status = vmm.wait(20)
    result("snapshot-diff/chain-goes-on", status == 0 and "PROBE ctrl-alt-del" in vmm.stdout,
           vmm.why())
    vmm.stop(signal.SIGKILL, 5)
    # SIGTERM to a paused guest (it cannot take the Ctrl-Alt-Del) ends kvmrun at once, not
    # after --shutdown-timeout (10 s here) with "did not shut down in time".
    s = sock_path("snapdiffterm")
    vmm = Vmm(["--api-sock", s], s)
    vmm.accepts(5)
    expect("snapshot-diff/loads-paused-again", api(s, "PUT", "/snapshot/load",
                                                   {"snapshot_path": dd}, timeout=30), 204)
    t0 = time.monotonic()
    status = vmm.stop(signal.SIGTERM, 20)
    took = time.monotonic() - t0
    result("snapshot-diff/sigterm-paused-ends-now", status == 128 + signal.SIGTERM and took < 3
           and "paused" in vmm.stderr, f"status {status} after {took:.1f} s; {vmm.why()}")


def taps_of(pid):
    """The taps process pid holds open (its fdinfo's "iff:" lines)."""
    found = []
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            found += re.findall(r"^iff:\s*(\S+)", open(f"/proc/{pid}/fdinfo/{fd}").read(), re.M)
        except OSError:
            pass
    return found


def snapshot_net_override():
    """PUT /snapshot/load's network_overrides: a clone's NIC on a tap of its own (the snapshot's
    config.json names another); a wrong id, a bad tap name or a damaged config.json is a 400
    naming it, and kvmrun waits on for a good load."""
    ns = f"kvmrun-ovr{os.getpid()}"
    p = subprocess.run(["ip", "netns", "add", ns], capture_output=True)
    if not result("snapshot-override/netns", p.returncode == 0, p.stderr):
        return
    wrap = ["ip", "netns", "exec", ns]
    try:
        d = os.path.join(TMP, "api-snap-net")
        s0 = sock_path("ovr0")
        vmm = Vmm(["--api-sock", s0, "-k", probe("pvh"), "-c", WAIT, "--net", "tap=kvovrA",
                   "--snapshot-dir", d], s0, wrap=wrap)
        vmm.accepts(5)
        vmm.wait_out("PROBE waiting")
        vmm.p.send_signal(signal.SIGUSR2)
        result("snapshot-override/taken", vmm.wait(30) == 0 and '"host_dev_name":"kvovrA"'
               in open(os.path.join(d, "config.json")).read().replace(" ", ""), vmm.why())
        broken = os.path.join(TMP, "api-snap-net-broken")
        copy_sparse(d, broken)
        with open(os.path.join(broken, "config.json"), "w") as fh:
            fh.write("{\"boot-source\": ")
        s = sock_path("ovr1")
        vmm = Vmm(["--api-sock", s], s, wrap=wrap)
        vmm.accepts(5)
        for name, body, needle in (
                ("not-an-array", {"iface_id": "net0"}, "network_overrides"),
                ("unknown-id", [{"iface_id": "eth9", "host_dev_name": "kvovrB"}],
                 "network_overrides[0].iface_id"),
                ("bad-tap-name", [{"iface_id": "net0", "host_dev_name": "a/b"}],
                 "network_overrides[0].host_dev_name"),
                ("twice", [{"iface_id": "net0", "host_dev_name": "kvovrB"},
                           {"iface_id": "net0", "host_dev_name": "kvovrC"}], "named twice")):
            expect(f"snapshot-override/{name}", api(s, "PUT", "/snapshot/load", {
                "snapshot_path": d, "network_overrides": body}), 400, needle)
        expect("snapshot-override/damaged-config", api(s, "PUT", "/snapshot/load", {
            "snapshot_path": broken}), 400, "config.json")
        expect("snapshot-override/loads", api(s, "PUT", "/snapshot/load", {
            "snapshot_path": d, "resume_vm": True, "network_overrides": [
                {"iface_id": "net0", "host_dev_name": "kvovrB"}]}, timeout=30), 204)
        state_is(s, "Running")
        taps = taps_of(vmm.p.pid) if vmm.p.poll() is None else []
        result("snapshot-override/on-its-tap", taps == ["kvovrB"], f"taps held: {taps}; {vmm.why()}")
        ends_on_ctrl_alt_del("snapshot-override/guest-goes-on", vmm, s)
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def logger_style():
    """logger.module keeps the lines of kvmrun's modules (source files) whose name starts
    with it; show_level false leaves the level out, show_log_origin puts file:line in. Every
    source file that writes to the log is one a filter can name."""
    listed = re.search(r'log_modules\[\] = "([^"]*)"', open(os.path.join(TOP, "log.c")).read())
    listed = set(listed.group(1).split(", ")) if listed else set()
    writers = {f[:-2] for f in os.listdir(TOP) if f.endswith(".c") and f != "log.c"
               and "log_msg(" in open(os.path.join(TOP, f)).read()}
    result("logger/modules-listed", listed == writers,
           f"log.c lists {sorted(listed)}; log_msg is called in {sorted(writers)}")
    s, log = sock_path("logger"), os.path.join(TMP, "logger-style.log")
    vmm = Vmm(["--api-sock", s], s)
    if not result("logger/socket", vmm.accepts(5) is not None, vmm.why()):
        vmm.stop(signal.SIGKILL, 5)
        return
    expect("logger/put", api(s, "PUT", "/logger", {
        "log_path": log, "level": "Debug", "module": "vmm", "show_level": False,
        "show_log_origin": True}), 204)
    expect("logger/put-boot-source", api(s, "PUT", "/boot-source", {
        "kernel_image_path": probe("pvh"), "boot_args": BOOT_ARGS}), 204)
    expect("logger/start", api(s, "PUT", "/actions", {"action_type": "InstanceStart"}), 204)
    vmm.wait_out("PROBE waiting")
    api(s, "PATCH", "/vm", {"state": "Paused"})  # endpoints.c writes "API: paused": filtered
    lines = open(log).read().splitlines() if os.path.exists(log) else []
    wrong = [x for x in lines if not re.match(r"\[\s*\d+\.\d{6}\] vmm\.c:\d+: ", x)]
    result("logger/module-and-origin", lines and not wrong
           and any("guest running" in x for x in lines), f"lines not as asked: {wrong[:3]}; "
           f"{len(lines)} lines: {lines[:3]}")
    vmm.stop(signal.SIGKILL, 5)


def no_kvm():
    """A /dev/kvm that does not work (an empty file bound over it, in a mount namespace of the
    test's own): the VM kvmrun makes beside the client's requests fails quietly, the requests
    are answered, and InstanceStart reports it: a 400 naming /dev/kvm, status 1, no socket."""
    fake = os.path.join(TMP, "not-kvm")
    open(fake, "w").close()
    wrap = ("unshare", "-m", "sh", "-c", f'mount --bind {fake} /dev/kvm && exec "$@"', "sh")
    s = sock_path("nokvm")
    vmm = Vmm(["--api-sock", s], s, wrap=wrap)
    if not result("no-kvm/socket", vmm.accepts(5) is not None, vmm.why()):
        vmm.stop(signal.SIGKILL, 5)
        return
    expect("no-kvm/configures", api(s, "PUT", "/boot-source",
                                    {"kernel_image_path": probe("pvh")}), 204)
    expect("no-kvm/start-names-it", api(s, "PUT", "/actions", {"action_type": "InstanceStart"},
                                        timeout=30), 400, "/dev/kvm")
    status = vmm.wait(20)
    result("no-kvm/status-1-socket-gone", status == 1 and not os.path.exists(s)
           and "/dev/kvm" in vmm.stderr, vmm.why())
    vmm.stop(signal.SIGKILL, 5)


cli()
no_kvm()
before_start()
getting_started()
gosdk()
kata()
running()
curl_getting_started()
logger_style()
snapshot_load()
