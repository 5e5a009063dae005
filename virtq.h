/* SPDX-License-Identifier: Apache-2.0 */
/* Split virtqueues: ring field access, the one descriptor-chain walker, iovec helpers. */
#ifndef KVMRUN_VIRTQ_H
#define KVMRUN_VIRTQ_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "mem.h"

/*
 * No locking here: the caller serialises use of one queue (virtio.c holds
 * vd->lock). Guest-controlled values: every ring field and every descriptor.
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
	int err;                 /* 0 or a VIRTQ_E_* code */
	uint8_t *tail;
	struct iovec iov[VIRTQ_MAX_SIZE];
};

enum {
	VIRTQ_E_ADDR = 1,  /* a buffer or indirect table is not guest RAM (or wraps) */
	VIRTQ_E_LOOP,      /* chain longer than the queue size / table: a cycle */
	VIRTQ_E_INDEX,     /* next index past the queue size / table */
	VIRTQ_E_INDIRECT,  /* nested table, INDIRECT with NEXT, bad table length,
			      or indirect not negotiated */
	VIRTQ_E_ORDER,     /* a device-readable descriptor after a writable one */
};

struct virtq {
	/* Driver-programmed registers (lock held). */
	uint16_t num;
	bool ready;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	/* Set when QueueReady is accepted: host views of the rings. */
	uint8_t *desc, *avail, *used;
	uint16_t last_avail;     /* next avail slot the device consumes */
	uint16_t used_idx;       /* the device's copy of used->idx */
	uint16_t signalled_used; /* used_idx at the last interrupt decision */
};

/*
 * Ring fields of a ready queue (desc, avail, used set and checked by
 * virtio.c's queue_enable(); num a power of two). Each is one atomic access;
 * the values read are the guest's and unchecked.
 */
/* avail->flags. */
uint16_t virtq_avail_flags(const struct virtq *vq);
/* avail->idx, with acquire: ring entries below it may be read after this. */
uint16_t virtq_avail_idx(const struct virtq *vq);
/* avail->ring[slot % num]: a head index the caller must still check against num. */
uint16_t virtq_avail_ring(const struct virtq *vq, uint16_t slot);
/* used_event (the word after avail->ring); meaningful only with EVENT_IDX. */
uint16_t virtq_used_event(const struct virtq *vq);
/* Store v as avail_event (the word after used->ring). */
void virtq_set_avail_event(struct virtq *vq, uint16_t v);
/* Write used element (id, len) at vq->used_idx, bump it, publish it with a release store. */
void virtq_push_used(struct virtq *vq, uint16_t id, uint32_t len);

/*
 * The walker (exposed for unit tests; devices get chains from
 * virtio_process): read descriptor chain `head` of queue vq into c,
 * validating every descriptor as described in virtq.c. Sets c->err and
 * returns it (0 on success). Never touches memory outside guest RAM.
 */
int virtq_walk(const struct guest_mem *mem, const struct virtq *vq, bool indirect_ok,
	       uint16_t head, struct virtq_chain *c);

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
