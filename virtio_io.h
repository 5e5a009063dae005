/* SPDX-License-Identifier: Apache-2.0 */
/* A virtio device bound to KVM (ioeventfds, irqfd) and served by its own I/O thread. */
#ifndef KVMRUN_VIRTIO_IO_H
#define KVMRUN_VIRTIO_IO_H

#include "virtio.h"

/*
 * Bind vd to the guest at cfg: remember cfg->mem, move the register window
 * to cfg->regs when given; when cfg->vmfd >= 0, register one ioeventfd per
 * queue on base+0x50 (4 bytes, datamatch = queue index), one on
 * InterruptACK (datamatch = VRING, see virtio.c) and an irqfd on cfg->gsi,
 * then start the I/O thread. With vmfd < 0 (unit tests) only the memory is
 * bound and the caller drives virtio_process(). 0 or -errno; on error
 * everything started is undone.
 */
int virtio_start(struct virtio_dev *vd, const struct virtio_mmio_cfg *cfg);

/*
 * For the I/O thread (or a device's io_loop) that cannot go on: `what`
 * failed with errno `err`. Tells cfg.thread_failed, then waits for
 * virtio_stop. Returns the thread's result (NULL).
 */
void *virtio_thread_failed(struct virtio_dev *vd, const char *what, int err);

/*
 * Stop the I/O thread (waits for the request in flight), unregister the
 * eventfds from KVM and close them. Safe on a vd that virtio_init set up but
 * never started. Call once, after vCPUs have stopped.
 */
void virtio_stop(struct virtio_dev *vd);

#endif
