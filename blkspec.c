// SPDX-License-Identifier: Apache-2.0
/* The --disk option: "PATH[,ro][,serial=ID][,cache=unsafe|writeback]". */
#include "blkspec.h"

#include <stdio.h>
#include <string.h>

int blk_parse_spec(const char *arg, struct blk_spec *out, char *err, size_t errlen)
{
	const char *comma = strchr(arg, ',');
	size_t plen = comma ? (size_t)(comma - arg) : strlen(arg);

	memset(out, 0, sizeof(*out));
	if (plen == 0) {
		snprintf(err, errlen, "--disk %s: empty path", arg);
		return -1;
	}
	if (plen >= sizeof(out->path)) {
		snprintf(err, errlen, "--disk: path too long");
		return -1;
	}
	memcpy(out->path, arg, plen);
	while (comma) {
		const char *opt = comma + 1;
		size_t olen;

		comma = strchr(opt, ',');
		olen = comma ? (size_t)(comma - opt) : strlen(opt);
		if (olen == 2 && !strncmp(opt, "ro", 2)) {
			out->ro = true;
		} else if (olen == 12 && !strncmp(opt, "cache=unsafe", 12)) {
			out->no_flush = true;
		} else if (olen == 15 && !strncmp(opt, "cache=writeback", 15)) {
			out->no_flush = false;
		} else if (olen > 7 && !strncmp(opt, "serial=", 7)) {
			size_t n = olen - 7;

			if (n > BLK_SERIAL_MAX) {
				snprintf(err, errlen, "--disk %s: serial longer than %d characters",
					 out->path, BLK_SERIAL_MAX);
				return -1;
			}
			for (size_t i = 0; i < n; i++)
				if (opt[7 + i] < 0x20 || opt[7 + i] > 0x7e) {
					snprintf(err, errlen,
						 "--disk %s: serial must be printable ASCII",
						 out->path);
					return -1;
				}
			memcpy(out->serial, opt + 7, n);
			out->serial[n] = 0;
		} else {
			int r = rl_parse_opt(opt, olen, &out->limit);
			if (r < 0) {
				snprintf(err, errlen,
					 "--disk %s: bad value in '%.*s' (want a positive number, "
					 "with K, M or G for bytes)",
					 out->path, (int)olen, opt);
				return -1;
			}
			if (r == 0) {
				snprintf(err, errlen,
					 "--disk %s: unknown option '%.*s' (want ro, serial=ID, "
					 "cache=unsafe|writeback, bw=, iops=, bw-burst=, "
					 "iops-burst=)",
					 out->path, (int)olen, opt);
				return -1;
			}
		}
	}
	return 0;
}
