// SPDX-License-Identifier: Apache-2.0
/* Split virtqueues: the rings (pop, fill, flush, notify decisions), the one chain walker, iovecs. */
#include "virtq.h"

#include <linux/virtio_ring.h>
#include <stddef.h>
#include <string.h>

/* ---- ring fields ---- */
/*
 * The rings were checked for alignment and range by virtq_enable, so these
 * are aligned accesses inside guest RAM. The guest writes them concurrently:
 * every access is a single atomic load or store.
 */
static uint16_t avail_flags(const struct virtq *vq)
{
	return __atomic_load_n(&vq->avail->flags, __ATOMIC_RELAXED);
}

static uint16_t avail_idx(const struct virtq *vq)
{
	/* Acquire: ring entries below idx are read after idx. */
	return __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE);
}

static uint16_t avail_ring(const struct virtq *vq, uint16_t slot)
{
	return __atomic_load_n(&vq->avail->ring[slot % vq->num], __ATOMIC_RELAXED);
}

/* used_event: the word after avail->ring (meaningful only with EVENT_IDX). */
static uint16_t used_event(const struct virtq *vq)
{
	return __atomic_load_n(&vq->avail->ring[vq->num], __ATOMIC_RELAXED);
}

/* avail_event: the word after used->ring. */
static void set_avail_event(struct virtq *vq, uint16_t v)
{
	__atomic_store_n((uint16_t *)&vq->used->ring[vq->num], v, __ATOMIC_RELAXED);
}

/* ---- the ring operations ---- */

bool virtq_enable(struct virtq *vq, const struct guest_mem *mem)
{
	uint32_t n = vq->num;

	vq->desc = NULL;
	vq->avail = NULL;
	vq->used = NULL;
	if (n == 0 || n > VIRTQ_MAX_SIZE || (n & (n - 1)) || vq->desc_gpa % 16 ||
	    vq->avail_gpa % 2 || vq->used_gpa % 4)
		return false;
	/* The event words (used_event, avail_event) are there whether or not negotiated. */
	void *desc = mem_gpa(mem, vq->desc_gpa, sizeof(struct vring_desc) * n);
	void *avail = mem_gpa(mem, vq->avail_gpa,
			      offsetof(struct vring_avail, ring) + sizeof(uint16_t) * (n + 1));
	void *used = mem_gpa(mem, vq->used_gpa,
			     offsetof(struct vring_used, ring) +
				     sizeof(struct vring_used_elem) * n + sizeof(uint16_t));
	if (!desc || !avail || !used)
		return false;
	vq->desc = desc;
	vq->avail = avail;
	vq->used = used;
	vq->last_avail = vq->used_idx = vq->signalled_used = 0;
	return true;
}

int virtq_pending(const struct virtq *vq)
{
	uint16_t pending = (uint16_t)(avail_idx(vq) - vq->last_avail);

	/* The driver claims more buffers than the ring holds. */
	return pending > vq->num ? VIRTQ_BROKEN : pending;
}

int virtq_pop(struct virtq *vq, const struct guest_mem *mem, struct virtq_chain *c)
{
	int n = virtq_pending(vq);

	if (n <= 0)
		return n;
	uint16_t head = avail_ring(vq, vq->last_avail);

	/* No chain to return this to: the ring itself is corrupt. */
	if (head >= vq->num)
		return VIRTQ_BROKEN;
	vq->last_avail++;
	virtq_walk(mem, vq, head, c);
	return 1;
}

void virtq_unpop(struct virtq *vq, unsigned n)
{
	vq->last_avail -= (uint16_t)n;
}

void virtq_fill(struct virtq *vq, unsigned i, uint16_t head, uint32_t len)
{
	struct vring_used_elem *e = &vq->used->ring[(uint16_t)(vq->used_idx + i) % vq->num];

	__atomic_store_n(&e->id, head, __ATOMIC_RELAXED);
	__atomic_store_n(&e->len, len, __ATOMIC_RELAXED);
}

/* Decide whether the driver wants an interrupt for what was just published. */
static bool want_irq(struct virtq *vq)
{
	/* Full fence: our used->idx store is ordered before the driver's flag/event read. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!vq->event_idx)
		return !(avail_flags(vq) & VRING_AVAIL_F_NO_INTERRUPT);

	uint16_t old = vq->signalled_used, new = vq->used_idx, ev = used_event(vq);

	vq->signalled_used = new;
	/* Interrupt iff used_event lies in [old, new): the driver's "vring_need_event". */
	return (uint16_t)(new - ev - 1) < (uint16_t)(new - old);
}

bool virtq_flush(struct virtq *vq, unsigned n)
{
	if (n == 0)
		return false;
	vq->used_idx += (uint16_t)n;
	/* Release: every element filled is visible before the index that publishes them. */
	__atomic_store_n(&vq->used->idx, vq->used_idx, __ATOMIC_RELEASE);
	return want_irq(vq);
}

bool virtq_arm(struct virtq *vq, unsigned have)
{
	if (vq->event_idx)
		set_avail_event(vq, (uint16_t)(vq->last_avail + have));
	/* Full fence: avail_event is visible before we read avail->idx again. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return (uint16_t)(avail_idx(vq) - vq->last_avail) > have;
}

/* ---- the walker ---- */

/* Read one descriptor exactly once; later decisions use only the copy. */
static void desc_snapshot(const struct vring_desc *table, uint32_t i, struct vring_desc *d)
{
	memcpy(d, &table[i], sizeof(*d));
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
int virtq_walk(const struct guest_mem *mem, const struct virtq *vq, uint16_t head,
	       struct virtq_chain *c)
{
	const struct vring_desc *table = vq->desc;
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
			if (!vq->indirect || nested || (d.flags & VRING_DESC_F_NEXT) ||
			    d.len == 0 || d.len % sizeof(d) || d.len / sizeof(d) > VIRTQ_MAX_SIZE)
				return c->err = VIRTQ_E_INDIRECT;
			table = mem_gpa(mem, d.addr, d.len);
			if (!table)
				return c->err = VIRTQ_E_ADDR;
			tsize = d.len / sizeof(d);
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
static size_t iov_copy(const struct iovec *iov, unsigned n, uint64_t off, uint8_t *buf, size_t len,
		       bool to_iov)
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
