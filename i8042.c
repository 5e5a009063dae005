// SPDX-License-Identifier: Apache-2.0
/*
 * Just enough of an i8042 for Linux booted with i8042.dumbkbd (no probing
 * of a real keyboard): status, command byte, self-test, the reset pulse,
 * and a keyboard that can only press Ctrl-Alt-Del.
 */
#include "i8042.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "layout.h"

#define ST_OBF 0x01 /* output buffer full */
#define ST_SYS 0x04 /* system flag: self-test passed */
#define ST_CMD 0x08 /* last write was to the command port */
#define CTR_KBDINT 0x01
#define CTR_SYS 0x04

enum { NONE, WRITE_CTR, WRITE_OUTPORT }; /* what the next data-port write means */

#define QLEN I8042_QLEN

struct i8042 {
	pthread_mutex_t lock;
	struct irq_line irq;
	void (*reset)(void *ctx);
	void *ctx;
	uint8_t status, ctr, expect;
	uint8_t q[QLEN];
	int qhead, qlen;
};

/* Each byte that reaches the output buffer is one edge on IRQ 1. */
static void pulse(struct i8042 *k)
{
	if (k->qlen && (k->ctr & CTR_KBDINT)) {
		irq_set(&k->irq, 1);
		irq_set(&k->irq, 0);
	}
}

static void push(struct i8042 *k, uint8_t v)
{
	if (k->qlen < QLEN)
		k->q[(k->qhead + k->qlen++) % QLEN] = v;
}

static uint8_t pop(struct i8042 *k)
{
	if (!k->qlen)
		return 0;
	uint8_t v = k->q[k->qhead];
	k->qhead = (k->qhead + 1) % QLEN;
	k->qlen--;
	return v;
}

static bool command(struct i8042 *k, uint8_t cmd)
{
	switch (cmd) {
	case 0x20: /* read command byte */
		push(k, k->ctr);
		break;
	case 0x60: /* write command byte: next data byte */
		k->expect = WRITE_CTR;
		break;
	case 0xaa: /* controller self-test */
		push(k, 0x55);
		break;
	case 0xab: /* keyboard interface test */
		push(k, 0x00);
		break;
	case 0xd1: /* write output port: next data byte */
		k->expect = WRITE_OUTPORT;
		break;
	case 0xfe: /* pulse the reset line */
		return true;
	default: /* enable/disable keyboard or aux, and the rest: accepted, no effect */
		break;
	}
	return false;
}

static bool data(struct i8042 *k, uint8_t v)
{
	uint8_t expect = k->expect;
	k->expect = NONE;
	if (expect == WRITE_CTR) {
		k->ctr = v;
		return false;
	}
	if (expect == WRITE_OUTPORT)
		return !(v & 1); /* bit 0 low holds the CPU in reset */
	/* A command for the keyboard: acknowledge; answer a reset with "passed". */
	push(k, 0xfa);
	if (v == 0xff)
		push(k, 0xaa);
	return false;
}

static void kbd_read(void *opaque, uint64_t off, uint8_t *d, uint32_t len)
{
	struct i8042 *k = opaque;
	pthread_mutex_lock(&k->lock);
	if (off == 0) {
		d[0] = pop(k);
		pulse(k); /* the next queued byte, if any, is a new interrupt */
	} else if (off == 4) {
		d[0] = (uint8_t)(k->status | (k->qlen ? ST_OBF : 0));
	} else {
		d[0] = 0xff;
	}
	for (uint32_t i = 1; i < len; i++)
		d[i] = 0xff;
	pthread_mutex_unlock(&k->lock);
}

static void kbd_write(void *opaque, uint64_t off, const uint8_t *d, uint32_t len)
{
	struct i8042 *k = opaque;
	bool reset = false;
	pthread_mutex_lock(&k->lock);
	int queued = k->qlen;
	if (off == 0) {
		k->status &= (uint8_t)~ST_CMD;
		reset = data(k, d[0]);
	} else if (off == 4) {
		k->status |= ST_CMD;
		reset = command(k, d[0]);
	}
	if (!queued)
		pulse(k); /* a reply is the guest's next interrupt */
	pthread_mutex_unlock(&k->lock);
	if (reset)
		k->reset(k->ctx);
}

/* Register at I8042_DATA_PORT with length 5: offsets 0 (data) and 4 (command). */
const struct bus_ops i8042_bus_ops = { kbd_read, kbd_write };

struct i8042 *i8042_create(const struct irq_line *irq, void (*reset)(void *ctx), void *ctx)
{
	struct i8042 *k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	pthread_mutex_init(&k->lock, NULL);
	k->irq = *irq;
	k->reset = reset;
	k->ctx = ctx;
	k->status = ST_SYS;
	k->ctr = CTR_KBDINT | CTR_SYS;
	return k;
}

void i8042_ctrl_alt_del(struct i8042 *k)
{
	static const uint8_t keys[] = { 0x14, 0x11, 0xe0, 0x71 }; /* Ctrl, Alt, Del (set 2) */
	pthread_mutex_lock(&k->lock);
	bool idle = k->qlen == 0;
	for (unsigned i = 0; i < sizeof(keys); i++)
		push(k, keys[i]);
	if (idle)
		pulse(k);
	pthread_mutex_unlock(&k->lock);
}

void i8042_save(struct i8042 *k, struct i8042_state *st)
{
	pthread_mutex_lock(&k->lock);
	*st = (struct i8042_state){
		.status = k->status, .ctr = k->ctr, .expect = k->expect, .qlen = (uint8_t)k->qlen
	};
	for (int i = 0; i < k->qlen; i++)
		st->q[i] = k->q[(k->qhead + i) % QLEN];
	pthread_mutex_unlock(&k->lock);
}

int i8042_load(struct i8042 *k, const struct i8042_state *st)
{
	if (st->qlen > QLEN || st->expect > WRITE_OUTPORT)
		return -1;
	pthread_mutex_lock(&k->lock);
	k->status = st->status, k->ctr = st->ctr, k->expect = st->expect;
	k->qhead = 0, k->qlen = st->qlen;
	for (int i = 0; i < k->qlen; i++)
		k->q[i] = st->q[i];
	pthread_mutex_unlock(&k->lock);
	return 0;
}
