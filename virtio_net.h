/* SPDX-License-Identifier: Apache-2.0 */
/* virtio-net: a tap, or a passt-style stream socket, behind a virtio-mmio window. */
#ifndef KVMRUN_VIRTIO_NET_H
#define KVMRUN_VIRTIO_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus.h"
#include "netspec.h"
#include "virtio.h"

/*
 * The device: queue 0 receives (tap -> guest), queue 1 transmits. Features
 * offered: MAC, STATUS (link always up), MRG_RXBUF, CSUM, HOST_TSO4/6,
 * GUEST_CSUM, GUEST_TSO4/6 (plus the transport's VERSION_1, INDIRECT_DESC,
 * EVENT_IDX). Every frame on the fd carries the 12-byte virtio_net_hdr_v1
 * (TUNSETVNETHDRSZ 12), so headers pass through unchanged; the tap's
 * TUNSETOFFLOAD follows what the driver negotiated (net_offload_flags),
 * and goes back to 0 on a device reset.
 *
 * RX: a frame read from the tap waits (in a 64 KiB bounce buffer) until the
 * guest has room; meanwhile the tap is not polled, and the device sleeps
 * until the driver notifies the RX queue. With MRG_RXBUF a frame spreads
 * over as many chains as it needs (num_buffers says how many); without it
 * one chain must hold it. Dropped and counted: frames longer than
 * NET_MAX_FRAME, frames a chain cannot hold without MRG_RXBUF, frames larger
 * than a ring full of the guest's buffers, frames carrying offloads the
 * guest did not negotiate (queued in the tap before TUNSETOFFLOAD changed).
 * TX: each chain is header + frame, checked (readable only, 12 bytes <=
 * length <= 12 + NET_MAX_FRAME, offloads negotiated) and written with one
 * writev straight from guest memory; a bad chain is counted and returned.
 * Nothing the guest does ends kvmrun.
 *
 * Stream backend (--net stream=PATH, netstream.h: passt, QEMU's stream
 * netdev): frames carry no header, so only MAC, STATUS and MRG_RXBUF are
 * offered (no checksum or TSO offload either way); a received frame is
 * copied once, from the stream's buffer into the guest's (behind a header
 * made in buf), never through the bounce buffer. TX writes straight from
 * guest memory; a frame the socket takes only in part holds the TX queue
 * until it is out (backpressure, not drops). A peer that closes, fails, or sends a length of 0 or above
 * 64 KiB takes the link down: one line on stderr, VIRTIO_NET_S_LINK_UP
 * cleared with a config interrupt, the socket no longer polled, the guest's
 * later frames dropped and counted; kvmrun and the guest run on.
 *
 * Threads: virtio_start(net_virtio()) starts one I/O thread per interface
 * (after cfg->thread_start) that polls the two queue eventfds,
 * the stop eventfd and, while the guest has RX buffers, the tap.
 *
 * Startup order for vmm.c, per --net:
 *   net_parse_spec() (option parsing) -> net_open(spec, index) (before
 *   anything else, so a bad tap fails early) -> virtio_start(net_virtio(dev),
 *   cfg) -> bus_add(cfg->base, VIRTIO_MMIO_SIZE, &virtio_mmio_ops, vd) -> append
 *   "virtio_mmio.device=4K@0x<base>:<gsi>" to the command line.
 * Shutdown, after the vCPU threads have stopped: net_close().
 */

#define NET_HDR_LEN 12	    /* struct virtio_net_hdr_v1, with num_buffers */
#define NET_MAX_FRAME 65550 /* largest frame (after the header) either way */
#define NET_RXQ 0
#define NET_TXQ 1

struct net_stats {
	uint64_t rx_frames, rx_bytes; /* delivered to the guest (bytes after the header) */
	uint64_t tx_frames, tx_bytes; /* written to the tap (bytes after the header) */
	uint64_t rx_oversize; /* frames dropped: too long for NET_MAX_FRAME or for the buffers */
	uint64_t rx_nobuf;    /* times a frame had to wait for the guest to add RX buffers */
	uint64_t rx_bounced;  /* frames read through the bounce buffer: the guest's buffers
				 could not hold a largest frame (the others go straight in) */
	uint64_t rx_errors;   /* bad RX chains, runt or unreadable frames, frames with
				 offloads the guest did not negotiate, TUNSETOFFLOAD failures */
	uint64_t tx_dropped;  /* the fd would block (EAGAIN/ENOBUFS): frame dropped */
	uint64_t tx_errors;   /* bad TX chains (walk, direction, length, offloads), write errors */
	uint64_t bad_chains;  /* chains that failed the walker (also in rx/tx_errors) */
	uint64_t ignored;     /* register accesses of odd width or unknown offset */
	uint64_t rx_bad_length; /* stream: frame lengths of 0 or > 64 KiB from the peer */
	uint64_t link_downs;	/* stream: times the link went down (0 or 1: it stays down) */
};

enum net_kind {
	NET_DGRAM,  /* one vnet-header frame per read/write, no offload ioctls (unit tests) */
	NET_TAP,    /* the same, plus TUNSETOFFLOAD as features change */
	NET_STREAM, /* netstream.h framing, no header on the wire */
};

struct net;

/*
 * Open the backend (tap_open: a tap by name, or a launcher's tap fd, which
 * kvmrun then takes over and closes in net_close; nstream_connect for
 * stream=PATH) and make the device, with
 * the spec's MAC or net_default_mac(index). Returns the device, or NULL
 * with a one-line message in err.
 */
struct net *net_open(const struct net_spec *s, unsigned index, char *err, size_t errlen);

/*
 * The backend-independent part of net_open (also what unit tests use with a
 * socketpair): take over `fd`, non-blocking. NET_DGRAM/NET_TAP: every read
 * and write is one frame preceded by a NET_HDR_LEN-byte virtio_net_hdr_v1;
 * NET_TAP issues TUNSETOFFLOAD as features change (otherwise only recorded;
 * see net_offloads). NET_STREAM: a connected stream socket, netstream.h's
 * framing. `name` is for messages (net_open also has link changes told on
 * stderr). On failure the fd is closed and err says why.
 */
struct net *net_create(int fd, enum net_kind kind, const char *name, const uint8_t mac[6],
		       char *err, size_t errlen);

/* Stop the I/O thread (if any), close the fd, free n. NULL is a no-op. */
void net_close(struct net *n);

/* Counters, safe to call from any thread. */
void net_get_stats(const struct net *n, struct net_stats *out);

/* The MAC the guest sees. */
void net_get_mac(const struct net *n, uint8_t mac[6]);

/* "tap NAME", "fd N (tap NAME)" or "stream=PATH": for messages. */
const char *net_name(const struct net *n);

/*
 * The TUN_F_* offloads for negotiated virtio features: GUEST_CSUM -> CSUM and,
 * only together with it, GUEST_TSO4/6 -> TSO4/6. Pure.
 */
unsigned net_offload_flags(uint64_t features);

/*
 * The transport under the interface: vmm.c binds it with virtio_start()
 * (which starts the interface's I/O thread; with cfg->vmfd < 0 in unit tests
 * none starts: call net_run_once) and puts virtio_mmio_ops on the bus with it.
 */
struct virtio_dev *net_virtio(struct net *n);

/* ---- for unit tests ---- */

/*
 * One turn of the I/O thread's loop: poll (up to timeout_ms; -1 waits)
 * the RX and TX queue eventfds, the stop eventfd and, while the guest has
 * RX buffers, the fd; then serve what is ready. Returns the number of ready
 * fds served (0: nothing woke us), -1 when the stop eventfd fired, or -2
 * when poll failed (errno says why).
 */
int net_run_once(struct net *n, int timeout_ms);

/* Whether the fd is in the poll set now (false while the guest has no RX buffers). */
bool net_rx_polling(const struct net *n);

/* The TUN_F_* offloads last applied to the fd (or recorded, when not a tap). */
unsigned net_offloads(const struct net *n);

#endif
