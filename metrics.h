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
 * Open the metrics sink: a regular file (appended) or a FIFO that must
 * already have a reader. Returns the fd or -errno.
 */
int metrics_open(const char *path);

/* Finish the line and write it (one write; dropped if a FIFO is full). 0 or -errno. */
int metrics_emit(int fd, struct jline *j);

#endif
