// SPDX-License-Identifier: Apache-2.0
/* Unit test with a real VM fd (no vCPU): ioeventfd/irqfd binding, the I/O thread, reset vs. in-flight work. */
#define UNIT_PREFIX "unit/thread/"
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <linux/virtio_blk.h>
#include <sys/ioctl.h>
#include <time.h>

#include "../../virtio_blk.h"
#include "../../virtio_io.h"
#include "harness.h"

#define QSIZE 16

static void offer_sync(struct t *t, uint16_t head)
{
	uint16_t *ring = g(t, AVAIL_GPA + 4);

	ring[t->avail_idx % t->num] = head;
	t->avail_idx++;
	__atomic_store_n((uint16_t *)g(t, AVAIL_GPA + 2), t->avail_idx, __ATOMIC_RELEASE);
}

static uint16_t used_sync(struct t *t)
{
	return __atomic_load_n((uint16_t *)g(t, USED_GPA + 2), __ATOMIC_ACQUIRE);
}

static bool wait_used(struct t *t, uint16_t want)
{
	for (int i = 0; i < 2000; i++) {
		if (used_sync(t) == want)
			return true;
		usleep(1000);
	}
	return false;
}

static void t_io_thread(struct t *t, int vmfd, const char *path)
{
	struct blk_spec s = { 0 };
	char err[256];

	snprintf(s.path, sizeof(s.path), "%s", path);
	s.ro = false;
	s.serial[0] = 0;
	struct blk *b = blk_open(&s, err, sizeof(err));
	CHECK(t, b, "%s", err);
	struct virtio_mmio_cfg cfg = { .vmfd = vmfd, .mem = &t->mem, .base = 0xd0000000, .gsi = 5 };
	int rc = virtio_start(blk_virtio(b), &cfg);
	if (rc < 0)
		blk_close(b);
	CHECK(t, rc == 0, "virtio_start with a VM fd: %s", strerror(-rc));
	t->vd = blk_virtio(b);
	drv_setup(t, ~0ULL, QSIZE);

	/* 2000 IN requests, each kicked through the QueueNotify register (the
	 * MMIO-exit path; the ioeventfd path needs a vCPU). */
	struct virtio_blk_outhdr h = { .type = VIRTIO_BLK_T_IN, .sector = 1 };
	memcpy(g(t, HDR_GPA), &h, 16);
	desc(t, 0, HDR_GPA, 16, VRING_DESC_F_NEXT, 1);
	desc(t, 1, DATA_GPA, 512, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
	desc(t, 2, STAT_GPA, 1, VRING_DESC_F_WRITE, 0);
	bool ok = true;
	for (int i = 0; i < 2000 && ok; i++) {
		offer_sync(t, 0);
		reg_w(t, 0x50, 0);
		ok = wait_used(t, t->avail_idx);
		(void)reg_r(t, 0x60);
		(void)reg_r(t, 0x100);
		reg_w(t, 0x64, reg_r(t, 0x60));
	}
	if (!ok)
		blk_close(b);
	CHECK(t, ok, "the I/O thread did not complete a request (used %u, avail %u)", used_sync(t),
	      t->avail_idx);
	CHECK(t, *(uint8_t *)g(t, STAT_GPA) == VIRTIO_BLK_S_OK, "status");

	/* Reset with work queued: once Status reads 0, the used ring stays still. */
	for (int round = 0; round < 50; round++) {
		/* Reset first: DRIVER_OK sends a catch-up kick, so the rings must be
		 * clean before drv_setup enables them. */
		reg_w(t, 0x70, 0);
		memset(g(t, AVAIL_GPA), 0, 0x1000);
		memset(g(t, USED_GPA), 0, 0x1000);
		drv_setup(t, ~0ULL, QSIZE);
		for (int i = 0; i < QSIZE; i++)
			offer_sync(t, 0);
		reg_w(t, 0x50, 0);
		reg_w(t, 0x70, 0);
		uint16_t u = used_sync(t);
		usleep(2000);
		if (used_sync(t) != u) {
			blk_close(b);
			CHECK(t, false, "used ring written after reset (round %d)", round);
		}
	}
	struct blk_stats bs;
	blk_get_stats(b, &bs);
	blk_close(b); /* joins the thread, unbinds the eventfds */
	CHECK(t, bs.requests >= 2000 && bs.errors == 0, "stats %lu/%lu", (unsigned long)bs.requests,
	      (unsigned long)bs.errors);
}

static char failed_why[256];
static int failed_calls;

static void on_failed(void *ctx, struct virtio_dev *vd, const char *why)
{
	(void)ctx, (void)vd;
	snprintf(failed_why, sizeof(failed_why), "%s", why);
	__atomic_add_fetch(&failed_calls, 1, __ATOMIC_SEQ_CST);
}

/*
 * An I/O thread whose kick eventfd's read fails (here: the fd number now
 * names a write-only /dev/null) says so through cfg.thread_failed and waits
 * to be stopped: it used to return, and a confined thread has no exit (it
 * died of SIGSYS, with no word of why).
 */
static void t_thread_failed(struct t *t, int vmfd, const char *path)
{
	struct blk_spec s = { 0 };
	char err[256];
	snprintf(s.path, sizeof(s.path), "%s", path);
	struct blk *b = blk_open(&s, err, sizeof(err));
	CHECK(t, b, "%s", err);
	struct virtio_mmio_cfg cfg = { .vmfd = vmfd,
				       .mem = &t->mem,
				       .base = 0xd0001000,
				       .gsi = 6,
				       .thread_failed = on_failed };
	int rc = virtio_start(blk_virtio(b), &cfg);
	if (rc < 0)
		blk_close(b);
	CHECK(t, rc == 0, "virtio_start: %s", strerror(-rc));
	struct virtio_dev *vd = blk_virtio(b);
	int old = dup(vd->kick_fd[0]), nul = open("/dev/null", O_WRONLY | O_CLOEXEC);
	bool swapped = old >= 0 && nul >= 0 && dup2(nul, vd->kick_fd[0]) >= 0;
	uint64_t one = 1;
	bool kicked = swapped && write(old, &one, sizeof(one)) == sizeof(one);
	for (int i = 0; i < 2000 && !__atomic_load_n(&failed_calls, __ATOMIC_SEQ_CST); i++)
		usleep(1000);
	int calls = __atomic_load_n(&failed_calls, __ATOMIC_SEQ_CST);
	blk_close(b); /* the thread, waiting for it, ends */
	if (old >= 0)
		close(old);
	if (nul >= 0)
		close(nul);
	CHECK(t, kicked, "could not swap the kick fd: %s", strerror(errno));
	CHECK(t,
	      calls == 1 && strstr(failed_why, "kick eventfd's read") &&
		      strstr(failed_why, "Bad file descriptor"),
	      "thread_failed called %d times, why \"%s\"", calls, failed_why);
}

int main(void)
{
	struct t t = { .name = "t_io_thread" };
	char dir[] = "/tmp/kvmrun-thr.XXXXXX", path[64];
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	/* A FAIL, not a skip: test/run.sh runs this where /dev/kvm works. */
	if (kvm < 0) {
		printf("FAIL %sio_thread: /dev/kvm: %s\n", UNIT_PREFIX, strerror(errno));
		return 1;
	}
	int vmfd = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vmfd < 0 || ioctl(vmfd, KVM_CREATE_IRQCHIP, 0) < 0) {
		printf("FAIL %sio_thread: cannot create a VM with an irqchip: %s\n", UNIT_PREFIX,
		       strerror(errno));
		return 1;
	}
	mem_fake(&t.mem);
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/disk.img", dir);
	int fd = open(path, O_CREAT | O_RDWR, 0600);
	if (fd < 0 || ftruncate(fd, 1 << 20) < 0)
		return 1;
	close(fd);
	t_io_thread(&t, vmfd, path);
	int failed = t_report(&t);
	struct t t2 = { .name = "t_thread_failed" };
	mem_fake(&t2.mem);
	t_thread_failed(&t2, vmfd, path);
	failed |= t_report(&t2);
	free(t2.mem.host);
	unlink(path);
	rmdir(dir);
	free(t.mem.host);
	close(vmfd);
	close(kvm);
	return failed;
}
