// SPDX-License-Identifier: Apache-2.0
/* probe guest: COM1 output, number formatting, command-line words, physical memory, virtio bring-up. */
#include "probe.h"
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>

#define COM1 0x3f8
#define LSR_THRE 0x20

void con_putc(char c)
{
	/* bounded: a monitor without LSR emulation must not hang the probe */
	for (int i = 0; i < 100000 && !(inb(COM1 + 5) & LSR_THRE); i++)
		cpu_relax();
	outb(COM1, (uint8_t)c);
}

void con_puts(const char *s)
{
	while (*s)
		con_putc(*s++);
}

void con_hex(uint64_t v)
{
	char buf[19];
	int i = sizeof(buf);

	buf[--i] = 0;
	do {
		buf[--i] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	buf[--i] = 'x';
	buf[--i] = '0';
	con_puts(buf + i);
}

void con_dec(uint64_t v)
{
	char buf[21];
	int i = sizeof(buf);

	buf[--i] = 0;
	do {
		buf[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	con_puts(buf + i);
}

void probe_line(const char *key)
{
	con_puts("PROBE ");
	con_puts(key);
	con_putc('=');
}

void probe_error(const char *reason)
{
	probe_line("error");
	con_puts(reason);
	con_putc('\n');
}

size_t strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

/* gcc may emit calls to these even in freestanding code. */
void *memcpy(void *d, const void *s, size_t n)
{
	void *r = d;

	__asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
	return r;
}

void *memset(void *d, int c, size_t n)
{
	void *r = d;

	__asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
	return r;
}

int word_eq(const char *value, const char *name)
{
	while (*name && *value == *name)
		value++, name++;
	return !*name && (*value == 0 || *value == ' ');
}

int cmdline_find(const char *s, const char *key, const char **value)
{
	size_t klen = strlen(key);

	while (*s) {
		while (*s == ' ')
			s++;
		const char *w = s;
		size_t i = 0;

		while (i < klen && w[i] == key[i])
			i++;
		if (i == klen && (key[klen - 1] == '=' || w[i] == 0 || w[i] == ' ')) {
			if (value)
				*value = w + i;
			return 1;
		}
		while (*s && *s != ' ')
			s++;
	}
	return 0;
}

#define WINDOW_VA 0x100000000UL /* PDPT entry 4 */
#define PAGE_2M 0x200000UL

void *phys(uint64_t pa, uint64_t len)
{
	if (pa + len <= WINDOW_VA && pa + len >= pa)
		return (void *)pa;
	uint64_t base = pa & ~(PAGE_2M - 1);

	pd_win[0] = base | 0xe3;
	pd_win[1] = (base + PAGE_2M) | 0xe3;
	__asm__ volatile("invlpg (%0); invlpg (%1)" : : "r"(WINDOW_VA), "r"(WINDOW_VA + PAGE_2M)
			 : "memory");
	return (void *)(WINDOW_VA + (pa - base));
}

void delay_tsc(uint64_t cycles)
{
	uint64_t t0 = rdtsc();

	while (rdtsc() - t0 < cycles)
		cpu_relax();
}

int virtio_negotiate(uint64_t base, uint32_t id, uint32_t feat)
{
	const uint32_t ack = VIRTIO_CONFIG_S_ACKNOWLEDGE, drv = VIRTIO_CONFIG_S_DRIVER;

	mmio_write32(base + VIRTIO_MMIO_STATUS, 0);
	if (mmio_read32(base + VIRTIO_MMIO_MAGIC_VALUE) != 0x74726976 ||
	    mmio_read32(base + VIRTIO_MMIO_VERSION) != 2 || mmio_read32(base + VIRTIO_MMIO_DEVICE_ID) != id)
		return -1;
	mmio_write32(base + VIRTIO_MMIO_STATUS, ack);
	mmio_write32(base + VIRTIO_MMIO_STATUS, ack | drv);
	mmio_write32(base + VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	uint32_t lo = mmio_read32(base + VIRTIO_MMIO_DEVICE_FEATURES);
	mmio_write32(base + VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	uint32_t hi = mmio_read32(base + VIRTIO_MMIO_DEVICE_FEATURES);

	if ((lo & feat) != feat || !(hi & 1)) /* bit 32: VERSION_1 */
		return -2;
	mmio_write32(base + VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	mmio_write32(base + VIRTIO_MMIO_DRIVER_FEATURES, feat);
	mmio_write32(base + VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	mmio_write32(base + VIRTIO_MMIO_DRIVER_FEATURES, 1);
	mmio_write32(base + VIRTIO_MMIO_STATUS, ack | drv | VIRTIO_CONFIG_S_FEATURES_OK);
	if (!(mmio_read32(base + VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK))
		return -3;
	return 0;
}
