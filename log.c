// SPDX-License-Identifier: Apache-2.0
/* The event log: timestamped lines, written whole. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

uint64_t log_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int log_open(struct log *l, const char *path, enum log_level level, uint64_t t0_ns)
{
	l->fd = -1;
	l->level = level;
	l->t0_ns = t0_ns;
	if (!path)
		return 0;
	l->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	return l->fd < 0 ? -errno : 0;
}

void log_msg(const struct log *l, enum log_level level, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	char line[512];
	if (l->fd < 0 || level > l->level)
		return;
	uint64_t t = log_now_ns() - l->t0_ns;
	int n = snprintf(line, sizeof(line),
			 "[%5llu.%06llu] %s: ", (unsigned long long)(t / 1000000000u),
			 (unsigned long long)(t % 1000000000u / 1000), names[level]);
	va_list ap;
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(l->fd, line, (size_t)n) < 0) {
		/* a full disk must not stop the VM */
	}
}
