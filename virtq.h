/* SPDX-License-Identifier: Apache-2.0 */
/* Split virtqueues: the rings (pop, fill, flush, notify decisions), the one chain walker, iovecs. */
#ifndef KVMRUN_VIRTQ_H
#define KVMRUN_VIRTQ_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "mem.h"

/*
 * No locking here: the caller serialises use of one queue (virtio.c holds
 * vd->lock). Guest-controlled values: every ring field and every descriptor.
 * Readiness (DRIVER_OK, NEEDS_RESET) and interrupts are the transport's.
 */

#define VIRTQ_MAX_SIZE 256 /* QueueNumMax, and the bound on any one chain */

/*
 * One descriptor chain, as the device sees it: host iovecs for the
 * device-readable part (iov[0, nr)) followed by the device-writable part
 * (iov[nr, nr+nw)). Every iovec lies wholly inside guest RAM (checked
 * through mem_gpa()); each descriptor was read exactly once.
 * err != 0 means the walk failed: the device must not interpret the iovecs
 * as a request. It may answer through `tail` (the last byte of the chain's
 * final descriptor, when that descriptor is device-writable, non-empty and in
 * RAM; NULL otherwise), e.g. with an IOERR status byte.
 */
struct virtq_chain {
	uint16_t head;
	uint16_t nr, nw;
	uint64_t rd_len, wr_len; /* byte totals of each part */
	int err;		 /* 0 or a VIRTQ_E_* code */
	uint8_t *tail;
	struct iovec iov[VIRTQ_MAX_SIZE];
};

enum {
	VIRTQ_E_ADDR = 1, /* a buffer or indirect table is not guest RAM (or wraps) */
	VIRTQ_E_LOOP,	  /* chain longer than the queue size / table: a cycle */
	VIRTQ_E_INDEX,	  /* next index past the queue size / table */
	VIRTQ_E_INDIRECT, /* nested table, INDIRECT with NEXT, bad table length,
			      or indirect not negotiated */
	VIRTQ_E_ORDER,	  /* a device-readable descriptor after a writable one */
};

struct vring_desc;
struct vring_avail;
struct vring_used;

struct virtq {
	/* Driver-programmed registers (lock held). */
	uint16_t num;
	bool ready;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	/* Set by virtq_enable: host views of the rings (linux/virtio_ring.h's layouts). */
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	/* Negotiated features that change how the rings are used (set by the transport). */
	bool indirect, event_idx;
	uint16_t last_avail;	 /* next avail slot the device consumes */
	uint16_t used_idx;	 /* the device's copy of used->idx */
	uint16_t signalled_used; /* used_idx at the last interrupt decision */
};

/*
 * The one owner of ring mechanics. A device's work on a queue reads as
 *   pop -> handle -> fill -> flush
 * and virtq_flush alone decides whether the driver wants an interrupt.
 * Each ring field is read with one atomic access (the guest writes them
 * concurrently) and every value read is the guest's: checked here.
 */

/*
 * QueueReady = 1: accept the queue only if num is a power of two up to
 * VIRTQ_MAX_SIZE and the three rings are aligned and wholly in guest RAM
 * (used_event / avail_event included). Resets the indices. false: the
 * queue stays not ready (the transport sets NEEDS_RESET).
 */
bool virtq_enable(struct virtq *vq, const struct guest_mem *mem);

/* What virtq_pending and virtq_pop return for a corrupt ring: the transport sets NEEDS_RESET. */
#define VIRTQ_BROKEN (-1)

/* Chains made available and not taken yet; VIRTQ_BROKEN when avail->idx is more than num ahead. */
int virtq_pending(const struct virtq *vq);
/*
 * Take the next available chain and walk it into c (c->err as for
 * virtq_walk: a chain that failed the walk is taken all the same and must
 * be returned with length 0). 1 when a chain was taken, 0 when none is
 * available, VIRTQ_BROKEN (avail->idx too far ahead, a head >= num).
 */
int virtq_pop(struct virtq *vq, const struct guest_mem *mem, struct virtq_chain *c);
/* Give back the last n chains virtq_pop took and nobody filled (they are offered again). */
void virtq_unpop(struct virtq *vq, unsigned n);
/*
 * Write used element number `i` (0 = the first one not yet published) as
 * (head, len) without publishing it. len must not exceed the chain's wr_len.
 */
void virtq_fill(struct virtq *vq, unsigned i, uint16_t head, uint32_t len);
/*
 * Publish the n filled elements with one used->idx store. Returns whether
 * the driver asked for an interrupt for them (EVENT_IDX used_event, or
 * avail->flags without NO_INTERRUPT).
 */
bool virtq_flush(struct virtq *vq, unsigned n);
/*
 * The device took all but `have` of the available chains and wants more:
 * ask the driver to notify at the next one (EVENT_IDX: avail_event = the
 * index after those `have`; without it the driver notifies anyway), then
 * look again: true when more than `have` are available now, so the caller
 * must retry instead of sleeping (a buffer added before the driver saw
 * avail_event sent no notification).
 */
bool virtq_arm(struct virtq *vq, unsigned have);

/*
 * The walker (exposed for unit tests and fuzzing; devices get chains from
 * virtq_pop): read descriptor chain `head` of vq's table (vq->desc, vq->num,
 * vq->indirect) into c, validating every descriptor as described in
 * virtq.c. Sets c->err and returns it (0 on success). Never touches memory
 * outside guest RAM.
 */
int virtq_walk(const struct guest_mem *mem, const struct virtq *vq, uint16_t head,
	       struct virtq_chain *c);

/* Copy up to `len` bytes at byte offset `off` of iov[0, n) into dst. Returns bytes copied. */
size_t virtq_iov_read(const struct iovec *iov, unsigned n, uint64_t off, void *dst, size_t len);
/* Copy up to `len` bytes from src into iov[0, n) at byte offset `off`. Returns bytes copied. */
size_t virtq_iov_write(const struct iovec *iov, unsigned n, uint64_t off, const void *src,
		       size_t len);
/*
 * Fill dst (room for `max` iovecs) with the sub-range [off, off+len) of
 * iov[0, n). Returns the iovec count, or -1 if the range does not fit.
 */
int virtq_iov_slice(const struct iovec *iov, unsigned n, uint64_t off, uint64_t len,
		    struct iovec *dst, unsigned max);

#endif
