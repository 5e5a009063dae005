// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests for snapfile.c without KVM: the state file's CRC-32 (the check
 * value, a bitwise reference, chaining) and the sparse memory write.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* SEEK_DATA */
#endif
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "snapfile.h"

#define CHECK_PREFIX "unit/snap/"
#include "check.h"

/* CRC-32 a bit at a time, straight from the polynomial: what snapfile.c's table must give. */
static uint32_t crc_bitwise(const uint8_t *p, size_t len)
{
	uint32_t c = 0xffffffffu;
	for (size_t i = 0; i < len; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
	}
	return c ^ 0xffffffffu;
}

/*
 * snap_write_memory over an anonymous "RAM" with two pages of data, one
 * touched but zero, the rest never touched: the file holds exactly the data
 * pages (and reads back equal), with pagemap and without it (every page read).
 */
static void memory_write(int pagemap_fd, const char *name)
{
	enum { PAGES = 2048 };
	const uint64_t size = PAGES * 4096ull;
	uint8_t *m = mmap(NULL, size, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	char path[] = "/tmp/kvmrun-unit-snap-XXXXXX";
	int fd = mkstemp(path);
	if (m == MAP_FAILED || fd < 0) {
		check(false, name, "mmap or mkstemp failed");
		return;
	}
	unlink(path);
	memset(m + 1 * 4096, 0xa5, 4096);
	m[3 * 4096] = 1, m[3 * 4096] = 0; /* touched, all zero: a hole */
	memset(m + 1500 * 4096 + 100, 0x5a, 10);
	int64_t w = snap_write_memory(fd, m, size, pagemap_fd, NULL);
	char back[4096];
	bool same = true;
	for (uint64_t p = 0; p < PAGES && same; p++)
		same = pread(fd, back, 4096, (off_t)(p * 4096)) == 4096 &&
		       memcmp(back, m + p * 4096, 4096) == 0;
	off_t d1 = lseek(fd, 0, SEEK_DATA), d2 = lseek(fd, d1 + 4096, SEEK_DATA);
	off_t d3 = d2 < 0 ? -1 : lseek(fd, d2 + 4096, SEEK_DATA);
	check(w == 2 * 4096 && same && d1 == 4096 && d2 == 1500 * 4096 && d3 < 0, name,
	      "wrote %lld bytes (want 8192), reads back %s, data at %lld, %lld, %lld (want 4096, "
	      "%d, none)",
	      (long long)w, same ? "equal" : "different", (long long)d1, (long long)d2,
	      (long long)d3, 1500 * 4096);
	close(fd);
	munmap(m, size);
}

int main(void)
{
	/* The catalogue's check value of CRC-32 (zlib, PNG): "123456789". */
	uint32_t v = snap_crc32((const uint8_t *)"123456789", 9);
	check(v == 0xcbf43926u, "check-value", "got 0x%08x, want 0xcbf43926", v);
	check(snap_crc32(NULL, 0) == 0, "empty", "got 0x%08x", snap_crc32(NULL, 0));

	/* Every byte value at every position of the table's index, against the reference. */
	uint8_t buf[4096];
	unsigned bad = 0, first = 0;
	srand(7);
	for (unsigned round = 0; round < 200; round++) {
		/* Round 0: the 256 byte values in order; then random bytes and lengths. */
		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = (uint8_t)(round == 0 ? i : (unsigned)rand());
		size_t len = round == 0 ? 256 : (size_t)rand() % (sizeof(buf) + 1);
		if (snap_crc32(buf, len) != crc_bitwise(buf, len) && !bad++)
			first = round;
	}
	check(!bad, "table", "%u of 200 buffers differ from the bitwise CRC (first: round %u)", bad,
	      first);

	/* A CRC taken in pieces is the CRC of the whole (the state file's header, then its body). */
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 31 + 7);
	uint32_t whole = snap_crc32(buf, sizeof(buf));
	uint32_t parts = snap_crc32_more(snap_crc32(buf, 100), buf + 100, sizeof(buf) - 100);
	check(whole == parts, "chained", "whole 0x%08x, in two pieces 0x%08x", whole, parts);

	int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	check(pm >= 0, "pagemap", "/proc/self/pagemap cannot be opened");
	memory_write(pm, "memory-sparse-pagemap");
	memory_write(-1, "memory-sparse-every-page-read");
	return failures != 0;
}
