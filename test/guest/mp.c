// SPDX-License-Identifier: Apache-2.0
/* probe guest: the MP table (checked, not trusted) and AP start-up through INIT/SIPI/SIPI. */
#include "probe.h"

#define MP_FP_SIG 0x5f504d5f  /* "_MP_" */
#define MP_CFG_SIG 0x504d4350 /* "PCMP" */
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define LAPIC_SVR 0xf0
#define ICR_BUSY (1u << 12)

/* Rough TSC rates: only bounds, so being off by 3x is harmless. */
#define TSC_MS 3000000ULL

volatile uint32_t ap_count = 0;
volatile uint32_t ap_park = 0;
void (*volatile ap_work)(void) = 0;
volatile uint8_t ap_seen[256] = {0};

static uint8_t cpu_ids[256] = {0};
static int ncpus = 0;

/* Hide a constant address from gcc's array-bounds reasoning. */
static inline const uint8_t *low(uint64_t pa)
{
	__asm__("" : "+r"(pa));
	return (const uint8_t *)pa;
}

static uint8_t sum8(const uint8_t *p, uint32_t n)
{
	uint8_t s = 0;

	while (n--)
		s += *p++;
	return s;
}

static const uint8_t *scan(uint64_t start, uint64_t len)
{
	for (uint64_t a = start; a + 16 <= start + len; a += 16) {
		const uint8_t *p = low(a);

		if (*(const uint32_t *)p != MP_FP_SIG)
			continue;
		if (p[8] == 0 || sum8(p, p[8] * 16u)) {
			probe_error("mp-fp-checksum");
			continue;
		}
		return p;
	}
	return 0;
}

static const uint8_t *find_fp(void)
{
	uint64_t ebda = (uint64_t)*(const uint16_t *)low(0x40e) << 4;
	const uint8_t *fp = 0;

	if (ebda >= 0x400 && ebda < 0xa0000)
		fp = scan(ebda, 1024);
	if (!fp)
		fp = scan(0x9fc00, 1024);
	if (!fp)
		fp = scan(0xf0000, 0x10000);
	return fp;
}

/* Walk the entries; collect enabled processors and the first IOAPIC. */
static void walk(const uint8_t *cfg, uint32_t len, uint64_t *ioapic)
{
	const uint8_t *p = cfg + 44, *end = cfg + len;
	uint32_t count = *(const uint16_t *)(cfg + 34);

	for (uint32_t i = 0; i < count; i++) {
		uint32_t size = p < end ? (p[0] == 0 ? 20 : p[0] <= 4 ? 8 : 0) : 0;

		if (!size || p + size > end) {
			probe_error("mp-bad-entry");
			return;
		}
		if (p[0] == 0 && (p[3] & 1) && ncpus < 256)
			cpu_ids[ncpus++] = p[1];
		if (p[0] == 2 && !*ioapic)
			*ioapic = *(const uint32_t *)(p + 4);
		p += size;
	}
	if (p != end)
		probe_error("mp-entry-count"); /* length and count disagree */
}

void mp_report(void)
{
	const uint8_t *fp = find_fp();
	uint64_t ioapic = 0;

	if (!fp) {
		probe_error("no-mp-table");
	} else if (fp[11]) {
		probe_error("mp-default-config");
	} else {
		const uint8_t *cfg = low(*(const uint32_t *)(fp + 4));
		uint32_t len = *(const uint16_t *)(cfg + 4);

		if (!cfg || *(const uint32_t *)cfg != MP_CFG_SIG || len < 44)
			probe_error("mp-no-pcmp");
		else if (sum8(cfg, len))
			probe_error("mp-pcmp-checksum");
		else
			walk(cfg, len, &ioapic);
	}
	probe_line("mp_cpus");
	con_dec(ncpus);
	con_putc('\n');
	probe_line("mp_ioapic");
	con_hex(ioapic);
	con_putc('\n');
}

static int overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* A usable page below 1 MiB that holds nothing the monitor handed over. */
static uint64_t trampoline_page(const struct bootinfo *bi)
{
	for (uint64_t pg = 0x1000; pg < 0xa0000; pg += 0x1000) {
		int ram = 0, used = 0;

		for (uint32_t i = 0; i < bi->e820_count; i++) {
			const struct e820 *e = &bi->e820[i];

			if (e->type == 1 && e->addr <= pg && pg + 0x1000 <= e->addr + e->size)
				ram = 1;
		}
		for (int i = 0; i < bi->nbusy; i++)
			used |= overlaps(pg, 0x1000, bi->busy[i][0], bi->busy[i][1]);
		if (ram && !used)
			return pg;
	}
	return 0;
}

static int icr_send(uint64_t apic, uint8_t dest, uint32_t lo)
{
	mmio_write32(apic + LAPIC_ICR_HI, (uint32_t)dest << 24);
	mmio_write32(apic + LAPIC_ICR_LO, lo);
	for (int i = 0; i < 100000; i++)
		if (!(mmio_read32(apic + LAPIC_ICR_LO) & ICR_BUSY))
			return 0;
	return -1;
}

static int wait_ap(uint8_t id, uint64_t cycles)
{
	uint64_t t0 = rdtsc();

	while (!ap_seen[id] && rdtsc() - t0 < cycles)
		cpu_relax();
	return ap_seen[id];
}

/* INIT, SIPI, SIPI as the MP spec says, with a bounded wait for the AP. */
static void start_ap(uint64_t apic, uint8_t id, uint64_t page)
{
	uint32_t sipi = 0x4600 | (uint32_t)(page >> 12);

	if (icr_send(apic, id, 0x4500) < 0)
		probe_error("icr-busy");
	delay_tsc(10 * TSC_MS);
	icr_send(apic, id, sipi);
	if (!wait_ap(id, TSC_MS / 5)) {
		icr_send(apic, id, sipi);
		if (!wait_ap(id, 1000 * TSC_MS)) {
			probe_line("error");
			con_puts("ap-timeout-");
			con_dec(id);
			con_putc('\n');
		}
	}
}

void smp_report(const struct bootinfo *bi)
{
	uint32_t r[4];
	uint64_t apic = rdmsr(0x1b) & 0xffffff000ULL;
	uint64_t page = 0;

	cpuid(1, r);
	uint8_t bsp = r[1] >> 24;

	for (int i = 0; i < ncpus; i++) {
		if (cpu_ids[i] == bsp)
			continue;
		if (!page) {
			page = trampoline_page(bi);
			if (!page || apic >= 0x100000000ULL) {
				probe_error(page ? "lapic-above-4g" : "no-trampoline-page");
				break;
			}
			memcpy((void *)page, tramp_start, (size_t)(tramp_end - tramp_start));
			mmio_write32(apic + LAPIC_SVR, 0x1ff);
		}
		start_ap(apic, cpu_ids[i], page);
	}
	probe_line("cpus_up");
	con_dec(1 + ap_count);
	con_putc('\n');
}
