// SPDX-License-Identifier: Apache-2.0
/* Unit tests: virtio-mmio register file, the chain walker, event idx, broken rings. */
#define UNIT_PREFIX "unit/virtq/"
#include "../../virtio_io.h"
#include "harness.h"

/* A dummy device that records what the walker handed it. */
struct dummy {
	struct virtio_dev vd;
	unsigned calls;
	struct virtq_chain last;
	uint8_t config[8];
};

static uint32_t dummy_handle(struct virtio_dev *vd, unsigned q, struct virtq_chain *c)
{
	struct dummy *d = vd->opaque;

	(void)q;
	d->calls++;
	d->last = *c;
	return c->err ? 0 : 0;
}

static const struct virtio_dev_ops dummy_ops = { .handle = dummy_handle };

#define DUMMY_ID 42
#define DUMMY_FEAT (1ULL << 3)
#define ALL_FEATURES (~0ULL)

static struct dummy *dummy_new(struct t *t)
{
	struct dummy *d = calloc(1, sizeof(*d));

	mem_fake(&t->mem);
	for (unsigned i = 0; i < sizeof(d->config); i++)
		d->config[i] = (uint8_t)(0xa0 + i);
	if (virtio_init(&d->vd, DUMMY_ID, DUMMY_FEAT, 1, d->config, sizeof(d->config), &dummy_ops,
			d) < 0)
		abort();
	struct virtio_mmio_cfg cfg = { .vmfd = -1, .mem = &t->mem, .base = 0xd0000000, .gsi = 5 };

	if (virtio_start(&d->vd, &cfg) < 0)
		abort();
	t->vd = &d->vd;
	return d;
}

static void dummy_free(struct t *t, struct dummy *d)
{
	virtio_stop(&d->vd);
	free(d);
	free(t->mem.host);
}

static uint64_t ignored(struct t *t)
{
	struct virtio_stats s;

	virtio_get_stats(t->vd, &s);
	return s.ignored;
}

/* ---- register file ---- */

static void t_regs_ids(struct t *t)
{
	CHECK(t, reg_r(t, 0x000) == 0x74726976, "magic %#x", reg_r(t, 0));
	CHECK(t, reg_r(t, 0x004) == 2, "version %u", reg_r(t, 4));
	CHECK(t, reg_r(t, 0x008) == DUMMY_ID, "device id");
	CHECK(t, reg_r(t, 0x00c) != 0, "vendor id");
	reg_w(t, 0x30, 0);
	CHECK(t, reg_r(t, 0x034) == VIRTQ_MAX_SIZE, "QueueNumMax %u", reg_r(t, 0x34));
	reg_w(t, 0x30, 1);
	CHECK(t, reg_r(t, 0x034) == 0, "QueueNumMax of a missing queue %u", reg_r(t, 0x34));
	reg_w(t, 0x14, 1);
	CHECK(t, reg_r(t, 0x010) & 1, "VERSION_1 offered (bit 32)");
	reg_w(t, 0x14, 0);
	uint32_t lo = reg_r(t, 0x010);
	CHECK(t, (lo & (1u << 28)) && (lo & (1u << 29)) && (lo & DUMMY_FEAT),
	      "INDIRECT/EVENT_IDX/device bits offered: %#x", lo);
	CHECK(t, reg_r(t, 0x100) == 0xa3a2a1a0, "config read %#x", reg_r(t, 0x100));
	uint8_t b;
	virtio_mmio_ops.read(t->vd, 0x105, &b, 1);
	CHECK(t, b == 0xa5, "byte config read %#x", b);
	CHECK(t, reg_r(t, 0xb0) == 0xffffffff, "SHMLen of no region is -1");
	CHECK(t, ignored(t) == 0, "nothing ignored yet: %lu", (unsigned long)ignored(t));
}

static void t_regs_odd_width(struct t *t)
{
	uint8_t buf[8];
	uint64_t v8 = 0x1234;
	uint16_t v2 = 7;

	/* Reads answer what the guest would read from the mapped window. */
	memset(buf, 0x55, sizeof(buf));
	virtio_mmio_ops.read(t->vd, 0x000, buf, 2); /* 2-byte magic read */
	CHECK(t, buf[0] == 'v' && buf[1] == 'i', "2-byte magic read %#x %#x", buf[0], buf[1]);
	virtio_mmio_ops.read(t->vd, 0x002, buf, 4); /* misaligned */
	CHECK(t, buf[0] == 'r' && buf[1] == 't' && buf[2] == 2 && buf[3] == 0,
	      "misaligned read across magic and version");
	virtio_mmio_ops.read(t->vd, 0x0e0, buf, 4); /* unknown */
	CHECK(t, !buf[0] && !buf[1] && !buf[2] && !buf[3], "unknown register reads 0");
	virtio_mmio_ops.read(t->vd, 0x108, buf, 4); /* past config space */
	CHECK(t, !buf[0] && !buf[1] && !buf[2] && !buf[3], "past config space reads 0");
	virtio_mmio_ops.read(t->vd, 0x000, buf, 8);
	virtio_mmio_ops.read(t->vd, 0xffc, buf, 4); /* last word of the window */
	CHECK(t, ignored(t) == 0, "reads inside the window ignored: %lu",
	      (unsigned long)ignored(t));
	memset(buf, 0x55, sizeof(buf));
	virtio_mmio_ops.read(t->vd, 0xffe, buf, 4); /* runs off the window */
	CHECK(t, !buf[0] && !buf[3], "read off the window returns zeros");
	virtio_mmio_ops.write(t->vd, 0x070, (uint8_t *)&v2, 2); /* 2-byte status write */
	virtio_mmio_ops.write(t->vd, 0x070, (uint8_t *)&v8, 8);
	virtio_mmio_ops.write(t->vd, 0x0e0, (uint8_t *)&v8, 4);
	virtio_mmio_ops.write(t->vd, 0x100, (uint8_t *)&v8, 4); /* config is read-only */
	virtio_mmio_ops.write(t->vd, 0x050, (uint8_t *)&v8, 4); /* notify of queue 0x1234 */
	CHECK(t, ignored(t) == 6, "ignored count %lu, want 6", (unsigned long)ignored(t));
	CHECK(t, reg_r(t, 0x70) == 0, "status unchanged by odd writes: %#x", reg_r(t, 0x70));
}

static void t_features_ok(struct t *t)
{
	uint32_t s = drv_setup(t, ALL_FEATURES, 8);

	CHECK(t, s & VIRTIO_CONFIG_S_FEATURES_OK, "subset with VERSION_1 accepted: %#x", s);
	CHECK(t, s & VIRTIO_CONFIG_S_DRIVER_OK, "driver ok");
	/* No VERSION_1: legacy, refused. */
	s = drv_setup(t, ~(1ULL << VIRTIO_F_VERSION_1), 8);
	CHECK(t, !(s & VIRTIO_CONFIG_S_FEATURES_OK), "FEATURES_OK without VERSION_1: %#x", s);
	/* A bit the device did not offer. */
	reg_w(t, 0x70, 0);
	reg_w(t, 0x70, 3);
	reg_w(t, 0x24, 0);
	reg_w(t, 0x20, 1u << 5);
	reg_w(t, 0x24, 1);
	reg_w(t, 0x20, 1);
	reg_w(t, 0x70, 3 | VIRTIO_CONFIG_S_FEATURES_OK);
	CHECK(t, !(reg_r(t, 0x70) & VIRTIO_CONFIG_S_FEATURES_OK), "unoffered bit accepted");
	/* Features cannot change after FEATURES_OK. */
	drv_setup(t, 1ULL << VIRTIO_F_VERSION_1, 8);
	uint64_t before = ignored(t);
	reg_w(t, 0x24, 0);
	reg_w(t, 0x20, 1u << 29);
	CHECK(t, ignored(t) == before + 1, "late DriverFeatures write ignored");
	CHECK(t, !(t->vd->drv_features & (1ULL << 29)), "late feature bit taken");
}

static void t_reset(struct t *t)
{
	drv_setup(t, ALL_FEATURES, 8);
	reg_w(t, 0x30, 0);
	CHECK(t, reg_r(t, 0x44) == 1, "queue ready after setup");
	reg_w(t, 0x70, 0);
	CHECK(t, reg_r(t, 0x70) == 0, "status after reset");
	CHECK(t, reg_r(t, 0x44) == 0, "queue not ready after reset");
	CHECK(t, reg_r(t, 0x60) == 0, "isr cleared");
	CHECK(t, t->vd->drv_features == 0, "driver features cleared");
	CHECK(t, t->vd->q[0].num == 0 && t->vd->q[0].desc_gpa == 0, "queue regs cleared");
	/* A reset device processes nothing. */
	desc(t, 0, DATA_GPA, 16, 0, 0);
	offer(t, 0);
	CHECK(t, virtio_process(t->vd, 0) == 0, "processed after reset");
}

static void t_ready_bad_rings(struct t *t)
{
	struct {
		uint64_t d, a, u;
		uint32_t num;
		const char *what;
	} cases[] = {
		{ MEM_SIZE - 16, AVAIL_GPA, USED_GPA, 8, "desc past end" },
		{ DESC_GPA, MEM_SIZE - 4, USED_GPA, 8, "avail past end" },
		{ DESC_GPA, AVAIL_GPA, MEM_SIZE - 8, 8, "used past end" },
		{ 0xfffffffffffffff0ULL, AVAIL_GPA, USED_GPA, 8, "desc wraps" },
		{ DESC_GPA + 8, AVAIL_GPA, USED_GPA, 8, "desc misaligned" },
		{ DESC_GPA, AVAIL_GPA + 1, USED_GPA, 8, "avail misaligned" },
		{ DESC_GPA, AVAIL_GPA, USED_GPA + 2, 8, "used misaligned" },
		{ DESC_GPA, AVAIL_GPA, USED_GPA, 3, "size not a power of 2" },
		{ DESC_GPA, AVAIL_GPA, USED_GPA, 512, "size above max" },
		{ DESC_GPA, AVAIL_GPA, USED_GPA, 0, "size 0" },
		{ 0xc0000000ULL, AVAIL_GPA, USED_GPA, 8, "desc in the hole" },
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		drv_setup(t, ALL_FEATURES, 8);
		irqs(t);
		reg_w(t, 0x30, 0);
		reg_w(t, 0x44, 0);
		reg_w(t, 0x38, cases[i].num);
		reg_w(t, 0x80, (uint32_t)cases[i].d);
		reg_w(t, 0x84, (uint32_t)(cases[i].d >> 32));
		reg_w(t, 0x90, (uint32_t)cases[i].a);
		reg_w(t, 0xa0, (uint32_t)cases[i].u);
		reg_w(t, 0x44, 1);
		CHECK(t, reg_r(t, 0x44) == 0, "%s: queue enabled", cases[i].what);
		CHECK(t, needs_reset(t), "%s: no NEEDS_RESET", cases[i].what);
		CHECK(t, reg_r(t, 0x60) & 2, "%s: no config-change isr bit", cases[i].what);
		CHECK(t, irqs(t) >= 1, "%s: no interrupt", cases[i].what);
		/* The driver cannot clear NEEDS_RESET except by resetting. */
		reg_w(t, 0x70, 0xf);
		CHECK(t, needs_reset(t), "%s: NEEDS_RESET cleared by a status write",
		      cases[i].what);
		reg_w(t, 0x70, 0);
		CHECK(t, !needs_reset(t), "%s: reset did not clear NEEDS_RESET", cases[i].what);
	}
	/* ACK clears isr bits. */
	drv_setup(t, ALL_FEATURES, 8);
	reg_w(t, 0x44, 0);
	reg_w(t, 0x38, 3);
	reg_w(t, 0x44, 1);
	reg_w(t, 0x64, 2);
	CHECK(t, reg_r(t, 0x60) == 0, "isr after ack %#x", reg_r(t, 0x60));
}

static void t_queue_regs_locked_when_ready(struct t *t)
{
	drv_setup(t, ALL_FEATURES, 8);
	uint64_t before = ignored(t);
	reg_w(t, 0x80, 0x5000);
	reg_w(t, 0x38, 64);
	CHECK(t, t->vd->q[0].desc_gpa == DESC_GPA && t->vd->q[0].num == 8,
	      "queue registers changed while ready");
	CHECK(t, ignored(t) == before + 2, "writes to a ready queue not counted");
	/* High halves. */
	reg_w(t, 0x44, 0);
	reg_w(t, 0x84, 1);
	CHECK(t, t->vd->q[0].desc_gpa == (1ULL << 32 | DESC_GPA), "high half");
}

/* ---- walker, through virtio_process ---- */

static struct virtq_chain *run1(struct t *t, struct dummy *d, uint16_t head)
{
	d->calls = 0;
	offer(t, head);
	if (virtio_process(t->vd, 0) != 1 || d->calls != 1)
		return NULL;
	return &d->last;
}

static void t_walk_good(struct t *t, struct dummy *d)
{
	drv_setup(t, ALL_FEATURES, 8);
	desc(t, 0, HDR_GPA, 16, VRING_DESC_F_NEXT, 5);
	desc(t, 5, DATA_GPA, 4096, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	desc(t, 2, STAT_GPA, 1, VRING_DESC_F_WRITE, 0);
	struct virtq_chain *c = run1(t, d, 0);
	CHECK(t, c, "not processed");
	CHECK(t, c->err == 0 && c->nr == 1 && c->nw == 2, "err %d nr %u nw %u", c->err, c->nr,
	      c->nw);
	CHECK(t, c->rd_len == 16 && c->wr_len == 4097, "lens");
	CHECK(t, c->iov[1].iov_base == g(t, DATA_GPA), "host address");
	CHECK(t, c->tail == g(t, STAT_GPA), "tail");
	uint32_t id, len;
	used_elem(t, 0, &id, &len);
	CHECK(t, used_idx(t) == 1 && id == 0, "used ring idx %u id %u", used_idx(t), id);
	/* Zero-length buffers are legal and cost a step. */
	desc(t, 1, DATA_GPA, 0, VRING_DESC_F_NEXT, 3);
	desc(t, 3, MEM_SIZE, 0, VRING_DESC_F_WRITE, 0);
	c = run1(t, d, 1);
	CHECK(t, c && c->err == 0 && c->nr == 1 && c->nw == 1 && !c->tail, "zero-length chain");
}

static void t_walk_indirect(struct t *t, struct dummy *d)
{
	drv_setup(t, ALL_FEATURES, 8);
	desc_at(t, IND_GPA, 0, HDR_GPA, 16, VRING_DESC_F_NEXT, 1);
	desc_at(t, IND_GPA, 1, DATA_GPA, 512, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	desc_at(t, IND_GPA, 2, STAT_GPA, 1, VRING_DESC_F_WRITE, 0);
	/* The WRITE flag on the indirect descriptor itself is ignored. */
	desc(t, 4, IND_GPA, 48, VRING_DESC_F_INDIRECT | VRING_DESC_F_WRITE, 0);
	struct virtq_chain *c = run1(t, d, 4);
	CHECK(t, c && c->err == 0 && c->nr == 1 && c->nw == 2, "indirect chain");
	/* A direct descriptor may precede the indirect one. */
	desc_at(t, IND_GPA + 0x100, 0, DATA_GPA, 512, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
	desc_at(t, IND_GPA + 0x100, 1, STAT_GPA, 1, VRING_DESC_F_WRITE, 0);
	desc(t, 6, HDR_GPA, 16, VRING_DESC_F_NEXT, 7);
	desc(t, 7, IND_GPA + 0x100, 32, VRING_DESC_F_INDIRECT, 0);
	c = run1(t, d, 6);
	CHECK(t, c && c->err == 0 && c->nr == 1 && c->nw == 2, "direct then indirect");
}

struct bad_case {
	const char *what;
	int want;
	void (*build)(struct t *t); /* builds a chain at head 0 */
};

static void b_past_end(struct t *t)
{
	desc(t, 0, MEM_SIZE - 8, 16, 0, 0);
}
static void b_overflow(struct t *t)
{
	desc(t, 0, 0xfffffffffffffff0ULL, 0x20, 0, 0);
}
static void b_hole(struct t *t)
{
	desc(t, 0, MEM_HOLE_START, 16, 0, 0);
}
static void b_self(struct t *t)
{
	desc(t, 0, HDR_GPA, 16, VRING_DESC_F_NEXT, 0);
}
static void b_cycle(struct t *t)
{
	for (uint16_t i = 0; i < 8; i++)
		desc(t, i, HDR_GPA, 16, VRING_DESC_F_NEXT, (uint16_t)((i + 1) % 8));
}
static void b_next_oob(struct t *t)
{
	desc(t, 0, HDR_GPA, 16, VRING_DESC_F_NEXT, 8);
}
static void b_order(struct t *t)
{
	desc(t, 0, STAT_GPA, 1, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	desc(t, 1, HDR_GPA, 16, 0, 0);
}
static void b_nested(struct t *t)
{
	desc_at(t, IND_GPA, 0, IND_GPA + 64, 16, VRING_DESC_F_INDIRECT, 0);
	desc(t, 0, IND_GPA, 16, VRING_DESC_F_INDIRECT, 0);
}
static void b_ind_next(struct t *t)
{
	desc_at(t, IND_GPA, 0, HDR_GPA, 16, 0, 0);
	desc(t, 0, IND_GPA, 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
	desc(t, 1, STAT_GPA, 1, VRING_DESC_F_WRITE, 0);
}
static void b_ind_len(struct t *t)
{
	desc(t, 0, IND_GPA, 17, VRING_DESC_F_INDIRECT, 0);
}
static void b_ind_zero(struct t *t)
{
	desc(t, 0, IND_GPA, 0, VRING_DESC_F_INDIRECT, 0);
}
static void b_ind_huge(struct t *t)
{
	desc(t, 0, IND_GPA, 16 * (VIRTQ_MAX_SIZE + 1), VRING_DESC_F_INDIRECT, 0);
}
static void b_ind_oob(struct t *t)
{
	desc(t, 0, MEM_SIZE - 32, 64, VRING_DESC_F_INDIRECT, 0);
}
static void b_ind_cycle(struct t *t)
{
	desc_at(t, IND_GPA, 0, HDR_GPA, 16, VRING_DESC_F_NEXT, 1);
	desc_at(t, IND_GPA, 1, HDR_GPA, 16, VRING_DESC_F_NEXT, 0);
	desc(t, 0, IND_GPA, 32, VRING_DESC_F_INDIRECT, 0);
}
static void b_ind_next_oob(struct t *t)
{
	desc_at(t, IND_GPA, 0, HDR_GPA, 16, VRING_DESC_F_NEXT, 2);
	desc(t, 0, IND_GPA, 32, VRING_DESC_F_INDIRECT, 0);
}

static const struct bad_case bad_cases[] = {
	{ "addr past end of memory", VIRTQ_E_ADDR, b_past_end },
	{ "addr+len overflow", VIRTQ_E_ADDR, b_overflow },
	{ "addr in the mmio hole", VIRTQ_E_ADDR, b_hole },
	{ "descriptor pointing to itself", VIRTQ_E_LOOP, b_self },
	{ "chain longer than the queue (cycle)", VIRTQ_E_LOOP, b_cycle },
	{ "next index out of range", VIRTQ_E_INDEX, b_next_oob },
	{ "readable after writable", VIRTQ_E_ORDER, b_order },
	{ "nested indirect", VIRTQ_E_INDIRECT, b_nested },
	{ "indirect with NEXT", VIRTQ_E_INDIRECT, b_ind_next },
	{ "indirect length not multiple of 16", VIRTQ_E_INDIRECT, b_ind_len },
	{ "indirect length 0", VIRTQ_E_INDIRECT, b_ind_zero },
	{ "indirect table too large", VIRTQ_E_INDIRECT, b_ind_huge },
	{ "indirect table out of range", VIRTQ_E_ADDR, b_ind_oob },
	{ "cycle inside indirect table", VIRTQ_E_LOOP, b_ind_cycle },
	{ "indirect next out of range", VIRTQ_E_INDEX, b_ind_next_oob },
};

static void t_walk_hostile(struct t *t, struct dummy *d)
{
	for (unsigned i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		drv_setup(t, ALL_FEATURES, 8);
		memset(g(t, DESC_GPA), 0, 16 * 8);
		bad_cases[i].build(t);
		struct virtq_chain *c = run1(t, d, 0);
		CHECK(t, c, "%s: not completed", bad_cases[i].what);
		CHECK(t, c->err == bad_cases[i].want, "%s: err %d want %d", bad_cases[i].what,
		      c->err, bad_cases[i].want);
		uint32_t id, len;
		used_elem(t, 0, &id, &len);
		CHECK(t, used_idx(t) == 1 && id == 0 && len == 0, "%s: used entry %u/%u/%u",
		      bad_cases[i].what, used_idx(t), id, len);
		CHECK(t, !needs_reset(t), "%s: chain errors are per request", bad_cases[i].what);
		/* A cycle ends after at most `num` steps, not at the global cap. */
		CHECK(t, c->nr + c->nw <= 8, "%s: %u buffers walked in an 8-entry table",
		      bad_cases[i].what, c->nr + c->nw);
	}
	/* Indirect without the feature negotiated. */
	drv_setup(t, ~(1ULL << VIRTIO_RING_F_INDIRECT_DESC), 8);
	desc_at(t, IND_GPA, 0, HDR_GPA, 16, 0, 0);
	desc(t, 0, IND_GPA, 16, VRING_DESC_F_INDIRECT, 0);
	struct virtq_chain *c = run1(t, d, 0);
	CHECK(t, c && c->err == VIRTQ_E_INDIRECT, "indirect not negotiated");
	/* A bad buffer mid-chain: walk continues, the status byte is still reachable. */
	drv_setup(t, ALL_FEATURES, 8);
	desc(t, 0, HDR_GPA, 16, VRING_DESC_F_NEXT, 1);
	desc(t, 1, MEM_SIZE, 512, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	desc(t, 2, STAT_GPA, 1, VRING_DESC_F_WRITE, 0);
	c = run1(t, d, 0);
	CHECK(t, c && c->err == VIRTQ_E_ADDR && c->tail == g(t, STAT_GPA), "tail after bad buffer");
	/* A chain of VIRTQ_MAX_SIZE+1 buffers via direct + indirect is refused. */
	drv_setup(t, ALL_FEATURES, 8);
	for (uint16_t i = 0; i < VIRTQ_MAX_SIZE; i++)
		desc_at(t, IND_GPA, i, HDR_GPA, 1, i + 1 < VIRTQ_MAX_SIZE ? VRING_DESC_F_NEXT : 0,
			(uint16_t)(i + 1));
	desc(t, 0, HDR_GPA, 1, VRING_DESC_F_NEXT, 1);
	desc(t, 1, IND_GPA, 16 * VIRTQ_MAX_SIZE, VRING_DESC_F_INDIRECT, 0);
	c = run1(t, d, 0);
	CHECK(t, c && c->err == VIRTQ_E_LOOP, "over-long chain err %d", c ? c->err : -1);
}

static void t_avail_jump(struct t *t, struct dummy *d)
{
	drv_setup(t, ALL_FEATURES, 8);
	desc(t, 0, HDR_GPA, 16, 0, 0);
	d->calls = 0;
	set_avail_idx(t, 9); /* 9 buffers in an 8-entry ring */
	CHECK(t, virtio_process(t->vd, 0) == 0 && d->calls == 0, "processed a jumped ring");
	CHECK(t, needs_reset(t), "no NEEDS_RESET");
	CHECK(t, used_idx(t) == 0, "used ring touched");
	set_avail_idx(t, 1);
	CHECK(t, virtio_process(t->vd, 0) == 0, "processing resumed before reset");
	/* Head index out of range. */
	drv_setup(t, ALL_FEATURES, 8);
	d->calls = 0;
	offer(t, 8);
	CHECK(t, virtio_process(t->vd, 0) == 0 && d->calls == 0, "head 8 processed");
	CHECK(t, needs_reset(t), "head out of range: no NEEDS_RESET");
	/* Nothing happens before DRIVER_OK. */
	drv_setup_to(t, ALL_FEATURES, 8, 0xb);
	desc(t, 0, HDR_GPA, 16, 0, 0);
	offer(t, 0);
	CHECK(t, virtio_process(t->vd, 0) == 0, "processed without DRIVER_OK");
	/* Nor after a driver clears it without a reset: the bit stays (2.1.1), and so does the queue. */
	reg_w(t, 0x70, 0xf);
	reg_w(t, 0x70, 0xb);
	CHECK(t, reg_r(t, 0x70) == 0xf && virtio_process(t->vd, 0) == 1, "DRIVER_OK cleared");
}

static void t_event_idx(struct t *t, struct dummy *d)
{
	drv_setup(t, ALL_FEATURES, 8);
	CHECK(t, t->vd->drv_features & (1ULL << VIRTIO_RING_F_EVENT_IDX), "EVENT_IDX negotiated");
	desc(t, 0, HDR_GPA, 16, 0, 0);
	irqs(t);
	/* used_event 0: the driver wants an interrupt after the first buffer. */
	set_used_event(t, 0);
	CHECK(t, run1(t, d, 0), "1st");
	CHECK(t, irqs(t) == 1 && (reg_r(t, 0x60) & 1), "no interrupt for used_event 0");
	CHECK(t, avail_event(t) == 1, "avail_event %u, want 1", avail_event(t));
	reg_w(t, 0x64, 1);
	/* used_event 5: no interrupt until used idx passes 5. */
	set_used_event(t, 5);
	CHECK(t, run1(t, d, 0), "2nd");
	CHECK(t, irqs(t) == 0 && reg_r(t, 0x60) == 0, "interrupt although used_event said no");
	for (int i = 0; i < 3; i++)
		CHECK(t, run1(t, d, 0), "3rd..5th");
	CHECK(t, irqs(t) == 0, "interrupt before used idx 6");
	CHECK(t, run1(t, d, 0), "6th");
	CHECK(t, irqs(t) == 1, "no interrupt when used idx passed used_event");
	/* A batch that jumps over used_event still interrupts exactly once. */
	set_used_event(t, 7);
	offer(t, 0);
	offer(t, 0);
	offer(t, 0);
	CHECK(t, virtio_process(t->vd, 0) == 3, "batch");
	CHECK(t, irqs(t) == 1, "batch across used_event");
	/* Without EVENT_IDX, NO_INTERRUPT suppresses. */
	drv_setup(t, ~(1ULL << VIRTIO_RING_F_EVENT_IDX), 8);
	irqs(t);
	*(uint16_t *)g(t, AVAIL_GPA) = VRING_AVAIL_F_NO_INTERRUPT;
	CHECK(t, run1(t, d, 0), "no-event 1");
	CHECK(t, irqs(t) == 0, "interrupt despite NO_INTERRUPT");
	*(uint16_t *)g(t, AVAIL_GPA) = 0;
	CHECK(t, run1(t, d, 0), "no-event 2");
	CHECK(t, irqs(t) == 1, "no interrupt without NO_INTERRUPT");
}

/* With cfg.regs the window moves there: what the guest reads, without exits. */
static void t_window_mapped(struct t *t)
{
	struct dummy *d = calloc(1, sizeof(*d));
	uint32_t *page = aligned_alloc(4096, 4096);

	mem_fake(&t->mem);
	memset(page, 0xee, 4096);
	memcpy(d->config, "\xa0\xa1\xa2\xa3\xa4\xa5\xa6\xa7", 8);
	if (!page || virtio_init(&d->vd, DUMMY_ID, DUMMY_FEAT, 1, d->config, sizeof(d->config),
				 &dummy_ops, d) < 0)
		abort();
	struct virtio_mmio_cfg cfg = {
		.vmfd = -1, .mem = &t->mem, .base = 0xd0000000, .gsi = 5, .regs = page
	};

	if (virtio_start(&d->vd, &cfg) < 0)
		abort();
	t->vd = &d->vd;
	CHECK(t, page[0] == 0x74726976 && page[1] == 2 && page[2] == DUMMY_ID, "ids in the page");
	CHECK(t, page[0x100 / 4] == 0xa3a2a1a0, "config in the page %#x", page[0x100 / 4]);
	CHECK(t, page[0xe0 / 4] == 0 && page[0x3fc] == 0, "page not wholly replaced");
	reg_w(t, 0x30, 1);
	CHECK(t, page[0x34 / 4] == 0, "QueueNumMax of a missing queue in the page");
	reg_w(t, 0x30, 0);
	CHECK(t, page[0x34 / 4] == VIRTQ_MAX_SIZE, "QueueNumMax in the page %u", page[0x34 / 4]);
	reg_w(t, 0x14, 1);
	CHECK(t, page[0x10 / 4] & 1, "DeviceFeatures follows DeviceFeaturesSel");
	drv_setup(t, ALL_FEATURES, 8);
	CHECK(t, page[0x70 / 4] & VIRTIO_CONFIG_S_DRIVER_OK, "Status in the page %#x",
	      page[0x70 / 4]);
	CHECK(t, page[0x44 / 4] == 1, "QueueReady in the page");
	desc(t, 0, HDR_GPA, 16, 0, 0);
	set_used_event(t, 0);
	irqs(t);
	CHECK(t, run1(t, d, 0) && irqs(t) == 1, "interrupt");
	CHECK(t, page[0x60 / 4] == 1, "InterruptStatus in the page %#x", page[0x60 / 4]);
	reg_w(t, 0x64, 1); /* by exit: without KVM there is no ioeventfd to take it */
	CHECK(t, page[0x60 / 4] == 0, "ACK by exit did not clear");
	reg_w(t, 0x70, 0);
	CHECK(t, page[0x70 / 4] == 0 && page[0x44 / 4] == 0, "reset not in the page");
	virtio_stop(&d->vd);
	free(d);
	free(page);
	free(t->mem.host);
}

static void t_notify_forwards(struct t *t)
{
	uint64_t n = 0;

	drv_setup(t, ALL_FEATURES, 8);
	(void)!read(t->vd->kick_fd[0], &n, sizeof(n)); /* DRIVER_OK's catch-up kick */
	reg_w(t, 0x50, 0);
	n = 0;
	CHECK(t, read(t->vd->kick_fd[0], &n, sizeof(n)) == sizeof(n) && n == 1,
	      "QueueNotify by MMIO exit did not reach the kick eventfd");
}

static void t_ring_wrap(struct t *t, struct dummy *d)
{
	/* Run the 16-bit indices across 65535 -> 0 on a 4-entry queue. */
	drv_setup(t, ALL_FEATURES, 4);
	desc(t, 0, HDR_GPA, 16, 0, 0);
	unsigned total = 0;
	for (unsigned i = 0; i < 70000 / 3; i++) {
		offer(t, 0);
		offer(t, 0);
		offer(t, 0);
		total += virtio_process(t->vd, 0);
	}
	CHECK(t, total == 3 * (70000 / 3), "processed %u", total);
	CHECK(t, used_idx(t) == (uint16_t)total, "used idx %u", used_idx(t));
	CHECK(t, !needs_reset(t), "wrap marked NEEDS_RESET");
	(void)d;
}

int main(void)
{
	int failed = 0;
#define RUN0(fn)                                 \
	do {                                     \
		struct t t = { .name = #fn };    \
		struct dummy *d = dummy_new(&t); \
		fn(&t);                          \
		failed += t_report(&t);          \
		dummy_free(&t, d);               \
	} while (0)
#define RUN1(fn)                                 \
	do {                                     \
		struct t t = { .name = #fn };    \
		struct dummy *d = dummy_new(&t); \
		fn(&t, d);                       \
		failed += t_report(&t);          \
		dummy_free(&t, d);               \
	} while (0)
	RUN0(t_regs_ids);
	RUN0(t_regs_odd_width);
	RUN0(t_features_ok);
	RUN0(t_reset);
	RUN0(t_ready_bad_rings);
	RUN0(t_queue_regs_locked_when_ready);
	RUN0(t_notify_forwards);
	{
		struct t t = { .name = "t_window_mapped" };
		t_window_mapped(&t);
		failed += t_report(&t);
	}
	RUN1(t_walk_good);
	RUN1(t_walk_indirect);
	RUN1(t_walk_hostile);
	RUN1(t_avail_jump);
	RUN1(t_event_idx);
	RUN1(t_ring_wrap);
	return failed ? 1 : 0;
}
