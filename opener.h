/* SPDX-License-Identifier: Apache-2.0 */
/* The opener: the one thread that opens files once the guest runs (for the API's requests). */
#ifndef KVMRUN_OPENER_H
#define KVMRUN_OPENER_H

#include <stdbool.h>
#include <stddef.h>

#include "snapshot.h"

struct blk;
struct opener;

/* Its state, before the jail. NULL: out of memory. */
struct opener *opener_new(void);

/*
 * Start the thread, every signal blocked, before the jail (so that its start
 * overlaps other work); it waits for opener_confine. 0 or -errno.
 */
int opener_start(struct opener *op, bool (*confine)(void *ctx), void *ctx);

/*
 * After the jail, before the guest runs: the thread calls confine(ctx) (its
 * capabilities and seccomp filter: false, it stops) and takes jobs.
 */
void opener_confine(struct opener *op);

/*
 * Main's requests, one at a time; each waits for the thread. 0, or -1 with
 * a line in err. Disk b runs on the image at path from now on (blk_replace);
 * DIR's snapshot files, created and locked (snapshot_files_open); and closed.
 */
int opener_replace(struct opener *op, struct blk *b, const char *path, char *err, size_t errlen);
int opener_snapshot_files(struct opener *op, const char *dir, const char *mem, bool diff,
			  int fds[SNAPSHOT_FILES], char *err, size_t errlen);
void opener_close(struct opener *op, int fds[SNAPSHOT_FILES]);

#endif
