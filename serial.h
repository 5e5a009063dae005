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

/*
 * The UART as a snapshot keeps it: registers, the receive buffer and what the
 * guest transmitted that the console has not taken yet. Plain bytes, so a
 * state file carries it as is; serial_load checks every field it reads.
 */
#define SERIAL_RX_MAX 1024
#define SERIAL_TX_MAX 16384
struct serial_state {
	uint8_t ier, lcr, mcr, scr, fcr, dll, dlm, thr_pending;
	uint16_t rx_len, pad;
	uint32_t tx_len;
	uint8_t rx[SERIAL_RX_MAX];
	uint8_t tx[SERIAL_TX_MAX];
};
void serial_save(struct serial *s, struct serial_state *st);
/* 0, or -1 when a length is out of range (a damaged state file). */
int serial_load(struct serial *s, const struct serial_state *st);

/* Bytes the guest wrote while the transmit buffer was full (lost). */
uint64_t serial_dropped(struct serial *s);

#endif
