/* SPDX-License-Identifier: Apache-2.0 */
/* The --net option: "tap=NAME", "fd=N" or "stream=PATH", tap names and MAC addresses. */
#ifndef KVMRUN_NETSPEC_H
#define KVMRUN_NETSPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ratelimit.h"

#define NET_NAME_MAX 16	   /* IFNAMSIZ */
#define NET_STREAM_MAX 108 /* sizeof(sun_path) */

struct net_spec {
	char tap[NET_NAME_MAX];	     /* tap=NAME; "" otherwise */
	int fd;			     /* fd=N; -1 otherwise */
	char stream[NET_STREAM_MAX]; /* stream=PATH (a Unix socket, passt's); "" otherwise */
	bool has_mac;
	uint8_t mac[6];
	struct rl_spec rx_limit, tx_limit; /* rx-bw=, tx-ops=, ...; all 0: unlimited */
};

/*
 * Parse "tap=NAME[,mac=MAC]", "fd=N[,mac=MAC]" or "stream=PATH[,mac=MAC]"
 * (PATH: 1..107 bytes, no ','), each with rate limits
 * "rx-bw=RATE", "tx-bw=RATE", "rx-ops=N", "tx-ops=N" and their "-burst=" (see
 * ratelimit.h: rx is what the guest receives, tx what it sends). NAME: 1..15 characters, no
 * '/', ',' or white space. N: a decimal fd number. MAC: six two-digit hex
 * octets separated by ':' (or '-'), unicast and not all zero.
 * 0, or -1 with a one-line message in err.
 */
int net_parse_spec(const char *arg, struct net_spec *out, char *err, size_t errlen);

/* Why the first `len` bytes of `name` are no tap name, or NULL when they are one. */
const char *net_tap_name_error(const char *name, size_t len);

/* A NIC with nothing to run on: a snapshot's that was on an fd or a stream, not given again. */
static inline bool net_spec_unset(const struct net_spec *s)
{
	return !s->tap[0] && s->fd < 0 && !s->stream[0];
}

/* Parse a MAC as above. 0 or -1. */
int net_parse_mac(const char *s, uint8_t mac[6]);

/*
 * The MAC of interface `index` (0-based, in --net order) when none is given:
 * 52:54:00:12:34:56 + index in the last octet (the QEMU convention: locally
 * administered, unicast, stable across runs). Two VMs on one segment need
 * mac= on at least one of them. index must be < 170 (the last octet stays
 * below 0x100).
 */
void net_default_mac(unsigned index, uint8_t mac[6]);

#endif
