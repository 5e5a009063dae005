// SPDX-License-Identifier: Apache-2.0
/* Unit tests: virtio-net over a socketpair in place of the tap, good and hostile; a real tap as root. */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>

#include "../../virtio_net.h"
#define UNIT_PREFIX "unit/net/"
#include "../../virtio_io.h"
#include "harness.h"

/* Fake RAM layout for two queues (harness.h's MEM_SIZE is 1 MiB). */
#define RX_DESC 0x1000u
#define RX_AVAIL 0x2000u
#define RX_USED 0x3000u
#define TX_DESC 0x5000u
#define TX_AVAIL 0x6000u
#define TX_USED 0x7000u
#define TX_DATA 0x10000u /* up to 0x30000: frames to send */
#define RX_BUF 0x40000u	 /* RX buffers, 4 KiB apart by default */
#define HDR NET_HDR_LEN

#define EVENT_IDX (1ULL << VIRTIO_RING_F_EVENT_IDX)
#define NF(b) (1ULL << (b))
#define MRG NF(VIRTIO_NET_F_MRG_RXBUF)
#define BASE_FEATURES (NF(VIRTIO_F_VERSION_1) | NF(VIRTIO_NET_F_MAC) | NF(VIRTIO_NET_F_STATUS))

/* The driver's view of one queue. */
struct dq {
	uint64_t desc, avail, used;
	uint16_t num, avail_idx, used_seen;
};

struct ctx {
	struct net *n;
	int peer; /* the other end of the "tap" */
	struct dq q[2];
	uint8_t frame[NET_MAX_FRAME + 64];
	uint8_t got[NET_MAX_FRAME + 64];
};

static void q_desc(struct t *t, struct dq *q, uint16_t i, uint64_t addr, uint32_t len,
		   uint16_t flags, uint16_t next)
{
	desc_at(t, q->desc, i, addr, len, flags, next);
}

static void q_offer(struct t *t, struct dq *q, uint16_t head)
{
	uint16_t *ring = g(t, q->avail + 4);

	ring[q->avail_idx % q->num] = head;
	q->avail_idx++;
	__atomic_store_n((uint16_t *)g(t, q->avail + 2), q->avail_idx, __ATOMIC_RELEASE);
}

static uint16_t q_used_idx(struct t *t, struct dq *q)
{
	return __atomic_load_n((uint16_t *)g(t, q->used + 2), __ATOMIC_ACQUIRE);
}

static void q_used(struct t *t, struct dq *q, uint16_t i, uint32_t *id, uint32_t *len)
{
	uint32_t *e = g(t, q->used + 4 + 8u * (i % q->num));

	*id = e[0];
	*len = e[1];
}

static uint16_t q_avail_event(struct t *t, struct dq *q)
{
	return *(uint16_t *)g(t, q->used + 4 + 8u * q->num);
}

static void kick(struct t *t, unsigned q)
{
	uint64_t one = 1;

	if (write(t->vd->kick_fd[q], &one, sizeof(one)) != sizeof(one))
		abort();
}

/* Serve everything ready now (a bounded number of turns: a busy loop shows up as a failure). */
static int run(struct ctx *x)
{
	int turns = 0;

	while (net_run_once(x->n, 0) > 0)
		if (++turns > 1000)
			return -1;
	return turns;
}

/*
 * A device on a socketpair (datagrams of vnet-header frames, or a stream
 * with passt's framing); driver features = offered & want; queues of the
 * given sizes.
 */
static int setup_kind(struct t *t, struct ctx *x, enum net_kind kind, uint64_t want, uint16_t rxnum,
		      uint16_t txnum)
{
	int sv[2];
	char err[256];
	const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc };
	int type = kind == NET_STREAM ? SOCK_STREAM : SOCK_DGRAM;

	mem_fake(&t->mem);
	if (socketpair(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	/* Room for a few 64 KiB datagrams. */
	int sz = 1 << 20;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	if (kind == NET_STREAM) {
		/* Small, so that the backpressure test fills it (the kernel doubles it). */
		sz = 32 << 10;
		setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	}
	x->peer = sv[1];
	x->n = net_create(sv[0], kind, "test", mac, err, sizeof(err));
	if (!x->n)
		return -1;
	struct virtio_mmio_cfg cfg = { .vmfd = -1, .mem = &t->mem, .base = 0xd0000000, .gsi = 5 };
	if (virtio_start(net_virtio(x->n), &cfg) < 0)
		return -1;
	t->vd = net_virtio(x->n);

	x->q[0] = (struct dq){ RX_DESC, RX_AVAIL, RX_USED, rxnum, 0, 0 };
	x->q[1] = (struct dq){ TX_DESC, TX_AVAIL, TX_USED, txnum, 0, 0 };
	reg_w(t, 0x70, 0);
	reg_w(t, 0x70, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	reg_w(t, 0x14, 0);
	uint64_t dev = reg_r(t, 0x10);
	reg_w(t, 0x14, 1);
	dev |= (uint64_t)reg_r(t, 0x10) << 32;
	dev &= want;
	reg_w(t, 0x24, 0);
	reg_w(t, 0x20, (uint32_t)dev);
	reg_w(t, 0x24, 1);
	reg_w(t, 0x20, (uint32_t)(dev >> 32));
	reg_w(t, 0x70,
	      VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
	for (unsigned i = 0; i < 2; i++) {
		reg_w(t, 0x30, i);
		reg_w(t, 0x38, x->q[i].num);
		reg_w(t, 0x80, (uint32_t)x->q[i].desc);
		reg_w(t, 0x84, 0);
		reg_w(t, 0x90, (uint32_t)x->q[i].avail);
		reg_w(t, 0x94, 0);
		reg_w(t, 0xa0, (uint32_t)x->q[i].used);
		reg_w(t, 0xa4, 0);
		reg_w(t, 0x44, 1);
	}
	reg_w(t, 0x70,
	      VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK |
		      VIRTIO_CONFIG_S_DRIVER_OK);
	if (!(reg_r(t, 0x70) & VIRTIO_CONFIG_S_DRIVER_OK))
		return -1;
	return run(x) < 0 ? -1 : 0;
}

static int setup(struct t *t, struct ctx *x, uint64_t want, uint16_t rxnum, uint16_t txnum)
{
	return setup_kind(t, x, NET_DGRAM, want, rxnum, txnum);
}

static void teardown(struct t *t, struct ctx *x)
{
	net_close(x->n);
	x->n = NULL;
	if (x->peer > 0)
		close(x->peer);
	x->peer = -1;
	free(t->mem.host);
	t->mem.host = NULL;
}

/* A frame: vnet header (all zero but what is given) + `len` bytes of pattern `seed`. */
static size_t make_frame(struct ctx *x, size_t len, uint8_t seed)
{
	memset(x->frame, 0, HDR);
	for (size_t i = 0; i < len; i++)
		x->frame[HDR + i] = (uint8_t)(seed + i * 13 + i / 251);
	return HDR + len;
}

static int peer_send(struct ctx *x, size_t total)
{
	return send(x->peer, x->frame, total, 0) == (ssize_t)total ? 0 : -1;
}

/* One RX buffer: a one-descriptor writable chain at desc index i. */
static void rx_buf(struct t *t, struct ctx *x, uint16_t i, uint64_t gpa, uint32_t len)
{
	q_desc(t, &x->q[0], i, gpa, len, VRING_DESC_F_WRITE, 0);
	q_offer(t, &x->q[0], i);
}

/* RX buffers first..end-1: 4 KiB each, buffer i at RX_BUF + 4 KiB * i (desc index i). */
static void rx_bufs(struct t *t, struct ctx *x, uint16_t first, uint16_t end)
{
	for (uint16_t i = first; i < end; i++)
		rx_buf(t, x, i, RX_BUF + 0x1000u * i, 4096);
}

/* Read what the guest got in used element u (a buffer at gpa) into x->got + off. */
static uint32_t rx_take(struct t *t, struct ctx *x, uint16_t u, uint16_t *head)
{
	uint32_t id, len;

	q_used(t, &x->q[0], u, &id, &len);
	*head = (uint16_t)id;
	return len;
}

static int sock_readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

/* ---- tests ---- */

static void t_parse_spec(struct t *t)
{
	struct net_spec s;
	char err[256];

	CHECK(t, net_parse_spec("tap=tap0", &s, err, sizeof(err)) == 0, "tap: %s", err);
	CHECK(t, !strcmp(s.tap, "tap0") && s.fd == -1 && !s.has_mac, "tap fields");
	CHECK(t, net_parse_spec("fd=7,mac=02:00:00:00:00:01", &s, err, sizeof(err)) == 0, "fd: %s",
	      err);
	CHECK(t, s.fd == 7 && !s.tap[0] && s.has_mac && s.mac[0] == 2 && s.mac[5] == 1,
	      "fd fields");
	CHECK(t, net_parse_spec("tap=t,mac=52-54-00-AB-cd-EF", &s, err, sizeof(err)) == 0,
	      "dashes");
	CHECK(t, s.mac[3] == 0xab && s.mac[4] == 0xcd && s.mac[5] == 0xef, "hex case");
	CHECK(t, net_parse_spec("tap=123456789012345", &s, err, sizeof(err)) == 0, "15 chars");
	CHECK(t,
	      net_parse_spec("stream=/run/user/1000/passt.sock,mac=02:00:00:00:00:02", &s, err,
			     sizeof(err)) == 0,
	      "stream: %s", err);
	CHECK(t,
	      !strcmp(s.stream, "/run/user/1000/passt.sock") && !s.tap[0] && s.fd == -1 &&
		      s.has_mac && s.mac[5] == 2,
	      "stream fields");

	static const char *bad[] = {
		"",				  /* nothing */
		"tap=",				  /* empty name */
		"tap=1234567890123456",		  /* 16 chars */
		"tap=a/b",			  /* slash */
		"tap=a b",			  /* space */
		"fd=",				  /* no number */
		"fd=-1",			  /* negative */
		"fd=3x",			  /* junk */
		"fd=99999999999999",		  /* huge */
		"eth0",				  /* no kind */
		"tap=t,mac",			  /* no value */
		"tap=t,mac=",			  /* empty */
		"tap=t,mac=52:54:00:12:34",	  /* five octets */
		"tap=t,mac=52:54:00:12:34:56:78", /* seven */
		"tap=t,mac=52:54:00:12:34:5g",	  /* not hex */
		"tap=t,mac=52:54:00:12:34:5",	  /* short octet */
		"tap=t,mac=525400123456",	  /* no separators */
		"tap=t,mac=52:54-00:12:34:56",	  /* mixed separators */
		"tap=t,mac=01:00:5e:00:00:01",	  /* multicast */
		"tap=t,mac=00:00:00:00:00:00",	  /* zero */
		"tap=t,speed=10",		  /* unknown option */
		"tap=t,",			  /* empty option */
		"stream=",			  /* no path */
		"stream=,mac=52:54:00:12:34:56",  /* no path, an option */
		"stream=/tmp/0123456789012345678901234567890123456789012345678901234567890123456789"
		"012345678901234567890123456789012", /* a path of 108 bytes */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		CHECK(t, net_parse_spec(bad[i], &s, err, sizeof(err)) < 0, "'%s' accepted", bad[i]);
		CHECK(t, err[0] && !strchr(err, '\n'), "'%s': no one-line message", bad[i]);
	}
	CHECK(t,
	      net_parse_spec("tap=t,mac=01:00:5e:00:00:01", &s, err, sizeof(err)) < 0 &&
		      strstr(err, "bad MAC") && strstr(err, "01:00:5e:00:00:01"),
	      "MAC message: %s", err);
}

static void t_default_mac(struct t *t)
{
	uint8_t m[6], m2[6];

	net_default_mac(0, m);
	CHECK(t, !memcmp(m, "\x52\x54\x00\x12\x34\x56", 6), "index 0");
	net_default_mac(3, m);
	CHECK(t, m[5] == 0x59 && (m[0] & 2) && !(m[0] & 1), "index 3: local, unicast");
	for (unsigned i = 0; i < 8; i++) {
		net_default_mac(i, m);
		net_default_mac(i, m2);
		CHECK(t, !memcmp(m, m2, 6), "stable");
		if (i) {
			net_default_mac(i - 1, m2);
			CHECK(t, memcmp(m, m2, 6), "distinct");
		}
	}
}

static void t_offload_flags(struct t *t)
{
	const uint64_t C = NF(VIRTIO_NET_F_GUEST_CSUM), T4 = NF(VIRTIO_NET_F_GUEST_TSO4),
		       T6 = NF(VIRTIO_NET_F_GUEST_TSO6);

	CHECK(t, net_offload_flags(0) == 0, "none");
	CHECK(t, net_offload_flags(C) == TUN_F_CSUM, "csum");
	CHECK(t, net_offload_flags(C | T4) == (TUN_F_CSUM | TUN_F_TSO4), "tso4");
	CHECK(t, net_offload_flags(C | T6) == (TUN_F_CSUM | TUN_F_TSO6), "tso6");
	CHECK(t, net_offload_flags(C | T4 | T6) == (TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6), "both");
	CHECK(t, net_offload_flags(T4 | T6) == 0, "TSO without GUEST_CSUM");
	/* Host-side (TX) offloads and everything else do not touch the tap's RX offloads. */
	CHECK(t,
	      net_offload_flags(NF(VIRTIO_NET_F_CSUM) | NF(VIRTIO_NET_F_HOST_TSO4) | MRG |
				NF(VIRTIO_F_VERSION_1)) == 0,
	      "host offloads");
}

static void t_config(struct t *t, struct ctx *x)
{
	CHECK(t, setup(t, x, ~0ULL, 16, 16) == 0, "setup");
	CHECK(t, reg_r(t, 0x08) == 1, "device id %u", reg_r(t, 0x08));
	reg_w(t, 0x14, 0);
	uint32_t lo = reg_r(t, 0x10);
	CHECK(t,
	      (lo & NF(VIRTIO_NET_F_MAC)) && (lo & MRG) && (lo & NF(VIRTIO_NET_F_STATUS)) &&
		      (lo & NF(VIRTIO_NET_F_GUEST_TSO6)) && (lo & NF(VIRTIO_NET_F_HOST_TSO4)) &&
		      !(lo & NF(VIRTIO_NET_F_CTRL_VQ)) && !(lo & NF(VIRTIO_NET_F_GUEST_UFO)),
	      "features 0x%x", lo);
	uint8_t cfg[10];
	for (unsigned i = 0; i < 10; i++)
		virtio_mmio_ops.read(t->vd, 0x100 + i, &cfg[i], 1);
	CHECK(t, !memcmp(cfg, "\x52\x54\x00\xaa\xbb\xcc", 6), "mac in config");
	CHECK(t, cfg[6] == VIRTIO_NET_S_LINK_UP && cfg[7] == 0, "link up");
	uint8_t b = 0x5a;
	virtio_mmio_ops.read(t->vd, 0x100 + 10, &b, 1);
	CHECK(t, b == 0, "past the config space reads %#x, not 0", b);
	uint8_t m[6];
	net_get_mac(x->n, m);
	CHECK(t, !memcmp(m, cfg, 6), "net_get_mac");
}

/* Send a TX chain made of the segments and kick. */
struct seg {
	uint64_t gpa;
	uint32_t len;
	uint16_t flags;
};

static void tx_chain(struct t *t, struct ctx *x, uint16_t first, const struct seg *s, int n)
{
	for (int i = 0; i < n; i++)
		q_desc(t, &x->q[1], (uint16_t)(first + i), s[i].gpa, s[i].len,
		       s[i].flags | (i + 1 < n ? VRING_DESC_F_NEXT : 0), (uint16_t)(first + i + 1));
	q_offer(t, &x->q[1], first);
}

static void t_tx_good(struct t *t, struct ctx *x)
{
	CHECK(t, setup(t, x, ~0ULL, 16, 16) == 0, "setup");
	irqs(t);
	/* Frame A: header and 60 bytes in one descriptor. */
	size_t a = make_frame(x, 60, 1);
	memcpy(g(t, TX_DATA), x->frame, a);
	struct seg sa = { TX_DATA, (uint32_t)a, 0 };
	tx_chain(t, x, 0, &sa, 1);
	/* Frame B: 1500 bytes, the header split 5 + 7 and the data over two more descriptors. */
	size_t b = make_frame(x, 1500, 9);
	struct virtio_net_hdr_v1 *h = (void *)x->frame;
	h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h->csum_start = 34;
	h->csum_offset = 16;
	uint8_t keep[HDR + 1500];
	memcpy(keep, x->frame, b);
	memcpy(g(t, TX_DATA + 0x1000), x->frame, 5);
	memcpy(g(t, TX_DATA + 0x2000), x->frame + 5, 7);
	memcpy(g(t, TX_DATA + 0x3000), x->frame + 12, 1000);
	memcpy(g(t, TX_DATA + 0x5000), x->frame + 1012, 500);
	struct seg sb[] = { { TX_DATA + 0x1000, 5, 0 },
			    { TX_DATA + 0x2000, 7, 0 },
			    { TX_DATA + 0x3000, 1000, 0 },
			    { TX_DATA + 0x5000, 500, 0 } };
	tx_chain(t, x, 1, sb, 4);
	kick(t, NET_TXQ);
	CHECK(t, run(x) >= 1, "run");
	CHECK(t, q_used_idx(t, &x->q[1]) == 2, "used idx %u", q_used_idx(t, &x->q[1]));
	uint32_t id, len;
	q_used(t, &x->q[1], 0, &id, &len);
	CHECK(t, id == 0 && len == 0, "used 0: %u %u", id, len);
	q_used(t, &x->q[1], 1, &id, &len);
	CHECK(t, id == 1 && len == 0, "used 1: %u %u", id, len);
	CHECK(t, irqs(t) == 1, "one interrupt for the batch");
	ssize_t r = recv(x->peer, x->got, sizeof(x->got), 0);
	make_frame(x, 60, 1);
	CHECK(t, r == (ssize_t)a && !memcmp(x->got, x->frame, a), "frame A (%zd)", r);
	r = recv(x->peer, x->got, sizeof(x->got), 0);
	CHECK(t, r == (ssize_t)b && !memcmp(x->got, keep, b), "frame B (%zd)", r);
	CHECK(t, recv(x->peer, x->got, sizeof(x->got), 0) < 0, "nothing more");
	struct net_stats st;
	net_get_stats(x->n, &st);
	CHECK(t, st.tx_frames == 2 && st.tx_bytes == 1560 && st.tx_errors == 0, "stats %lu %lu %lu",
	      (unsigned long)st.tx_frames, (unsigned long)st.tx_bytes, (unsigned long)st.tx_errors);
}

static void t_tx_bad(struct t *t, struct ctx *x)
{
	/* No CSUM/HOST_TSO: headers asking for them are errors. */
	CHECK(t, setup(t, x, BASE_FEATURES | NF(VIRTIO_RING_F_INDIRECT_DESC), 16, 16) == 0,
	      "setup");
	size_t a = make_frame(x, 100, 3);
	memcpy(g(t, TX_DATA), x->frame, a);
	struct seg out_of_ram = { MEM_SIZE - 8, 64, 0 };
	tx_chain(t, x, 0, &out_of_ram, 1);
	/* A loop: 1 -> 2 -> 1. */
	q_desc(t, &x->q[1], 1, TX_DATA, 20, VRING_DESC_F_NEXT, 2);
	q_desc(t, &x->q[1], 2, TX_DATA, 20, VRING_DESC_F_NEXT, 1);
	q_offer(t, &x->q[1], 1);
	struct seg writable[] = { { TX_DATA, (uint32_t)a, VRING_DESC_F_WRITE } };
	tx_chain(t, x, 3, writable, 1);
	struct seg mixed[] = { { TX_DATA, 12, 0 }, { TX_DATA + 12, 100, VRING_DESC_F_WRITE } };
	tx_chain(t, x, 4, mixed, 2);
	struct seg short_hdr = { TX_DATA, 11, 0 };
	tx_chain(t, x, 6, &short_hdr, 1);
	/* 12 + 65551 bytes: one byte too long. */
	struct seg too_long[] = { { TX_DATA, 0x10000, 0 },
				  { TX_DATA + 0x10000, HDR + NET_MAX_FRAME + 1 - 0x10000, 0 } };
	tx_chain(t, x, 7, too_long, 2);
	/* GSO and partial checksum without HOST_TSO4 / CSUM negotiated. */
	struct virtio_net_hdr_v1 *h = g(t, TX_DATA + 0x30000 - 0x2000);
	memset(h, 0, HDR);
	h->gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	h->gso_size = 1400;
	struct seg gso = { TX_DATA + 0x30000 - 0x2000, 200, 0 };
	tx_chain(t, x, 9, &gso, 1);
	h = g(t, TX_DATA + 0x30000 - 0x1000);
	memset(h, 0, HDR);
	h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	struct seg csum = { TX_DATA + 0x30000 - 0x1000, 200, 0 };
	tx_chain(t, x, 10, &csum, 1);
	/* An indirect table outside RAM. */
	q_desc(t, &x->q[1], 11, MEM_SIZE - 16, 64, VRING_DESC_F_INDIRECT, 0);
	q_offer(t, &x->q[1], 11);
	/* And one good frame after all that. */
	struct seg good = { TX_DATA, (uint32_t)a, 0 };
	tx_chain(t, x, 12, &good, 1);
	kick(t, NET_TXQ);
	CHECK(t, run(x) >= 1, "run");
	CHECK(t, q_used_idx(t, &x->q[1]) == 10, "all 10 chains returned: %u",
	      q_used_idx(t, &x->q[1]));
	for (uint16_t i = 0; i < 10; i++) {
		uint32_t id, len;
		q_used(t, &x->q[1], i, &id, &len);
		CHECK(t, len == 0, "used %u len %u", i, len);
	}
	CHECK(t, !(reg_r(t, 0x70) & VIRTIO_CONFIG_S_NEEDS_RESET), "bad chains are not a reset");
	ssize_t r = recv(x->peer, x->got, sizeof(x->got), 0);
	CHECK(t, r == (ssize_t)a && !memcmp(x->got, x->frame, a), "only the good frame (%zd)", r);
	CHECK(t, recv(x->peer, x->got, sizeof(x->got), 0) < 0, "nothing more");
	struct net_stats st;
	net_get_stats(x->n, &st);
	CHECK(t, st.tx_frames == 1 && st.tx_errors == 9 && st.bad_chains == 3,
	      "stats frames %lu errors %lu bad %lu", (unsigned long)st.tx_frames,
	      (unsigned long)st.tx_errors, (unsigned long)st.bad_chains);
}

/* The 9000-byte frame over 4 KiB buffers, merged. */
static void t_rx_mergeable(struct t *t, struct ctx *x)
{
	CHECK(t, setup(t, x, ~0ULL, 16, 16) == 0, "setup");
	irqs(t);
	rx_bufs(t, x, 0, 4);
	memset(g(t, RX_BUF), 0xee, 4 * 4096);
	kick(t, NET_RXQ);
	CHECK(t, run(x) >= 1, "run");
	CHECK(t, net_rx_polling(x->n), "tap polled once buffers are there");
	size_t len = make_frame(x, 9000, 7);
	CHECK(t, peer_send(x, len) == 0, "send");
	CHECK(t, run(x) >= 1, "run");
	CHECK(t, q_used_idx(t, &x->q[0]) == 3, "3 buffers used: %u", q_used_idx(t, &x->q[0]));
	size_t off = 0;
	for (uint16_t u = 0; u < 3; u++) {
		uint16_t head;
		uint32_t l = rx_take(t, x, u, &head);
		CHECK(t, head == u && l == (u < 2 ? 4096u : 9012u - 8192u),
		      "used %u: head %u len %u", u, head, l);
		memcpy(x->got + off, g(t, RX_BUF + 0x1000u * head), l);
		off += l;
	}
	struct virtio_net_hdr_v1 *h = (void *)x->got;
	CHECK(t, le16toh(h->num_buffers) == 3, "num_buffers %u", h->num_buffers);
	h->num_buffers = 0;
	CHECK(t, off == len && !memcmp(x->got, x->frame, len), "frame intact");
	CHECK(t, *(uint8_t *)g(t, RX_BUF + 0x2000 + 820) == 0xee, "wrote past the frame");
	CHECK(t, irqs(t) == 1, "one interrupt");
	/* A small frame takes the fourth buffer; num_buffers 1. */
	len = make_frame(x, 60, 2);
	CHECK(t, peer_send(x, len) == 0, "send");
	CHECK(t, run(x) >= 1, "run");
	CHECK(t, q_used_idx(t, &x->q[0]) == 4, "4th");
	h = g(t, RX_BUF + 0x3000);
	CHECK(t, h->num_buffers == 1 && !memcmp(g(t, RX_BUF + 0x3000 + HDR), x->frame + HDR, 60),
	      "small frame");
	struct net_stats st;
	net_get_stats(x->n, &st);
	CHECK(t,
	      st.rx_frames == 2 && st.rx_bytes == 9060 && st.rx_errors == 0 && st.rx_oversize == 0,
	      "stats");
	CHECK(t, !net_rx_polling(x->n), "ring empty: tap no longer polled");
}

/* No buffers: the frame waits, nothing spins; buffers and a kick bring it in. */
static void t_rx_no_buffers(struct t *t, struct ctx *x)
{
	CHECK(t, setup(t, x, ~0ULL, 16, 16) == 0, "setup");
	CHECK(t, !net_rx_polling(x->n), "tap polled with no buffers");
	size_t len = make_frame(x, 1000, 4);
	CHECK(t, peer_send(x, len) == 0, "send");
	/* The fd has data but is out of the poll set: a 50 ms wait wakes for nothing. */
	CHECK(t, net_run_once(x->n, 50) == 0, "woke with no buffers");
	CHECK(t, sock_readable(x->peer) == 0 && sock_readable(net_virtio(x->n)->stop_fd) == 0,
	      "sanity");
	uint16_t ev = q_avail_event(t, &x->q[0]);
	CHECK(t, ev == 0, "avail_event %u: the driver must kick at its first buffer", ev);
	rx_buf(t, x, 0, RX_BUF, 2048);
	kick(t, NET_RXQ);
	CHECK(t, run(x) >= 1, "run");
	CHECK(t, q_used_idx(t, &x->q[0]) == 1, "arrived");
	CHECK(t, !memcmp(g(t, RX_BUF + HDR), x->frame + HDR, 1000), "data");

	/* Now a frame read but too big for what is there: it waits in the device. */
	rx_buf(t, x, 1, RX_BUF + 0x1000, 4096);
	kick(t, NET_RXQ);
	run(x);
	len = make_frame(x, 9000, 5);
	CHECK(t, peer_send(x, len) == 0, "send");
	CHECK(t, run(x) >= 1, "run");
	CHECK(t, q_used_idx(t, &x->q[0]) == 1, "placed without room");
	CHECK(t, !net_rx_polling(x->n), "still polling");
	CHECK(t, net_run_once(x->n, 50) == 0, "busy while waiting");
	CHECK(t, q_avail_event(t, &x->q[0]) == 2, "avail_event %u", q_avail_event(t, &x->q[0]));
	struct net_stats st;
	net_get_stats(x->n, &st);
	CHECK(t, st.rx_nobuf == 1, "rx_nobuf %lu", (unsigned long)st.rx_nobuf);
	rx_buf(t, x, 2, RX_BUF + 0x2000, 4096);
	rx_buf(t, x, 3, RX_BUF + 0x3000, 4096);
	kick(t, NET_RXQ);
	CHECK(t, run(x) >= 1, "run");
	CHECK(t, q_used_idx(t, &x->q[0]) == 4, "arrived after the kick: %u",
	      q_used_idx(t, &x->q[0]));
	struct virtio_net_hdr_v1 *h = g(t, RX_BUF + 0x1000);
	CHECK(t, h->num_buffers == 3, "num_buffers %u", h->num_buffers);
	CHECK(t,
	      !memcmp(g(t, RX_BUF + 0x1000 + HDR), x->frame + HDR, 4096 - HDR) &&
		      !memcmp(g(t, RX_BUF + 0x2000), x->frame + 4096, 4096) &&
		      !memcmp(g(t, RX_BUF + 0x3000), x->frame + 8192, 9012 - 8192),
	      "data");
}

static void t_rx_oversize(struct t *t, struct ctx *x)
{
	CHECK(t, setup(t, x, ~0ULL, 4, 16) == 0, "setup");
	rx_bufs(t, x, 0, 4);
	kick(t, NET_RXQ);
	run(x);
	/* One byte more than any frame may be. */
	size_t len = make_frame(x, NET_MAX_FRAME + 1, 1);
	CHECK(t, peer_send(x, len) == 0, "send big");
	/* Bigger than a whole ring of 4 KiB buffers (4 chains, the ring is full). */
	len = make_frame(x, 20000, 2);
	CHECK(t, peer_send(x, len) == 0, "send 20000");
	len = make_frame(x, 300, 3);
	CHECK(t, peer_send(x, len) == 0, "send small");
	CHECK(t, run(x) >= 1, "run");
	CHECK(t, q_used_idx(t, &x->q[0]) == 1, "only the small frame: %u", q_used_idx(t, &x->q[0]));
	uint16_t head;
	uint32_t l = rx_take(t, x, 0, &head);
	CHECK(t, head == 0 && l == 312 && !memcmp(g(t, RX_BUF + HDR), x->frame + HDR, 300),
	      "small frame: head %u len %u", head, l);
	struct net_stats st;
	net_get_stats(x->n, &st);
	CHECK(t, st.rx_oversize == 2 && st.rx_frames == 1, "oversize %lu frames %lu",
	      (unsigned long)st.rx_oversize, (unsigned long)st.rx_frames);
}

/* Without MRG_RXBUF one chain must hold the frame. */
static void t_rx_single(struct t *t, struct ctx *x)
{
	CHECK(t, setup(t, x, ~MRG, 16, 16) == 0, "setup");
	/* A two-descriptor chain of 1000 + 1048: a 3000-byte frame does not fit. */
	q_desc(t, &x->q[0], 0, RX_BUF, 1000, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	q_desc(t, &x->q[0], 1, RX_BUF + 0x1000, 1048, VRING_DESC_F_WRITE, 0);
	q_offer(t, &x->q[0], 0);
	kick(t, NET_RXQ);
	run(x);
	size_t len = make_frame(x, 3000, 1);
	CHECK(t, peer_send(x, len) == 0, "send");
	len = make_frame(x, 1500, 2);
	CHECK(t, peer_send(x, len) == 0, "send");
	CHECK(t, run(x) >= 1, "run");
	CHECK(t, q_used_idx(t, &x->q[0]) == 1, "used %u", q_used_idx(t, &x->q[0]));
	uint16_t head;
	uint32_t l = rx_take(t, x, 0, &head);
	CHECK(t, head == 0 && l == 1512, "len %u", l);
	memcpy(x->got, g(t, RX_BUF), 1000);
	memcpy(x->got + 1000, g(t, RX_BUF + 0x1000), 512);
	struct virtio_net_hdr_v1 *h = (void *)x->got;
	CHECK(t, h->num_buffers == 1, "num_buffers %u (1 without MRG_RXBUF)", h->num_buffers);
	h->num_buffers = 0;
	CHECK(t, !memcmp(x->got, x->frame, 1512), "data");
	struct net_stats st;
	net_get_stats(x->n, &st);
	CHECK(t, st.rx_oversize == 1, "oversize %lu", (unsigned long)st.rx_oversize);
}

/*
 * Enough room for any frame: frames are read straight into the guest's
 * buffers (no bounce), chains a frame did not need are offered again, a
 * header the guest cannot take gives every chain back; with less room, or
 * after a small frame, the bounce buffer takes over, until a large one.
 */
static void t_rx_direct(struct t *t, struct ctx *x)
{
	struct dq *q = &x->q[0];
	struct net_stats st;
	uint16_t head;
	uint32_t l;

	CHECK(t, setup(t, x, ~0ULL, 32, 16) == 0, "setup");
	rx_bufs(t, x, 0, 20); /* 80 KiB: more than a largest frame */
	memset(g(t, RX_BUF), 0xee, 20 * 4096);
	kick(t, NET_RXQ);
	run(x);
	size_t len = make_frame(x, 9000, 3);
	CHECK(t, peer_send(x, len) == 0, "send");
	CHECK(t, run(x) >= 1, "run");
	CHECK(t, q_used_idx(t, q) == 3, "3 buffers used: %u", q_used_idx(t, q));
	for (uint16_t u = 0; u < 3; u++) {
		l = rx_take(t, x, u, &head);
		CHECK(t, head == u && l == (u < 2 ? 4096u : 9012u - 8192u),
		      "used %u: head %u len %u", u, head, l);
	}
	struct virtio_net_hdr_v1 *h = g(t, RX_BUF);
	CHECK(t, le16toh(h->num_buffers) == 3, "num_buffers %u", h->num_buffers);
	h->num_buffers = 0;
	CHECK(t,
	      !memcmp(g(t, RX_BUF), x->frame, 8192) &&
		      !memcmp(g(t, RX_BUF + 0x2000), x->frame + 8192, 9012 - 8192),
	      "frame intact");
	CHECK(t,
	      *(uint8_t *)g(t, RX_BUF + 0x2000 + 820) == 0xee &&
		      *(uint8_t *)g(t, RX_BUF + 0x3000) == 0xee,
	      "wrote past the frame");
	net_get_stats(x->n, &st);
	CHECK(t, st.rx_frames == 1 && st.rx_bounced == 0, "frames %lu bounced %lu",
	      (unsigned long)st.rx_frames, (unsigned long)st.rx_bounced);

	/* A GSO kind the guest never negotiated (UDP): dropped, its chains offered again. */
	len = make_frame(x, 3000, 4);
	((struct virtio_net_hdr_v1 *)x->frame)->gso_type = VIRTIO_NET_HDR_GSO_UDP;
	CHECK(t, peer_send(x, len) == 0, "send");
	len = make_frame(x, 60, 5);
	CHECK(t, peer_send(x, len) == 0, "send");
	CHECK(t, run(x) >= 1, "run");
	CHECK(t, q_used_idx(t, q) == 4, "used %u", q_used_idx(t, q));
	l = rx_take(t, x, 3, &head);
	h = g(t, RX_BUF + 0x3000);
	CHECK(t,
	      head == 3 && l == 72 && h->num_buffers == 1 && h->gso_type == 0 &&
		      !memcmp(g(t, RX_BUF + 0x3000 + HDR), x->frame + HDR, 60),
	      "small frame in the next chain: head %u len %u", head, l);
	/* The refused frame was small, so the 60-byte one after it was bounced. */
	net_get_stats(x->n, &st);
	CHECK(t, st.rx_frames == 2 && st.rx_errors == 1 && st.rx_bounced == 1,
	      "frames %lu errors %lu bounced %lu", (unsigned long)st.rx_frames,
	      (unsigned long)st.rx_errors, (unsigned long)st.rx_bounced);

	/* After a small frame, bounced again (and 16 chains, 64 KiB, are too few anyway). */
	len = make_frame(x, 5000, 6);
	CHECK(t, peer_send(x, len) == 0, "send");
	CHECK(t, run(x) >= 1, "run");
	CHECK(t, q_used_idx(t, q) == 6, "used %u", q_used_idx(t, q));
	l = rx_take(t, x, 4, &head);
	CHECK(t, head == 4 && l == 4096, "bounced, first: head %u len %u", head, l);
	l = rx_take(t, x, 5, &head);
	CHECK(t, head == 5 && l == 5012 - 4096, "bounced, second: head %u len %u", head, l);
	h = g(t, RX_BUF + 0x4000);
	CHECK(t, h->num_buffers == 2 && !memcmp(g(t, RX_BUF + 0x4000 + HDR), x->frame + HDR, 4084),
	      "bounced frame");
	net_get_stats(x->n, &st);
	CHECK(t, st.rx_frames == 3 && st.rx_bounced == 2, "frames %lu bounced %lu",
	      (unsigned long)st.rx_frames, (unsigned long)st.rx_bounced);

	/* That one was large: with room again, the next goes straight in. */
	rx_bufs(t, x, 20, 30);
	kick(t, NET_RXQ);
	len = make_frame(x, 9000, 7);
	CHECK(t, peer_send(x, len) == 0, "send");
	CHECK(t, run(x) >= 1, "run");
	CHECK(t, q_used_idx(t, q) == 9, "used %u", q_used_idx(t, q));
	l = rx_take(t, x, 8, &head);
	CHECK(t,
	      head == 8 && l == 9012 - 8192 &&
		      !memcmp(g(t, RX_BUF + 0x8000), x->frame + 8192, 9012 - 8192),
	      "third part: head %u len %u", head, l);
	net_get_stats(x->n, &st);
	CHECK(t, st.rx_frames == 4 && st.rx_bounced == 2, "frames %lu bounced %lu",
	      (unsigned long)st.rx_frames, (unsigned long)st.rx_bounced);
}

/* A bad chain ahead of enough good ones: returned empty, counted once, the frame still goes straight in. */
static void t_rx_direct_malformed(struct t *t, struct ctx *x)
{
	struct dq *q = &x->q[0];
	struct net_stats st;
	uint16_t head;
	uint32_t l;

	CHECK(t, setup(t, x, ~0ULL, 32, 16) == 0, "setup");
	q_desc(t, q, 0, MEM_SIZE - 100, 4096, VRING_DESC_F_WRITE, 0); /* out of RAM */
	q_offer(t, q, 0);
	rx_bufs(t, x, 1, 19);
	kick(t, NET_RXQ);
	run(x);
	size_t len = make_frame(x, 5000, 9);
	CHECK(t, peer_send(x, len) == 0, "send");
	CHECK(t, run(x) >= 1, "run");
	CHECK(t, q_used_idx(t, q) == 3, "used %u", q_used_idx(t, q));
	l = rx_take(t, x, 0, &head);
	CHECK(t, head == 0 && l == 0, "bad chain first, empty: head %u len %u", head, l);
	l = rx_take(t, x, 1, &head);
	CHECK(t, head == 1 && l == 4096, "frame, first part: head %u len %u", head, l);
	l = rx_take(t, x, 2, &head);
	CHECK(t, head == 2 && l == 5012 - 4096, "frame, second part: head %u len %u", head, l);
	CHECK(t, !memcmp(g(t, RX_BUF + 0x1000 + HDR), x->frame + HDR, 4096 - HDR), "data");
	net_get_stats(x->n, &st);
	CHECK(t, st.rx_frames == 1 && st.rx_errors == 1 && st.rx_bounced == 0 && st.bad_chains == 1,
	      "frames %lu errors %lu bounced %lu bad_chains %lu", (unsigned long)st.rx_frames,
	      (unsigned long)st.rx_errors, (unsigned long)st.rx_bounced,
	      (unsigned long)st.bad_chains);
}

/* Without MRG_RXBUF: a chain that holds a largest frame is read into directly. */
static void t_rx_direct_single(struct t *t, struct ctx *x)
{
	struct net_stats st;
	uint16_t head;

	CHECK(t, setup(t, x, ~MRG, 16, 16) == 0, "setup");
	/* Header + 40000 + 30000 bytes: the "big packets" layout of a guest without MRG_RXBUF. */
	q_desc(t, &x->q[0], 0, RX_BUF, HDR, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	q_desc(t, &x->q[0], 1, RX_BUF + 0x1000, 40000, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
	q_desc(t, &x->q[0], 2, RX_BUF + 0x20000, 30000, VRING_DESC_F_WRITE, 0);
	q_offer(t, &x->q[0], 0);
	rx_buf(t, x, 3, RX_BUF + 0x30000, 2048); /* small: bounced */
	kick(t, NET_RXQ);
	run(x);
	size_t len = make_frame(x, 50000, 1);
	CHECK(t, peer_send(x, len) == 0, "send");
	CHECK(t, run(x) >= 1, "run");
	CHECK(t, q_used_idx(t, &x->q[0]) == 1, "used %u", q_used_idx(t, &x->q[0]));
	uint32_t l = rx_take(t, x, 0, &head);
	CHECK(t, head == 0 && l == 50012, "head %u len %u", head, l);
	struct virtio_net_hdr_v1 *h = g(t, RX_BUF);
	CHECK(t, h->num_buffers == 1, "num_buffers %u (1 without MRG_RXBUF)", h->num_buffers);
	CHECK(t,
	      !memcmp(g(t, RX_BUF + 0x1000), x->frame + HDR, 40000) &&
		      !memcmp(g(t, RX_BUF + 0x20000), x->frame + HDR + 40000, 10000),
	      "data");
	len = make_frame(x, 1500, 2);
	CHECK(t, peer_send(x, len) == 0, "send");
	CHECK(t, run(x) >= 1, "run");
	l = rx_take(t, x, 1, &head);
	CHECK(t,
	      q_used_idx(t, &x->q[0]) == 2 && head == 3 && l == 1512 &&
		      !memcmp(g(t, RX_BUF + 0x30000 + HDR), x->frame + HDR, 1500),
	      "small chain: head %u len %u", head, l);
	net_get_stats(x->n, &st);
	CHECK(t, st.rx_frames == 2 && st.rx_bounced == 1 && st.rx_oversize == 0,
	      "frames %lu bounced %lu oversize %lu", (unsigned long)st.rx_frames,
	      (unsigned long)st.rx_bounced, (unsigned long)st.rx_oversize);
}

static void t_rx_malformed(struct t *t, struct ctx *x)
{
	CHECK(t, setup(t, x, ~0ULL, 16, 16) == 0, "setup");
	struct dq *q = &x->q[0];
	q_desc(t, q, 0, MEM_SIZE - 100, 4096, VRING_DESC_F_WRITE, 0); /* out of RAM */
	q_offer(t, q, 0);
	q_desc(t, q, 1, RX_BUF, 4096, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2); /* loop */
	q_desc(t, q, 2, RX_BUF, 4096, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	q_offer(t, q, 1);
	q_desc(t, q, 3, RX_BUF, 4096, 0, 0); /* device-readable */
	q_offer(t, q, 3);
	q_desc(t, q, 4, RX_BUF, 11, VRING_DESC_F_WRITE, 0); /* shorter than the header */
	q_offer(t, q, 4);
	q_desc(t, q, 5, ~0ULL - 10, 4096, VRING_DESC_F_WRITE, 0); /* wraps */
	q_offer(t, q, 5);
	rx_buf(t, x, 6, RX_BUF + 0x1000, 4096); /* good */
	kick(t, NET_RXQ);
	run(x);
	size_t len = make_frame(x, 500, 6);
	CHECK(t, peer_send(x, len) == 0, "send");
	CHECK(t, run(x) >= 1, "run");
	CHECK(t, q_used_idx(t, q) == 6, "used %u", q_used_idx(t, q));
	for (uint16_t u = 0; u < 5; u++) {
		uint16_t head;
		uint32_t l = rx_take(t, x, u, &head);
		CHECK(t, l == 0, "bad chain %u len %u", head, l);
	}
	uint16_t head;
	uint32_t l = rx_take(t, x, 5, &head);
	CHECK(t, head == 6 && l == 512 && !memcmp(g(t, RX_BUF + 0x1000 + HDR), x->frame + HDR, 500),
	      "good one: head %u len %u", head, l);
	/* A bad chain in the middle of a merged frame: frame dropped, both chains returned empty. */
	rx_buf(t, x, 7, RX_BUF + 0x2000, 4096);
	q_desc(t, q, 8, RX_BUF + 0x3000, 4096, 0, 0);
	q_offer(t, q, 8);
	rx_buf(t, x, 9, RX_BUF + 0x4000, 4096);
	kick(t, NET_RXQ);
	run(x);
	len = make_frame(x, 6000, 7);
	CHECK(t, peer_send(x, len) == 0, "send");
	len = make_frame(x, 100, 8);
	CHECK(t, peer_send(x, len) == 0, "send");
	CHECK(t, run(x) >= 1, "run");
	CHECK(t, q_used_idx(t, q) == 9, "used %u", q_used_idx(t, q));
	l = rx_take(t, x, 6, &head);
	CHECK(t, l == 0, "first part returned empty");
	l = rx_take(t, x, 7, &head);
	CHECK(t, l == 0, "bad chain returned empty");
	l = rx_take(t, x, 8, &head);
	CHECK(t, head == 9 && l == 112, "next frame: head %u len %u", head, l);
	struct net_stats st;
	net_get_stats(x->n, &st);
	CHECK(t, st.rx_errors == 6 && st.rx_frames == 2, "rx_errors %lu frames %lu",
	      (unsigned long)st.rx_errors, (unsigned long)st.rx_frames);
	CHECK(t, !(reg_r(t, 0x70) & VIRTIO_CONFIG_S_NEEDS_RESET), "no reset for bad chains");

	/* A corrupt avail ring: NEEDS_RESET, no crash, the tap no longer polled. */
	q_desc(t, q, 10, RX_BUF, 4096, VRING_DESC_F_WRITE, 0);
	uint16_t *ring = g(t, q->avail + 4);
	ring[q->avail_idx % q->num] = 300; /* head out of range */
	q->avail_idx++;
	*(uint16_t *)g(t, q->avail + 2) = q->avail_idx;
	kick(t, NET_RXQ);
	len = make_frame(x, 100, 9);
	CHECK(t, peer_send(x, len) == 0, "send");
	run(x);
	CHECK(t, reg_r(t, 0x70) & VIRTIO_CONFIG_S_NEEDS_RESET, "needs reset");
	CHECK(t, !net_rx_polling(x->n) && net_run_once(x->n, 20) == 0, "quiet after NEEDS_RESET");
}

/* TUNSETOFFLOAD follows negotiation and reset; RX headers are held to what was negotiated. */
static void t_offloads(struct t *t, struct ctx *x)
{
	uint64_t want =
		BASE_FEATURES | MRG | NF(VIRTIO_NET_F_GUEST_CSUM) | NF(VIRTIO_NET_F_GUEST_TSO4);

	CHECK(t, setup(t, x, want, 16, 16) == 0, "setup");
	CHECK(t, net_offloads(x->n) == (TUN_F_CSUM | TUN_F_TSO4), "offloads 0x%x",
	      net_offloads(x->n));
	rx_bufs(t, x, 0, 4);
	kick(t, NET_RXQ);
	run(x);
	/* TSO6 was not negotiated: dropped. TSO4 with partial checksum passes unchanged. */
	size_t len = make_frame(x, 200, 1);
	struct virtio_net_hdr_v1 *h = (void *)x->frame;
	h->gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
	h->gso_size = 1000;
	CHECK(t, peer_send(x, len) == 0, "send");
	h->gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h->csum_start = 34;
	h->csum_offset = 16;
	CHECK(t, peer_send(x, len) == 0, "send");
	CHECK(t, run(x) >= 1, "run");
	CHECK(t, q_used_idx(t, &x->q[0]) == 1, "used %u", q_used_idx(t, &x->q[0]));
	struct virtio_net_hdr_v1 *gh = g(t, RX_BUF);
	CHECK(t,
	      gh->gso_type == VIRTIO_NET_HDR_GSO_TCPV4 && gh->gso_size == 1000 &&
		      gh->flags == VIRTIO_NET_HDR_F_NEEDS_CSUM && gh->csum_start == 34,
	      "header passed through");
	/* Reset: offloads back to 0 (the status hook wakes the thread). */
	reg_w(t, 0x70, 0);
	CHECK(t, run(x) >= 1, "run after reset");
	CHECK(t, net_offloads(x->n) == 0, "offloads after reset 0x%x", net_offloads(x->n));
	/* Renegotiate without GUEST_CSUM: NEEDS_CSUM frames dropped, DATA_VALID cleared. */
	x->q[0].avail_idx = x->q[1].avail_idx = 0;
	memset(g(t, RX_AVAIL), 0, 0x2000); /* RX avail and used */
	memset(g(t, TX_AVAIL), 0, 0x2000); /* TX avail and used */
	uint64_t want2 = BASE_FEATURES | MRG;
	reg_w(t, 0x70, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	reg_w(t, 0x24, 0);
	reg_w(t, 0x20, (uint32_t)want2);
	reg_w(t, 0x24, 1);
	reg_w(t, 0x20, (uint32_t)(want2 >> 32));
	reg_w(t, 0x70,
	      VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
	for (unsigned i = 0; i < 2; i++) {
		reg_w(t, 0x30, i);
		reg_w(t, 0x38, x->q[i].num);
		reg_w(t, 0x80, (uint32_t)x->q[i].desc);
		reg_w(t, 0x90, (uint32_t)x->q[i].avail);
		reg_w(t, 0xa0, (uint32_t)x->q[i].used);
		reg_w(t, 0x44, 1);
	}
	reg_w(t, 0x70,
	      VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK |
		      VIRTIO_CONFIG_S_DRIVER_OK);
	rx_buf(t, x, 0, RX_BUF, 4096);
	rx_buf(t, x, 1, RX_BUF + 0x1000, 4096);
	kick(t, NET_RXQ);
	run(x);
	CHECK(t, net_offloads(x->n) == 0, "offloads 0x%x", net_offloads(x->n));
	len = make_frame(x, 200, 2);
	h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	CHECK(t, peer_send(x, len) == 0, "send");
	h->flags = VIRTIO_NET_HDR_F_DATA_VALID;
	CHECK(t, peer_send(x, len) == 0, "send");
	CHECK(t, run(x) >= 1, "run");
	CHECK(t, q_used_idx(t, &x->q[0]) == 1, "used %u", q_used_idx(t, &x->q[0]));
	gh = g(t, RX_BUF);
	CHECK(t, gh->flags == 0 && gh->num_buffers == 1, "flags %u", gh->flags);
	struct net_stats st;
	net_get_stats(x->n, &st);
	CHECK(t, st.rx_errors == 2, "rx_errors %lu", (unsigned long)st.rx_errors);
}

/* ---- the real I/O thread, with a VM fd (no vCPU; kicks through the QueueNotify register) ---- */

static int started; /* thread_start calls */

static bool on_thread_start(void *ctx)
{
	__atomic_fetch_add((int *)ctx, 1, __ATOMIC_SEQ_CST);
	return true;
}

static bool wait_used(struct t *t, struct dq *q, uint16_t want)
{
	for (int i = 0; i < 2000; i++) {
		if (q_used_idx(t, q) == want)
			return true;
		usleep(1000);
	}
	return false;
}

static double thread_cpu(pthread_t th)
{
	clockid_t id;
	struct timespec ts;

	if (pthread_getcpuclockid(th, &id) || clock_gettime(id, &ts))
		return -1;
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void t_io_thread(struct t *t, struct ctx *x)
{
	int sv[2];
	char err[256];
	const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x01, 0x02, 0x03 };
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	int vmfd = kvm < 0 ? -1 : ioctl(kvm, KVM_CREATE_VM, 0);

	if (kvm >= 0)
		close(kvm);
	if (vmfd < 0 || ioctl(vmfd, KVM_CREATE_IRQCHIP, 0) < 0) {
		/* A FAIL, not a skip: test/run.sh runs this where /dev/kvm works. */
		snprintf(t->why, sizeof(t->why), "no VM with an irqchip (/dev/kvm: %s)",
			 kvm < 0 ? strerror(errno) : "KVM_CREATE_VM or KVM_CREATE_IRQCHIP failed");
		t->name = NULL; /* reported by the caller */
		if (vmfd >= 0)
			close(vmfd);
		return;
	}
	mem_fake(&t->mem);
	CHECK(t, socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0,
	      "socketpair");
	x->peer = sv[1];
	x->n = net_create(sv[0], NET_DGRAM, "thread", mac, err, sizeof(err));
	CHECK(t, x->n, "%s", err);
	started = 0;
	struct virtio_mmio_cfg cfg = { .vmfd = vmfd,
				       .mem = &t->mem,
				       .base = 0xd0000000,
				       .gsi = 5,
				       .thread_start = on_thread_start,
				       .thread_ctx = &started };
	int rc = virtio_start(net_virtio(x->n), &cfg);
	CHECK(t, rc == 0, "virtio_start with a VM fd: %s", strerror(-rc));
	t->vd = net_virtio(x->n);
	x->q[0] = (struct dq){ RX_DESC, RX_AVAIL, RX_USED, 16, 0, 0 };
	x->q[1] = (struct dq){ TX_DESC, TX_AVAIL, TX_USED, 16, 0, 0 };
	reg_w(t, 0x70, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	uint64_t want = BASE_FEATURES | MRG | EVENT_IDX;
	reg_w(t, 0x24, 0);
	reg_w(t, 0x20, (uint32_t)want);
	reg_w(t, 0x24, 1);
	reg_w(t, 0x20, (uint32_t)(want >> 32));
	reg_w(t, 0x70,
	      VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
	for (unsigned i = 0; i < 2; i++) {
		reg_w(t, 0x30, i);
		reg_w(t, 0x38, 16);
		reg_w(t, 0x80, (uint32_t)x->q[i].desc);
		reg_w(t, 0x90, (uint32_t)x->q[i].avail);
		reg_w(t, 0xa0, (uint32_t)x->q[i].used);
		reg_w(t, 0x44, 1);
	}
	reg_w(t, 0x70,
	      VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK |
		      VIRTIO_CONFIG_S_DRIVER_OK);
	for (int i = 0; i < 200 && !__atomic_load_n(&started, __ATOMIC_SEQ_CST); i++)
		usleep(10000); /* up to 2 s: a loaded host starts threads late */
	CHECK(t, __atomic_load_n(&started, __ATOMIC_SEQ_CST) == 1, "thread_start ran %d times",
	      started);

	/* A frame waits with no buffers: the thread must sleep, not spin. */
	size_t len = make_frame(x, 1000, 1);
	CHECK(t, peer_send(x, len) == 0, "send");
	pthread_t th = net_virtio(x->n)->thread;
	double c0 = thread_cpu(th);
	usleep(200000);
	double c1 = thread_cpu(th);
	CHECK(t, c0 >= 0 && c1 - c0 < 0.02, "I/O thread used %.3f s of CPU in 0.2 s idle", c1 - c0);

	/* 500 round trips: RX buffer offered and kicked, frame in; TX frame out. */
	uint16_t rx_used = 0, tx_used = 0;
	for (int i = 0; i < 500; i++) {
		uint16_t d = (uint16_t)(i % 16);
		q_desc(t, &x->q[0], d, RX_BUF + 0x1000u * d, 4096, VRING_DESC_F_WRITE, 0);
		q_offer(t, &x->q[0], d);
		reg_w(t, 0x50, NET_RXQ);
		CHECK(t, wait_used(t, &x->q[0], ++rx_used), "RX %d: used %u", i,
		      q_used_idx(t, &x->q[0]));
		uint8_t *f = g(t, TX_DATA + 0x1000u * d);
		memset(f, 0, HDR);
		memset(f + HDR, i & 0xff, 64);
		q_desc(t, &x->q[1], d, TX_DATA + 0x1000u * d, HDR + 64, 0, 0);
		q_offer(t, &x->q[1], d);
		reg_w(t, 0x50, NET_TXQ);
		CHECK(t, wait_used(t, &x->q[1], ++tx_used), "TX %d", i);
		ssize_t r = recv(x->peer, x->got, sizeof(x->got), 0);
		CHECK(t, r == HDR + 64 && x->got[HDR] == (i & 0xff), "TX %d arrived (%zd)", i, r);
		len = make_frame(x, 100 + (size_t)i, (uint8_t)i);
		CHECK(t, peer_send(x, len) == 0, "send");
		reg_w(t, 0x64, reg_r(t, 0x60));
	}
	struct net_stats st;
	net_get_stats(x->n, &st);
	CHECK(t, st.rx_frames == 500 && st.tx_frames == 500 && !st.rx_errors && !st.tx_errors,
	      "stats rx %lu tx %lu", (unsigned long)st.rx_frames, (unsigned long)st.tx_frames);
	net_close(x->n); /* joins the thread, unbinds the eventfds */
	x->n = NULL;
	close(vmfd);
}

/* ---- a real tap, in a private network namespace (root only) ---- */

static int if_up(const char *name)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int rc = -1;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (s >= 0 && ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		rc = ioctl(s, SIOCSIFFLAGS, &ifr);
	}
	if (s >= 0)
		close(s);
	return rc;
}

static void t_real_tap(struct t *t, struct ctx *x)
{
	struct net_spec s;
	char err[256];

	mem_fake(&t->mem);
	x->peer = -1;
	net_parse_spec("tap=kvmrun-t0", &s, err, sizeof(err));
	x->n = net_open(&s, 2, err, sizeof(err));
	CHECK(t, x->n, "open: %s", err);
	uint8_t m[6];
	net_get_mac(x->n, m);
	CHECK(t, m[5] == 0x58, "default MAC for index 2");
	/* The same tap again: busy. */
	struct net *n2 = net_open(&s, 0, err, sizeof(err));
	CHECK(t, !n2 && strstr(err, "kvmrun-t0") && strstr(err, "busy"), "busy: %s",
	      n2 ? "opened" : err);
	/* fd=N: a tap without IFF_VNET_HDR, a non-tap, a closed fd. */
	int raw = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI };
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "kvmrun-t1");
	CHECK(t, raw >= 0 && ioctl(raw, TUNSETIFF, &ifr) == 0, "plain tap");
	char spec[64];
	snprintf(spec, sizeof(spec), "fd=%d", raw);
	net_parse_spec(spec, &s, err, sizeof(err));
	CHECK(t, !net_open(&s, 0, err, sizeof(err)) && strstr(err, "IFF_VNET_HDR"), "no vnet: %s",
	      err);
	close(raw);
	int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
	snprintf(spec, sizeof(spec), "fd=%d", nul);
	net_parse_spec(spec, &s, err, sizeof(err));
	CHECK(t, !net_open(&s, 0, err, sizeof(err)) && strstr(err, "not an attached tap"),
	      "/dev/null: %s", err);
	CHECK(t, fcntl(nul, F_GETFD) >= 0, "a refused fd is left open");
	close(nul);
	net_parse_spec("fd=987", &s, err, sizeof(err));
	CHECK(t,
	      !net_open(&s, 0, err, sizeof(err)) && strstr(err, "fd=987") &&
		      strstr(err, "not an open"),
	      "closed fd: %s", err);
	/* A good fd=N: a vnet-header tap opened "by the launcher". */
	int good = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	struct ifreq ifr2 = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	snprintf(ifr2.ifr_name, sizeof(ifr2.ifr_name), "kvmrun-t2");
	CHECK(t, good >= 0 && ioctl(good, TUNSETIFF, &ifr2) == 0, "vnet tap");
	snprintf(spec, sizeof(spec), "fd=%d,mac=02:11:22:33:44:55", good);
	net_parse_spec(spec, &s, err, sizeof(err));
	n2 = net_open(&s, 0, err, sizeof(err));
	CHECK(t, n2 && strstr(net_name(n2), "kvmrun-t2"), "fd=N: %s", n2 ? net_name(n2) : err);
	net_close(n2);

	/* Traffic: the guest side through the device, the host side through AF_PACKET. */
	struct virtio_mmio_cfg cfg = { .vmfd = -1, .mem = &t->mem, .base = 0xd0000000, .gsi = 5 };
	CHECK(t, virtio_start(net_virtio(x->n), &cfg) == 0, "attach");
	t->vd = net_virtio(x->n);
	CHECK(t, if_up("kvmrun-t0") == 0, "ifup: %s", strerror(errno));
	int ps = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	CHECK(t, ps >= 0, "AF_PACKET: %s", strerror(errno));
	struct sockaddr_ll ll = { .sll_family = AF_PACKET,
				  .sll_protocol = htons(ETH_P_ALL),
				  .sll_ifindex = (int)if_nametoindex("kvmrun-t0") };
	CHECK(t, bind(ps, (struct sockaddr *)&ll, sizeof(ll)) == 0, "bind: %s", strerror(errno));
	x->peer = ps;

	x->q[0] = (struct dq){ RX_DESC, RX_AVAIL, RX_USED, 16, 0, 0 };
	x->q[1] = (struct dq){ TX_DESC, TX_AVAIL, TX_USED, 16, 0, 0 };
	uint64_t want = ~0ULL;
	reg_w(t, 0x70, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	reg_w(t, 0x14, 0);
	uint64_t dev = reg_r(t, 0x10);
	reg_w(t, 0x14, 1);
	dev = (dev | (uint64_t)reg_r(t, 0x10) << 32) & want;
	reg_w(t, 0x24, 0);
	reg_w(t, 0x20, (uint32_t)dev);
	reg_w(t, 0x24, 1);
	reg_w(t, 0x20, (uint32_t)(dev >> 32));
	reg_w(t, 0x70,
	      VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
	for (unsigned i = 0; i < 2; i++) {
		reg_w(t, 0x30, i);
		reg_w(t, 0x38, 16);
		reg_w(t, 0x80, (uint32_t)x->q[i].desc);
		reg_w(t, 0x90, (uint32_t)x->q[i].avail);
		reg_w(t, 0xa0, (uint32_t)x->q[i].used);
		reg_w(t, 0x44, 1);
	}
	reg_w(t, 0x70,
	      VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK |
		      VIRTIO_CONFIG_S_DRIVER_OK);
	rx_bufs(t, x, 0, 8);
	run(x);
	struct net_stats st;
	net_get_stats(x->n, &st);
	CHECK(t, net_offloads(x->n) == (TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) && st.rx_errors == 0,
	      "TUNSETOFFLOAD applied (0x%x, errors %lu)", net_offloads(x->n),
	      (unsigned long)st.rx_errors);

	/* Guest -> host: a broadcast frame with an experimental ethertype. */
	uint8_t *f = g(t, TX_DATA);
	memset(f, 0, HDR);
	memset(f + HDR, 0xff, 6);
	memcpy(f + HDR + 6, m, 6);
	f[HDR + 12] = 0x88;
	f[HDR + 13] = 0xb5;
	for (int i = 0; i < 100; i++)
		f[HDR + 14 + i] = (uint8_t)i;
	struct seg sg = { TX_DATA, HDR + 114, 0 };
	tx_chain(t, x, 0, &sg, 1);
	kick(t, NET_TXQ);
	run(x);
	net_get_stats(x->n, &st);
	CHECK(t, st.tx_frames == 1 && st.tx_errors == 0, "tx frames %lu errors %lu",
	      (unsigned long)st.tx_frames, (unsigned long)st.tx_errors);
	int seen = 0;
	for (int tries = 0; tries < 50 && !seen; tries++) {
		struct pollfd p = { .fd = ps, .events = POLLIN };
		if (poll(&p, 1, 20) != 1)
			continue;
		ssize_t r = recv(ps, x->got, sizeof(x->got), 0);
		seen = r == 114 && !memcmp(x->got, f + HDR, 114);
	}
	CHECK(t, seen, "host did not see the guest's frame");

	/* Host -> guest: the same kind of frame sent into the tap. */
	uint8_t out[114];
	memcpy(out, m, 6);
	memset(out + 6, 0x02, 6);
	out[12] = 0x88;
	out[13] = 0xb5;
	for (int i = 0; i < 100; i++)
		out[14 + i] = (uint8_t)(200 - i);
	CHECK(t, send(ps, out, sizeof(out), 0) == (ssize_t)sizeof(out), "send: %s",
	      strerror(errno));
	int found = 0;
	for (int tries = 0; tries < 50 && !found; tries++) {
		net_run_once(x->n, 20);
		uint16_t used = q_used_idx(t, &x->q[0]);
		for (uint16_t u = 0; u < used && !found; u++) {
			uint16_t head;
			uint32_t l = rx_take(t, x, u, &head);
			found = l == HDR + 114 &&
				!memcmp(g(t, RX_BUF + 0x1000u * head + HDR), out, 114);
		}
	}
	CHECK(t, found, "guest did not get the host's frame");
}

/*
 * A guest that refills its RX ring with malformed chains as fast as the
 * device returns them (another vCPU would): one turn of the I/O thread must
 * end anyway, so the vCPUs get the device lock, and never hold more
 * unpublished used elements than the ring has.
 */
#define FLOOD_SENTINEL 0xfffffff0u
struct flood {
	struct t *t;
	struct dq *q;
	atomic_bool stop;
	atomic_uint taken;
	unsigned most_unpublished; /* elements filled but not yet published, at most */
};

static void *flood_guest(void *arg)
{
	struct flood *fl = arg;
	struct t *t = fl->t;
	struct dq *q = fl->q;
	uint32_t *ue = g(t, q->used + 4);
	unsigned taken = 0;

	unsigned idle = 0;

	while (!atomic_load(&fl->stop)) {
		unsigned before = taken;

		while (__atomic_load_n(&ue[2 * (taken % q->num) + 1], __ATOMIC_ACQUIRE) !=
		       FLOOD_SENTINEL) {
			ue[2 * (taken % q->num) + 1] = FLOOD_SENTINEL;
			taken++;
		}
		atomic_store(&fl->taken, taken);
		/* Negative while our count of fills lags the index the device published. */
		int16_t unpublished = (int16_t)(taken - q_used_idx(t, q));
		if (unpublished > 0 && (unsigned)unpublished > fl->most_unpublished)
			fl->most_unpublished = unpublished;
		while ((uint16_t)(q->avail_idx - taken) < q->num - 1)
			q_offer(t, q, (uint16_t)(q->avail_idx % q->num));
		/* A device busy with the ring sees new chains without a kick: only an idle one needs it. */
		idle = taken == before ? idle + 1 : 0;
		if (idle == 1000)
			kick(t, NET_RXQ), idle = 0;
	}
	return NULL;
}

static void on_alarm(int sig)
{
	(void)sig;
	static const char m[] = "FAIL unit/net/rx_bad_flood: one RX turn never ended\n";
	if (write(1, m, sizeof(m) - 1) < 0) {
	}
	_exit(1);
}

static void t_rx_bad_flood(struct t *t, struct ctx *x)
{
	CHECK(t, setup(t, x, ~0ULL, 32, 16) == 0, "setup");
	struct dq *q = &x->q[0];
	uint32_t *ue = g(t, q->used + 4);

	for (uint16_t i = 0; i < q->num; i++) {
		q_desc(t, q, i, RX_BUF, 64, 0, 0); /* device-readable: unusable for RX */
		ue[2 * i + 1] = FLOOD_SENTINEL;
	}
	size_t len = make_frame(x, 100, 1);
	CHECK(t, peer_send(x, len) == 0, "send");
	struct flood fl = { .t = t, .q = q };
	pthread_t th;
	CHECK(t, pthread_create(&th, NULL, flood_guest, &fl) == 0, "thread");
	kick(t, NET_RXQ);
	signal(SIGALRM, on_alarm);
	alarm(10); /* before the bound, this turn went on for as long as the flood did */
	unsigned turns = 0, worst_jump = 0;
	uint16_t last = q_used_idx(t, q);
	for (; turns < 50; turns++) {
		net_run_once(x->n, 100);
		uint16_t now = q_used_idx(t, q);
		if ((uint16_t)(now - last) > worst_jump)
			worst_jump = (uint16_t)(now - last);
		last = now;
	}
	alarm(0);
	atomic_store(&fl.stop, true);
	pthread_join(th, NULL);
	CHECK(t, atomic_load(&fl.taken) > q->num, "the flood ran: %u chains taken",
	      atomic_load(&fl.taken));
	/* The used ring holds num elements: never more filled and not yet published. */
	CHECK(t, fl.most_unpublished <= q->num, "%u elements filled before a publish (ring of %u)",
	      fl.most_unpublished, q->num);
	/* Published at most a ring's worth at a time (several flushes may fall into one turn). */
	CHECK(t, worst_jump <= 2u * VIRTQ_MAX_SIZE + q->num, "used index jumped %u in one turn",
	      worst_jump);
	CHECK(t, !(reg_r(t, 0x70) & VIRTIO_CONFIG_S_NEEDS_RESET), "no reset for bad chains");
}

/* ---- the stream backend (passt's framing) ---- */

/* `len` bytes of pattern `seed` into x->frame + HDR (as make_frame), and onto the stream with its length. */
static int stream_put(struct ctx *x, size_t len, uint8_t seed, size_t split)
{
	uint8_t be[4] = { (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
			  (uint8_t)len };

	make_frame(x, len, seed);
	memcpy(x->frame + HDR - 4, be, 4); /* the 4 bytes before the frame: the length */
	size_t total = 4 + len, first = split && split < total ? split : total;
	if (send(x->peer, x->frame + HDR - 4, first, 0) != (ssize_t)first)
		return -1;
	return 0;
}

/* The rest of a frame stream_put sent only `split` bytes of. */
static int stream_put_rest(struct ctx *x, size_t len, size_t split)
{
	size_t rest = 4 + len - split;

	return send(x->peer, x->frame + HDR - 4 + split, rest, 0) == (ssize_t)rest ? 0 : -1;
}

/* Read exactly `len` bytes the device wrote to the stream (0), or -1 when they are not there. */
static int stream_get(struct ctx *x, uint8_t *out, size_t len)
{
	size_t have = 0;

	while (have < len) {
		ssize_t r = recv(x->peer, out + have, len - have, 0);

		if (r <= 0)
			return -1;
		have += (size_t)r;
	}
	return 0;
}

static uint8_t cfg_status(struct t *t)
{
	uint8_t b = 0xff;

	virtio_mmio_ops.read(t->vd, 0x100 + 6, &b, 1);
	return b;
}

static void t_stream_features(struct t *t, struct ctx *x)
{
	CHECK(t, setup_kind(t, x, NET_STREAM, ~0ULL, 16, 16) == 0, "setup");
	reg_w(t, 0x14, 0);
	uint32_t lo = reg_r(t, 0x10);
	/* No header on the wire: nothing to carry a partial checksum or a GSO frame in. */
	CHECK(t,
	      (lo & NF(VIRTIO_NET_F_MAC)) && (lo & MRG) && (lo & NF(VIRTIO_NET_F_STATUS)) &&
		      !(lo & NF(VIRTIO_NET_F_CSUM)) && !(lo & NF(VIRTIO_NET_F_GUEST_CSUM)) &&
		      !(lo & NF(VIRTIO_NET_F_HOST_TSO4)) && !(lo & NF(VIRTIO_NET_F_GUEST_TSO4)),
	      "features 0x%x", lo);
	CHECK(t, cfg_status(t) == VIRTIO_NET_S_LINK_UP, "link up");
	CHECK(t, net_offloads(x->n) == 0, "no offloads");
}

static void t_stream_tx(struct t *t, struct ctx *x)
{
	CHECK(t, setup_kind(t, x, NET_STREAM, ~0ULL, 16, 16) == 0, "setup");
	/* 60 bytes in one descriptor; 1500 over three, the header split 5 + 7. */
	size_t a = make_frame(x, 60, 1);
	memcpy(g(t, TX_DATA), x->frame, a);
	struct seg sa = { TX_DATA, (uint32_t)a, 0 };
	tx_chain(t, x, 0, &sa, 1);
	size_t b = make_frame(x, 1500, 9);
	memcpy(g(t, TX_DATA + 0x1000), x->frame, 5);
	memcpy(g(t, TX_DATA + 0x2000), x->frame + 5, 7);
	memcpy(g(t, TX_DATA + 0x3000), x->frame + 12, 1500);
	struct seg sb[] = { { TX_DATA + 0x1000, 5, 0 },
			    { TX_DATA + 0x2000, 7, 0 },
			    { TX_DATA + 0x3000, 1500, 0 } };
	tx_chain(t, x, 1, sb, 3);
	kick(t, NET_TXQ);
	CHECK(t, run(x) >= 1, "run");
	CHECK(t, q_used_idx(t, &x->q[1]) == 2, "used idx %u", q_used_idx(t, &x->q[1]));
	uint8_t got[4 + 1500];
	CHECK(t, stream_get(x, got, 4 + 60) == 0, "frame A on the stream");
	make_frame(x, 60, 1);
	CHECK(t, !memcmp(got, "\0\0\0\x3c", 4) && !memcmp(got + 4, x->frame + HDR, 60),
	      "frame A: length 60 then the bytes, no header");
	CHECK(t, stream_get(x, got, 4 + 1500) == 0, "frame B on the stream");
	make_frame(x, 1500, 9);
	CHECK(t, !memcmp(got, "\0\0\x05\xdc", 4) && !memcmp(got + 4, x->frame + HDR, 1500),
	      "frame B intact");
	CHECK(t, recv(x->peer, got, 1, 0) < 0, "nothing more");
	struct net_stats st;
	net_get_stats(x->n, &st);
	CHECK(t, st.tx_frames == 2 && st.tx_bytes == 1560 && st.tx_errors == 0, "stats");
	(void)b;
}

static void t_stream_rx(struct t *t, struct ctx *x)
{
	CHECK(t, setup_kind(t, x, NET_STREAM, ~0ULL, 16, 16) == 0, "setup");
	rx_bufs(t, x, 0, 8);
	kick(t, NET_RXQ);
	CHECK(t, run(x) >= 0, "run");
	/* Three frames in one write, then one cut after 2 bytes of its length, then mid-frame. */
	CHECK(t,
	      stream_put(x, 60, 1, 0) == 0 && stream_put(x, 1000, 2, 0) == 0 &&
		      stream_put(x, 42, 3, 0) == 0,
	      "send");
	CHECK(t, run(x) >= 1, "run");
	CHECK(t, q_used_idx(t, &x->q[0]) == 3, "3 frames in: %u", q_used_idx(t, &x->q[0]));
	CHECK(t, stream_put(x, 3000, 4, 2) == 0, "send 2 bytes");
	CHECK(t, run(x) >= 0 && q_used_idx(t, &x->q[0]) == 3, "half a length: nothing yet");
	CHECK(t, send(x->peer, x->frame + HDR - 2, 1000, 0) == 1000, "send more");
	CHECK(t, run(x) >= 0 && q_used_idx(t, &x->q[0]) == 3, "part of a frame: nothing yet");
	CHECK(t, stream_put_rest(x, 3000, 1002) == 0, "send the rest");
	CHECK(t, run(x) >= 1 && q_used_idx(t, &x->q[0]) == 4, "the 4th frame");
	static const size_t lens[] = { 60, 1000, 42, 3000 };
	for (uint16_t u = 0; u < 4; u++) {
		uint16_t head;
		uint32_t l = rx_take(t, x, u, &head);
		struct virtio_net_hdr_v1 *h = g(t, RX_BUF + 0x1000u * head);

		make_frame(x, lens[u], (uint8_t)(u + 1));
		CHECK(t, l == HDR + lens[u], "frame %u: used length %u", u, l);
		CHECK(t, h->flags == 0 && h->gso_type == 0 && le16toh(h->num_buffers) == 1,
		      "frame %u: a header that claims nothing", u);
		CHECK(t, !memcmp((uint8_t *)h + HDR, x->frame + HDR, lens[u]), "frame %u intact",
		      u);
	}
	struct net_stats st;
	net_get_stats(x->n, &st);
	CHECK(t, st.rx_frames == 4 && st.rx_bytes == 4102 && st.rx_errors == 0, "stats");
	CHECK(t, cfg_status(t) == VIRTIO_NET_S_LINK_UP, "link still up");
}

/* `n` TX chains of one `len`-byte frame each (frame i made with seed i), kicked. */
static void tx_frames(struct t *t, struct ctx *x, uint16_t n, size_t len)
{
	for (uint16_t i = 0; i < n; i++) {
		size_t l = make_frame(x, len, (uint8_t)i);
		uint64_t at = 0x80000u + (uint64_t)i * 0x4000u;

		memcpy(g(t, at), x->frame, l);
		struct seg sg = { at, (uint32_t)l, 0 };
		tx_chain(t, x, i, &sg, 1);
	}
	kick(t, NET_TXQ);
}

/* A socket that takes a frame only in part holds the TX queue, drops nothing, keeps order. */
static void t_stream_backpressure(struct t *t, struct ctx *x)
{
	enum { FRAMES = 24, LEN = 16000 };

	/* setup_kind gives the device's end of a stream a small send buffer (64 KiB). */
	CHECK(t, setup_kind(t, x, NET_STREAM, ~0ULL, 16, 32) == 0, "setup");
	tx_frames(t, x, FRAMES, LEN);
	CHECK(t, run(x) >= 1, "run");
	uint16_t first = q_used_idx(t, &x->q[1]);
	CHECK(t, first < FRAMES, "the socket filled: %u of %u chains taken", first, FRAMES);
	CHECK(t, run(x) >= 0 && q_used_idx(t, &x->q[1]) == first, "no more while it is full");
	/* Read the stream as passt would, serving the device in between. */
	uint8_t *got = malloc(4 + LEN);
	int ok = 1;
	for (unsigned i = 0; i < FRAMES && ok; i++) {
		size_t have = 0;
		for (int spins = 0; have < 4 + LEN && spins < 10000; spins++) {
			ssize_t r = recv(x->peer, got + have, 4 + LEN - have, 0);
			if (r > 0)
				have += (size_t)r;
			else
				net_run_once(x->n, 10);
		}
		make_frame(x, LEN, (uint8_t)i);
		ok = have == 4 + LEN && got[0] == 0 && got[1] == 0 && got[2] == (LEN >> 8) &&
		     got[3] == (LEN & 0xff) && !memcmp(got + 4, x->frame + HDR, LEN);
		CHECK(t, ok, "frame %u: %zu bytes, intact and in order", i, have);
	}
	free(got);
	run(x);
	CHECK(t, q_used_idx(t, &x->q[1]) == FRAMES, "every chain back: %u",
	      q_used_idx(t, &x->q[1]));
	struct net_stats st;
	net_get_stats(x->n, &st);
	CHECK(t, st.tx_frames == FRAMES && st.tx_dropped == 0 && st.tx_errors == 0,
	      "stats: %lu sent, %lu dropped", (unsigned long)st.tx_frames,
	      (unsigned long)st.tx_dropped);
}

/* After a bad length or the peer's close: link down, said once, the device still serves the guest. */
static void stream_link_lost(struct t *t, struct ctx *x, const char *what, uint64_t bad)
{
	uint32_t gen = reg_r(t, 0xfc);

	irqs(t);
	CHECK(t, run(x) >= 1, "%s: run", what);
	CHECK(t, cfg_status(t) == 0, "%s: link down in the config (%#x)", what, cfg_status(t));
	CHECK(t, reg_r(t, 0xfc) != gen, "%s: config generation moved", what);
	CHECK(t, (reg_r(t, 0x60) & 2) /* VIRTIO_MMIO_INT_CONFIG */ && irqs(t) >= 1,
	      "%s: config interrupt", what);
	CHECK(t, !net_rx_polling(x->n), "%s: the socket is no longer polled", what);
	struct net_stats st;
	net_get_stats(x->n, &st);
	CHECK(t, st.rx_bad_length == bad && st.link_downs == 1, "%s: stats bad %lu downs %lu", what,
	      (unsigned long)st.rx_bad_length, (unsigned long)st.link_downs);
	/* The guest sends on: dropped, counted, its chain returned. */
	size_t a = make_frame(x, 60, 1);
	memcpy(g(t, TX_DATA), x->frame, a);
	struct seg sa = { TX_DATA, (uint32_t)a, 0 };
	tx_chain(t, x, 0, &sa, 1);
	kick(t, NET_TXQ);
	CHECK(t, run(x) >= 1 && q_used_idx(t, &x->q[1]) == 1, "%s: TX chain returned", what);
	net_get_stats(x->n, &st);
	CHECK(t, st.tx_dropped == 1 && st.link_downs == 1, "%s: dropped, still one link-down",
	      what);
	CHECK(t, run(x) == 0, "%s: nothing spins", what);
}

static void t_stream_bad_length(struct t *t, struct ctx *x)
{
	static const uint32_t bad[] = { 0, 65537, 0xffffffffu };

	for (unsigned i = 0; i < 3; i++) {
		char what[32];
		uint8_t be[4] = { (uint8_t)(bad[i] >> 24), (uint8_t)(bad[i] >> 16),
				  (uint8_t)(bad[i] >> 8), (uint8_t)bad[i] };

		snprintf(what, sizeof(what), "length %u", bad[i]);
		if (i)
			teardown(t, x);
		CHECK(t, setup_kind(t, x, NET_STREAM, ~0ULL, 16, 16) == 0, "setup");
		rx_bufs(t, x, 0, 4);
		kick(t, NET_RXQ);
		run(x);
		/* A good frame first: it arrives; the bad length after it ends the link. */
		CHECK(t, stream_put(x, 100, 5, 0) == 0, "send");
		CHECK(t, send(x->peer, be, 4, 0) == 4, "send the bad length");
		stream_link_lost(t, x, what, 1);
		CHECK(t, q_used_idx(t, &x->q[0]) == 1, "%s: the frame before it arrived", what);
	}
	/* 65536, the largest length allowed, is a frame. */
	teardown(t, x);
	CHECK(t, setup_kind(t, x, NET_STREAM, ~0ULL, 64, 16) == 0, "setup");
	rx_bufs(t, x, 0, 20);
	kick(t, NET_RXQ);
	run(x);
	CHECK(t, stream_put(x, 65536, 6, 0) == 0, "send 64 KiB");
	CHECK(t, run(x) >= 1 && q_used_idx(t, &x->q[0]) == 17, "65536 bytes in 17 buffers: %u",
	      q_used_idx(t, &x->q[0]));
	CHECK(t, cfg_status(t) == VIRTIO_NET_S_LINK_UP, "link up");
}

static void t_stream_peer_gone(struct t *t, struct ctx *x)
{
	CHECK(t, setup_kind(t, x, NET_STREAM, ~0ULL, 16, 16) == 0, "setup");
	rx_bufs(t, x, 0, 4);
	kick(t, NET_RXQ);
	run(x);
	/* Half a frame, then the peer dies: the half is dropped with the connection. */
	CHECK(t, stream_put(x, 200, 7, 0) == 0 && stream_put(x, 300, 8, 50) == 0, "send");
	close(x->peer);
	x->peer = -1;
	stream_link_lost(t, x, "peer closed", 0);
	CHECK(t, q_used_idx(t, &x->q[0]) == 1, "the whole frame arrived, the half did not");
}

/*
 * The peer goes while a frame's tail waits for room in the socket: the tail
 * goes with it, and the guest's TX chains come back (dropped, counted), not
 * held behind a tail that can never be sent.
 */
static void t_stream_peer_gone_mid_frame(struct t *t, struct ctx *x)
{
	enum { FRAMES = 24, LEN = 16000 };

	signal(SIGPIPE, SIG_IGN); /* as kvmrun's main: a gone peer is EPIPE */
	CHECK(t, setup_kind(t, x, NET_STREAM, ~0ULL, 16, 32) == 0, "setup");
	tx_frames(t, x, FRAMES, LEN);
	run(x);
	uint16_t first = q_used_idx(t, &x->q[1]);
	CHECK(t, first < FRAMES, "the socket filled: %u of %u chains taken", first, FRAMES);
	close(x->peer);
	x->peer = -1;
	for (int i = 0; i < 4; i++) {
		run(x);
		kick(t, NET_TXQ);
	}
	run(x);
	struct net_stats st;
	net_get_stats(x->n, &st);
	CHECK(t, cfg_status(t) == 0 && st.link_downs == 1, "link down, once (%lu)",
	      (unsigned long)st.link_downs);
	CHECK(t, q_used_idx(t, &x->q[1]) == FRAMES && st.tx_dropped == (uint64_t)(FRAMES - first),
	      "every chain back: %u of %u, %lu dropped", q_used_idx(t, &x->q[1]), FRAMES,
	      (unsigned long)st.tx_dropped);
}

/* A driver that clears FEATURES_OK without a reset: the bit stays, features stay closed. */
static void t_status_bits_stay(struct t *t, struct ctx *x)
{
	CHECK(t, setup(t, x, ~0ULL, 16, 16) == 0, "setup");
	uint32_t st = reg_r(t, 0x70);
	CHECK(t, st & VIRTIO_CONFIG_S_DRIVER_OK, "running: %#x", st);
	reg_w(t, 0x70,
	      VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_DRIVER_OK);
	CHECK(t, reg_r(t, 0x70) == st, "bits kept: %#x, was %#x", reg_r(t, 0x70), st);
	reg_w(t, 0x24, 0); /* DriverFeaturesSel */
	reg_w(t, 0x20, 0); /* DriverFeatures: none */
	reg_w(t, 0x70, st);
	CHECK(t, reg_r(t, 0x70) == st, "still %#x", reg_r(t, 0x70));
	size_t l = make_frame(x, 60, 3);
	memcpy(g(t, TX_DATA), x->frame, l);
	struct seg sg = { TX_DATA, (uint32_t)l, 0 };
	tx_chain(t, x, 0, &sg, 1);
	kick(t, NET_TXQ);
	CHECK(t, run(x) >= 1 && q_used_idx(t, &x->q[1]) == 1, "the queue still serves");
}

/* A 4-byte register of a device the harness does not drive. */
static uint32_t reg_of(struct virtio_dev *vd, uint32_t off)
{
	uint32_t v = 0;
	virtio_mmio_ops.read(vd, off, (uint8_t *)&v, 4);
	return v;
}

/*
 * A snapshot of a stream NIC whose peer had gone (link down) restores onto a
 * NIC on a new peer: the MAC names the device, the link status is state. The
 * clone's guest sees its link up, told by a config-change interrupt; a NIC
 * with another MAC is still refused.
 */
static void t_stream_link_restored(struct t *t, struct ctx *x)
{
	static struct virtio_state st;
	char err[256];
	uint8_t mac[6] = { 0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc }; /* setup_kind's */
	int sv[2] = { -1, -1 };

	CHECK(t, setup_kind(t, x, NET_STREAM, ~0ULL, 16, 16) == 0, "setup");
	rx_bufs(t, x, 0, 4);
	kick(t, NET_RXQ);
	run(x);
	close(x->peer);
	x->peer = -1;
	run(x);
	CHECK(t, cfg_status(t) == 0, "link down before the snapshot (%#x)", cfg_status(t));
	virtio_save(t->vd, &st);
	for (int other = 0; other < 2; other++) {
		mac[5] = other ? 0xcd : 0xcc;
		CHECK(t,
		      socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0,
		      "socketpair");
		struct net *n2 = net_create(sv[0], NET_STREAM, "clone", mac, err, sizeof(err));
		CHECK(t, n2 != NULL, "clone: %s", err);
		if (!n2)
			return;
		struct virtio_dev *vd = net_virtio(n2);
		uint32_t gen = reg_of(vd, 0xfc);
		int rc = virtio_load(vd, &st, &t->mem);
		uint8_t status = 0;
		virtio_mmio_ops.read(vd, 0x100 + 6, &status, 1);
		if (other)
			CHECK(t, rc == -ERANGE, "another MAC: %d, want -ERANGE", rc);
		else
			CHECK(t,
			      rc == 0 && status == VIRTIO_NET_S_LINK_UP &&
				      reg_of(vd, 0xfc) != gen && (reg_of(vd, 0x60) & 2),
			      "restored: rc %d, status %#x, generation %u -> %u, InterruptStatus "
			      "%#x",
			      rc, status, gen, reg_of(vd, 0xfc), reg_of(vd, 0x60));
		net_close(n2);
		close(sv[1]);
	}
}

int main(void)
{
	int failed = 0;
	static struct ctx x;
#define RUN(fn)                               \
	do {                                  \
		struct t t = { .name = #fn }; \
		memset(&x, 0, sizeof(x));     \
		x.peer = -1;                  \
		fn(&t, &x);                   \
		teardown(&t, &x);             \
		failed += t_report(&t);       \
	} while (0)
#define RUN0(fn)                              \
	do {                                  \
		struct t t = { .name = #fn }; \
		fn(&t);                       \
		failed += t_report(&t);       \
	} while (0)
	RUN0(t_parse_spec);
	RUN0(t_default_mac);
	RUN0(t_offload_flags);
	RUN(t_config);
	RUN(t_tx_good);
	RUN(t_tx_bad);
	RUN(t_rx_mergeable);
	RUN(t_rx_no_buffers);
	RUN(t_rx_oversize);
	RUN(t_rx_single);
	RUN(t_rx_direct);
	RUN(t_rx_direct_malformed);
	RUN(t_rx_direct_single);
	RUN(t_rx_malformed);
	RUN(t_rx_bad_flood);
	RUN(t_offloads);
	RUN(t_stream_features);
	RUN(t_stream_tx);
	RUN(t_stream_rx);
	RUN(t_stream_backpressure);
	RUN(t_stream_bad_length);
	RUN(t_stream_peer_gone);
	RUN(t_stream_link_restored);
	RUN(t_stream_peer_gone_mid_frame);
	RUN(t_status_bits_stay);
	{
		struct t t = { .name = "t_io_thread" };
		memset(&x, 0, sizeof(x));
		x.peer = -1;
		t_io_thread(&t, &x);
		teardown(&t, &x);
		if (t.name)
			failed += t_report(&t);
		else
			failed++, printf("FAIL unit/net/io_thread: %s\n", t.why);
	}
	/* Last: it moves this process into a new network namespace. */
	if (geteuid() == 0 && access("/dev/net/tun", R_OK | W_OK) == 0 &&
	    unshare(CLONE_NEWNET) == 0)
		RUN(t_real_tap);
	else
		failed++,
			printf("FAIL unit/net/real_tap: needs root, /dev/net/tun and a new network "
			       "namespace\n");
	return failed ? 1 : 0;
}
