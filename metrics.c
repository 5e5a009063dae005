// SPDX-License-Identifier: Apache-2.0
/* JSON-lines metrics: build one object per line, write it whole. */
#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

__attribute__((format(printf, 2, 3))) static void put(struct jline *j, const char *fmt, ...)
{
	va_list ap;
	if (j->len >= sizeof(j->buf))
		return;
	va_start(ap, fmt);
	int n = vsnprintf(j->buf + j->len, sizeof(j->buf) - j->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(j->buf) - j->len)
		j->overflow = 1, j->len = sizeof(j->buf);
	else
		j->len += (size_t)n;
}

static void key(struct jline *j, const char *k)
{
	if (k)
		put(j, "%s\"%s\":", j->first[j->depth] ? "" : ",", k);
	else
		put(j, "%s", j->first[j->depth] ? "" : ",");
	j->first[j->depth] = 0;
}

static void open_(struct jline *j, const char *k, char open, char close)
{
	key(j, k);
	put(j, "%c", open);
	if (j->depth < 7) {
		j->first[++j->depth] = 1;
		j->close[j->depth] = close;
	}
}

void j_begin(struct jline *j)
{
	j->len = 0, j->depth = 0, j->overflow = 0;
	j->first[0] = 1;
	j->close[0] = '}';
	put(j, "{");
}

void j_obj(struct jline *j, const char *k)
{
	open_(j, k, '{', '}');
}

void j_arr(struct jline *j, const char *k)
{
	open_(j, k, '[', ']');
}

void j_end(struct jline *j)
{
	put(j, "%c", j->close[j->depth]);
	if (j->depth > 0)
		j->depth--;
}

void j_u64(struct jline *j, const char *k, uint64_t v)
{
	key(j, k);
	put(j, "%llu", (unsigned long long)v);
}

void j_bool(struct jline *j, const char *k, int v)
{
	key(j, k);
	put(j, "%s", v ? "true" : "false");
}

/* Strings here are ours (reasons, names): escape quotes, backslashes and controls anyway. */
void j_str(struct jline *j, const char *k, const char *v)
{
	key(j, k);
	put(j, "\"");
	for (; *v; v++) {
		unsigned char c = (unsigned char)*v;
		if (c == '"' || c == '\\')
			put(j, "\\%c", c);
		else if (c < 0x20)
			put(j, "\\u%04x", c);
		else
			put(j, "%c", c);
	}
	put(j, "\"");
}

int metrics_open(struct metrics_sink *s, const char *path)
{
	struct stat st;
	int flags = O_WRONLY | O_CLOEXEC;
	if (stat(path, &st) == 0 && S_ISFIFO(st.st_mode))
		flags |= O_NONBLOCK; /* ENXIO now beats blocking forever on a FIFO nobody reads */
	else
		flags |= O_CREAT | O_APPEND;
	s->tail_len = 0;
	s->ep = -1;
	s->fd = open(path, flags, 0644);
	if (s->fd < 0)
		return -errno;
	if (flags & O_NONBLOCK)
		s->ep = out_epoll(s->fd);
	return 0;
}

/* What of the last line a full FIFO left: 0 once all of it is written, or -errno. */
static int write_tail(struct metrics_sink *s)
{
	while (s->tail_len) {
		ssize_t w = write(s->fd, s->tail, s->tail_len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EAGAIN;
		memmove(s->tail, s->tail + w, s->tail_len - (size_t)w);
		s->tail_len -= (size_t)w;
	}
	return 0;
}

int metrics_emit(struct metrics_sink *s, struct jline *j)
{
	while (j->depth > 0)
		j_end(j);
	j_end(j);
	if (j->overflow)
		return -EOVERFLOW;
	put(j, "\n");
	if (j->overflow)
		return -EOVERFLOW;
	int rc = write_tail(s);
	if (rc < 0)
		return rc;
	/*
	 * Over PIPE_BUF (4 KiB: a few devices) a FIFO may take only part of it;
	 * a full one none: then all of it waits (the exit line, for one, gets
	 * metrics_flush's wait rather than being dropped).
	 */
	ssize_t w = write(s->fd, j->buf, j->len);
	if (w < 0 && errno != EAGAIN)
		return -errno;
	if (w < 0)
		w = 0;
	s->tail_len = j->len - (size_t)w;
	memcpy(s->tail, j->buf + w, s->tail_len);
	return 0;
}

void metrics_flush(struct metrics_sink *s, int ms)
{
	/* A reader that quit is EPIPE, not a wait. */
	while (s->fd >= 0 && write_tail(s) == -EAGAIN && s->ep >= 0 && ms > 0)
		out_wait(s->ep, &ms);
}
