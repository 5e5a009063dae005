// SPDX-License-Identifier: Apache-2.0
/* virtio-mmio devices at run time: ioeventfds and irqfd in KVM, the I/O thread that serves kicks. */
#include "virtio_io.h"

#include <errno.h>
#include <linux/kvm.h>
#include <linux/virtio_mmio.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "util.h"

static int ioeventfd(struct virtio_dev *vd, unsigned q, bool assign)
{
	struct kvm_ioeventfd io = {
		.datamatch = q,
		.addr = vd->cfg.base + VIRTIO_MMIO_NOTIFY,
		.len = 4,
		.fd = vd->kick_fd[q],
		.flags = KVM_IOEVENTFD_FLAG_DATAMATCH | (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
	};
	return ioctl(vd->vmfd, KVM_IOEVENTFD, &io) < 0 ? -errno : 0;
}

/*
 * The guest's interrupt handler reads InterruptStatus (free: the window is
 * mapped) and writes it back to InterruptACK. Clearing VRING on that write
 * would cost an exit to user space per interrupt; instead KVM completes an
 * ACK of VRING alone in the kernel, into an eventfd nobody reads, and the
 * bit stays set until reset. That is safe because the line is
 * edge-triggered (irqfd): a set bit raises nothing, it only makes the
 * handler look at its used rings, which it would do anyway on the next
 * interrupt. Other ACK values (CONFIG) still exit and clear what they name.
 */
static int ack_ioeventfd(struct virtio_dev *vd, bool assign)
{
	struct kvm_ioeventfd io = {
		.datamatch = VIRTIO_MMIO_INT_VRING,
		.addr = vd->cfg.base + VIRTIO_MMIO_INTERRUPT_ACK,
		.len = 4,
		.fd = vd->ack_fd,
		.flags = KVM_IOEVENTFD_FLAG_DATAMATCH | (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
	};
	return ioctl(vd->vmfd, KVM_IOEVENTFD, &io) < 0 ? -errno : 0;
}

static int irqfd(struct virtio_dev *vd, bool assign)
{
	struct kvm_irqfd f = {
		.fd = (uint32_t)vd->irq_fd,
		.gsi = vd->cfg.gsi,
		.flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN,
	};
	return ioctl(vd->vmfd, KVM_IRQFD, &f) < 0 ? -errno : 0;
}

static void unbind(struct virtio_dev *vd, unsigned nq, bool ack, bool irq)
{
	if (irq)
		irqfd(vd, false);
	if (ack)
		ack_ioeventfd(vd, false);
	for (unsigned i = 0; i < nq; i++)
		ioeventfd(vd, i, false);
}

void *virtio_thread_failed(struct virtio_dev *vd, const char *what, int err)
{
	char why[160];
	snprintf(why, sizeof(why), "its I/O thread stopped: %s: %s", what, strerror(err));
	if (vd->cfg.thread_failed)
		vd->cfg.thread_failed(vd->cfg.thread_ctx, vd, why);
	struct pollfd s = { .fd = vd->stop_fd, .events = POLLIN };
	for (;;) {
		int n = poll(&s, 1, -1);
		if (n > 0 && (s.revents & POLLIN))
			return NULL;
		if (n != 0 && !(n < 0 && errno == EINTR))
			poll(NULL, 0, 1000); /* even this failing: wait, never spin */
	}
}

/*
 * The I/O thread: sleeps in poll() on the kick eventfds, the limiters'
 * timerfds and the stop eventfd.
 */
static void *io_thread(void *arg)
{
	struct virtio_dev *vd = arg;
	struct pollfd p[2 * VIRTIO_MAX_QUEUES + 1];
	unsigned nq = vd->nq;

	if (vd->cfg.thread_start && !vd->cfg.thread_start(vd->cfg.thread_ctx))
		return NULL; /* not confined: it must not read the guest's rings */
	if (vd->ops->io_loop)
		return vd->ops->io_loop(vd);
	for (unsigned i = 0; i < nq; i++) {
		p[i] = (struct pollfd){ .fd = vd->kick_fd[i], .events = POLLIN };
		p[nq + i] = (struct pollfd){ .fd = vd->limit_fd[i], .events = POLLIN };
	}
	p[2 * nq] = (struct pollfd){ .fd = vd->stop_fd, .events = POLLIN };
	for (;;) {
		if (poll(p, 2 * nq + 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			return virtio_thread_failed(vd, "poll", errno);
		}
		if (p[2 * nq].revents)
			return NULL;
		for (unsigned i = 0; i < nq; i++) {
			uint64_t n;

			if (p[nq + i].revents)
				virtio_limit_fired(vd, i);
			if (!p[i].revents && !p[nq + i].revents)
				continue;
			/* Clear the count before processing: a kick after this read is not lost. */
			if (p[i].revents && read(p[i].fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
				return virtio_thread_failed(vd, "a kick eventfd's read", errno);
			virtio_process(vd, i);
		}
	}
}

int virtio_start(struct virtio_dev *vd, const struct virtio_mmio_cfg *cfg)
{
	unsigned i;
	int rc;

	vd->mem = cfg->mem;
	vd->cfg = *cfg;
	if (cfg->regs) {
		memcpy(cfg->regs, vd->regs, VIRTIO_MMIO_SIZE);
		vd->regs = cfg->regs;
	}
	if (cfg->vmfd < 0)
		return 0;
	vd->vmfd = cfg->vmfd;
	for (i = 0; i < vd->nq; i++)
		if ((rc = ioeventfd(vd, i, true)) < 0)
			goto undo_io;
	if ((rc = ack_ioeventfd(vd, true)) < 0)
		goto undo_io;
	if ((rc = irqfd(vd, true)) < 0)
		goto undo_ack;

	/* The I/O thread takes no signals: they belong to the main and vCPU threads. */
	sigset_t all, old;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = -pthread_create(&vd->thread, NULL, io_thread, vd);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc < 0)
		goto undo_irq;
	vd->kvm_bound = vd->thread_started = true;
	return 0;
undo_irq:
	irqfd(vd, false);
undo_ack:
	ack_ioeventfd(vd, false);
undo_io:
	unbind(vd, i, false, false);
	vd->vmfd = -1;
	return rc;
}

void virtio_stop(struct virtio_dev *vd)
{
	if (vd->thread_started) {
		efd_signal(vd->stop_fd);
		pthread_join(vd->thread, NULL);
		vd->thread_started = false;
	}
	if (vd->kvm_bound) {
		unbind(vd, vd->nq, true, true);
		vd->kvm_bound = false;
	}
	virtio_release(vd);
}
