// SPDX-License-Identifier: Apache-2.0
/* The event log: timestamped lines, written whole. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
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
	/*
	 * As metrics_open: a FIFO without a reader is ENXIO now, not main
	 * blocked in open; with one, a line it has no room for is dropped
	 * (EAGAIN), never waited for.
	 */
	struct stat st;
	int flags = O_WRONLY | O_CLOEXEC | O_NOCTTY;
	if (stat(path, &st) == 0 && S_ISFIFO(st.st_mode))
		flags |= O_NONBLOCK;
	else
		flags |= O_CREAT | O_APPEND;
	l->fd = open(path, flags, 0644);
	return l->fd < 0 ? -errno : 0;
}

/*
 * The source files that call log_msg, by module name. t_api checks that
 * every file calling it is here (a filter must be able to name it).
 */
const char log_modules[] = "endpoints, eventloop, report, restart, snapshot, vm, vmm";

bool log_module_known(const char *name)
{
	size_t n = strlen(name);
	for (const char *m = log_modules; *m;) {
		size_t len = strcspn(m, ",");
		if (n <= len && strncmp(m, name, n) == 0)
			return true;
		m += len;
		m += strspn(m, ", ");
	}
	return false;
}

void log_style(struct log *l, const char *module, bool show_level, bool show_origin)
{
	l->module = module && *module ? module : NULL;
	l->hide_level = !show_level;
	l->origin = show_origin;
}

/* "vmm.c" for "./vmm.c" or "/src/vmm.c". */
static const char *base(const char *file)
{
	const char *slash = strrchr(file, '/');
	return slash ? slash + 1 : file;
}

void log_at(const struct log *l, enum log_level level, const char *file, int line_no,
	    const char *fmt, ...)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	char line[512];
	if (l->fd < 0 || level > l->level)
		return;
	file = base(file);
	if (l->module && strncmp(file, l->module, strlen(l->module)) != 0)
		return;
	uint64_t t = log_now_ns() - l->t0_ns;
	int n = snprintf(line, sizeof(line), "[%5llu.%06llu] ",
			 (unsigned long long)(t / 1000000000u),
			 (unsigned long long)(t % 1000000000u / 1000));
	if (!l->hide_level)
		n += snprintf(line + n, sizeof(line) - (size_t)n, "%s: ", names[level]);
	if (l->origin)
		n += snprintf(line + n, sizeof(line) - (size_t)n, "%s:%d: ", file, line_no);
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
