/* SPDX-License-Identifier: Apache-2.0 */
/* The event log: one line per event, with a monotonic timestamp since start. */
#ifndef KVMRUN_LOG_H
#define KVMRUN_LOG_H

#include <stdint.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

struct log {
	int fd; /* -1: no --log */
	enum log_level level;
	uint64_t t0_ns; /* CLOCK_MONOTONIC at start */
};

/* Monotonic nanoseconds. */
uint64_t log_now_ns(void);

/* Open PATH for appending (NULL: no log). 0 or -errno. */
int log_open(struct log *l, const char *path, enum log_level level, uint64_t t0_ns);

/*
 * "[    0.001234] info: text" to the log, one write per line so threads do
 * not interleave. Errors are also copied to stderr by the caller, not here.
 */
void log_msg(const struct log *l, enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
