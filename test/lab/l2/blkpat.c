/*
 * blkpat: a deterministic disk pattern for the lab's virtio-blk checks.
 * Built static for the L2 initramfs and natively on the host, so that both
 * sides can compute the same expected bytes.
 *
 *   blkpat write  DEV SEED OPS WORKERS  WORKERS processes, each doing OPS
 *                                       O_DIRECT writes of mixed sizes at
 *                                       random sector offsets in its own
 *                                       slice of DEV
 *   blkpat verify DEV SEED OPS WORKERS  read all of DEV back and compare
 *                                       every sector: the last op's pattern
 *                                       where one wrote, zeros elsewhere
 *   blkpat zeroout DEV OFF LEN          ioctl BLKZEROOUT (write-zeroes)
 *
 * Each written sector holds "BLKPAT", its sector number, seed, worker and op
 * index, then bytes from a generator seeded by all of those, so a sector that
 * landed in the wrong place or came from a stale op is told apart.
 * Exit status 0 when all is well, 1 on a mismatch or I/O error, 2 on usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SECTOR 512
#define MAXSEC 2048 /* 1 MiB, the largest op */

static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static uint64_t mix(uint64_t a, uint64_t b)
{
	uint64_t z = a * 0x9e3779b97f4a7c15ull ^ (b + 0x632be59bd9b4e019ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return (z ^ (z >> 31)) | 1;
}

static void fill_sector(uint8_t *p, uint64_t sector, uint64_t seed, unsigned w, unsigned op)
{
	uint64_t s = mix(mix(seed, sector), ((uint64_t)w << 32) | op);

	for (int i = 0; i < SECTOR; i += 8) {
		uint64_t v = rng_next(&s);
		memcpy(p + i, &v, 8);
	}
	memcpy(p, "BLKPAT", 6);
	memcpy(p + 8, &sector, 8);
	memcpy(p + 16, &seed, 8);
	memcpy(p + 24, &w, 4);
	memcpy(p + 28, &op, 4);
}

/* Op k of worker w: nsec sectors at sector first (inside the worker's slice). */
struct op {
	uint64_t first;
	uint32_t nsec;
};

static const uint32_t sizes[] = { 1, 1, 2, 3, 7, 8, 8, 16, 31, 64, 128, 255, 256, 512, 2048 };

static void ops_for(uint64_t seed, unsigned w, unsigned nops, uint64_t lo, uint64_t n, struct op *out)
{
	uint64_t s = mix(seed, 0x5157 + w);

	for (unsigned k = 0; k < nops; k++) {
		uint32_t ns = sizes[rng_next(&s) % (sizeof(sizes) / sizeof(sizes[0]))];

		if (ns > n)
			ns = (uint32_t)n;
		out[k].nsec = ns;
		out[k].first = lo + rng_next(&s) % (n - ns + 1);
	}
}

static uint64_t dev_sectors(int fd)
{
	struct stat st;
	uint64_t bytes = 0;

	if (fstat(fd, &st) < 0)
		return 0;
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &bytes) < 0)
			return 0;
	} else {
		bytes = (uint64_t)st.st_size;
	}
	return bytes / SECTOR;
}

static int open_dev(const char *path, int flags)
{
	int fd = open(path, flags | O_DIRECT);

	if (fd < 0 && errno == EINVAL) /* a file system without O_DIRECT (tmpfs) */
		fd = open(path, flags);
	if (fd < 0)
		fprintf(stderr, "blkpat: %s: %s\n", path, strerror(errno));
	return fd;
}

static int worker(const char *path, uint64_t seed, unsigned w, unsigned nops, uint64_t lo, uint64_t n)
{
	int fd = open_dev(path, O_WRONLY);
	uint8_t *buf;
	struct op *ops = calloc(nops, sizeof(*ops));

	if (fd < 0 || !ops || posix_memalign((void **)&buf, 4096, MAXSEC * SECTOR))
		return 1;
	ops_for(seed, w, nops, lo, n, ops);
	for (unsigned k = 0; k < nops; k++) {
		for (uint32_t i = 0; i < ops[k].nsec; i++)
			fill_sector(buf + (size_t)i * SECTOR, ops[k].first + i, seed, w, k);
		ssize_t r = pwrite(fd, buf, (size_t)ops[k].nsec * SECTOR, (off_t)(ops[k].first * SECTOR));

		if (r != (ssize_t)ops[k].nsec * SECTOR) {
			fprintf(stderr, "blkpat: worker %u op %u: write of %u sectors at %llu: %s\n", w, k,
				ops[k].nsec, (unsigned long long)ops[k].first,
				r < 0 ? strerror(errno) : "short write");
			return 1;
		}
	}
	if (fdatasync(fd) < 0) {
		fprintf(stderr, "blkpat: fdatasync: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}

static int do_write(const char *path, uint64_t seed, unsigned nops, unsigned nw)
{
	int fd = open_dev(path, O_RDONLY);
	uint64_t total = fd < 0 ? 0 : dev_sectors(fd);
	int bad = 0;

	if (fd < 0)
		return 1;
	close(fd);
	if (total < nw) {
		fprintf(stderr, "blkpat: %s is too small\n", path);
		return 1;
	}
	uint64_t slice = total / nw;

	for (unsigned w = 0; w < nw; w++) {
		pid_t p = fork();

		if (p == 0)
			_exit(worker(path, seed, w, nops, w * slice, slice));
		if (p < 0)
			return 1;
	}
	for (unsigned w = 0; w < nw; w++) {
		int st;

		if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
			bad = 1;
	}
	printf("blkpat: wrote %u ops x %u workers on %llu sectors: %s\n", nops, nw,
	       (unsigned long long)total, bad ? "FAILED" : "ok");
	return bad;
}

static int do_verify(const char *path, uint64_t seed, unsigned nops, unsigned nw)
{
	int fd = open_dev(path, O_RDONLY);
	uint64_t total = fd < 0 ? 0 : dev_sectors(fd);

	if (fd < 0 || total < nw)
		return 1;
	uint64_t slice = total / nw, written = 0, bad = 0;
	/* last[s]: 0 = never written, else (worker << 24 | op) + 1 */
	uint32_t *last = calloc(total, sizeof(*last));
	struct op *ops = calloc(nops, sizeof(*ops));
	uint8_t *buf, want[SECTOR], zero[SECTOR] = { 0 };

	if (!last || !ops || posix_memalign((void **)&buf, 4096, MAXSEC * SECTOR))
		return 1;
	for (unsigned w = 0; w < nw; w++) {
		ops_for(seed, w, nops, w * slice, slice, ops);
		for (unsigned k = 0; k < nops; k++)
			for (uint32_t i = 0; i < ops[k].nsec; i++)
				last[ops[k].first + i] = ((w << 24) | k) + 1;
	}
	for (uint64_t s = 0; s < total; s += MAXSEC) {
		size_t n = total - s < MAXSEC ? (size_t)(total - s) : MAXSEC;
		ssize_t r = pread(fd, buf, n * SECTOR, (off_t)(s * SECTOR));

		if (r != (ssize_t)(n * SECTOR)) {
			fprintf(stderr, "blkpat: read at sector %llu: %s\n", (unsigned long long)s,
				r < 0 ? strerror(errno) : "short read");
			return 1;
		}
		for (size_t i = 0; i < n; i++) {
			uint32_t l = last[s + i];
			const uint8_t *got = buf + i * SECTOR;

			if (l) {
				written++;
				fill_sector(want, s + i, seed, (l - 1) >> 24, (l - 1) & 0xffffff);
			}
			if (memcmp(got, l ? want : zero, SECTOR)) {
				if (bad++ < 5) {
					uint64_t gs;
					uint32_t gw, gop;

					memcpy(&gs, got + 8, 8);
					memcpy(&gw, got + 24, 4);
					memcpy(&gop, got + 28, 4);
					fprintf(stderr,
						"blkpat: sector %llu: want %s, got %s (sector %llu worker %u op %u)\n",
						(unsigned long long)(s + i), l ? "pattern" : "zeros",
						memcmp(got, "BLKPAT", 6) ? "other bytes" : "a pattern",
						(unsigned long long)gs, gw, gop);
				}
			}
		}
	}
	printf("blkpat: verify %s: %llu sectors, %llu written, %llu bad\n", bad ? "FAILED" : "ok",
	       (unsigned long long)total, (unsigned long long)written, (unsigned long long)bad);
	return bad != 0;
}

static int do_zeroout(const char *path, uint64_t off, uint64_t len)
{
	int fd = open(path, O_WRONLY);
	uint64_t range[2] = { off, len };

	if (fd < 0 || ioctl(fd, BLKZEROOUT, range) < 0) {
		fprintf(stderr, "blkpat: BLKZEROOUT %s: %s\n", path, strerror(errno));
		return 1;
	}
	printf("blkpat: zeroed %llu bytes at %llu\n", (unsigned long long)len, (unsigned long long)off);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 6 && (!strcmp(argv[1], "write") || !strcmp(argv[1], "verify"))) {
		uint64_t seed = strtoull(argv[3], 0, 0);
		unsigned nops = (unsigned)strtoul(argv[4], 0, 0), nw = (unsigned)strtoul(argv[5], 0, 0);

		if (nw < 1 || nw > 64 || nops < 1 || nops > 0xffffff)
			return 2;
		setvbuf(stdout, 0, _IOLBF, 0);
		return !strcmp(argv[1], "write") ? do_write(argv[2], seed, nops, nw)
						 : do_verify(argv[2], seed, nops, nw);
	}
	if (argc == 5 && !strcmp(argv[1], "zeroout"))
		return do_zeroout(argv[2], strtoull(argv[3], 0, 0), strtoull(argv[4], 0, 0));
	fprintf(stderr, "usage: blkpat write|verify DEV SEED OPS WORKERS | zeroout DEV OFF LEN\n");
	return 2;
}
