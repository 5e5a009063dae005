# SPDX-License-Identifier: Apache-2.0
"""ACPI: the tables disassemble cleanly with iasl and describe the machine; the probe guest
finds and checks them through kvmrun, and powers off / resets through the FADT registers."""
import os
import re
import shutil
import struct
import subprocess

from kvmtest import TMP, TOP, probe, probe_facts, result, run

ACPI_BASE, ACPI_END = 0xE0000, 0xF0000
VIRTIO_BASE, FIRST_GSI = 0xD0000000, 5
TABLES = ("rsdp", "xsdt", "facp", "apic", "dsdt")
# (vCPUs, disks, NICs): every virtio device is one LNRO0005 window, disks first.
CONFIGS = [(1, 0, 0), (8, 0, 0), (1, 8, 0), (8, 8, 0), (1, 0, 4), (8, 8, 4)]

# A stand-in for `kvmrun --dump-acpi`: acpi_dump() with kvmrun's window/GSI plan.
DUMP_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include "acpi.h"
int main(int argc, char **argv)
{
	struct acpi_dev d[64];
	int n = atoi(argv[3]);
	for (int i = 0; i < n && i < 64; i++)
		d[i] = (struct acpi_dev){ 0xd0000000ULL + 0x1000ULL * i, 0x1000, 5 + i };
	struct acpi_config c = { atoi(argv[2]), d, n };
	char err[512];
	if (acpi_dump(&c, argv[1], err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	return 0;
}
"""


def kvmrun_help():
    status, out, _ = run(["--help"], timeout=10)
    return out if status == 0 else ""


def ensure_iasl():
    """iasl from Debian's acpica-tools, through build.sh's one apt helper if missing."""
    if not shutil.which("iasl"):
        subprocess.run([os.path.join(TOP, "build.sh"), "need", "acpica-tools"],
                       capture_output=True, timeout=900)
    return shutil.which("iasl") is not None


def build_dumper():
    src, exe = os.path.join(TMP, "acpi_dump.c"), os.path.join(TMP, "acpi_dump")
    with open(src, "w") as fh:
        fh.write(DUMP_C)
    p = subprocess.run(["gcc", "-std=gnu11", "-O2", "-D_GNU_SOURCE", "-I", TOP, "-o", exe, src,
                        os.path.join(TOP, "acpi.c"), os.path.join(TOP, "aml.c"),
                        os.path.join(TOP, "acpi_pm.c"), os.path.join(TOP, "mem.c")],
                       capture_output=True, text=True)
    return exe if p.returncode == 0 else p.stderr


def dump(how, out, cpus, disks, nics):
    """Tables for one machine into out/. Returns None or why it failed."""
    os.makedirs(out, exist_ok=True)
    if how == "kvmrun":
        args = ["--kernel", probe("pvh"), "--cpus", str(cpus), "--dump-acpi", out]
        for i in range(disks):
            img = os.path.join(TMP, f"disk{i}.img")
            with open(img, "wb") as fh:
                fh.truncate(1 << 20)
            args += ["--disk", img]
        status, _, err = run(args, timeout=30)
        if status != 0:
            return f"kvmrun --dump-acpi: status {status}: {err.strip()[:200]}"
    else:
        p = subprocess.run([how, out, str(cpus), str(disks + nics)], capture_output=True,
                           text=True)
        if p.returncode != 0:
            return f"acpi_dump: {p.stderr.strip()}"
    missing = [t for t in TABLES if not os.path.exists(os.path.join(out, f"{t}.dat"))]
    return f"missing {missing}" if missing else None


def check_rsdp(path):
    b = open(path, "rb").read()
    if len(b) != 36 or b[:8] != b"RSD PTR " or b[15] != 2:
        return "not a revision 2 RSDP of 36 bytes"
    if sum(b[:20]) & 0xFF or sum(b) & 0xFF:
        return "checksum or extended checksum does not sum to 0"
    length, xsdt = struct.unpack_from("<IQ", b, 20)
    if length != 36 or not ACPI_BASE <= xsdt < ACPI_END or xsdt % 16:
        return f"length {length}, XSDT at 0x{xsdt:x}"
    return None


def iasl_problems(text):
    """Lines that report an error or warning (the summary line with zero counts is fine)."""
    bad = []
    for line in text.splitlines():
        if re.search(r"\b(error|warning)s?\b", line, re.I) and \
                not re.search(r"\b0 Errors, 0 Warnings\b", line):
            bad.append(line.strip())
    return bad


def disassemble(out):
    """iasl -d, then recompile each .dsl: both must be free of errors and warnings."""
    problems, dsl = [], {}
    for t in TABLES[1:]:
        p = subprocess.run(["iasl", "-d", f"{t}.dat"], cwd=out, capture_output=True, text=True)
        bad = iasl_problems(p.stdout + p.stderr)
        if p.returncode != 0 or bad or not os.path.exists(os.path.join(out, f"{t}.dsl")):
            problems.append(f"iasl -d {t}: status {p.returncode} {bad[:3]}")
            continue
        dsl[t] = open(os.path.join(out, f"{t}.dsl")).read()
        p = subprocess.run(["iasl", "-p", f"re_{t}", f"{t}.dsl"], cwd=out, capture_output=True,
                           text=True)
        text = p.stdout + p.stderr
        if p.returncode != 0 or "0 Errors, 0 Warnings" not in text or iasl_problems(text):
            problems.append(f"iasl {t}.dsl: status {p.returncode} {iasl_problems(text)[:3]}")
    return problems, dsl


def check_contents(dsl, cpus, nvirtio):
    problems = []
    d, a, f = dsl.get("dsdt", ""), dsl.get("apic", ""), dsl.get("facp", "")
    want_bases = [VIRTIO_BASE + 0x1000 * i for i in range(nvirtio)]
    want_gsis = [FIRST_GSI + i for i in range(nvirtio)] + [3]  # then the GED's
    bases = [int(x, 16) for x in re.findall(
        r"Memory32Fixed \(ReadWrite,\s*0x([0-9A-F]+),\s*// Address Base\s*0x00001000,", d)]
    gsis = [int(x, 16) for x in re.findall(
        r"Interrupt \(ResourceConsumer, Edge, ActiveHigh, Exclusive, ,, \)\s*\{\s*0x([0-9A-F]+),",
        d)]
    if d.count('Name (_HID, "LNRO0005")') != nvirtio or bases != want_bases or gsis != want_gsis:
        problems.append(f"DSDT virtio: {d.count('LNRO0005')} LNRO0005, bases "
                        f"{[hex(x) for x in bases]}, GSIs {gsis}")
    if d.count('"ACPI0007"') != cpus:
        problems.append(f"DSDT has {d.count('ACPI0007')} processor devices, want {cpus}")
    if not re.search(r'EisaId \("PNP0501"\).*?IO \(Decode16,\s*0x03F8,\s*// Range Minimum\s*'
                     r'0x03F8,.*?0x08,\s*// Length.*?IRQ \(Edge, ActiveHigh, Exclusive, \)\s*\{4\}',
                     d, re.S):
        problems.append("DSDT: no COM1 (PNP0501, IO 0x3F8/8, IRQ 4 edge)")
    if not re.search(r'EisaId \("PNP0303"\).*?0x0060,.*?0x0064,.*?IRQ \(Edge, ActiveHigh, Exclusive, \)\s*\{1\}',
                     d, re.S):
        problems.append("DSDT: no i8042 (PNP0303, IO 0x60 and 0x64, IRQ 1 edge)")
    if not re.search(r'Device \(VGEN\).*?Name \(_CID, "VM_GEN_COUNTER"\).*?Name \(ADDR, Package '
                     r'\(0x02\)\s*\{\s*0x000FF000,\s*Zero', d, re.S) or not re.search(
                         r'"ACPI0013".*?Method \(_EVT, 1, Serialized\).*?If \(\(Arg0 == 0x03\)\)'
                         r'\s*\{\s*Notify \(\\_SB\.VGEN, 0x80\)', d, re.S):
        problems.append("DSDT: no VM generation ID (VGEN, ADDR 0xff000) or GED (GSI 3, _EVT "
                        "notifying VGEN)")
    if not re.search(r"Name \(\\_S5, Package \(0x04\)\s*// _S5_.*?\{\s*0x05,", d, re.S):
        problems.append("DSDT: no _S5_ package with SLP_TYP 5")
    ids = [int(x, 16) for x in re.findall(r"Local Apic ID : ([0-9A-F]+)", a)]
    if a.count("[Processor Local APIC]") != cpus or ids != list(range(cpus)):
        problems.append(f"MADT local APIC ids {ids}, want 0..{cpus - 1}")
    if not re.search(rf"I/O Apic ID : {cpus:02X}\b", a) or "Address : FEC00000" not in a \
            or "Local Apic Address : FEE00000" not in a or "[Local APIC NMI]" not in a:
        problems.append("MADT: IOAPIC id/address, LAPIC address or NMI entry wrong")
    if "[Interrupt Source Override]" in a:
        problems.append("MADT: unexpected interrupt source override")
    for want in ("Hardware Reduced (V5) : 1", "Reset Register Supported (V2) : 1",
                 "Value to cause reset : 01", "8042 Present on ports 60/64 (V2) : 1"):
        if not re.search(re.escape(want).replace(r"\ ", r"\s+"), f):
            problems.append(f"FADT: no '{want}'")
    for reg, port in (("Reset Register", 0x602), ("Sleep Control Register", 0x600),
                      ("Sleep Status Register", 0x601)):
        if not re.search(rf"{reg} : \[Generic Address Structure\].*?Space ID : 01 \[SystemIO\]"
                         rf".*?Address : {port:016X}", f, re.S):
            problems.append(f"FADT: {reg} is not I/O port 0x{port:x}")
    return problems


def tables_tests(help_text):
    if not result("acpi/iasl-available", ensure_iasl(),
                  "iasl missing and ./build.sh need acpica-tools failed"):
        return
    dumper = build_dumper()
    if not result("acpi/dump-helper-builds", os.path.exists(str(dumper)), dumper):
        return
    kv = "--dump-acpi" in help_text
    print(f"INFO acpi: tables from {'kvmrun --dump-acpi (NIC configs: acpi_dump)' if kv else 'acpi_dump (kvmrun has no --dump-acpi yet)'}",
          flush=True)
    for cpus, disks, nics in CONFIGS:
        name = f"acpi/iasl-{cpus}cpu-{disks}disk-{nics}nic"
        out = os.path.join(TMP, name.replace("/", "_"))
        how = "kvmrun" if kv and nics == 0 else dumper
        why = dump(how, out, cpus, disks, nics)
        if why:
            result(name, False, why)
            continue
        problems = []
        rsdp = check_rsdp(os.path.join(out, "rsdp.dat"))
        if rsdp:
            problems.append(f"RSDP: {rsdp}")
        iasl, dsl = disassemble(out)
        problems += iasl
        problems += check_contents(dsl, cpus, disks + nics)
        result(name, not problems, "; ".join(problems))
        if how == "kvmrun":  # kvmrun's tables are the library's, byte for byte
            ref = out + "-ref"
            why = dump(dumper, ref, cpus, disks, nics)
            diff = [t for t in TABLES if why is None and open(os.path.join(out, f"{t}.dat"), "rb").read()
                    != open(os.path.join(ref, f"{t}.dat"), "rb").read()]
            result(name.replace("iasl", "kvmrun-matches-acpi_dump"), not why and not diff,
                   why or f"differ: {diff}")


def probe_run(fmt, cmdline, extra=()):
    status, out, err = run(["--kernel", probe(fmt), "--cpus", "2", "-c", cmdline] + list(extra),
                           timeout=60)
    return status, probe_facts(out), err


def errors_of(f):
    e = f.get("error", [])
    return e if isinstance(e, list) else [e]


def probe_tests(help_text):
    supported = "--no-acpi" in help_text or "--dump-acpi" in help_text
    for fmt in ("pvh", "bzimage", "elf"):
        status, f, err = probe_run(fmt, "probe.exit=acpi")
        if "acpi" not in f:
            result(f"acpi/probe-{fmt}", False,
                   f"no PROBE acpi= line (probe built without the acpi mode?) status {status} {err[:200]}")
            continue
        if not supported:
            result(f"acpi/probe-{fmt}-none-without-acpi", status == 0 and f["acpi"] == "none"
                   and not errors_of(f), f"status {status} acpi={f['acpi']} errors {errors_of(f)}")
            continue
        ok = status == 0 and f["acpi"] == "ok tables=4" and not errors_of(f) and \
            f.get("acpi_rsdp") == hex(ACPI_BASE) and f.get("acpi_scan") == hex(ACPI_BASE)
        result(f"acpi/probe-{fmt}", ok, f"status {status} acpi={f['acpi']} rsdp={f.get('acpi_rsdp')} "
               f"scan={f.get('acpi_scan')} errors {errors_of(f)}")
    if not supported:
        print("INFO acpi: kvmrun has no --no-acpi/--dump-acpi yet: power-off/reset tests not run",
              flush=True)
        return
    for action, fmt in (("poweroff", "pvh"), ("poweroff", "bzimage"), ("reset", "pvh"),
                        ("reset", "elf")):
        status, f, err = probe_run(fmt, f"probe.exit=acpi probe.acpi={action}")
        result(f"acpi/{action}-{fmt}", status == 0 and f.get("acpi") == "ok tables=4"
               and not errors_of(f), f"status {status} acpi={f.get('acpi')} errors {errors_of(f)} {err[:200]}")
    disks = []
    for i in range(2):
        img = os.path.join(TMP, f"probe-disk{i}.img")
        with open(img, "wb") as fh:
            fh.truncate(1 << 20)
        disks += ["--disk", img]
    status, f, err = probe_run("pvh", "probe.exit=acpi probe.acpi=poweroff", disks)
    result("acpi/probe-with-disks", status == 0 and f.get("acpi") == "ok tables=4"
           and not errors_of(f), f"status {status} acpi={f.get('acpi')} errors {errors_of(f)}")
    if "--no-acpi" in help_text:
        status, f, err = probe_run("bzimage", "probe.exit=acpi", ["--no-acpi"])
        result("acpi/no-acpi", status == 0 and f.get("acpi") == "none" and
               f.get("acpi_rsdp") == "0x0", f"status {status} acpi={f.get('acpi')}")


def main():
    help_text = kvmrun_help()
    tables_tests(help_text)
    probe_tests(help_text)


if __name__ == "__main__":
    main()
