// SPDX-License-Identifier: Apache-2.0
/* 8250/16550A UART at COM1: interrupt-driven TX and RX behind a lock. */
#include "serial.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

enum { RBR_THR, IER, IIR_FCR, LCR, MCR, LSR, MSR, SCR };

#define IER_RDI 0x01
#define IER_THRI 0x02
#define IIR_NONE 0x01
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_FIFO 0xc0
#define LCR_DLAB 0x80
#define MCR_LOOP 0x10
#define LSR_DR 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MSR_DCD_DSR_CTS 0xb0

/*
 * The transmit ring decouples the vCPU from the console: a guest write
 * never waits on stdout. When the ring is full the UART reports its
 * transmitter busy, which is how a real 16550 throttles a driver.
 */
#define TX_RING SERIAL_TX_MAX
#define RX_RING SERIAL_RX_MAX

struct serial {
	pthread_mutex_t lock;
	struct irq_line irq;
	int notify_fd;
	int irq_level;
	uint8_t ier, lcr, mcr, scr, fcr, dll, dlm;
	bool thr_pending; /* THRE interrupt owed to the driver */
	uint8_t tx[TX_RING];
	size_t tx_head, tx_len;
	uint8_t rx[RX_RING];
	size_t rx_head, rx_len;
	uint64_t dropped;
};

static void notify(struct serial *s)
{
	efd_signal(s->notify_fd);
}

static bool tx_full(const struct serial *s)
{
	return s->tx_len == TX_RING;
}

/*
 * The transmitter as the driver sees it: "empty" (THRE) only with room for
 * a whole FIFO, since Linux's 8250 driver writes 16 bytes per THRE without
 * looking at LSR again; with less room the rest of its burst would be lost.
 */
static bool tx_busy(const struct serial *s)
{
	return TX_RING - s->tx_len < 16;
}

static uint8_t iir(const struct serial *s)
{
	uint8_t fifo = (s->fcr & 1) ? IIR_FIFO : 0;
	if ((s->ier & IER_RDI) && s->rx_len)
		return fifo | IIR_RDI;
	if ((s->ier & IER_THRI) && s->thr_pending)
		return fifo | IIR_THRI;
	return fifo | IIR_NONE;
}

/* Drive the line from the pending state; KVM sees only level changes. */
static void update_irq(struct serial *s)
{
	int level = !(iir(s) & IIR_NONE);
	if (level != s->irq_level) {
		s->irq_level = level;
		irq_set(&s->irq, level);
	}
}

static void rx_push(struct serial *s, uint8_t c)
{
	if (s->rx_len == RX_RING)
		return;
	s->rx[(s->rx_head + s->rx_len++) % RX_RING] = c;
}

static void transmit(struct serial *s, uint8_t c)
{
	if (s->mcr & MCR_LOOP) {
		rx_push(s, c);
	} else if (tx_full(s)) {
		s->dropped++;
	} else {
		if (s->tx_len++ == 0)
			notify(s);
		s->tx[(s->tx_head + s->tx_len - 1) % TX_RING] = c;
	}
	s->thr_pending = !tx_busy(s);
}

static uint8_t read_reg(struct serial *s, uint64_t reg)
{
	uint8_t v;
	switch (reg) {
	case RBR_THR:
		if (s->lcr & LCR_DLAB)
			return s->dll;
		if (!s->rx_len)
			return 0;
		v = s->rx[s->rx_head];
		s->rx_head = (s->rx_head + 1) % RX_RING;
		if (s->rx_len-- == RX_RING)
			notify(s); /* room again: the loop may resume reading input */
		return v;
	case IER:
		return (s->lcr & LCR_DLAB) ? s->dlm : s->ier;
	case IIR_FCR:
		v = iir(s);
		/* Reading IIR acknowledges a THRE interrupt (16550 semantics). */
		if ((v & 0x0f) == IIR_THRI)
			s->thr_pending = false;
		return v;
	case LCR:
		return s->lcr;
	case MCR:
		return s->mcr;
	case LSR:
		return (s->rx_len ? LSR_DR : 0) | (tx_busy(s) ? 0 : LSR_THRE | LSR_TEMT);
	case MSR:
		if (s->mcr & MCR_LOOP) /* DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD */
			return (uint8_t)(((s->mcr & 1) << 5) | ((s->mcr & 2) << 3) |
					 ((s->mcr & 4) << 4) | ((s->mcr & 8) << 4));
		return MSR_DCD_DSR_CTS;
	default:
		return s->scr;
	}
}

static void write_reg(struct serial *s, uint64_t reg, uint8_t v)
{
	switch (reg) {
	case RBR_THR:
		if (s->lcr & LCR_DLAB)
			s->dll = v;
		else
			transmit(s, v);
		break;
	case IER:
		if (s->lcr & LCR_DLAB) {
			s->dlm = v;
			break;
		}
		/* Enabling THRI with the transmitter empty raises it at once. */
		if (!(s->ier & IER_THRI) && (v & IER_THRI) && !tx_busy(s))
			s->thr_pending = true;
		s->ier = v & 0x0f;
		break;
	case IIR_FCR:
		s->fcr = v & 0xc9;
		if ((v & 2) && s->rx_len) { /* clear receive FIFO */
			s->rx_len = 0;
			notify(s); /* room again: the loop may resume reading input */
		}
		break;
	case LCR:
		s->lcr = v;
		break;
	case MCR:
		s->mcr = v & 0x1f;
		break;
	case SCR:
		s->scr = v;
		break;
	default: /* LSR, MSR: read-only */
		break;
	}
}

static void serial_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct serial *s = opaque;
	pthread_mutex_lock(&s->lock);
	for (uint32_t i = 0; i < len; i++) /* wider accesses read consecutive registers */
		data[i] = off + i < 8 ? read_reg(s, off + i) : 0xff;
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

static void serial_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct serial *s = opaque;
	pthread_mutex_lock(&s->lock);
	for (uint32_t i = 0; i < len && off + i < 8; i++)
		write_reg(s, off + i, data[i]);
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

const struct bus_ops serial_bus_ops = { serial_read, serial_write };

struct serial *serial_create(const struct irq_line *irq, int notify_fd)
{
	struct serial *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	pthread_mutex_init(&s->lock, NULL);
	s->irq = *irq;
	s->notify_fd = notify_fd;
	s->mcr = 0x08; /* OUT2 */
	return s;
}

size_t serial_take_output(struct serial *s, uint8_t *buf, size_t len)
{
	pthread_mutex_lock(&s->lock);
	bool was_busy = tx_busy(s);
	size_t n = 0;
	while (n < len && s->tx_len) {
		buf[n++] = s->tx[s->tx_head];
		s->tx_head = (s->tx_head + 1) % TX_RING;
		s->tx_len--;
	}
	if (n && was_busy && !tx_busy(s)) {
		s->thr_pending = true; /* the transmitter has room again: tell the driver */
		update_irq(s);
	}
	pthread_mutex_unlock(&s->lock);
	return n;
}

size_t serial_input_room(struct serial *s)
{
	pthread_mutex_lock(&s->lock);
	size_t room = RX_RING - s->rx_len;
	pthread_mutex_unlock(&s->lock);
	return room;
}

void serial_input(struct serial *s, const uint8_t *buf, size_t len)
{
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < len; i++)
		rx_push(s, buf[i]);
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

uint64_t serial_dropped(struct serial *s)
{
	pthread_mutex_lock(&s->lock);
	uint64_t d = s->dropped;
	pthread_mutex_unlock(&s->lock);
	return d;
}

void serial_save(struct serial *s, struct serial_state *st)
{
	pthread_mutex_lock(&s->lock);
	*st = (struct serial_state){ .ier = s->ier,
				     .lcr = s->lcr,
				     .mcr = s->mcr,
				     .scr = s->scr,
				     .fcr = s->fcr,
				     .dll = s->dll,
				     .dlm = s->dlm,
				     .thr_pending = s->thr_pending,
				     .rx_len = (uint16_t)s->rx_len,
				     .tx_len = (uint32_t)s->tx_len };
	for (size_t i = 0; i < s->rx_len; i++)
		st->rx[i] = s->rx[(s->rx_head + i) % RX_RING];
	for (size_t i = 0; i < s->tx_len; i++)
		st->tx[i] = s->tx[(s->tx_head + i) % TX_RING];
	pthread_mutex_unlock(&s->lock);
}

int serial_load(struct serial *s, const struct serial_state *st)
{
	if (st->rx_len > RX_RING || st->tx_len > TX_RING || st->thr_pending > 1)
		return -1;
	pthread_mutex_lock(&s->lock);
	s->ier = st->ier & 0x0f, s->lcr = st->lcr, s->mcr = st->mcr & 0x1f, s->scr = st->scr;
	s->fcr = st->fcr & 0xc9, s->dll = st->dll, s->dlm = st->dlm;
	s->thr_pending = st->thr_pending;
	s->rx_head = s->tx_head = 0;
	s->rx_len = st->rx_len, s->tx_len = st->tx_len;
	memcpy(s->rx, st->rx, st->rx_len);
	memcpy(s->tx, st->tx, st->tx_len);
	/* The line as the guest last saw it (KVM's irqchip state says the same). */
	s->irq_level = !(iir(s) & IIR_NONE);
	pthread_mutex_unlock(&s->lock);
	if (s->tx_len)
		notify(s);
	return 0;
}
