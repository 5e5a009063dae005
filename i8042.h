/* SPDX-License-Identifier: Apache-2.0 */
/* i8042 keyboard controller: guest reset, and Ctrl-Alt-Del for a clean shutdown. */
#ifndef KVMRUN_I8042_H
#define KVMRUN_I8042_H

#include "bus.h"
#include "irq.h"

struct i8042;

/* `reset` is called (on a vCPU thread) when the guest pulses the reset line. */
struct i8042 *i8042_create(const struct irq_line *irq, void (*reset)(void *ctx), void *ctx);

/* Handlers for both ports: bus_add at I8042_DATA_PORT, length 5 (0x60-0x64). */
extern const struct bus_ops i8042_bus_ops;

/* Queue Ctrl-Alt-Del key presses (scan code set 2) and interrupt the guest. */
void i8042_ctrl_alt_del(struct i8042 *k);

#endif
