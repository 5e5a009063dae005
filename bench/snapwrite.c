// SPDX-License-Identifier: Apache-2.0
/*
 * The snapshot's memory write alone, on this host's CPU and file system (no
 * KVM needed): snap_write_memory() over an anonymous "guest RAM" of which a
 * share was touched (half of its touched pages random bytes, half zero, as
 * a booted guest's), to a file in DIR. Prints MiB/s of touched memory and
 * the file's allocation. The write kvmrun does after the vCPUs are parked.
 * The peer in the same run: all of RAM written with one pwrite per 4 MiB
 * (a monitor that saves memory without looking at it), to the same DIR.
 *   snapwrite DIR [RAM_MIB [TOUCHED_MIB]]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "../snapfile.h"

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return fprintf(stderr, "usage: snapwrite DIR [RAM_MIB [TOUCHED_MIB]]\n"), 2;
	uint64_t ram = (argc > 2 ? strtoull(argv[2], 0, 10) : 1024) << 20;
	uint64_t touched = (argc > 3 ? strtoull(argv[3], 0, 10) : 256) << 20;
	uint8_t *m = mmap(NULL, ram, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED || touched > ram)
		return perror("mmap"), 1;
	/* Touched pages spread over RAM: every (ram/touched)th page; odd ones hold data. */
	uint64_t step = ram / touched, n = 0;
	srand(1);
	for (uint64_t off = 0; off < ram; off += step * 4096, n++) {
		if (n % 2)
			for (int i = 0; i < 4096; i += 4)
				*(uint32_t *)(m + off + i) = (uint32_t)rand();
		else
			m[off] = 1, m[off] = 0; /* resident, all zero */
	}
	char path[4096];
	snprintf(path, sizeof(path), "%s/memory", argv[1]);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return perror(path), 1;
	int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC); /* as kvmrun: -1 reads all */
	double t0 = now();
	int64_t w = snap_write_memory(fd, m, ram, pm, NULL);
	double t1 = now();
	fdatasync(fd);
	double t2 = now();
	struct stat st;
	fstat(fd, &st);
	printf("snapwrite: %llu MiB RAM, %llu MiB touched (%llu MiB of data): written in %.1f ms "
	       "(%.0f MiB/s of touched memory; %.1f ms more to fdatasync), file %lld KiB allocated\n",
	       (unsigned long long)(ram >> 20), (unsigned long long)(touched >> 20),
	       (unsigned long long)(w >> 20), (t1 - t0) * 1e3, (double)(touched >> 20) / (t1 - t0),
	       (t2 - t1) * 1e3, (long long)st.st_blocks / 2);
	close(fd);
	unlink(path);
	/*
	 * kvmrun's write again, to a new file, now that the kernel has read the
	 * pages it writes once. On a PVM host (shadow paging) the kernel's first
	 * read of each user page costs a fault in the hypervisor, and that, not
	 * kvmrun, bounds the first write; a kernel on hardware or bare metal
	 * reads every page as this second write does.
	 */
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return perror(path), 1;
	double t5 = now();
	int64_t w2 = snap_write_memory(fd, m, ram, pm, NULL);
	double t6 = now();
	fdatasync(fd); /* untimed: its write-back must not throttle the peer */
	close(fd);
	unlink(path);
	printf("snapwrite: again, the pages read once by the kernel already: %.1f ms (%.0f MiB/s of "
	       "touched memory)\n",
	       (t6 - t5) * 1e3, (double)(touched >> 20) / (t6 - t5));
	/* The peer: every byte of RAM, in 4 MiB writes. */
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	double t3 = now();
	for (uint64_t off = 0; off < ram; off += 4u << 20)
		if (pwrite(fd, m + off, 4u << 20, (off_t)off) < 0)
			return perror("pwrite"), 1;
	double t4 = now();
	close(fd);
	unlink(path);
	printf("snapwrite: all %llu MiB of RAM in 4 MiB writes: %.1f ms; kvmrun's write takes "
	       "%.2fx that time\n",
	       (unsigned long long)(ram >> 20), (t4 - t3) * 1e3, (t1 - t0) / (t4 - t3));
	return w < 0 || w2 < 0;
}
