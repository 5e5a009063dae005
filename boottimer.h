/* SPDX-License-Identifier: Apache-2.0 */
/* The boot timer: the byte a guest's init writes to say it has started (Firecracker's idea). */
#ifndef KVMRUN_BOOTTIMER_H
#define KVMRUN_BOOTTIMER_H

#include <stdatomic.h>

#include "bus.h"

/*
 * A guest writes BOOT_TIMER_MAGIC to the byte at BOOT_TIMER_ADDR (layout.h),
 * e.g. `devmem 0xd1000000 8 123`; kvmrun records the time. Reads give 0.
 */
#define BOOT_TIMER_MAGIC 123

struct boot_timer {
	void (*signalled)(void *ctx); /* on the vCPU thread that wrote, once */
	void *ctx;
	atomic_bool fired;
};

void boot_timer_init(struct boot_timer *t, void (*signalled)(void *ctx), void *ctx);

/* Its handlers: bus_add(mmio, BOOT_TIMER_ADDR, 0x1000, &boot_timer_ops, t). */
extern const struct bus_ops boot_timer_ops;

#endif
