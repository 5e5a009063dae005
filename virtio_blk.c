// SPDX-License-Identifier: Apache-2.0
/* virtio-blk: request parsing and zero-copy I/O on a raw image or block device. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* fallocate, F_OFD_SETLK */
#endif
#include "virtio_blk.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "util.h"
#include "virtio_io.h"

/*
 * Block-device ioctls and the fallocate mode we need, spelled out here:
 * <linux/fs.h> clashes with musl's <limits.h>, and musl's <fcntl.h> lacks
 * ZERO_RANGE. Values from the kernel's UAPI (stable ABI).
 */
#ifndef BLKSSZGET
#define BLKSSZGET _IO(0x12, 104)
#endif
#ifndef BLKGETSIZE64
#define BLKGETSIZE64 _IOR(0x12, 114, size_t)
#endif
#ifndef BLKDISCARD
#define BLKDISCARD _IO(0x12, 119)
#endif
#ifndef BLKZEROOUT
#define BLKZEROOUT _IO(0x12, 127)
#endif
#ifndef FALLOC_FL_ZERO_RANGE
#define FALLOC_FL_ZERO_RANGE 0x10
#endif

#define SECTOR 512ULL
#define HDR_LEN 16		     /* struct virtio_blk_outhdr */
#define SEG_LEN 16		     /* struct virtio_blk_discard_write_zeroes */
#define MAX_DWZ_SECTORS (1u << 22)   /* 2 GiB per discard / write-zeroes request */
#define SEG_MAX (VIRTQ_MAX_SIZE - 2) /* a chain also holds the header and the status */
/*
 * size_max, and with seg_max the most data one request may move: 31.75 MiB.
 * A request's I/O runs under the device lock (register writes, pause and
 * the metrics wait for it), so a guest must not ask for one of 100 GiB; a
 * driver that honours size_max and seg_max never sends more than this.
 */
#define SEG_SIZE_MAX (128u << 10)
#define REQ_MAX ((uint64_t)SEG_MAX * SEG_SIZE_MAX)

struct blk {
	struct virtio_dev vd; /* first: vd.opaque points back here anyway */
	int fd;
	bool ro, bdev, no_flush;
	uint64_t sectors;
	uint32_t blk_size;
	char path[BLK_PATH_MAX];
	char serial[BLK_SERIAL_MAX];	   /* zero padded, not NUL terminated when full */
	struct virtio_blk_config config;   /* little endian, as the guest reads it */
	struct blk_stats stats;		   /* __atomic updates */
	struct iovec data[VIRTQ_MAX_SIZE]; /* scratch: the data part of a request */
};

/* ---- setup ---- */

static uint32_t handle(struct virtio_dev *vd, unsigned q, struct virtq_chain *c);

/* A limiter's cost of a request: its data bytes (header and status byte aside). */
static uint64_t cost(struct virtio_dev *vd, unsigned q, const struct virtq_chain *c)
{
	(void)vd, (void)q;
	uint64_t all = c->rd_len + c->wr_len;
	return all > 17 ? all - 17 : 0;
}

static const struct virtio_dev_ops blk_ops = {
	.handle = handle,
	.cost = cost,
};

static void fill_config(struct blk *b)
{
	struct virtio_blk_config *k = &b->config;

	memset(k, 0, sizeof(*k));
	k->capacity = htole64(b->sectors);
	k->seg_max = htole32(SEG_MAX);
	k->size_max = htole32(SEG_SIZE_MAX);
	k->blk_size = htole32(b->blk_size);
	k->max_discard_sectors = htole32(MAX_DWZ_SECTORS);
	k->max_discard_seg = htole32(1);
	k->discard_sector_alignment = htole32(b->blk_size / SECTOR);
	k->max_write_zeroes_sectors = htole32(MAX_DWZ_SECTORS);
	k->max_write_zeroes_seg = htole32(1);
	k->write_zeroes_may_unmap = 1;
}

/* An image opened, locked and measured: what a disk runs on. */
struct image {
	int fd;
	bool bdev;
	uint64_t sectors;
	uint32_t blk_size;
};

/* The size and logical block size of the image open at im->fd (st: its fstat). */
static int image_size(const char *path, const struct stat *st, struct image *im, char *err,
		      size_t errlen)
{
	im->bdev = S_ISBLK(st->st_mode);
	im->blk_size = SECTOR;
	if (!im->bdev) {
		im->sectors = (uint64_t)st->st_size / SECTOR; /* round down: see header */
		return 0;
	}
	uint64_t bytes;
	int ssz;
	if (ioctl(im->fd, BLKGETSIZE64, &bytes) < 0) {
		snprintf(err, errlen, "%s: BLKGETSIZE64: %s", path, strerror(errno));
		return -1;
	}
	if (ioctl(im->fd, BLKSSZGET, &ssz) == 0 && ssz >= 512 && ssz <= 65536 && !(ssz & (ssz - 1)))
		im->blk_size = (uint32_t)ssz;
	im->sectors = bytes / SECTOR;
	return 0;
}

/*
 * Open and lock `path` for a disk (read-only or read-write). Never creates,
 * truncates or writes anything. 0, or -1 with a line in err (nothing open).
 */
static int image_open(const char *path, bool ro, struct image *im, char *err, size_t errlen)
{
	struct stat st;
	/*
	 * O_NONBLOCK only so that a FIFO cannot hang the open; cleared below.
	 * O_EXCL (writable only) makes the kernel refuse a block device that is
	 * mounted or held open exclusively; it has no effect on regular files.
	 */
	im->fd = open(path, (ro ? O_RDONLY : O_RDWR | O_EXCL) | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (im->fd < 0) {
		if (errno == EBUSY)
			snprintf(err, errlen, "%s: in use by another process (or mounted)", path);
		else
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(im->fd, &st) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		snprintf(err, errlen, "%s: %s", path,
			 S_ISDIR(st.st_mode) ? "is a directory"
					     : "not a regular file or block device");
		goto fail;
	}
	if (fcntl(im->fd, F_SETFL, 0) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	/* OFD lock: owned by this open file, so it is ours however many threads use it. */
	struct flock lk = { .l_type = ro ? F_RDLCK : F_WRLCK, .l_whence = SEEK_SET };

	if (fcntl(im->fd, F_OFD_SETLK, &lk) < 0) {
		if (errno == EAGAIN || errno == EACCES)
			snprintf(err, errlen, "%s: in use by another process", path);
		else
			snprintf(err, errlen, "%s: cannot lock: %s", path, strerror(errno));
		goto fail;
	}
	if (image_size(path, &st, im, err, errlen) < 0)
		goto fail;
	return 0;
fail:
	close(im->fd); /* also drops the OFD lock, if taken */
	return -1;
}

struct blk *blk_open(const struct blk_spec *s, char *err, size_t errlen)
{
	struct blk *b = calloc(1, sizeof(*b));
	struct image im;
	uint64_t features;

	if (!b) {
		snprintf(err, errlen, "%s: out of memory", s->path);
		return NULL;
	}
	snprintf(b->path, sizeof(b->path), "%s", s->path);
	memcpy(b->serial, s->serial, strnlen(s->serial, BLK_SERIAL_MAX));
	b->ro = s->ro;
	b->no_flush = s->no_flush;
	if (image_open(s->path, s->ro, &im, err, errlen) < 0)
		goto fail_free;
	b->fd = im.fd;
	b->bdev = im.bdev;
	b->sectors = im.sectors;
	b->blk_size = im.blk_size;
	fill_config(b);
	features = (1ULL << VIRTIO_BLK_F_SEG_MAX) | (1ULL << VIRTIO_BLK_F_SIZE_MAX) |
		   (1ULL << VIRTIO_BLK_F_BLK_SIZE);
	if (!b->no_flush)
		features |= 1ULL << VIRTIO_BLK_F_FLUSH;
	if (b->ro)
		features |= 1ULL << VIRTIO_BLK_F_RO;
	else
		features |= (1ULL << VIRTIO_BLK_F_DISCARD) | (1ULL << VIRTIO_BLK_F_WRITE_ZEROES);
	int rc = virtio_init(&b->vd, VIRTIO_ID_BLOCK, features, 1, &b->config, sizeof(b->config),
			     &blk_ops, b);

	if (rc == 0)
		rc = virtio_set_limit(&b->vd, 0, &s->limit);
	if (rc < 0) {
		snprintf(err, errlen, "%s: virtio setup: %s", s->path, strerror(-rc));
		virtio_stop(&b->vd);
		close(b->fd);
		goto fail_free;
	}
	return b;
fail_free:
	free(b);
	return NULL;
}

/*
 * PATCH with the disk's own file (Firecracker's way to say it was resized):
 * a second open would conflict with the first one's lock (or O_EXCL on a
 * block device), so the open fd stays and only the size is read again.
 * im->fd: b->fd when path is that file, -1 when it is another. 0 or -1.
 */
static int same_image(struct blk *b, const char *path, struct image *im, char *err, size_t errlen)
{
	struct stat now, was;
	im->fd = -1;
	int pf = open(path, O_PATH | O_CLOEXEC);
	bool same = pf >= 0 && fstat(pf, &now) == 0 && fstat(b->fd, &was) == 0 &&
		    now.st_dev == was.st_dev && now.st_ino == was.st_ino;
	if (pf >= 0)
		close(pf);
	if (!same)
		return 0;
	im->fd = b->fd;
	return image_size(path, &was, im, err, errlen);
}

int blk_replace(struct blk *b, const char *path, char *err, size_t errlen)
{
	struct image im;
	if (strlen(path) >= sizeof(b->path) || strchr(path, ',')) {
		snprintf(err, errlen, "%s: too long or contains a comma", path);
		return -1;
	}
	if (same_image(b, path, &im, err, errlen) < 0)
		return -1;
	if (im.fd < 0 && image_open(path, b->ro, &im, err, errlen) < 0)
		return -1;
	if (im.blk_size != b->blk_size) {
		snprintf(err, errlen, "%s: logical block size %u, the guest's disk has %u", path,
			 im.blk_size, b->blk_size);
		if (im.fd != b->fd)
			close(im.fd);
		return -1;
	}
	/* No request is in flight while the file changes under the queue. */
	virtio_quiesce(&b->vd);
	int old = b->fd;
	b->fd = im.fd;
	b->bdev = im.bdev;
	b->sectors = im.sectors;
	snprintf(b->path, sizeof(b->path), "%s", path);
	fill_config(b);
	virtio_config_changed(&b->vd, &b->config);
	virtio_resume(&b->vd);
	if (old != b->fd)
		close(old);
	return 0;
}

void blk_close(struct blk *b)
{
	if (!b)
		return;
	virtio_stop(&b->vd);
	close(b->fd);
	free(b);
}

void blk_get_stats(const struct blk *b, struct blk_stats *out)
{
	struct virtio_stats vs;

	out->requests = __atomic_load_n(&b->stats.requests, __ATOMIC_RELAXED);
	out->bytes_read = __atomic_load_n(&b->stats.bytes_read, __ATOMIC_RELAXED);
	out->bytes_written = __atomic_load_n(&b->stats.bytes_written, __ATOMIC_RELAXED);
	out->errors = __atomic_load_n(&b->stats.errors, __ATOMIC_RELAXED);
	virtio_get_stats(&b->vd, &vs);
	out->ignored = vs.ignored;
}

struct virtio_dev *blk_virtio(struct blk *b)
{
	return &b->vd;
}

uint64_t blk_capacity(const struct blk *b)
{
	return b->sectors;
}

/* ---- I/O ---- */

/* preadv/pwritev the whole of iov[0, n) at off; iov is consumed. 0 or -errno. */
static int rw_all(int fd, struct iovec *iov, int n, uint64_t off, bool wr)
{
	while (n > 0) {
		if (iov->iov_len == 0) {
			iov++;
			n--;
			continue;
		}
		int cnt = n < IOV_MAX ? n : IOV_MAX;
		ssize_t r =
			wr ? pwritev(fd, iov, cnt, (off_t)off) : preadv(fd, iov, cnt, (off_t)off);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -EIO; /* the image shrank under us */
		off += (uint64_t)r;
		while (r > 0) {
			size_t take = (size_t)r < iov->iov_len ? (size_t)r : iov->iov_len;

			iov->iov_base = (uint8_t *)iov->iov_base + take;
			iov->iov_len -= take;
			r -= (ssize_t)take;
			if (iov->iov_len == 0) {
				iov++;
				n--;
			}
		}
	}
	return 0;
}

/* Zero [off, off+len) by writing zeros: the fallback when no fast path works. */
static int write_zeros(int fd, uint64_t off, uint64_t len)
{
	static const uint8_t zero[65536];

	while (len > 0) {
		size_t n = len < sizeof(zero) ? (size_t)len : sizeof(zero);
		/* pwritev, like every other write: the I/O role's filter has no pwrite64. */
		struct iovec v = { (void *)zero, n };
		ssize_t r = pwritev(fd, &v, 1, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		off += (uint64_t)r;
		len -= (uint64_t)r;
	}
	return 0;
}

static int do_discard(struct blk *b, uint64_t off, uint64_t len)
{
	if (b->bdev) {
		uint64_t range[2] = { off, len };

		return ioctl(b->fd, BLKDISCARD, range) < 0 ? -errno : 0;
	}
	return fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
			 (off_t)len) < 0
		       ? -errno
		       : 0;
}

static int do_write_zeroes(struct blk *b, uint64_t off, uint64_t len, bool unmap)
{
	if (b->bdev) {
		uint64_t range[2] = { off, len };

		if (ioctl(b->fd, BLKZEROOUT, range) == 0)
			return 0;
	} else {
		/* Punching a hole also reads back as zeros on a file. */
		int first = unmap ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE;
		int second = unmap ? FALLOC_FL_ZERO_RANGE : FALLOC_FL_PUNCH_HOLE;

		if (fallocate(b->fd, first | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0 ||
		    fallocate(b->fd, second | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
			return 0;
	}
	return write_zeros(b->fd, off, len);
}

/* Is [sector, sector+n) inside the disk? (Overflow-safe.) */
static bool in_range(const struct blk *b, uint64_t sector, uint64_t n)
{
	return sector <= b->sectors && n <= b->sectors - sector;
}

/* DISCARD / WRITE_ZEROES: one 16-byte segment after the header, nothing writable but status. */
static uint8_t discard_wz(struct blk *b, uint32_t type, const struct virtq_chain *c)
{
	struct virtio_blk_discard_write_zeroes seg;

	if (b->ro || c->rd_len != HDR_LEN + SEG_LEN || c->wr_len != 1)
		return VIRTIO_BLK_S_IOERR; /* read-only, or more segments than max_*_seg */
	if (virtq_iov_read(c->iov, c->nr, HDR_LEN, &seg, SEG_LEN) != SEG_LEN)
		return VIRTIO_BLK_S_IOERR;
	uint64_t sector = le64toh(seg.sector);
	uint32_t n = le32toh(seg.num_sectors);
	uint32_t flags = le32toh(seg.flags);

	if (flags & ~VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP)
		return VIRTIO_BLK_S_UNSUPP; /* unknown flags */
	if (type == VIRTIO_BLK_T_DISCARD && flags)
		return VIRTIO_BLK_S_UNSUPP; /* unmap is meaningless for discard */
	if (n > MAX_DWZ_SECTORS || !in_range(b, sector, n))
		return VIRTIO_BLK_S_IOERR;
	if (type == VIRTIO_BLK_T_DISCARD && (sector | n) % (b->blk_size / SECTOR))
		return VIRTIO_BLK_S_IOERR;
	int rc = type == VIRTIO_BLK_T_DISCARD
			 ? do_discard(b, sector * SECTOR, n * SECTOR)
			 : do_write_zeroes(b, sector * SECTOR, n * SECTOR, flags != 0);

	if (rc == -EOPNOTSUPP)
		return VIRTIO_BLK_S_UNSUPP;
	return rc ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
}

/*
 * One request. Shape (virtio 1.x 5.2.6): a 16-byte device-readable header,
 * then data, then the 1-byte device-writable status as the chain's last
 * byte. Header and data may be split across descriptors in any way (ANY_LAYOUT
 * is implied by VERSION_1); direction is what the type needs: IN wants only the
 * header readable, OUT only the status writable. Whole shape and sector range
 * are checked before any I/O. `status` starts as IOERR; every path goes to
 * `out`, the one place that publishes it.
 */
static uint32_t handle(struct virtio_dev *vd, unsigned q, struct virtq_chain *c)
{
	struct blk *b = vd->opaque;
	uint8_t status = VIRTIO_BLK_S_IOERR;
	uint32_t used = 0; /* bytes written before the status byte */
	struct virtio_blk_outhdr hdr;
	uint64_t rd_data, wr_data;
	int n;

	(void)q;
	stat_add(&b->stats.requests, 1);
	/* No status byte we may write: nothing can be answered but the used entry. */
	if (!c->tail) {
		stat_add(&b->stats.errors, 1);
		return 0;
	}
	if (c->err || c->rd_len < HDR_LEN)
		goto out;
	if (virtq_iov_read(c->iov, c->nr, 0, &hdr, HDR_LEN) != HDR_LEN)
		goto out;
	/* c->tail is the last writable byte, so wr_len >= 1. */
	rd_data = c->rd_len - HDR_LEN;
	wr_data = c->wr_len - 1;
	uint64_t sector = le64toh(hdr.sector);

	switch (le32toh(hdr.type)) {
	case VIRTIO_BLK_T_IN:
		if (rd_data || wr_data % SECTOR || wr_data > REQ_MAX ||
		    !in_range(b, sector, wr_data / SECTOR))
			goto out;
		n = virtq_iov_slice(c->iov + c->nr, c->nw, 0, wr_data, b->data, VIRTQ_MAX_SIZE);
		if (n < 0 || rw_all(b->fd, b->data, n, sector * SECTOR, false) < 0)
			goto out;
		used = (uint32_t)wr_data; /* <= REQ_MAX */
		stat_add(&b->stats.bytes_read, wr_data);
		status = VIRTIO_BLK_S_OK;
		break;
	case VIRTIO_BLK_T_OUT:
		if (b->ro || wr_data || rd_data % SECTOR || rd_data > REQ_MAX ||
		    !in_range(b, sector, rd_data / SECTOR))
			goto out;
		n = virtq_iov_slice(c->iov, c->nr, HDR_LEN, rd_data, b->data, VIRTQ_MAX_SIZE);
		if (n < 0 || rw_all(b->fd, b->data, n, sector * SECTOR, true) < 0)
			goto out;
		stat_add(&b->stats.bytes_written, rd_data);
		status = VIRTIO_BLK_S_OK;
		break;
	case VIRTIO_BLK_T_FLUSH:
		if (b->no_flush) {
			status = VIRTIO_BLK_S_UNSUPP; /* not offered */
			break;
		}
		if (rd_data || wr_data || fdatasync(b->fd) < 0)
			goto out;
		status = VIRTIO_BLK_S_OK;
		break;
	case VIRTIO_BLK_T_GET_ID:
		if (rd_data)
			goto out;
		/* The ID is 20 bytes, NUL padded; a shorter buffer gets a prefix. */
		used = (uint32_t)virtq_iov_write(c->iov + c->nr, c->nw, 0, b->serial,
						 wr_data < BLK_SERIAL_MAX ? wr_data
									  : BLK_SERIAL_MAX);
		status = VIRTIO_BLK_S_OK;
		break;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		status = discard_wz(b, le32toh(hdr.type), c);
		break;
	default:
		status = VIRTIO_BLK_S_UNSUPP;
		break;
	}
out:
	if (status != VIRTIO_BLK_S_OK)
		stat_add(&b->stats.errors, 1);
	*c->tail = status;
	return used + 1;
}
