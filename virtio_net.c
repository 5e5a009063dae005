// SPDX-License-Identifier: Apache-2.0
/* virtio-net: RX straight into guest buffers (or through a bounce buffer), zero-copy TX. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "virtio_net.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "netstream.h"
#include "tap.h"
#include "util.h"
#include "virtio_io.h"

#define RX_BATCH 64 /* frames per RX turn, so TX and the vCPUs get the lock in between */
/*
 * Chains per RX turn, bad ones included: a guest that refills its ring with
 * malformed chains as fast as they are returned must not keep the I/O thread
 * (and the device lock its vCPUs' register writes need) in one turn.
 */
#define RX_TURN_CHAINS (2 * VIRTQ_MAX_SIZE)
/*
 * Frames up to this size (header included) are cheaper to copy once than to
 * gather a largest frame's worth of chains for (a guest receiving small
 * frames posts small buffers: 40 and more). Frames come in runs of one kind
 * (ACKs, bulk data), so the last frame's size picks the path for the next.
 */
#define RX_SMALL 4096
#define BUF_LEN (NET_HDR_LEN + NET_MAX_FRAME + 1) /* +1: a longer frame shows as oversize */
#define CONFIG_LEN offsetof(struct virtio_net_config, mtu) /* mac, status, max_virtqueue_pairs */

_Static_assert(sizeof(struct virtio_net_hdr_v1) == NET_HDR_LEN, "vnet header size");

#define F(bit) (1ULL << (bit))
#define NET_FEATURES                                                                    \
	(F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS) | F(VIRTIO_NET_F_MRG_RXBUF) |     \
	 F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_HOST_TSO6) | \
	 F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_GUEST_TSO4) | F(VIRTIO_NET_F_GUEST_TSO6))
/* A stream carries bare frames: no header to pass checksum or segmentation offloads in. */
#define STREAM_FEATURES (F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS) | F(VIRTIO_NET_F_MRG_RXBUF))

struct net {
	struct virtio_dev vd;
	int fd;
	enum net_kind kind;
	struct nstream *st; /* NET_STREAM: the framing state; NULL otherwise */
	int msg_fd;	    /* where link changes are told (stderr; -1: nowhere) */
	unsigned index;	    /* ethN, for those messages */
	char name[140];
	uint8_t mac[6];
	struct virtio_net_config config; /* little endian, as the guest reads it */
	struct net_stats stats;		 /* __atomic updates */
	/* I/O thread only (or the unit test driving net_run_once). */
	bool tap_poll;		  /* the fd is in the poll set */
	bool tap_dead;		  /* the fd failed for good (tap deleted, stream peer gone) */
	bool link_down;		  /* the guest was told: link down (stream peer gone) */
	unsigned offload;	  /* TUN_F_* in force */
	size_t pending;		  /* bytes of the frame waiting in buf (header included), 0: none */
	const uint8_t *body;	  /* stream: the frame after buf's header, in the stream's buffer */
	bool rx_paid;		  /* the RX limiter took that frame's tokens already */
	bool rx_small;		  /* the last frame read was small: bounce the next one too */
	struct virtq_chain chain; /* RX scratch */
	struct iovec rxv[VIRTQ_MAX_SIZE]; /* RX straight into guest buffers: their writable parts */
	/* TX scratch: our header copy (a stream: its length) + the frame */
	struct iovec txv[VIRTQ_MAX_SIZE + 1];
	_Alignas(8) uint8_t buf[BUF_LEN]; /* RX bounce buffer; starts with the header */
};

enum { PLACED, DROPPED, WAIT, PUBLISH };

unsigned net_offload_flags(uint64_t f)
{
	unsigned o = 0;

	/* tun ignores TSO without CSUM, and the spec makes GUEST_TSO depend on GUEST_CSUM. */
	if (!(f & F(VIRTIO_NET_F_GUEST_CSUM)))
		return 0;
	o |= TUN_F_CSUM;
	if (f & F(VIRTIO_NET_F_GUEST_TSO4))
		o |= TUN_F_TSO4;
	if (f & F(VIRTIO_NET_F_GUEST_TSO6))
		o |= TUN_F_TSO6;
	return o;
}

/* ---- setup ---- */

static uint32_t handle(struct virtio_dev *vd, unsigned q, struct virtq_chain *c);
static void status_changed(struct virtio_dev *vd, uint32_t old, uint32_t now);
static void *io_loop(struct virtio_dev *vd);
static bool blocked(struct virtio_dev *vd, unsigned q);

/* TX's cost to a limiter: the frame, without its virtio-net header. */
static uint64_t cost(struct virtio_dev *vd, unsigned q, const struct virtq_chain *c)
{
	(void)vd, (void)q;
	return c->rd_len > NET_HDR_LEN ? c->rd_len - NET_HDR_LEN : 0;
}

static const struct virtio_dev_ops net_ops = {
	.handle = handle,
	.status_changed = status_changed,
	.io_loop = io_loop,
	.cost = cost,
	.blocked = blocked,
};

struct net *net_create(int fd, enum net_kind kind, const char *name, const uint8_t mac[6],
		       char *err, size_t errlen)
{
	struct net *n = calloc(1, sizeof(*n));
	int rc;

	if (n && kind == NET_STREAM && !(n->st = malloc(sizeof(*n->st)))) {
		free(n);
		n = NULL;
	}
	if (!n) {
		snprintf(err, errlen, "%s: out of memory", name);
		close(fd);
		return NULL;
	}
	n->fd = fd;
	n->kind = kind;
	n->msg_fd = -1;
	if (n->st)
		nstream_init(n->st, fd);
	snprintf(n->name, sizeof(n->name), "%s", name);
	memcpy(n->mac, mac, 6);
	memcpy(n->config.mac, mac, 6);
	n->config.status = htole16(VIRTIO_NET_S_LINK_UP);
	n->config.max_virtqueue_pairs = htole16(1);
	rc = virtio_init(&n->vd, VIRTIO_ID_NET, kind == NET_STREAM ? STREAM_FEATURES : NET_FEATURES,
			 2, &n->config, CONFIG_LEN, &net_ops, n);
	if (rc < 0) {
		snprintf(err, errlen, "%s: virtio setup: %s", name, strerror(-rc));
		close(fd);
		free(n->st);
		free(n);
		return NULL;
	}
	/* The MAC names the NIC; the link status after it is state (a restore may bring it up). */
	n->vd.config_ident = offsetof(struct virtio_net_config, status);
	return n;
}

struct net *net_open(const struct net_spec *s, unsigned index, char *err, size_t errlen)
{
	char name[140];
	uint8_t mac[6];
	int fd;

	if (s->has_mac)
		memcpy(mac, s->mac, 6);
	else
		net_default_mac(index, mac);
	if (s->stream[0]) {
		snprintf(name, sizeof(name), "stream=%s", s->stream);
		fd = nstream_connect(s->stream, err, errlen);
	} else {
		fd = tap_open(s, name, sizeof(name), err, errlen);
	}
	if (fd < 0)
		return NULL;
	struct net *n = net_create(fd, s->stream[0] ? NET_STREAM : NET_TAP, name, mac, err, errlen);
	int rc = 0;

	if (n) {
		n->msg_fd = 2;
		n->index = index;
	}
	if (n && ((rc = virtio_set_limit(&n->vd, NET_RXQ, &s->rx_limit)) < 0 ||
		  (rc = virtio_set_limit(&n->vd, NET_TXQ, &s->tx_limit)) < 0)) {
		snprintf(err, errlen, "%s: rate limiter: %s", name, strerror(-rc));
		net_close(n);
		return NULL;
	}
	return n;
}

void net_close(struct net *n)
{
	if (!n)
		return;
	virtio_stop(&n->vd);
	close(n->fd);
	free(n->st);
	free(n);
}

void net_get_stats(const struct net *n, struct net_stats *out)
{
	const uint64_t *in = (const uint64_t *)&n->stats;
	uint64_t *o = (uint64_t *)out;
	struct virtio_stats vs;

	for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
		o[i] = __atomic_load_n(&in[i], __ATOMIC_RELAXED);
	virtio_get_stats(&n->vd, &vs);
	out->bad_chains = vs.bad_chains;
	out->ignored = vs.ignored;
}

void net_get_mac(const struct net *n, uint8_t mac[6])
{
	memcpy(mac, n->mac, 6);
}

const char *net_name(const struct net *n)
{
	return n->name;
}

struct virtio_dev *net_virtio(struct net *n)
{
	return &n->vd;
}

bool net_rx_polling(const struct net *n)
{
	return n->tap_poll && !n->tap_dead;
}

unsigned net_offloads(const struct net *n)
{
	return n->offload;
}

/* ---- link state (stream backend) ---- */

/*
 * The stream's peer is gone or broke the framing: stop polling the socket,
 * tell the guest (link down, config interrupt) and the user (one line).
 * kvmrun and the guest go on; frames the guest sends from now on are
 * dropped and counted. Only the I/O thread comes here, with vd->lock held
 * (virtio_config_changed: a snapshot must not see half of the change).
 */
static void link_lost(struct net *n)
{
	char m[320];
	int len;

	if (n->link_down)
		return;
	n->link_down = true;
	n->tap_dead = true;
	if (n->st->bad_lengths)
		stat_add(&n->stats.rx_bad_length, n->st->bad_lengths);
	stat_add(&n->stats.link_downs, 1);
	n->config.status = 0;
	virtio_config_changed(&n->vd, &n->config);
	/* TX chains held behind a frame's tail (blocked()) go now, dropped: no kick may come. */
	efd_signal(n->vd.kick_fd[NET_TXQ]);
	len = snprintf(m, sizeof(m), "kvmrun: --net %s: %s; eth%u link down\n", n->name, n->st->why,
		       n->index);
	if (n->msg_fd >= 0 && len > 0)
		(void)!write(n->msg_fd, m, (size_t)len < sizeof(m) ? (size_t)len : sizeof(m) - 1);
}

/* virtio_process asks before each TX chain: not while a frame's tail waits for the socket. */
static bool blocked(struct virtio_dev *vd, unsigned q)
{
	struct net *n = vd->opaque;

	return q == NET_TXQ && n->st && !n->link_down && nstream_busy(n->st);
}

/* ---- TX ---- */

/* May the driver send this header, given what it negotiated? (5.1.6.2) */
static bool tx_hdr_ok(const struct virtio_net_hdr_v1 *h, uint64_t f)
{
	if (h->flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM)
		return false;
	if ((h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && !(f & F(VIRTIO_NET_F_CSUM)))
		return false;
	switch (h->gso_type) {
	case VIRTIO_NET_HDR_GSO_NONE:
		return true;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		return f & F(VIRTIO_NET_F_HOST_TSO4);
	case VIRTIO_NET_HDR_GSO_TCPV6:
		return f & F(VIRTIO_NET_F_HOST_TSO6);
	default:
		return false; /* UDP, ECN: not offered */
	}
}

/* A checked TX frame (in txv[1..k]) onto the stream: the header stays behind. */
static uint32_t tx_stream(struct net *n, int k, size_t len)
{
	int r = n->link_down ? NSTREAM_DEAD : nstream_send(n->st, n->txv, k, len);

	if (r == 0) {
		stat_add(&n->stats.tx_frames, 1);
		stat_add(&n->stats.tx_bytes, len);
	} else if (r == 1) {
		stat_add(&n->stats.tx_errors, 1); /* longer than the stream's largest frame */
	} else {
		link_lost(n);
		stat_add(&n->stats.tx_dropped, 1);
	}
	return 0;
}

/*
 * One TX chain: device-readable only, header + frame. The header is copied
 * once and checked; the copy (not guest memory, which the guest may change
 * meanwhile) goes out in front of the frame, which is written straight from
 * guest memory. The used length is 0: nothing is written back.
 */
static uint32_t handle(struct virtio_dev *vd, unsigned q, struct virtq_chain *c)
{
	struct net *n = vd->opaque;
	struct virtio_net_hdr_v1 h;
	ssize_t r;
	int k;

	if (q != NET_TXQ || c->err || c->nw || c->rd_len < NET_HDR_LEN ||
	    c->rd_len > NET_HDR_LEN + NET_MAX_FRAME)
		goto bad;
	virtq_iov_read(c->iov, c->nr, 0, &h, NET_HDR_LEN);
	if (!tx_hdr_ok(&h, vd->drv_features))
		goto bad;
	k = virtq_iov_slice(c->iov, c->nr, NET_HDR_LEN, c->rd_len - NET_HDR_LEN, n->txv + 1,
			    VIRTQ_MAX_SIZE);
	if (k < 0)
		goto bad;
	if (n->st)
		return tx_stream(n, k, c->rd_len - NET_HDR_LEN);
	n->txv[0].iov_base = &h;
	n->txv[0].iov_len = NET_HDR_LEN;
	do
		r = writev(n->fd, n->txv, k + 1);
	while (r < 0 && errno == EINTR);
	if (r < 0 && (errno == EAGAIN || errno == ENOBUFS)) {
		stat_add(&n->stats.tx_dropped, 1);
	} else if (r != (ssize_t)c->rd_len) {
		stat_add(&n->stats.tx_errors,
			 1); /* tap down (EIO), header refused (EINVAL), short */
	} else {
		stat_add(&n->stats.tx_frames, 1);
		stat_add(&n->stats.tx_bytes, c->rd_len - NET_HDR_LEN);
	}
	return 0;
bad:
	stat_add(&n->stats.tx_errors, 1);
	return 0;
}

/* ---- RX ---- */

/*
 * Make the header in buf fit what the driver negotiated (5.1.6.4): without
 * GUEST_CSUM flags must be 0; GSO only of a negotiated kind. A frame that
 * cannot be made to fit (partial checksum or GSO the guest cannot take:
 * queued in the tap before TUNSETOFFLOAD changed) is refused.
 */
static bool rx_hdr_fix(struct virtio_net_hdr_v1 *h, uint64_t f)
{
	if (!(f & F(VIRTIO_NET_F_GUEST_CSUM))) {
		if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)
			return false;
		h->flags = 0;
	} else {
		h->flags &= VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID;
	}
	switch (h->gso_type) {
	case VIRTIO_NET_HDR_GSO_NONE:
		return true;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		return f & F(VIRTIO_NET_F_GUEST_TSO4);
	case VIRTIO_NET_HDR_GSO_TCPV6:
		return f & F(VIRTIO_NET_F_GUEST_TSO6);
	default:
		return false;
	}
}

/*
 * Bytes [off, off + take) of the pending frame into a chain's writable
 * iovecs: all from buf, or (a stream's frame) the header from buf and the
 * rest straight from the stream's buffer, with no copy in between.
 */
static void put_pending(struct net *n, const struct iovec *iov, unsigned nw, size_t off,
			size_t take)
{
	if (!n->body) {
		virtq_iov_write(iov, nw, 0, n->buf + off, take);
		return;
	}
	size_t done = 0;
	if (off < NET_HDR_LEN) {
		done = take < NET_HDR_LEN - off ? take : NET_HDR_LEN - off;
		virtq_iov_write(iov, nw, 0, n->buf + off, done);
	}
	if (done < take)
		virtq_iov_write(iov, nw, done, n->body + (off + done - NET_HDR_LEN), take - done);
}

/* An RX chain no frame may go into: failed the walk, has a device-readable part, or is shorter than the header. */
static bool rx_chain_bad(const struct virtq_chain *c)
{
	return c->err || c->nr || c->wr_len < NET_HDR_LEN;
}

/*
 * Place the pending frame into the RX queue. Chains are taken one by one and
 * the frame copied in as we go; their used elements are filled (after
 * *filled, not yet published) only once the whole frame is in, with
 * num_buffers patched into the first chain's header.
 *   PLACED:  done.
 *   DROPPED: counted; the frame is gone (chains it could not use are given
 *            back untouched, or returned with length 0 if malformed).
 *   WAIT:    not enough buffers yet; every chain taken was given back.
 *   PUBLISH: the used ring is full of filled elements (malformed chains
 *            returned, say): publish them, then try again.
 * A malformed chain (walk error, device-readable part, shorter than the
 * header) is returned with length 0: on its own when it comes first, or
 * with the frame's earlier chains (the frame is then dropped), since chains
 * already filled cannot be given back.
 */
static int rx_place(struct net *n, uint64_t f, unsigned *filled)
{
	struct virtio_dev *vd = &n->vd;
	struct virtq_chain *c = &n->chain;
	struct virtio_net_hdr_v1 *h = (void *)n->buf; /* aligned: see struct net */
	bool mrg = f & F(VIRTIO_NET_F_MRG_RXBUF);
	uint16_t heads[VIRTQ_MAX_SIZE];
	uint32_t lens[VIRTQ_MAX_SIZE];
	struct iovec nb[2]; /* where num_buffers lives in the first chain */
	int nbn = 0;
	unsigned k = 0;
	size_t off = 0, len = n->pending;

	if (!rx_hdr_fix(h, f)) {
		stat_add(&n->stats.rx_errors, 1);
		return DROPPED;
	}
	while (off < len) {
		/*
		 * The used ring holds num elements: filled ones are not published
		 * yet, so never more than that (a guest can offer the same heads
		 * again without waiting for them to come back).
		 */
		if (*filled + k >= vd->q[NET_RXQ].num) {
			virtio_unpop(vd, NET_RXQ, k);
			if (*filled == 0) { /* the frame alone needs more than the ring */
				stat_add(&n->stats.rx_oversize, 1);
				return DROPPED;
			}
			return PUBLISH;
		}
		int r = k < VIRTQ_MAX_SIZE ? virtio_pop(vd, NET_RXQ, c) : 0;

		if (r < 0)
			return WAIT; /* the queue stopped (reset, NEEDS_RESET): the caller sees it */
		if (r == 0) {
			virtio_unpop(vd, NET_RXQ, k);
			/* A ring full of buffers that cannot hold it never will. */
			if (k >= vd->q[NET_RXQ].num) {
				stat_add(&n->stats.rx_oversize, 1);
				return DROPPED;
			}
			return WAIT;
		}
		if (rx_chain_bad(c)) {
			/* Bounded by the ring-full check above: a ring's worth, then PUBLISH. */
			stat_add(&n->stats.rx_errors, 1);
			virtio_fill(vd, NET_RXQ, (*filled)++, c->head, 0);
			if (k == 0)
				continue;
			for (unsigned i = 0; i < k; i++)
				virtio_fill(vd, NET_RXQ, (*filled)++, heads[i], 0);
			return DROPPED;
		}
		if (!mrg && c->wr_len < len) {
			virtio_unpop(vd, NET_RXQ, 1);
			stat_add(&n->stats.rx_oversize, 1);
			return DROPPED;
		}
		size_t take = c->wr_len < len - off ? (size_t)c->wr_len : len - off;

		put_pending(n, c->iov + c->nr, c->nw, off, take);
		if (k == 0)
			nbn = virtq_iov_slice(c->iov + c->nr, c->nw,
					      offsetof(struct virtio_net_hdr_v1, num_buffers), 2,
					      nb, 2);
		heads[k] = c->head;
		lens[k] = (uint32_t)take;
		k++;
		off += take;
	}
	uint16_t num = htole16((uint16_t)k); /* 1 without MRG_RXBUF, as the spec wants */

	if (nbn > 0)
		virtq_iov_write(nb, (unsigned)nbn, 0, &num, 2);
	for (unsigned i = 0; i < k; i++)
		virtio_fill(vd, NET_RXQ, (*filled)++, heads[i], lens[i]);
	stat_add(&n->stats.rx_frames, 1);
	stat_add(&n->stats.rx_bytes, len - NET_HDR_LEN);
	return PLACED;
}

/* A read() error on the fd: 0 (go on) or -1 (nothing more to read now; tap_dead when it is gone). */
static int rx_error(struct net *n, int e)
{
	if (e == EINTR)
		return 0;
	if (e == EAGAIN)
		return -1;
	stat_add(&n->stats.rx_errors, 1);
	/* tap deleted or detached: it would report readable forever */
	if (e == EBADFD || e == EBADF || e == EIO || e == ENXIO) {
		n->tap_dead = true;
		return -1;
	}
	return 0; /* a per-frame error: that frame is gone, go on */
}

/* The stream's next frame into buf, behind a header that claims nothing: as rx_read. */
static int rx_stream(struct net *n)
{
	const uint8_t *frame;
	int r = nstream_recv(n->st, &frame);

	if (r == NSTREAM_DEAD)
		link_lost(n);
	if (r < 0)
		return -1;
	memset(n->buf, 0, NET_HDR_LEN);
	n->body = frame; /* valid until the next nstream_recv: after this frame is placed */
	n->rx_small = r <= RX_SMALL;
	n->pending = NET_HDR_LEN + (size_t)r;
	return 1;
}

/* Read one frame into buf. 1: a frame is pending; 0: try again; -1: nothing more to read now. */
static int rx_read(struct net *n)
{
	if (n->st)
		return rx_stream(n);
	ssize_t r = read(n->fd, n->buf, sizeof(n->buf));

	if (r < 0)
		return rx_error(n, errno);
	if (r < NET_HDR_LEN) {
		stat_add(&n->stats.rx_errors, 1);
		return 0;
	}
	if ((size_t)r > NET_HDR_LEN + NET_MAX_FRAME) {
		stat_add(&n->stats.rx_oversize, 1);
		return 0;
	}
	stat_add(&n->stats.rx_bounced, 1);
	n->rx_small = r <= RX_SMALL;
	n->pending = (size_t)r;
	return 1;
}

/*
 * Take chains until they can hold the largest frame, their writable parts
 * gathered in rxv (one chain without MRG_RXBUF). Returns the chain count,
 * or 0 when that much room is not there: every chain taken is then given
 * back. A malformed chain (rx_chain_bad) met first is returned
 * with length 0 (after *filled) and skipped; met later, it ends the
 * gathering and is given back, to come first next time.
 */
static unsigned rx_gather(struct net *n, bool mrg, uint16_t *heads, uint32_t *caps, int *niov,
			  unsigned *filled)
{
	struct virtio_dev *vd = &n->vd;
	struct virtq_chain *c = &n->chain;
	uint64_t room = 0;
	unsigned k = 0, skipped = 0;

	*niov = 0;
	while (room < BUF_LEN - 1 && (k == 0 || mrg)) {
		/* Unpublished elements never outnumber the used ring (see rx_place). */
		if (*filled + k >= vd->q[NET_RXQ].num)
			break;
		int r = virtio_pop(vd, NET_RXQ, c);

		if (r <= 0)
			break;
		if (rx_chain_bad(c)) {
			/* A guest refilling the ring with bad chains as fast as we skip them: bounded. */
			if (k > 0 || ++skipped > VIRTQ_MAX_SIZE) {
				virtio_unpop(vd, NET_RXQ, 1);
				break;
			}
			stat_add(&n->stats.rx_errors, 1);
			virtio_fill(vd, NET_RXQ, (*filled)++, c->head, 0);
			continue;
		}
		if (*niov + c->nw > VIRTQ_MAX_SIZE) {
			virtio_unpop(vd, NET_RXQ, 1);
			break;
		}
		memcpy(n->rxv + *niov, c->iov, c->nw * sizeof(c->iov[0]));
		*niov += c->nw;
		heads[k] = c->head;
		caps[k] = (uint32_t)(c->wr_len < BUF_LEN ? c->wr_len : BUF_LEN);
		room += c->wr_len;
		k++;
	}
	if (room >= BUF_LEN - 1)
		return k;
	virtio_unpop(vd, NET_RXQ, k);
	return 0;
}

/*
 * The fast path for large frames: read the next frame straight into the
 * guest's buffers (no bounce copy), when the available chains can hold any
 * frame, so the tap never truncates one. The header is then read back,
 * checked and fixed up like a bounced one; chains the frame did not need are
 * given back.
 *   1: a frame was placed or dropped; 0: try again; -1: nothing to read;
 *   2: not enough room for the fast path (nothing read: use the bounce buffer).
 */
static int rx_direct(struct net *n, uint64_t f, unsigned *filled)
{
	struct virtio_dev *vd = &n->vd;
	bool mrg = f & F(VIRTIO_NET_F_MRG_RXBUF);
	uint16_t heads[VIRTQ_MAX_SIZE];
	uint32_t caps[VIRTQ_MAX_SIZE];
	struct virtio_net_hdr_v1 h;
	int niov;
	unsigned k = rx_gather(n, mrg, heads, caps, &niov, filled);

	if (k == 0)
		return 2;
	ssize_t r = readv(n->fd, n->rxv, niov);

	n->rx_small = r >= 0 && r <= RX_SMALL;

	if (r < 0 || r < NET_HDR_LEN || r > NET_HDR_LEN + NET_MAX_FRAME) {
		virtio_unpop(vd, NET_RXQ, k);
		if (r < 0)
			return rx_error(n, errno);
		stat_add(r < NET_HDR_LEN ? &n->stats.rx_errors : &n->stats.rx_oversize, 1);
		return 1;
	}
	virtq_iov_read(n->rxv, (unsigned)niov, 0, &h, NET_HDR_LEN);
	if (!rx_hdr_fix(&h, f)) {
		virtio_unpop(vd, NET_RXQ, k);
		stat_add(&n->stats.rx_errors, 1);
		return 1;
	}
	unsigned used = 0;
	size_t left = (size_t)r;

	for (; left > 0; used++) {
		uint32_t len = left < caps[used] ? (uint32_t)left : caps[used];

		virtio_fill(vd, NET_RXQ, (*filled)++, heads[used], len);
		left -= len;
	}
	virtio_unpop(vd, NET_RXQ, k - used);
	h.num_buffers = htole16((uint16_t)used); /* 1 without MRG_RXBUF, as the spec wants */
	virtq_iov_write(n->rxv, (unsigned)niov, 0, &h, NET_HDR_LEN);
	stat_add(&n->stats.rx_frames, 1);
	stat_add(&n->stats.rx_bytes, (uint64_t)r - NET_HDR_LEN);
	return 1;
}

/*
 * Move frames from the fd into the RX queue until the fd is empty, the guest
 * is out of buffers, or RX_BATCH frames went in; publish them with one
 * used->idx store. Leaves tap_poll saying whether to poll the fd: not while
 * the guest has no room (a pending frame waits in buf, the rest in the
 * tap's queue) or the device is not running; the RX kick brings us back.
 */
static void rx_run(struct net *n)
{
	struct virtio_dev *vd = &n->vd;
	unsigned filled = 0, frames = 0, turn = 0; /* turn: chains published this turn */

	pthread_mutex_lock(&vd->lock);
	uint64_t f = vd->drv_features;

	n->tap_poll = false;
	for (;;) {
		if (turn + filled >= RX_TURN_CHAINS) {
			/* Let the vCPUs have the lock; our own kick brings us back at once. */
			efd_signal(vd->kick_fd[NET_RXQ]);
			break;
		}
		int avail = virtio_pending(vd, NET_RXQ);

		if (avail < 0)
			break; /* not running: frames wait; DRIVER_OK kicks us */
		if (avail == 0) {
			/* Publish first: the driver refills from what we give back. */
			virtio_flush(vd, NET_RXQ, filled);
			turn += filled;
			filled = 0;
			if (virtio_arm(vd, NET_RXQ, 0))
				continue;
			if (n->pending)
				stat_add(&n->stats.rx_nobuf, 1);
			break;
		}
		if (!n->pending) {
			if (n->tap_dead)
				break;
			if (frames == RX_BATCH) {
				n->tap_poll = true; /* more next turn */
				break;
			}
			/* A limited RX reads the frame first: its size is what the limiter charges. */
			/* A stream's frames are cut out of its byte flow: always through buf. */
			int r = n->rx_small || vd->limit[NET_RXQ] || n->st
					? 2
					: rx_direct(n, f, &filled);

			if (r == 2)
				r = rx_read(n); /* small, or not enough room: bounce it */
			else if (r == 1) {
				frames++;
				continue;
			}
			if (r < 0) {
				n->tap_poll = !n->tap_dead;
				break;
			}
			if (r == 0)
				continue;
			frames++;
		}
		if (!n->rx_paid &&
		    !virtio_limit_admit_bytes(
			    vd, NET_RXQ, n->pending > NET_HDR_LEN ? n->pending - NET_HDR_LEN : 0))
			break; /* the frame waits in buf, the rest in the tap: the timer brings us back */
		n->rx_paid = true;
		int res = rx_place(n, f, &filled);

		if (res == PLACED || res == DROPPED) {
			n->pending = 0;
			n->rx_paid = false;
			continue;
		}
		virtio_flush(vd, NET_RXQ, filled);
		turn += filled;
		filled = 0;
		if (res == PUBLISH)
			continue; /* the frame is still pending; the turn's bound ends this */
		int have = virtio_pending(vd, NET_RXQ);

		if (have >= 0 && virtio_arm(vd, NET_RXQ, (unsigned)have))
			continue;
		if (have >= 0)
			stat_add(&n->stats.rx_nobuf, 1);
		break;
	}
	virtio_flush(vd, NET_RXQ, filled);
	pthread_mutex_unlock(&vd->lock);
}

/* ---- the I/O thread ---- */

/* vCPU thread, lock held: wake the I/O thread to sync offloads (an eventfd write never blocks). */
static void status_changed(struct virtio_dev *vd, uint32_t old, uint32_t now)
{
	(void)old;
	(void)now;
	efd_signal(vd->kick_fd[NET_RXQ]);
}

/* Bring TUNSETOFFLOAD in step with the negotiated features: 0 until FEATURES_OK and after reset. */
static void sync_offloads(struct net *n)
{
	pthread_mutex_lock(&n->vd.lock);
	uint32_t s = virtio_status(&n->vd);
	unsigned want =
		(s & VIRTIO_CONFIG_S_FEATURES_OK) ? net_offload_flags(n->vd.drv_features) : 0;
	pthread_mutex_unlock(&n->vd.lock);

	if (want == n->offload)
		return;
	if (n->kind == NET_TAP && ioctl(n->fd, TUNSETOFFLOAD, (unsigned long)want) < 0)
		stat_add(&n->stats.rx_errors, 1); /* the RX header check still protects the guest */
	n->offload = want;
}

int net_run_once(struct net *n, int timeout_ms)
{
	struct virtio_dev *vd = &n->vd;
	struct pollfd p[6] = {
		{ .fd = vd->kick_fd[NET_RXQ], .events = POLLIN },
		{ .fd = vd->kick_fd[NET_TXQ], .events = POLLIN },
		{ .fd = vd->stop_fd, .events = POLLIN },
		{ .fd = -1, .events = POLLIN },
		{ .fd = vd->limit_fd[NET_RXQ], .events = POLLIN }, /* -1 (ignored) without limits */
		{ .fd = vd->limit_fd[NET_TXQ], .events = POLLIN },
	};
	bool tx_wait = n->st && nstream_busy(n->st) && !n->link_down;
	int r;

	if (net_rx_polling(n) || tx_wait)
		p[3].fd = n->fd;
	p[3].events = (short)((net_rx_polling(n) ? POLLIN : 0) | (tx_wait ? POLLOUT : 0));
	r = poll(p, 6, timeout_ms);

	if (r < 0)
		return errno == EINTR ? 0 : -2;
	if (p[2].revents)
		return -1;
	if (r == 0)
		return 0;
	sync_offloads(n);
	if (tx_wait && (p[3].revents & (POLLOUT | POLLERR | POLLHUP))) {
		/* The socket takes data again: the frame's tail first, then the queue. */
		int f = nstream_flush(n->st);

		if (f == NSTREAM_DEAD) {
			pthread_mutex_lock(&vd->lock);
			link_lost(n);
			pthread_mutex_unlock(&vd->lock);
		}
		if (f != NSTREAM_AGAIN)
			virtio_process(vd, NET_TXQ);
	}
	if (p[5].revents) {
		virtio_limit_fired(vd, NET_TXQ);
		virtio_process(vd, NET_TXQ);
	}
	if (p[4].revents) {
		virtio_limit_fired(vd, NET_RXQ);
		rx_run(n);
	}
	if (p[1].revents) {
		/* Clear the count first: a kick after this read is not lost. */
		efd_drain(p[1].fd);
		virtio_process(vd, NET_TXQ);
	}
	if (p[0].revents) {
		efd_drain(p[0].fd);
		rx_run(n);
	} else if (p[3].revents & POLLIN) {
		rx_run(n);
	} else if ((p[3].revents & (POLLHUP | POLLERR)) && n->st) {
		rx_run(n); /* POLLHUP/POLLERR on a stream: reading says why, and the link goes down */
	} else if (p[3].revents & ~POLLOUT) {
		/* POLLERR/POLLHUP without data: the tap is gone */
		n->tap_dead = true;
		stat_add(&n->stats.rx_errors, 1);
	}
	return r;
}

static void *io_loop(struct virtio_dev *vd)
{
	struct net *n = vd->opaque;

	int rc;
	while ((rc = net_run_once(n, -1)) >= 0) {
	}
	return rc == -2 ? virtio_thread_failed(vd, "poll", errno) : NULL;
}
