// SPDX-License-Identifier: Apache-2.0
/* Fuzz target: snap_decode, the --restore state-file parser, and the device states it carries. */
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "../snapfile.h"
#include "fuzz_common.h"

/*
 * A state file worth parsing is tens of KiB of exact layout behind a CRC, so
 * the input edits a valid one instead of being one: byte 0 holds flags (bit
 * 0: make the CRC match again after the edits, bit 1: cut the file to the
 * length in bytes 1-2 times 4), then edits of (u16 offset/8 bytes into the
 * file, u8 length, bytes). A file that decodes must re-encode to the same
 * bytes, and its serial, i8042 and virtio state must load or be refused,
 * never crash the devices; a virtio state that loads is then served (one
 * kick of its queue) on fake guest RAM, whatever its ring indices say.
 */
static uint8_t *tmpl, *buf;
static size_t tlen;
static struct serial *uart;
static struct i8042 *kbd;
static struct virtio_dev vd;
static struct guest_mem mem;

static uint32_t handle(struct virtio_dev *d, unsigned q, struct virtq_chain *c)
{
	(void)d, (void)q;
	return c->err ? 0 : (uint32_t)c->wr_len;
}

static const struct virtio_dev_ops ops = { .handle = handle };

static void no_irq(void *ctx, uint32_t gsi, int level)
{
	(void)ctx, (void)gsi, (void)level;
}

static void no_reset(void *ctx)
{
	(void)ctx;
}

static void setup(void)
{
	struct snapshot s = { 0 };
	struct vcpu_state *cpu = calloc(1, sizeof(*cpu));
	if (!cpu)
		abort();
	s.cpus = cpu;
	s.hdr.ncpus = 1;
	s.hdr.mem_size = 128u << 20;
	s.hdr.flags = SNAP_PIT;
	s.vm.pic_master.chip_id = 0, s.vm.pic_slave.chip_id = 1, s.vm.ioapic.chip_id = 2;
	s.serial.rx_len = 3, s.serial.tx_len = 5;
	/* One disk-like device, its queue 0 ready on low RAM, the driver running. */
	uint8_t config[8] = { 0x80 };
	fz_mem(&mem);
	if (virtio_init(&vd, VIRTIO_ID_BLOCK, 0, 1, config, sizeof(config), &ops, NULL) < 0)
		abort();
	s.hdr.ndisks = 1;
	virtio_save(&vd, &s.dev[0]);
	s.dev[0].drv_features = 1ULL << VIRTIO_F_VERSION_1;
	s.dev[0].status = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
			  VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK;
	s.dev[0].q[0] = (struct virtio_queue_state){
		.num = 8, .ready = 1, .desc = 0x1000, .avail = 0x2000, .used = 0x3000
	};
	tlen = snap_encoded_size(1, 1, false);
	tmpl = malloc(tlen);
	buf = malloc(tlen);
	if (!tmpl || !buf)
		abort();
	snap_encode(&s, tmpl);
	free(cpu);
	struct irq_line line = { no_irq, NULL, 4 };
	int fd = eventfd(0, EFD_NONBLOCK);
	uart = serial_create(&line, fd);
	kbd = i8042_create(&line, no_reset, NULL);
	if (fd < 0 || !uart || !kbd)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!tmpl)
		setup();
	if (size < 3)
		return 0;
	uint8_t flags = data[0];
	size_t len = tlen;
	if (flags & 2) {
		size_t cut = ((size_t)data[1] | (size_t)data[2] << 8) * 4;
		len = cut < tlen ? cut : tlen;
	}
	memcpy(buf, tmpl, tlen);
	for (size_t i = 3; i + 3 <= size;) {
		size_t off = ((size_t)data[i] | (size_t)data[i + 1] << 8) * 8, n = data[i + 2];
		i += 3;
		for (size_t k = 0; k < n && i < size; k++, i++)
			if (off + k < tlen)
				buf[off + k] = data[i];
	}
	if (flags & 1 && len >= sizeof(struct snap_header)) {
		struct snap_header h;
		memcpy(&h, buf, sizeof(h));
		h.crc = 0;
		memcpy(buf, &h, sizeof(h));
		h.crc = snap_crc32(buf, len);
		memcpy(buf, &h, sizeof(h));
	}
	struct snapshot s;
	char err[256];
	if (snap_decode(buf, len, &s, err, sizeof(err)) < 0) {
		if (!err[0])
			abort(); /* a refusal always says why */
		return 0;
	}
	if (s.hdr.ncpus != 1 || s.hdr.ndisks + s.hdr.nnets != 1 || len != tlen)
		abort(); /* only the template's one vCPU and one device fit in its length */
	uint8_t *again = malloc(tlen);
	if (!again)
		abort();
	snap_encode(&s, again);
	if (memcmp(again, buf, tlen) != 0)
		abort(); /* decode then encode is the identity */
	free(again);
	serial_load(uart, &s.serial);
	i8042_load(kbd, &s.kbd);
	if (virtio_load(&vd, &s.dev[0], &mem) == 0)
		virtio_process(&vd, 0);
	free(s.cpus);
	return 0;
}
