// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests for the UART and the console's host side, no KVM: the
 * transmitter is "empty" only with room for a whole FIFO (Linux writes 16
 * bytes per THRE), clearing the receive FIFO frees room for input, and a
 * console nobody reads never blocks the thread that drains it.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "console.h"
#include "serial.h"

#define CHECK_PREFIX "unit/serial/"
#include "check.h"

enum { THR = 0, FCR = 2, LSR = 5, LSR_THRE = 0x20 };

static void no_irq(void *ctx, uint32_t gsi, int level)
{
}

static uint8_t rd(struct serial *s, uint64_t reg)
{
	uint8_t v = 0;
	serial_bus_ops.read(s, reg, &v, 1);
	return v;
}

static void wr(struct serial *s, uint64_t reg, uint8_t v)
{
	serial_bus_ops.write(s, reg, &v, 1);
}

/* Linux's 8250 driver: on THRE, 16 bytes without looking at LSR again. Bursts until THRE clears. */
static unsigned bursts_until_busy(struct serial *s)
{
	unsigned n = 0;
	while ((rd(s, LSR) & LSR_THRE) && n < 10000) {
		for (int i = 0; i < 16; i++)
			wr(s, THR, (uint8_t)('a' + i));
		n++;
	}
	return n;
}

static void thre(void)
{
	struct irq_line irq = { no_irq, NULL, 4 };
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	struct serial *s = serial_create(&irq, efd);
	unsigned n = bursts_until_busy(s);
	check(n == SERIAL_TX_MAX / 16 && serial_dropped(s) == 0, "thre-whole-fifo",
	      "%u bursts of 16 before THRE cleared (want %d), %llu bytes dropped", n,
	      SERIAL_TX_MAX / 16, (unsigned long long)serial_dropped(s));
	uint8_t buf[64];
	size_t took = serial_take_output(s, buf, 8);
	check(took == 8 && !(rd(s, LSR) & LSR_THRE), "thre-needs-16",
	      "8 bytes taken: THRE %s with 8 free", rd(s, LSR) & LSR_THRE ? "set" : "clear");
	took = serial_take_output(s, buf, 8);
	check(took == 8 && (rd(s, LSR) & LSR_THRE) && bursts_until_busy(s) == 1 &&
		      serial_dropped(s) == 0,
	      "thre-after-16", "16 free: THRE and one more burst, nothing dropped (dropped %llu)",
	      (unsigned long long)serial_dropped(s));

	/* A full receive buffer, cleared by FCR: the loop is told there is room. */
	uint8_t in[SERIAL_RX_MAX];
	memset(in, 'x', sizeof(in));
	serial_input(s, in, sizeof(in));
	uint64_t v;
	while (read(efd, &v, sizeof(v)) > 0) {
	}
	wr(s, FCR, 0x07);
	check(serial_input_room(s) == SERIAL_RX_MAX && read(efd, &v, sizeof(v)) == sizeof(v),
	      "fcr-clear-notifies", "room %zu, eventfd %s", serial_input_room(s),
	      errno == EAGAIN ? "not written" : "written");
	close(efd);
	free(s); /* serial.c has no destroy: kvmrun keeps its UART for the process */
}

static void on_alarm(int sig)
{
	(void)!write(1, "FAIL unit/serial/stuck-console-never-blocks: console_drain blocked\n", 68);
	_exit(1);
}

/* A pipe nobody reads as the console, and a guest printing on: the drain must return. */
static void stuck_console(void)
{
	int p[2];
	struct irq_line irq = { no_irq, NULL, 4 };
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	struct serial *s = serial_create(&irq, efd);
	struct options o = { .console = CONSOLE_FD, .console_limit = 0 };
	struct console c;
	char err[128];
	if (pipe(p) < 0) {
		check(false, "stuck-console-never-blocks", "pipe: %s", strerror(errno));
		return;
	}
	fcntl(p[0], F_SETFL, O_NONBLOCK); /* the test's reader; the console's end stays blocking */
	o.console_fd = p[1];
	check(console_open(&c, &o, err, sizeof(err)) == 0, "console-open", "%s", err);
	signal(SIGALRM, on_alarm);
	alarm(10);
	enum console_drain r = CONSOLE_DRAINED;
	unsigned rounds = 0;
	/* 1 MiB through a 64 KiB pipe: the pipe fills, then the UART. */
	for (; rounds < 64 && r != CONSOLE_BLOCKED; rounds++) {
		bursts_until_busy(s);
		r = console_drain(&c, s);
	}
	/* Held: the guest fills the UART again, and the drain takes nothing. */
	bursts_until_busy(s);
	if (r == CONSOLE_BLOCKED)
		r = console_drain(&c, s);
	alarm(0);
	check(r == CONSOLE_BLOCKED && !(rd(s, LSR) & LSR_THRE) && serial_dropped(s) == 0,
	      "stuck-console-never-blocks",
	      "after %u rounds: drain says %d (want BLOCKED), THRE %s, %llu dropped", rounds, r,
	      rd(s, LSR) & LSR_THRE ? "set" : "clear", (unsigned long long)serial_dropped(s));
	/* The reader comes back: the bytes held in the UART go out. */
	char buf[65536];
	while (read(p[0], buf, sizeof(buf)) > 0) {
	}
	r = console_drain(&c, s);
	check(r != CONSOLE_BLOCKED && (rd(s, LSR) & LSR_THRE), "stuck-console-resumes",
	      "drain says %d after the reader came back", r);
	close(p[0]);
	close(p[1]);
	close(c.out_ep);
	close(efd);
	free(s);
}

int main(void)
{
	thre();
	stuck_console();
	return failures != 0;
}
