// SPDX-License-Identifier: Apache-2.0
/* JSON-lines metrics: build one object per line, write it whole. */
#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

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

int metrics_open(const char *path)
{
	struct stat st;
	int flags = O_WRONLY | O_CLOEXEC;
	if (stat(path, &st) == 0 && S_ISFIFO(st.st_mode))
		flags |= O_NONBLOCK; /* ENXIO now beats blocking forever on a FIFO nobody reads */
	else
		flags |= O_CREAT | O_APPEND;
	int fd = open(path, flags, 0644);
	return fd < 0 ? -errno : fd;
}

int metrics_emit(int fd, struct jline *j)
{
	while (j->depth > 0)
		j_end(j);
	j_end(j);
	if (j->overflow)
		return -EOVERFLOW;
	put(j, "\n");
	if (j->overflow)
		return -EOVERFLOW;
	return write(fd, j->buf, j->len) < 0 ? -errno : 0;
}
