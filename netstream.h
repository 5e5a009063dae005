/* SPDX-License-Identifier: Apache-2.0 */
/* Frames over a Unix stream socket: passt's and QEMU's "-netdev stream" framing. */
#ifndef KVMRUN_NETSTREAM_H
#define KVMRUN_NETSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/*
 * On the wire every frame is a 4-byte big-endian length, then that many
 * bytes of Ethernet frame; no virtio-net header, so nothing carries
 * checksum or segmentation offloads. A length of 0 or above
 * NSTREAM_MAX_FRAME cannot be skipped (the stream has no other markers),
 * so it ends the connection for us: the caller takes the link down.
 *
 * The socket is non-blocking. RX reads in large pieces into rbuf and hands
 * out whole frames; TX writes the length and the frame with one writev
 * straight from the caller's iovecs, and keeps what the socket did not take
 * in tbuf: the caller sends nothing more until nstream_flush says it is out
 * (backpressure for the guest's TX queue, never a dropped frame).
 */
#define NSTREAM_MAX_FRAME 65536
#define NSTREAM_RBUF (2 * (4 + NSTREAM_MAX_FRAME))
#define NSTREAM_MAX_IOV 256 /* iovecs per frame: a virtqueue's largest chain (VIRTQ_MAX_SIZE) */

enum {
	NSTREAM_DEAD = -2,  /* the connection is over: why() says so; poll it no more */
	NSTREAM_AGAIN = -1, /* nothing now: wait for the socket (POLLIN or POLLOUT) */
};

struct nstream {
	int fd;
	bool dead;
	char why[96];	      /* set when dead: for the caller's one log line */
	uint64_t bad_lengths; /* lengths of 0 or > NSTREAM_MAX_FRAME received */
	size_t roff, rlen;    /* unread bytes: rbuf[roff, roff + rlen) */
	size_t toff, tlen;    /* unsent bytes: tbuf[toff, toff + tlen) */
	uint8_t rbuf[NSTREAM_RBUF];
	uint8_t tbuf[4 + NSTREAM_MAX_FRAME];
};

/*
 * Connect to the socket at `path` (before the jail: it names a file) and
 * make the fd non-blocking and close-on-exec. The fd, or -1 with a one-line
 * message naming the path (missing, refused, not a socket, too long).
 */
int nstream_connect(const char *path, char *err, size_t errlen);

/* Start framing on a connected, non-blocking stream fd (s is the caller's, zeroed here). */
void nstream_init(struct nstream *s, int fd);

/*
 * The next whole frame: its length, with *frame pointing at it in rbuf
 * (valid until the next call: no copy on the way to the guest); or
 * NSTREAM_AGAIN (wait for POLLIN), or NSTREAM_DEAD (peer closed, bad
 * length, read error).
 */
int nstream_recv(struct nstream *s, const uint8_t **frame);

/* Whether a frame's tail still waits in tbuf (then poll for POLLOUT, call nstream_flush). */
static inline bool nstream_busy(const struct nstream *s)
{
	return s->tlen > 0;
}

/*
 * Send one frame of `len` bytes (1..NSTREAM_MAX_FRAME) gathered from
 * v[1..n] (n <= NSTREAM_MAX_IOV entries, summing to len); v[0] is the
 * caller's spare slot, which the length goes into (so the iovecs are not
 * copied per frame). Only when !nstream_busy.
 * 0: sent, or its unsent tail kept in tbuf; 1: refused, nothing sent (a
 * bad length or iovec count, or busy); NSTREAM_DEAD: the peer is gone
 * (EPIPE, ECONNRESET, ...).
 */
int nstream_send(struct nstream *s, struct iovec *v, int n, size_t len);

/* Write out what tbuf holds. 0: all out; NSTREAM_AGAIN: some left; NSTREAM_DEAD. */
int nstream_flush(struct nstream *s);

#endif
