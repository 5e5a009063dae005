/* SPDX-License-Identifier: Apache-2.0 */
/* The host side of the serial console: where guest output goes, where input comes from. */
#ifndef KVMRUN_CONSOLE_H
#define KVMRUN_CONSOLE_H

#include <stdbool.h>
#include <termios.h>

#include "config.h"
#include "serial.h"

struct console {
	int in_fd, out_fd; /* -1: none */
	bool tty_raw, escape_pending;
	bool in_unpollable; /* a regular file or /dev/null on stdin: always readable */
	struct termios saved;
};

/*
 * Open the console the options ask for (stdio, none, file=PATH, fd=N) and
 * put a terminal on stdin into raw mode. 0, or -1 with err naming the
 * file. fd=N is used for output, and for input when it was opened readable.
 */
int console_open(struct console *c, const struct options *o, char *err, size_t errlen);

/* Put the terminal back as it was; safe to call more than once and from a signal handler. */
void console_restore(struct console *c);

/*
 * Read what is there and hand it to the UART, as much as it has room for.
 * Returns false when the user typed Ctrl-A x. At EOF in_fd becomes -1.
 */
bool console_input(struct console *c, struct serial *s);

/* Write everything the guest has sent. A console that fails is dropped. */
void console_drain(struct console *c, struct serial *s);

#endif
