// SPDX-License-Identifier: Apache-2.0
/*
 * blkio: a small fio stand-in for the lab's L2 guest (built static: L2 has
 * no C library, and Debian's fio needs System V shm, which the L2 kernel
 * lacks). One job, queue depth 1, O_DIRECT, synchronous pread/pwrite
 * (fio's psync engine):
 *
 *   blkio seqread|seqwrite|randread|randwrite BLOCKSIZE SECONDS DEVICE [SPAN_MIB]
 *
 * Sequential jobs wrap around at the end of the span (default: the whole
 * device); random ones pick block-aligned offsets uniformly in it. Prints
 *   "blkio MODE bs=B ops=N bytes=N secs=S MBps=X iops=Y errors=E"
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/fs.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: blkio seqread|seqwrite|randread|randwrite BS SECONDS DEV [SPAN_MIB]\n");
		return 2;
	}
	const char *mode = argv[1];
	long bs = atol(argv[2]);
	double secs = atof(argv[3]);
	int wr = strstr(mode, "write") != NULL, rnd = strncmp(mode, "rand", 4) == 0;
	int fd = open(argv[4], (wr ? O_RDWR : O_RDONLY) | O_DIRECT);
	if (fd < 0) {
		perror("blkio: open");
		return 1;
	}
	uint64_t size = 0;
	if (ioctl(fd, BLKGETSIZE64, &size) < 0)
		size = lseek(fd, 0, SEEK_END);
	if (argc > 5 && (uint64_t)atol(argv[5]) << 20 < size)
		size = (uint64_t)atol(argv[5]) << 20;
	uint64_t nblocks = size / bs;
	if (bs <= 0 || nblocks == 0) {
		fprintf(stderr, "blkio: bad block size or device too small\n");
		return 2;
	}
	void *buf;
	if (posix_memalign(&buf, 4096, bs)) {
		fprintf(stderr, "blkio: no memory\n");
		return 1;
	}
	memset(buf, 0x5a, bs);
	uint64_t x = 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid(), blk = 0, ops = 0, errors = 0;
	double t0 = now(), t = t0;
	while (t - t0 < secs) {
		/* check the clock every 16 requests */
		for (int i = 0; i < 16; i++) {
			if (rnd) {
				x ^= x << 13, x ^= x >> 7, x ^= x << 17;
				blk = x % nblocks;
			} else if (++blk >= nblocks) {
				blk = 0;
			}
			ssize_t n = wr ? pwrite(fd, buf, bs, blk * bs) : pread(fd, buf, bs, blk * bs);
			if (n != bs)
				errors++;
			ops++;
		}
		t = now();
	}
	double el = t - t0;
	printf("blkio %s bs=%ld ops=%llu bytes=%llu secs=%.3f MBps=%.2f iops=%.1f errors=%llu\n", mode, bs,
	       (unsigned long long)ops, (unsigned long long)(ops * bs), el, ops * bs / el / 1048576.0,
	       ops / el, (unsigned long long)errors);
	return errors ? 1 : 0;
}
