# SPDX-License-Identifier: Apache-2.0
"""The README's install command: `./build.sh install` into a temporary PREFIX gives a kvmrun
that runs (--version, a probe boot) and a man page that man renders without warnings.

test/run.sh installs on the host first and names the prefix in KVMRUN_INSTALLED; run alone,
this script installs itself."""
import os
import re
import subprocess
import tempfile

from kvmtest import TOP, probe, result

MAN = os.path.join("share", "man", "man1", "kvmrun.1")


def install():
    prefix = os.environ.get("KVMRUN_INSTALLED")
    if prefix:
        return prefix, ""
    prefix = tempfile.mkdtemp(prefix="kvmrun-install.")
    env = dict(os.environ, PREFIX=prefix)
    env.pop("DESTDIR", None)  # unset, as on a clean machine
    p = subprocess.run([os.path.join(TOP, "build.sh"), "install"], env=env, capture_output=True,
                       text=True, timeout=900)
    return prefix, "" if p.returncode == 0 else f"status {p.returncode}: {p.stderr[-300:]}"


def elf_interp(path):
    """True when the ELF file asks for a dynamic loader (a PT_INTERP program header)."""
    with open(path, "rb") as fh:
        data = fh.read(1 << 16)
    phoff = int.from_bytes(data[32:40], "little")
    phentsize = int.from_bytes(data[54:56], "little")
    phnum = int.from_bytes(data[56:58], "little")
    for i in range(phnum):
        off = phoff + i * phentsize
        if int.from_bytes(data[off:off + 4], "little") == 3:  # PT_INTERP
            return True
    return False


prefix, why = install()
binary = os.path.join(prefix, "bin", "kvmrun")
page = os.path.join(prefix, MAN)
if result("install/build-sh-install", not why and os.access(binary, os.X_OK)
          and os.path.isfile(page), why or f"no {binary} or {page}"):
    version = open(os.path.join(TOP, "VERSION")).read().strip()
    p = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
    result("install/version", p.returncode == 0 and p.stdout.startswith(f"kvmrun v{version}"),
           f"status {p.returncode} stdout {p.stdout!r} want 'kvmrun v{version}'")
    result("install/static", not elf_interp(binary), f"{binary} has a PT_INTERP header")
    p = subprocess.run([binary, "--kernel", probe("pvh")], capture_output=True, text=True,
                       timeout=60)
    result("install/probe-boots", p.returncode == 0 and "PROBE done" in p.stdout,
           f"status {p.returncode} stderr {p.stderr.strip()[:200]!r}")
    env = dict(os.environ, MANWIDTH="80", LANG="C.UTF-8")
    p = subprocess.run(["man", "--warnings", "-l", "-P", "cat", page], capture_output=True,
                       text=True, timeout=60, env=env)
    result("install/man-page", p.returncode == 0 and "--kernel" in p.stdout
           and "EXIT STATUS" in p.stdout.upper() and not p.stderr.strip(),
           f"status {p.returncode} stderr {p.stderr.strip()[:300]!r}")
    # --help, the README and the man page name the same long options: a flag added to one
    # and forgotten in another is a defect users meet first.
    opt = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]+")
    helped = set(opt.findall(subprocess.run([binary, "--help"], capture_output=True, text=True,
                                            timeout=10).stdout))
    readme = set(opt.findall(open(os.path.join(TOP, "README.md")).read()))
    manned = set(opt.findall(p.stdout.replace("\u2010", "-")))
    for name, have in (("readme", readme), ("man-page", manned)):
        result(f"install/docs-{name}-names-every-flag", helped and helped <= have,
               f"--help has {len(helped)} options; missing here: {sorted(helped - have)}")
    result("install/docs-man-page-no-unknown-flag", manned and manned <= helped,
           f"the man page names options --help does not: {sorted(manned - helped)}")
