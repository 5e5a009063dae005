// SPDX-License-Identifier: Apache-2.0
/* Fuzz target: snap_decode, the --restore state-file parser, and the device states it carries. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "../snapfile.h"

/*
 * A state file worth parsing is tens of KiB of exact layout behind a CRC, so
 * the input edits a valid one instead of being one: byte 0 holds flags (bit
 * 0: make the CRC match again after the edits, bit 1: cut the file to the
 * length in bytes 1-2 times 4), then edits of (u16 offset/8 bytes into the
 * file, u8 length, bytes). A file that decodes must re-encode to the same
 * bytes, and its serial and i8042 state must load or be refused, never
 * crash the devices.
 */
static uint8_t *tmpl, *buf;
static size_t tlen;
static struct serial *uart;
static struct i8042 *kbd;

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
	tlen = snap_encoded_size(1);
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
	if (s.hdr.ncpus != 1 || len != tlen)
		abort(); /* only the template's one vCPU fits in its length */
	uint8_t *again = malloc(tlen);
	if (!again)
		abort();
	snap_encode(&s, again);
	if (memcmp(again, buf, tlen) != 0)
		abort(); /* decode then encode is the identity */
	free(again);
	serial_load(uart, &s.serial);
	i8042_load(kbd, &s.kbd);
	free(s.cpus);
	return 0;
}
