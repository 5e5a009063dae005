/* SPDX-License-Identifier: Apache-2.0 */
/* virtio-blk: one raw image or host block device behind a virtio-mmio window. */
#ifndef KVMRUN_VIRTIO_BLK_H
#define KVMRUN_VIRTIO_BLK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blkspec.h"
#include "bus.h"
#include "virtio.h"

/*
 * Capacity is the image size (st_size, or BLKGETSIZE64 for a block device)
 * in 512-byte sectors, rounded DOWN: trailing bytes past the last whole
 * sector are never read or written, and the guest cannot see them.
 *
 * Requests: IN, OUT, FLUSH (fdatasync), GET_ID (the serial), DISCARD and
 * WRITE_ZEROES (one segment each). Guest errors answer IOERR or UNSUPP and
 * are counted; nothing the guest sends ends kvmrun.
 *
 * Startup order for vmm.c, per --disk:
 *   blk_parse_spec() -> blk_open() -> virtio_start(blk_virtio()) -> bus_add(base, 0x1000)
 *   -> append "virtio_mmio.device=4K@0x<base>:<gsi>" to the command line.
 * Shutdown, after the vCPU threads have stopped: blk_close().
 */

struct blk_stats {
	uint64_t requests;	/* chains handled, good or bad */
	uint64_t bytes_read;	/* from the image into the guest */
	uint64_t bytes_written; /* from the guest into the image (OUT only) */
	uint64_t errors;	/* requests answered other than OK, or not answerable */
	uint64_t ignored;	/* register accesses of odd width or unknown offset */
};

struct blk;

/*
 * Open and lock the image: O_RDWR with a whole-file OFD write lock, or for
 * ro O_RDONLY with a read lock, so a second kvmrun on a writable image fails
 * with "PATH: in use by another process". PATH must be a regular file or a
 * block device. Never creates, truncates or writes anything. Returns the
 * device, or NULL with a message naming PATH in err.
 */
struct blk *blk_open(const struct blk_spec *s, char *err, size_t errlen);

/* Stop the I/O thread (if any), drop the lock and close the image, free b. NULL is a no-op. */
void blk_close(struct blk *b);

/* Counters, safe to call from any thread. */
void blk_get_stats(const struct blk *b, struct blk_stats *out);

/*
 * The transport under the disk: vmm.c binds it to the guest with
 * virtio_start() (one I/O thread per disk) and puts virtio_mmio_ops on the
 * bus with it; unit tests drive virtio_process() through it.
 */
struct virtio_dev *blk_virtio(struct blk *b);

/*
 * Run the disk on the image at `path` from now on (Firecracker's PATCH
 * /drives path_on_host): opened and locked as blk_open would (same ro), with
 * the guest's block size; swapped in with no request in flight; the guest
 * gets a config-change interrupt with the new capacity. Opens a file: call
 * it from the thread allowed to (endpoints.c's opener). 0, or -1 with a
 * line in err and the disk unchanged.
 */
int blk_replace(struct blk *b, const char *path, char *err, size_t errlen);

/* Capacity in 512-byte sectors. */
uint64_t blk_capacity(const struct blk *b);

#endif
