# SPDX-License-Identifier: Apache-2.0
"""Run probe-guest test scripts as an ordinary user (uid 65534) who may open /dev/kvm.

    python3 test/as_user.py t_probe.py t_console.py ...

Most people who start a VM from a shell are in the kvm group, not root; orchestrators run VMMs
under their own uids. The scripts run from a world-readable copy of the checkout (it may live
in a private home), with Debian's /usr/bin/python3, KVMRUN_TEST_PREFIX=user/, and their lines
pass through. Runs as root (it switches ids with setpriv).
"""
import os
import shutil
import subprocess
import sys
import tempfile
import threading

from kvmtest import TOP, user_cmd


def copy_checkout():
    d = tempfile.mkdtemp(prefix="kvmrun-user.", dir="/tmp")
    os.chmod(d, 0o755)
    dst = os.path.join(d, "kvmrun-src")
    shutil.copytree(TOP, dst, symlinks=True,
                    ignore=shutil.ignore_patterns(".git", "build", "kvmrun-asan", "__pycache__"))
    for root, dirs, files in os.walk(dst):
        os.chmod(root, 0o755)
        for f in files:
            p = os.path.join(root, f)
            if not os.path.islink(p):
                os.chmod(p, 0o755 if os.access(p, os.X_OK) else 0o644)
    return d, dst


def main():
    cmd = user_cmd()
    if not isinstance(cmd, list):
        for s in sys.argv[1:]:
            print(f"FAIL user/{s}: cannot run as an ordinary user: {cmd}", flush=True)
        return 1
    top, src = copy_checkout()
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/tmp",
           "KVMRUN": os.path.join(src, "kvmrun"), "KVMRUN_TEST_PREFIX": "user/"}
    rc = 0
    try:
        for s in sys.argv[1:]:
            # Line by line as they come: in L1 a log that stays silent for minutes looks
            # like a hung L1 to test/l1/run.sh.
            p = subprocess.Popen(cmd + [python, os.path.join(src, "test", s)], env=env,
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True, cwd="/tmp")
            failed = []

            def relay(out=p.stdout, failed=failed):
                for line in out:
                    if line.startswith("FAIL "):
                        failed.append(line)
                    sys.stdout.write(line)
                    sys.stdout.flush()
            t = threading.Thread(target=relay, daemon=True)
            t.start()
            try:
                p.wait(timeout=1800)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                print(f"FAIL user/{s}: still ran after 1800 s", flush=True)
                failed.append(s)
            t.join(30)
            if p.returncode != 0 and not failed:
                print(f"FAIL user/{s}: exited with status {p.returncode}", flush=True)
            rc |= p.returncode != 0
    finally:
        shutil.rmtree(top, ignore_errors=True)
    return rc


sys.exit(main())
