/* SPDX-License-Identifier: Apache-2.0 */
/* Address decoding for port I/O and MMIO exits: which device owns an address. */
#ifndef KVMRUN_BUS_H
#define KVMRUN_BUS_H

#include <stdbool.h>
#include <stdint.h>

/*
 * A device's handlers. `off` is relative to the range's base; `len` is 1, 2,
 * 4 or 8 and comes from the guest (any width at any offset is possible).
 * read must fill all `len` bytes of data. Handlers run on vCPU threads,
 * possibly several at once: a device with shared state locks it itself.
 */
struct bus_ops {
	void (*read)(void *opaque, uint64_t off, uint8_t *data, uint32_t len);
	void (*write)(void *opaque, uint64_t off, const uint8_t *data, uint32_t len);
};

#define BUS_MAX_RANGES 32

struct bus_range {
	uint64_t base, len;
	const struct bus_ops *ops;
	void *opaque;
};

/* Filled during setup, read-only once vCPUs run (so lookups need no lock). */
struct bus {
	struct bus_range r[BUS_MAX_RANGES];
	int n;
};

/* Claim [base, base+len). 0, or -1 if full or overlapping another range. */
int bus_add(struct bus *b, uint64_t base, uint64_t len, const struct bus_ops *ops, void *opaque);

/*
 * Dispatch one guest access. Returns false when no device owns the whole
 * access (reads then return all ones, like an empty bus; writes are dropped).
 */
bool bus_access(const struct bus *b, uint64_t addr, uint8_t *data, uint32_t len, bool is_write);

#endif
