// SPDX-License-Identifier: Apache-2.0
/* probe guest: hostile virtio-net mode (probe.hostile=net-chains). */
/*
 * net-chains: the first virtio-net (device ID 1) among the windows at
 * 0xd0000000 + i * 0x1000 (i < 16) is brought up per virtio 1.x, queues 0
 * (RX) and 1 (TX) of 32 entries each, rings and buffers in probe memory at
 * [0x800000, 0x860000); avail NO_INTERRUPT, the probe polls. Two feature sets:
 *   A = VERSION_1 | MAC | STATUS | MRG_RXBUF | INDIRECT_DESC
 *   B = VERSION_1 | MAC | STATUS | CSUM | GUEST_CSUM | HOST_TSO4
 * Lines, in order:
 *   PROBE net.base=0x<window>            (or error=net-absent and the mode ends)
 *   PROBE net.mac=<aa:bb:..>  net.link=<config status>
 *
 * RX phases. Each starts from a reset (fresh rings), posts buffers (2 KiB,
 * device-writable, buffer i at 0x820000 + i * 2048 through descriptor i),
 * notifies queue 0 and prints
 *   PROBE net.rx-ready=<phase>
 * upon which the host sends frames into the tap. The probe takes used
 * elements until a frame whose byte 14 is 1 (the phase's last frame) or
 * about 4 s without one; per frame (ethertype 0x88b5 only; others are
 * skipped):
 *   PROBE net.<phase>-<i>=len=<frame bytes after the 12-byte header>
 *       bufs=<num_buffers> fnv=<FNV-1a 64 of the frame, 16 hex> flags=0x<hdr
 *       flags> gso=<gso_type>
 * and at the end
 *   PROBE net.<phase>-end=frames=<n> zero=<used elements of length 0>
 *       last=<0|1> devstatus=0x<Status>
 *   rxa  (A) 32 buffers; host: 60, 1514, 9000 bytes (MRG: 1, 1, 5 buffers)
 *   rxd  (A) 3 buffers of 40 KiB (room for a largest frame: kvmrun's direct
 *        read path); host: 9000, 9000 (1 buffer each)
 *   rxh  (A) hostile chains first, then 6 valid buffers (the first through an
 *        indirect table, its header split 6 + 10 + rest); host: 1514. Then one
 *        line per hostile chain:
 *          PROBE net.rxh-<case>=used_len=<n|none> intact=<1|0>
 *        intact: its 2 KiB slot at 0x810000 + k * 0x800 still holds 0x5a.
 *        Cases: readable, oob, overflow, zero-len, short, loop, mixed, order,
 *        ind-nested, ind-oob, partial-oob, huge-len, ind-len
 *   rxm  (A) a valid buffer, then a device-readable one, then 5 valid; host:
 *        9000 (needs the bad chain mid-frame: must be dropped), then 60
 *   PROBE net.rx-avail-jump=used=<n|none> devstatus=0x..   (avail idx 33 ahead)
 *   rxo  (A) head 200 in the avail ring; host: 60. Then
 *          PROBE net.rx-head-oob=used=<n|none> devstatus=0x..
 *   rxb  (B, no MRG_RXBUF) 32 buffers; host: 9000 (too big for a buffer: must
 *        be dropped), 60, 1514. The 60-byte frame of rxo may come first.
 * TX cases: one chain each, notify queue 1, bounded wait (~160 ms), then
 *   PROBE net.tx-<case>=used_len=<n|none> devstatus=0x<Status>
 * (no used element or NEEDS_RESET: reset and bring up again). Frames:
 * dst ff:ff:ff:ff:ff:ff, src = the device MAC, ethertype 0x88b5, bytes
 * [14, 46) the case name ("tx-<case>", NUL padded), byte i >= 46 =
 * (i * 13 + 5) & 0xff. Valid (in A unless named txb-): 60, 1514, one-desc
 * (100), scatter (1000), indirect (200), after (60); B: txb-60, txb-csum
 * (100, NEEDS_CSUM start 34 offset 16), txb-1514. tx-max (65550) may arrive or not. All
 * others must not reach the tap: short, hdr-only, runt, too-long, huge,
 * past-end, partial-oob, hdr-oob, overflow, huge-len, writable,
 * all-writable, order, self-loop, long-chain, next-oob, ind-nested, ind-oob,
 * ind-len, ind-zero, ind-next, ind-idx, ind-huge, csum, gso-tcp4, gso-udp,
 * gso-ecn, flags, avail-jump, head-oob; txb-indirect, txb-gso-tcp6.
 * Then PROBE net.done. Addresses that must miss RAM use 0x40000000: run with
 * --memory below 1 GiB.
 */
#include "hostile_net.h"
#include "probe.h"
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

/* Feature bits (low word; VERSION_1 is bit 0 of the high word). */
#define NF_CSUM (1u << 0)
#define NF_GUEST_CSUM (1u << 1)
#define NF_MAC (1u << 5)
#define NF_HOST_TSO4 (1u << 11)
#define NF_MRG_RXBUF (1u << 15)
#define NF_STATUS (1u << 16)
#define NF_INDIRECT (1u << 28)
#define FEAT_A (NF_MAC | NF_STATUS | NF_MRG_RXBUF | NF_INDIRECT)
#define FEAT_B (NF_MAC | NF_STATUS | NF_CSUM | NF_GUEST_CSUM | NF_HOST_TSO4)

/* ---- probe memory ---- */
#define QN 32
#define SCR 0x800000UL
#define RXD (SCR + 0x0000)
#define RXA (SCR + 0x1000)
#define RXU (SCR + 0x2000)
#define TXD (SCR + 0x3000)
#define TXA (SCR + 0x4000)
#define TXU (SCR + 0x5000)
#define IND1 (SCR + 0x6000)
#define IND2 (SCR + 0x6800)
#define TXH (SCR + 0x7000)     /* the 12-byte header of TX chains */
#define BADB (SCR + 0x10000)   /* 16 slots of 0x800 for hostile RX buffers, 0x5a */
#define SLOT 0x800
#define RXB (SCR + 0x20000)    /* 32 RX buffers of 2 KiB */
#define RXBUF 2048
#define RXD_BUF 0xa000UL       /* rxd: 3 buffers of 40 KiB, up to TXB */
#define TXB (SCR + 0x40000)    /* TX frame bytes (pattern), TXB_LEN long */
#define TXB_LEN 0x14000
#define OUTSIDE 0x40000000UL   /* not RAM with --memory below 1 GiB */
#define WAIT_TSC (200 * TSC_MS) /* for a used element: ~200 ms */
/* tx_run's bound: it ends early on a used element or NEEDS_RESET (see hostile.c's CASE_TSC). */
#define CASE_TSC (2000 * TSC_MS)
#define RX_TSC (3000 * TSC_MS)  /* for a frame from the host: ~3 s */
#define ETYPE_HI 0x88
#define ETYPE_LO 0xb5

struct vdesc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

struct vq {
	unsigned sel;
	uint64_t desc, avail, used;
	uint16_t aidx, useen;
};

static struct vq rxq = {0, RXD, RXA, RXU, 0, 0};
static struct vq txq = {1, TXD, TXA, TXU, 0, 0};
static uint64_t vio = 0;
static uint32_t cur_feat = 0;
static uint8_t mac[6] = {0};
static uint64_t rx_addr[QN] = {0};
static uint32_t rx_len[QN] = {0};

#define NONE 0xffffffffu

static void barrier(void)
{
	__asm__ volatile("" ::: "memory");
}

static uint32_t vr(uint32_t off)
{
	return mmio_read32(vio + off);
}

static void vw(uint32_t off, uint32_t v)
{
	mmio_write32(vio + off, v);
}

static void put_hex16(uint64_t v)
{
	for (int i = 60; i >= 0; i -= 4)
		con_putc("0123456789abcdef"[(v >> i) & 15]);
}

static uint64_t fnv_add(uint64_t h, uint64_t pa, uint64_t n)
{
	const volatile uint8_t *p = (const volatile uint8_t *)pa;

	while (n--)
		h = (h ^ *p++) * 0x100000001b3ULL;
	return h;
}

static void line(const char *key)
{
	con_puts("PROBE net.");
	con_puts(key);
	con_putc('=');
}

static void kv(const char *k, uint64_t v, int hex)
{
	con_putc(' ');
	con_puts(k);
	con_putc('=');
	if (hex)
		con_hex(v);
	else
		con_dec(v);
}

/* ---- bring-up ---- */

static void q_program(struct vq *q)
{
	memset((void *)q->avail, 0, 6 + 2 * QN);
	memset((void *)q->used, 0, 6 + 8 * QN);
	*(volatile uint16_t *)q->avail = 1; /* NO_INTERRUPT: we poll */
	q->aidx = q->useen = 0;
	vw(VIRTIO_MMIO_QUEUE_SEL, q->sel);
	vw(VIRTIO_MMIO_QUEUE_NUM, QN);
	vw(VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)q->desc);
	vw(VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(q->desc >> 32));
	vw(VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)q->avail);
	vw(VIRTIO_MMIO_QUEUE_AVAIL_HIGH, (uint32_t)(q->avail >> 32));
	vw(VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)q->used);
	vw(VIRTIO_MMIO_QUEUE_USED_HIGH, (uint32_t)(q->used >> 32));
	vw(VIRTIO_MMIO_QUEUE_READY, 1);
}

/* Reset and the whole virtio 1.x initialisation with feature word `feat`. 0 or -1 (error line). */
static int net_up(uint32_t feat)
{
	static const char *const why[] = { "net-gone", "net-features", "net-features-ok" };
	int rc = virtio_negotiate(vio, 1, feat);

	if (rc < 0) {
		probe_error(why[-rc - 1]);
		return -1;
	}
	vw(VIRTIO_MMIO_QUEUE_SEL, 0);
	if (vr(VIRTIO_MMIO_QUEUE_NUM_MAX) < QN) {
		probe_error("net-queue");
		return -1;
	}
	q_program(&rxq);
	q_program(&txq);
	vw(VIRTIO_MMIO_QUEUE_SEL, 0);
	uint32_t r0 = vr(VIRTIO_MMIO_QUEUE_READY);
	vw(VIRTIO_MMIO_QUEUE_SEL, 1);
	if (!r0 || !vr(VIRTIO_MMIO_QUEUE_READY)) {
		probe_error("net-queue-ready");
		return -1;
	}
	vw(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	cur_feat = feat;
	return 0;
}

static int net_find(void)
{
	for (unsigned i = 0; i < 16; i++) {
		uint64_t b = 0xd0000000UL + i * 0x1000UL;

		if (mmio_read32(b + VIRTIO_MMIO_MAGIC_VALUE) == 0x74726976 && mmio_read32(b + VIRTIO_MMIO_DEVICE_ID) == 1) {
			vio = b;
			return 0;
		}
	}
	return -1;
}

/* ---- rings ---- */

static void set_desc(uint64_t table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	volatile struct vdesc *d = (volatile struct vdesc *)table + i;

	d->addr = addr;
	d->len = len;
	d->flags = flags;
	d->next = next;
}

static void q_push(struct vq *q, uint16_t head)
{
	volatile uint16_t *av = (volatile uint16_t *)q->avail;

	av[2 + q->aidx % QN] = head;
	q->aidx++;
}

static void q_kick(struct vq *q)
{
	barrier();
	((volatile uint16_t *)q->avail)[1] = q->aidx;
	barrier();
	vw(VIRTIO_MMIO_QUEUE_NOTIFY, q->sel);
}

/* 1 when a used element is waiting, 0 after `cycles` of TSC or on NEEDS_RESET. */
static int q_wait(struct vq *q, uint64_t cycles)
{
	volatile uint16_t *us = (volatile uint16_t *)q->used;

	for (uint64_t t0 = rdtsc(); rdtsc() - t0 < cycles;) {
		if (us[1] != q->useen)
			return 1;
		if (vr(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET)
			return us[1] != q->useen;
	}
	return 0;
}

static void q_take(struct vq *q, uint32_t *id, uint32_t *len)
{
	barrier();
	volatile uint32_t *e = (volatile uint32_t *)(q->used + 4 + 8 * (q->useen % QN));

	*id = e[0];
	*len = e[1];
	q->useen++;
}

/* ---- TX ---- */

static void tx_hdr(uint8_t flags, uint8_t gso, uint16_t hdr_len, uint16_t gso_size,
		   uint16_t cs_start, uint16_t cs_off)
{
	volatile uint8_t *h = (volatile uint8_t *)TXH;

	h[0] = flags;
	h[1] = gso;
	*(volatile uint16_t *)(h + 2) = hdr_len;
	*(volatile uint16_t *)(h + 4) = gso_size;
	*(volatile uint16_t *)(h + 6) = cs_start;
	*(volatile uint16_t *)(h + 8) = cs_off;
	*(volatile uint16_t *)(h + 10) = 0;
}

/* Ethernet header and the case name at the start of TXB; the pattern follows. */
static void tx_frame(const char *tag)
{
	uint8_t *f = (uint8_t *)TXB;

	memset(f, 0xff, 6);
	memcpy(f + 6, mac, 6);
	f[12] = ETYPE_HI;
	f[13] = ETYPE_LO;
	memset(f + 14, 0, 32);
	for (unsigned i = 0; tag[i] && i < 31; i++)
		f[14 + i] = (uint8_t)tag[i];
}

/* Header at TXH, frame of `len` at TXB: descriptors 0 and 1. */
static void tx_chain2(uint32_t len)
{
	set_desc(TXD, 0, TXH, 12, VRING_DESC_F_NEXT, 1);
	set_desc(TXD, 1, TXB, len, 0, 0);
}

static void tx_run(const char *name, uint16_t head, uint16_t advance)
{
	uint32_t id = 0, len = 0, st;
	int got;

	for (uint16_t i = 0; i < advance; i++)
		q_push(&txq, head);
	q_kick(&txq);
	got = q_wait(&txq, CASE_TSC);
	st = vr(VIRTIO_MMIO_STATUS);
	if (got)
		q_take(&txq, &id, &len);
	line(name);
	con_puts("used_len=");
	if (got)
		con_dec(len);
	else
		con_puts("none");
	kv("devstatus", st, 1);
	con_putc('\n');
	if (!got || (st & VIRTIO_CONFIG_S_NEEDS_RESET))
		net_up(cur_feat);
}

/* The usual case: header + `len`-byte frame tagged with the case name. */
static void tx_simple(const char *name, uint32_t len)
{
	tx_hdr(0, 0, 0, 0, 0, 0);
	tx_frame(name);
	tx_chain2(len);
	tx_run(name, 0, 1);
}

static void tx_valid_a(void)
{
	tx_simple("tx-60", 60);
	tx_simple("tx-1514", 1514);

	/* Header and frame in one descriptor. */
	tx_hdr(0, 0, 0, 0, 0, 0);
	tx_frame("tx-one-desc");
	memcpy((void *)(TXB - 12), (void *)TXH, 12);
	set_desc(TXD, 0, TXB - 12, 12 + 100, 0, 0);
	tx_run("tx-one-desc", 0, 1);

	/* Header split 5 + 7, frame in three pieces: 20 + 500 + 480. */
	tx_frame("tx-scatter");
	set_desc(TXD, 0, TXH, 5, VRING_DESC_F_NEXT, 3);
	set_desc(TXD, 3, TXH + 5, 7, VRING_DESC_F_NEXT, 7);
	set_desc(TXD, 7, TXB, 20, VRING_DESC_F_NEXT, 2);
	set_desc(TXD, 2, TXB + 20, 500, VRING_DESC_F_NEXT, 31);
	set_desc(TXD, 31, TXB + 520, 480, 0, 0);
	tx_run("tx-scatter", 0, 1);

	tx_frame("tx-indirect");
	set_desc(IND1, 0, TXH, 12, VRING_DESC_F_NEXT, 1);
	set_desc(IND1, 1, TXB, 200, 0, 0);
	set_desc(TXD, 5, IND1, 32, VRING_DESC_F_INDIRECT, 0);
	tx_run("tx-indirect", 5, 1);

	/* The largest frame kvmrun takes: 65550 bytes in five descriptors. */
	tx_frame("tx-max");
	set_desc(TXD, 0, TXH, 12, VRING_DESC_F_NEXT, 1);
	for (unsigned i = 0; i < 4; i++)
		set_desc(TXD, 1 + i, TXB + 16384 * i, 16384, VRING_DESC_F_NEXT, (uint16_t)(2 + i));
	set_desc(TXD, 5, TXB + 65536, 14, 0, 0);
	tx_run("tx-max", 0, 1);
}

static void tx_length_cases(void)
{
	tx_hdr(0, 0, 0, 0, 0, 0);
	set_desc(TXD, 0, TXH, 8, 0, 0);
	tx_run("tx-short", 0, 1);

	set_desc(TXD, 0, TXH, 12, 0, 0);
	tx_run("tx-hdr-only", 0, 1);

	tx_frame("tx-runt");
	tx_chain2(10);
	tx_run("tx-runt", 0, 1);

	/* One byte over: 65551. */
	tx_frame("tx-too-long");
	set_desc(TXD, 0, TXH, 12, VRING_DESC_F_NEXT, 1);
	for (unsigned i = 0; i < 4; i++)
		set_desc(TXD, 1 + i, TXB + 16384 * i, 16384, VRING_DESC_F_NEXT, (uint16_t)(2 + i));
	set_desc(TXD, 5, TXB + 65536, 15, 0, 0);
	tx_run("tx-too-long", 0, 1);

	tx_frame("tx-huge");
	for (unsigned i = 0; i < 5; i++)
		set_desc(TXD, 1 + i, TXB + 16384 * i, 16384, i < 4 ? VRING_DESC_F_NEXT : 0, (uint16_t)(2 + i));
	tx_run("tx-huge", 0, 1);
}

static void tx_address_cases(void)
{
	tx_hdr(0, 0, 0, 0, 0, 0);
	tx_frame("tx-past-end");
	set_desc(TXD, 0, TXH, 12, VRING_DESC_F_NEXT, 1);
	set_desc(TXD, 1, OUTSIDE, 60, 0, 0);
	tx_run("tx-past-end", 0, 1);

	/* A frame whose tail is not RAM: must not go out truncated. */
	tx_frame("tx-partial-oob");
	set_desc(TXD, 0, TXH, 12, VRING_DESC_F_NEXT, 1);
	set_desc(TXD, 1, TXB, 1000, VRING_DESC_F_NEXT, 2);
	set_desc(TXD, 2, OUTSIDE, 500, 0, 0);
	tx_run("tx-partial-oob", 0, 1);

	tx_frame("tx-hdr-oob");
	set_desc(TXD, 0, OUTSIDE, 12, VRING_DESC_F_NEXT, 1);
	set_desc(TXD, 1, TXB, 60, 0, 0);
	tx_run("tx-hdr-oob", 0, 1);

	tx_frame("tx-overflow");
	set_desc(TXD, 0, TXH, 12, VRING_DESC_F_NEXT, 1);
	set_desc(TXD, 1, TXB, 60, VRING_DESC_F_NEXT, 2);
	set_desc(TXD, 2, 0xfffffffffffff000UL, 0x2000, 0, 0);
	tx_run("tx-overflow", 0, 1);

	tx_frame("tx-huge-len");
	set_desc(TXD, 0, TXH, 12, VRING_DESC_F_NEXT, 1);
	set_desc(TXD, 1, TXB, 0xffffffffu, 0, 0);
	tx_run("tx-huge-len", 0, 1);
}

static void tx_shape_cases(void)
{
	tx_hdr(0, 0, 0, 0, 0, 0);
	tx_frame("tx-writable");
	set_desc(TXD, 0, TXH, 12, VRING_DESC_F_NEXT, 1);
	set_desc(TXD, 1, TXB, 60, VRING_DESC_F_WRITE, 0);
	tx_run("tx-writable", 0, 1);

	tx_frame("tx-all-writable");
	set_desc(TXD, 0, TXH, 12, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	set_desc(TXD, 1, TXB, 60, VRING_DESC_F_WRITE, 0);
	tx_run("tx-all-writable", 0, 1);

	tx_frame("tx-order");
	set_desc(TXD, 0, TXH, 12, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	set_desc(TXD, 1, TXB, 60, 0, 0);
	tx_run("tx-order", 0, 1);

	/* Every step of the cycle is a complete frame: none may go out. */
	tx_frame("tx-self-loop");
	memcpy((void *)(TXB - 12), (void *)TXH, 12);
	set_desc(TXD, 0, TXB - 12, 12 + 60, VRING_DESC_F_NEXT, 0);
	tx_run("tx-self-loop", 0, 1);

	tx_frame("tx-long-chain");
	set_desc(TXD, 0, TXH, 12, VRING_DESC_F_NEXT, 1);
	for (unsigned i = 1; i < QN; i++)
		set_desc(TXD, i, TXB + 64 * (i - 1), 64, VRING_DESC_F_NEXT, (uint16_t)((i + 1) % QN));
	tx_run("tx-long-chain", 0, 1);

	tx_frame("tx-next-oob");
	set_desc(TXD, 0, TXH, 12, VRING_DESC_F_NEXT, QN + 5);
	tx_run("tx-next-oob", 0, 1);
}

static void tx_indirect_cases(void)
{
	tx_hdr(0, 0, 0, 0, 0, 0);
	tx_frame("tx-ind-nested");
	set_desc(IND2, 0, TXH, 12, VRING_DESC_F_NEXT, 1);
	set_desc(IND2, 1, TXB, 60, 0, 0);
	set_desc(IND1, 0, IND2, 32, VRING_DESC_F_INDIRECT, 0);
	set_desc(TXD, 0, IND1, 16, VRING_DESC_F_INDIRECT, 0);
	tx_run("tx-ind-nested", 0, 1);

	tx_frame("tx-ind-oob");
	set_desc(TXD, 0, OUTSIDE, 32, VRING_DESC_F_INDIRECT, 0);
	tx_run("tx-ind-oob", 0, 1);

	tx_frame("tx-ind-len");
	set_desc(IND1, 0, TXH, 12, VRING_DESC_F_NEXT, 1);
	set_desc(IND1, 1, TXB, 60, 0, 0);
	set_desc(TXD, 0, IND1, 24, VRING_DESC_F_INDIRECT, 0);
	tx_run("tx-ind-len", 0, 1);

	set_desc(TXD, 0, IND1, 0, VRING_DESC_F_INDIRECT, 0);
	tx_run("tx-ind-zero", 0, 1);

	tx_frame("tx-ind-next");
	set_desc(TXD, 0, IND1, 32, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
	set_desc(TXD, 1, TXB + 60, 60, 0, 0);
	tx_run("tx-ind-next", 0, 1);

	tx_frame("tx-ind-idx");
	set_desc(IND1, 0, TXH, 12, VRING_DESC_F_NEXT, 5); /* the table has 2 entries */
	set_desc(TXD, 0, IND1, 32, VRING_DESC_F_INDIRECT, 0);
	tx_run("tx-ind-idx", 0, 1);

	tx_frame("tx-ind-huge");
	set_desc(IND1, 0, TXH, 12, VRING_DESC_F_NEXT, 1);
	set_desc(TXD, 0, IND1, 0x10000, VRING_DESC_F_INDIRECT, 0); /* 4096 entries */
	tx_run("tx-ind-huge", 0, 1);
}

static void tx_header_cases(void)
{
	/* Offloads that feature set A does not negotiate (or nobody offers). */
	static const struct {
		const char *name;
		uint8_t flags, gso;
	} c[] = {
		{"tx-csum", 1, 0},    {"tx-gso-tcp4", 0, 1}, {"tx-gso-udp", 0, 3},
		{"tx-gso-ecn", 0, 0x81}, {"tx-flags", 0x80, 0},
	};

	for (unsigned i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		tx_hdr(c[i].flags, c[i].gso, c[i].gso ? 54 : 0, c[i].gso ? 1000 : 0,
		       c[i].flags & 1 ? 14 : 0, c[i].flags & 1 ? 16 : 0);
		tx_frame(c[i].name);
		tx_chain2(100);
		tx_run(c[i].name, 0, 1);
	}
}

static void tx_ring_cases(void)
{
	tx_hdr(0, 0, 0, 0, 0, 0);
	tx_frame("tx-avail-jump");
	tx_chain2(60);
	tx_run("tx-avail-jump", 0, QN + 1);

	tx_frame("tx-head-oob");
	tx_chain2(60);
	tx_run("tx-head-oob", 200, 1);
}

static void tx_cases_b(void)
{
	tx_simple("txb-60", 60);

	tx_hdr(0, 0, 0, 0, 0, 0);
	tx_frame("txb-indirect"); /* INDIRECT_DESC not negotiated in B */
	set_desc(IND1, 0, TXH, 12, VRING_DESC_F_NEXT, 1);
	set_desc(IND1, 1, TXB, 200, 0, 0);
	set_desc(TXD, 0, IND1, 32, VRING_DESC_F_INDIRECT, 0);
	tx_run("txb-indirect", 0, 1);

	tx_hdr(0, 4, 54, 1000, 0, 0); /* TCPV6: only HOST_TSO4 negotiated */
	tx_frame("txb-gso-tcp6");
	tx_chain2(100);
	tx_run("txb-gso-tcp6", 0, 1);

	/* CSUM negotiated: a valid partial checksum where TCP over IPv4 would have it (Linux
	 * refuses csum_start below 20, i.e. inside the first IPv4 header bytes) */
	tx_hdr(1, 0, 0, 0, 34, 16);
	tx_frame("txb-csum");
	tx_chain2(100);
	tx_run("txb-csum", 0, 1);

	tx_simple("txb-1514", 1514);
}

/* ---- RX ---- */

static void rx_valid(unsigned i)
{
	set_desc(RXD, i, RXB + (uint64_t)i * RXBUF, RXBUF, VRING_DESC_F_WRITE, 0);
	rx_addr[i] = RXB + (uint64_t)i * RXBUF;
}

static void rx_reset(uint32_t feat)
{
	net_up(feat);
	memset((void *)BADB, 0x5a, 16 * SLOT);
	memset((void *)RXB, 0xa5, QN * RXBUF);
	for (unsigned i = 0; i < QN; i++) {
		rx_addr[i] = BADB + (uint64_t)(i % 16) * SLOT; /* RAM for a confused reader */
		rx_len[i] = NONE;
	}
}

/* Post valid buffers first..first+n-1 (descriptor = slot). */
static void rx_post(unsigned first, unsigned n)
{
	for (unsigned i = first; i < first + n; i++) {
		rx_valid(i);
		q_push(&rxq, (uint16_t)i);
	}
}

/* Announce, then report frames until the one marked last or a timeout. */
static void rx_phase(const char *phase)
{
	unsigned frames = 0, zero = 0, last = 0;
	uint32_t id, len;

	q_kick(&rxq);
	con_puts("PROBE net.rx-ready=");
	con_puts(phase);
	con_putc('\n');
	while (!last && q_wait(&rxq, RX_TSC)) {
		q_take(&rxq, &id, &len);
		if (id >= QN) {
			probe_error("net-rx-bad-id");
			break;
		}
		rx_len[id] = len;
		if (len == 0) {
			zero++;
			continue;
		}
		uint64_t a = rx_addr[id];
		volatile uint8_t *b = (volatile uint8_t *)a;
		uint16_t nb = *(volatile uint16_t *)(a + 10);
		uint8_t flags = b[0], gso = b[1];
		int foreign = len < 12 + 16 || b[12 + 12] != ETYPE_HI || b[12 + 13] != ETYPE_LO;
		int marker = len >= 12 + 15 && b[12 + 14] == 1;
		uint64_t h = 0xcbf29ce484222325ULL, total = 0;
		unsigned k = 1;

		if (len > 12) {
			h = fnv_add(h, a + 12, len - 12);
			total = len - 12;
		}
		for (; k < nb && k < 64; k++) {
			if (!q_wait(&rxq, RX_TSC))
				break;
			q_take(&rxq, &id, &len);
			if (id >= QN)
				break;
			rx_len[id] = len;
			h = fnv_add(h, rx_addr[id], len);
			total += len;
		}
		if (foreign)
			continue;
		con_puts("PROBE net.");
		con_puts(phase);
		con_putc('-');
		con_dec(frames++);
		con_puts("=len=");
		con_dec(total);
		kv("bufs", nb, 0);
		con_puts(" fnv=");
		put_hex16(h);
		kv("flags", flags, 1);
		kv("gso", gso, 0);
		if (k < nb)
			kv("missing", nb - k, 0);
		con_putc('\n');
		last = marker;
	}
	con_puts("PROBE net.");
	con_puts(phase);
	con_puts("-end=");
	con_puts("frames=");
	con_dec(frames);
	kv("zero", zero, 0);
	kv("last", last, 0);
	kv("devstatus", vr(VIRTIO_MMIO_STATUS), 1);
	con_putc('\n');
}

static int slot_intact(unsigned k)
{
	const volatile uint8_t *p = (const volatile uint8_t *)(BADB + (uint64_t)k * SLOT);

	for (unsigned i = 0; i < SLOT; i++)
		if (p[i] != 0x5a)
			return 0;
	return 1;
}

static const char *const rxh_names[] = {
	"readable", "oob",	"overflow",   "zero-len", "short",    "loop",	  "mixed",
	"order",    "ind-nested", "ind-oob", "partial-oob", "huge-len", "ind-len",
};
#define RXH_N (sizeof(rxh_names) / sizeof(rxh_names[0]))

/* Hostile RX chain k: head 2k (and 2k+1), buffers inside slot k only. */
static void rxh_build(unsigned k)
{
	unsigned d = 2 * k;
	uint64_t s = BADB + (uint64_t)k * SLOT;
	uint64_t t1 = IND1 + 0x40 * k, t2 = IND2 + 0x40 * k;

	switch (k) {
	case 0: /* readable */
		set_desc(RXD, d, s, SLOT, 0, 0);
		break;
	case 1: /* oob */
		set_desc(RXD, d, OUTSIDE, RXBUF, VRING_DESC_F_WRITE, 0);
		break;
	case 2: /* overflow */
		set_desc(RXD, d, 0xfffffffffffff000UL, 0x2000, VRING_DESC_F_WRITE, 0);
		break;
	case 3: /* zero-len */
		set_desc(RXD, d, s, 0, VRING_DESC_F_WRITE, 0);
		break;
	case 4: /* short: below the header */
		set_desc(RXD, d, s, 8, VRING_DESC_F_WRITE, 0);
		break;
	case 5: /* loop */
		set_desc(RXD, d, s, 64, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, (uint16_t)d);
		break;
	case 6: /* mixed: readable, then writable */
		set_desc(RXD, d, s, 16, VRING_DESC_F_NEXT, (uint16_t)(d + 1));
		set_desc(RXD, d + 1, s + 0x400, 0x400, VRING_DESC_F_WRITE, 0);
		break;
	case 7: /* order: writable, then readable */
		set_desc(RXD, d, s, 0x400, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, (uint16_t)(d + 1));
		set_desc(RXD, d + 1, s + 0x400, 16, 0, 0);
		break;
	case 8: /* ind-nested */
		set_desc(t2, 0, s, SLOT, VRING_DESC_F_WRITE, 0);
		set_desc(t1, 0, t2, 16, VRING_DESC_F_INDIRECT, 0);
		set_desc(RXD, d, t1, 16, VRING_DESC_F_INDIRECT, 0);
		break;
	case 9: /* ind-oob */
		set_desc(RXD, d, OUTSIDE, 16, VRING_DESC_F_INDIRECT, 0);
		break;
	case 10: /* partial-oob: a good first half, the rest not RAM */
		set_desc(RXD, d, s, SLOT, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, (uint16_t)(d + 1));
		set_desc(RXD, d + 1, OUTSIDE, RXBUF, VRING_DESC_F_WRITE, 0);
		break;
	case 11: /* huge-len */
		set_desc(RXD, d, s, 0xffffffffu, VRING_DESC_F_WRITE, 0);
		break;
	default: /* ind-len */
		set_desc(t1, 0, s, SLOT, VRING_DESC_F_WRITE, 0);
		set_desc(RXD, d, t1, 20, VRING_DESC_F_INDIRECT, 0);
		break;
	}
	q_push(&rxq, (uint16_t)d);
}

static void rx_hostile(void)
{
	uint32_t id, len;

	rx_reset(FEAT_A);
	for (unsigned k = 0; k < RXH_N; k++)
		rxh_build(k);
	/* The first valid buffer through an indirect table, the header split 6 + 10 (num_buffers
	 * in the second piece), the rest 2032: contiguous, so the reader sees one buffer. */
	uint64_t a = RXB + 26UL * RXBUF, t = IND1 + 0x400;

	set_desc(t, 0, a, 6, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	set_desc(t, 1, a + 6, 10, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
	set_desc(t, 2, a + 16, RXBUF - 16, VRING_DESC_F_WRITE, 0);
	set_desc(RXD, 26, t, 48, VRING_DESC_F_INDIRECT, 0);
	rx_addr[26] = a;
	q_push(&rxq, 26);
	rx_post(27, 5);
	rx_phase("rxh");
	for (unsigned k = 0; k < RXH_N; k++) {
		con_puts("PROBE net.rxh-");
		con_puts(rxh_names[k]);
		con_puts("=used_len=");
		if (rx_len[2 * k] == NONE)
			con_puts("none");
		else
			con_dec(rx_len[2 * k]);
		kv("intact", slot_intact(k), 0);
		con_putc('\n');
	}

	/* A bad chain in the middle of a merged frame: the frame must be dropped whole. */
	rx_reset(FEAT_A);
	rx_post(26, 1);
	rxh_build(0);
	rx_post(27, 5);
	rx_phase("rxm");

	/* The ring itself: avail idx more than the queue size ahead. */
	rx_reset(FEAT_A);
	rx_valid(0);
	for (unsigned i = 0; i < QN + 1; i++)
		q_push(&rxq, 0);
	q_kick(&rxq);
	int got = q_wait(&rxq, WAIT_TSC);

	line("rx-avail-jump");
	con_puts("used=");
	if (got) {
		q_take(&rxq, &id, &len);
		con_dec(len);
	} else {
		con_puts("none");
	}
	kv("devstatus", vr(VIRTIO_MMIO_STATUS), 1);
	con_putc('\n');

	/* A head past the queue, found when a frame arrives. */
	rx_reset(FEAT_A);
	q_push(&rxq, 200);
	rx_phase("rxo");
	line("rx-head-oob");
	con_puts("used=");
	if (((volatile uint16_t *)RXU)[1] != rxq.useen)
		con_dec(((volatile uint16_t *)RXU)[1]);
	else
		con_puts("none");
	kv("devstatus", vr(VIRTIO_MMIO_STATUS), 1);
	con_putc('\n');
}

/* ---- the mode ---- */

/*
 * ---- rx-flood: malformed RX chains without end, from a second CPU ----
 *
 * The AP keeps the RX ring all but full of device-readable (so unusable)
 * chains, refilling as fast as the device takes them: it sees each one taken
 * in the used ring (a sentinel length in every element, overwritten by the
 * device's 0). A device that keeps taking them while it holds its lock
 * locks its own vCPUs out of the register window; the BSP times register
 * writes meanwhile (QueueSel: an exit that takes the device lock).
 */
#define FLOOD_SENTINEL 0xfffffff0u
#define FLOOD_WRITES 50
static volatile uint32_t flood_stop = 0, flood_done = 0, flood_cons = 0;

static void flood_ap(void)
{
	volatile uint32_t *ue = (volatile uint32_t *)(RXU + 4); /* id, len per element */
	volatile uint16_t *av = (volatile uint16_t *)RXA;
	uint32_t cons = 0;
	uint16_t aidx = 0;

	uint64_t last = rdtsc();

	/* Bounded: a device that never yields shows as one very long register write. */
	for (uint64_t t0 = last; !flood_stop && rdtsc() - t0 < 8000 * TSC_MS;) {
		while (ue[2 * (cons % QN) + 1] != FLOOD_SENTINEL) {
			ue[2 * (cons % QN) + 1] = FLOOD_SENTINEL;
			cons++;
			last = rdtsc();
		}
		flood_cons = cons;
		if ((uint16_t)(aidx - cons) < QN - 1) {
			while ((uint16_t)(aidx - cons) < QN - 1) {
				av[2 + aidx % QN] = (uint16_t)(aidx % QN);
				aidx++;
			}
			barrier();
			av[1] = aidx;
			barrier();
		}
		/* A device busy with the ring sees new chains without a notify (an exit): only an idle one needs it. */
		if (rdtsc() - last > TSC_MS / 20) {
			vw(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
			last = rdtsc();
		}
	}
	flood_done = 1;
}

void hostile_rx_flood(void)
{
	if (net_find() < 0) {
		probe_error("net-absent");
		return;
	}
	if (ap_count < 1) {
		probe_error("flood-needs-2-cpus");
		return;
	}
	if (net_up(FEAT_A) < 0)
		return;
	for (unsigned i = 0; i < QN; i++)
		set_desc(RXD, i, BADB, 64, 0, 0); /* device-readable: no frame may go there */
	for (unsigned i = 0; i < QN; i++)
		((volatile uint32_t *)(RXU + 4))[2 * i + 1] = FLOOD_SENTINEL;
	con_puts("PROBE net.rx-ready=flood\n"); /* the host sends frames that wait for room */
	ap_work = flood_ap;
	uint64_t t0 = rdtsc();

	while (flood_cons < 4 * QN && rdtsc() - t0 < 3000 * TSC_MS)
		cpu_relax();
	uint64_t worst = 0;

	for (int i = 0; i < FLOOD_WRITES; i++) {
		uint64_t w = rdtsc();

		vw(VIRTIO_MMIO_QUEUE_SEL, 0);
		w = rdtsc() - w;
		if (w > worst)
			worst = w;
		delay_tsc(TSC_MS / 2);
	}
	uint32_t during = flood_cons;

	flood_stop = 1;
	while (!flood_done)
		cpu_relax();
	line("flood");
	con_puts("writes=");
	con_dec(FLOOD_WRITES);
	kv("worst_us", worst * 1000 / TSC_MS, 0);
	kv("chains", during, 0);
	kv("devstatus", vr(VIRTIO_MMIO_STATUS), 1);
	con_putc('\n');
}

void hostile_net_chains(void)
{
	uint8_t *t = (uint8_t *)TXB;

	if (net_find() < 0) {
		probe_error("net-absent");
		return;
	}
	line("base");
	con_hex(vio);
	con_putc('\n');
	for (unsigned i = 0; i < TXB_LEN; i++)
		t[i] = (uint8_t)(i * 13 + 5);
	if (net_up(FEAT_A) < 0)
		return;
	line("mac");
	for (unsigned i = 0; i < 6; i++) {
		mac[i] = *(volatile uint8_t *)(vio + VIRTIO_MMIO_CONFIG + i);
		if (i)
			con_putc(':');
		con_putc("0123456789abcdef"[mac[i] >> 4]);
		con_putc("0123456789abcdef"[mac[i] & 15]);
	}
	con_putc('\n');
	line("link");
	con_dec(*(volatile uint16_t *)(vio + VIRTIO_MMIO_CONFIG + 6));
	con_putc('\n');

	rx_reset(FEAT_A);
	rx_post(0, QN);
	rx_phase("rxa");
	/* rxd: three 40 KiB buffers hold a largest frame, so kvmrun reads straight into them. */
	rx_reset(FEAT_A);
	for (unsigned i = 0; i < 3; i++) {
		set_desc(RXD, i, RXB + i * RXD_BUF, RXD_BUF, VRING_DESC_F_WRITE, 0);
		rx_addr[i] = RXB + i * RXD_BUF;
		q_push(&rxq, (uint16_t)i);
	}
	rx_phase("rxd");
	rx_hostile();

	net_up(FEAT_A);
	tx_valid_a();
	tx_length_cases();
	tx_address_cases();
	tx_shape_cases();
	tx_indirect_cases();
	tx_header_cases();
	tx_ring_cases();
	tx_simple("tx-after", 60);

	rx_reset(FEAT_B);
	rx_post(0, QN);
	rx_phase("rxb");
	net_up(FEAT_B);
	tx_cases_b();
	vw(VIRTIO_MMIO_STATUS, 0);
	con_puts("PROBE net.done\n");
}
