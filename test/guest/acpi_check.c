// SPDX-License-Identifier: Apache-2.0
/* probe guest: find the ACPI tables (handed over and by the legacy scan), check them, use their PM registers. */
#include "acpi_check.h"

#include "probe.h"

#define SI_RSDP 0x20 /* hvm_start_info.rsdp_paddr */
#define MAX_TABLE 0x100000u /* a longer table is treated as corrupt */
#define MAX_ENTRIES 64
#define FADT_FLAGS 112
#define FADT_RESET_REG 116
#define FADT_RESET_VALUE 128
#define FADT_DSDT 40
#define FADT_X_DSDT 140
#define FADT_SLEEP_CONTROL 244
#define FLAG_RESET_REG_SUP (1u << 10)
#define FLAG_HW_REDUCED (1u << 20)
#define GAS_MEMORY 0
#define GAS_IO 1

int acpi_boot_kind = 0;
uint64_t acpi_boot_info = 0;

typedef uint16_t __attribute__((aligned(1), may_alias)) u16u;
typedef uint32_t __attribute__((aligned(1), may_alias)) u32u;
typedef uint64_t __attribute__((aligned(1), may_alias)) u64u;

static int errors = 0;

static void error(const char *reason)
{
	probe_error(reason);
	errors++;
}

/* "acpi-checksum-" and the table's signature (printable or not). */
static void table_error(const char *what, const uint8_t *sig)
{
	probe_line("error");
	con_puts(what);
	for (int i = 0; i < 4; i++)
		con_putc(sig[i] >= 0x21 && sig[i] < 0x7f ? (char)sig[i] : '?');
	con_putc('\n');
	errors++;
}

static uint8_t sum8(const uint8_t *p, uint32_t n)
{
	uint8_t s = 0;

	while (n--)
		s += *p++;
	return s;
}

static int same(const uint8_t *p, const char *s, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (p[i] != (uint8_t)s[i])
			return 0;
	return 1;
}

/* Hide a constant address from gcc's array-bounds reasoning. */
static inline const uint8_t *low(uint64_t pa)
{
	__asm__("" : "+r"(pa));
	return (const uint8_t *)pa;
}

/* "RSD PTR " with a good ACPI 1.0 checksum on a 16-byte boundary in [start, start+len). */
static uint64_t scan(uint64_t start, uint64_t len)
{
	for (uint64_t a = start; a + 20 <= start + len; a += 16) {
		const uint8_t *p = low(a);

		if (!same(p, "RSD PTR ", 8))
			continue;
		if (sum8(p, 20)) {
			error("acpi-rsdp-checksum");
			continue;
		}
		return a;
	}
	return 0;
}

/* Where an OS looks without being told: the EBDA's first KiB, then 0xe0000-0xfffff. */
static uint64_t legacy_scan(void)
{
	uint64_t ebda = (uint64_t)*(const uint16_t *)low(0x40e) << 4, a = 0;

	if (ebda >= 0x400 && ebda < 0xa0000)
		a = scan(ebda, 1024);
	return a ? a : scan(0xe0000, 0x20000);
}

static uint64_t given_rsdp(void)
{
	if (acpi_boot_kind == BOOT_PVH) {
		const uint8_t *si = phys(acpi_boot_info, SI_SIZE);

		return *(const u32u *)si == SI_MAGIC_VALUE ? *(const u64u *)(si + SI_RSDP) : 0;
	}
	return *(const u64u *)((const uint8_t *)phys(acpi_boot_info, 4096) + BP_ACPI_RSDP);
}

/* A checked table: its bytes (valid until the next phys() above 4 GiB) or 0. */
static const uint8_t *table(uint64_t pa, uint32_t *len)
{
	const uint8_t *h = phys(pa, 36);
	uint32_t n = *(const u32u *)(h + 4);

	if (n < 36 || n > MAX_TABLE) {
		table_error("acpi-length-", h);
		return 0;
	}
	h = phys(pa, n);
	if (sum8(h, n)) {
		table_error("acpi-checksum-", h);
		return 0;
	}
	*len = n;
	return h;
}

/* What the FADT and DSDT say about power-off and reset, kept for the action. */
static uint64_t fadt_pa = 0, dsdt_pa = 0;
static uint32_t fadt_len = 0, dsdt_len = 0;

/* Check the RSDP, the XSDT (or RSDT) and every table in it, and the DSDT. Returns the count. */
static int check_tables(uint64_t rsdp)
{
	const uint8_t *r = phys(rsdp, 36);
	int n = 0, wide = r[15] >= 2;
	uint64_t root;

	if (sum8(r, 20))
		error("acpi-rsdp-checksum");
	if (wide && (*(const u32u *)(r + 20) < 36 || sum8(r, *(const u32u *)(r + 20)) != 0))
		error("acpi-rsdp-ext-checksum");
	root = wide ? *(const u64u *)(r + 24) : *(const u32u *)(r + 16);
	if (!root) {
		error("acpi-no-xsdt");
		return 0;
	}
	uint32_t len;
	const uint8_t *x = table(root, &len);

	if (!x)
		return 0;
	if (!same(x, wide ? "XSDT" : "RSDT", 4)) {
		error("acpi-xsdt-signature");
		return 0;
	}
	n++;
	uint32_t esize = wide ? 8 : 4, count = (len - 36) / esize;
	uint64_t entries[MAX_ENTRIES];

	if (count > MAX_ENTRIES) {
		error("acpi-xsdt-too-long");
		count = MAX_ENTRIES;
	}
	/* copy first: reading a table may move the window the XSDT sits in */
	for (uint32_t i = 0; i < count; i++)
		entries[i] = wide ? *(const u64u *)(x + 36 + 8 * i) : *(const u32u *)(x + 36 + 4 * i);
	for (uint32_t i = 0; i < count; i++) {
		const uint8_t *t = table(entries[i], &len);

		if (!t)
			continue;
		n++;
		if (same(t, "FACP", 4) && !fadt_pa) {
			fadt_pa = entries[i], fadt_len = len;
			uint64_t d = len >= FADT_X_DSDT + 8 ? *(const u64u *)(t + FADT_X_DSDT) : 0;

			dsdt_pa = d ? d : *(const u32u *)(t + FADT_DSDT);
		}
	}
	if (!fadt_pa) {
		error("acpi-no-facp");
		return n;
	}
	const uint8_t *d = dsdt_pa ? table(dsdt_pa, &dsdt_len) : 0;

	if (!dsdt_pa)
		error("acpi-no-dsdt");
	else if (d && !same(d, "DSDT", 4))
		error("acpi-dsdt-signature");
	else if (d)
		n++;
	if (!d)
		dsdt_pa = 0;
	return n;
}

/* SLP_TYPa from Name (\_S5_, Package () { typ, ... }), or -1. */
static int s5_type(void)
{
	const uint8_t *d = dsdt_pa ? phys(dsdt_pa, dsdt_len) : 0;

	for (uint32_t i = 36; d && i + 8 < dsdt_len; i++) {
		if (!same(d + i, "_S5_", 4) || d[i + 4] != 0x12)
			continue;
		const uint8_t *p = d + i + 5;

		p += (p[0] >> 6) + 1; /* PkgLength */
		if (p[0] == 0)        /* no elements */
			return -1;
		p++;
		return p[0] == 0x00 ? 0 : p[0] == 0x01 ? 1 : p[0] == 0x0a ? p[1] : -1;
	}
	return -1;
}

/* Write one byte to a Generic Address Structure in I/O or memory space. */
static int gas_write(const uint8_t *gas, uint8_t v)
{
	uint64_t a = *(const u64u *)(gas + 4);

	if (!a)
		return -1;
	if (gas[0] == GAS_IO && a < 0x10000)
		outb((uint16_t)a, v);
	else if (gas[0] == GAS_MEMORY)
		*(volatile uint8_t *)phys(a, 1) = v;
	else
		return -1;
	return 0;
}

static void poweroff(void)
{
	const uint8_t *f = phys(fadt_pa, fadt_len);
	int typ = s5_type();

	if (typ < 0) {
		probe_error("acpi-no-s5");
		return;
	}
	if (!(*(const u32u *)(f + FADT_FLAGS) & FLAG_HW_REDUCED) ||
	    fadt_len < FADT_SLEEP_CONTROL + 12 ||
	    gas_write(f + FADT_SLEEP_CONTROL, (uint8_t)((typ & 7) << 2 | 0x20)) < 0) {
		probe_error("acpi-no-sleep-control");
		return;
	}
	delay_tsc(30000000);
	probe_error("acpi-poweroff-ignored");
}

static void reset(void)
{
	const uint8_t *f = phys(fadt_pa, fadt_len);

	if (fadt_len <= FADT_RESET_VALUE || !(*(const u32u *)(f + FADT_FLAGS) & FLAG_RESET_REG_SUP) ||
	    gas_write(f + FADT_RESET_REG, f[FADT_RESET_VALUE]) < 0) {
		probe_error("acpi-no-reset-reg");
		return;
	}
	delay_tsc(30000000);
	probe_error("acpi-reset-ignored");
}

void mode_acpi(void)
{
	const char *cmdline = "", *action = 0;
	uint64_t given = given_rsdp(), found;

	probe_line("acpi_rsdp");
	con_hex(given);
	con_putc('\n');
	found = legacy_scan();
	probe_line("acpi_scan");
	con_hex(found);
	con_putc('\n');
	if (!given && !found) {
		con_puts("PROBE acpi=none\n");
		return;
	}
	if (given && found && given != found)
		error("acpi-rsdp-mismatch");
	int n = check_tables(given ? given : found);

	probe_line("acpi");
	con_puts(errors ? "bad" : "ok");
	con_puts(" tables=");
	con_dec((uint64_t)n);
	con_putc('\n');

	/* the command line again: modes get no arguments */
	if (acpi_boot_kind == BOOT_PVH) {
		const uint8_t *si = phys(acpi_boot_info, SI_SIZE);
		uint64_t c = *(const u64u *)(si + SI_CMDLINE);

		if (c && c < 0x100000000ULL)
			cmdline = (const char *)c;
	} else {
		const uint8_t *bp = phys(acpi_boot_info, 4096);

		if (!*(const u32u *)(bp + BP_EXT_CMD_LINE_PTR))
			cmdline = (const char *)(uint64_t) * (const u32u *)(bp + BP_CMD_LINE_PTR);
	}
	if (!fadt_pa || !cmdline_find(cmdline, "probe.acpi=", &action))
		return;
	if (word_eq(action, "poweroff"))
		poweroff();
	else if (word_eq(action, "reset"))
		reset();
}
