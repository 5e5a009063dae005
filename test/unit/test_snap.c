// SPDX-License-Identifier: Apache-2.0
/* Unit tests for the state file's CRC-32: the check value, a bitwise reference, chaining. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	return failures != 0;
}
