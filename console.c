// SPDX-License-Identifier: Apache-2.0
/* The host side of the serial console: raw terminal, Ctrl-A escapes, output draining. */
#include "console.h"

#include "ratelimit.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define ESCAPE_CHAR 0x01 /* Ctrl-A */
#define CHUNK 4096	 /* written at once only when the console is writable */
#define TURN (64u << 10) /* at most this much per console_drain: other events go on */

/*
 * Whether the console takes CHUNK bytes now without blocking main: out_ep
 * (util.h's out_epoll: a pipe with a free page, a socket or terminal with
 * room) asked with a zero timeout. A regular file is always writable.
 */
static bool writable(const struct console *c)
{
	struct epoll_event ev;
	return c->out_ep < 0 || epoll_wait(c->out_ep, &ev, 1, 0) == 1;
}

int console_open(struct console *c, const struct options *o, char *err, size_t errlen)
{
	c->in_fd = c->out_fd = c->out_ep = -1;
	switch (o->console) {
	case CONSOLE_STDIO:
		c->in_fd = STDIN_FILENO;
		c->out_fd = STDOUT_FILENO;
		break;
	case CONSOLE_FILE:
		/*
		 * Not O_TRUNC: emptied by console_start, once nothing can fail any
		 * more. O_NONBLOCK for the open only: a FIFO without a reader is
		 * ENXIO, not a hang.
		 */
		c->out_fd = open(o->console_path,
				 O_WRONLY | O_CREAT | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, 0644);
		if (c->out_fd < 0 || fcntl(c->out_fd, F_SETFL, 0) < 0) {
			snprintf(err, errlen, "--console file=%s: %s%s", o->console_path,
				 strerror(errno),
				 errno == ENXIO ? " (a FIFO needs a reader first)" : "");
			return -1;
		}
		c->truncate = true;
		break;
	case CONSOLE_FD: {
		int acc = fcntl(o->console_fd, F_GETFL) & O_ACCMODE;
		c->out_fd = o->console_fd;
		if (acc == O_RDWR)
			c->in_fd = o->console_fd;
		if (acc == O_RDONLY) {
			snprintf(err, errlen, "--console fd=%d: not open for writing",
				 o->console_fd);
			return -1;
		}
		break;
	}
	case CONSOLE_NONE:
		break;
	}
	c->out_ep = out_epoll(c->out_fd);
	/* The default limit guards files; an explicit one applies to any output. */
	int64_t rate = o->console_limit < 0 ? (o->console == CONSOLE_FILE ? 64 << 10 : 0)
					    : o->console_limit;
	if (rate > 0 && c->out_fd >= 0) {
		/* At once: 64 s worth (4 MiB at the default), a whole boot's messages and then some. */
		struct rl_spec s = { .bw = { .size = (uint64_t)rate,
					     .one_time_burst = 64 * (uint64_t)rate,
					     .refill_ms = 1000 } };
		rl_init(&c->limit, &s, rl_now());
		c->limited = true;
	}
	if (c->in_fd >= 0 && isatty(c->in_fd) && tcgetattr(c->in_fd, &c->saved) == 0) {
		struct termios raw = c->saved;
		cfmakeraw(&raw);
		raw.c_oflag |= OPOST | ONLCR; /* keep the host terminal's line handling */
		if (tcsetattr(c->in_fd, TCSAFLUSH, &raw) == 0)
			c->tty_raw = true;
	}
	return 0;
}

void console_start(struct console *c)
{
	if (c->truncate && c->out_fd >= 0)
		(void)!ftruncate(c->out_fd, 0); /* a FIFO or a device: nothing to empty */
	c->truncate = false;
}

void console_restore(struct console *c)
{
	if (c->tty_raw) {
		c->tty_raw = false;
		tcsetattr(c->in_fd, TCSAFLUSH, &c->saved);
	}
}

static void write_all(struct console *c, const uint8_t *buf, size_t len)
{
	while (len && c->out_fd >= 0) {
		ssize_t w = write(c->out_fd, buf, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) { /* console gone (EPIPE, EIO): the guest runs on without it */
			c->out_fd = -1;
			return;
		}
		buf += w, len -= (size_t)w;
	}
}

__attribute__((format(printf, 2, 3))) static void marker(struct console *c, const char *fmt, ...)
{
	va_list ap;
	char line[160];
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0)
		write_all(c, (const uint8_t *)line,
			  (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

enum console_drain console_drain(struct console *c, struct serial *s)
{
	uint8_t buf[CHUNK];
	size_t n, turn = 0;
	uint64_t wait;
	for (;;) {
		if (turn >= TURN)
			return CONSOLE_MORE;
		/* Not writable now: the bytes wait in the UART (its driver waits for room). */
		if (c->out_fd >= 0 && !writable(c))
			return CONSOLE_BLOCKED;
		if ((n = serial_take_output(s, buf, sizeof(buf))) == 0)
			return CONSOLE_DRAINED;
		turn += n;
		uint64_t now = c->limited ? rl_now() : 0;
		/*
		 * Once dropping, output resumes a second later at the earliest:
		 * the drain runs every few bytes, and without a pause each trickle
		 * of refill would write its pair of marker lines.
		 */
		bool hold = c->dropping && now < c->resume_at;
		if (!c->limited || (!hold && rl_admit(&c->limit, n, now, &wait))) {
			if (c->dropping)
				marker(c,
				       "\r\n[kvmrun: %llu bytes of console output dropped "
				       "here]\r\n",
				       (unsigned long long)c->dropped_now);
			c->dropping = false;
			c->dropped_now = 0;
			write_all(c, buf, n);
			continue;
		}
		if (!c->dropping)
			marker(c,
			       "\r\n[kvmrun: console output over its limit of %llu bytes/s: "
			       "dropping]\r\n",
			       (unsigned long long)c->limit.bw.spec.size);
		if (!hold)
			c->resume_at = now + 1000000000u;
		c->dropping = true;
		c->dropped += n;
		c->dropped_now += n;
	}
}

void console_flush(struct console *c, struct serial *s, int ms)
{
	enum console_drain r;
	/*
	 * Turns are counted too: a vCPU that still prints while kvmrun stops
	 * would otherwise keep a console that takes everything in this loop.
	 */
	for (int turns = 0; (r = console_drain(c, s)) != CONSOLE_DRAINED && ms > 0 && turns < 64;
	     turns++) {
		if (r == CONSOLE_BLOCKED)
			out_wait(c->out_ep, &ms);
	}
}

bool console_input(struct console *c, struct serial *s)
{
	uint8_t in[512], out[1024];
	size_t room = serial_input_room(s), n = 0;
	if (room == 0 || c->in_fd < 0)
		return true; /* resumes when the guest reads: the serial eventfd fires */
	ssize_t r = read(c->in_fd, in, room < sizeof(in) ? room : sizeof(in));
	if (r <= 0) {
		if (r == 0 || (errno != EINTR && errno != EAGAIN))
			c->in_fd = -1; /* EOF: the guest keeps running without input */
		return true;
	}
	for (ssize_t i = 0; i < r; i++) {
		uint8_t ch = in[i];
		/* Escapes only on a terminal: on a pipe or socket every byte is data. */
		if (c->tty_raw && c->escape_pending) {
			c->escape_pending = false;
			if (ch == 'x' || ch == 'X')
				return false;
			if (ch != ESCAPE_CHAR)
				out[n++] = ESCAPE_CHAR;
		} else if (c->tty_raw && ch == ESCAPE_CHAR) {
			c->escape_pending = true;
			continue;
		}
		out[n++] = ch;
	}
	serial_input(s, out, n);
	return true;
}
