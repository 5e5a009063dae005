// SPDX-License-Identifier: Apache-2.0
/* The --net option: "tap=NAME", "fd=N" or "stream=PATH", tap names and MAC addresses. */
#include "netspec.h"

#include <stdio.h>
#include <string.h>

static int hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int net_parse_mac(const char *s, uint8_t mac[6])
{
	char sep = 0;
	unsigned any = 0;

	for (int i = 0; i < 6; i++) {
		int hi = hex(s[0]), lo = hi < 0 ? -1 : hex(s[1]);

		if (lo < 0)
			return -1;
		mac[i] = (uint8_t)(hi << 4 | lo);
		any |= mac[i];
		s += 2;
		if (i == 5)
			break;
		if (*s != ':' && *s != '-')
			return -1;
		if (sep && *s != sep)
			return -1; /* one separator throughout */
		sep = *s++;
	}
	/* Group bit: a multicast address cannot be a station address. */
	return *s || (mac[0] & 1) || !any ? -1 : 0;
}

void net_default_mac(unsigned index, uint8_t mac[6])
{
	static const uint8_t base[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

	memcpy(mac, base, 6);
	mac[5] = (uint8_t)(0x56 + index);
}

const char *net_tap_name_error(const char *name, size_t len)
{
	if (len == 0)
		return "empty tap name";
	if (len >= NET_NAME_MAX)
		return "tap name longer than 15 characters";
	/* A comma could not be written on the command line either. */
	for (size_t i = 0; i < len; i++)
		if (name[i] == '/' || name[i] == ',' || name[i] <= ' ' || name[i] > '~')
			return "bad character in tap name (printable ASCII, no '/', ',' or space)";
	return NULL;
}

int net_parse_spec(const char *arg, struct net_spec *out, char *err, size_t errlen)
{
	const char *comma = strchr(arg, ',');
	size_t len = comma ? (size_t)(comma - arg) : strlen(arg);
	const char *why;

	memset(out, 0, sizeof(*out));
	out->fd = -1;
	if (len >= 4 && !strncmp(arg, "tap=", 4)) {
		if ((why = net_tap_name_error(arg + 4, len - 4))) {
			snprintf(err, errlen, "%s", why);
			return -1;
		}
		memcpy(out->tap, arg + 4, len - 4);
	} else if (len > 3 && !strncmp(arg, "fd=", 3)) {
		long v = 0;

		for (size_t i = 3; i < len; i++) {
			if (arg[i] < '0' || arg[i] > '9' || v > 100000000) {
				snprintf(err, errlen, "fd= wants a decimal fd number");
				return -1;
			}
			v = v * 10 + (arg[i] - '0');
		}
		out->fd = (int)v;
	} else if (len >= 7 && !strncmp(arg, "stream=", 7)) {
		if (len == 7 || len - 7 >= NET_STREAM_MAX) {
			snprintf(err, errlen, "stream= wants a socket path of 1..%d bytes",
				 NET_STREAM_MAX - 1);
			return -1;
		}
		memcpy(out->stream, arg + 7, len - 7);
	} else {
		snprintf(err, errlen, "want tap=NAME, fd=N or stream=PATH first");
		return -1;
	}
	while (comma) {
		const char *opt = comma + 1;
		size_t olen;

		comma = strchr(opt, ',');
		olen = comma ? (size_t)(comma - opt) : strlen(opt);
		if (olen > 4 && !strncmp(opt, "mac=", 4)) {
			char m[32];

			snprintf(m, sizeof(m), "%.*s", (int)(olen - 4 < 31 ? olen - 4 : 31),
				 opt + 4);
			if (olen - 4 > 31 || net_parse_mac(m, out->mac) < 0) {
				snprintf(err, errlen,
					 "bad MAC '%.*s' (want a unicast address like "
					 "52:54:00:12:34:56)",
					 (int)(olen - 4), opt + 4);
				return -1;
			}
			out->has_mac = true;
		} else if (olen > 3 && (!strncmp(opt, "rx-", 3) || !strncmp(opt, "tx-", 3))) {
			struct rl_spec *l = opt[0] == 'r' ? &out->rx_limit : &out->tx_limit;
			int r = rl_parse_opt(opt + 3, olen - 3, l);
			if (r <= 0) {
				snprintf(err, errlen,
					 r < 0 ? "bad value in '%.*s' (want a positive number, "
						 "with K, "
						 "M or G for bytes)"
					       : "unknown option '%.*s' (want rx-bw=, rx-ops=, "
						 "rx-bw-burst=, rx-ops-burst=, or the same with "
						 "tx-)",
					 (int)olen, opt);
				return -1;
			}
		} else {
			snprintf(err, errlen,
				 "unknown option '%.*s' (want mac=MAC, rx-bw=, tx-bw=, rx-ops=, "
				 "tx-ops=, ...-burst=)",
				 (int)olen, opt);
			return -1;
		}
	}
	return 0;
}
