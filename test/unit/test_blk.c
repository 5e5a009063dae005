// SPDX-License-Identifier: Apache-2.0
/* Unit tests: virtio-blk requests against a temp image, good and hostile. */
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_blk.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>

#include "../../virtio_blk.h"
#define UNIT_PREFIX "unit/blk/"
#include "../../virtio_io.h"
#include "harness.h"

#define SECTORS 256
#define TAIL 100 /* bytes past the last whole sector: never touched */
#define IMG_SIZE (SECTORS * 512 + TAIL)
#define QSIZE 16

struct ctx {
	char dir[64], path[128];
	struct blk *b;
	uint8_t orig[IMG_SIZE];
};

static uint8_t pat(size_t i)
{
	return (uint8_t)(i * 7 + i / 512 + 1);
}

static int make_image(struct ctx *x)
{
	snprintf(x->dir, sizeof(x->dir), "%s/kvmrun-blk.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(x->dir))
		return -1;
	snprintf(x->path, sizeof(x->path), "%s/disk.img", x->dir);
	for (size_t i = 0; i < IMG_SIZE; i++)
		x->orig[i] = pat(i);
	int fd = open(x->path, O_CREAT | O_RDWR | O_TRUNC, 0600);
	if (fd < 0 || pwrite(fd, x->orig, IMG_SIZE, 0) != IMG_SIZE)
		return -1;
	close(fd);
	return 0;
}

static void drop_image(struct ctx *x)
{
	if (x->path[0])
		unlink(x->path);
	if (x->dir[0])
		rmdir(x->dir);
	x->path[0] = x->dir[0] = 0;
}

/* The whole image file, compared with `want`. Returns the first differing offset or -1. */
static long file_diff(struct ctx *x, const uint8_t *want, size_t len)
{
	static uint8_t now[IMG_SIZE + 1];
	int fd = open(x->path, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : pread(fd, now, sizeof(now), 0);

	if (fd >= 0)
		close(fd);
	if (n != (ssize_t)len)
		return 0x7fffffff;
	for (size_t i = 0; i < len; i++)
		if (now[i] != want[i])
			return (long)i;
	return -1;
}

static int setup(struct t *t, struct ctx *x, const char *spec_text)
{
	struct blk_spec s = { 0 };
	char err[256];
	char spec[256];

	mem_fake(&t->mem);
	if (make_image(x) < 0)
		return -1;
	snprintf(spec, sizeof(spec), "%s%s", x->path, spec_text);
	if (blk_parse_spec(spec, &s, err, sizeof(err)) < 0)
		return -1;
	x->b = blk_open(&s, err, sizeof(err));
	if (!x->b) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	struct virtio_mmio_cfg cfg = { .vmfd = -1, .mem = &t->mem, .base = 0xd0000000, .gsi = 5 };
	if (virtio_start(blk_virtio(x->b), &cfg) < 0)
		return -1;
	t->vd = blk_virtio(x->b);
	drv_setup(t, ~0ULL, QSIZE);
	return 0;
}

/* Idempotent: tests call it, and the runner calls it again after a failed CHECK. */
static void teardown(struct t *t, struct ctx *x)
{
	blk_close(x->b);
	x->b = NULL;
	drop_image(x);
	free(t->mem.host);
	t->mem.host = NULL;
}

struct seg {
	uint64_t gpa;
	uint32_t len;
	uint16_t flags; /* VRING_DESC_F_WRITE or 0 */
};

/*
 * Submit header + segs + status as one direct chain at head 0 and process it.
 * Returns the status byte (0xff untouched) and the used length.
 */
static int req(struct t *t, uint32_t type, uint64_t sector, const struct seg *s, int n,
	       uint32_t *used)
{
	struct virtio_blk_outhdr h = { .type = type, .sector = sector };
	uint16_t before = used_idx(t);
	uint32_t id;

	memcpy(g(t, HDR_GPA), &h, sizeof(h));
	*(uint8_t *)g(t, STAT_GPA) = 0xff;
	desc(t, 0, HDR_GPA, 16, VRING_DESC_F_NEXT, 1);
	for (int i = 0; i < n; i++)
		desc(t, (uint16_t)(1 + i), s[i].gpa, s[i].len, s[i].flags | VRING_DESC_F_NEXT,
		     (uint16_t)(2 + i));
	desc(t, (uint16_t)(1 + n), STAT_GPA, 1, VRING_DESC_F_WRITE, 0);
	offer(t, 0);
	if (virtio_process(t->vd, 0) != 1 || used_idx(t) != (uint16_t)(before + 1))
		return -1;
	used_elem(t, before, &id, used);
	return *(uint8_t *)g(t, STAT_GPA);
}

/* ---- tests ---- */

static void t_parse_spec(struct t *t)
{
	struct blk_spec s = { 0 };
	char err[256];

	CHECK(t, blk_parse_spec("/a/b.img", &s, err, sizeof(err)) == 0, "plain");
	CHECK(t, !strcmp(s.path, "/a/b.img") && !s.ro && !s.serial[0], "plain fields");
	CHECK(t, blk_parse_spec("x.img,ro,serial=ABC-1", &s, err, sizeof(err)) == 0, "full");
	CHECK(t, !strcmp(s.path, "x.img") && s.ro && !strcmp(s.serial, "ABC-1"), "full fields");
	CHECK(t, blk_parse_spec("x.img,serial=12345678901234567890", &s, err, sizeof(err)) == 0,
	      "20-char serial");
	CHECK(t, blk_parse_spec("x.img,serial=123456789012345678901", &s, err, sizeof(err)) < 0,
	      "21-char serial accepted");
	CHECK(t, blk_parse_spec("x.img,rw", &s, err, sizeof(err)) < 0 && strstr(err, "rw"),
	      "unknown option: %s", err);
	CHECK(t, blk_parse_spec(",ro", &s, err, sizeof(err)) < 0, "empty path");
	CHECK(t, blk_parse_spec("", &s, err, sizeof(err)) < 0, "empty");
	CHECK(t, blk_parse_spec("x.img,serial=", &s, err, sizeof(err)) < 0, "empty serial");
	CHECK(t, blk_parse_spec("x.img,serial=a\tb", &s, err, sizeof(err)) < 0, "tab in serial");
}

static void t_open_errors(struct t *t, struct ctx *x)
{
	struct blk_spec s = { 0 };
	char err[256];

	CHECK(t, make_image(x) == 0, "image");
	blk_parse_spec("/nonexistent/kvmrun-disk.img", &s, err, sizeof(err));
	CHECK(t, !blk_open(&s, err, sizeof(err)) && strstr(err, "/nonexistent/kvmrun-disk.img"),
	      "missing: %s", err);
	blk_parse_spec(x->dir, &s, err, sizeof(err));
	s.ro = true; /* O_RDONLY opens a directory; fstat must catch it */
	CHECK(t, !blk_open(&s, err, sizeof(err)) && strstr(err, x->dir) && strstr(err, "directory"),
	      "directory: %s", err);
	blk_parse_spec("/dev/null", &s, err, sizeof(err));
	CHECK(t, !blk_open(&s, err, sizeof(err)) && strstr(err, "/dev/null"), "char device");

	blk_parse_spec(x->path, &s, err, sizeof(err));
	struct blk *a = blk_open(&s, err, sizeof(err));
	CHECK(t, a, "first open: %s", err);
	struct blk *b2 = blk_open(&s, err, sizeof(err));
	CHECK(t, !b2 && strstr(err, x->path) && strstr(err, "in use by another process"),
	      "second writable open: %s", b2 ? "succeeded" : err);
	s.ro = true;
	b2 = blk_open(&s, err, sizeof(err));
	CHECK(t, !b2 && strstr(err, "in use"), "ro open beside a writer");
	blk_close(a);
	struct blk *r1 = blk_open(&s, err, sizeof(err));
	struct blk *r2 = blk_open(&s, err, sizeof(err));
	CHECK(t, r1 && r2, "two read-only opens share: %s", err);
	s.ro = false;
	b2 = blk_open(&s, err, sizeof(err));
	CHECK(t, !b2 && strstr(err, "in use"), "writer beside readers");
	blk_close(r1);
	blk_close(r2);
	/* Unreadable: only meaningful when not root. */
	if (geteuid() != 0) {
		chmod(x->path, 0);
		CHECK(t, !blk_open(&s, err, sizeof(err)) && strstr(err, x->path), "unreadable");
		chmod(x->path, 0600);
	}
	CHECK(t, file_diff(x, x->orig, IMG_SIZE) < 0, "image modified by opens");
	drop_image(x);
}

static uint32_t cfg32(struct t *t, uint32_t off)
{
	return reg_r(t, 0x100 + off);
}

/*
 * PATCH /drives path_on_host: the disk runs on another image. The guest
 * sees the new capacity, a moved ConfigGeneration and a config interrupt,
 * and reads the new image; an image that cannot be opened, or is locked by
 * another, changes nothing.
 */
static void t_replace(struct t *t, struct ctx *x)
{
	char err[256], other[300];
	CHECK(t, setup(t, x, "") == 0, "setup");
	snprintf(other, sizeof(other), "%s/other.img", x->dir);
	int fd = open(other, O_CREAT | O_RDWR | O_TRUNC, 0600);
	static uint8_t img2[4 * SECTORS * 512];
	for (size_t i = 0; i < sizeof(img2); i++)
		img2[i] = (uint8_t)(i * 7 + 3);
	CHECK(t, fd >= 0 && pwrite(fd, img2, sizeof(img2), 0) == (ssize_t)sizeof(img2), "image 2");
	close(fd);
	uint32_t gen = reg_r(t, 0xfc);
	CHECK(t,
	      blk_replace(x->b, "/nonexistent/x.img", err, sizeof(err)) < 0 &&
		      strstr(err, "/nonexistent/x.img"),
	      "missing image: %s", err);
	CHECK(t, blk_capacity(x->b) == SECTORS && reg_r(t, 0xfc) == gen, "unchanged after a miss");
	int holder = open(other, O_RDWR);
	struct flock lk = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	CHECK(t, holder >= 0 && fcntl(holder, F_OFD_SETLK, &lk) == 0, "lock it elsewhere");
	CHECK(t, blk_replace(x->b, other, err, sizeof(err)) < 0 && strstr(err, "in use"),
	      "locked image: %s", err);
	close(holder);
	CHECK(t, blk_replace(x->b, other, err, sizeof(err)) == 0, "replace: %s", err);
	uint64_t cap = cfg32(t, 0) | (uint64_t)cfg32(t, 4) << 32;
	CHECK(t, cap == 4 * SECTORS && blk_capacity(x->b) == 4 * SECTORS, "new capacity %lu",
	      (unsigned long)cap);
	CHECK(t, reg_r(t, 0xfc) == gen + 1, "config generation %u -> %u", gen, reg_r(t, 0xfc));
	CHECK(t, reg_r(t, 0x60) & 2, "config interrupt (InterruptStatus bit 1)");
	struct seg s = { DATA_GPA, 512, VRING_DESC_F_WRITE };
	uint32_t used;
	int st = req(t, VIRTIO_BLK_T_IN, 3 * SECTORS, &s, 1, &used);
	CHECK(t, st == VIRTIO_BLK_S_OK && !memcmp(g(t, DATA_GPA), img2 + 3 * SECTORS * 512, 512),
	      "read past the old end from the new image: status %d", st);
	CHECK(t, file_diff(x, x->orig, IMG_SIZE) < 0, "the old image changed");
	/*
	 * The same file again, grown (Firecracker's rescan): its own lock must
	 * not refuse it; the guest sees the new size, reads what was added.
	 */
	fd = open(other, O_WRONLY);
	CHECK(t, fd >= 0 && pwrite(fd, img2, sizeof(img2), sizeof(img2)) == (ssize_t)sizeof(img2),
	      "grow image 2");
	close(fd);
	gen = reg_r(t, 0xfc);
	CHECK(t, blk_replace(x->b, other, err, sizeof(err)) == 0, "the same file again: %s", err);
	cap = cfg32(t, 0) | (uint64_t)cfg32(t, 4) << 32;
	CHECK(t, cap == 8 * SECTORS && reg_r(t, 0xfc) == gen + 1, "rescanned capacity %lu",
	      (unsigned long)cap);
	st = req(t, VIRTIO_BLK_T_IN, 7 * SECTORS, &s, 1, &used);
	CHECK(t, st == VIRTIO_BLK_S_OK && !memcmp(g(t, DATA_GPA), img2 + 3 * SECTORS * 512, 512),
	      "read the grown part: status %d", st);
	teardown(t, x);
	unlink(other);
}

static void t_config(struct t *t, struct ctx *x)
{

	CHECK(t, setup(t, x, ",serial=disk-7") == 0, "setup");
	CHECK(t, reg_r(t, 0x8) == 2, "device id %u", reg_r(t, 0x8));
	uint64_t cap = cfg32(t, 0) | (uint64_t)cfg32(t, 4) << 32;
	CHECK(t, cap == SECTORS && blk_capacity(x->b) == SECTORS, "capacity %lu rounds down",
	      (unsigned long)cap);
	uint64_t v8;
	virtio_mmio_ops.read(t->vd, 0x100, (uint8_t *)&v8, 8);
	CHECK(t, v8 == SECTORS, "8-byte config read");
	CHECK(t, cfg32(t, 12) == VIRTQ_MAX_SIZE - 2, "seg_max");
	CHECK(t, cfg32(t, 20) == 512, "blk_size");
	CHECK(t, cfg32(t, 0x24) > 0 && cfg32(t, 0x28) == 1 && cfg32(t, 0x2c) == 1,
	      "discard limits");
	CHECK(t, cfg32(t, 0x30) > 0 && cfg32(t, 0x34) == 1 && (cfg32(t, 0x38) & 0xff) == 1,
	      "write zeroes limits");
	uint64_t f = t->vd->drv_features;
	CHECK(t,
	      (f & (1 << VIRTIO_BLK_F_FLUSH)) && (f & (1 << VIRTIO_BLK_F_DISCARD)) &&
		      (f & (1 << VIRTIO_BLK_F_WRITE_ZEROES)) && (f & (1 << VIRTIO_BLK_F_SEG_MAX)) &&
		      (f & (1 << VIRTIO_BLK_F_BLK_SIZE)) && !(f & (1 << VIRTIO_BLK_F_RO)),
	      "features %#lx", (unsigned long)f);
	teardown(t, x);
	memset(x, 0, sizeof(*x));
	CHECK(t, setup(t, x, ",ro") == 0, "setup ro");
	f = t->vd->drv_features;
	CHECK(t, (f & (1 << VIRTIO_BLK_F_RO)) && !(f & (1 << VIRTIO_BLK_F_DISCARD)),
	      "ro features %#lx", (unsigned long)f);
	teardown(t, x);
}

static void t_in(struct t *t, struct ctx *x)
{
	uint32_t used;

	CHECK(t, setup(t, x, "") == 0, "setup");
	memset(g(t, DATA_GPA), 0xee, 0x3000);
	struct seg s[3] = { { DATA_GPA, 100, VRING_DESC_F_WRITE },
			    { DATA_GPA + 0x1000, 412, VRING_DESC_F_WRITE },
			    { DATA_GPA + 0x2000, 512, VRING_DESC_F_WRITE } };
	int st = req(t, VIRTIO_BLK_T_IN, 3, s, 3, &used);
	CHECK(t, st == VIRTIO_BLK_S_OK, "status %d", st);
	CHECK(t, used == 1025, "used len %u", used);
	CHECK(t,
	      !memcmp(g(t, DATA_GPA), x->orig + 3 * 512, 100) &&
		      !memcmp(g(t, DATA_GPA + 0x1000), x->orig + 3 * 512 + 100, 412) &&
		      !memcmp(g(t, DATA_GPA + 0x2000), x->orig + 4 * 512, 512),
	      "data read back differs");
	CHECK(t, *(uint8_t *)g(t, DATA_GPA + 100) == 0xee, "wrote past a descriptor");
	/* Data and status in one 513-byte descriptor: the status is its last byte. */
	desc(t, 0, HDR_GPA, 16, VRING_DESC_F_NEXT, 1);
	desc(t, 1, DATA_GPA + 0x3000, 513, VRING_DESC_F_WRITE, 0);
	*(uint8_t *)g(t, DATA_GPA + 0x3000 + 512) = 0xff;
	offer(t, 0);
	CHECK(t, virtio_process(t->vd, 0) == 1, "combined not processed");
	CHECK(t, *(uint8_t *)g(t, DATA_GPA + 0x3000 + 512) == VIRTIO_BLK_S_OK, "combined status");
	CHECK(t, !memcmp(g(t, DATA_GPA + 0x3000), x->orig + 3 * 512, 512), "combined data");
	/* Last sector is readable; one past is not. */
	st = req(t, VIRTIO_BLK_T_IN, SECTORS - 1, s + 2, 1, &used);
	CHECK(t, st == VIRTIO_BLK_S_OK, "last sector");
	st = req(t, VIRTIO_BLK_T_IN, SECTORS, s + 2, 1, &used);
	CHECK(t, st == VIRTIO_BLK_S_IOERR && used == 1, "past end: %d used %u", st, used);
	struct blk_stats bs;
	blk_get_stats(x->b, &bs);
	CHECK(t, bs.requests == 4 && bs.bytes_read == 2048 && bs.errors == 1,
	      "stats req %lu read %lu err %lu", (unsigned long)bs.requests,
	      (unsigned long)bs.bytes_read, (unsigned long)bs.errors);
	teardown(t, x);
}

static void t_out(struct t *t, struct ctx *x)
{
	uint8_t want[IMG_SIZE];
	uint32_t used;

	CHECK(t, setup(t, x, "") == 0, "setup");
	memcpy(want, x->orig, IMG_SIZE);
	for (int i = 0; i < 1024; i++)
		*(uint8_t *)g(t, DATA_GPA + (i < 300 ? i : 0x1000 + i - 300)) = (uint8_t)(0x80 ^ i);
	for (int i = 0; i < 1024; i++)
		want[10 * 512 + i] = (uint8_t)(0x80 ^ i);
	struct seg s[2] = { { DATA_GPA, 300, 0 }, { DATA_GPA + 0x1000, 724, 0 } };
	int st = req(t, VIRTIO_BLK_T_OUT, 10, s, 2, &used);
	CHECK(t, st == VIRTIO_BLK_S_OK && used == 1, "status %d used %u", st, used);
	long d = file_diff(x, want, IMG_SIZE);
	CHECK(t, d < 0, "file differs at %ld", d);
	/* Last whole sector writable; the trailing partial sector never. */
	st = req(t, VIRTIO_BLK_T_OUT, SECTORS - 1, s, 2, &used);
	CHECK(t, st == VIRTIO_BLK_S_IOERR, "2 sectors at the last one: %d", st);
	CHECK(t, file_diff(x, want, IMG_SIZE) < 0, "file changed by a refused write");
	/* Header and data in one descriptor (ANY_LAYOUT). */
	struct virtio_blk_outhdr h = { .type = VIRTIO_BLK_T_OUT, .sector = 20 };
	memcpy(g(t, DATA_GPA + 0x4000), &h, 16);
	memset(g(t, DATA_GPA + 0x4010), 0x5a, 512);
	desc(t, 0, DATA_GPA + 0x4000, 528, VRING_DESC_F_NEXT, 1);
	desc(t, 1, STAT_GPA, 1, VRING_DESC_F_WRITE, 0);
	*(uint8_t *)g(t, STAT_GPA) = 0xff;
	offer(t, 0);
	CHECK(t, virtio_process(t->vd, 0) == 1, "any-layout processed");
	CHECK(t, *(uint8_t *)g(t, STAT_GPA) == VIRTIO_BLK_S_OK, "any-layout status");
	memset(want + 20 * 512, 0x5a, 512);
	CHECK(t, file_diff(x, want, IMG_SIZE) < 0, "any-layout data");
	/* FLUSH */
	st = req(t, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, &used);
	CHECK(t, st == VIRTIO_BLK_S_OK && used == 1, "flush %d", st);
	struct blk_stats bs;
	blk_get_stats(x->b, &bs);
	CHECK(t, bs.bytes_written == 1536, "bytes written %lu", (unsigned long)bs.bytes_written);
	teardown(t, x);
}

static void t_big_request(struct t *t, struct ctx *x)
{
	struct seg s[VIRTQ_MAX_SIZE - 2];
	uint32_t used;
	uint8_t want[IMG_SIZE];

	CHECK(t, setup(t, x, "") == 0, "setup");
	/* A 256-entry queue and seg_max (254) data segments of 256 bytes: 127 sectors. */
	drv_setup(t, ~0ULL, 256);
	for (int i = 0; i < 254; i++) {
		s[i] = (struct seg){ DATA_GPA + 0x200u * i, 256, 0 };
		memset(g(t, DATA_GPA + 0x200u * i), i, 256);
	}
	memcpy(want, x->orig, IMG_SIZE);
	for (int i = 0; i < 254; i++)
		memset(want + 256 * i, i, 256);
	int st = req(t, VIRTIO_BLK_T_OUT, 0, s, 254, &used);
	CHECK(t, st == VIRTIO_BLK_S_OK, "254-seg out %d", st);
	CHECK(t, file_diff(x, want, IMG_SIZE) < 0, "data");
	for (int i = 0; i < 254; i++)
		s[i] = (struct seg){ DATA_GPA + 0x40000u + 0x200u * i, 256, VRING_DESC_F_WRITE };
	st = req(t, VIRTIO_BLK_T_IN, 0, s, 254, &used);
	CHECK(t, st == VIRTIO_BLK_S_OK && used == 254 * 256 + 1, "in %d", st);
	for (int i = 0; i < 254; i++)
		CHECK(t, !memcmp(g(t, DATA_GPA + 0x40000u + 0x200u * i), want + 256 * i, 256),
		      "segment %d", i);
	teardown(t, x);
}

/*
 * size_max is offered, and a request over seg_max * size_max (31.75 MiB) is
 * refused: its I/O would hold the device for as long as it takes.
 */
static void t_request_max(struct t *t, struct ctx *x)
{
	static struct seg s[VIRTQ_MAX_SIZE - 2];
	enum { SEG = 128 << 10 };
	uint32_t used;
	char err[256];

	CHECK(t, setup(t, x, "") == 0, "setup");
	drv_setup(t, ~0ULL, 256);
	CHECK(t, (t->vd->drv_features & (1 << VIRTIO_BLK_F_SIZE_MAX)) && cfg32(t, 8) == SEG,
	      "size_max %u", cfg32(t, 8));
	CHECK(t,
	      truncate(x->path, 64 << 20) == 0 && blk_replace(x->b, x->path, err, sizeof(err)) == 0,
	      "grown to 64 MiB: %s", err);
	for (int i = 0; i < 254; i++) /* each one the same 128 KiB of guest RAM */
		s[i] = (struct seg){ DATA_GPA, SEG, VRING_DESC_F_WRITE };
	int st = req(t, VIRTIO_BLK_T_IN, 0, s, 254, &used);
	CHECK(t, st == VIRTIO_BLK_S_OK && used == 254u * SEG + 1, "the most: status %d used %u", st,
	      used);
	s[253].len += 512;
	st = req(t, VIRTIO_BLK_T_IN, 0, s, 254, &used);
	CHECK(t, st == VIRTIO_BLK_S_IOERR && used == 1, "a sector more: status %d used %u", st,
	      used);
	for (int i = 0; i < 254; i++)
		s[i].flags = 0;
	st = req(t, VIRTIO_BLK_T_OUT, 0, s, 254, &used);
	CHECK(t, st == VIRTIO_BLK_S_IOERR, "written: status %d", st);
	teardown(t, x);
}

static void t_get_id(struct t *t, struct ctx *x)
{
	uint32_t used;

	CHECK(t, setup(t, x, ",serial=disk-7") == 0, "setup");
	memset(g(t, DATA_GPA), 0xee, 32);
	struct seg s = { DATA_GPA, 20, VRING_DESC_F_WRITE };
	int st = req(t, VIRTIO_BLK_T_GET_ID, 0, &s, 1, &used);
	CHECK(t, st == VIRTIO_BLK_S_OK && used == 21, "status %d used %u", st, used);
	CHECK(t, !memcmp(g(t, DATA_GPA), "disk-7\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 20), "serial");
	CHECK(t, *(uint8_t *)g(t, DATA_GPA + 20) == 0xee, "wrote past 20 bytes");
	teardown(t, x);
}

static void t_discard_write_zeroes(struct t *t, struct ctx *x)
{
	uint8_t want[IMG_SIZE];
	uint32_t used;
	struct virtio_blk_discard_write_zeroes r;

	CHECK(t, setup(t, x, "") == 0, "setup");
	memcpy(want, x->orig, IMG_SIZE);
	struct seg s = { DATA_GPA, 16, 0 };
	r = (struct virtio_blk_discard_write_zeroes){ .sector = 8, .num_sectors = 8 };
	memcpy(g(t, DATA_GPA), &r, 16);
	int st = req(t, VIRTIO_BLK_T_DISCARD, 0, &s, 1, &used);
	CHECK(t, st == VIRTIO_BLK_S_OK, "discard %d", st);
	memset(want + 8 * 512, 0, 8 * 512);
	long d = file_diff(x, want, IMG_SIZE);
	CHECK(t, d < 0, "discard: file differs at %ld (size kept?)", d);
	r = (struct virtio_blk_discard_write_zeroes){ .sector = 30, .num_sectors = 3 };
	memcpy(g(t, DATA_GPA), &r, 16);
	st = req(t, VIRTIO_BLK_T_WRITE_ZEROES, 0, &s, 1, &used);
	CHECK(t, st == VIRTIO_BLK_S_OK, "write zeroes %d", st);
	memset(want + 30 * 512, 0, 3 * 512);
	CHECK(t, file_diff(x, want, IMG_SIZE) < 0, "write zeroes: file differs");
	r = (struct virtio_blk_discard_write_zeroes){ .sector = 40,
						      .num_sectors = 1,
						      .flags = VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP };
	memcpy(g(t, DATA_GPA), &r, 16);
	st = req(t, VIRTIO_BLK_T_WRITE_ZEROES, 0, &s, 1, &used);
	CHECK(t, st == VIRTIO_BLK_S_OK, "write zeroes unmap %d", st);
	memset(want + 40 * 512, 0, 512);
	CHECK(t, file_diff(x, want, IMG_SIZE) < 0, "write zeroes unmap: file differs");
	/* Refusals: unmap on discard, unknown flag, past end, two segments. */
	st = req(t, VIRTIO_BLK_T_DISCARD, 0, &s, 1, &used);
	CHECK(t, st == VIRTIO_BLK_S_UNSUPP, "discard with unmap %d", st);
	r = (struct virtio_blk_discard_write_zeroes){ .sector = 1, .num_sectors = 1, .flags = 4 };
	memcpy(g(t, DATA_GPA), &r, 16);
	st = req(t, VIRTIO_BLK_T_WRITE_ZEROES, 0, &s, 1, &used);
	CHECK(t, st == VIRTIO_BLK_S_UNSUPP, "unknown flag %d", st);
	r = (struct virtio_blk_discard_write_zeroes){ .sector = SECTORS - 1, .num_sectors = 2 };
	memcpy(g(t, DATA_GPA), &r, 16);
	st = req(t, VIRTIO_BLK_T_WRITE_ZEROES, 0, &s, 1, &used);
	CHECK(t, st == VIRTIO_BLK_S_IOERR, "past end %d", st);
	r = (struct virtio_blk_discard_write_zeroes){ .sector = ~0ULL, .num_sectors = 2 };
	memcpy(g(t, DATA_GPA), &r, 16);
	st = req(t, VIRTIO_BLK_T_DISCARD, 0, &s, 1, &used);
	CHECK(t, st == VIRTIO_BLK_S_IOERR, "sector overflow %d", st);
	r = (struct virtio_blk_discard_write_zeroes){ .sector = 1, .num_sectors = 1 };
	memcpy(g(t, DATA_GPA), &r, 16);
	memcpy(g(t, DATA_GPA + 16), &r, 16);
	s.len = 32;
	st = req(t, VIRTIO_BLK_T_DISCARD, 0, &s, 1, &used);
	CHECK(t, st == VIRTIO_BLK_S_IOERR, "two segments %d", st);
	CHECK(t, file_diff(x, want, IMG_SIZE) < 0, "refused requests changed the file");
	struct stat sb;
	CHECK(t, stat(x->path, &sb) == 0 && sb.st_size == IMG_SIZE, "size changed");
	teardown(t, x);
}

static void t_read_only(struct t *t, struct ctx *x)
{
	uint32_t used;

	CHECK(t, setup(t, x, ",ro") == 0, "setup");
	struct seg s = { DATA_GPA, 512, 0 };
	int st = req(t, VIRTIO_BLK_T_OUT, 0, &s, 1, &used);
	CHECK(t, st == VIRTIO_BLK_S_IOERR, "OUT on ro: %d", st);
	struct virtio_blk_discard_write_zeroes r = { .sector = 0, .num_sectors = 1 };
	memcpy(g(t, DATA_GPA), &r, 16);
	s.len = 16;
	st = req(t, VIRTIO_BLK_T_DISCARD, 0, &s, 1, &used);
	CHECK(t, st == VIRTIO_BLK_S_IOERR, "DISCARD on ro: %d", st);
	st = req(t, VIRTIO_BLK_T_WRITE_ZEROES, 0, &s, 1, &used);
	CHECK(t, st == VIRTIO_BLK_S_IOERR, "WRITE_ZEROES on ro: %d", st);
	s = (struct seg){ DATA_GPA, 512, VRING_DESC_F_WRITE };
	st = req(t, VIRTIO_BLK_T_IN, 1, &s, 1, &used);
	CHECK(t, st == VIRTIO_BLK_S_OK && !memcmp(g(t, DATA_GPA), x->orig + 512, 512), "IN on ro");
	CHECK(t, file_diff(x, x->orig, IMG_SIZE) < 0, "ro image modified");
	teardown(t, x);
}

static void t_bad_shapes(struct t *t, struct ctx *x)
{
	uint32_t used;
	int st;

	CHECK(t, setup(t, x, "") == 0, "setup");
	struct seg w512 = { DATA_GPA, 512, VRING_DESC_F_WRITE }, r512 = { DATA_GPA, 512, 0 };
	struct seg w100 = { DATA_GPA, 100, VRING_DESC_F_WRITE }, r100 = { DATA_GPA, 100, 0 };
	st = req(t, 99, 0, NULL, 0, &used);
	CHECK(t, st == VIRTIO_BLK_S_UNSUPP && used == 1, "unknown type %d", st);
	st = req(t, VIRTIO_BLK_T_IN, 0, &w100, 1, &used);
	CHECK(t, st == VIRTIO_BLK_S_IOERR, "IN of 100 bytes %d", st);
	st = req(t, VIRTIO_BLK_T_OUT, 0, &r100, 1, &used);
	CHECK(t, st == VIRTIO_BLK_S_IOERR, "OUT of 100 bytes %d", st);
	st = req(t, VIRTIO_BLK_T_IN, 0, &r512, 1, &used);
	CHECK(t, st == VIRTIO_BLK_S_IOERR, "IN with readable data %d", st);
	st = req(t, VIRTIO_BLK_T_OUT, 0, &w512, 1, &used);
	CHECK(t, st == VIRTIO_BLK_S_IOERR, "OUT with writable data %d", st);
	st = req(t, VIRTIO_BLK_T_OUT, ~0ULL, &r512, 1, &used);
	CHECK(t, st == VIRTIO_BLK_S_IOERR, "OUT at sector 2^64-1 %d", st);
	st = req(t, VIRTIO_BLK_T_OUT, (~0ULL) / 512, &r512, 1, &used);
	CHECK(t, st == VIRTIO_BLK_S_IOERR, "OUT at a sector whose byte offset wraps %d", st);
	st = req(t, VIRTIO_BLK_T_FLUSH, 0, &r512, 1, &used);
	CHECK(t, st == VIRTIO_BLK_S_IOERR, "FLUSH with data %d", st);
	/* Header too short. */
	desc(t, 0, HDR_GPA, 8, VRING_DESC_F_NEXT, 1);
	desc(t, 1, STAT_GPA, 1, VRING_DESC_F_WRITE, 0);
	*(uint8_t *)g(t, STAT_GPA) = 0xff;
	offer(t, 0);
	virtio_process(t->vd, 0);
	CHECK(t, *(uint8_t *)g(t, STAT_GPA) == VIRTIO_BLK_S_IOERR, "8-byte header");
	CHECK(t, file_diff(x, x->orig, IMG_SIZE) < 0, "image modified");
	teardown(t, x);
}

/* Hostile chains: each leaves the image untouched and answers IOERR, or len 0 when no status byte is safe. */
static void t_hostile(struct t *t, struct ctx *x)
{
	uint32_t used;
	int st;

	CHECK(t, setup(t, x, "") == 0, "setup");
	struct {
		const char *what;
		struct seg s;
	} direct[] = {
		{ "data past end of memory", { MEM_SIZE - 256, 512, 0 } },
		{ "data addr+len overflow", { 0xffffffffffffff00ULL, 512, 0 } },
		{ "data length 4 GiB - 1", { DATA_GPA, 0xffffffffu, 0 } },
		{ "data in the hole", { MEM_HOLE_START, 512, 0 } },
	};
	for (unsigned i = 0; i < sizeof(direct) / sizeof(direct[0]); i++) {
		st = req(t, VIRTIO_BLK_T_OUT, 0, &direct[i].s, 1, &used);
		CHECK(t, st == VIRTIO_BLK_S_IOERR && used == 1, "%s: status %d used %u",
		      direct[i].what, st, used);
		direct[i].s.flags = VRING_DESC_F_WRITE;
		st = req(t, VIRTIO_BLK_T_IN, 0, &direct[i].s, 1, &used);
		CHECK(t, st == VIRTIO_BLK_S_IOERR && used == 1, "%s (IN): status %d used %u",
		      direct[i].what, st, used);
	}
	uint16_t u0;
	uint32_t id;
#define ONE(what, want_status, want_used)                                                          \
	do {                                                                                       \
		*(uint8_t *)g(t, STAT_GPA) = 0xff;                                                 \
		u0 = used_idx(t);                                                                  \
		offer(t, 0);                                                                       \
		virtio_process(t->vd, 0);                                                          \
		CHECK(t, used_idx(t) == (uint16_t)(u0 + 1), "%s: not completed", what);            \
		used_elem(t, u0, &id, &used);                                                      \
		CHECK(t, id == 0 && used == (want_used), "%s: used id %u len %u", what, id, used); \
		CHECK(t, *(uint8_t *)g(t, STAT_GPA) == (want_status), "%s: status %#x", what,      \
		      *(uint8_t *)g(t, STAT_GPA));                                                 \
		CHECK(t, !needs_reset(t), "%s: NEEDS_RESET", what);                                \
		CHECK(t, file_diff(x, x->orig, IMG_SIZE) < 0, "%s: image modified", what);         \
	} while (0)
	struct virtio_blk_outhdr h = { .type = VIRTIO_BLK_T_OUT, .sector = 0 };
	memcpy(g(t, HDR_GPA), &h, 16);
	memset(g(t, DATA_GPA), 0x77, 0x10000);

	desc(t, 0, HDR_GPA, 16, VRING_DESC_F_NEXT, 0);
	ONE("descriptor pointing to itself", 0xff, 0);

	for (uint16_t i = 0; i < QSIZE; i++)
		desc(t, i, DATA_GPA, 512, VRING_DESC_F_NEXT, (uint16_t)((i + 1) % QSIZE));
	ONE("chain longer than the queue", 0xff, 0);

	desc(t, 0, HDR_GPA, 16, VRING_DESC_F_NEXT, 1);
	desc(t, 1, DATA_GPA, 512, VRING_DESC_F_NEXT, 2);
	desc(t, 2, STAT_GPA, 1, 0, 0); /* status device-readable */
	ONE("read-only status byte", 0xff, 0);

	desc(t, 2, STAT_GPA, 0, VRING_DESC_F_WRITE, 0);
	ONE("zero-length status", 0xff, 0);

	desc(t, 0, HDR_GPA, 0, VRING_DESC_F_NEXT, 1);
	desc(t, 2, STAT_GPA, 1, VRING_DESC_F_WRITE, 0);
	/* The header is taken from the first 16 readable bytes, however framed
	 * (ANY_LAYOUT): here the data's 0x77 bytes, an unknown type. */
	ONE("zero-length header", VIRTIO_BLK_S_UNSUPP, 1);

	desc(t, 0, HDR_GPA, 16, VRING_DESC_F_NEXT, 1);
	desc(t, 1, DATA_GPA, 0, VRING_DESC_F_NEXT, 2);
	ONE("OUT of zero bytes (zero-length data descriptor)", VIRTIO_BLK_S_OK, 1);

	desc(t, 0, HDR_GPA, 16, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
	desc(t, 1, DATA_GPA, 512, VRING_DESC_F_NEXT, 2);
	ONE("writable header, readable data after it", VIRTIO_BLK_S_IOERR, 1);

	desc_at(t, IND_GPA, 0, IND_GPA + 0x100, 48, VRING_DESC_F_INDIRECT, 0);
	desc(t, 0, IND_GPA, 16, VRING_DESC_F_INDIRECT, 0);
	ONE("nested indirect", 0xff, 0);

	desc(t, 0, MEM_SIZE - 16, 48, VRING_DESC_F_INDIRECT, 0);
	ONE("indirect table out of range", 0xff, 0);

	desc(t, 0, 0xfffffffffffffff0ULL, 32, VRING_DESC_F_INDIRECT, 0);
	ONE("indirect table wraps", 0xff, 0);

	/* A good indirect OUT whose data points past memory: IOERR through the status. */
	desc_at(t, IND_GPA, 0, HDR_GPA, 16, VRING_DESC_F_NEXT, 1);
	desc_at(t, IND_GPA, 1, MEM_SIZE - 1, 512, VRING_DESC_F_NEXT, 2);
	desc_at(t, IND_GPA, 2, STAT_GPA, 1, VRING_DESC_F_WRITE, 0);
	desc(t, 0, IND_GPA, 48, VRING_DESC_F_INDIRECT, 0);
	ONE("indirect data past memory", VIRTIO_BLK_S_IOERR, 1);

	/* Status byte aliasing the header (hostile but harmless). */
	desc(t, 0, HDR_GPA, 16, VRING_DESC_F_NEXT, 1);
	desc(t, 1, HDR_GPA, 1, VRING_DESC_F_WRITE, 0);
	*(uint8_t *)g(t, STAT_GPA) = 0xff;
	u0 = used_idx(t);
	offer(t, 0);
	virtio_process(t->vd, 0);
	CHECK(t, used_idx(t) == (uint16_t)(u0 + 1), "aliasing status not completed");
	CHECK(t, file_diff(x, x->orig, IMG_SIZE) < 0, "aliasing: image modified");

	/* Avail index jumping by more than the queue size: device needs reset. */
	desc(t, 0, HDR_GPA, 16, VRING_DESC_F_NEXT, 1);
	desc(t, 1, DATA_GPA, 512, VRING_DESC_F_NEXT, 2);
	desc(t, 2, STAT_GPA, 1, VRING_DESC_F_WRITE, 0);
	u0 = used_idx(t);
	set_avail_idx(t, (uint16_t)(t->avail_idx + QSIZE + 1));
	virtio_process(t->vd, 0);
	CHECK(t, needs_reset(t) && used_idx(t) == u0, "avail jump");
	CHECK(t, file_diff(x, x->orig, IMG_SIZE) < 0, "avail jump: image modified");
	struct blk_stats bs;
	blk_get_stats(x->b, &bs);
	CHECK(t, bs.errors >= 18 && bs.bytes_written == 0, "stats errors %lu written %lu",
	      (unsigned long)bs.errors, (unsigned long)bs.bytes_written);
	teardown(t, x);
}

/* A reset stops processing; re-initialising the queue brings the disk back. */
static void t_reset_mid_use(struct t *t, struct ctx *x)
{
	uint32_t used;

	CHECK(t, setup(t, x, "") == 0, "setup");
	struct seg s = { DATA_GPA, 512, VRING_DESC_F_WRITE };
	CHECK(t, req(t, VIRTIO_BLK_T_IN, 0, &s, 1, &used) == 0, "before reset");
	reg_w(t, 0x70, 0);
	offer(t, 0);
	CHECK(t, virtio_process(t->vd, 0) == 0, "processed after reset");
	drv_setup(t, ~0ULL, QSIZE);
	memset(g(t, USED_GPA), 0, 0x1000);
	memset(g(t, AVAIL_GPA), 0, 0x1000);
	CHECK(t, req(t, VIRTIO_BLK_T_IN, 2, &s, 1, &used) == 0, "after re-init");
	CHECK(t, !memcmp(g(t, DATA_GPA), x->orig + 1024, 512), "data after re-init");
	teardown(t, x);
}

/*
 * Snapshot state: a device saved with a request offered but not taken, and
 * a fresh device on the same image loaded from it, takes up the queue where
 * the first left it (the request is served, the used ring goes on). A state
 * of another device kind, another size or with a ring outside RAM changes
 * nothing.
 */
static void t_snapshot_state(struct t *t, struct ctx *x)
{
	uint32_t used, id;
	struct virtio_state st, other;

	CHECK(t, setup(t, x, "") == 0, "setup");
	struct seg s = { DATA_GPA, 512, VRING_DESC_F_WRITE };
	for (int i = 0; i < 3; i++)
		CHECK(t, req(t, VIRTIO_BLK_T_IN, 0, &s, 1, &used) == 0, "request %d", i);
	struct virtio_blk_outhdr h = { .type = VIRTIO_BLK_T_IN, .sector = 4 };
	memcpy(g(t, HDR_GPA), &h, sizeof(h));
	*(uint8_t *)g(t, STAT_GPA) = 0xff;
	desc(t, 0, HDR_GPA, 16, VRING_DESC_F_NEXT, 1);
	desc(t, 1, DATA_GPA, 512, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
	desc(t, 2, STAT_GPA, 1, VRING_DESC_F_WRITE, 0);
	offer(t, 0);
	virtio_quiesce(t->vd);
	virtio_save(t->vd, &st);
	virtio_resume(t->vd);
	CHECK(t, st.q[0].last_avail == 3 && st.q[0].used_idx == 3 && st.q[0].ready,
	      "saved last_avail %u used %u ready %u", st.q[0].last_avail, st.q[0].used_idx,
	      st.q[0].ready);
	/* The same image again: the first device's lock must go first. */
	blk_close(x->b);
	char err[256];
	struct blk_spec spec = { 0 };
	CHECK(t, blk_parse_spec(x->path, &spec, err, sizeof(err)) == 0, "spec");
	x->b = blk_open(&spec, err, sizeof(err));
	CHECK(t, x->b, "reopen: %s", err);
	t->vd = blk_virtio(x->b);
	other = st;
	other.device_id = 1;
	CHECK(t, virtio_load(t->vd, &other, &t->mem) == -EINVAL, "another device kind loaded");
	other = st;
	other.config[0] ^= 1;
	CHECK(t, virtio_load(t->vd, &other, &t->mem) == -ERANGE, "another size loaded");
	other = st;
	other.q[0].used = MEM_SIZE - 8;
	CHECK(t, virtio_load(t->vd, &other, &t->mem) == -EIO, "a ring outside RAM loaded");
	CHECK(t, reg_r(t, 0x70) == 0, "a refused load changed Status to 0x%x", reg_r(t, 0x70));
	CHECK(t, virtio_load(t->vd, &st, &t->mem) == 0, "load");
	struct virtio_mmio_cfg cfg = { .vmfd = -1, .mem = &t->mem, .base = 0xd0000000, .gsi = 5 };
	CHECK(t, virtio_start(t->vd, &cfg) == 0, "start");
	CHECK(t, reg_r(t, 0x70) == st.status && reg_r(t, 0x44) == 1, "Status 0x%x QueueReady %u",
	      reg_r(t, 0x70), reg_r(t, 0x44));
	CHECK(t, virtio_process(t->vd, 0) == 1 && used_idx(t) == 4, "pending request: used %u",
	      used_idx(t));
	used_elem(t, 3, &id, &used);
	CHECK(t, id == 0 && used == 513 && *(uint8_t *)g(t, STAT_GPA) == 0,
	      "used elem id %u len %u status %u", id, used, *(uint8_t *)g(t, STAT_GPA));
	CHECK(t, !memcmp(g(t, DATA_GPA), x->orig + 4 * 512, 512), "data of sector 4");
	teardown(t, x);
}

/*
 * A rate limit (iops=10, bw=8K): ten requests go, the eleventh stays in the
 * ring (not taken, nothing used) with the limiter's timer armed for exactly
 * when the buckets can pay; after that time it goes. Bandwidth counts data
 * bytes only: two 4 KiB reads empty an 8 KiB bucket.
 */
static void t_rate_limit(struct t *t, struct ctx *x)
{
	uint32_t used;
	struct itimerspec its;

	CHECK(t, setup(t, x, ",iops=10") == 0, "setup");
	struct seg s = { DATA_GPA, 512, VRING_DESC_F_WRITE };
	for (int i = 0; i < 10; i++)
		CHECK(t, req(t, VIRTIO_BLK_T_IN, 0, &s, 1, &used) == 0, "request %d", i);
	CHECK(t, req(t, VIRTIO_BLK_T_IN, 0, &s, 1, &used) == -1 && used_idx(t) == 10,
	      "the 11th request was served: used %u", used_idx(t));
	/* Up to 0.1 s left: less by as long as this thread was preempted since (50 ms). */
	CHECK(t,
	      timerfd_gettime(t->vd->limit_fd[0], &its) == 0 && its.it_value.tv_sec == 0 &&
		      its.it_value.tv_nsec > 50000000 && its.it_value.tv_nsec <= 100000000,
	      "timer armed for %ld.%09ld s, want 0.1", (long)its.it_value.tv_sec,
	      its.it_value.tv_nsec);
	struct timespec tenth = { 0, 100000000 };
	nanosleep(&tenth, NULL);
	CHECK(t, virtio_process(t->vd, 0) == 1 && used_idx(t) == 11, "after 100 ms: used %u",
	      used_idx(t));
	struct rl_stats st;
	virtio_limit_stats(t->vd, 0, &st);
	CHECK(t, st.throttled == 1 && st.throttled_ns >= 90000000, "throttled %llu for %llu ns",
	      (unsigned long long)st.throttled, (unsigned long long)st.throttled_ns);
	teardown(t, x);

	CHECK(t, setup(t, x, ",bw=8K") == 0, "setup bw");
	struct seg big = { DATA_GPA, 4096, VRING_DESC_F_WRITE };
	CHECK(t, req(t, VIRTIO_BLK_T_IN, 0, &big, 1, &used) == 0, "first 4 KiB");
	CHECK(t, req(t, VIRTIO_BLK_T_IN, 0, &big, 1, &used) == 0, "second 4 KiB");
	CHECK(t, req(t, VIRTIO_BLK_T_IN, 0, &big, 1, &used) == -1, "third 4 KiB went");
	CHECK(t,
	      timerfd_gettime(t->vd->limit_fd[0], &its) == 0 && its.it_value.tv_sec == 0 &&
		      its.it_value.tv_nsec > 400000000 && its.it_value.tv_nsec <= 500000000,
	      "timer armed for %ld.%09ld s, want 0.5", (long)its.it_value.tv_sec,
	      its.it_value.tv_nsec);
	teardown(t, x);
}

/*
 * A host block device (run.sh attaches a loop device when it can and names it
 * in BLK_TEST_DEV): size by BLKGETSIZE64, I/O, BLKDISCARD and BLKZEROOUT.
 */
static void t_block_device(struct t *t, struct ctx *x)
{
	const char *dev = getenv("BLK_TEST_DEV");
	struct blk_spec s = { 0 };
	char err[256];
	uint32_t used;

	(void)x;
	mem_fake(&t->mem);
	snprintf(s.path, sizeof(s.path), "%s", dev);
	s.ro = false;
	s.serial[0] = 0;
	struct blk *b = blk_open(&s, err, sizeof(err));
	CHECK(t, b, "%s", err);
	x->b = b; /* teardown closes it */
	struct virtio_mmio_cfg cfg = { .vmfd = -1, .mem = &t->mem, .base = 0xd0000000, .gsi = 5 };
	CHECK(t, virtio_start(blk_virtio(b), &cfg) == 0, "attach");
	t->vd = blk_virtio(b);
	drv_setup(t, ~0ULL, QSIZE);
	/* A second writable open of the device fails (O_EXCL, then the OFD lock). */
	CHECK(t, !blk_open(&s, err, sizeof(err)) && strstr(err, "in use"), "second open: %s", err);
	int fd = open(dev, O_RDONLY);
	off_t size = lseek(fd, 0, SEEK_END);
	CHECK(t, fd >= 0 && size > 0 && blk_capacity(b) == (uint64_t)size / 512,
	      "capacity %lu for %ld bytes", (unsigned long)blk_capacity(b), (long)size);
	memset(g(t, DATA_GPA), 0xc3, 4096);
	struct seg sg = { DATA_GPA, 4096, 0 };
	int st = req(t, VIRTIO_BLK_T_OUT, 8, &sg, 1, &used);
	CHECK(t, st == VIRTIO_BLK_S_OK, "OUT %d", st);
	sg = (struct seg){ DATA_GPA + 0x2000, 4096, VRING_DESC_F_WRITE };
	st = req(t, VIRTIO_BLK_T_IN, 8, &sg, 1, &used);
	CHECK(t, st == VIRTIO_BLK_S_OK && !memcmp(g(t, DATA_GPA), g(t, DATA_GPA + 0x2000), 4096),
	      "IN %d", st);
	st = req(t, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, &used);
	CHECK(t, st == VIRTIO_BLK_S_OK, "FLUSH %d", st);
	struct virtio_blk_discard_write_zeroes r = { .sector = 8, .num_sectors = 8 };
	memcpy(g(t, DATA_GPA + 0x4000), &r, 16);
	sg = (struct seg){ DATA_GPA + 0x4000, 16, 0 };
	st = req(t, VIRTIO_BLK_T_WRITE_ZEROES, 0, &sg, 1, &used);
	CHECK(t, st == VIRTIO_BLK_S_OK, "WRITE_ZEROES %d", st);
	uint8_t buf[4096], zero[4096] = { 0 };
	CHECK(t, pread(fd, buf, 4096, 8 * 512) == 4096 && !memcmp(buf, zero, 4096),
	      "device not zeroed");
	st = req(t, VIRTIO_BLK_T_DISCARD, 0, &sg, 1, &used);
	CHECK(t, st == VIRTIO_BLK_S_OK || st == VIRTIO_BLK_S_UNSUPP, "DISCARD %d", st);
	sg = (struct seg){ DATA_GPA, 512, 0 };
	st = req(t, VIRTIO_BLK_T_OUT, blk_capacity(b), &sg, 1, &used);
	CHECK(t, st == VIRTIO_BLK_S_IOERR, "OUT past the device end %d", st);
	close(fd);
}

int main(void)
{
	int failed = 0;
	static struct ctx x;
#define RUN(fn)                               \
	do {                                  \
		struct t t = { .name = #fn }; \
		memset(&x, 0, sizeof(x));     \
		fn(&t, &x);                   \
		teardown(&t, &x);             \
		failed += t_report(&t);       \
	} while (0)
	{
		struct t t = { .name = "t_parse_spec" };
		t_parse_spec(&t);
		failed += t_report(&t);
	}
	RUN(t_open_errors);
	RUN(t_config);
	RUN(t_replace);
	RUN(t_in);
	RUN(t_out);
	RUN(t_big_request);
	RUN(t_request_max);
	RUN(t_get_id);
	RUN(t_discard_write_zeroes);
	RUN(t_read_only);
	RUN(t_bad_shapes);
	RUN(t_hostile);
	RUN(t_reset_mid_use);
	RUN(t_snapshot_state);
	RUN(t_rate_limit);
	if (getenv("BLK_TEST_DEV"))
		RUN(t_block_device);
	else
		printf("SKIP unit/blk/block_device: no loop device (needs root and losetup)\n");
	return failed ? 1 : 0;
}
