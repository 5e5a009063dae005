/* SPDX-License-Identifier: Apache-2.0 */
/* How a device raises its interrupt line without knowing about KVM. */
#ifndef KVMRUN_IRQ_H
#define KVMRUN_IRQ_H

#include <stdint.h>

/* Set interrupt line `gsi` to level (0 or 1). Safe from any thread. */
struct irq_line {
	void (*set)(void *ctx, uint32_t gsi, int level);
	void *ctx;
	uint32_t gsi;
};

static inline void irq_set(const struct irq_line *l, int level)
{
	l->set(l->ctx, l->gsi, level);
}

#endif
