// SPDX-License-Identifier: Apache-2.0
/*
 * The opener: once the guest runs, the one thread that may open files.
 * Main, the API thread and the I/O threads cannot (their filters have no
 * open), yet the API names files while the guest runs: the image a PATCH
 * /drives puts under a disk, the files of PUT /snapshot/create. Main hands
 * the thread one job at a time and waits for it; the thread's filter allows
 * opening, creating, sizing, locking and closing files, and nothing that
 * reads or writes what is in them (its one write is the eventfd that
 * raises the disk's config-change interrupt after a swap).
 */
#include "opener.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "util.h"
#include "virtio_blk.h"

struct opener {
	atomic_int go;	  /* main is jailed: confine and serve */
	atomic_int state; /* OPENER_IDLE, _JOB (main posted one), _DONE (the result is in) */
	int (*job)(void *arg, char *err, size_t errlen);
	void *arg;
	int rc;
	char err[256];
	bool (*confine)(void *ctx);
	void *ctx;
};
enum { OPENER_IDLE, OPENER_JOB, OPENER_DONE };

static void *opener_main(void *arg)
{
	struct opener *op = arg;
	prctl(PR_SET_NAME, "kvmrun-opener", 0, 0, 0);
	while (!atomic_load(&op->go))
		futex_wait(&op->go, 0);
	if (!op->confine(op->ctx))
		return NULL;
	for (;;) {
		while (atomic_load(&op->state) != OPENER_JOB)
			futex_wait(&op->state, OPENER_IDLE);
		op->rc = op->job(op->arg, op->err, sizeof(op->err));
		atomic_store(&op->state, OPENER_DONE);
		futex_wake(&op->state);
	}
	return NULL;
}

struct opener *opener_new(void)
{
	return calloc(1, sizeof(struct opener));
}

int opener_start(struct opener *op, bool (*confine)(void *ctx), void *ctx)
{
	op->confine = confine;
	op->ctx = ctx;
	/* Every signal blocked in the thread: SIGTERM and friends are main's to take. */
	return thread_spawn_quiet(opener_main, op, 64u << 10);
}

void opener_confine(struct opener *op)
{
	atomic_store(&op->go, 1);
	futex_wake(&op->go);
}

/* Main: have the thread run job(arg), and wait for it. */
static int run(struct opener *op, int (*job)(void *arg, char *err, size_t errlen), void *arg,
	       char *err, size_t errlen)
{
	op->job = job;
	op->arg = arg;
	atomic_store(&op->state, OPENER_JOB);
	futex_wake(&op->state);
	for (int st; (st = atomic_load(&op->state)) != OPENER_DONE;)
		futex_wait(&op->state, st);
	atomic_store(&op->state, OPENER_IDLE);
	snprintf(err, errlen, "%s", op->err);
	return op->rc;
}

/* ---- the jobs ---- */
struct replace_job {
	struct blk *blk;
	const char *path;
};

static int replace_job(void *arg, char *err, size_t errlen)
{
	struct replace_job *j = arg;
	return blk_replace(j->blk, j->path, err, errlen);
}

struct snap_job {
	const char *dir, *mem;
	bool diff;
	int fds[SNAPSHOT_FILES];
};

static int snap_open_job(void *arg, char *err, size_t errlen)
{
	struct snap_job *j = arg;
	return snapshot_files_open(j->dir, j->mem, j->diff, j->fds, err, errlen);
}

static int snap_close_job(void *arg, char *err, size_t errlen)
{
	struct snap_job *j = arg;
	(void)err, (void)errlen;
	snapshot_files_close(j->fds);
	return 0;
}

int opener_replace(struct opener *op, struct blk *b, const char *path, char *err, size_t errlen)
{
	struct replace_job j = { b, path };
	return run(op, replace_job, &j, err, errlen);
}

int opener_snapshot_files(struct opener *op, const char *dir, const char *mem, bool diff,
			  int fds[SNAPSHOT_FILES], char *err, size_t errlen)
{
	struct snap_job j = { .dir = dir, .mem = mem, .diff = diff };
	int rc = run(op, snap_open_job, &j, err, errlen);
	memcpy(fds, j.fds, sizeof(j.fds));
	return rc;
}

void opener_close(struct opener *op, int fds[SNAPSHOT_FILES])
{
	struct snap_job j = { .dir = "" };
	char err[8];
	memcpy(j.fds, fds, sizeof(j.fds));
	run(op, snap_close_job, &j, err, sizeof(err));
	for (int i = 0; i < SNAPSHOT_FILES; i++)
		fds[i] = -1;
}
