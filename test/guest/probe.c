// SPDX-License-Identifier: Apache-2.0
/* probe guest: read what the monitor handed over, check it, and report it. */
#include "probe.h"

#include "acpi_check.h"

typedef uint16_t __attribute__((aligned(1), may_alias)) u16u;
typedef uint32_t __attribute__((aligned(1), may_alias)) u32u;
typedef uint64_t __attribute__((aligned(1), may_alias)) u64u;

#define RD16(p, off) (*(const u16u *)((const uint8_t *)(p) + (off)))
#define RD32(p, off) (*(const u32u *)((const uint8_t *)(p) + (off)))
#define RD64(p, off) (*(const u64u *)((const uint8_t *)(p) + (off)))

static struct bootinfo bi = {.cmdline = ""};
static char cmdline_copy[4096] = {0}; /* only for a command line above 4 GiB */
/* Errors found before the first line: the bench path must print nothing else. */
static const char *early_errors[4] = {0};
static int nearly = 0;

static void early_error(const char *reason)
{
	if (nearly < 4)
		early_errors[nearly++] = reason;
}

static void busy(uint64_t pa, uint64_t len)
{
	if (bi.nbusy < (int)(sizeof(bi.busy) / sizeof(bi.busy[0]))) {
		bi.busy[bi.nbusy][0] = pa;
		bi.busy[bi.nbusy][1] = len;
		bi.nbusy++;
	}
}

static void set_cmdline(uint64_t pa)
{
	if (!pa)
		return;
	if (pa < 0x100000000UL) {
		bi.cmdline = (const char *)pa;
	} else {
		size_t n = 0;

		/* byte by byte: the string may cross window pages */
		while (n < sizeof(cmdline_copy) - 1 && (cmdline_copy[n] = *(char *)phys(pa + n, 1)))
			n++;
		cmdline_copy[n] = 0;
		bi.cmdline = cmdline_copy;
	}
	busy(pa, strlen(bi.cmdline) + 1);
}

static void read_start_info(uint64_t info)
{
	const void *si = phys(info, SI_SIZE);

	if (RD32(si, SI_MAGIC) != SI_MAGIC_VALUE) {
		early_error("start-info-magic");
		return;
	}
	busy(info, SI_SIZE);
	uint32_t nmod = RD32(si, SI_NR_MODULES);
	uint64_t modlist = RD64(si, SI_MODLIST);
	uint64_t cmdline = RD64(si, SI_CMDLINE);
	uint32_t version = RD32(si, SI_VERSION);
	uint64_t memmap = version >= 1 ? RD64(si, SI_MEMMAP) : 0;
	uint32_t n = version >= 1 ? RD32(si, SI_MEMMAP_ENTRIES) : 0;

	if (nmod && modlist) {
		const void *m = phys(modlist, 32);

		bi.initrd_addr = RD64(m, 0);
		bi.initrd_size = RD64(m, 8);
		busy(modlist, 32ULL * nmod);
	}
	if (n > E820_MAX) {
		early_error("memmap-too-long");
		n = E820_MAX;
	}
	for (uint32_t i = 0; i < n; i++) {
		const void *e = phys(memmap + 24ULL * i, 24);

		bi.e820[i].addr = RD64(e, 0);
		bi.e820[i].size = RD64(e, 8);
		bi.e820[i].type = RD32(e, 16);
	}
	bi.e820_count = n;
	busy(memmap, 24ULL * n);
	set_cmdline(cmdline);
}

static void read_boot_params(uint64_t bp_pa)
{
	const uint8_t *bp = phys(bp_pa, 4096);
	uint32_t n = bp[BP_E820_ENTRIES];

	busy(bp_pa, 4096);
	bi.initrd_addr = RD32(bp, BP_RAMDISK_IMAGE) | (uint64_t)RD32(bp, BP_EXT_RAMDISK_IMAGE) << 32;
	bi.initrd_size = RD32(bp, BP_RAMDISK_SIZE) | (uint64_t)RD32(bp, BP_EXT_RAMDISK_SIZE) << 32;
	if (n > E820_MAX) {
		early_error("e820-too-long");
		n = E820_MAX;
	}
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *e = bp + BP_E820_TABLE + 20 * i;

		bi.e820[i].addr = RD64(e, 0);
		bi.e820[i].size = RD64(e, 8);
		bi.e820[i].type = RD32(e, 16);
	}
	bi.e820_count = n;
	set_cmdline(RD32(bp, BP_CMD_LINE_PTR) | (uint64_t)RD32(bp, BP_EXT_CMD_LINE_PTR) << 32);
}

static void report_e820(void)
{
	uint64_t usable = 0;

	probe_line("e820_count");
	con_dec(bi.e820_count);
	con_putc('\n');
	for (uint32_t i = 0; i < bi.e820_count; i++) {
		const struct e820 *e = &bi.e820[i];

		probe_line("e820");
		con_hex(e->addr);
		con_putc('-');
		con_hex(e->addr + e->size);
		con_putc(':');
		con_dec(e->type);
		con_putc('\n');
		if (e->type == 1)
			usable += e->size;
	}
	for (uint32_t i = 1; i < bi.e820_count; i++) {
		const struct e820 *a = &bi.e820[i - 1], *b = &bi.e820[i];

		if (b->addr < a->addr)
			probe_error("e820-unsorted");
		else if (b->addr < a->addr + a->size)
			probe_error("e820-overlap");
	}
	probe_line("mem_usable");
	con_dec(usable);
	con_putc('\n');
}

/* Write two patterns and restore: the region may hold us, the initrd or the cmdline. */
static int check_word(uint64_t pa)
{
	volatile uint64_t *p = phys(pa, 8);
	uint64_t old = *p, pat = 0x5aa5c33c0ff0a55aULL ^ pa;
	int ok;

	*p = pat;
	ok = *p == pat;
	*p = ~pat;
	ok &= *p == ~pat;
	*p = old;
	return ok;
}

static void report_mem_check(void)
{
	int ok = 1;

	for (uint32_t i = 0; i < bi.e820_count; i++) {
		const struct e820 *e = &bi.e820[i];
		uint64_t lo = e->addr < 0x100000 ? 0x100000 : e->addr;
		uint64_t hi = e->addr + e->size;

		if (e->type != 1 || hi < lo + 8)
			continue;
		uint64_t bad = !check_word(lo) ? lo : !check_word(hi - 8) ? hi - 8 : 0;

		if (bad) {
			probe_line("error");
			con_puts("mem-check-");
			con_hex(bad);
			con_putc('\n');
			ok = 0;
		}
	}
	if (ok)
		con_puts("PROBE mem_check=ok\n");
}

/* FNV-1a 64, a quadword load feeding eight bytes: the hash runs emulated. */
static uint64_t fnv_bytes(uint64_t h, const uint8_t *p, uint64_t n)
{
	const uint64_t prime = 0x100000001b3ULL;

	for (; n >= 8; n -= 8, p += 8) {
		uint64_t w = *(const u64u *)p;

		for (int i = 0; i < 8; i++, w >>= 8)
			h = (h ^ (w & 0xff)) * prime;
	}
	while (n--)
		h = (h ^ *p++) * prime;
	return h;
}

static void report_initrd(void)
{
	probe_line("initrd_size");
	con_dec(bi.initrd_size);
	con_putc('\n');
	if (!bi.initrd_size)
		return;
	uint64_t h = 0xcbf29ce484222325ULL;

	for (uint64_t off = 0; off < bi.initrd_size;) {
		uint64_t chunk = bi.initrd_size - off;

		if (chunk > 0x200000)
			chunk = 0x200000;
		h = fnv_bytes(h, phys(bi.initrd_addr + off, chunk), chunk);
		off += chunk;
	}
	probe_line("initrd_fnv");
	for (int i = 60; i >= 0; i -= 4)
		con_putc("0123456789abcdef"[(h >> i) & 15]);
	con_putc('\n');
	busy(bi.initrd_addr, bi.initrd_size);
}

static void report_hypervisor(void)
{
	uint32_t r[4];
	char sig[13];

	cpuid(0x40000000, r);
	*(u32u *)&sig[0] = r[1];
	*(u32u *)&sig[4] = r[2];
	*(u32u *)&sig[8] = r[3];
	sig[12] = 0;
	probe_line("hypervisor");
	con_puts(sig);
	con_putc('\n');
}

void probe_main(int kind, uint64_t info)
{
	static const char *const kinds[] = {"pvh", "bzimage", "elf"};

	bi.kind = kind;
	acpi_boot_kind = kind, acpi_boot_info = info;
	if (kind == BOOT_PVH)
		read_start_info(info);
	else
		read_boot_params(info);
	/* the slow path of probe.bench: the word was not first */
	if (cmdline_find(bi.cmdline, "probe.bench", 0)) {
		con_puts("PROBE hello\n");
		triple_fault();
	}
	probe_line("boot");
	con_puts(kinds[kind]);
	con_putc('\n');
	for (int i = 0; i < nearly; i++)
		probe_error(early_errors[i]);
	probe_line("cmdline");
	con_puts(bi.cmdline);
	con_putc('\n');
	mode_check(bi.cmdline);
	report_e820();
	report_mem_check();
	report_initrd();
	report_hypervisor();
	mp_report();
	/* rx-flood needs a second CPU to work for it (hostile_net.c). */
	ap_park = cmdline_find(bi.cmdline, "probe.hostile=rx-flood", 0);
	smp_report(&bi);
	/* kvmrun's boot timer: the byte an init writes to say it has started. */
	if (cmdline_find(bi.cmdline, "probe.boot_timer", 0)) {
		*(volatile uint8_t *)0xd1000000ULL = 123;
		con_puts("PROBE boot_timer=signalled\n");
	}
	con_puts("PROBE done\n");
	mode_run(bi.cmdline);
}
