/* SPDX-License-Identifier: Apache-2.0 */
/* 8250/16550A UART: the guest's console. */
#ifndef KVMRUN_SERIAL_H
#define KVMRUN_SERIAL_H

#include <stddef.h>
#include <stdint.h>

#include "bus.h"
#include "irq.h"

struct serial;

/*
 * Create a UART raising `irq`. `notify_fd` (an eventfd) is written when
 * output becomes available to take or input room frees up, so the event
 * loop knows to call serial_take_output / serial_input again.
 */
struct serial *serial_create(const struct irq_line *irq, int notify_fd);

/* The port handlers (bus_add them at SERIAL_COM1_BASE, length 8). */
extern const struct bus_ops serial_bus_ops;

/*
 * Move up to len bytes the guest transmitted into buf; returns the count.
 * Frees room in the transmitter, so a guest throttled by a slow console
 * runs on. Event-loop thread.
 */
size_t serial_take_output(struct serial *s, uint8_t *buf, size_t len);

/* Free space in the receive buffer. */
size_t serial_input_room(struct serial *s);

/* Deliver console input to the guest (at most serial_input_room bytes are kept). */
void serial_input(struct serial *s, const uint8_t *buf, size_t len);

/* Bytes the guest wrote while the transmit buffer was full (lost). */
uint64_t serial_dropped(struct serial *s);

#endif
