// SPDX-License-Identifier: Apache-2.0
/* The boot timer: the byte a guest's init writes to say it has started. */
#include "boottimer.h"

#include <stdbool.h>
#include <string.h>

void boot_timer_init(struct boot_timer *t, void (*signalled)(void *ctx), void *ctx)
{
	t->signalled = signalled;
	t->ctx = ctx;
	atomic_init(&t->fired, false);
}

static void boot_timer_read(void *opaque, uint64_t off, uint8_t *d, uint32_t len)
{
	memset(d, 0, len);
}

/* The guest controls off and the byte: only the magic at offset 0, and only the first time. */
static void boot_timer_write(void *opaque, uint64_t off, const uint8_t *d, uint32_t len)
{
	struct boot_timer *t = opaque;
	bool was = false;

	if (off != 0 || len == 0 || d[0] != BOOT_TIMER_MAGIC ||
	    !atomic_compare_exchange_strong(&t->fired, &was, true))
		return;
	t->signalled(t->ctx);
}

const struct bus_ops boot_timer_ops = { boot_timer_read, boot_timer_write };
