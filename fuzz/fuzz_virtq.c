// SPDX-License-Identifier: Apache-2.0
/* Fuzz target: the virtio-mmio register file, virtio_process, the device-driven queue API and virtq_walk. */
#include <pthread.h>

#include "../virtio_io.h"
#include "fuzz_common.h"

/*
 * A dummy device with 1..4 queues and 64 bytes of config space. Its handler
 * checks every chain the transport hands it against the walker's promises,
 * touches the first and last byte of each buffer (ASan sees a stray
 * pointer), answers through the tail and returns a fuzzer-chosen used
 * length (the transport must clamp it).
 */
struct dummy {
	struct virtio_dev vd;
	const struct guest_mem *mem;
	uint32_t ret_len;
	uint8_t config[64];
};

static struct guest_mem mem;
static struct virtq_chain chain; /* scratch for direct walks and pops */

static void touch(const struct virtq_chain *c)
{
	volatile uint8_t sink = 0;

	for (unsigned i = 0; i < (unsigned)c->nr + c->nw; i++) {
		const uint8_t *b = c->iov[i].iov_base;

		if (c->iov[i].iov_len)
			sink ^= b[0] ^ b[c->iov[i].iov_len - 1];
	}
	(void)sink;
}

static uint32_t dummy_handle(struct virtio_dev *vd, unsigned q, struct virtq_chain *c)
{
	struct dummy *d = vd->opaque;

	FZ_ASSERT(q < vd->nq, "handle called for queue %u of %u", q, vd->nq);
	fz_check_chain(d->mem, c);
	touch(c);
	if (c->tail)
		*c->tail = 0x5a;
	return d->ret_len;
}

static void dummy_status(struct virtio_dev *vd, uint32_t old, uint32_t now)
{
	(void)vd;
	FZ_ASSERT(now == 0 || (now & VIRTIO_CONFIG_S_NEEDS_RESET) >=
				      (old & VIRTIO_CONFIG_S_NEEDS_RESET),
		  "the driver cleared NEEDS_RESET without a reset (%#x -> %#x)", old, now);
}

static const struct virtio_dev_ops dummy_ops = {
	.handle = dummy_handle,
	.status_changed = dummy_status,
};

/* The walker on its own: any table size, any table address, any head, then the iovec helpers. */
static void direct_walk(struct fz_in *in)
{
	struct virtq vq = { .num = (uint16_t)(fz_u16(in) % VIRTQ_MAX_SIZE + 1) };
	uint64_t gpa = fz_gpa(fz_u32(in));
	uint16_t head = fz_u16(in);
	uint8_t flags = fz_u8(in);
	uint32_t off = fz_u32(in), len = fz_u32(in) % 4096;
	struct iovec dst[VIRTQ_MAX_SIZE];
	uint8_t buf[4096];

	vq.desc = mem_gpa(&mem, gpa, 16ULL * vq.num); /* the caller's contract: a table in RAM */
	if (!vq.desc)
		return;
	vq.indirect = flags & 1;
	int err = virtq_walk(&mem, &vq, head, &chain);

	FZ_ASSERT(err == chain.err, "walk returned %d, chain says %d", err, chain.err);
	FZ_ASSERT(head < vq.num || err == VIRTQ_E_INDEX, "head %u of %u accepted", head, vq.num);
	fz_check_chain(&mem, &chain);
	touch(&chain);

	unsigned n = (unsigned)chain.nr + chain.nw;
	uint64_t total = chain.rd_len + chain.wr_len;
	int k = virtq_iov_slice(chain.iov, n, off, len, dst, (flags >> 1) % VIRTQ_MAX_SIZE + 1);

	if (k >= 0) {
		uint64_t sum = 0;

		for (int i = 0; i < k; i++) {
			FZ_ASSERT(fz_in_ram(&mem, dst[i].iov_base, dst[i].iov_len),
				  "slice %d left RAM", i);
			sum += dst[i].iov_len;
		}
		FZ_ASSERT(sum == len, "slice of %u bytes has %llu", len, (unsigned long long)sum);
		FZ_ASSERT((uint64_t)off + len <= total || len == 0, "slice past the chain's end");
	}
	size_t got = virtq_iov_read(chain.iov, n, off, buf, len);

	FZ_ASSERT(got <= len && (off >= total || got == (total - off < len ? total - off : len)),
		  "iov_read copied %zu of %u at %u (total %llu)", got, len, off,
		  (unsigned long long)total);
	virtq_iov_write(chain.iov + chain.nr, chain.nw, off, buf, len);
}

/* The device-driven API as virtio-net RX uses it: pop some, give some back, fill, flush, arm. */
static void driven(struct virtio_dev *vd, struct fz_in *in)
{
	unsigned q = fz_u8(in) % VIRTIO_MAX_QUEUES, want = fz_u8(in) % 8, back = fz_u8(in);
	unsigned have = fz_u8(in);
	uint16_t heads[8];
	uint32_t lens[8];
	unsigned k = 0;

	pthread_mutex_lock(&vd->lock);
	int pending = virtio_pending(vd, q);

	FZ_ASSERT(pending < 0 || pending <= vd->q[q].num, "%d pending in a ring of %u", pending,
		  vd->q[q].num);
	while (k < want) {
		int r = virtio_pop(vd, q, &chain);

		if (r <= 0)
			break;
		fz_check_chain(&mem, &chain);
		touch(&chain);
		FZ_ASSERT(chain.head < vd->q[q].num, "popped head %u of %u", chain.head,
			  vd->q[q].num);
		heads[k] = chain.head;
		lens[k] = chain.err ? 0
				    : (uint32_t)(chain.wr_len > UINT32_MAX ? UINT32_MAX
									   : chain.wr_len);
		k++;
	}
	back %= k + 1;
	virtio_unpop(vd, q, back);
	k -= back;
	for (unsigned i = 0; i < k; i++)
		virtio_fill(vd, q, i, heads[i], lens[i]);
	virtio_flush(vd, q, k);
	virtio_arm(vd, q, have);
	pthread_mutex_unlock(&vd->lock);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	static struct dummy d;
	unsigned nq = fz_u8(&in) % VIRTIO_MAX_QUEUES + 1;

	fz_mem(&mem);
	for (unsigned i = 0; i < sizeof(d.config); i++)
		d.config[i] = (uint8_t)i;
	if (virtio_init(&d.vd, 42, 1ULL << 3, nq, d.config, sizeof(d.config), &dummy_ops, &d) < 0)
		abort();
	d.mem = &mem;
	struct virtio_mmio_cfg cfg = { .vmfd = -1, .mem = &mem, .base = 0xd0000000, .gsi = 5 };

	if (virtio_start(&d.vd, &cfg) < 0)
		abort();
	for (unsigned ops = 0; in.n && ops < FZ_MAX_OPS; ops++) {
		unsigned op = fz_u8(&in) % OP_COUNT;

		if (fz_common_op(&d.vd, &mem, op, &in))
			continue;
		if (op == OP_KICK) {
			uint8_t q = fz_u8(&in);

			d.ret_len = fz_u32(&in);
			fz_w32(&d.vd, VIRTIO_MMIO_NOTIFY, q);
			virtio_process(&d.vd, q);
		} else {
			uint8_t sub = fz_u8(&in);

			if (sub % 2 == 0)
				direct_walk(&in);
			else
				driven(&d.vd, &in);
		}
	}
	virtio_stop(&d.vd);
	return 0;
}
