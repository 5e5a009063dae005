#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Write the seed corpora under fuzz/corpus/<target>/ (committed; rerun after changing the encoding).

The queue targets' inputs are scripts in the encoding of fuzz/fuzz_common.h;
the boot seeds are tiny kernel files; the config seeds are argv lines, then
"%%", then a --config file. Seeds are named for what they exercise.
"""
import os
import struct
import sys

TOP = os.path.dirname(os.path.abspath(__file__))

(OP_MMIO_W, OP_MMIO_R, OP_MEM, OP_INIT, OP_QUEUE, OP_GO, OP_DESC, OP_OFFER, OP_AVAIL,
 OP_KICK, OP_EXTRA) = range(11)

NEXT, WRITE, INDIRECT = 1, 2, 4
F_VERSION_1, F_INDIRECT, F_EVENT_IDX = 1 << 32, 1 << 28, 1 << 29
ALL = (1 << 64) - 1
HIGH = 0x80000000  # gpa selector bit: high RAM at 4 GiB


class Script:
    def __init__(self, first=b""):
        self.b = bytearray(first)

    def mmio_w(self, off, v, width=2):
        self.b += struct.pack("<BHBQ", OP_MMIO_W, off, width, v)
        return self

    def mmio_r(self, off, width=2):
        self.b += struct.pack("<BHB", OP_MMIO_R, off, width)
        return self

    def mem(self, gpa, data):
        for i in range(0, len(data), 255):
            part = data[i:i + 255]
            self.b += struct.pack("<BIB", OP_MEM, gpa + i, len(part)) + part
        return self

    def init(self, features=ALL, how=1):
        self.b += struct.pack("<BQB", OP_INIT, features, how)
        return self

    def queue(self, q, num, desc, avail, used):
        self.b += struct.pack("<BBHIII", OP_QUEUE, q, num, desc, avail, used)
        return self

    def go(self):
        self.b += bytes([OP_GO])
        return self

    def desc(self, q, i, addr, length, flags=0, nxt=0, raw=False):
        self.b += struct.pack("<BBBBQIHH", OP_DESC, q, i, 1 if raw else 0, addr, length, flags, nxt)
        return self

    def offer(self, q, head):
        self.b += struct.pack("<BBH", OP_OFFER, q, head)
        return self

    def avail(self, q, idx, used_event=0, flags=0):
        self.b += struct.pack("<BBHHH", OP_AVAIL, q, idx, used_event, flags)
        return self

    def kick(self, q, length=0):
        self.b += struct.pack("<BBI", OP_KICK, q, length)
        return self

    def extra(self, data):
        self.b += bytes([OP_EXTRA]) + data
        return self


def write(target, name, data):
    d = os.path.join(TOP, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(bytes(data))


def std(first=b"", features=ALL, how=1, num=16):
    """Driver setup of queue 0 at 0x1000/0x3000/0x4000 (num entries), DRIVER_OK."""
    return Script(first).init(features, how).queue(0, num, 0x1000, 0x3000, 0x4000).go()


# ---- virtq: the register file, virtio_process, the walker, the device-driven API ----

def virtq():
    t = "virtq"
    s = std(b"\x00").desc(0, 0, 0xA000, 16, NEXT, 1).desc(0, 1, 0x10000, 512, NEXT | WRITE, 2)
    s.desc(0, 2, 0xB000, 1, WRITE).offer(0, 0).kick(0, 513)
    write(t, "chain-3-good", s.b)

    table = b"".join(struct.pack("<QIHH", a, n, f, x) for a, n, f, x in
                     [(0xA000, 16, NEXT, 1), (0x10000, 4096, NEXT | WRITE, 2), (0xB000, 1, WRITE, 0)])
    s = std(b"\x00").mem(0x8000, table).desc(0, 0, 0x8000, 48, INDIRECT).offer(0, 0).kick(0, 99)
    write(t, "chain-indirect", s.b)

    s = std(b"\x00").desc(0, 0, 0xA000, 16, NEXT, 1).desc(0, 1, 0xB000, 16, NEXT | WRITE, 0)
    write(t, "chain-loop", s.offer(0, 0).kick(0).b)

    s = std(b"\x00").desc(0, 0, 0xBFFF0, 0x20, WRITE).desc(0, 1, 0xFFFFFFFFFFFFFFF0, 0x20, WRITE,
                                                           raw=True)
    write(t, "chain-past-ram", s.offer(0, 0).offer(0, 1).kick(0, 0xFFFFFFFF).b)

    s = std(b"\x00").desc(0, 0, 0x10000, 64, WRITE, 0).desc(0, 1, 0xA000, 16, NEXT, 2)
    s.desc(0, 2, 0x10040, 64, WRITE, 0).desc(0, 3, 0x10080, 64, NEXT | WRITE, 4)
    s.desc(0, 4, 0xA000, 16, 0, 0)  # readable after writable
    write(t, "chain-order", s.offer(0, 0).offer(0, 1).offer(0, 3).kick(0, 64).b)

    s = Script(b"\x00").init(F_VERSION_1 | F_EVENT_IDX, 0).queue(0, 8, 0x1000, 0x3000, 0x4000).go()
    s.avail(0, 0, 2).desc(0, 0, 0x10000, 8, WRITE).desc(0, 1, 0x10010, 8, WRITE)
    s.offer(0, 0).offer(0, 1).offer(0, 0).kick(0, 8).avail(0, 200, 0).kick(0)
    write(t, "event-idx", s.b)

    s = Script(b"\x03")
    for off in range(0, 0x100, 4):
        s.mmio_r(off)
    for off in range(0x100, 0x148, 3):
        s.mmio_r(off, off % 4)
    for q in range(4):
        s.mmio_w(0x30, q).mmio_r(0x34).mmio_r(0x44)
    write(t, "regs-read-all", s.b)

    s = Script(b"\x01").mmio_w(0x70, 0).mmio_w(0x70, 1).mmio_w(0x70, 3).mmio_w(0x24, 1)
    s.mmio_w(0x20, 1).mmio_w(0x70, 11).mmio_w(0x30, 1).mmio_w(0x38, 256).mmio_w(0x80, 0x2000)
    s.mmio_w(0x90, 0x5000).mmio_w(0xA0, 0x6000).mmio_w(0x44, 1).mmio_w(0x70, 15)
    s.mmio_w(0x38, 4).mmio_w(0x44, 0).mmio_w(0x70, 0x8F).mmio_w(0x64, 3).mmio_w(0x50, 1)
    s.mmio_w(0x52, 0xFF, 1).mmio_w(0x30, 0xFFFFFFFF, 3).mmio_w(0x70, 0)
    write(t, "regs-write-sequence", s.b)

    s = Script(b"\x00").init().queue(0, 4, HIGH | 0x0, HIGH | 0x100, HIGH | 0x200).go()
    s.desc(0, 0, HIGH | 0x1000, 0x100, NEXT | WRITE, 1).desc(0, 1, HIGH | 0x3FF00, 0x100, WRITE)
    write(t, "rings-high-ram", s.offer(0, 0).kick(0, 0x200).b)

    s = std(b"\x00").desc(0, 0, 0xA000, 16, NEXT, 1).desc(0, 1, 0x10000, 300, NEXT | WRITE, 2)
    s.desc(0, 2, 0x11000, 300, WRITE)
    s.extra(b"\x00" + struct.pack("<HIHBII", 15, 0x1000, 0, 1, 10, 400))
    write(t, "walk-direct", s.b)

    s = std(b"\x00").desc(0, 0, 0x10000, 64, WRITE).desc(0, 1, 0x10100, 64, WRITE)
    s.desc(0, 2, 0x10200, 64, WRITE).offer(0, 0).offer(0, 1).offer(0, 2)
    s.extra(b"\x01" + bytes([0, 3, 1, 0])).extra(b"\x01" + bytes([0, 7, 0, 5]))
    write(t, "driven-pop-fill-flush", s.b)

    s = Script(b"\x01").init().queue(0, 4, 0x1000, 0x3000, 0x4000)
    s.queue(1, 4, 0x5000, 0x6000, 0x7000).go().desc(1, 0, 0x10000, 4, WRITE).offer(1, 0)
    write(t, "two-queues", s.kick(1, 4).kick(0).b)


# ---- blk: requests on a 128-sector image (+100 tail bytes) ----

T_IN, T_OUT, T_FLUSH, T_GET_ID, T_DISCARD, T_WRITE_ZEROES = 0, 1, 4, 8, 11, 13


def blk_req(s, head, typ, sector, data_len=0, data_wr=True, seg=None, base=0):
    """A request chain at descriptors head.. : header, data (or a segment), status."""
    hdr = 0xA000 + base * 0x20
    s.mem(hdr, struct.pack("<IIQ", typ, 0, sector))
    i = head
    if seg is not None:
        s.desc(0, i, hdr, 16, NEXT, i + 1)
        s.mem(hdr + 16, struct.pack("<QII", *seg))
        s.desc(0, i + 1, hdr + 16, 16, NEXT, i + 2)
        i += 2
    else:
        s.desc(0, i, hdr, 16, NEXT, i + 1)
        i += 1
        if data_len:
            s.desc(0, i, 0x10000 + base * 0x2000, data_len, NEXT | (WRITE if data_wr else 0), i + 1)
            i += 1
    s.desc(0, i, 0xB000 + base, 1, WRITE)
    s.offer(0, head)
    return s


def blk():
    t = "blk"
    write(t, "in", blk_req(std(b"\x00"), 0, T_IN, 2, 1024).kick(0).b)
    write(t, "out", blk_req(std(b"\x00"), 0, T_OUT, 5, 512, False).kick(0).b)
    write(t, "out-ro", blk_req(std(b"\x01"), 0, T_OUT, 5, 512, False).kick(0).b)
    write(t, "flush", blk_req(std(b"\x00"), 0, T_FLUSH, 0).kick(0).b)
    write(t, "flush-unsafe", blk_req(std(b"\x02"), 0, T_FLUSH, 0).kick(0).b)
    write(t, "get-id", blk_req(std(b"\x04"), 0, T_GET_ID, 0, 20).kick(0).b)
    write(t, "discard", blk_req(std(b"\x00"), 0, T_DISCARD, 0, seg=(8, 16, 0)).kick(0).b)
    write(t, "write-zeroes-unmap", blk_req(std(b"\x00"), 0, T_WRITE_ZEROES, 0,
                                           seg=(120, 8, 1)).kick(0).b)
    write(t, "in-last-sector", blk_req(std(b"\x00"), 0, T_IN, 127, 512).kick(0).b)
    write(t, "in-past-end", blk_req(std(b"\x00"), 0, T_IN, 127, 1024).kick(0).b)
    write(t, "unknown-type", blk_req(std(b"\x00"), 0, 99, 0, 16).kick(0).b)
    s = std(b"\x00")
    for k, (typ, sec, ln, wr) in enumerate([(T_OUT, 1, 512, False), (T_IN, 1, 512, True),
                                            (T_GET_ID, 0, 8, True), (T_FLUSH, 0, 0, True)]):
        blk_req(s, 4 * k, typ, sec, ln, wr, base=k)
    write(t, "four-requests", s.kick(0).b)
    # header split 4+12 over two descriptors, data in three pieces, status alone
    s = std(b"\x00", F_VERSION_1 | F_INDIRECT, 0).mem(0xA000, struct.pack("<IIQ", T_IN, 0, 3))
    s.desc(0, 0, 0xA000, 4, NEXT, 1).desc(0, 1, 0xA004, 12, NEXT, 2)
    s.desc(0, 2, 0x10000, 100, NEXT | WRITE, 3).desc(0, 3, 0x20000, 400, NEXT | WRITE, 4)
    s.desc(0, 4, 0x30000, 12, NEXT | WRITE, 5).desc(0, 5, 0xB000, 1, WRITE)
    write(t, "in-split", s.offer(0, 0).kick(0).b)
    s = std(b"\x00")
    table = b"".join(struct.pack("<QIHH", a, n, f, x) for a, n, f, x in
                     [(0xA000, 16, NEXT, 1), (0x10000, 512, NEXT, 2), (0xB000, 1, WRITE, 0)])
    s.mem(0xA000, struct.pack("<IIQ", T_OUT, 0, 9)).mem(0x8000, table)
    write(t, "out-indirect", s.desc(0, 0, 0x8000, 48, INDIRECT).offer(0, 0).kick(0).b)
    s = Script(b"\x00")
    for off in range(0, 0x40, 4):
        s.extra(struct.pack("<HB", off, 2))
    write(t, "config-read", s.extra(struct.pack("<HB", 0x3C, 3)).b)


# ---- net: RX queue 0 at 0x1000/0x2000/0x3000, TX queue 1 at 0x5000/0x6000/0x7000 ----

N_CSUM, N_GUEST_CSUM, N_MAC, N_GUEST_TSO4, N_GUEST_TSO6 = 0, 1, 5, 7, 8
N_HOST_TSO4, N_HOST_TSO6, N_MRG, N_STATUS = 11, 12, 15, 16


def net_setup(features, num=16):
    f = F_VERSION_1 | features
    return Script().init(f, 0).queue(0, num, 0x1000, 0x2000, 0x3000).queue(
        1, num, 0x5000, 0x6000, 0x7000).go()


def vhdr(flags=0, gso=0, hdr_len=0, gso_size=0, start=0, off=0, nb=0):
    return struct.pack("<BBHHHHH", flags, gso, hdr_len, gso_size, start, off, nb)


def frame_in(hdr, length):
    """A frame from the tap: the header, then a patterned body of `length` bytes."""
    return b"\x00" + hdr + struct.pack("<I", length)


def rx_bufs(s, n, size, start=0x40000):
    for i in range(n):
        s.desc(0, i, start + i * 0x1000, size, WRITE).offer(0, i)
    return s.kick(0)


def net():
    t = "net"
    eth = bytes(range(60))
    s = net_setup(0).mem(0x10000, vhdr() + eth)
    s.desc(1, 0, 0x10000, 12, NEXT, 1).desc(1, 1, 0x1000C, 60).offer(1, 0).kick(1)
    write(t, "tx-one", s.b)
    s = net_setup(1 << N_CSUM | 1 << N_HOST_TSO4).mem(0x10000, vhdr(1, 1, 54, 1448, 34, 16) + eth)
    s.desc(1, 0, 0x10000, 72).offer(1, 0).kick(1)
    write(t, "tx-csum-tso4", s.b)
    s = net_setup(0).mem(0x10000, vhdr(1, 0) + eth).desc(1, 0, 0x10000, 72).offer(1, 0).kick(1)
    write(t, "tx-csum-not-negotiated", s.b)
    s = rx_bufs(net_setup(0), 2, 2048).extra(frame_in(vhdr(), 100)).extra(frame_in(vhdr(), 60))
    write(t, "rx-one", s.b)
    s = rx_bufs(net_setup(1 << N_MRG), 4, 1024).extra(frame_in(vhdr(), 3000))
    write(t, "rx-merged", s.b)
    s = rx_bufs(net_setup(0), 2, 1024).extra(frame_in(vhdr(), 3000))
    write(t, "rx-too-big-no-mrg", s.b)
    s = rx_bufs(net_setup(1 << N_GUEST_CSUM | 1 << N_GUEST_TSO4 | 1 << N_MRG), 4, 4096)
    s.extra(frame_in(vhdr(1, 1, 54, 1448, 34, 16), 9000)).extra(frame_in(vhdr(1, 4), 100))
    write(t, "rx-gso", s.b)
    s = net_setup(0).extra(frame_in(vhdr(), 200)).extra(b"\x01\x05hello")
    s = rx_bufs(s, 1, 256)
    write(t, "rx-wait-then-buffers", s.b)
    s = rx_bufs(net_setup(1 << N_MRG | F_EVENT_IDX, 4), 4, 512).extra(frame_in(vhdr(), 70000))
    write(t, "rx-oversize", s.b)
    s = net_setup(1 << N_MRG).desc(0, 0, 0x40000, 8, WRITE).offer(0, 0)
    s.desc(0, 1, 0x41000, 2048, 0).offer(0, 1).kick(0).extra(frame_in(vhdr(), 100))
    write(t, "rx-bad-chains", s.b)
    s = rx_bufs(net_setup(F_EVENT_IDX, 128), 100, 128).extra(b"\x02\x63")
    write(t, "rx-burst-100", s.b)


# ---- boot: tiny kernels ----

def bzimage(version=0x20F, reloc=1, pref=0x100000, init_size=0x2000, payload=512, xlf=1,
            cmdline_size=0x7FF, initrd_max=0x7FFFFFFF):
    setup = bytearray(1024)
    setup[0x1F1] = 1  # setup_sects: 1 + the boot sector
    struct.pack_into("<I", setup, 0x1F4, payload // 16)
    setup[0x1FE:0x200] = b"\x55\xaa"
    setup[0x200:0x202] = b"\xeb\x66"  # jump over a header that ends at 0x268
    setup[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", setup, 0x206, version)
    setup[0x211] = 1  # LOADED_HIGH
    struct.pack_into("<I", setup, 0x22C, initrd_max)
    setup[0x234] = reloc
    struct.pack_into("<H", setup, 0x236, xlf)
    struct.pack_into("<I", setup, 0x238, cmdline_size)
    struct.pack_into("<Q", setup, 0x258, pref)
    struct.pack_into("<I", setup, 0x260, init_size)
    return bytes(setup) + bytes([0x90]) * payload


def elf(phdrs, entry, body):
    """ELF64 x86-64 executable: header, program headers, then body at 0x100."""
    eh = bytearray(64)
    eh[0:16] = b"\x7fELF\x02\x01\x01" + bytes(9)
    struct.pack_into("<HHIQQQIHHHHHH", eh, 16, 2, 62, 1, entry, 64, 0, 0, 64, 56, len(phdrs),
                     64, 0, 0)
    ph = b"".join(struct.pack("<IIQQQQQQ", *p) for p in phdrs)
    out = bytes(eh) + ph
    return out + bytes(0x100 - len(out)) + body


def elf32(phdrs, entry, body, machine=3):
    """ELF32 executable (EM_386 by default): header, program headers, then body at 0x100."""
    eh = bytearray(52)
    eh[0:16] = b"\x7fELF\x01\x01\x01" + bytes(9)
    struct.pack_into("<HHIIIIIHHHHHH", eh, 16, 2, machine, 1, entry, 52, 0, 0, 52, 32,
                     len(phdrs), 40, 0, 0)
    ph = b"".join(struct.pack("<IIIIIIII", *p) for p in phdrs)
    out = bytes(eh) + ph
    return out + bytes(0x100 - len(out)) + body


PT_LOAD, PT_NOTE = 1, 4


def boot():
    t = "boot"
    write(t, "bzimage-relocatable", bzimage())
    write(t, "bzimage-fixed-2m", bzimage(reloc=0, pref=0x180000, init_size=0x1000))
    write(t, "bzimage-old-protocol", bzimage(version=0x20A))
    write(t, "bzimage-no-64bit", bzimage(xlf=0))
    write(t, "bzimage-short-cmdline", bzimage(cmdline_size=100))
    write(t, "bzimage-initrd-low", bzimage(initrd_max=0x100FFF))
    write(t, "bzimage-truncated", bzimage()[:1100])
    code = bytes([0xF4]) * 0x40
    note = struct.pack("<III", 4, 4, 18) + b"Xen\x00" + struct.pack("<I", 0x100000)
    pvh = elf([(PT_LOAD, 5, 0x100, 0xFFFFFFFF81000000, 0x100000, 0x40, 0x2000, 0x1000),
               (PT_NOTE, 4, 0x140, 0, 0, len(note), len(note), 4)],
              0xFFFFFFFF81000000, code + note)
    write(t, "elf-pvh", pvh)
    note8 = struct.pack("<III", 4, 8, 18) + b"Xen\x00" + struct.pack("<Q", 0x100010)
    skip = struct.pack("<III", 4, 4, 1) + b"GNU\x00" + b"abcd"
    write(t, "elf-pvh-8byte-note", elf(
        [(PT_LOAD, 5, 0x100, 0x100000, 0x100000, 0x40, 0x40, 0x1000),
         (PT_NOTE, 4, 0x140, 0, 0, len(skip) + len(note8), len(skip) + len(note8), 4)],
        0x100000, code + skip + note8))
    write(t, "elf-plain", elf([(PT_LOAD, 5, 0x100, 0xFFFFFFFF81000000, 0x100000, 0x40, 0x3000,
                                0x1000)], 0xFFFFFFFF81000000, code))
    write(t, "elf-two-segments", elf(
        [(PT_LOAD, 5, 0x100, 0x100000, 0x100000, 0x20, 0x20, 0x1000),
         (PT_LOAD, 6, 0x120, 0x180000, 0x180000, 0x20, 0x10000, 0x1000)], 0x100000, code))
    write(t, "elf-segment-too-big", elf(
        [(PT_LOAD, 5, 0x100, 0x100000, 0x100000, 0x40, 0x200000, 0x1000)], 0x100000, code))
    write(t, "not-a-kernel", b"#!/bin/sh\necho not a kernel\n")
    # ELF32: boots only through its PVH note (p_type, p_offset, p_vaddr, p_paddr, p_filesz,
    # p_memsz, p_flags, p_align in ELF32's order).
    write(t, "elf32-pvh", elf32([(PT_LOAD, 0x100, 0x100000, 0x100000, 0x40, 0x2000, 5, 0x1000),
                                 (PT_NOTE, 0x140, 0, 0, len(note), len(note), 4, 4)],
                                0x100000, code + note))
    write(t, "elf32-no-note", elf32([(PT_LOAD, 0x100, 0x100000, 0x100000, 0x40, 0x40, 5,
                                      0x1000)], 0x100000, code))


# ---- config: flags, then %% and a --config file ----

GOOD_JSON = b"""{
  "boot-source": {"kernel_image_path": "vmlinux", "initrd_path": "initrd.img",
                  "boot_args": "console=ttyS0 quiet"},
  "machine-config": {"vcpu_count": 2, "mem_size_mib": 256, "smt": false,
                     "track_dirty_pages": false, "cpu_template": "None", "huge_pages": "None"},
  "drives": [
    {"drive_id": "data", "path_on_host": "data.img", "is_root_device": false,
     "cache_type": "Writeback", "io_engine": "Sync"},
    {"drive_id": "rootfs", "path_on_host": "root.img", "is_root_device": true,
     "is_read_only": true}
  ],
  "network-interfaces": [
    {"iface_id": "eth0", "host_dev_name": "tap0", "guest_mac": "02:00:00:00:00:01"}
  ],
  "logger": {"log_path": "kvmrun.log", "level": "Debug", "show_level": true,
             "show_log_origin": false},
  "metrics": {"metrics_path": "metrics.json"}
}
"""


def config():
    t = "config"
    write(t, "flags-minimal", b"--kernel\nvmlinux\n")
    write(t, "flags-all", b"-k\nvmlinux\n-i\ninitrd\n-c\nquiet\n-m\n2GiB\n-n\n4\n--console\nnone\n"
          b"--disk\ndisk.img,ro,serial=abc,cache=unsafe\n--disk\nb.img,cache=writeback\n"
          b"--net\ntap=tap0,mac=52:54:00:00:00:01\n--net\nfd=0\n--ready-fd\n1\n--metrics\nm\n"
          b"--log\nl\n--log-level\nwarning\n--shutdown-timeout\n30\n--no-acpi\n--no-seccomp\n"
          b"--chroot\n/\n--uid\n0\n--gid\n0\n")
    write(t, "flags-bad-memory", b"--kernel\nk\n--memory\n3000000T\n")
    write(t, "flags-bad-disk", b"--kernel\nk\n--disk\nx,serial=\x01\n")
    write(t, "flags-bad-mac", b"--kernel\nk\n--net\ntap=t,mac=01:00:00:00:00:00\n")
    write(t, "flags-unknown", b"--kernel\nk\n--frobnicate\n")
    write(t, "flags-help", b"--help\n")
    write(t, "flags-dump-acpi", b"--dump-acpi\n/tmp/x\n--cpus\n8\n")
    write(t, "config-full", b"%%\n" + GOOD_JSON)
    write(t, "config-then-flags", b"--memory\n64M\n--disk\nother.img\n%%\n" + GOOD_JSON)
    write(t, "config-malformed", b"%%\n{\n  \"boot-source\": {\"kernel_image_path\": \"k\",}\n}\n")
    write(t, "config-unknown-field", b'%%\n{"boot-source":{"kernel_image_path":"k"},"vsock":{}}')
    write(t, "config-wrong-type", b'%%\n{"boot-source":{"kernel_image_path":"k"},'
          b'"machine-config":{"vcpu_count":"2","mem_size_mib":128}}')
    write(t, "config-two-roots", b'%%\n{"boot-source":{"kernel_image_path":"k"},"drives":['
          b'{"drive_id":"a","path_on_host":"a","is_root_device":true},'
          b'{"drive_id":"b","path_on_host":"b","is_root_device":true}]}')
    write(t, "config-not-object", b"%%\n[1, 2, 3]\n")
    write(t, "config-empty", b"%%\n")


if __name__ == "__main__":
    targets = {"virtq": virtq, "blk": blk, "net": net, "boot": boot, "config": config}
    for name in sys.argv[1:] or targets:
        targets[name]()
