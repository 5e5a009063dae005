/* SPDX-License-Identifier: Apache-2.0 */
/* The host side of the serial console: where guest output goes, where input comes from. */
#ifndef KVMRUN_CONSOLE_H
#define KVMRUN_CONSOLE_H

#include <stdbool.h>
#include <termios.h>

#include "options.h"
#include "ratelimit.h"
#include "serial.h"

struct console {
	int in_fd, out_fd; /* -1: none */
	/*
	 * epoll set holding out_fd for EPOLLOUT (-1: none, or a regular file,
	 * always writable): main writes only what the console takes without
	 * blocking, and waits for this fd to be readable for the rest.
	 */
	int out_ep;
	/*
	 * Output limiter (--console-limit; on by default for file=): a guest that
	 * prints without end must not fill the host's disk. Output over the rate
	 * is dropped (never held: a UART that stops draining stalls a guest's
	 * kernel) and counted; a line in the output says where and how much.
	 */
	bool limited, dropping;
	struct ratelimit limit;
	uint64_t dropped, dropped_now; /* in all; since the last marker line */
	uint64_t resume_at;	       /* dropping: not before this (ns), a second at a time */
	bool tty_raw, escape_pending;
	bool truncate;	    /* file=: emptied at console_start */
	bool in_unpollable; /* a regular file or /dev/null on stdin: always readable */
	struct termios saved;
};

/*
 * Open the console the options ask for (stdio, none, file=PATH, fd=N) and
 * put a terminal on stdin into raw mode. 0, or -1 with err naming the
 * file. fd=N is used for output, and for input when it was opened readable.
 */
int console_open(struct console *c, const struct options *o, char *err, size_t errlen);

/* The guest is about to run: a file= console is emptied now (not at open, before the checks). */
void console_start(struct console *c);

/* Put the terminal back as it was; safe to call more than once and from a signal handler. */
void console_restore(struct console *c);

/*
 * Read what is there and hand it to the UART, as much as it has room for.
 * Returns false when the user typed Ctrl-A x. At EOF in_fd becomes -1.
 */
bool console_input(struct console *c, struct serial *s);

/*
 * Write what the guest has sent (over the output limit: drop it), never
 * blocking: a console that cannot take more now leaves the rest in the
 * UART, whose driver waits for room as on a real line. A console that fails
 * is dropped. CONSOLE_DRAINED: all of it; CONSOLE_BLOCKED: call again when
 * out_ep is readable; CONSOLE_MORE: a turn's worth (64 KiB) written, call
 * again after the loop's other events.
 */
enum console_drain { CONSOLE_DRAINED, CONSOLE_BLOCKED, CONSOLE_MORE };
enum console_drain console_drain(struct console *c, struct serial *s);

/* At exit: drain, waiting for a blocked console up to `ms` milliseconds in all. */
void console_flush(struct console *c, struct serial *s, int ms);

#endif
