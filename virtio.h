/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-mmio (version 2) transport: register file, device lifecycle, queue
 * processing, rate limiters. Binding to KVM and the I/O thread: virtio_io.h.
 */
#ifndef KVMRUN_VIRTIO_H
#define KVMRUN_VIRTIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "mem.h"
#include "ratelimit.h"
#include "virtq.h"

/*
 * Threads and locking
 *   - The MMIO register handlers (virtio_mmio_ops) run on vCPU threads, maybe
 *     several at once. Queue processing runs on the device's I/O thread (or,
 *     in unit tests, on the caller's thread through virtio_process()).
 *   - vd->lock guards everything in struct virtio_dev and struct virtq except
 *     the Status and InterruptStatus words of the register window, which are
 *     atomics so that the guest's interrupt handler never waits behind a disk
 *     request. The I/O thread holds the lock
 *     while it handles one request (pop, device I/O, push), so a reset by the
 *     driver waits for the request in flight and no used-ring write can
 *     happen after Status reads back 0.
 * The register window (vd->regs) holds every register as the guest reads
 * it, kept current on each write. vmm.c maps it into the guest read-only, so
 * register reads, the interrupt handler's InterruptStatus read above all,
 * cost no exit; writes still exit and arrive through virtio_mmio_ops.write
 * (or an ioeventfd). Without such a mapping reads exit and are answered from
 * the same window.
 * Guest-controlled values: every ring field, every descriptor, every
 * register value written. Nothing here trusts them.
 */

#define VIRTIO_MAX_QUEUES 4
#define VIRTIO_MMIO_SIZE 0x1000
#define VIRTIO_MMIO_NOTIFY 0x50 /* QueueNotify offset: the ioeventfd address */
#define VIRTIO_MMIO_CONFIG 0x100

/* Where vmm.c put the device; what the transport needs from KVM. */
struct virtio_dev;

struct virtio_mmio_cfg {
	int vmfd; /* < 0: no KVM (unit tests); no eventfd binding, no thread */
	const struct guest_mem *mem;
	uint64_t base; /* guest-physical base of the 4 KiB window */
	/*
	 * Page-aligned 4 KiB the guest sees at `base` through a read-only memory
	 * slot, or NULL (reads exit; unit tests, hosts without READONLY_MEM).
	 */
	void *regs;
	uint32_t gsi;
	/*
	 * Called first thing on every thread the device starts, before it
	 * touches guest memory (vmm.c installs the I/O seccomp filter here).
	 * False: the thread ends at once, its queues never processed. May be NULL.
	 */
	bool (*thread_start)(void *ctx);
	/*
	 * Called on the device's thread when it cannot go on serving for a
	 * reason that should never come (its poll or a kick eventfd's read
	 * failing): vmm.c ends the VM with `why` (status 1). The thread then
	 * waits for virtio_stop: its seccomp role has no exit. May be NULL.
	 */
	void (*thread_failed)(void *ctx, struct virtio_dev *vd, const char *why);
	void *thread_ctx;
};

/* What a device plugs into the transport. Callbacks run with vd->lock held. */
struct virtio_dev_ops {
	/*
	 * I/O thread: handle one chain from queue q and return the number of
	 * bytes written into its writable buffers (the used length; the
	 * transport clamps it to c->wr_len and publishes every chain in the
	 * used ring, whatever happens). When c->err != 0 the walk failed: do
	 * not interpret the iovecs; answer through c->tail if it is set (and
	 * return 1), else return 0.
	 */
	uint32_t (*handle)(struct virtio_dev *vd, unsigned q, struct virtq_chain *c);
	/*
	 * Optional. vCPU thread, lock held, must not block: Status changed from
	 * `old` to `now` (now == 0: the driver reset the device; the queues are
	 * already cleared). virtio-net uses it to wake its I/O thread, which
	 * then brings the tap's offloads in step with the negotiated features.
	 */
	void (*status_changed)(struct virtio_dev *vd, uint32_t old, uint32_t now);
	/*
	 * Optional. Replaces the default I/O thread body (poll the kick
	 * eventfds, virtio_process() on each kick) for a device that has more
	 * to wait on, e.g. a tap. Runs on the thread virtio_start() creates,
	 * after cfg.thread_start; must return once vd->stop_fd is readable,
	 * and through virtio_thread_failed when it cannot go on.
	 */
	void *(*io_loop)(struct virtio_dev *vd);
	/*
	 * With a rate limiter on queue q (virtio_set_limit): the bytes chain c
	 * costs it (the request's data, not its headers). I/O thread, lock held.
	 */
	uint64_t (*cost)(struct virtio_dev *vd, unsigned q, const struct virtq_chain *c);
	/*
	 * Optional. I/O thread, lock held: true while the device cannot take
	 * another chain from q (a stream backend still holds part of the last
	 * frame). virtio_process() then leaves the chains in the ring; the
	 * device calls it again once it can.
	 */
	bool (*blocked)(struct virtio_dev *vd, unsigned q);
};

struct virtio_stats {
	uint64_t ignored;	/* register accesses of odd width or at unknown offsets */
	uint64_t bad_chains;	/* chains that failed the walker */
	uint64_t resets_needed; /* times DEVICE_NEEDS_RESET was set */
	uint64_t interrupts;
};

struct virtio_dev {
	pthread_mutex_t lock;
	const struct virtio_dev_ops *ops;
	void *opaque; /* the device's own struct */
	const struct guest_mem *mem;
	uint32_t device_id;
	uint64_t dev_features; /* offered: device bits | VERSION_1 | INDIRECT | EVENT_IDX */
	uint64_t drv_features; /* written by the driver */
	uint32_t dev_feat_sel, drv_feat_sel, queue_sel, shm_sel;
	uint8_t *regs; /* the register window: regs_own, or cfg.regs once started */
	uint32_t config_size;
	/*
	 * The leading config bytes that say which device this is (a disk's
	 * size, a NIC's MAC): a restore must find them as saved. The rest is
	 * the device's state (a NIC's link status), taken from the device as it
	 * is now. config_size unless the device sets it after virtio_init.
	 */
	uint32_t config_ident;
	unsigned nq;
	struct virtq q[VIRTIO_MAX_QUEUES];
	/* Fixed from virtio_init to virtio_stop (read by the I/O thread without the lock). */
	int kick_fd[VIRTIO_MAX_QUEUES]; /* eventfd: ioeventfd on QueueNotify, datamatch = index */
	int irq_fd;			/* eventfd: irqfd on the device's GSI */
	int ack_fd;			/* eventfd: ioeventfd on InterruptACK = VRING; never read */
	int stop_fd;			/* eventfd: tells the I/O thread to exit */
	bool kvm_bound, thread_started;
	int vmfd;
	struct virtio_mmio_cfg cfg;
	pthread_t thread;
	struct virtio_stats stats; /* __atomic updates */
	struct virtq_chain chain;  /* scratch for virtio_process, under lock */
	/* Rate limiters (virtio_set_limit), and a timerfd each for when it can pay again. */
	struct ratelimit *limit[VIRTIO_MAX_QUEUES]; /* under lock; NULL: unlimited */
	int limit_fd[VIRTIO_MAX_QUEUES];	    /* -1: none */
	uint32_t regs_own[VIRTIO_MMIO_SIZE / 4];    /* the window until cfg.regs replaces it */
};

/* The bus handlers; opaque is the struct virtio_dev. */
extern const struct bus_ops virtio_mmio_ops;

/*
 * Set up vd for a device with `nq` queues (1..VIRTIO_MAX_QUEUES), the
 * `config_size` bytes of config space at `config` (<= 0xF00, copied: a
 * device's config never changes here) and device feature bits `features`
 * (the transport adds VERSION_1, INDIRECT_DESC and EVENT_IDX).
 * Creates the per-queue kick eventfds, the irq, ack and stop eventfds;
 * nothing touches KVM yet. 0 or -errno (nothing left allocated on error).
 */
int virtio_init(struct virtio_dev *vd, uint32_t device_id, uint64_t features, unsigned nq,
		const void *config, uint32_t config_size, const struct virtio_dev_ops *ops,
		void *opaque);

/*
 * Limit queue q with the buckets of s (before virtio_start; none when s has
 * no bucket on): virtio_process stops taking chains from q while the limiter
 * cannot pay, and a timerfd (limit_fd[q], which the I/O thread polls) fires
 * exactly when it can. 0 or -errno.
 */
int virtio_set_limit(struct virtio_dev *vd, unsigned q, const struct rl_spec *s);

/*
 * --limits: give queue q a limiter (with no bucket on if it had none) before
 * virtio_start, so that virtio_limit_update can change it while the guest
 * runs (any thread; the queue re-evaluates at once). -ENOENT: not prepared.
 */
int virtio_limit_prepare(struct virtio_dev *vd, unsigned q);
int virtio_limit_update(struct virtio_dev *vd, unsigned q, const struct rl_spec *s);

/*
 * May the chain just popped from q go now (lock held)? true when q has no
 * limiter or it paid; false: the caller gives the chain back (virtio_unpop)
 * and stops; the limiter's timer is armed for when it can pay.
 */
bool virtio_limit_admit(struct virtio_dev *vd, unsigned q, const struct virtq_chain *c);
/* The same for `bytes` that are not a chain yet (a frame virtio-net holds for RX). */
bool virtio_limit_admit_bytes(struct virtio_dev *vd, unsigned q, uint64_t bytes);

/* The I/O thread, on limit_fd[q] readable: clear it. */
void virtio_limit_fired(struct virtio_dev *vd, unsigned q);

/* A consistent copy of queue q's limiter counters; false (and zeros) when it has none. */
bool virtio_limit_stats(struct virtio_dev *vd, unsigned q, struct rl_stats *out);

/*
 * Undo virtio_init: destroy the lock, close the eventfds, free the rate
 * limiters. virtio_stop calls it last; safe to call again.
 */
void virtio_release(struct virtio_dev *vd);

/* The Status register (atomic; any thread). */
uint32_t virtio_status(const struct virtio_dev *vd);

/*
 * Only while the queue is ready, DRIVER_OK is set and NEEDS_RESET is not (a
 * call otherwise does nothing). An avail index more than the queue size
 * ahead, or a head index out of range, sets NEEDS_RESET and stops.
 * Process queue q until its avail ring is empty: walk each chain, hand it to
 * ops->handle, publish it in the used ring, then interrupt the guest if the
 * driver asked for it (EVENT_IDX used_event, or NO_INTERRUPT without it).
 * Called by the I/O thread on a kick; unit tests call it directly.
 * Returns the number of chains completed.
 */
unsigned virtio_process(struct virtio_dev *vd, unsigned q);

/*
 * Mark the device broken: set DEVICE_NEEDS_RESET, stop all queues until the
 * driver resets, and raise a config-change interrupt. Lock held.
 */
void virtio_needs_reset(struct virtio_dev *vd);

/*
 * The device's config space is now `config` (config_size bytes): publish it,
 * move ConfigGeneration on and raise a config-change interrupt (a disk whose
 * backing file was replaced, with its new capacity). Lock held
 * (virtio_quiesce).
 */
void virtio_config_changed(struct virtio_dev *vd, const void *config);

/*
 * A device's transport state, as a snapshot keeps it: what the driver
 * negotiated and programmed, and where the device is in each ring.
 * Everything else (eventfds, the thread, host ring pointers) is rebuilt.
 */
struct virtio_queue_state {
	uint16_t num, last_avail, used_idx, signalled_used;
	uint32_t ready;
	uint64_t desc, avail, used;
};
struct virtio_state {
	uint32_t device_id, nq;
	uint64_t dev_features, drv_features;
	uint32_t status, isr;
	uint32_t dev_feat_sel, drv_feat_sel, queue_sel, shm_sel;
	uint32_t config_size, pad;
	uint8_t config[128]; /* the config space the guest saw (zero beyond config_size) */
	struct virtio_queue_state q[VIRTIO_MAX_QUEUES];
};

/*
 * --on-reboot restart: the device as after a driver's reset (Status 0:
 * queues, features and interrupt status cleared), as the next boot's
 * driver expects to find it. Waits for a request in flight; vCPUs parked.
 */
void virtio_reset(struct virtio_dev *vd);

/*
 * Snapshots. virtio_quiesce takes vd->lock and keeps it until
 * virtio_resume: no request is in flight meanwhile and none starts (the
 * I/O thread waits for the lock), so guest memory, the disk and the
 * state read by virtio_save agree.
 */
void virtio_quiesce(struct virtio_dev *vd);
void virtio_resume(struct virtio_dev *vd);
void virtio_save(const struct virtio_dev *vd, struct virtio_state *st);
/*
 * Before virtio_start: take the state a snapshot saved, on guest memory
 * `mem`. -EINVAL: another kind of device, or other features offered;
 * -ERANGE: its config space differs in config_ident (a disk's size, a NIC's
 * MAC); -EIO: a saved queue is not valid on this memory. Nothing is changed
 * on error. The queues are kicked, so the I/O thread looks at them when it
 * starts; a config that differs past config_ident (a link up again) is
 * announced to the guest with a config-change interrupt.
 */
int virtio_load(struct virtio_dev *vd, const struct virtio_state *st, const struct guest_mem *mem);

/* A consistent copy of the transport counters. */
void virtio_get_stats(const struct virtio_dev *vd, struct virtio_stats *out);

/*
 * Device-driven use of a queue: virtio-net RX takes buffers when a frame
 * arrives, not when the driver kicks, may need several chains for one frame
 * and must publish them together. virtq.c's ring operations (see virtq.h for
 * each), here checked against the device's state: a queue that is not
 * runnable (not ready, no DRIVER_OK, NEEDS_RESET) gives nothing (-1), a
 * corrupt ring sets NEEDS_RESET (-1), and a flush the driver wants to hear
 * about raises the interrupt. I/O thread, vd->lock held for the whole
 * sequence from pop to flush (or unpop).
 */
int virtio_pending(struct virtio_dev *vd, unsigned q);
int virtio_pop(struct virtio_dev *vd, unsigned q, struct virtq_chain *c);
void virtio_unpop(struct virtio_dev *vd, unsigned q, unsigned n);
void virtio_fill(struct virtio_dev *vd, unsigned q, unsigned i, uint16_t head, uint32_t len);
void virtio_flush(struct virtio_dev *vd, unsigned q, unsigned n);
bool virtio_arm(struct virtio_dev *vd, unsigned q, unsigned have);

#endif
