// SPDX-License-Identifier: Apache-2.0
/* Fuzz target: virtio-blk request parsing and I/O, driven through the register file and the rings. */
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../virtio_blk.h"
#include "../virtio_io.h"
#include "fuzz_common.h"

/*
 * The image: a memfd of SECTORS whole sectors and TAIL bytes more, opened by
 * blk_open through /proc/self/fd (a path, as --disk gives one). The first
 * input byte picks ro, cache=unsafe and a serial. After each input: the
 * image is still IMG bytes long, its tail (past capacity) is untouched, and
 * a read-only image is untouched altogether.
 */
#define SECTORS 128
#define TAIL 100
#define IMG (SECTORS * 512 + TAIL)

static struct guest_mem mem;
static int img = -1;
static char img_path[64];
static uint8_t orig[IMG], now[IMG];

static void image_reset(void)
{
	if (img < 0) {
		img = memfd_create("fuzz-blk", MFD_CLOEXEC);
		if (img < 0)
			abort();
		snprintf(img_path, sizeof(img_path), "/proc/self/fd/%d", img);
		for (size_t i = 0; i < IMG; i++)
			orig[i] = (uint8_t)(i * 7 + i / 512 + 1);
	}
	if (ftruncate(img, IMG) < 0 || pwrite(img, orig, IMG, 0) != IMG)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	uint8_t mode = fz_u8(&in);
	struct blk_spec spec;
	char err[256], arg[128];
	struct stat st;

	fz_mem(&mem);
	image_reset();
	snprintf(arg, sizeof(arg), "%s%s%s%s", img_path, mode & 1 ? ",ro" : "",
		 mode & 2 ? ",cache=unsafe" : "", mode & 4 ? ",serial=fuzz-disk-serial-20" : "");
	if (blk_parse_spec(arg, &spec, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		abort();
	}
	struct blk *b = blk_open(&spec, err, sizeof(err));

	if (!b) {
		fprintf(stderr, "%s\n", err);
		abort();
	}
	struct virtio_mmio_cfg cfg = { .vmfd = -1, .mem = &mem, .base = 0xd0000000, .gsi = 5 };

	if (virtio_start(blk_virtio(b), &cfg) < 0)
		abort();
	struct virtio_dev *vd = blk_virtio(b);

	FZ_ASSERT(blk_capacity(b) == SECTORS, "capacity %llu", (unsigned long long)blk_capacity(b));
	for (unsigned n = 0; in.n && n < FZ_MAX_OPS; n++) {
		unsigned op = fz_u8(&in) % OP_COUNT;

		if (fz_common_op(vd, &mem, op, &in))
			continue;
		if (op == OP_KICK) {
			uint8_t q = fz_u8(&in);

			fz_u32(&in); /* the dummy device's used length: the disk computes its own */
			fz_w32(vd, VIRTIO_MMIO_NOTIFY, q);
			virtio_process(vd, q);
		} else {
			/* A config-space read at any offset and width, as the driver probes it. */
			uint16_t off = fz_u16(&in);

			fz_mmio_r(vd, VIRTIO_MMIO_CONFIG + off % 0x100, fz_u8(&in));
		}
	}
	blk_close(b);

	FZ_ASSERT(fstat(img, &st) == 0 && st.st_size == IMG, "the image is now %lld bytes",
		  (long long)st.st_size);
	FZ_ASSERT(pread(img, now, IMG, 0) == IMG, "cannot read the image back");
	FZ_ASSERT(memcmp(now + SECTORS * 512, orig + SECTORS * 512, TAIL) == 0,
		  "bytes past the last whole sector changed");
	if (mode & 1)
		FZ_ASSERT(memcmp(now, orig, IMG) == 0, "a read-only image changed");
	return 0;
}
