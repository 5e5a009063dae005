/* SPDX-License-Identifier: Apache-2.0 */
/* The event log: one line per event, with a monotonic timestamp since start. */
#ifndef KVMRUN_LOG_H
#define KVMRUN_LOG_H

#include <stdbool.h>
#include <stdint.h>

/* LOG_OFF: Firecracker's "Off", and --log-level off: no line, not even errors. */
enum log_level { LOG_OFF = -1, LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

struct log {
	int fd; /* -1: no --log */
	enum log_level level;
	uint64_t t0_ns;		 /* CLOCK_MONOTONIC at start */
	const char *module;	 /* NULL, or only lines from modules whose name starts with it */
	bool hide_level, origin; /* no "info: "; "file.c:line: " before the text */
};

/* Monotonic nanoseconds. */
uint64_t log_now_ns(void);

/* Open PATH for appending (NULL: no log). 0 or -errno. */
int log_open(struct log *l, const char *path, enum log_level level, uint64_t t0_ns);

/*
 * Firecracker's logger options: `module` keeps only lines written by the
 * modules (source files, "vmm" for vmm.c) whose name starts with it;
 * show_level false leaves out the level; show_origin puts "file.c:line: "
 * before each line's text.
 */
void log_style(struct log *l, const char *module, bool show_level, bool show_origin);

/* Whether some module that writes to the log has a name starting with NAME. */
bool log_module_known(const char *name);
/* Those modules, for messages: "endpoints, eventloop, ...". */
extern const char log_modules[];

/*
 * "[    0.001234] info: text" to the log, one write per line so threads do
 * not interleave. Errors are also copied to stderr by the caller, not here.
 */
#define log_msg(l, level, ...) log_at(l, level, __FILE__, __LINE__, __VA_ARGS__)
void log_at(const struct log *l, enum log_level level, const char *file, int line, const char *fmt,
	    ...) __attribute__((format(printf, 5, 6)));

#endif
