/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz harness kit: fake guest RAM, an input cursor, and the guest's side of a virtio-mmio device. */
#ifndef KVMRUN_FUZZ_COMMON_H
#define KVMRUN_FUZZ_COMMON_H

#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../mem.h"
#include "../virtio.h"

/*
 * The queue targets read their input as a script: one opcode byte, then the
 * operands that opcode takes (little endian); a truncated operand reads as 0.
 * The script is the guest: it writes its RAM, programs the register file
 * with any offset, width and value, and notifies queues. The same encoding
 * is produced by fuzz/mkseeds.py for the committed seeds.
 */
enum {
	OP_MMIO_W, /* u16 off, u8 width sel, u64 value: one register write */
	OP_MMIO_R, /* u16 off, u8 width sel: one register read */
	OP_MEM,	   /* u32 gpa sel, u8 len, len bytes: the guest writes its RAM */
	OP_INIT,   /* u64 features, u8 how: reset, ACK, DRIVER, features, FEATURES_OK */
	OP_QUEUE,  /* u8 q, u16 num, u32 desc, u32 avail, u32 used sels: program q, QueueReady */
	OP_GO,	   /* status |= DRIVER_OK */
	OP_DESC,   /* u8 q, u8 i, u8 mode, u64 addr, u32 len, u16 flags, u16 next */
	OP_OFFER,  /* u8 q, u16 head: avail ring[idx % num] = head, idx++ */
	OP_AVAIL,  /* u8 q, u16 idx, u16 used_event, u16 flags: raw avail header fields */
	OP_KICK,   /* u8 q, u32 len: notify q (and let the device run); len for a dummy device */
	OP_EXTRA,  /* target-specific: the direct walker, a frame from the tap, ... */
	OP_COUNT
};

#define FZ_LOW 0xC0000ULL  /* 768 KiB of low RAM at 0 */
#define FZ_HIGH 0x40000ULL /* 256 KiB of high RAM at MEM_HIGH_START */
#define FZ_MAX_OPS 192

/* A broken promise is a crash for libFuzzer. Written to fd 2 (a target may silence stderr). */
#define FZ_ASSERT(cond, ...)                                                               \
	do {                                                                               \
		if (!(cond)) {                                                             \
			dprintf(2, "fuzz invariant broken (%s:%d): ", __FILE__, __LINE__); \
			dprintf(2, __VA_ARGS__);                                           \
			dprintf(2, "\n");                                                  \
			abort();                                                           \
		}                                                                          \
	} while (0)

struct fz_in {
	const uint8_t *p;
	size_t n;
};

static inline uint64_t fz_get(struct fz_in *in, unsigned bytes)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < bytes; i++) {
		uint8_t b = 0;

		if (in->n) {
			b = *in->p++;
			in->n--;
		}
		v |= (uint64_t)b << (8 * i);
	}
	return v;
}

#define fz_u8(in) ((uint8_t)fz_get(in, 1))
#define fz_u16(in) ((uint16_t)fz_get(in, 2))
#define fz_u32(in) ((uint32_t)fz_get(in, 4))
#define fz_u64(in) fz_get(in, 8)

/*
 * Fake RAM with both regions of the real layout, as one allocation (made
 * once, zeroed per input): [0, FZ_LOW) low RAM, then FZ_HIGH bytes that
 * mem_gpa maps at MEM_HIGH_START. Small on purpose, so that a fuzzer-chosen
 * address often lands in RAM, near its edges, or just past them.
 */
static inline void fz_mem(struct guest_mem *m)
{
	if (!m->host) {
		m->host = aligned_alloc(4096, FZ_LOW + FZ_HIGH);
		if (!m->host)
			abort();
		m->size = FZ_LOW + FZ_HIGH;
		m->low_size = FZ_LOW;
	}
	memset(m->host, 0, FZ_LOW + FZ_HIGH);
}

/* A guest-physical address from 32 input bits: in either RAM region or up to 4 KiB past it. */
static inline uint64_t fz_gpa(uint32_t sel)
{
	if (sel & 0x80000000u)
		return MEM_HIGH_START + (sel & 0x7fffffffu) % (FZ_HIGH + 0x1000);
	return sel % (FZ_LOW + 0x1000);
}

/* Is host range [p, p+len) wholly inside one RAM region? */
static inline bool fz_in_ram(const struct guest_mem *m, const void *p, uint64_t len)
{
	const uint8_t *b = p;
	const uint8_t *lo = m->host, *mid = m->host + m->low_size, *hi = m->host + m->size;

	if (b >= lo && b <= mid && len <= (uint64_t)(mid - b))
		return true;
	return b >= mid && b <= hi && len <= (uint64_t)(hi - b);
}

/* The guest stores bytes: whatever part lies in RAM lands, the rest is lost. */
static inline void fz_store(const struct guest_mem *m, uint64_t gpa, const void *src, size_t len)
{
	uint8_t *dst = mem_gpa(m, gpa, len);

	if (dst) {
		memcpy(dst, src, len);
		return;
	}
	for (size_t i = 0; i < len; i++)
		if ((dst = mem_gpa(m, gpa + i, 1)))
			*dst = ((const uint8_t *)src)[i];
}

static inline uint16_t fz_load16(const struct guest_mem *m, uint64_t gpa)
{
	uint16_t v = 0;
	const uint8_t *s = mem_gpa(m, gpa, 2);

	if (s)
		memcpy(&v, s, 2);
	return v;
}

static inline void fz_store16(const struct guest_mem *m, uint64_t gpa, uint16_t v)
{
	fz_store(m, gpa, &v, 2);
}

/*
 * A walked chain must keep the walker's promises: at most VIRTQ_MAX_SIZE
 * buffers, every one inside one RAM region, byte totals that add up, and a
 * tail (if any) that is the last byte of the last writable buffer.
 */
static inline void fz_check_chain(const struct guest_mem *m, const struct virtq_chain *c)
{
	uint64_t rd = 0, wr = 0;
	unsigned n = (unsigned)c->nr + c->nw;

	FZ_ASSERT(n <= VIRTQ_MAX_SIZE, "chain has %u buffers", n);
	for (unsigned i = 0; i < n; i++) {
		FZ_ASSERT(fz_in_ram(m, c->iov[i].iov_base, c->iov[i].iov_len),
			  "buffer %u (%p+%zu) is not guest RAM", i, c->iov[i].iov_base,
			  c->iov[i].iov_len);
		if (i < c->nr)
			rd += c->iov[i].iov_len;
		else
			wr += c->iov[i].iov_len;
	}
	FZ_ASSERT(rd == c->rd_len && wr == c->wr_len, "totals %llu/%llu, counted %llu/%llu",
		  (unsigned long long)c->rd_len, (unsigned long long)c->wr_len,
		  (unsigned long long)rd, (unsigned long long)wr);
	if (c->tail) {
		FZ_ASSERT(c->nw > 0, "tail without a writable buffer");
		const struct iovec *v = &c->iov[n - 1];

		FZ_ASSERT(v->iov_len > 0 && c->tail == (uint8_t *)v->iov_base + v->iov_len - 1,
			  "tail is not the last writable byte");
	}
	/* Every descriptor of a good chain was recorded, and a chain has at least one. */
	if (c->err == 0)
		FZ_ASSERT(n > 0, "a good chain with no buffers");
}

/* One register access as a vCPU makes it: width 1, 2, 4 or 8 at any offset of the window. */
static inline void fz_mmio_w(struct virtio_dev *vd, uint64_t off, unsigned wsel, uint64_t v)
{
	uint32_t len = 1u << (wsel & 3);

	virtio_mmio_ops.write(vd, off % VIRTIO_MMIO_SIZE, (const uint8_t *)&v, len);
}

static inline uint64_t fz_mmio_r(struct virtio_dev *vd, uint64_t off, unsigned wsel)
{
	uint64_t v = 0;
	uint32_t len = 1u << (wsel & 3);

	virtio_mmio_ops.read(vd, off % VIRTIO_MMIO_SIZE, (uint8_t *)&v, len);
	return v;
}

static inline void fz_w32(struct virtio_dev *vd, uint64_t off, uint32_t v)
{
	fz_mmio_w(vd, off, 2, v);
}

static inline uint32_t fz_r32(struct virtio_dev *vd, uint64_t off)
{
	return (uint32_t)fz_mmio_r(vd, off, 2);
}

/* What a queue op needs to know of queue q: what the guest programmed (0s for no such queue). */
static inline const struct virtq *fz_q(const struct virtio_dev *vd, unsigned q)
{
	return q < vd->nq ? &vd->q[q] : NULL;
}

/*
 * The generic ops; returns true when it handled `op`. OP_KICK and OP_EXTRA
 * are left to the target (it knows how its device runs).
 */
static inline bool fz_common_op(struct virtio_dev *vd, const struct guest_mem *m, unsigned op,
				struct fz_in *in)
{
	switch (op) {
	case OP_MMIO_W: {
		uint16_t off = fz_u16(in);
		uint8_t w = fz_u8(in);

		fz_mmio_w(vd, off, w, fz_u64(in));
		return true;
	}
	case OP_MMIO_R: {
		uint16_t off = fz_u16(in);

		fz_mmio_r(vd, off, fz_u8(in));
		return true;
	}
	case OP_MEM: {
		uint64_t gpa = fz_gpa(fz_u32(in));
		uint8_t len = fz_u8(in), buf[256];

		if (len > in->n)
			len = (uint8_t)in->n;
		memcpy(buf, in->p, len);
		in->p += len;
		in->n -= len;
		fz_store(m, gpa, buf, len);
		return true;
	}
	case OP_INIT: {
		uint64_t f = fz_u64(in);
		uint8_t how = fz_u8(in);
		uint32_t s = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;

		fz_w32(vd, 0x70, 0);
		fz_w32(vd, 0x70, VIRTIO_CONFIG_S_ACKNOWLEDGE);
		fz_w32(vd, 0x70, s);
		if (how & 1) { /* a well-behaved driver takes a subset of the offer */
			uint64_t dev;

			fz_w32(vd, 0x14, 0);
			dev = fz_r32(vd, 0x10);
			fz_w32(vd, 0x14, 1);
			dev |= (uint64_t)fz_r32(vd, 0x10) << 32;
			f &= dev;
			f |= 1ULL << VIRTIO_F_VERSION_1;
		}
		fz_w32(vd, 0x24, 0);
		fz_w32(vd, 0x20, (uint32_t)f);
		fz_w32(vd, 0x24, 1);
		fz_w32(vd, 0x20, (uint32_t)(f >> 32));
		if (!(how & 2))
			fz_w32(vd, 0x70, s | VIRTIO_CONFIG_S_FEATURES_OK);
		return true;
	}
	case OP_QUEUE: {
		uint8_t q = fz_u8(in);
		uint16_t num = fz_u16(in);
		uint64_t d = fz_gpa(fz_u32(in)), a = fz_gpa(fz_u32(in)), u = fz_gpa(fz_u32(in));

		fz_w32(vd, 0x30, q);
		fz_w32(vd, 0x38, num);
		fz_w32(vd, 0x80, (uint32_t)d);
		fz_w32(vd, 0x84, (uint32_t)(d >> 32));
		fz_w32(vd, 0x90, (uint32_t)a);
		fz_w32(vd, 0x94, (uint32_t)(a >> 32));
		fz_w32(vd, 0xa0, (uint32_t)u);
		fz_w32(vd, 0xa4, (uint32_t)(u >> 32));
		fz_w32(vd, 0x44, 1);
		return true;
	}
	case OP_GO:
		fz_w32(vd, 0x70, fz_r32(vd, 0x70) | VIRTIO_CONFIG_S_DRIVER_OK);
		return true;
	case OP_DESC: {
		const struct virtq *vq = fz_q(vd, fz_u8(in));
		uint8_t i = fz_u8(in), mode = fz_u8(in);
		uint64_t addr = fz_u64(in);
		struct vring_desc dsc = { .len = fz_u32(in) };

		dsc.flags = fz_u16(in);
		dsc.next = fz_u16(in);
		/* mode bit 0: addr is raw; else its low 32 bits pick a RAM-ish address. */
		dsc.addr = (mode & 1) ? addr : fz_gpa((uint32_t)addr);
		if (vq && vq->num)
			fz_store(m, vq->desc_gpa + 16ULL * (i % vq->num), &dsc, sizeof(dsc));
		return true;
	}
	case OP_OFFER: {
		const struct virtq *vq = fz_q(vd, fz_u8(in));
		uint16_t head = fz_u16(in);

		if (vq && vq->num) {
			uint16_t idx = fz_load16(m, vq->avail_gpa + 2);

			fz_store16(m, vq->avail_gpa + 4 + 2ULL * (idx % vq->num), head);
			fz_store16(m, vq->avail_gpa + 2, (uint16_t)(idx + 1));
		}
		return true;
	}
	case OP_AVAIL: {
		const struct virtq *vq = fz_q(vd, fz_u8(in));
		uint16_t idx = fz_u16(in), ev = fz_u16(in), fl = fz_u16(in);

		if (vq && vq->num) {
			fz_store16(m, vq->avail_gpa, fl);
			fz_store16(m, vq->avail_gpa + 2, idx);
			fz_store16(m, vq->avail_gpa + 4 + 2ULL * vq->num, ev);
		}
		return true;
	}
	default:
		return false;
	}
}

#endif
