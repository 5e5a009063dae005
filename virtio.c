// SPDX-License-Identifier: Apache-2.0
/* virtio-mmio v2 transport: the register file, queue processing, rate limiters, device state and its snapshot. */
#include "virtio.h"

#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "util.h"

#define MMIO_MAGIC 0x74726976 /* "virt" */
#define MMIO_VERSION 2
#define MMIO_VENDOR 0x524d564b /* "KVMR" */

#define TRANSPORT_FEATURES                                                      \
	((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_INDIRECT_DESC) | \
	 (1ULL << VIRTIO_RING_F_EVENT_IDX))

/* A 4-byte register of the window; off is 4-aligned and inside it (the window is page-aligned). */
static uint32_t *reg(const struct virtio_dev *vd, uint32_t off)
{
	return (void *)(vd->regs + off);
}

static void reg_set(struct virtio_dev *vd, uint32_t off, uint32_t v)
{
	__atomic_store_n(reg(vd, off), v, __ATOMIC_RELAXED);
}

static uint32_t status_get(const struct virtio_dev *vd)
{
	return __atomic_load_n(reg(vd, VIRTIO_MMIO_STATUS), __ATOMIC_ACQUIRE);
}

uint32_t virtio_status(const struct virtio_dev *vd)
{
	return status_get(vd);
}

static void raise_irq(struct virtio_dev *vd, uint32_t why)
{
	__atomic_fetch_or(reg(vd, VIRTIO_MMIO_INTERRUPT_STATUS), why, __ATOMIC_SEQ_CST);
	stat_add(&vd->stats.interrupts, 1);
	efd_signal(vd->irq_fd);
}

void virtio_needs_reset(struct virtio_dev *vd)
{
	__atomic_fetch_or(reg(vd, VIRTIO_MMIO_STATUS), VIRTIO_CONFIG_S_NEEDS_RESET,
			  __ATOMIC_SEQ_CST);
	stat_add(&vd->stats.resets_needed, 1);
	raise_irq(vd, VIRTIO_MMIO_INT_CONFIG);
}

void virtio_config_changed(struct virtio_dev *vd, const void *config)
{
	memcpy(vd->regs + VIRTIO_MMIO_CONFIG, config, vd->config_size);
	/* A driver reading the config in pieces sees the generation move and reads again. */
	__atomic_fetch_add(reg(vd, VIRTIO_MMIO_CONFIG_GENERATION), 1, __ATOMIC_SEQ_CST);
	raise_irq(vd, VIRTIO_MMIO_INT_CONFIG);
}

/* ---- queue processing ---- */

static bool has_feature(const struct virtio_dev *vd, unsigned bit)
{
	return vd->drv_features & (1ULL << bit);
}

static bool runnable(const struct virtio_dev *vd, const struct virtq *vq)
{
	uint32_t s = status_get(vd);

	/* FEATURES_OK too: a driver that skipped negotiation is legacy, and we are modern only. */
	return vq->ready && (s & VIRTIO_CONFIG_S_DRIVER_OK) && (s & VIRTIO_CONFIG_S_FEATURES_OK) &&
	       !(s & VIRTIO_CONFIG_S_NEEDS_RESET);
}

/* A ring the driver corrupted: NEEDS_RESET, and the queue stops until reset. */
static int broken(struct virtio_dev *vd)
{
	virtio_needs_reset(vd);
	return -1;
}

/* Pop for the transport: counts chains that failed the walk. */
static int pop(struct virtio_dev *vd, struct virtq *vq, struct virtq_chain *c)
{
	int r = virtq_pop(vq, vd->mem, c);

	if (r == VIRTQ_BROKEN)
		return broken(vd);
	if (r > 0 && c->err)
		stat_add(&vd->stats.bad_chains, 1);
	return r;
}

unsigned virtio_process(struct virtio_dev *vd, unsigned qi)
{
	struct virtq_chain *c = &vd->chain;
	unsigned done = 0;
	bool notify = false;

	if (qi >= vd->nq)
		return 0;
	struct virtq *vq = &vd->q[qi];

	/* One chain per turn of the lock: a reset by the driver waits for one request at most. */
	for (;;) {
		pthread_mutex_lock(&vd->lock);
		if (!runnable(vd, vq) || (vd->ops->blocked && vd->ops->blocked(vd, qi)))
			break;
		int r = pop(vd, vq, c);

		if (r < 0)
			break;
		if (r == 0) {
			/* Ask for a kick at the next buffer, then look once more. */
			if (!virtq_arm(vq, 0))
				break;
			pthread_mutex_unlock(&vd->lock);
			continue;
		}
		if (!c->err && !virtio_limit_admit(vd, qi, c)) {
			virtq_unpop(vq, 1); /* it goes when the limiter's timer fires */
			break;
		}
		uint32_t len = vd->ops->handle(vd, qi, c);

		/* The used length never exceeds what the chain can hold. */
		virtq_fill(vq, 0, c->head, len > c->wr_len ? (uint32_t)c->wr_len : len);
		notify |= virtq_flush(vq, 1);
		done++;
		pthread_mutex_unlock(&vd->lock);
	}
	/* Lock held here. */
	if (notify && runnable(vd, vq))
		raise_irq(vd, VIRTIO_MMIO_INT_VRING);
	pthread_mutex_unlock(&vd->lock);
	return done;
}

/* ---- device-driven queues (virtio-net RX); lock held throughout ---- */

/* Queue qi when it may be used now; NULL otherwise (no such queue, not runnable). */
static struct virtq *live(struct virtio_dev *vd, unsigned qi)
{
	return qi < vd->nq && runnable(vd, &vd->q[qi]) ? &vd->q[qi] : NULL;
}

int virtio_pending(struct virtio_dev *vd, unsigned qi)
{
	struct virtq *vq = live(vd, qi);
	int n = vq ? virtq_pending(vq) : -1;

	return n == VIRTQ_BROKEN && vq ? broken(vd) : n;
}

int virtio_pop(struct virtio_dev *vd, unsigned qi, struct virtq_chain *c)
{
	struct virtq *vq = live(vd, qi);

	return vq ? pop(vd, vq, c) : -1;
}

void virtio_unpop(struct virtio_dev *vd, unsigned qi, unsigned n)
{
	if (qi < vd->nq)
		virtq_unpop(&vd->q[qi], n);
}

void virtio_fill(struct virtio_dev *vd, unsigned qi, unsigned i, uint16_t head, uint32_t len)
{
	struct virtq *vq = live(vd, qi);

	if (vq)
		virtq_fill(vq, i, head, len);
}

void virtio_flush(struct virtio_dev *vd, unsigned qi, unsigned n)
{
	struct virtq *vq = live(vd, qi);

	if (vq && virtq_flush(vq, n))
		raise_irq(vd, VIRTIO_MMIO_INT_VRING);
}

bool virtio_arm(struct virtio_dev *vd, unsigned qi, unsigned have)
{
	struct virtq *vq = live(vd, qi);

	return vq && virtq_arm(vq, have);
}

/* ---- register file ---- */

static struct virtq *sel_queue(struct virtio_dev *vd)
{
	return vd->queue_sel < vd->nq ? &vd->q[vd->queue_sel] : NULL;
}

/* The negotiated features a queue's ring operations depend on. */
static void queue_features(struct virtio_dev *vd, struct virtq *vq)
{
	vq->indirect = has_feature(vd, VIRTIO_RING_F_INDIRECT_DESC);
	vq->event_idx = has_feature(vd, VIRTIO_RING_F_EVENT_IDX);
}

/* QueueReady = 1: accept the queue only if its rings are aligned guest RAM. */
static void queue_enable(struct virtio_dev *vd, struct virtq *vq)
{
	queue_features(vd, vq);
	vq->ready = virtq_enable(vq, vd->mem);
	if (!vq->ready)
		virtio_needs_reset(vd);
}

/*
 * Bring the window's selector-dependent registers in step after a write
 * (lock held). Everything else in it is fixed, or kept there directly
 * (Status, InterruptStatus).
 */
static void refresh(struct virtio_dev *vd)
{
	const struct virtq *vq = sel_queue(vd);
	uint32_t sel = vd->dev_feat_sel;

	reg_set(vd, VIRTIO_MMIO_DEVICE_FEATURES,
		sel < 2 ? (uint32_t)(vd->dev_features >> (32 * sel)) : 0);
	reg_set(vd, VIRTIO_MMIO_QUEUE_NUM_MAX, vq ? VIRTQ_MAX_SIZE : 0); /* 0: no such queue */
	reg_set(vd, VIRTIO_MMIO_QUEUE_READY, vq ? vq->ready : 0);
}

static void dev_reset(struct virtio_dev *vd)
{
	__atomic_store_n(reg(vd, VIRTIO_MMIO_STATUS), 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(reg(vd, VIRTIO_MMIO_INTERRUPT_STATUS), 0, __ATOMIC_SEQ_CST);
	vd->drv_features = 0;
	vd->dev_feat_sel = vd->drv_feat_sel = vd->queue_sel = vd->shm_sel = 0;
	memset(vd->q, 0, sizeof(vd->q));
}

static void status_write(struct virtio_dev *vd, uint32_t v)
{
	uint32_t old = status_get(vd);

	if (v == 0) {
		dev_reset(vd);
		if (vd->ops->status_changed)
			vd->ops->status_changed(vd, old, 0);
		return;
	}
	/*
	 * Bits are cleared by reset only (2.1.1): a driver that drops FEATURES_OK
	 * or DRIVER_OK does not reopen feature negotiation under live queues.
	 * NEEDS_RESET, the device's bit, stays the same way.
	 */
	v = (v & 0xff) | old;
	if ((v & VIRTIO_CONFIG_S_FEATURES_OK) && !(old & VIRTIO_CONFIG_S_FEATURES_OK)) {
		/* Accept only a subset of what we offered, and never legacy. */
		if ((vd->drv_features & ~vd->dev_features) || !has_feature(vd, VIRTIO_F_VERSION_1))
			v &= ~(uint32_t)VIRTIO_CONFIG_S_FEATURES_OK;
		/* Features are final from here on (4.2.2.1): queues enabled before now follow. */
		for (unsigned i = 0; i < vd->nq; i++)
			queue_features(vd, &vd->q[i]);
	}
	__atomic_store_n(reg(vd, VIRTIO_MMIO_STATUS), v, __ATOMIC_SEQ_CST);
	if ((v & VIRTIO_CONFIG_S_DRIVER_OK) && !(old & VIRTIO_CONFIG_S_DRIVER_OK))
		for (unsigned i = 0; i < vd->nq; i++)
			efd_signal(vd->kick_fd[i]); /* catch kicks sent before DRIVER_OK */
	if (vd->ops->status_changed && v != old)
		vd->ops->status_changed(vd, old, v);
}

static void set_lo(uint64_t *a, uint32_t v)
{
	*a = (*a & 0xffffffff00000000ULL) | v;
}

static void set_hi(uint64_t *a, uint32_t v)
{
	*a = (*a & 0xffffffffULL) | ((uint64_t)v << 32);
}

/*
 * Only reached when reads exit (no read-only mapping of the window): the
 * same bytes the guest would read from it. Lock-free, so the guest's
 * interrupt handler never waits behind disk I/O.
 */
static void mmio_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct virtio_dev *vd = opaque;

	memset(data, 0, len);
	if (off >= VIRTIO_MMIO_SIZE || len > VIRTIO_MMIO_SIZE - off) {
		stat_add(&vd->stats.ignored, 1);
		return;
	}
	if (len == 4 && off % 4 == 0) {
		uint32_t v = __atomic_load_n(reg(vd, (uint32_t)off), __ATOMIC_SEQ_CST);
		memcpy(data, &v, 4);
		return;
	}
	for (uint32_t i = 0; i < len; i++)
		data[i] = __atomic_load_n(vd->regs + off + i, __ATOMIC_RELAXED);
}

/* Queue registers are writable only while the queue is not ready (4.2.3.2). */
static void queue_reg_write(struct virtio_dev *vd, struct virtq *vq, uint64_t off, uint32_t v)
{
	if (!vq || vq->ready) {
		stat_add(&vd->stats.ignored, 1);
		return;
	}
	switch (off) {
	case VIRTIO_MMIO_QUEUE_NUM:
		vq->num = v > 0xffff ? 0 : (uint16_t)v; /* checked when ready is set */
		break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
		set_lo(&vq->desc_gpa, v);
		break;
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		set_hi(&vq->desc_gpa, v);
		break;
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
		set_lo(&vq->avail_gpa, v);
		break;
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
		set_hi(&vq->avail_gpa, v);
		break;
	case VIRTIO_MMIO_QUEUE_USED_LOW:
		set_lo(&vq->used_gpa, v);
		break;
	case VIRTIO_MMIO_QUEUE_USED_HIGH:
		set_hi(&vq->used_gpa, v);
		break;
	}
}

static void mmio_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct virtio_dev *vd = opaque;
	uint32_t v;

	/* No writable config fields are offered (no CONFIG_WCE). */
	if (off >= VIRTIO_MMIO_CONFIG || len != 4 || off % 4) {
		stat_add(&vd->stats.ignored, 1);
		return;
	}
	memcpy(&v, data, 4);
	if (off == VIRTIO_MMIO_QUEUE_NOTIFY) {
		/* Only reached without an ioeventfd match: forward to the I/O thread. */
		if (v < vd->nq)
			efd_signal(vd->kick_fd[v]);
		else
			stat_add(&vd->stats.ignored, 1);
		return;
	}
	if (off == VIRTIO_MMIO_INTERRUPT_ACK) {
		/* An ACK of VRING alone never gets here: see ack_ioeventfd(). */
		__atomic_fetch_and(reg(vd, VIRTIO_MMIO_INTERRUPT_STATUS), ~v, __ATOMIC_SEQ_CST);
		return;
	}
	pthread_mutex_lock(&vd->lock);
	struct virtq *vq = sel_queue(vd);

	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		vd->dev_feat_sel = v;
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		if (status_get(vd) & VIRTIO_CONFIG_S_FEATURES_OK || vd->drv_feat_sel > 1) {
			stat_add(&vd->stats.ignored, 1);
			break;
		}
		if (vd->drv_feat_sel)
			vd->drv_features = (vd->drv_features & 0xffffffffULL) | ((uint64_t)v << 32);
		else
			vd->drv_features = (vd->drv_features & ~0xffffffffULL) | v;
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		vd->drv_feat_sel = v;
		break;
	case VIRTIO_MMIO_QUEUE_SEL:
		vd->queue_sel = v;
		break;
	case VIRTIO_MMIO_QUEUE_READY:
		if (!vq)
			stat_add(&vd->stats.ignored, 1);
		else if (v & 1) {
			if (!vq->ready)
				queue_enable(vd, vq);
		} else {
			vq->ready = false;
		}
		break;
	case VIRTIO_MMIO_STATUS:
		status_write(vd, v);
		break;
	case VIRTIO_MMIO_SHM_SEL:
		vd->shm_sel = v;
		break;
	case VIRTIO_MMIO_QUEUE_NUM:
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
	case VIRTIO_MMIO_QUEUE_USED_LOW:
	case VIRTIO_MMIO_QUEUE_USED_HIGH:
		queue_reg_write(vd, vq, off, v);
		break;
	default:
		stat_add(&vd->stats.ignored, 1);
		break;
	}
	refresh(vd);
	pthread_mutex_unlock(&vd->lock);
}

const struct bus_ops virtio_mmio_ops = { .read = mmio_read, .write = mmio_write };

/* ---- lifecycle ---- */

static void limits_free(struct virtio_dev *vd)
{
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++) {
		if (vd->limit_fd[i] >= 0)
			close(vd->limit_fd[i]);
		vd->limit_fd[i] = -1;
		free(vd->limit[i]);
		vd->limit[i] = NULL;
	}
}

static void close_fds(struct virtio_dev *vd)
{
	limits_free(vd);
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
		if (vd->kick_fd[i] >= 0)
			close(vd->kick_fd[i]);
	if (vd->irq_fd >= 0)
		close(vd->irq_fd);
	if (vd->ack_fd >= 0)
		close(vd->ack_fd);
	if (vd->stop_fd >= 0)
		close(vd->stop_fd);
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
		vd->kick_fd[i] = -1;
	vd->irq_fd = vd->ack_fd = vd->stop_fd = -1;
}

/* The window's fixed registers and config space; the rest follows refresh(). */
static void window_init(struct virtio_dev *vd, const void *config)
{
	vd->regs = (uint8_t *)vd->regs_own;
	reg_set(vd, VIRTIO_MMIO_MAGIC_VALUE, MMIO_MAGIC);
	reg_set(vd, VIRTIO_MMIO_VERSION, MMIO_VERSION);
	reg_set(vd, VIRTIO_MMIO_DEVICE_ID, vd->device_id);
	reg_set(vd, VIRTIO_MMIO_VENDOR_ID, MMIO_VENDOR);
	/* No shared memory regions: length -1 whatever ShmSel says. */
	reg_set(vd, VIRTIO_MMIO_SHM_LEN_LOW, 0xffffffff);
	reg_set(vd, VIRTIO_MMIO_SHM_LEN_HIGH, 0xffffffff);
	reg_set(vd, VIRTIO_MMIO_SHM_BASE_LOW, 0xffffffff);
	reg_set(vd, VIRTIO_MMIO_SHM_BASE_HIGH, 0xffffffff);
	memcpy(vd->regs + VIRTIO_MMIO_CONFIG, config, vd->config_size);
	refresh(vd);
}

int virtio_init(struct virtio_dev *vd, uint32_t device_id, uint64_t features, unsigned nq,
		const void *config, uint32_t config_size, const struct virtio_dev_ops *ops,
		void *opaque)
{
	int rc;

	if (nq == 0 || nq > VIRTIO_MAX_QUEUES ||
	    config_size > VIRTIO_MMIO_SIZE - VIRTIO_MMIO_CONFIG)
		return -EINVAL;
	memset(vd, 0, sizeof(*vd));
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
		vd->kick_fd[i] = vd->limit_fd[i] = -1;
	vd->irq_fd = vd->ack_fd = vd->stop_fd = vd->vmfd = -1;
	vd->device_id = device_id;
	vd->dev_features = features | TRANSPORT_FEATURES;
	vd->nq = nq;
	vd->config_size = vd->config_ident = config_size;
	vd->ops = ops;
	vd->opaque = opaque;
	window_init(vd, config);
	for (unsigned i = 0; i < nq; i++)
		if ((vd->kick_fd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
			goto fail;
	if ((vd->irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		goto fail;
	if ((vd->ack_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		goto fail;
	if ((vd->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		goto fail;
	if ((rc = pthread_mutex_init(&vd->lock, NULL)) != 0) {
		errno = rc;
		goto fail;
	}
	return 0;
fail:
	rc = -errno;
	close_fds(vd);
	return rc;
}

void virtio_release(struct virtio_dev *vd)
{
	if (vd->stop_fd < 0)
		return; /* released already, or virtio_init failed */
	pthread_mutex_destroy(&vd->lock);
	close_fds(vd);
}

void virtio_get_stats(const struct virtio_dev *vd, struct virtio_stats *out)
{
	out->ignored = __atomic_load_n(&vd->stats.ignored, __ATOMIC_RELAXED);
	out->bad_chains = __atomic_load_n(&vd->stats.bad_chains, __ATOMIC_RELAXED);
	out->resets_needed = __atomic_load_n(&vd->stats.resets_needed, __ATOMIC_RELAXED);
	out->interrupts = __atomic_load_n(&vd->stats.interrupts, __ATOMIC_RELAXED);
}

/* ---- rate limiters ---- */

static int alloc_limit(struct virtio_dev *vd, unsigned q, const struct rl_spec *s)
{
	if (vd->limit[q])
		return 0;
	struct ratelimit *rl = calloc(1, sizeof(*rl));
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (!rl || fd < 0) {
		int e = fd < 0 ? errno : ENOMEM;
		free(rl);
		if (fd >= 0)
			close(fd);
		return -e;
	}
	rl_init(rl, s, rl_now());
	vd->limit[q] = rl;
	vd->limit_fd[q] = fd;
	return 0;
}

int virtio_set_limit(struct virtio_dev *vd, unsigned q, const struct rl_spec *s)
{
	if (q >= vd->nq || !rl_on(s))
		return q >= vd->nq ? -EINVAL : 0;
	return alloc_limit(vd, q, s);
}

int virtio_limit_prepare(struct virtio_dev *vd, unsigned q)
{
	static const struct rl_spec none;
	return q < vd->nq ? alloc_limit(vd, q, &none) : -EINVAL;
}

int virtio_limit_update(struct virtio_dev *vd, unsigned q, const struct rl_spec *s)
{
	if (q >= vd->nq || !vd->limit[q])
		return -ENOENT;
	pthread_mutex_lock(&vd->lock);
	rl_init(vd->limit[q], s, rl_now());
	pthread_mutex_unlock(&vd->lock);
	/* A queue blocked under the old limit looks again now. */
	struct itimerspec now = { .it_value = { 0, 1 } };
	timerfd_settime(vd->limit_fd[q], 0, &now, NULL);
	return 0;
}

bool virtio_limit_admit(struct virtio_dev *vd, unsigned q, const struct virtq_chain *c)
{
	if (q >= vd->nq || !vd->limit[q])
		return true;
	return virtio_limit_admit_bytes(
		vd, q, vd->ops->cost ? vd->ops->cost(vd, q, c) : c->rd_len + c->wr_len);
}

bool virtio_limit_admit_bytes(struct virtio_dev *vd, unsigned q, uint64_t bytes)
{
	struct ratelimit *rl = q < vd->nq ? vd->limit[q] : NULL;
	uint64_t wait;
	if (!rl)
		return true;
	if (rl_admit(rl, bytes, rl_now(), &wait))
		return true;
	/* Exactly when it can pay: not a fixed retry period. */
	struct itimerspec t = { .it_value = { (time_t)(wait / 1000000000u),
					      (long)(wait % 1000000000u) } };
	timerfd_settime(vd->limit_fd[q], 0, &t, NULL);
	return false;
}

void virtio_limit_fired(struct virtio_dev *vd, unsigned q)
{
	uint64_t n;
	if (q < vd->nq && vd->limit_fd[q] >= 0 && read(vd->limit_fd[q], &n, sizeof(n)) < 0) {
		/* EAGAIN: re-armed meanwhile; nothing to clear */
	}
}

bool virtio_limit_stats(struct virtio_dev *vd, unsigned q, struct rl_stats *out)
{
	*out = (struct rl_stats){ 0 };
	if (q >= vd->nq || !vd->limit[q])
		return false;
	pthread_mutex_lock(&vd->lock);
	*out = vd->limit[q]->stats;
	if (vd->limit[q]->blocked_since) /* waiting now: count the time so far */
		out->throttled_ns += rl_now() - vd->limit[q]->blocked_since;
	pthread_mutex_unlock(&vd->lock);
	return true;
}

/* ---- snapshots ---- */

void virtio_reset(struct virtio_dev *vd)
{
	pthread_mutex_lock(&vd->lock);
	status_write(vd, 0);
	pthread_mutex_unlock(&vd->lock);
}

void virtio_quiesce(struct virtio_dev *vd)
{
	pthread_mutex_lock(&vd->lock);
}

void virtio_resume(struct virtio_dev *vd)
{
	pthread_mutex_unlock(&vd->lock);
}

void virtio_save(const struct virtio_dev *vd, struct virtio_state *st)
{
	memset(st, 0, sizeof(*st));
	st->device_id = vd->device_id;
	st->nq = vd->nq;
	st->dev_features = vd->dev_features;
	st->drv_features = vd->drv_features;
	st->status = status_get(vd);
	st->isr = __atomic_load_n(reg(vd, VIRTIO_MMIO_INTERRUPT_STATUS), __ATOMIC_SEQ_CST);
	st->dev_feat_sel = vd->dev_feat_sel;
	st->drv_feat_sel = vd->drv_feat_sel;
	st->queue_sel = vd->queue_sel;
	st->shm_sel = vd->shm_sel;
	st->config_size = vd->config_size < sizeof(st->config) ? vd->config_size
							       : (uint32_t)sizeof(st->config);
	memcpy(st->config, vd->regs + VIRTIO_MMIO_CONFIG, st->config_size);
	for (unsigned i = 0; i < vd->nq; i++) {
		const struct virtq *vq = &vd->q[i];
		st->q[i] = (struct virtio_queue_state){
			.num = vq->num,
			.last_avail = vq->last_avail,
			.used_idx = vq->used_idx,
			.signalled_used = vq->signalled_used,
			.ready = vq->ready,
			.desc = vq->desc_gpa,
			.avail = vq->avail_gpa,
			.used = vq->used_gpa,
		};
	}
}

int virtio_load(struct virtio_dev *vd, const struct virtio_state *st, const struct guest_mem *mem)
{
	if (st->device_id != vd->device_id || st->nq != vd->nq ||
	    st->dev_features != vd->dev_features || (st->drv_features & ~vd->dev_features))
		return -EINVAL;
	uint32_t ident = vd->config_ident < vd->config_size ? vd->config_ident : vd->config_size;
	if (st->config_size != vd->config_size ||
	    memcmp(st->config, vd->regs + VIRTIO_MMIO_CONFIG, ident) != 0)
		return -ERANGE;
	bool news = memcmp(st->config + ident, vd->regs + VIRTIO_MMIO_CONFIG + ident,
			   vd->config_size - ident) != 0;
	/*
	 * The queues are checked on scratch copies first: a state file whose
	 * rings are not in this guest's RAM changes nothing.
	 */
	struct virtq q[VIRTIO_MAX_QUEUES];
	memset(q, 0, sizeof(q));
	for (unsigned i = 0; i < vd->nq; i++) {
		const struct virtio_queue_state *s = &st->q[i];
		q[i].num = s->num;
		q[i].desc_gpa = s->desc;
		q[i].avail_gpa = s->avail;
		q[i].used_gpa = s->used;
		q[i].indirect = st->drv_features & (1ULL << VIRTIO_RING_F_INDIRECT_DESC);
		q[i].event_idx = st->drv_features & (1ULL << VIRTIO_RING_F_EVENT_IDX);
		if (s->ready && !virtq_enable(&q[i], mem))
			return -EIO;
		/* virtq_enable starts the indices at 0: the device goes on from where it was. */
		q[i].ready = s->ready != 0;
		q[i].last_avail = s->last_avail;
		q[i].used_idx = s->used_idx;
		q[i].signalled_used = s->signalled_used;
	}
	pthread_mutex_lock(&vd->lock);
	vd->mem = mem;
	memcpy(vd->q, q, sizeof(q));
	vd->drv_features = st->drv_features;
	vd->dev_feat_sel = st->dev_feat_sel;
	vd->drv_feat_sel = st->drv_feat_sel;
	vd->queue_sel = st->queue_sel;
	vd->shm_sel = st->shm_sel;
	__atomic_store_n(reg(vd, VIRTIO_MMIO_STATUS), st->status & 0xff, __ATOMIC_SEQ_CST);
	__atomic_store_n(reg(vd, VIRTIO_MMIO_INTERRUPT_STATUS),
			 st->isr & (VIRTIO_MMIO_INT_VRING | VIRTIO_MMIO_INT_CONFIG),
			 __ATOMIC_SEQ_CST);
	refresh(vd);
	if (news) /* the driver re-reads the config (KVM takes the pending irqfd at start) */
		virtio_config_changed(vd, vd->regs + VIRTIO_MMIO_CONFIG);
	pthread_mutex_unlock(&vd->lock);
	/* Requests made available before the snapshot and not taken yet are served at start. */
	for (unsigned i = 0; i < vd->nq; i++)
		efd_signal(vd->kick_fd[i]);
	return 0;
}
