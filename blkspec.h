/* SPDX-License-Identifier: Apache-2.0 */
/* The --disk option: "PATH[,ro][,serial=ID][,cache=unsafe|writeback]". */
#ifndef KVMRUN_BLKSPEC_H
#define KVMRUN_BLKSPEC_H

#include <stdbool.h>
#include <stddef.h>

#include "ratelimit.h"

#define BLK_SERIAL_MAX 20 /* VIRTIO_BLK_ID_BYTES */
#define BLK_PATH_MAX 4096

struct blk_spec {
	char path[BLK_PATH_MAX];
	bool ro;
	bool no_flush; /* cache=unsafe: FLUSH is not offered (the host page cache decides) */
	char serial[BLK_SERIAL_MAX + 1]; /* "" when not given */
	struct rl_spec limit;		 /* bw=, iops=, ...; all 0: unlimited */
};

/*
 * Parse "PATH[,ro][,serial=ID][,cache=unsafe|writeback][,bw=RATE][,iops=N]
 * [,bw-burst=BYTES][,iops-burst=N]" (rate limits: see ratelimit.h) (ID: 1..20 printable ASCII characters, no
 * comma). PATH may not contain a comma. 0, or -1 with a message in err.
 */
int blk_parse_spec(const char *arg, struct blk_spec *out, char *err, size_t errlen);

#endif
