/* SPDX-License-Identifier: Apache-2.0 */
/* --limits FILE: the devices' rate limits from a file, re-read on SIGHUP (no API needed). */
#ifndef KVMRUN_LIMITSFILE_H
#define KVMRUN_LIMITSFILE_H

#include <stddef.h>

#include "ratelimit.h"

#define LIMITS_MAX_BYTES 65536
#define LIMITS_MAX_DEVICES 32

/*
 * One device's limits as a line of the file names them: "vda bw=10M iops=1000",
 * "eth0 rx-bw=2M tx-ops=1000", "vdb off" (names as in the metrics: vda, vdb,
 * ... in --disk order, eth0, eth1, ... in --net order). Each line sets all of
 * that device's buckets (those it does not name are off); a device the file
 * does not name keeps what it had. '#' starts a comment.
 */
struct limits_line {
	char name[8];
	struct rl_spec disk, rx, tx; /* disk for vdX, rx/tx for ethN */
};

/* Room to read and parse a whole file into, for a caller that may not allocate later. */
struct limits_scratch {
	char text[LIMITS_MAX_BYTES + 1];
	struct limits_line lines[LIMITS_MAX_DEVICES];
};

/*
 * Parse text[0, len) into out (room for LIMITS_MAX_DEVICES). The number of
 * lines, or -1 with err naming the line and what is wrong there. No
 * allocation: it runs in the confined main thread.
 */
int limits_parse(const char *text, size_t len, struct limits_line *out, char *err, size_t errlen);

#endif
