/* SPDX-License-Identifier: Apache-2.0 */
/* Unit-test harness: fake guest RAM, a driver-side view of one split virtqueue, PASS/FAIL lines. */
#ifndef KVMRUN_TEST_HARNESS_H
#define KVMRUN_TEST_HARNESS_H

#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../mem.h"
#include "../../virtio.h"

/* Fake RAM layout (all guest-physical, inside MEM_SIZE). */
#define MEM_SIZE (1u << 20)
#define DESC_GPA 0x1000u
#define AVAIL_GPA 0x3000u
#define USED_GPA 0x4000u
#define IND_GPA 0x8000u	 /* indirect tables */
#define HDR_GPA 0xa000u	 /* request headers */
#define STAT_GPA 0xb000u /* status bytes */
#define DATA_GPA 0x10000u

/* Each test file defines UNIT_PREFIX ("unit/blk/"); names are "t_<case>". */
struct t {
	const char *name;
	char why[640];
	int failed;
	struct guest_mem mem;
	struct virtio_dev *vd;
	uint16_t num, avail_idx, used_seen;
};

static inline void t_fail(struct t *t, const char *fmt, ...)
{
	va_list ap;

	if (t->failed++)
		return; /* keep the first reason */
	va_start(ap, fmt);
	vsnprintf(t->why, sizeof(t->why), fmt, ap);
	va_end(ap);
}

/* On failure: remember why (with the line) and leave the test function. */
#define CHECK(t, cond, ...)                                     \
	do {                                                    \
		if (!(cond)) {                                  \
			char m_[512];                           \
			snprintf(m_, sizeof(m_), __VA_ARGS__);  \
			t_fail(t, "line %d: %s", __LINE__, m_); \
			return;                                 \
		}                                               \
	} while (0)

static inline void mem_fake(struct guest_mem *m)
{
	m->host = aligned_alloc(4096, MEM_SIZE);
	memset(m->host, 0, MEM_SIZE);
	m->size = m->low_size = MEM_SIZE;
}

static inline void *g(struct t *t, uint64_t gpa)
{
	return t->mem.host + gpa;
}

static inline void reg_w(struct t *t, uint64_t off, uint32_t v)
{
	virtio_mmio_ops.write(t->vd, off, (const uint8_t *)&v, 4);
}

static inline uint32_t reg_r(struct t *t, uint64_t off)
{
	uint32_t v;

	virtio_mmio_ops.read(t->vd, off, (uint8_t *)&v, 4);
	return v;
}

/*
 * Drive the register file as a Linux driver would: ACK, DRIVER, features
 * (what the device offers, masked by `want`), FEATURES_OK, queue 0 of size
 * num at the fixed ring addresses, QueueReady, DRIVER_OK. Returns the status.
 */
/* A driver's set-up of queue 0, ending with the status `last` (DRIVER_OK: running). */
static inline uint32_t drv_setup_to(struct t *t, uint64_t want, uint16_t num, uint32_t last)
{
	uint64_t dev;

	reg_w(t, 0x70, 0);
	reg_w(t, 0x70, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	reg_w(t, 0x70, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	reg_w(t, 0x14, 0);
	dev = reg_r(t, 0x10);
	reg_w(t, 0x14, 1);
	dev |= (uint64_t)reg_r(t, 0x10) << 32;
	dev &= want;
	reg_w(t, 0x24, 0);
	reg_w(t, 0x20, (uint32_t)dev);
	reg_w(t, 0x24, 1);
	reg_w(t, 0x20, (uint32_t)(dev >> 32));
	reg_w(t, 0x70,
	      VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
	reg_w(t, 0x30, 0);
	reg_w(t, 0x38, num);
	reg_w(t, 0x80, DESC_GPA);
	reg_w(t, 0x84, 0);
	reg_w(t, 0x90, AVAIL_GPA);
	reg_w(t, 0x94, 0);
	reg_w(t, 0xa0, USED_GPA);
	reg_w(t, 0xa4, 0);
	reg_w(t, 0x44, 1);
	reg_w(t, 0x70, last);
	t->num = num;
	t->avail_idx = 0;
	t->used_seen = 0;
	return reg_r(t, 0x70);
}

static inline uint32_t drv_setup(struct t *t, uint64_t want, uint16_t num)
{
	return drv_setup_to(t, want, num,
			    VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
				    VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
}

/* Write descriptor i of the table at gpa `table`. */
static inline void desc_at(struct t *t, uint64_t table, uint16_t i, uint64_t addr, uint32_t len,
			   uint16_t flags, uint16_t next)
{
	struct vring_desc d = { .addr = addr, .len = len, .flags = flags, .next = next };

	memcpy(g(t, table + 16u * i), &d, sizeof(d));
}

static inline void desc(struct t *t, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
			uint16_t next)
{
	desc_at(t, DESC_GPA, i, addr, len, flags, next);
}

/* Offer chain `head` in the avail ring and bump avail->idx. */
static inline void offer(struct t *t, uint16_t head)
{
	uint16_t *ring = g(t, AVAIL_GPA + 4);

	ring[t->avail_idx % t->num] = head;
	t->avail_idx++;
	*(uint16_t *)g(t, AVAIL_GPA + 2) = t->avail_idx;
}

static inline void set_avail_idx(struct t *t, uint16_t v)
{
	*(uint16_t *)g(t, AVAIL_GPA + 2) = v;
}

static inline uint16_t used_idx(struct t *t)
{
	return *(uint16_t *)g(t, USED_GPA + 2);
}

/* The used element at position i: id and len. */
static inline void used_elem(struct t *t, uint16_t i, uint32_t *id, uint32_t *len)
{
	uint32_t *e = g(t, USED_GPA + 4 + 8u * (i % t->num));

	*id = e[0];
	*len = e[1];
}

static inline void set_used_event(struct t *t, uint16_t v)
{
	*(uint16_t *)g(t, AVAIL_GPA + 4 + 2u * t->num) = v;
}

static inline uint16_t avail_event(struct t *t)
{
	return *(uint16_t *)g(t, USED_GPA + 4 + 8u * t->num);
}

/* Drain the irq eventfd: how many interrupts were raised since the last call. */
static inline uint64_t irqs(struct t *t)
{
	uint64_t n = 0;

	if (read(t->vd->irq_fd, &n, sizeof(n)) != sizeof(n))
		return 0;
	return n;
}

static inline bool needs_reset(struct t *t)
{
	return reg_r(t, 0x70) & VIRTIO_CONFIG_S_NEEDS_RESET;
}

static inline int t_report(struct t *t)
{
	if (t->failed)
		printf("FAIL %s%s: %s\n", UNIT_PREFIX, t->name + 2, t->why);
	else
		printf("PASS %s%s\n", UNIT_PREFIX, t->name + 2);
	fflush(stdout);
	return t->failed ? 1 : 0;
}

#endif
