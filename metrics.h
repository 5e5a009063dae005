/* SPDX-License-Identifier: Apache-2.0 */
/* JSON-lines metrics: a small builder for one object per line, and its writer. */
#ifndef KVMRUN_METRICS_H
#define KVMRUN_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct jline {
	char buf[32768]; /* a line with 19 devices and the Firecracker-named copies fits */
	size_t len;
	int depth;
	int first[8];  /* per depth: no member written yet */
	char close[8]; /* per depth: '}' or ']' */
	int overflow;
};

void j_begin(struct jline *j);		      /* { */
void j_obj(struct jline *j, const char *key); /* "key": {  (key NULL: an array's element) */
void j_arr(struct jline *j, const char *key); /* "key": [ */
void j_end(struct jline *j);		      /* } or ] */
void j_u64(struct jline *j, const char *key, uint64_t v);
void j_str(struct jline *j, const char *key, const char *v);
void j_bool(struct jline *j, const char *key, int v);

/*
 * Where the lines go. A FIFO is written without blocking; a line it took
 * only in part keeps its tail here, written before any later line, so the
 * reader never sees a line cut short and glued to the next.
 */
struct metrics_sink {
	int fd; /* -1: no --metrics */
	int ep; /* a FIFO: epoll set holding fd for EPOLLOUT, for the wait at exit; else -1 */
	size_t tail_len;
	char tail[sizeof(((struct jline *)0)->buf)];
};

/*
 * Open the metrics sink: a regular file (appended) or a FIFO that must
 * already have a reader. 0, or -errno.
 */
int metrics_open(struct metrics_sink *s, const char *path);

/*
 * Finish the line and write it; what a FIFO cannot take now waits, as the
 * tail. 0, or -errno: -EAGAIN when an earlier line's tail still waits (then
 * this line is dropped whole).
 */
int metrics_emit(struct metrics_sink *s, struct jline *j);

/* At exit: write a held tail, waiting up to `ms` milliseconds for the reader. */
void metrics_flush(struct metrics_sink *s, int ms);

#endif
