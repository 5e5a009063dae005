// SPDX-License-Identifier: Apache-2.0
/* Unit tests for the ACPI tables and the PM ports: checked from the bytes, as a guest would read them. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acpi.h"
#include "acpi_pm.h"
#include "mem.h"

#define RAM (1u << 20) /* fake guest RAM: the low 1 MiB, where the tables live */

static int failures;

static bool check(bool ok, const char *name, const char *fmt, ...)
{
	if (ok) {
		printf("PASS unit/acpi/%s\n", name);
		return true;
	}
	va_list ap;
	va_start(ap, fmt);
	printf("FAIL unit/acpi/%s: ", name);
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	failures++;
	return false;
}

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	while (n--)
		s += *p++;
	return s;
}

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

/* A table found in the fake RAM: where it is, and whether its header holds up. */
struct tbl {
	const uint8_t *p;
	uint32_t len;
};

/* Errors go into why; returns false when the table at gpa is not a whole, checksummed table. */
static bool table_at(const struct guest_mem *m, uint64_t gpa, const char *sig, struct tbl *t,
		     char *why, size_t wl)
{
	const uint8_t *h = mem_gpa(m, gpa, 36);
	if (!h)
		return snprintf(why, wl, "%s at 0x%llx: outside RAM", sig, (unsigned long long)gpa),
		       false;
	t->len = rd32(h + 4);
	if (memcmp(h, sig, 4) || t->len < 36 || !(t->p = mem_gpa(m, gpa, t->len)))
		return snprintf(why, wl, "%s at 0x%llx: bad signature or length %u", sig,
				(unsigned long long)gpa, t->len),
		       false;
	if (sum(t->p, t->len))
		return snprintf(why, wl, "%s: checksum does not sum to 0", sig), false;
	if (gpa < ACPI_BASE || gpa + t->len > ACPI_BASE + ACPI_SIZE)
		return snprintf(why, wl, "%s: outside the ACPI area", sig), false;
	return true;
}

/* ---- an AML reader, independent of the generator: structure and device census ---- */

struct census {
	int lnro, cpus, com1, kbd, s5, vgen, ged, evt, bad;
	uint64_t addr[2]; /* the last ADDR package: VGEN's ID address, low and high */
	uint32_t gsis[64];
	uint64_t bases[64];
	char why[200];
};

static bool aml_bad(struct census *c, const char *what, size_t at)
{
	if (!c->bad++)
		snprintf(c->why, sizeof(c->why), "%s at AML offset %zu", what, at);
	return false;
}

/* PkgLength at *i; returns the end offset it declares, or 0. */
static size_t pkg_end(const uint8_t *p, size_t *i, size_t limit)
{
	size_t start = *i, n = (p[*i] >> 6) + 1, len;
	if (n == 1) {
		len = p[*i] & 0x3f;
	} else {
		if (p[*i] & 0x30)
			return 0; /* bits 5:4 must be zero in a multi-byte encoding */
		len = p[*i] & 0x0f;
		for (size_t k = 1; k < n; k++)
			len |= (size_t)p[*i + k] << (4 + 8 * (k - 1));
	}
	*i += n;
	return start + len <= limit && len >= n ? start + len : 0;
}

static size_t name_string(const uint8_t *p, size_t i, char out[5])
{
	while (p[i] == '\\' || p[i] == '^')
		i++;
	size_t segs = 1;
	if (p[i] == 0x2e)
		segs = 2, i++;
	else if (p[i] == 0x2f)
		segs = p[i + 1], i += 2;
	else if (p[i] == 0)
		return i + 1;
	memcpy(out, p + i + 4 * (segs - 1), 4); /* last segment */
	out[4] = 0;
	return i + 4 * segs;
}

static size_t data_object(const uint8_t *p, size_t i, size_t end, struct census *c,
			  const char *name, uint64_t *ival, const char **sval);

/* The Device or Scope body [i, end): Name() and nested Device() objects only. */
static bool term_list(const uint8_t *p, size_t i, size_t end, struct census *c, bool is_device)
{
	const char *hid = NULL;
	uint64_t hid_int = 0, uid = ~0ull;
	while (i < end) {
		char name[5] = "";
		if (p[i] == 0x08) { /* Name */
			uint64_t iv = ~0ull;
			const char *sv = NULL;
			i = name_string(p, i + 1, name);
			i = data_object(p, i, end, c, name, &iv, &sv);
			if (!i)
				return false;
			if (!strcmp(name, "_HID"))
				hid = sv, hid_int = iv;
			if (!strcmp(name, "_UID"))
				uid = iv;
		} else if (p[i] ==
			   0x14) { /* Method: only the GED's _EVT, exactly as acpi.c writes it */
			size_t at = i + 1, e = pkg_end(p, &at, end);
			if (!e)
				return aml_bad(c, "PkgLength past its parent", i);
			at = name_string(p, at, name);
			static const uint8_t want_head[] = { 0x09,
							     0xa0 }; /* 1 arg, serialized; If */
			static const uint8_t want_body[] = { 0x93, 0x68, 0x0a, GED_GSI, 0x86, '\\',
							     0x2e, '_',	 'S',  'B',	'_',  'V',
							     'G',  'E',	 'N',  0x0a,	0x80 };
			if (strcmp(name, "_EVT") || at + 3 > e || memcmp(p + at, want_head, 2))
				return aml_bad(c, "a method other than the GED's _EVT", i);
			at += 2;
			size_t ie = pkg_end(p, &at, e);
			if (ie != e || e - at != sizeof(want_body) ||
			    memcmp(p + at, want_body, e - at))
				return aml_bad(
					c, "_EVT is not If (Arg0 == GSI) Notify (\\_SB.VGEN, 0x80)",
					i);
			c->evt++;
			i = e;
		} else if (p[i] == 0x10 || (p[i] == 0x5b && p[i + 1] == 0x82)) {
			bool dev = p[i] == 0x5b;
			i += dev ? 2 : 1;
			size_t e = pkg_end(p, &i, end);
			if (!e)
				return aml_bad(c, "PkgLength past its parent", i);
			i = name_string(p, i, name);
			if (!term_list(p, i, e, c, dev))
				return false;
			i = e;
		} else {
			return aml_bad(c, "unexpected opcode", i);
		}
	}
	if (i != end)
		return aml_bad(c, "objects overrun their package", i);
	if (is_device && hid && !strcmp(hid, "LNRO0005"))
		c->lnro++;
	else if (is_device && hid && !strcmp(hid, "ACPI0007") && uid == (uint64_t)c->cpus)
		c->cpus++;
	else if (is_device && hid_int == 0x0105d041 && uid == 0)
		c->com1++;
	else if (is_device && hid_int == 0x0303d041 && uid == 0) /* PNP0303, the i8042 */
		c->kbd++;
	else if (is_device && hid && !strcmp(hid, "KVMR0001") && c->addr[0] == VMGENID_GPA &&
		 c->addr[1] == 0)
		c->vgen++;
	else if (is_device && hid && !strcmp(hid, "ACPI0013") && uid == 0)
		c->ged++;
	else if (is_device)
		return aml_bad(c, "device without a known _HID/_UID", i);
	return true;
}

static size_t integer(const uint8_t *p, size_t i, uint64_t *v)
{
	static const size_t width[] = { [0x0a] = 1, [0x0b] = 2, [0x0c] = 4, [0x0e] = 8 };
	if (p[i] == 0x00 || p[i] == 0x01) {
		*v = p[i];
		return i + 1;
	}
	if (p[i] > 0x0e || !width[p[i]])
		return 0;
	*v = 0;
	for (size_t k = 0; k < width[p[i]]; k++)
		*v |= (uint64_t)p[i + 1 + k] << (8 * k);
	return i + 1 + width[p[i]];
}

/* Resource descriptors of a _CRS buffer [i, end): each must be whole, ending in an End Tag. */
static bool resources(const uint8_t *p, size_t i, size_t end, struct census *c)
{
	while (i < end) {
		uint8_t tag = p[i];
		if (tag == 0x79)
			return i + 2 == end ? true : aml_bad(c, "bytes after the End Tag", i);
		size_t len = tag & 0x80 ? 3u + (p[i + 1] | p[i + 2] << 8) : 1u + (tag & 7);
		if (i + len > end)
			return aml_bad(c, "descriptor past the buffer", i);
		if (tag == 0x86 && c->lnro < 64)
			c->bases[c->lnro] = rd32(p + i + 4);
		if (tag == 0x89 && c->lnro < 64) {
			if (p[i + 3] != 0x03 || p[i + 4] != 1)
				return aml_bad(c, "interrupt not consumer/edge/high/exclusive", i);
			c->gsis[c->lnro] = rd32(p + i + 5);
		}
		i += len;
	}
	return aml_bad(c, "no End Tag", i);
}

static size_t data_object(const uint8_t *p, size_t i, size_t end, struct census *c,
			  const char *name, uint64_t *ival, const char **sval)
{
	if (p[i] == 0x0d) { /* String */
		*sval = (const char *)p + i + 1;
		size_t n = strnlen(*sval, end - i - 1);
		return i + 1 + n < end ? i + 2 + n : (aml_bad(c, "unterminated string", i), 0);
	}
	if (p[i] == 0x11 || p[i] == 0x12) { /* Buffer, Package */
		bool buf = p[i] == 0x11;
		size_t at = i + 1, e = pkg_end(p, &at, end);
		uint64_t n;
		if (!e)
			return aml_bad(c, "PkgLength past its parent", i), 0;
		if (buf) {
			if (!(at = integer(p, at, &n)) || at + n != e)
				return aml_bad(c, "buffer size disagrees with its PkgLength", i), 0;
			if (!strcmp(name, "_CRS") && !resources(p, at, e, c))
				return 0;
		} else {
			uint8_t count = p[at++];
			for (uint8_t k = 0; k < count; k++) {
				if (!(at = integer(p, at, &n)) || at > e)
					return aml_bad(c, "package element", i), 0;
				if (!strcmp(name, "ADDR") && count == 2)
					c->addr[k] = n;
			}
			if (at != e)
				return aml_bad(c, "package length", i), 0;
			if (!strcmp(name, "_S5_") && count == 4 && p[i + 3] == 0x0a &&
			    p[i + 4] == ACPI_SLP_TYP_S5)
				c->s5++;
		}
		return e;
	}
	size_t r = integer(p, i, ival);
	return r ? r : (aml_bad(c, "unknown data object", i), 0);
}

/* ---- the table checks ---- */

static const uint8_t *legacy_scan(const struct guest_mem *m)
{
	for (uint64_t a = 0xe0000; a < 0x100000; a += 16) {
		const uint8_t *p = mem_gpa(m, a, 36);
		if (p && !memcmp(p, "RSD PTR ", 8) && !sum(p, 20))
			return p;
	}
	return NULL;
}

static void check_config(int ncpus, int nvirtio)
{
	struct guest_mem m = { .host = calloc(1, RAM), .size = RAM, .low_size = RAM };
	struct acpi_dev devs[16];
	char name[64], why[256] = "";
	struct tbl xsdt = { 0 }, fadt = { 0 }, madt = { 0 }, dsdt = { 0 };

	for (int i = 0; i < nvirtio; i++)
		devs[i] = (struct acpi_dev){ 0xd0000000u + 0x1000u * (unsigned)i, 0x1000,
					     5u + (unsigned)i };
	struct acpi_config c = { ncpus, devs, nvirtio };
	snprintf(name, sizeof(name), "tables-%dcpu-%ddev", ncpus, nvirtio);

	uint64_t rsdp_gpa = acpi_write(&m, ACPI_BASE, ACPI_SIZE, &c);
	const uint8_t *rsdp = legacy_scan(&m);
	bool ok = rsdp_gpa == ACPI_BASE && rsdp == m.host + ACPI_BASE;
	if (!ok)
		snprintf(why, sizeof(why), "acpi_write gave 0x%llx; legacy scan %s",
			 (unsigned long long)rsdp_gpa,
			 rsdp ? "found it elsewhere" : "found nothing");
	else if (rsdp[15] != 2 || rd32(rsdp + 20) != 36 || sum(rsdp, 36) || rd32(rsdp + 16) != 0)
		ok = false, snprintf(why, sizeof(why), "RSDP revision/length/extended checksum");
	ok = ok && table_at(&m, rd64(rsdp + 24), "XSDT", &xsdt, why, sizeof(why));
	/* XSDT entries: exactly the FADT and the MADT, each a whole table. */
	if (ok && xsdt.len != 36 + 16)
		ok = false,
		snprintf(why, sizeof(why), "XSDT has %u bytes, want 2 entries", xsdt.len);
	ok = ok && table_at(&m, rd64(xsdt.p + 36), "FACP", &fadt, why, sizeof(why));
	ok = ok && table_at(&m, rd64(xsdt.p + 44), "APIC", &madt, why, sizeof(why));
	if (ok && (fadt.len != 276 || fadt.p[8] != 6))
		ok = false,
		snprintf(why, sizeof(why), "FADT length %u revision %u", fadt.len, fadt.p[8]);
	ok = ok && table_at(&m, rd64(fadt.p + 140), "DSDT", &dsdt, why, sizeof(why));
	if (!check(ok, name, "%s", why))
		goto out;

	/* FADT: hardware-reduced, reset register supported, the registers on our ports. */
	uint32_t flags = rd32(fadt.p + 112);
	const uint8_t *reset = fadt.p + 116, *sctl = fadt.p + 244, *ssts = fadt.p + 256;
	snprintf(name, sizeof(name), "fadt-%dcpu-%ddev", ncpus, nvirtio);
	check((flags & (1u << 20)) && (flags & (1u << 10)) && reset[0] == 1 &&
		      rd64(reset + 4) == ACPI_RESET_PORT && fadt.p[128] == ACPI_RESET_VALUE &&
		      sctl[0] == 1 && rd64(sctl + 4) == ACPI_SLEEP_CONTROL_PORT && ssts[0] == 1 &&
		      rd64(ssts + 4) == ACPI_SLEEP_STATUS_PORT && rd32(fadt.p + 40) == 0 &&
		      (fadt.p[109] & 2),
	      name, "flags 0x%x, reset/sleep registers or boot flags wrong", flags);

	/* MADT: one enabled local APIC per vCPU (ids 0..n-1), the IOAPIC, an NMI entry. */
	int lapics = 0, ioapics = 0, nmis = 0, others = 0;
	size_t at = 44;
	bool walk_ok = rd32(madt.p + 36) == 0xfee00000u && (rd32(madt.p + 40) & 1);
	while (walk_ok && at + 2 <= madt.len) {
		const uint8_t *e = madt.p + at;
		if (e[1] < 2 || at + e[1] > madt.len) {
			walk_ok = false;
			break;
		}
		if (e[0] == 0 && e[1] == 8 && e[2] == lapics && e[3] == lapics && rd32(e + 4) == 1)
			lapics++;
		else if (e[0] == 1 && e[1] == 12 && e[2] == ncpus && rd32(e + 4) == 0xfec00000u &&
			 rd32(e + 8) == 0)
			ioapics++;
		else if (e[0] == 4 && e[1] == 6 && e[2] == 0xff && e[5] == 1)
			nmis++;
		else
			others++;
		at += e[1];
	}
	snprintf(name, sizeof(name), "madt-%dcpu-%ddev", ncpus, nvirtio);
	check(walk_ok && at == madt.len && lapics == ncpus && ioapics == 1 && nmis == 1 && !others,
	      name, "walk %s at %zu/%u: %d local APICs, %d IOAPICs, %d NMIs, %d others",
	      walk_ok ? "ok" : "broken", at, madt.len, lapics, ioapics, nmis, others);

	/* DSDT: the AML parses to its end; the devices are all there, with their resources. */
	struct census cs = { 0 };
	size_t i = 36;
	while (i < dsdt.len && !cs.bad) {
		char nm[5] = "";
		uint64_t iv;
		const char *sv;
		if (dsdt.p[i] == 0x08) {
			i = name_string(dsdt.p, i + 1, nm);
			i = data_object(dsdt.p, i, dsdt.len, &cs, nm, &iv, &sv);
		} else if (dsdt.p[i] == 0x10) {
			size_t j = i + 1, e = pkg_end(dsdt.p, &j, dsdt.len);
			if (!e) {
				aml_bad(&cs, "scope PkgLength", i);
				break;
			}
			j = name_string(dsdt.p, j, nm);
			if (strcmp(nm, "_SB_") || !term_list(dsdt.p, j, e, &cs, false))
				aml_bad(&cs, "scope", i);
			i = e;
		} else {
			aml_bad(&cs, "top-level opcode", i);
		}
		if (!i)
			break;
	}
	bool devs_ok = !cs.bad && i == dsdt.len && cs.lnro == nvirtio && cs.cpus == ncpus &&
		       cs.com1 == 1 && cs.kbd == 1 && cs.s5 == 1 && cs.vgen == 1 && cs.ged == 1 &&
		       cs.evt == 1 && cs.gsis[nvirtio] == GED_GSI;
	for (int k = 0; devs_ok && k < nvirtio; k++)
		devs_ok = cs.bases[k] == devs[k].base && cs.gsis[k] == devs[k].gsi;
	snprintf(name, sizeof(name), "dsdt-%dcpu-%ddev", ncpus, nvirtio);
	check(devs_ok, name,
	      "%s; %d LNRO0005, %d CPUs, %d COM1, %d KBD, %d _S5_, %d VGEN, %d GED (%d _EVT, GSI "
	      "%u) (%u bytes)",
	      cs.bad ? cs.why : "census", cs.lnro, cs.cpus, cs.com1, cs.kbd, cs.s5, cs.vgen, cs.ged,
	      cs.evt, cs.gsis[nvirtio], dsdt.len);
out:
	free(m.host);
}

static void check_rejects(void)
{
	struct guest_mem m = { .host = calloc(1, RAM), .size = RAM, .low_size = RAM };
	struct acpi_dev d = { 0xd0000000u, 0x1000, 5 };
	struct acpi_config c = { 1, &d, 1 };

	check(acpi_write(&m, ACPI_BASE, ACPI_SIZE, &c) == ACPI_BASE, "accepts-baseline", "failed");
	c.ncpus = 0;
	check(!acpi_write(&m, ACPI_BASE, ACPI_SIZE, &c), "rejects-0-cpus", "accepted");
	c.ncpus = MAX_CPUS + 1;
	check(!acpi_write(&m, ACPI_BASE, ACPI_SIZE, &c), "rejects-255-cpus", "accepted");
	c.ncpus = 1, d.gsi = IOAPIC_PINS;
	check(!acpi_write(&m, ACPI_BASE, ACPI_SIZE, &c), "rejects-gsi-24", "accepted");
	d.gsi = 5, d.base = 0x100000000ull;
	check(!acpi_write(&m, ACPI_BASE, ACPI_SIZE, &c), "rejects-window-above-4g", "accepted");
	d.base = 0xfffff000u, d.size = 0x2000;
	check(!acpi_write(&m, ACPI_BASE, ACPI_SIZE, &c), "rejects-window-wrapping-4g", "accepted");
	d.base = 0xd0000000u, d.size = 0x1000;
	check(!acpi_write(&m, ACPI_BASE + 8, ACPI_SIZE - 16, &c), "rejects-unaligned", "accepted");
	check(!acpi_write(&m, RAM - 0x1000, 0x2000, &c), "rejects-outside-ram", "accepted");
	c.nvirtio = -1;
	check(!acpi_write(&m, ACPI_BASE, ACPI_SIZE, &c), "rejects-negative-count", "accepted");

	/* Too little room: refused, and nothing written past the room (a canary stays). */
	c.nvirtio = 1;
	bool room_ok = true;
	for (uint64_t room = 0; room < 0x400 && room_ok; room += 8) {
		memset(m.host + ACPI_BASE, 0xa5, 0x1000);
		uint64_t r = acpi_write(&m, ACPI_BASE, room, &c);
		for (uint64_t k = room; k < 0x1000 && room_ok; k++)
			room_ok = m.host[ACPI_BASE + k] == 0xa5;
		if (r && room < 0x200)
			room_ok = false;
	}
	check(room_ok, "small-room-stays-inside", "wrote past the room or fit impossibly small");

	/* The largest machine still fits the area, fast. */
	struct acpi_dev many[16];
	for (int i = 0; i < 16; i++)
		many[i] = (struct acpi_dev){ 0xd0000000u + 0x1000u * (unsigned)i, 0x1000,
					     5u + (unsigned)i };
	struct acpi_config big = { MAX_CPUS, many, 16 };
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	uint64_t r = acpi_write(&m, ACPI_BASE, ACPI_SIZE, &big);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double us = (double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3;
	check(r == ACPI_BASE, "fits-254-cpus-16-devices", "did not fit in 64 KiB");
	printf("INFO unit/acpi: 254 vCPUs + 16 devices built in %.1f us (sanitized build)\n", us);
	free(m.host);
}

/* ---- the PM ports ---- */

static int events[3];
static void on_event(void *ctx, int kind)
{
	if (kind == ACPI_EVENT_POWEROFF || kind == ACPI_EVENT_RESET)
		events[kind]++;
}

static void wr(struct acpi_pm *pm, uint64_t port, uint32_t len, uint64_t v)
{
	acpi_pm_bus_ops.write(pm, port - ACPI_PM_PORT, (const uint8_t *)&v, len);
}

static void check_pm(void)
{
	struct acpi_pm *pm = acpi_pm_create(on_event, NULL);
	uint8_t d[4];

	wr(pm, ACPI_SLEEP_CONTROL_PORT, 1, 0x20 | 3 << 2);	  /* S3: not offered */
	wr(pm, ACPI_SLEEP_CONTROL_PORT, 1, ACPI_SLP_TYP_S5 << 2); /* type without SLP_EN */
	wr(pm, ACPI_RESET_PORT, 1, ACPI_RESET_VALUE + 1);
	wr(pm, ACPI_SLEEP_STATUS_PORT, 1, 0x80); /* clearing WAK_STS: fine, not counted */
	check(!events[1] && !events[2] && acpi_pm_ignored(pm) == 3, "pm-ignores",
	      "events %d/%d, ignored %llu", events[1], events[2],
	      (unsigned long long)acpi_pm_ignored(pm));
	wr(pm, ACPI_SLEEP_CONTROL_PORT, 1, 0x20 | ACPI_SLP_TYP_S5 << 2);
	check(events[ACPI_EVENT_POWEROFF] == 1 && !events[ACPI_EVENT_RESET], "pm-poweroff",
	      "S5|SLP_EN gave %d poweroffs", events[ACPI_EVENT_POWEROFF]);
	wr(pm, ACPI_RESET_PORT, 1, ACPI_RESET_VALUE);
	check(events[ACPI_EVENT_RESET] == 1, "pm-reset", "reset value gave %d resets",
	      events[ACPI_EVENT_RESET]);
	/* A 16-bit write at the status port reaches the reset port with its high byte. */
	wr(pm, ACPI_SLEEP_STATUS_PORT, 2, (uint64_t)ACPI_RESET_VALUE << 8);
	check(events[ACPI_EVENT_RESET] == 2, "pm-wide-write", "per-byte decoding");
	memset(d, 0xee, sizeof(d));
	acpi_pm_bus_ops.read(pm, 0, d, 3);
	check(!d[0] && !d[1] && !d[2] && d[3] == 0xee, "pm-reads-zero", "read %02x %02x %02x %02x",
	      d[0], d[1], d[2], d[3]);
	acpi_pm_free(pm);
}

int main(void)
{
	static const int cpus[] = { 1, 8, MAX_CPUS }, devs[] = { 0, 1, 8, 16 };
	for (size_t i = 0; i < sizeof(cpus) / sizeof(cpus[0]); i++)
		for (size_t j = 0; j < sizeof(devs) / sizeof(devs[0]); j++)
			check_config(cpus[i], devs[j]);
	check_rejects();
	check_pm();
	return failures ? 1 : 0;
}
