// SPDX-License-Identifier: Apache-2.0
/* Address decoding for port I/O and MMIO exits. */
#include "bus.h"

#include <string.h>

int bus_add(struct bus *b, uint64_t base, uint64_t len, const struct bus_ops *ops, void *opaque)
{
	if (b->n == BUS_MAX_RANGES || len == 0 || base + len < base)
		return -1;
	for (int i = 0; i < b->n; i++)
		if (base < b->r[i].base + b->r[i].len && b->r[i].base < base + len)
			return -1;
	b->r[b->n++] = (struct bus_range){ base, len, ops, opaque };
	return 0;
}

bool bus_access(const struct bus *b, uint64_t addr, uint8_t *data, uint32_t len, bool is_write)
{
	for (int i = 0; i < b->n; i++) {
		const struct bus_range *r = &b->r[i];
		uint64_t off = addr - r->base;

		/* Unsigned wrap makes addresses below base fail the first test. */
		if (off >= r->len || len > r->len - off)
			continue;
		if (is_write)
			r->ops->write(r->opaque, off, data, len);
		else
			r->ops->read(r->opaque, off, data, len);
		return true;
	}
	if (!is_write)
		memset(data, 0xff, len);
	return false;
}
