// SPDX-License-Identifier: Apache-2.0
/* Unit tests for mem_gpa, bus dispatch, the e820 map, the MP table and the kernel loaders. */
#include <elf.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot.h"
#include "bus.h"
#include "mem.h"
#include "mptable.h"
#include "util.h"

#define CHECK_PREFIX "unit/"
#include "check.h"

/* A fake guest: host memory from calloc standing in for the KVM mapping. */
static struct guest_mem fake_mem(uint64_t size)
{
	struct guest_mem m = { .host = calloc(1, size), .size = size, .low_size = size };
	return m;
}

static void test_gate(void)
{
	/* Pretend 3 GiB + 8 KiB of RAM without allocating it: only arithmetic is checked. */
	struct guest_mem m = { .host = (uint8_t *)0x10000000,
			       .size = MEM_HOLE_START + 8192,
			       .low_size = MEM_HOLE_START };
	check(mem_gpa(&m, 0, 16) == m.host, "gate-low", "start of RAM");
	check(mem_gpa(&m, MEM_HOLE_START - 16, 16) != NULL, "gate-low-end",
	      "last bytes below hole");
	check(!mem_gpa(&m, MEM_HOLE_START - 16, 17), "gate-into-hole", "range entering the hole");
	check(!mem_gpa(&m, MEM_HOLE_START, 1), "gate-hole", "address in the hole");
	check(mem_gpa(&m, MEM_HIGH_START, 8192) == m.host + MEM_HOLE_START, "gate-high",
	      "high RAM maps after low RAM");
	check(!mem_gpa(&m, MEM_HIGH_START + 1, 8192), "gate-high-end", "past the end of high RAM");
	check(!mem_gpa(&m, UINT64_MAX - 3, 8), "gate-overflow", "wrapping address+length");
	check(!mem_gpa(&m, 16, UINT64_MAX), "gate-huge-len", "huge length");
	check(!mem_gpa(&m, MEM_HOLE_START - 4096, MEM_HIGH_START), "gate-straddle",
	      "range straddling the hole");
}

static uint8_t last_write[8];
static uint64_t last_off;
static void t_read(void *o, uint64_t off, uint8_t *d, uint32_t len)
{
	memset(d, (int)off, len);
}
static void t_write(void *o, uint64_t off, const uint8_t *d, uint32_t len)
{
	last_off = off;
	memcpy(last_write, d, len);
}
static const struct bus_ops t_ops = { t_read, t_write };

static void test_bus(void)
{
	struct bus b = { 0 };
	uint8_t d[8];
	check(bus_add(&b, 0x100, 8, &t_ops, NULL) == 0, "bus-add", "first range");
	check(bus_add(&b, 0x104, 8, &t_ops, NULL) < 0, "bus-overlap", "overlap accepted");
	check(bus_add(&b, UINT64_MAX - 2, 8, &t_ops, NULL) < 0, "bus-wrap",
	      "wrapping range accepted");
	check(bus_access(&b, 0x103, d, 1, false) && d[0] == 3, "bus-read", "offset passed");
	check(!bus_access(&b, 0x106, d, 4, false) && d[0] == 0xff, "bus-partial",
	      "access running past the range must miss and read as all ones");
	check(!bus_access(&b, 0xff, d, 2, false), "bus-below", "access starting below the range");
	d[0] = 0x5a;
	check(bus_access(&b, 0x101, d, 1, true) && last_off == 1 && last_write[0] == 0x5a,
	      "bus-write", "write reached the device");
}

static void test_e820(void)
{
	struct e820_entry e[E820_MAX];
	struct guest_mem small = { .size = 64 << 20, .low_size = 64 << 20 };
	int n = boot_e820(&small, e);
	uint64_t ram = 0;
	for (int i = 0; i < n; i++) {
		if (e[i].type == E820_RAM)
			ram += e[i].size;
		if (i && e[i].addr < e[i - 1].addr + e[i - 1].size)
			check(false, "e820-sorted", "entry %d overlaps", i);
	}
	check(n == 4 && ram == (64 << 20) - 0x60400, "e820-64M", "n=%d ram=%llu", n,
	      (unsigned long long)ram);
	struct guest_mem big = { .size = 4ULL << 30, .low_size = MEM_HOLE_START };
	n = boot_e820(&big, e);
	check(n == 5 && e[3].addr + e[3].size == MEM_HOLE_START && e[4].addr == MEM_HIGH_START &&
		      e[4].size == 1ULL << 30,
	      "e820-4G", "hole below 4 GiB and 1 GiB above it");
}

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	while (n--)
		s += *p++;
	return s;
}

static void test_mptable(void)
{
	struct guest_mem m = fake_mem(2 << 20);
	for (int cpus = 1; cpus <= MAX_CPUS; cpus += 31) {
		int len = mptable_write(&m, MPTABLE_BASE, cpus);
		uint8_t *mpf = m.host + MPTABLE_BASE;
		uint32_t phys;
		memcpy(&phys, mpf + 4, 4);
		uint8_t *cfg = m.host + phys;
		uint16_t cfglen, count;
		memcpy(&cfglen, cfg + 4, 2);
		memcpy(&count, cfg + 34, 2);
		int cpu_entries = 0;
		for (uint8_t *p = cfg + 44; p < cfg + cfglen; p += (*p == 0 ? 20 : 8))
			cpu_entries += *p == 0 && (p[3] & 1);
		char name[32];
		snprintf(name, sizeof(name), "mptable-%dcpus", cpus);
		check(len > 0 && memcmp(mpf, "_MP_", 4) == 0 && sum(mpf, 16) == 0 &&
			      memcmp(cfg, "PCMP", 4) == 0 && sum(cfg, cfglen) == 0 &&
			      cpu_entries == cpus && count == cpus + 2 + 24 + 2,
		      name, "len=%d cpus=%d count=%u", len, cpu_entries, count);
	}
	check(mptable_write(&m, MPTABLE_BASE, 0) < 0 && mptable_write(&m, MPTABLE_BASE, 255) < 0,
	      "mptable-range", "0 and 255 CPUs must be refused");
	check(mptable_write(&m, (2 << 20) - 100, 4) < 0, "mptable-fit", "table past RAM accepted");
	free(m.host);
}

static const char *write_file(const char *name, const void *data, size_t len)
{
	FILE *f = fopen(name, "wb");
	fwrite(data, 1, len, f);
	fclose(f);
	return name;
}

static int load(const char *kernel, const char *cmdline, uint64_t memsize, struct boot_entry *e,
		char *err, int *usage)
{
	struct guest_mem m = fake_mem(memsize);
	struct boot_spec s = { .kernel = kernel, .cmdline = cmdline };
	int rc = boot_load(&m, &s, e, err, 512);
	*usage = rc == ERR_USAGE;
	free(m.host);
	return rc;
}

/* A minimal ELF with one PT_LOAD at 1 MiB, optionally with a PVH note. */
static size_t make_elf(uint8_t *buf, bool pvh, uint64_t paddr, uint64_t filesz)
{
	Elf64_Ehdr *eh = (void *)buf;
	Elf64_Phdr *ph = (void *)(buf + sizeof(*eh));
	memset(buf, 0, 4096);
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_entry = paddr;
	eh->e_phoff = sizeof(*eh);
	eh->e_phentsize = sizeof(*ph);
	eh->e_phnum = pvh ? 2 : 1;
	ph[0] = (Elf64_Phdr){ .p_type = PT_LOAD,
			      .p_offset = 1024,
			      .p_paddr = paddr,
			      .p_vaddr = paddr,
			      .p_filesz = filesz,
			      .p_memsz = filesz };
	if (pvh) {
		ph[1] = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = 512, .p_filesz = 24 };
		Elf64_Nhdr nh = { 4, 8, 18 };
		uint64_t entry = paddr + 0x40;
		memcpy(buf + 512, &nh, sizeof(nh));
		memcpy(buf + 512 + 12, "Xen", 4);
		memcpy(buf + 512 + 16, &entry, 8);
	}
	return 1024 + 64;
}

static void test_loaders(void)
{
	char err[512];
	int usage;
	struct boot_entry e;
	uint8_t buf[8192];

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7919 + 13);
	write_file("random.bin", buf, sizeof(buf));
	check(load("random.bin", "x", 16 << 20, &e, err, &usage) < 0 && usage &&
		      strstr(err, "random.bin") && strstr(err, "unknown format"),
	      "load-random", "%s", err);

	size_t n = make_elf(buf, true, 0x100000, 64);
	write_file("pvh.elf", buf, n);
	check(load("pvh.elf", "console=ttyS0", 16 << 20, &e, err, &usage) == 0 &&
		      e.format == BOOT_PVH && e.rip == 0x100040 && e.rbx == BOOT_START_INFO,
	      "load-pvh", "%s", err);
	write_file("pvh-trunc.elf", buf, 1024 + 10);
	check(load("pvh-trunc.elf", "", 16 << 20, &e, err, &usage) < 0 && usage &&
		      strstr(err, "past the end"),
	      "load-elf-truncated", "%s", err);

	n = make_elf(buf, false, 0x100000, 64);
	write_file("plain.elf", buf, n);
	check(load("plain.elf", "", 16 << 20, &e, err, &usage) == 0 && e.format == BOOT_ELF &&
		      e.rsi == BOOT_ZERO_PAGE,
	      "load-elf", "%s", err);
	n = make_elf(buf, false, 0x7fff0000, 64);
	write_file("high.elf", buf, n);
	check(load("high.elf", "", 16 << 20, &e, err, &usage) < 0 && usage &&
		      strstr(err, "does not fit"),
	      "load-elf-outside-ram", "%s", err);
	n = make_elf(buf, false, 0x100000, 64);
	((Elf64_Ehdr *)buf)->e_phnum = 0;
	write_file("nophdr.elf", buf, n);
	check(load("nophdr.elf", "", 16 << 20, &e, err, &usage) < 0 && usage, "load-elf-no-phdrs",
	      "%s", err);

	/* bzImage: a setup header with a 64-bit entry, a tiny payload and a 255-byte cmdline limit. */
	memset(buf, 0, sizeof(buf));
	buf[0x1f1] = 1; /* setup_sects */
	buf[0x1fe] = 0x55, buf[0x1ff] = 0xaa;
	buf[0x201] = 0x68; /* header length: through init_size */
	memcpy(buf + 0x202, "HdrS", 4);
	buf[0x206] = 0x0f, buf[0x207] = 0x02; /* version 2.15 */
	buf[0x234] = 1;			      /* relocatable */
	buf[0x236] = 1;			      /* XLF_KERNEL_64 */
	buf[0x238] = 255;		      /* cmdline_size */
	buf[0x22c] = 0xff, buf[0x22d] = 0xff, buf[0x22e] = 0xff, buf[0x22f] = 0x37;
	write_file("bz.img", buf, 4096);
	check(load("bz.img", "console=ttyS0", 16 << 20, &e, err, &usage) == 0 &&
		      e.format == BOOT_BZIMAGE && e.rip == 0x100200,
	      "load-bzimage", "%s", err);
	char longline[400];
	memset(longline, 'a', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = 0;
	check(load("bz.img", longline, 16 << 20, &e, err, &usage) < 0 && usage &&
		      strstr(err, "--cmdline"),
	      "load-bzimage-cmdline-limit", "%s", err);
	write_file("bz-trunc.img", buf, 0x300);
	check(load("bz-trunc.img", "", 16 << 20, &e, err, &usage) < 0 && usage,
	      "load-bzimage-truncated", "%s", err);
	buf[0x236] = 0; /* no 64-bit entry */
	write_file("bz32.img", buf, 4096);
	check(load("bz32.img", "", 16 << 20, &e, err, &usage) < 0 && usage && strstr(err, "64-bit"),
	      "load-bzimage-32bit", "%s", err);
}

int main(void)
{
	test_gate();
	test_bus();
	test_e820();
	test_mptable();
	test_loaders();
	return 0;
}
