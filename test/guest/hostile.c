// SPDX-License-Identifier: Apache-2.0
/* probe guest: hostile modes: malformed virtio-blk chains, register sweeps, port pokes. */
/*
 * Selected by probe.hostile=NAME (after `PROBE done`); each mode ends with
 * mode_run's triple fault, so kvmrun exits 0 if it survived.
 *
 * blk-chains: the virtio-blk at 0xd0000000 is brought up per virtio 1.x
 *   (VERSION_1 and INDIRECT_DESC accepted, queue 0 of 8 entries, rings and
 *   buffers in probe memory at [0x800000, 0x808000)), then one chain per
 *   case: publish, notify (QueueNotify = 0), poll the used ring for up to
 *   about 2 s of TSC and print
 *     PROBE blk.<case>=<status byte|none> used_len=<n|none> devstatus=0x<Status>
 *   "none": the status byte still holds the 0xff put there before; used_len
 *   "none": no used element appeared. After NEEDS_RESET (0x40) or no used
 *   element the device is reset and brought up again. Extra lines:
 *     PROBE blk.capacity=<sectors>
 *     PROBE blk.read0_fnv=<FNV-1a 64 of sector 0, 16 hex digits>   (and
 *     blk.indirect-ok_fnv, blk.readback_fnv for sector W, blk.after_fnv)
 *     PROBE blk.done
 *   probe.blk_write_sector=W (decimal, default 8) is the only sector a valid
 *   request writes: 512 bytes b[i] = (i * 131 + W * 7 + 1) & 0xff. Hostile
 *   OUT requests aim at sectors 12, 16, 20, ..., 44 (never W) and at or past
 *   the end, with data b[i] = 0x5a. Case names, in order: read0, write,
 *   readback, past-end-{data,hdr,status}, hole-data, high-data, overflow,
 *   huge-len, self-loop, long-chain, status-readonly[-out],
 *   zero-len-{status,data,hdr,all}, hdr-writable,
 *   indirect-{ok,nested,oob,overflow,len,zero,next},
 *   write-{wrong-dir,partial-oob}, status-middle,
 *   write-{past-end,straddle-end,sector-wrap,sector-max}, read-odd-len,
 *   read-past-end, unknown-type, wz-past-end, discard-wrap, avail-jump,
 *   head-oob, data-over-{desc,avail,used}, after.
 *   Descriptors that must miss RAM use 0x40000000: run with --memory < 1G.
 * mmio-poke: sweeps the window (also with no device behind it), mis-programs
 *   queues and status (only with a device), pokes
 *   unclaimed MMIO and ports 0-0x3ff (minus PIC, PIT, i8042, COM1, 0xcf8),
 *   prints one `PROBE poke.<what> ...` line per step, `PROBE poke.done`, then
 *   one valid read (blk.read0 / blk.read0_fnv).
 * serial-poke, i8042-poke: odd widths and nonsense at every register (never
 *   i8042 command 0xfe or an output-port byte with bit 0 clear), restore,
 *   `PROBE serial-poke.done` / `PROBE i8042-poke.done`, then the same valid
 *   read; i8042-poke ends with `PROBE i8042-poke.reset` and a 0xfe reset.
 * The final read prints `PROBE blk.absent` when no virtio-blk is at 0xd0000000.
 * reg-read: reads InterruptStatus 4096 times and every word of the
 *   register window once, prints `PROBE poke.regs magic=.. version=..
 *   id=.. isr=..`. kvmrun maps the window read-only, so none of these reads
 *   exits (t_hostile checks its mmio exit count). Then one valid read with
 *   interrupts wanted and 1000 InterruptACKs of VRING (completed in KVM),
 *   one of VRING|CONFIG: `PROBE poke.ack isr_req=.. isr_ack1=.. isr_ack3=..`.
 */
#include "hostile.h"
#include "probe.h"
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

const char *hostile_cmdline = "";

/* ---- the virtio-blk window (registers: the kernel's linux/virtio_mmio.h) ---- */
#define VIO 0xd0000000UL
#define T_IN 0
#define T_OUT 1
#define T_FLUSH 4
#define T_DISCARD 11
#define T_WRITE_ZEROES 13

/* ---- probe memory for rings and buffers (below any kvmrun layout use) ---- */
#define QN 8
#define SCRATCH 0x800000UL
#define DESC SCRATCH
#define AVAIL (SCRATCH + 0x1000)
#define USED (SCRATCH + 0x2000)
#define IND1 (SCRATCH + 0x3000)
#define IND2 (SCRATCH + 0x3800)
#define HDR (SCRATCH + 0x4000) /* header at +0, discard/write-zeroes segment at +16 */
#define DATA (SCRATCH + 0x5000) /* 8 sectors */
#define STAT (SCRATCH + 0x7000)
#define OUTSIDE 0x40000000UL /* not RAM with --memory below 1 GiB */
#define WAIT_TSC (200 * TSC_MS) /* for a used element: ~200 ms */
/*
 * run_case's bound. Every case ends early on a used element or NEEDS_RESET,
 * so only a device that ignores a chain waits it out; it is long because an
 * ASan build in a nested, emulated L1 once took more than 200 ms for its
 * first write to a loop device.
 */
#define CASE_TSC (2000 * TSC_MS)

struct vdesc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

static uint16_t avail_shadow = 0, used_seen = 0;
static uint64_t capacity = 0;

static void barrier(void)
{
	__asm__ volatile("" ::: "memory");
}

static uint32_t vr(uint32_t off)
{
	return mmio_read32(VIO + off);
}

static void vw(uint32_t off, uint32_t v)
{
	mmio_write32(VIO + off, v);
}

/* Accesses of exactly w bytes: volatile keeps the operand size. */
static uint64_t mmio_rd(uint64_t a, int w)
{
	switch (w) {
	case 1:
		return *(volatile uint8_t *)a;
	case 2:
		return *(volatile uint16_t *)a;
	case 4:
		return *(volatile uint32_t *)a;
	default:
		return *(volatile uint64_t *)a;
	}
}

static void mmio_wr(uint64_t a, int w, uint64_t v)
{
	switch (w) {
	case 1:
		*(volatile uint8_t *)a = (uint8_t)v;
		break;
	case 2:
		*(volatile uint16_t *)a = (uint16_t)v;
		break;
	case 4:
		*(volatile uint32_t *)a = (uint32_t)v;
		break;
	default:
		*(volatile uint64_t *)a = v;
		break;
	}
}

static uint32_t port_in(uint16_t p, int w)
{
	uint32_t v = 0;

	if (w == 1)
		__asm__ volatile("inb %w1, %b0" : "=a"(v) : "Nd"(p));
	else if (w == 2)
		__asm__ volatile("inw %w1, %w0" : "=a"(v) : "Nd"(p));
	else
		__asm__ volatile("inl %w1, %0" : "=a"(v) : "Nd"(p));
	return w == 1 ? (v & 0xff) : w == 2 ? (v & 0xffff) : v;
}

static void port_out(uint16_t p, int w, uint32_t v)
{
	if (w == 1)
		__asm__ volatile("outb %b0, %w1" : : "a"(v), "Nd"(p));
	else if (w == 2)
		__asm__ volatile("outw %w0, %w1" : : "a"(v), "Nd"(p));
	else
		__asm__ volatile("outl %0, %w1" : : "a"(v), "Nd"(p));
}

/* String I/O: `n` items of w bytes between port p and buf (KVM hands these over in one exit). */
static void port_rep(uint16_t p, int w, void *buf, uint64_t n, int out)
{
	if (out && w == 1)
		__asm__ volatile("rep outsb" : "+S"(buf), "+c"(n) : "d"(p) : "memory");
	else if (out && w == 2)
		__asm__ volatile("rep outsw" : "+S"(buf), "+c"(n) : "d"(p) : "memory");
	else if (out)
		__asm__ volatile("rep outsl" : "+S"(buf), "+c"(n) : "d"(p) : "memory");
	else if (w == 1)
		__asm__ volatile("rep insb" : "+D"(buf), "+c"(n) : "d"(p) : "memory");
	else if (w == 2)
		__asm__ volatile("rep insw" : "+D"(buf), "+c"(n) : "d"(p) : "memory");
	else
		__asm__ volatile("rep insl" : "+D"(buf), "+c"(n) : "d"(p) : "memory");
}

static uint64_t xorshift(void)
{
	static uint64_t s = 0x9e3779b97f4a7c15ULL;

	s ^= s << 13;
	s ^= s >> 7;
	s ^= s << 17;
	return s;
}

static void put_hex16(uint64_t v)
{
	for (int i = 60; i >= 0; i -= 4)
		con_putc("0123456789abcdef"[(v >> i) & 15]);
}

static uint64_t fnv(uint64_t pa, uint64_t n)
{
	const uint8_t *p = (const uint8_t *)pa;
	uint64_t h = 0xcbf29ce484222325ULL;

	while (n--)
		h = (h ^ *p++) * 0x100000001b3ULL;
	return h;
}

static void print_fnv(const char *key, uint64_t pa)
{
	con_puts("PROBE blk.");
	con_puts(key);
	con_putc('=');
	put_hex16(fnv(pa, 512));
	con_putc('\n');
}

static uint64_t parse_dec(const char *s, uint64_t dflt)
{
	uint64_t v = 0;
	int n = 0;

	for (; *s >= '0' && *s <= '9' && n < 19; s++, n++)
		v = v * 10 + (uint64_t)(*s - '0');
	return n && (*s == 0 || *s == ' ') ? v : dflt;
}

/* ---- bringing the device up ---- */

/* Negotiate VERSION_1 | INDIRECT_DESC with the disk and read its capacity. 0 or -1. */
/* Features beyond INDIRECT_DESC the next bring-up asks for (blk-ops: flush, discard, zeroes). */
static uint32_t extra_features = 0;

static int dev_negotiate(void)
{
	if (virtio_negotiate(VIO, 2, 1u << VIRTIO_RING_F_INDIRECT_DESC | extra_features) < 0)
		return -1;
	capacity = vr(VIRTIO_MMIO_CONFIG) | (uint64_t)vr(VIRTIO_MMIO_CONFIG + 4) << 32;
	return 0;
}

/* Program queue 0 (rings zeroed, avail NO_INTERRUPT) and set QueueReady. */
static void queue_program(uint32_t num, uint64_t desc, uint64_t avail, uint64_t used)
{
	memset((void *)AVAIL, 0, 64);
	memset((void *)USED, 0, 128);
	*(volatile uint16_t *)AVAIL = 1; /* we poll */
	avail_shadow = used_seen = 0;
	vw(VIRTIO_MMIO_QUEUE_SEL, 0);
	vw(VIRTIO_MMIO_QUEUE_NUM, num);
	vw(VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
	vw(VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
	vw(VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)avail);
	vw(VIRTIO_MMIO_QUEUE_AVAIL_HIGH, (uint32_t)(avail >> 32));
	vw(VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)used);
	vw(VIRTIO_MMIO_QUEUE_USED_HIGH, (uint32_t)(used >> 32));
	vw(VIRTIO_MMIO_QUEUE_READY, 1);
}

/* The whole virtio 1.x initialisation (3.1.1). 0, or -1 with an error line. */
static int blk_up(void)
{
	if (dev_negotiate() < 0) {
		probe_error("blk-negotiate");
		return -1;
	}
	if (vr(VIRTIO_MMIO_QUEUE_NUM_MAX) < QN || vr(VIRTIO_MMIO_QUEUE_READY)) {
		probe_error("blk-queue");
		return -1;
	}
	queue_program(QN, DESC, AVAIL, USED);
	if (vr(VIRTIO_MMIO_QUEUE_READY) != 1) {
		probe_error("blk-queue-ready");
		return -1;
	}
	vw(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	return 0;
}

/* ---- building requests ---- */

static void set_desc(uint64_t table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	volatile struct vdesc *d = (volatile struct vdesc *)table + i;

	d->addr = addr;
	d->len = len;
	d->flags = flags;
	d->next = next;
}

static void set_hdr(uint32_t type, uint64_t sector)
{
	*(volatile uint32_t *)HDR = type;
	*(volatile uint32_t *)(HDR + 4) = 0;
	*(volatile uint64_t *)(HDR + 8) = sector;
}

/* Header, data, status at entries 0-2 of table t, linked 0 -> 1 -> 2. */
static void chain3(uint64_t t, uint64_t h, uint32_t hl, uint64_t d, uint32_t dl, uint16_t df,
		   uint64_t s, uint32_t sl, uint16_t sf)
{
	set_desc(t, 0, h, hl, VRING_DESC_F_NEXT, 1);
	set_desc(t, 1, d, dl, df | VRING_DESC_F_NEXT, 2);
	set_desc(t, 2, s, sl, sf, 0);
}

/* The usual request: 16-byte header, `len` bytes of data, 1-byte status. */
static void request(uint64_t t, uint32_t type, uint64_t sector, uint32_t len)
{
	set_hdr(type, sector);
	chain3(t, HDR, 16, DATA, len, type == T_IN ? VRING_DESC_F_WRITE : 0, STAT, 1, VRING_DESC_F_WRITE);
}

/* Fresh buffers: data filled with `fill`, the status byte 0xff ("none"). */
static void begin(uint8_t fill)
{
	memset((void *)DATA, fill, 4096);
	memset((void *)STAT, 0xff, 16);
}

static void pattern(uint64_t sector)
{
	uint8_t *p = (uint8_t *)DATA;

	for (unsigned i = 0; i < 512; i++)
		p[i] = (uint8_t)(i * 131 + sector * 7 + 1);
}

/*
 * Put `head` into the next `advance` avail slots, publish, notify, and wait
 * (bounded) for a used element or NEEDS_RESET. Prints the case line and
 * returns the status byte at `stat` (-1 for none, or when stat is 0).
 */
static int run_case(const char *name, uint16_t head, uint16_t advance, uint64_t stat)
{
	volatile uint16_t *av = (volatile uint16_t *)AVAIL;
	volatile uint16_t *us = (volatile uint16_t *)USED;
	uint32_t st = 0, len = 0;
	int got = 0, sb;

	for (uint16_t i = 0; i < advance; i++)
		av[2 + (uint16_t)(avail_shadow + i) % QN] = head;
	barrier();
	avail_shadow = (uint16_t)(avail_shadow + advance);
	av[1] = avail_shadow; /* x86 keeps stores in order; the barrier keeps gcc from reordering */
	barrier();
	vw(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	for (uint64_t t0 = rdtsc(); rdtsc() - t0 < CASE_TSC;) {
		/*
		 * A device publishes at most the QN chains it was offered. A used
		 * index further ahead is not a publish: data-over-used reads sector
		 * data over the ring, index included, before the device writes the
		 * real element and index.
		 */
		uint16_t ahead = (uint16_t)(us[1] - used_seen);

		if (ahead >= 1 && ahead <= QN) {
			got = 1;
			break;
		}
		if (vr(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET)
			break;
	}
	barrier();
	st = vr(VIRTIO_MMIO_STATUS);
	if (got) {
		len = *(volatile uint32_t *)(USED + 4 + 8 * (used_seen % QN) + 4);
		used_seen++;
	}
	sb = stat ? *(volatile uint8_t *)stat : 0xff;
	con_puts("PROBE blk.");
	con_puts(name);
	con_putc('=');
	if (sb == 0xff)
		con_puts("none");
	else
		con_dec((uint64_t)sb);
	con_puts(" used_len=");
	if (got)
		con_dec(len);
	else
		con_puts("none");
	con_puts(" devstatus=");
	con_hex(st);
	con_putc('\n');
	if (!got || (st & VIRTIO_CONFIG_S_NEEDS_RESET))
		blk_up();
	return sb == 0xff ? -1 : sb;
}

/* A valid 512-byte read of `sector`; prints <name>_fnv on success. */
static void valid_read(const char *name, const char *fnvkey, uint64_t sector)
{
	begin(0xa5);
	request(DESC, T_IN, sector, 512);
	if (run_case(name, 0, 1, STAT) == 0)
		print_fnv(fnvkey, DATA);
}

/* ---- blk-chains ---- */

static void cases_addresses(void)
{
	begin(0xa5);
	set_hdr(T_IN, 0);
	chain3(DESC, HDR, 16, OUTSIDE, 512, VRING_DESC_F_WRITE, STAT, 1, VRING_DESC_F_WRITE);
	run_case("past-end-data", 0, 1, STAT);

	begin(0x5a);
	chain3(DESC, OUTSIDE, 16, DATA, 512, 0, STAT, 1, VRING_DESC_F_WRITE);
	run_case("past-end-hdr", 0, 1, STAT);

	begin(0xa5);
	set_hdr(T_IN, 0);
	chain3(DESC, HDR, 16, DATA, 512, VRING_DESC_F_WRITE, OUTSIDE, 1, VRING_DESC_F_WRITE);
	run_case("past-end-status", 0, 1, 0);

	begin(0xa5);
	set_hdr(T_IN, 0);
	chain3(DESC, HDR, 16, VIO, 512, VRING_DESC_F_WRITE, STAT, 1, VRING_DESC_F_WRITE); /* its own window */
	run_case("hole-data", 0, 1, STAT);

	begin(0xa5);
	set_hdr(T_IN, 0);
	chain3(DESC, HDR, 16, 0x100000000UL, 512, VRING_DESC_F_WRITE, STAT, 1, VRING_DESC_F_WRITE);
	run_case("high-data", 0, 1, STAT);

	begin(0xa5);
	set_hdr(T_IN, 0);
	chain3(DESC, HDR, 16, 0xfffffffffffff000UL, 0x2000, VRING_DESC_F_WRITE, STAT, 1, VRING_DESC_F_WRITE);
	run_case("overflow", 0, 1, STAT);

	begin(0xa5);
	set_hdr(T_IN, 0);
	chain3(DESC, HDR, 16, DATA, 0xffffffffu, VRING_DESC_F_WRITE, STAT, 1, VRING_DESC_F_WRITE);
	run_case("huge-len", 0, 1, STAT);
}

static void cases_shape(void)
{
	/* OUT whose only descriptor is readable and points to itself. */
	begin(0x5a);
	set_hdr(T_OUT, 28);
	set_desc(DESC, 0, HDR, 16, VRING_DESC_F_NEXT, 0);
	run_case("self-loop", 0, 1, STAT);

	/* All 8 descriptors chained, the last pointing back to the first. */
	begin(0xa5);
	set_hdr(T_IN, 0);
	set_desc(DESC, 0, HDR, 16, VRING_DESC_F_NEXT, 1);
	for (unsigned i = 1; i < 7; i++)
		set_desc(DESC, i, DATA + 512 * (i - 1), 512, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, (uint16_t)(i + 1));
	set_desc(DESC, 7, STAT, 1, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 0);
	run_case("long-chain", 0, 1, STAT);

	begin(0xa5);
	set_hdr(T_IN, 0);
	chain3(DESC, HDR, 16, DATA, 512, VRING_DESC_F_WRITE, STAT, 1, 0);
	run_case("status-readonly", 0, 1, STAT);

	begin(0x5a);
	set_hdr(T_OUT, 32);
	chain3(DESC, HDR, 16, DATA, 512, 0, STAT, 1, 0);
	run_case("status-readonly-out", 0, 1, STAT);

	begin(0x5a);
	set_hdr(T_OUT, 36);
	chain3(DESC, HDR, 16, DATA, 512, 0, STAT, 0, VRING_DESC_F_WRITE);
	run_case("zero-len-status", 0, 1, STAT);

	begin(0xa5);
	set_hdr(T_IN, 0);
	chain3(DESC, HDR, 16, DATA, 0, VRING_DESC_F_WRITE, STAT, 1, VRING_DESC_F_WRITE);
	run_case("zero-len-data", 0, 1, STAT);

	begin(0xa5);
	set_hdr(T_IN, 0);
	chain3(DESC, HDR, 0, DATA, 512, VRING_DESC_F_WRITE, STAT, 1, VRING_DESC_F_WRITE);
	run_case("zero-len-hdr", 0, 1, STAT);

	begin(0xa5);
	set_hdr(T_IN, 0);
	chain3(DESC, HDR, 0, DATA, 0, VRING_DESC_F_WRITE, STAT, 0, VRING_DESC_F_WRITE);
	run_case("zero-len-all", 0, 1, STAT);

	/* Header device-writable: nothing readable to parse. */
	begin(0xa5);
	set_hdr(T_IN, 0);
	chain3(DESC, HDR, 16, DATA, 512, VRING_DESC_F_WRITE, STAT, 1, VRING_DESC_F_WRITE);
	set_desc(DESC, 0, HDR, 16, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	run_case("hdr-writable", 0, 1, STAT);
}

static void cases_indirect(void)
{
	begin(0xa5);
	request(IND1, T_IN, 0, 512);
	set_desc(DESC, 0, IND1, 48, VRING_DESC_F_INDIRECT, 0);
	if (run_case("indirect-ok", 0, 1, STAT) == 0)
		print_fnv("indirect-ok_fnv", DATA);

	/* A valid OUT to sector 20 two tables deep. */
	begin(0x5a);
	request(IND2, T_OUT, 20, 512);
	set_desc(IND1, 0, IND2, 48, VRING_DESC_F_INDIRECT, 0);
	set_desc(DESC, 0, IND1, 16, VRING_DESC_F_INDIRECT, 0);
	run_case("indirect-nested", 0, 1, STAT);

	begin(0xa5);
	set_desc(DESC, 0, OUTSIDE, 48, VRING_DESC_F_INDIRECT, 0);
	run_case("indirect-oob", 0, 1, STAT);

	begin(0xa5);
	set_desc(DESC, 0, 0xfffffffffffffff0UL, 0x30, VRING_DESC_F_INDIRECT, 0);
	run_case("indirect-overflow", 0, 1, STAT);

	/* A valid OUT to sector 24, but the table length is 40 bytes. */
	begin(0x5a);
	request(IND1, T_OUT, 24, 512);
	set_desc(DESC, 0, IND1, 40, VRING_DESC_F_INDIRECT, 0);
	run_case("indirect-len", 0, 1, STAT);

	begin(0xa5);
	request(IND1, T_IN, 0, 512);
	set_desc(DESC, 0, IND1, 0, VRING_DESC_F_INDIRECT, 0);
	run_case("indirect-zero", 0, 1, STAT);

	/* INDIRECT together with NEXT (2.7.5.3.1: the driver MUST NOT). */
	begin(0xa5);
	request(IND1, T_IN, 0, 512);
	set_desc(DESC, 0, IND1, 48, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
	set_desc(DESC, 1, STAT + 8, 1, VRING_DESC_F_WRITE, 0);
	run_case("indirect-next", 0, 1, STAT);
}

static void cases_requests(void)
{
	/* OUT whose data the device would write: direction wrong. */
	begin(0x5a);
	set_hdr(T_OUT, 12);
	chain3(DESC, HDR, 16, DATA, 512, VRING_DESC_F_WRITE, STAT, 1, VRING_DESC_F_WRITE);
	run_case("write-wrong-dir", 0, 1, STAT);

	/* OUT to sector 40 whose second data half is not RAM: nothing may be written. */
	begin(0x5a);
	set_hdr(T_OUT, 40);
	set_desc(DESC, 0, HDR, 16, VRING_DESC_F_NEXT, 1);
	set_desc(DESC, 1, DATA, 512, VRING_DESC_F_NEXT, 2);
	set_desc(DESC, 2, OUTSIDE, 512, VRING_DESC_F_NEXT, 3);
	set_desc(DESC, 3, STAT, 1, VRING_DESC_F_WRITE, 0);
	run_case("write-partial-oob", 0, 1, STAT);

	/* OUT to sector 44 with the status before the data: readable after writable. */
	begin(0x5a);
	set_hdr(T_OUT, 44);
	set_desc(DESC, 0, HDR, 16, VRING_DESC_F_NEXT, 1);
	set_desc(DESC, 1, STAT, 1, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
	set_desc(DESC, 2, DATA, 512, 0, 0);
	run_case("status-middle", 0, 1, STAT);

	begin(0x5a);
	request(DESC, T_OUT, capacity, 512);
	run_case("write-past-end", 0, 1, STAT);

	begin(0x5a);
	request(DESC, T_OUT, capacity - 1, 1024); /* last sector and one beyond */
	run_case("write-straddle-end", 0, 1, STAT);

	begin(0x5a);
	request(DESC, T_OUT, 1ULL << 55, 512); /* sector * 512 wraps to byte 0 */
	run_case("write-sector-wrap", 0, 1, STAT);

	begin(0x5a);
	request(DESC, T_OUT, ~0ULL, 512);
	run_case("write-sector-max", 0, 1, STAT);

	begin(0xa5);
	request(DESC, T_IN, 0, 511);
	run_case("read-odd-len", 0, 1, STAT);

	begin(0xa5);
	request(DESC, T_IN, capacity, 512);
	run_case("read-past-end", 0, 1, STAT);

	begin(0xa5);
	request(DESC, 0x7fff, 0, 512);
	run_case("unknown-type", 0, 1, STAT);

	/* Write-zeroes and discard are not negotiated; out of range anyway. */
	begin(0xa5);
	set_hdr(T_WRITE_ZEROES, 0);
	*(volatile uint64_t *)(HDR + 16) = capacity - 1;
	*(volatile uint32_t *)(HDR + 24) = 2;
	*(volatile uint32_t *)(HDR + 28) = 0;
	chain3(DESC, HDR, 16, HDR + 16, 16, 0, STAT, 1, VRING_DESC_F_WRITE);
	run_case("wz-past-end", 0, 1, STAT);

	begin(0xa5);
	set_hdr(T_DISCARD, 0);
	*(volatile uint64_t *)(HDR + 16) = 1ULL << 55;
	*(volatile uint32_t *)(HDR + 24) = 1;
	*(volatile uint32_t *)(HDR + 28) = 0;
	chain3(DESC, HDR, 16, HDR + 16, 16, 0, STAT, 1, VRING_DESC_F_WRITE);
	run_case("discard-wrap", 0, 1, STAT);
}

static void cases_ring(void)
{
	/* Nine buffers claimed in a ring of eight; each a valid OUT to sector 16. */
	begin(0x5a);
	request(DESC, T_OUT, 16, 512);
	run_case("avail-jump", 0, QN + 1, STAT);

	begin(0x5a);
	request(DESC, T_OUT, 16, 512);
	run_case("head-oob", 200, 1, STAT);
}

/*
 * Valid reads whose data lands on the rings themselves: the device must go
 * by its snapshot of the descriptors and its own used index. What it finds
 * in the clobbered avail ring afterwards is garbage, so reset after each.
 */
static void cases_overlap(void)
{
	static const struct {
		const char *name;
		uint64_t at;
	} c[] = {{"data-over-desc", DESC}, {"data-over-avail", AVAIL}, {"data-over-used", USED}};

	for (unsigned i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		begin(0xa5);
		set_hdr(T_IN, 0);
		chain3(DESC, HDR, 16, c[i].at, 512, VRING_DESC_F_WRITE, STAT, 1, VRING_DESC_F_WRITE);
		run_case(c[i].name, 0, 1, STAT);
		blk_up();
	}
}

void hostile_blk_chains(void)
{
	const char *v;
	uint64_t wsec = 8;

	if (cmdline_find(hostile_cmdline, "probe.blk_write_sector=", &v))
		wsec = parse_dec(v, 8);
	if (blk_up() < 0)
		return;
	probe_line("blk.capacity");
	con_dec(capacity);
	con_putc('\n');
	valid_read("read0", "read0_fnv", 0);

	begin(0);
	pattern(wsec);
	request(DESC, T_OUT, wsec, 512);
	run_case("write", 0, 1, STAT);
	valid_read("readback", "readback_fnv", wsec);

	cases_addresses();
	cases_shape();
	cases_indirect();
	cases_requests();
	cases_ring();
	cases_overlap();
	valid_read("after", "after_fnv", 0);
	con_puts("PROBE blk.done\n");
}

/*
 * blk-ops: the valid requests blk-chains does not negotiate. With FLUSH,
 * DISCARD and WRITE_ZEROES offered and accepted: write sector 40, FLUSH,
 * WRITE_ZEROES sectors 40-47, read 40 back (all zero: ops-zero=1), DISCARD
 * sectors 48-55, FLUSH. Case lines as in blk-chains, then PROBE blk.ops-done.
 */
#define VIRTIO_BLK_F_FLUSH_BIT 9
#define VIRTIO_BLK_F_DISCARD_BIT 13
#define VIRTIO_BLK_F_WRITE_ZEROES_BIT 14

static void segment(uint32_t type, uint64_t sector, uint32_t n)
{
	set_hdr(type, 0);
	*(volatile uint64_t *)(HDR + 16) = sector;
	*(volatile uint32_t *)(HDR + 24) = n;
	*(volatile uint32_t *)(HDR + 28) = 0;
	chain3(DESC, HDR, 16, HDR + 16, 16, 0, STAT, 1, VRING_DESC_F_WRITE);
}

static void flush(const char *name)
{
	begin(0xa5);
	set_hdr(T_FLUSH, 0);
	set_desc(DESC, 0, HDR, 16, VRING_DESC_F_NEXT, 1);
	set_desc(DESC, 1, STAT, 1, VRING_DESC_F_WRITE, 0);
	run_case(name, 0, 1, STAT);
}

void hostile_blk_ops(void)
{
	extra_features = 1u << VIRTIO_BLK_F_FLUSH_BIT | 1u << VIRTIO_BLK_F_DISCARD_BIT |
			 1u << VIRTIO_BLK_F_WRITE_ZEROES_BIT;
	if (blk_up() < 0)
		return;
	begin(0);
	pattern(40);
	request(DESC, T_OUT, 40, 512);
	run_case("ops-write", 0, 1, STAT);
	flush("ops-flush");
	begin(0xa5);
	segment(T_WRITE_ZEROES, 40, 8);
	run_case("ops-write-zeroes", 0, 1, STAT);
	begin(0xa5);
	request(DESC, T_IN, 40, 512);
	run_case("ops-readback", 0, 1, STAT);
	int zero = 1;
	for (unsigned i = 0; i < 512; i++)
		zero &= ((volatile uint8_t *)DATA)[i] == 0;
	probe_line("blk.ops-zero");
	con_dec((uint64_t)zero);
	con_putc('\n');
	begin(0xa5);
	segment(T_DISCARD, 48, 8);
	run_case("ops-discard", 0, 1, STAT);
	flush("ops-flush2");
	con_puts("PROBE blk.ops-done\n");
}

/*
 * ---- blk-loop: a disk in steady use, for snapshots ----
 * Round i (1..probe.count, default 300) writes sector i % 16 with the word
 * i in each of its 64 slots, reads it back and compares, ~20 ms of TSC per
 * round; prints `PROBE blk-loop ready`, then `PROBE blk-loop i=<i> ok|bad`
 * every 10 rounds (bad: a request failed or read back other bytes) and
 * `PROBE blk-loop done`. A restored guest goes on with its queue where the
 * device left it: a transport that lost its state shows as bad or a stall.
 * Afterwards sector k holds the last round with i % 16 == k.
 */
/*
 * One request of `len` bytes at head 0, printing nothing: its status byte,
 * or -1 when no used element came within ~10 s of TSC (a rate-limited
 * device answers late, never that late).
 */
static int quiet_request(uint32_t type, uint64_t sector, uint32_t len)
{
	volatile uint16_t *av = (volatile uint16_t *)AVAIL;
	volatile uint16_t *us = (volatile uint16_t *)USED;

	memset((void *)STAT, 0xff, 16);
	request(DESC, type, sector, len);
	av[2 + avail_shadow % QN] = 0;
	barrier();
	avail_shadow++;
	av[1] = avail_shadow;
	barrier();
	vw(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	for (uint64_t t0 = rdtsc(); rdtsc() - t0 < 50 * WAIT_TSC;)
		if (us[1] != used_seen) {
			used_seen++;
			barrier();
			return *(volatile uint8_t *)STAT;
		}
	return -1;
}

void hostile_blk_loop(void)
{
	const char *v = 0;
	uint64_t end;

	cmdline_find(hostile_cmdline, "probe.count=", &v);
	end = parse_dec(v, 300);
	if (blk_up() < 0)
		return;
	con_puts("PROBE blk-loop ready\n");
	int bad = 0;
	for (uint64_t i = 1; i <= end; i++) {
		volatile uint64_t *d = (volatile uint64_t *)DATA;

		for (unsigned k = 0; k < 64; k++)
			d[k] = i;
		bad |= quiet_request(T_OUT, i % 16, 512) != 0;
		for (unsigned k = 0; k < 64; k++)
			d[k] = 0;
		bad |= quiet_request(T_IN, i % 16, 512) != 0;
		for (unsigned k = 0; k < 64; k++)
			bad |= d[k] != i;
		if (i % 10 == 0) {
			con_puts("PROBE blk-loop i=");
			con_dec(i);
			con_puts(bad ? " bad\n" : " ok\n");
			bad = 0;
		}
		delay_tsc(20 * TSC_MS);
	}
	con_puts("PROBE blk-loop done\n");
}

/*
 * ---- blk-rate: requests back to back, for rate limits ----
 * probe.count=N reads (default 200) of probe.size=BYTES (512..4096, default
 * 4096) from sector 0, one at a time, between `PROBE blk-rate start` and
 * `PROBE blk-rate done ok=K` (K: reads that returned status 0); the host
 * times the two lines.
 */
void hostile_blk_rate(void)
{
	const char *v = 0;
	uint64_t n, size, ok = 0;

	cmdline_find(hostile_cmdline, "probe.count=", &v);
	n = parse_dec(v, 200);
	v = 0;
	cmdline_find(hostile_cmdline, "probe.size=", &v);
	size = parse_dec(v, 4096);
	if (size < 512 || size > 4096)
		size = 4096;
	if (blk_up() < 0)
		return;
	con_puts("PROBE blk-rate start\n");
	for (uint64_t i = 0; i < n; i++)
		ok += quiet_request(T_IN, 0, (uint32_t)size) == 0;
	con_puts("PROBE blk-rate done ok=");
	con_dec(ok);
	con_putc('\n');
}

/* ---- the final proof of life ---- */

static void final_read(void)
{
	if (vr(VIRTIO_MMIO_MAGIC_VALUE) != 0x74726976) {
		con_puts("PROBE blk.absent\n");
		return;
	}
	if (blk_up() == 0)
		valid_read("read0", "read0_fnv", 0);
}

/* ---- mmio-poke ---- */

static void print_poke(const char *what)
{
	con_puts("PROBE poke.");
	con_puts(what);
}

static void print_kv(const char *k, uint64_t v)
{
	con_putc(' ');
	con_puts(k);
	con_putc('=');
	con_hex(v);
}

void hostile_reg_read(void)
{
	uint32_t isr = 0, sum = 0;

	for (int i = 0; i < 4096; i++)
		isr |= vr(VIRTIO_MMIO_INTERRUPT_STATUS);
	for (uint32_t off = 0; off < 0x1000; off += 4)
		sum += vr(off);
	print_poke("regs");
	print_kv("magic", vr(VIRTIO_MMIO_MAGIC_VALUE));
	print_kv("version", vr(VIRTIO_MMIO_VERSION));
	print_kv("id", vr(VIRTIO_MMIO_DEVICE_ID));
	print_kv("isr", isr);
	print_kv("sum", sum);
	con_putc('\n');
	/*
	 * One request with interrupts wanted (avail flags 0; the probe still
	 * polls, its IOAPIC pin masked): InterruptStatus reads VRING. An ACK
	 * of VRING alone is completed inside KVM (1000 of them, no exit) and
	 * leaves the bit set; an ACK of VRING|CONFIG exits and clears it.
	 */
	if (blk_up() < 0)
		return;
	*(volatile uint16_t *)AVAIL = 0;
	valid_read("regs-read", "regs_fnv", 0);
	uint32_t after_req = vr(VIRTIO_MMIO_INTERRUPT_STATUS);

	for (int i = 0; i < 1000; i++)
		vw(VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	uint32_t after_ack1 = vr(VIRTIO_MMIO_INTERRUPT_STATUS);

	vw(VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING | VIRTIO_MMIO_INT_CONFIG);
	print_poke("ack");
	print_kv("isr_req", after_req);
	print_kv("isr_ack1", after_ack1);
	print_kv("isr_ack3", vr(VIRTIO_MMIO_INTERRUPT_STATUS));
	con_putc('\n');
}

/* Every offset 0..0x1ff at widths 1, 2, 4, 8: read, write all-ones, write back. */
static void poke_sweep(void)
{
	for (uint32_t off = 0; off < 0x200; off++)
		for (int w = 1; w <= 8; w *= 2) {
			uint64_t v = mmio_rd(VIO + off, w);

			mmio_wr(VIO + off, w, ~0ULL);
			mmio_wr(VIO + off, w, v);
		}
	print_poke("sweep");
	print_kv("devstatus", vr(VIRTIO_MMIO_STATUS));
	con_putc('\n');
}

/* Program queue 0 with (num, desc), set QueueReady and DRIVER_OK, notify; report. */
static void poke_queue(const char *name, uint32_t num, uint64_t desc, uint64_t used)
{
	if (dev_negotiate() < 0) {
		probe_error("blk-negotiate");
		return;
	}
	queue_program(num, desc, AVAIL, used);
	uint32_t ready = vr(VIRTIO_MMIO_QUEUE_READY);

	vw(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	vw(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	print_poke(name);
	print_kv("ready", ready);
	print_kv("devstatus", vr(VIRTIO_MMIO_STATUS));
	con_putc('\n');
}

/* The used index once it is `want`, NEEDS_RESET is set or `cycles` of TSC passed. */
static uint16_t spin_used(uint16_t want, uint64_t cycles)
{
	volatile uint16_t *us = (volatile uint16_t *)USED;

	for (uint64_t t0 = rdtsc(); rdtsc() - t0 < cycles && us[1] != want;)
		if (vr(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET)
			break;
	return us[1];
}

/* A valid read published and notified before DRIVER_OK (3.1.1: not to be consumed yet). */
static void poke_notify_early(void)
{
	volatile uint16_t *av = (volatile uint16_t *)AVAIL;

	if (dev_negotiate() < 0)
		return;
	queue_program(QN, DESC, AVAIL, USED);
	begin(0xa5);
	request(DESC, T_IN, 0, 512);
	av[2] = 0;
	barrier();
	av[1] = 1;
	barrier();
	vw(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	print_poke("notify-early");
	print_kv("used", spin_used(1, 16 * TSC_MS));
	con_putc('\n');
	vw(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	uint16_t u = spin_used(1, 16 * TSC_MS);

	print_poke("notify-early-after-ok");
	print_kv("used", u);
	print_kv("status", *(volatile uint8_t *)STAT);
	con_putc('\n');
}

/* Random descriptors and avail entries; heads_ok keeps heads < QN. */
static void poke_garbage(const char *name, int heads_ok, int idx_random)
{
	volatile uint64_t *d = (volatile uint64_t *)DESC;
	volatile uint16_t *av = (volatile uint16_t *)AVAIL;

	if (blk_up() < 0)
		return;
	/* Addresses are random 64-bit values: the chance of one hitting RAM is ~2^-37. */
	for (unsigned i = 0; i < 2 * QN; i++)
		d[i] = xorshift();
	for (unsigned i = 0; i < QN; i++)
		av[2 + i] = (uint16_t)(heads_ok ? xorshift() % QN : xorshift());
	barrier();
	uint16_t idx = idx_random ? (uint16_t)xorshift() : QN;

	av[1] = idx;
	barrier();
	vw(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	print_poke(name);
	print_kv("used", spin_used(idx, WAIT_TSC));
	print_kv("devstatus", vr(VIRTIO_MMIO_STATUS));
	con_putc('\n');
}

static void poke_status_order(void)
{
	/* DRIVER_OK straight from reset. */
	vw(VIRTIO_MMIO_STATUS, 0);
	vw(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_DRIVER_OK);
	print_poke("driver-ok-first");
	print_kv("devstatus", vr(VIRTIO_MMIO_STATUS));
	con_putc('\n');

	/* A queue and DRIVER_OK without FEATURES_OK, then a read. */
	vw(VIRTIO_MMIO_STATUS, 0);
	vw(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	vw(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	queue_program(QN, DESC, AVAIL, USED);
	vw(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_DRIVER_OK);
	begin(0xa5);
	request(DESC, T_IN, 0, 512);
	volatile uint16_t *av = (volatile uint16_t *)AVAIL;

	av[2] = 0;
	barrier();
	av[1] = 1;
	barrier();
	vw(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	print_poke("no-features-ok");
	print_kv("used", spin_used(1, 16 * TSC_MS));
	print_kv("devstatus", vr(VIRTIO_MMIO_STATUS));
	con_putc('\n');

	/* FEATURES_OK with every bit set (3.1.1: the device must not accept). */
	vw(VIRTIO_MMIO_STATUS, 0);
	vw(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	vw(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	vw(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	vw(VIRTIO_MMIO_DRIVER_FEATURES, 0xffffffff);
	vw(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	vw(VIRTIO_MMIO_DRIVER_FEATURES, 0xffffffff);
	vw(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
	print_poke("features-bogus");
	print_kv("devstatus", vr(VIRTIO_MMIO_STATUS));
	con_putc('\n');

	/* FEATURES_OK without VERSION_1. */
	vw(VIRTIO_MMIO_STATUS, 0);
	vw(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	vw(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	vw(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	vw(VIRTIO_MMIO_DRIVER_FEATURES, 1u << 28);
	vw(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
	print_poke("features-legacy");
	print_kv("devstatus", vr(VIRTIO_MMIO_STATUS));
	con_putc('\n');

	/* Feature selectors past the defined words. */
	vw(VIRTIO_MMIO_STATUS, 0);
	vw(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	vw(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	vw(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 7);
	uint32_t devfeat = vr(VIRTIO_MMIO_DEVICE_FEATURES);

	vw(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 7);
	vw(VIRTIO_MMIO_DRIVER_FEATURES, 0xffffffff);
	vw(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	vw(VIRTIO_MMIO_DRIVER_FEATURES, 1u << 28);
	vw(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	vw(VIRTIO_MMIO_DRIVER_FEATURES, 1);
	vw(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
	print_poke("features-sel7");
	print_kv("devfeat", devfeat);
	print_kv("devstatus", vr(VIRTIO_MMIO_STATUS));
	con_putc('\n');
}

/* Select a queue that does not exist and program every queue register. */
static void poke_queue_sel(uint32_t sel)
{
	if (dev_negotiate() < 0)
		return;
	vw(VIRTIO_MMIO_QUEUE_SEL, sel);
	uint32_t max = vr(VIRTIO_MMIO_QUEUE_NUM_MAX);

	vw(VIRTIO_MMIO_QUEUE_NUM, QN);
	vw(VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)DESC);
	vw(VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
	vw(VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)AVAIL);
	vw(VIRTIO_MMIO_QUEUE_AVAIL_HIGH, 0);
	vw(VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)USED);
	vw(VIRTIO_MMIO_QUEUE_USED_HIGH, 0);
	vw(VIRTIO_MMIO_QUEUE_READY, 1);
	uint32_t ready = vr(VIRTIO_MMIO_QUEUE_READY);

	vw(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	vw(VIRTIO_MMIO_QUEUE_NOTIFY, sel);
	print_poke("queue-sel");
	print_kv("sel", sel);
	print_kv("num_max", max);
	print_kv("ready", ready);
	print_kv("devstatus", vr(VIRTIO_MMIO_STATUS));
	con_putc('\n');
}

static void poke_unmapped(uint64_t a)
{
	for (int w = 1; w <= 8; w *= 2) {
		mmio_rd(a, w);
		mmio_wr(a, w, ~0ULL);
		mmio_wr(a + 8, w, 0x5a5a5a5a5a5a5a5aULL);
	}
	print_poke("unmapped");
	print_kv("addr", a);
	print_kv("read32", mmio_rd(a, 4));
	con_putc('\n');
}

/* Ports kvmrun or KVM give meaning that would end or blind the probe. */
static int port_skipped(uint32_t p, int w)
{
	static const uint16_t skip[][2] = {
		{0x20, 0x22}, {0x40, 0x44}, {0x60, 0x61}, {0x64, 0x65},
		{0xa0, 0xa2}, {0x3f8, 0x400}, {0xcf8, 0xd00},
	};

	for (unsigned i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
		if (p < skip[i][1] && skip[i][0] < p + (uint32_t)w)
			return 1;
	return 0;
}

static void poke_ports(void)
{
	unsigned n = 0;

	for (uint32_t p = 0; p < 0x400; p++)
		for (int w = 1; w <= 4; w *= 2) {
			if (port_skipped(p, w))
				continue;
			port_in((uint16_t)p, w);
			port_out((uint16_t)p, w, 0xa5a5a5a5u);
			port_in((uint16_t)p, w);
			n++;
		}
	print_poke("ports");
	print_kv("accesses", n);
	con_putc('\n');
}

/* The device steps of mmio-poke: queues, notifications, rings, status, selectors. */
static void poke_device(void)
{
	poke_queue("queue-oob", QN, 0xfffff00000000000UL, USED);
	poke_queue("queue-misaligned", QN, DESC + 8, USED);
	poke_queue("queue-used-in-window", QN, DESC, VIO);
	poke_queue("qnum-7", 7, DESC, USED);
	poke_queue("qnum-0", 0, DESC, USED);
	poke_queue("qnum-257", 257, DESC, USED);
	poke_queue("qnum-65536", 65536, DESC, USED);
	poke_notify_early();
	poke_garbage("garbage-heads", 0, 0);
	poke_garbage("garbage-descs", 1, 0);
	poke_garbage("garbage-idx", 1, 1);
	poke_status_order();
	poke_queue_sel(1);
	poke_queue_sel(4);
	poke_queue_sel(99);
	poke_queue_sel(0xffffffff);
	vw(VIRTIO_MMIO_STATUS, 0);
}

void hostile_mmio_poke(void)
{
	int present = vr(VIRTIO_MMIO_MAGIC_VALUE) == 0x74726976;

	/* With no device the window itself is unclaimed MMIO: sweep it anyway. */
	if (present)
		blk_up(); /* a live device first, so the sweep hits a running queue */
	poke_sweep();
	if (present)
		poke_device();
	poke_unmapped(0xd0008000UL);
	poke_unmapped(0xd0001000UL);
	poke_unmapped(0xe0000000UL);
	poke_unmapped(0xfed00000UL);
	poke_ports();
	con_puts("PROBE poke.done\n");
	final_read();
}

/* ---- serial-poke ---- */

static uint32_t rep4(uint8_t b)
{
	return b * 0x01010101u;
}

void hostile_serial_poke(void)
{
	static const uint8_t vals[] = {0x00, 0xff, 0x80, 0x13, 0x5a, 0x7f, 0x1f, 0xc7};
	const uint16_t base = 0x3f8;

	for (uint16_t p = base; p < base + 8; p++)
		for (int w = 1; w <= 4; w *= 2)
			for (unsigned i = 0; i < sizeof(vals); i++) {
				port_out(p, w, rep4(vals[i]));
				port_in(p, w);
			}
	/* String I/O at every register, each width (reads pop RBR, ack IIR). */
	for (uint16_t p = base; p < base + 8; p++)
		for (int w = 1; w <= 4; w *= 2) {
			memset((void *)DATA, 0x7f, 256);
			port_rep(p, w, (void *)DATA, 16, p == base + 7 || p == base + 5);
			port_rep(p, w, (void *)(DATA + 256), 16, 0);
		}
	/* Divisor latch: nonsense divisor, then reads with DLAB still set. */
	port_out(base + 3, 1, 0x80);
	port_out(base, 2, 0xffff);
	port_in(base, 4);
	/* Loopback with every modem bit: more bytes than any receive FIFO holds. */
	port_out(base + 3, 1, 0x03);
	port_out(base + 4, 1, 0x1f);
	port_out(base + 1, 1, 0x0f);
	for (unsigned i = 0; i < 1100; i++)
		port_out(base, 1, (uint8_t)i);
	for (unsigned i = 0; i < 16; i++)
		port_in(base + 2, 1);
	port_out(base + 2, 1, 0x07);
	/* Back to sane: 8N1, no interrupts, DTR | RTS | OUT2, FIFOs off, receiver drained. */
	port_out(base + 3, 1, 0x03);
	port_out(base + 1, 1, 0x00);
	port_out(base + 4, 1, 0x0b);
	port_out(base + 2, 1, 0x00);
	for (unsigned i = 0; i < 2048 && (port_in(base + 5, 1) & 1); i++)
		port_in(base, 1);
	con_puts("\nPROBE serial-poke.done\n");
	final_read();
}

/* ---- i8042-poke ---- */

/*
 * Never 0xfe nor any 0xf0-0xfe pulse with bit 0 clear on 0x64, and every
 * data byte odd, so an output-port write (after 0xd1, whenever it lands)
 * never pulls the reset line.
 */
void hostile_i8042_poke(void)
{
	static const uint8_t cmds[] = {0x20, 0x60, 0xaa, 0xab, 0xad, 0xae, 0xa7, 0xa8,
				       0xa9, 0xc0, 0xd0, 0xd1, 0xd2, 0xd3, 0xd4, 0xe0,
				       0x00, 0x13, 0x5b, 0xff, 0xa5, 0x7f, 0xc1, 0x61};
	static const uint8_t data[] = {0x01, 0xff, 0xf5, 0xed, 0x5b, 0xa5, 0x03, 0xf3};
	unsigned k = 0;

	for (unsigned i = 0; i < sizeof(cmds); i++)
		for (int w = 1; w <= 4; w *= 2) {
			port_out(0x64, w, rep4(cmds[i]));
			port_out(0x60, w, rep4(data[k++ % sizeof(data)]));
			port_in(0x60, w);
			port_in(0x64, w);
		}
	for (unsigned i = 0; i < sizeof(data); i++)
		for (int w = 1; w <= 4; w *= 2) {
			port_out(0x60, w, rep4(data[i]));
			port_in(0x60, w);
			port_in(0x64, w);
		}
	/* String reads of both ports at each width (never string writes: no control of bytes). */
	for (int w = 1; w <= 4; w *= 2) {
		port_rep(0x60, w, (void *)DATA, 16, 0);
		port_rep(0x64, w, (void *)DATA, 16, 0);
	}
	/* Drain, restore the command byte (IRQ1 on, system flag), drain again. */
	for (unsigned i = 0; i < 64 && (inb(0x64) & 1); i++)
		inb(0x60);
	outb(0x64, 0x60);
	outb(0x60, 0x05);
	for (unsigned i = 0; i < 64 && (inb(0x64) & 1); i++)
		inb(0x60);
	con_puts("PROBE i8042-poke.done\n");
	final_read();
	/* The reset must still work after all that. */
	con_puts("PROBE i8042-poke.reset\n");
	outb(0x64, 0xfe);
	delay_tsc(30000000);
	probe_error("reset-ignored");
}
