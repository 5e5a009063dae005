// SPDX-License-Identifier: Apache-2.0
/* The --limits file's format: one device per line, its limits as --disk / --net spell them. */
#include "limitsfile.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* One "key=value" word of a line into l; false when it is not one the device takes. */
static bool word(struct limits_line *l, bool disk, const char *w, size_t n)
{
	if (disk)
		return rl_parse_opt(w, n, &l->disk) == 1;
	if (n > 3 && (!strncmp(w, "rx-", 3) || !strncmp(w, "tx-", 3)))
		return rl_parse_opt(w + 3, n - 3, w[0] == 'r' ? &l->rx : &l->tx) == 1;
	return false;
}

static bool device_name(const char *w, size_t n, bool *disk)
{
	if (n == 3 && w[0] == 'v' && w[1] == 'd' && w[2] >= 'a' && w[2] <= 'z')
		return *disk = true;
	if (n >= 4 && n <= 5 && !strncmp(w, "eth", 3)) {
		for (size_t i = 3; i < n; i++)
			if (w[i] < '0' || w[i] > '9')
				return false;
		*disk = false;
		return true;
	}
	return false;
}

int limits_parse(const char *text, size_t len, struct limits_line *out, char *err, size_t errlen)
{
	int n = 0, lineno = 0;
	for (size_t at = 0; at < len;) {
		const char *line = text + at, *nl = memchr(line, '\n', len - at);
		size_t llen = nl ? (size_t)(nl - line) : len - at;
		at += llen + (nl ? 1 : 0);
		lineno++;
		const char *hash = memchr(line, '#', llen);
		if (hash)
			llen = (size_t)(hash - line);
		struct limits_line l;
		memset(&l, 0, sizeof(l));
		bool disk = false, named = false, off = false, any = false;
		for (size_t i = 0; i < llen;) {
			while (i < llen && is_space(line[i]))
				i++;
			size_t j = i;
			while (j < llen && !is_space(line[j]))
				j++;
			if (j == i)
				break;
			const char *w = line + i;
			size_t wl = j - i;
			i = j;
			if (!named) {
				if (!device_name(w, wl, &disk)) {
					snprintf(err, errlen,
						 "line %d: '%.*s' is no device (vda, vdb, ...; "
						 "eth0, "
						 "eth1, ...)",
						 lineno, (int)wl, w);
					return -1;
				}
				memcpy(l.name, w, wl);
				named = true;
			} else if (wl == 3 && !strncmp(w, "off", 3)) {
				off = true;
			} else if (word(&l, disk, w, wl)) {
				any = true;
			} else {
				snprintf(err, errlen, "line %d: %s: bad limit '%.*s' (%s)", lineno,
					 l.name, (int)wl, w,
					 disk ? "bw=, iops=, bw-burst=, iops-burst="
					      : "rx-bw=, tx-bw=, rx-ops=, tx-ops=, ...-burst=");
				return -1;
			}
		}
		if (!named)
			continue; /* blank or a comment */
		if (off == any) {
			snprintf(err, errlen,
				 "line %d: %s: give limits or 'off' (not both, not neither)",
				 lineno, l.name);
			return -1;
		}
		for (int k = 0; k < n; k++)
			if (!strcmp(out[k].name, l.name)) {
				snprintf(err, errlen, "line %d: %s: named twice", lineno, l.name);
				return -1;
			}
		if (n == LIMITS_MAX_DEVICES) {
			snprintf(err, errlen, "line %d: more than %d devices", lineno,
				 LIMITS_MAX_DEVICES);
			return -1;
		}
		out[n++] = l;
	}
	return n;
}
