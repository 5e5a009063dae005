/* SPDX-License-Identifier: Apache-2.0 */
/* i8042 keyboard controller: guest reset, and Ctrl-Alt-Del for a clean shutdown. */
#ifndef KVMRUN_I8042_H
#define KVMRUN_I8042_H

#include <stdint.h>

#include "bus.h"
#include "irq.h"

struct i8042;

/* `reset` is called (on a vCPU thread) when the guest pulses the reset line. */
struct i8042 *i8042_create(const struct irq_line *irq, void (*reset)(void *ctx), void *ctx);

/* Handlers for both ports: bus_add at I8042_DATA_PORT, length 5 (0x60-0x64). */
extern const struct bus_ops i8042_bus_ops;

/* The controller as a snapshot keeps it; i8042_load checks what it reads (0, or -1). */
#define I8042_QLEN 16
struct i8042_state {
	uint8_t status, ctr, expect, qlen;
	uint8_t q[I8042_QLEN];
};
void i8042_save(struct i8042 *k, struct i8042_state *st);
int i8042_load(struct i8042 *k, const struct i8042_state *st);
/* Queue Ctrl-Alt-Del key presses (scan code set 2) and interrupt the guest. */
void i8042_ctrl_alt_del(struct i8042 *k);

#endif
