// SPDX-License-Identifier: Apache-2.0
/* Frames over a Unix stream socket: 4-byte big-endian length, then the frame. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "netstream.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int nstream_connect(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd, r;

	if (strlen(path) >= sizeof(a.sun_path)) {
		snprintf(err, errlen, "stream=%s: path longer than %zu bytes", path,
			 sizeof(a.sun_path) - 1);
		return -1;
	}
	memcpy(a.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "stream=%s: socket: %s", path, strerror(errno));
		return -1;
	}
	/* Blocking: a Unix connect completes at once or fails; no EINPROGRESS to chase. */
	do
		r = connect(fd, (struct sockaddr *)&a, sizeof(a));
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		int e = errno;

		snprintf(err, errlen, "stream=%s: cannot connect: %s%s", path, strerror(e),
			 e == ENOENT || e == ECONNREFUSED ? " (is passt running on it?)" : "");
		close(fd);
		return -1;
	}
	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
		snprintf(err, errlen, "stream=%s: O_NONBLOCK: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

void nstream_init(struct nstream *s, int fd)
{
	s->fd = fd;
	s->dead = false;
	s->why[0] = 0;
	s->bad_lengths = 0;
	s->roff = s->rlen = s->toff = s->tlen = 0;
}

static int die(struct nstream *s, const char *what, int e)
{
	if (!s->dead)
		snprintf(s->why, sizeof(s->why), "%s%s%s", what, e ? ": " : "",
			 e ? strerror(e) : "");
	s->dead = true;
	s->toff = s->tlen = 0; /* a frame's unsent tail goes with the peer: nothing waits for it */
	return NSTREAM_DEAD;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int nstream_recv(struct nstream *s, const uint8_t **frame)
{
	if (s->dead)
		return NSTREAM_DEAD;
	if (!s->rlen)
		s->roff = 0; /* the last frame handed out is placed by now */
	for (;;) {
		if (s->rlen >= 4) {
			uint32_t len = be32(s->rbuf + s->roff);

			if (len == 0 || len > NSTREAM_MAX_FRAME) {
				char m[64];

				s->bad_lengths++;
				snprintf(m, sizeof(m), "bad frame length %u from the peer", len);
				return die(s, m, 0);
			}
			if (s->rlen >= 4 + (size_t)len) {
				*frame = s->rbuf + s->roff + 4;
				s->roff += 4 + len;
				s->rlen -= 4 + len;
				return (int)len;
			}
		}
		/* Room for a whole largest frame after what is left: move it to the front. */
		if (s->roff + s->rlen > NSTREAM_RBUF - (4 + NSTREAM_MAX_FRAME)) {
			memmove(s->rbuf, s->rbuf + s->roff, s->rlen);
			s->roff = 0;
		}
		size_t at = s->roff + s->rlen;
		ssize_t r = read(s->fd, s->rbuf + at, NSTREAM_RBUF - at);

		if (r == 0)
			return die(s, "the peer closed the connection", 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return NSTREAM_AGAIN;
			if (errno == ECONNRESET) /* passt killed with our frames unread */
				return die(s, "the peer closed the connection", 0);
			return die(s, "read", errno);
		}
		s->rlen += (size_t)r;
	}
}

/* A failed write: EAGAIN is no failure, anything else ends the connection. */
static int write_error(struct nstream *s, int e)
{
	if (e == EAGAIN)
		return NSTREAM_AGAIN;
	return die(s, e == EPIPE || e == ECONNRESET ? "the peer closed the connection" : "write",
		   e == EPIPE || e == ECONNRESET ? 0 : e);
}

int nstream_send(struct nstream *s, struct iovec *v, int n, size_t len)
{
	uint8_t hdr[4] = { (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
			   (uint8_t)len };
	size_t sum = 0;
	ssize_t r;

	if (s->dead)
		return NSTREAM_DEAD;
	for (int i = 1; i <= n && n <= NSTREAM_MAX_IOV; i++)
		sum += v[i].iov_len;
	/* The caller checked; still, never put out a frame the peer would refuse, nor overrun tbuf. */
	if (len == 0 || len > NSTREAM_MAX_FRAME || n < 0 || n > NSTREAM_MAX_IOV || sum != len ||
	    s->tlen)
		return 1;
	v[0].iov_base = hdr;
	v[0].iov_len = 4;
	do
		r = writev(s->fd, v, n + 1);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		if (write_error(s, errno) == NSTREAM_DEAD)
			return NSTREAM_DEAD;
		r = 0;
	}
	if ((size_t)r == 4 + len)
		return 0;
	/*
	 * A partial write: keep the unsent tail (the caller's buffers go back to
	 * the guest once we return). Copying here, and only here, keeps the
	 * common case zero-copy.
	 */
	size_t skip = (size_t)r, out = 0;

	for (int i = 0; i <= n; i++) {
		size_t l = v[i].iov_len;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		memcpy(s->tbuf + out, (const uint8_t *)v[i].iov_base + skip, l - skip);
		out += l - skip;
		skip = 0;
	}
	s->toff = 0;
	s->tlen = out;
	return 0;
}

int nstream_flush(struct nstream *s)
{
	if (s->dead)
		return NSTREAM_DEAD;
	while (s->tlen) {
		ssize_t r = write(s->fd, s->tbuf + s->toff, s->tlen);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return write_error(s, errno);
		}
		s->toff += (size_t)r;
		s->tlen -= (size_t)r;
	}
	s->toff = 0;
	return 0;
}
