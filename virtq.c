// SPDX-License-Identifier: Apache-2.0
/* Split virtqueues: ring field access, the one chain walker, and iovec helpers. */
#include "virtq.h"

#include <linux/virtio_ring.h>
#include <string.h>

/* ---- ring field access: host views set up by queue_enable() in virtio.c ---- */
/*
 * The ring addresses were checked for alignment and range when the queue was
 * enabled, so these are aligned accesses inside guest RAM. The guest writes
 * them concurrently: every read is a single atomic load.
 */
uint16_t virtq_avail_flags(const struct virtq *vq)
{
	return __atomic_load_n((uint16_t *)vq->avail, __ATOMIC_RELAXED);
}

uint16_t virtq_avail_idx(const struct virtq *vq)
{
	/* Acquire: ring entries below idx are read after idx. */
	return __atomic_load_n((uint16_t *)(vq->avail + 2), __ATOMIC_ACQUIRE);
}

uint16_t virtq_avail_ring(const struct virtq *vq, uint16_t slot)
{
	return __atomic_load_n((uint16_t *)(vq->avail + 4 + 2 * (slot % vq->num)),
			       __ATOMIC_RELAXED);
}

uint16_t virtq_used_event(const struct virtq *vq)
{
	return __atomic_load_n((uint16_t *)(vq->avail + 4 + 2 * vq->num), __ATOMIC_RELAXED);
}

void virtq_set_avail_event(struct virtq *vq, uint16_t v)
{
	__atomic_store_n((uint16_t *)(vq->used + 4 + 8 * vq->num), v, __ATOMIC_RELAXED);
}

void virtq_push_used(struct virtq *vq, uint16_t id, uint32_t len)
{
	uint32_t *e = (uint32_t *)(vq->used + 4 + 8 * (vq->used_idx % vq->num));

	__atomic_store_n(&e[0], id, __ATOMIC_RELAXED);
	__atomic_store_n(&e[1], len, __ATOMIC_RELAXED);
	vq->used_idx++;
	/* Release: the element is visible before the index that publishes it. */
	__atomic_store_n((uint16_t *)(vq->used + 2), vq->used_idx, __ATOMIC_RELEASE);
}

/* ---- the walker ---- */

/* Read one descriptor exactly once; later decisions use only the copy. */
static void desc_snapshot(const uint8_t *table, uint32_t i, struct vring_desc *d)
{
	memcpy(d, table + 16 * (size_t)i, sizeof(*d));
	/* The compiler may not re-load from guest memory in place of the copy. */
	__asm__ volatile("" ::: "memory");
}

static void add_iov(struct virtq_chain *c, void *p, uint32_t len, bool wr)
{
	struct iovec *v = &c->iov[c->nr + c->nw];

	v->iov_base = p;
	v->iov_len = len;
	if (wr) {
		c->nw++;
		c->wr_len += len;
	} else {
		c->nr++;
		c->rd_len += len;
	}
}

/*
 * Rules (virtio 1.x 2.7.5, 2.7.5.3):
 *   - head and every `next` index < the size of the table they index;
 *   - at most `num` steps through the descriptor table and at most the
 *     table's entry count through an indirect table, so a cycle ends as
 *     VIRTQ_E_LOOP; at most VIRTQ_MAX_SIZE buffers in all;
 *   - every buffer and every indirect table through mem_gpa() (range and
 *     overflow); zero-length buffers are allowed (they cost a step);
 *   - indirect: only when negotiated, never with NEXT, never inside an
 *     indirect table, length a non-zero multiple of 16 and at most
 *     VIRTQ_MAX_SIZE entries; its own WRITE flag is ignored (per spec);
 *   - device-readable buffers all come before device-writable ones.
 * A buffer outside RAM (E_ADDR) or out of order (E_ORDER) leaves the chain's
 * structure intact, so the walk goes on to the end without recording it:
 * the device may still answer through the last writable byte. Structural
 * errors stop the walk.
 */
int virtq_walk(const struct guest_mem *mem, const struct virtq *vq, bool indirect_ok,
	       uint16_t head, struct virtq_chain *c)
{
	const uint8_t *table = vq->desc;
	uint32_t tsize = vq->num, steps = 0, idx = head;
	bool nested = false, last_ok = false;

	c->head = head;
	c->nr = c->nw = 0;
	c->rd_len = c->wr_len = 0;
	c->err = 0;
	c->tail = NULL;
	if (idx >= tsize)
		return c->err = VIRTQ_E_INDEX;
	for (;;) {
		struct vring_desc d;

		if (++steps > tsize)
			return c->err = VIRTQ_E_LOOP;
		desc_snapshot(table, idx, &d);
		if (d.flags & VRING_DESC_F_INDIRECT) {
			if (!indirect_ok || nested || (d.flags & VRING_DESC_F_NEXT) ||
			    d.len == 0 || d.len % 16 || d.len / 16 > VIRTQ_MAX_SIZE)
				return c->err = VIRTQ_E_INDIRECT;
			table = mem_gpa(mem, d.addr, d.len);
			if (!table)
				return c->err = VIRTQ_E_ADDR;
			tsize = d.len / 16;
			idx = 0;
			steps = 0;
			nested = true;
			continue;
		}
		bool wr = d.flags & VRING_DESC_F_WRITE;
		void *p = mem_gpa(mem, d.addr, d.len);

		last_ok = false;
		if (c->nr + c->nw == VIRTQ_MAX_SIZE)
			return c->err = VIRTQ_E_LOOP;
		if (!p) {
			c->err = c->err ? c->err : VIRTQ_E_ADDR;
		} else if (!wr && c->nw) {
			c->err = c->err ? c->err : VIRTQ_E_ORDER;
		} else {
			add_iov(c, p, d.len, wr);
			last_ok = wr && d.len > 0;
		}
		if (!(d.flags & VRING_DESC_F_NEXT))
			break;
		if (d.next >= tsize)
			return c->err = VIRTQ_E_INDEX;
		idx = d.next;
	}
	if (last_ok) {
		const struct iovec *v = &c->iov[c->nr + c->nw - 1];

		c->tail = (uint8_t *)v->iov_base + v->iov_len - 1;
	}
	return c->err;
}

/* ---- iovec helpers ---- */

int virtq_iov_slice(const struct iovec *iov, unsigned n, uint64_t off, uint64_t len,
		    struct iovec *dst, unsigned max)
{
	unsigned k = 0;

	for (unsigned i = 0; i < n && len > 0; i++) {
		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		uint64_t take = iov[i].iov_len - off;

		if (take > len)
			take = len;
		if (k == max)
			return -1;
		dst[k].iov_base = (uint8_t *)iov[i].iov_base + off;
		dst[k].iov_len = take;
		k++;
		len -= take;
		off = 0;
	}
	return len ? -1 : (int)k;
}

/* Copy between a flat buffer and the iovec bytes [off, off + len); to_iov picks the direction. */
static size_t iov_copy(const struct iovec *iov, unsigned n, uint64_t off, uint8_t *buf,
		       size_t len, bool to_iov)
{
	size_t done = 0;

	for (unsigned i = 0; i < n && done < len; i++) {
		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		size_t take = iov[i].iov_len - off;

		if (take > len - done)
			take = len - done;
		uint8_t *p = (uint8_t *)iov[i].iov_base + off;
		if (to_iov)
			memcpy(p, buf + done, take);
		else
			memcpy(buf + done, p, take);
		done += take;
		off = 0;
	}
	return done;
}

size_t virtq_iov_read(const struct iovec *iov, unsigned n, uint64_t off, void *dst, size_t len)
{
	return iov_copy(iov, n, off, dst, len, false);
}

size_t virtq_iov_write(const struct iovec *iov, unsigned n, uint64_t off, const void *src,
		       size_t len)
{
	/* iov_copy only reads buf in this direction. */
	return iov_copy(iov, n, off, (uint8_t *)(uintptr_t)src, len, true);
}
