// SPDX-License-Identifier: Apache-2.0
/*
 * Fuzz targets: virtio-net RX (merged buffers, header fix-up) and TX over a
 * socketpair "tap" (net); built with -DFUZZ_NET_STREAM, the same over a
 * stream socket in passt's framing, whose peer sends any bytes (netstream).
 */
#include <linux/virtio_net.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../netstream.h"
#include "../virtio_io.h"
#include "../virtio_net.h"
#include "fuzz_common.h"

/*
 * The tap is one end of an AF_UNIX datagram socketpair; the harness holds the
 * other. The script may send frames in (any header, any length up to past
 * NET_MAX_FRAME) and lets the device run its I/O loop without blocking.
 * Every frame the device transmits must be one the driver was allowed to
 * send: at least the header, at most NET_MAX_FRAME after it, and a header
 * within what was negotiated.
 */
static struct guest_mem mem;
static uint8_t frame[NET_HDR_LEN + NET_MAX_FRAME + 64];

#ifdef FUZZ_NET_STREAM
/*
 * The stream the device writes: every length it puts out is one a peer
 * accepts (1..NSTREAM_MAX_FRAME), and frames are whole and back to back.
 * tx_need: bytes of the current frame still to come (0: a length is next).
 */
static size_t tx_need, tx_lenhave;
static uint8_t tx_len[4];

static void check_tx(int peer, uint64_t f)
{
	(void)f;
	for (;;) {
		ssize_t r = recv(peer, frame, sizeof(frame), MSG_DONTWAIT);

		if (r <= 0)
			return;
		for (size_t i = 0; i < (size_t)r;) {
			if (tx_need) {
				size_t take = (size_t)r - i < tx_need ? (size_t)r - i : tx_need;
				i += take;
				tx_need -= take;
				continue;
			}
			tx_len[tx_lenhave++] = frame[i++];
			if (tx_lenhave < 4)
				continue;
			tx_lenhave = 0;
			tx_need = (size_t)tx_len[0] << 24 | (size_t)tx_len[1] << 16 |
				  (size_t)tx_len[2] << 8 | tx_len[3];
			FZ_ASSERT(tx_need >= 1 && tx_need <= NSTREAM_MAX_FRAME,
				  "sent a frame length of %zu", tx_need);
		}
	}
}
#else
static void check_tx(int peer, uint64_t f)
{
	for (;;) {
		ssize_t r = recv(peer, frame, sizeof(frame), MSG_DONTWAIT);

		if (r < 0)
			return;
		FZ_ASSERT(r >= NET_HDR_LEN && r <= NET_HDR_LEN + NET_MAX_FRAME,
			  "sent a %zd-byte frame", r);
		struct virtio_net_hdr_v1 h;

		memcpy(&h, frame, sizeof(h));
		FZ_ASSERT(!(h.flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM), "sent header flags %#x",
			  h.flags);
		FZ_ASSERT(!(h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) ||
				  (f & (1ULL << VIRTIO_NET_F_CSUM)),
			  "sent NEEDS_CSUM without CSUM negotiated");
		FZ_ASSERT(h.gso_type == VIRTIO_NET_HDR_GSO_NONE ||
				  (h.gso_type == VIRTIO_NET_HDR_GSO_TCPV4 &&
				   (f & (1ULL << VIRTIO_NET_F_HOST_TSO4))) ||
				  (h.gso_type == VIRTIO_NET_HDR_GSO_TCPV6 &&
				   (f & (1ULL << VIRTIO_NET_F_HOST_TSO6))),
			  "sent gso_type %u not negotiated", h.gso_type);
	}
}
#endif

/* Let the I/O thread's loop body run until nothing is ready (bounded: a busy loop is a bug). */
static void run(struct net *n, int peer)
{
	int turns = 0;

	while (net_run_once(n, 0) > 0)
		FZ_ASSERT(++turns < 200, "the I/O loop never settles");
	check_tx(peer, net_virtio(n)->drv_features);
}

/* Up to 255 bytes of the input, as they are, into frame: their count. */
static size_t take_bytes(struct fz_in *in)
{
	size_t len = fz_u8(in);

	if (len > in->n)
		len = in->n;
	memcpy(frame, in->p, len);
	in->p += len;
	in->n -= len;
	return len;
}

#ifdef FUZZ_NET_STREAM
/* Stream bytes: a well-formed frame of any length (bad ones included), or raw bytes. */
static void send_frame(int peer, struct fz_in *in)
{
	uint8_t mode = fz_u8(in);
	size_t len;

	if (mode & 1) { /* explicit bytes: cut lengths, zero and huge lengths, split frames */
		len = take_bytes(in);
	} else {
		uint32_t fl = fz_u32(in) % (NSTREAM_MAX_FRAME + 16);

		frame[0] = (uint8_t)(fl >> 24), frame[1] = (uint8_t)(fl >> 16);
		frame[2] = (uint8_t)(fl >> 8), frame[3] = (uint8_t)fl;
		len = 4 + fl;
		for (size_t i = 4; i < len; i++)
			frame[i] = (uint8_t)i;
	}
	if (send(peer, frame, len, MSG_DONTWAIT) < 0) {
		/* the socket is full: a real peer would wait; this one moves on */
	}
}
#else
static void send_frame(int peer, struct fz_in *in)
{
	uint8_t mode = fz_u8(in);
	size_t len;

	if ((mode & 3) == 2) { /* a burst of small frames: more than one RX turn takes */
		unsigned count = fz_u8(in) % 128 + 1;

		memset(frame, 0, NET_HDR_LEN);
		for (unsigned i = 0; i < count; i++)
			if (send(peer, frame, NET_HDR_LEN + 60, MSG_DONTWAIT) < 0)
				break;
		return;
	}
	if (mode & 1) { /* explicit bytes: runts, odd headers */
		len = take_bytes(in);
	} else { /* a header from the input, then a patterned body of any length */
		for (int i = 0; i < NET_HDR_LEN; i++)
			frame[i] = fz_u8(in);
		len = NET_HDR_LEN + fz_u32(in) % (NET_MAX_FRAME + 16);
		for (size_t i = NET_HDR_LEN; i < len; i++)
			frame[i] = (uint8_t)i;
	}
	if (send(peer, frame, len, MSG_DONTWAIT) < 0) {
		/* the socket is full: the tap would drop it too */
	}
}
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	struct fz_in in = { data, size };
	char err[256];
	int sv[2], sz = 1 << 20;

	fz_mem(&mem);
#ifdef FUZZ_NET_STREAM
	const int type = SOCK_STREAM;
	const enum net_kind kind = NET_STREAM;
	tx_need = tx_lenhave = 0;
#else
	const int type = SOCK_DGRAM;
	const enum net_kind kind = NET_DGRAM;
#endif
	if (socketpair(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	for (int i = 0; i < 2; i++) {
		setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
		setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	}
	struct net *n = net_create(sv[0], kind, "fuzz", mac, err, sizeof(err));

	if (!n) {
		fprintf(stderr, "%s\n", err);
		abort();
	}
	struct virtio_mmio_cfg cfg = { .vmfd = -1, .mem = &mem, .base = 0xd0000000, .gsi = 5 };

	if (virtio_start(net_virtio(n), &cfg) < 0)
		abort();
	struct virtio_dev *vd = net_virtio(n);

	for (unsigned k = 0; in.n && k < FZ_MAX_OPS; k++) {
		unsigned op = fz_u8(&in) % OP_COUNT;

		if (fz_common_op(vd, &mem, op, &in))
			continue;
		if (op == OP_KICK) {
			uint8_t q = fz_u8(&in);

			fz_u32(&in);
			fz_w32(vd, VIRTIO_MMIO_NOTIFY, q);
		} else {
			send_frame(sv[1], &in);
		}
		run(n, sv[1]);
	}
	run(n, sv[1]);
	net_close(n);
	close(sv[1]);
	return 0;
}
