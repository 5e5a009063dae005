// SPDX-License-Identifier: Apache-2.0
/* ACPI 6.x tables for a hardware-reduced x86 machine, a small AML generator, and the PM ports. */
#include "acpi.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layout.h"
#include "mptable.h"
#include "i8042.h"
#include "serial.h"
#include "util.h"

/* ---- table layouts (ACPI 6.x, chapter 5.2) ---- */

struct sdt_header {
	char signature[4];
	uint32_t length; /* of the whole table, header included */
	uint8_t revision, checksum;
	char oem_id[6], oem_table_id[8];
	uint32_t oem_revision;
	char creator_id[4];
	uint32_t creator_revision;
} __attribute__((packed));

struct rsdp {
	char signature[8];
	uint8_t checksum; /* over the first 20 bytes (the ACPI 1.0 part) */
	char oem_id[6];
	uint8_t revision;
	uint32_t rsdt_address;
	uint32_t length;
	uint64_t xsdt_address;
	uint8_t extended_checksum; /* over all 36 bytes */
	uint8_t reserved[3];
} __attribute__((packed));

/* Generic Address Structure (5.2.3.2). */
struct gas {
	uint8_t space_id, bit_width, bit_offset, access_size;
	uint64_t address;
} __attribute__((packed));

struct fadt {
	struct sdt_header h;
	uint32_t firmware_ctrl, dsdt;
	uint8_t reserved0, preferred_pm_profile;
	uint16_t sci_int;
	uint32_t smi_cmd;
	uint8_t acpi_enable, acpi_disable, s4bios_req, pstate_cnt;
	uint32_t pm1a_evt_blk, pm1b_evt_blk, pm1a_cnt_blk, pm1b_cnt_blk, pm2_cnt_blk, pm_tmr_blk;
	uint32_t gpe0_blk, gpe1_blk;
	uint8_t pm1_evt_len, pm1_cnt_len, pm2_cnt_len, pm_tmr_len, gpe0_blk_len, gpe1_blk_len;
	uint8_t gpe1_base, cst_cnt;
	uint16_t p_lvl2_lat, p_lvl3_lat, flush_size, flush_stride;
	uint8_t duty_offset, duty_width, day_alrm, mon_alrm, century;
	uint16_t iapc_boot_arch;
	uint8_t reserved1;
	uint32_t flags;
	struct gas reset_reg;
	uint8_t reset_value;
	uint16_t arm_boot_arch;
	uint8_t minor_version;
	uint64_t x_firmware_ctrl, x_dsdt;
	struct gas x_pm1a_evt_blk, x_pm1b_evt_blk, x_pm1a_cnt_blk, x_pm1b_cnt_blk;
	struct gas x_pm2_cnt_blk, x_pm_tmr_blk, x_gpe0_blk, x_gpe1_blk;
	struct gas sleep_control_reg, sleep_status_reg;
	uint64_t hypervisor_vendor;
} __attribute__((packed));

struct madt {
	struct sdt_header h;
	uint32_t lapic_address, flags;
} __attribute__((packed));

struct madt_lapic { /* type 0 */
	uint8_t type, length, processor_uid, apic_id;
	uint32_t flags;
} __attribute__((packed));

struct madt_ioapic { /* type 1 */
	uint8_t type, length, id, reserved;
	uint32_t address, gsi_base;
} __attribute__((packed));

struct madt_lapic_nmi { /* type 4 */
	uint8_t type, length, processor_uid;
	uint16_t flags;
	uint8_t lint;
} __attribute__((packed));

_Static_assert(sizeof(struct sdt_header) == 36, "SDT header");
_Static_assert(sizeof(struct rsdp) == 36, "RSDP");
_Static_assert(sizeof(struct gas) == 12, "GAS");
_Static_assert(sizeof(struct fadt) == 276, "FADT revision 6");
_Static_assert(sizeof(struct madt_lapic) == 8 && sizeof(struct madt_ioapic) == 12 &&
		       sizeof(struct madt_lapic_nmi) == 6,
	       "MADT entries");

#define FADT_REVISION 6
#define FADT_MINOR 0
#define FADT_WBINVD (1u << 0)
#define FADT_PWR_BUTTON (1u << 4) /* no fixed-feature power button */
#define FADT_SLP_BUTTON (1u << 5) /* no fixed-feature sleep button */
#define FADT_RESET_REG_SUP (1u << 10)
#define FADT_HW_REDUCED_ACPI (1u << 20)
/* IA-PC boot flags: the i8042 stays (Linux drops it otherwise; kvmrun resets through it). */
#define BOOT_8042 (1u << 1)
#define BOOT_VGA_NOT_PRESENT (1u << 2)
#define BOOT_MSI_NOT_SUPPORTED (1u << 3)
#define BOOT_CMOS_RTC_NOT_PRESENT (1u << 5)
#define GAS_SYSTEM_IO 1
#define GAS_ACCESS_BYTE 1
#define MADT_PCAT_COMPAT 1u
#define MADT_LAPIC_ENABLED 1u
#define MADT_ALL_PROCESSORS 0xff
#define SLP_EN 0x20 /* sleep control register: SLP_EN bit 5, SLP_TYP bits 4:2 */
#define SLP_TYP_SHIFT 2
#define SLP_TYP_MASK 0x7

/* ---- AML generator (ACPI 6.x, chapter 20) ---- */

/*
 * AML grows at the end of a fixed buffer. A package's PkgLength is only known
 * once its contents are written, so the opener returns a mark and aml_end()
 * inserts the encoding there. When a write does not fit, `full` is set and
 * the output is unusable (the caller checks once at the end).
 */
struct aml {
	uint8_t *p;
	size_t len, cap;
	bool full;
};

enum {
	AML_ZERO = 0x00, AML_ONE = 0x01, AML_NAME = 0x08, AML_BYTE_PREFIX = 0x0a,
	AML_WORD_PREFIX = 0x0b, AML_DWORD_PREFIX = 0x0c, AML_STRING_PREFIX = 0x0d,
	AML_QWORD_PREFIX = 0x0e, AML_SCOPE = 0x10, AML_BUFFER = 0x11, AML_PACKAGE = 0x12,
	AML_DUAL_NAME = 0x2e, AML_MULTI_NAME = 0x2f, AML_EXT_PREFIX = 0x5b,
	AML_EXT_DEVICE = 0x82, AML_ROOT = 0x5c, AML_PARENT = 0x5e, AML_ONES = 0xff,
};

static void emit(struct aml *a, const void *src, size_t n)
{
	if (a->full || n > a->cap - a->len) {
		a->full = true;
		return;
	}
	memcpy(a->p + a->len, src, n);
	a->len += n;
}

static void emit_u8(struct aml *a, uint8_t v)
{
	emit(a, &v, 1);
}

static void emit_le(struct aml *a, uint64_t v, size_t bytes)
{
	uint8_t b[8];
	for (size_t i = 0; i < bytes; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	emit(a, b, bytes);
}

/* Put n bytes at position `at`, moving what follows up. */
static void insert(struct aml *a, size_t at, const uint8_t *src, size_t n)
{
	if (a->full || n > a->cap - a->len) {
		a->full = true;
		return;
	}
	memmove(a->p + at + n, a->p + at, a->len - at);
	memcpy(a->p + at, src, n);
	a->len += n;
}

/*
 * PkgLength (20.2.4): the package's length counting its own 1-4 encoding
 * bytes. One byte holds up to 63; otherwise bits 7:6 of the lead byte give
 * the number of following bytes, its bits 3:0 the low nibble, and each
 * following byte the next 8 bits.
 */
static void aml_end(struct aml *a, size_t mark)
{
	size_t body = a->len - mark, n;
	uint8_t enc[4];

	if (a->full)
		return;
	if (body + 1 < 0x40)
		n = 1;
	else if (body + 2 < 0x1000)
		n = 2;
	else if (body + 3 < 0x100000)
		n = 3;
	else if (body + 4 < 0x10000000)
		n = 4;
	else {
		a->full = true;
		return;
	}
	size_t total = body + n;
	if (n == 1) {
		enc[0] = (uint8_t)total;
	} else {
		enc[0] = (uint8_t)((n - 1) << 6 | (total & 0xf));
		for (size_t i = 1; i < n; i++)
			enc[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
	}
	insert(a, mark, enc, n);
}

/* The shortest encoding of an integer constant (20.2.3): Zero/One/Ones or a prefixed value. */
static size_t integer_bytes(uint64_t v, uint8_t out[9])
{
	size_t n;
	if (v == 0 || v == 1) {
		out[0] = v ? AML_ONE : AML_ZERO;
		return 1;
	}
	if (v == UINT64_MAX) {
		out[0] = AML_ONES;
		return 1;
	}
	if (v <= 0xff)
		out[0] = AML_BYTE_PREFIX, n = 1;
	else if (v <= 0xffff)
		out[0] = AML_WORD_PREFIX, n = 2;
	else if (v <= 0xffffffff)
		out[0] = AML_DWORD_PREFIX, n = 4;
	else
		out[0] = AML_QWORD_PREFIX, n = 8;
	for (size_t i = 0; i < n; i++)
		out[1 + i] = (uint8_t)(v >> (8 * i));
	return 1 + n;
}

static void aml_integer(struct aml *a, uint64_t v)
{
	uint8_t b[9];
	emit(a, b, integer_bytes(v, b));
}

static void aml_string(struct aml *a, const char *s)
{
	emit_u8(a, AML_STRING_PREFIX);
	emit(a, s, strlen(s) + 1);
}

static bool name_char(char ch, bool lead)
{
	return ch == '_' || (ch >= 'A' && ch <= 'Z') || (!lead && ch >= '0' && ch <= '9');
}

/*
 * A NameString (20.2.2) from ASL spelling: optional '\' or '^' prefixes,
 * then segments of up to four characters separated by '.', short ones padded
 * with '_'. A malformed name marks the output unusable.
 */
static void aml_name_string(struct aml *a, const char *path)
{
	char segs[8][4];
	int nseg = 0;
	const char *s = path;

	for (; *s == '\\' || *s == '^'; s++)
		emit_u8(a, *s == '\\' ? AML_ROOT : AML_PARENT);
	while (*s) {
		size_t n = 0;
		if (nseg == 8)
			goto bad;
		while (s[n] && s[n] != '.')
			n++;
		if (n == 0 || n > 4)
			goto bad;
		for (size_t i = 0; i < 4; i++) {
			segs[nseg][i] = i < n ? s[i] : '_';
			if (!name_char(segs[nseg][i], i == 0))
				goto bad;
		}
		nseg++;
		s += n;
		if (*s == '.' && !*++s)
			goto bad;
	}
	if (nseg == 0)
		emit_u8(a, 0x00); /* NullName */
	else if (nseg == 2)
		emit_u8(a, AML_DUAL_NAME);
	else if (nseg > 2)
		emit_u8(a, AML_MULTI_NAME), emit_u8(a, (uint8_t)nseg);
	emit(a, segs, 4 * (size_t)nseg);
	return;
bad:
	a->full = true;
}

/* Name (name, <the object the caller emits next>) */
static void aml_name(struct aml *a, const char *name)
{
	emit_u8(a, AML_NAME);
	aml_name_string(a, name);
}

/* Scope (name) { ... aml_end } */
static size_t aml_scope(struct aml *a, const char *name)
{
	emit_u8(a, AML_SCOPE);
	size_t mark = a->len;
	aml_name_string(a, name);
	return mark;
}

/* Device (name) { ... aml_end } */
static size_t aml_device(struct aml *a, const char *name)
{
	emit_u8(a, AML_EXT_PREFIX);
	emit_u8(a, AML_EXT_DEVICE);
	size_t mark = a->len;
	aml_name_string(a, name);
	return mark;
}

/* Package (count) { ... aml_end } */
static size_t aml_package(struct aml *a, uint8_t count)
{
	emit_u8(a, AML_PACKAGE);
	size_t mark = a->len;
	emit_u8(a, count);
	return mark;
}

/* Buffer () { ... aml_buffer_end }: the size operand comes before the bytes, so it is inserted too. */
static size_t aml_buffer(struct aml *a)
{
	emit_u8(a, AML_BUFFER);
	return a->len;
}

static void aml_buffer_end(struct aml *a, size_t mark)
{
	uint8_t b[9];
	if (a->full)
		return;
	insert(a, mark, b, integer_bytes(a->len - mark, b));
	aml_end(a, mark);
}

/* EisaId ("PNP0501"): three letters in 5 bits each and four hex digits, big-endian. */
static uint32_t eisa_id(const char *id)
{
	uint32_t v = (uint32_t)((id[0] - 0x40) << 26 | (id[1] - 0x40) << 21 | (id[2] - 0x40) << 16);
	for (int i = 3; i < 7; i++) {
		char ch = id[i];
		v |= (uint32_t)(ch <= '9' ? ch - '0' : ch - 'A' + 10) << (4 * (6 - i));
	}
	return __builtin_bswap32(v);
}

/* ---- resource descriptors (6.4), inside a ResourceTemplate buffer ---- */

#define RES_SMALL(name, len) ((uint8_t)((name) << 3 | (len)))
#define RES_LARGE(name) ((uint8_t)(0x80 | (name)))
#define RES_IRQ RES_SMALL(0x04, 3) /* with the information byte */
#define RES_IO RES_SMALL(0x08, 7)
#define RES_END_TAG RES_SMALL(0x0f, 1)
#define RES_MEMORY32_FIXED RES_LARGE(0x06)
#define RES_EXT_IRQ RES_LARGE(0x09)
/* Interrupt flags: bit 0 consumer (extended form only), 1 edge (_HE), 2 active low (_LL), 3 shared. */
#define IRQ_CONSUMER 0x01
#define IRQ_EDGE 0x02
#define IRQ_SMALL_EDGE 0x01 /* the small IRQ descriptor's own bit layout */

/* IO (Decode16, port, port, 1, len) */
static void res_io(struct aml *a, uint16_t port, uint8_t len)
{
	emit_u8(a, RES_IO);
	emit_u8(a, 0x01); /* decodes 16 address bits */
	emit_le(a, port, 2);
	emit_le(a, port, 2);
	emit_u8(a, 1); /* alignment */
	emit_u8(a, len);
}

/* IRQ (Edge, ActiveHigh, Exclusive) {irq} */
static void res_irq_edge(struct aml *a, unsigned irq)
{
	emit_u8(a, RES_IRQ);
	emit_le(a, 1u << irq, 2);
	emit_u8(a, IRQ_SMALL_EDGE);
}

/* Memory32Fixed (ReadWrite, base, len) */
static void res_memory32_fixed(struct aml *a, uint32_t base, uint32_t len)
{
	emit_u8(a, RES_MEMORY32_FIXED);
	emit_le(a, 9, 2); /* bytes after the length field */
	emit_u8(a, 0x01); /* read-write */
	emit_le(a, base, 4);
	emit_le(a, len, 4);
}

/* Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) {gsi} */
static void res_interrupt_edge(struct aml *a, uint32_t gsi)
{
	emit_u8(a, RES_EXT_IRQ);
	emit_le(a, 6, 2); /* flags, count, one 32-bit interrupt */
	emit_u8(a, IRQ_CONSUMER | IRQ_EDGE);
	emit_u8(a, 1);
	emit_le(a, gsi, 4);
}

static void res_end(struct aml *a)
{
	emit_u8(a, RES_END_TAG);
	emit_u8(a, 0); /* checksum 0: "treat as correct" */
}

/* ---- the tables ---- */

static void header(struct sdt_header *h, const char *sig, uint8_t revision)
{
	memcpy(h->signature, sig, 4);
	h->revision = revision;
	memcpy(h->oem_id, "KVMRUN", 6);
	memcpy(h->oem_table_id, "KVMRUN  ", 8);
	h->oem_revision = 1;
	memcpy(h->creator_id, "KVMR", 4);
	h->creator_revision = 1;
}

enum { T_RSDP, T_XSDT, T_FADT, T_MADT, T_DSDT, T_COUNT };
static const char *const dump_names[T_COUNT] = { "rsdp.dat", "xsdt.dat", "facp.dat", "apic.dat",
						 "dsdt.dat" };

/* The buffer being filled: the host view of guest-physical [gpa, gpa + room). */
struct out {
	uint8_t *buf;
	uint64_t gpa;
	size_t room, used;
	size_t off[T_COUNT], len[T_COUNT];
};

/* Reserve len zeroed bytes for table t at the next 16-byte boundary; NULL when full. */
static void *take(struct out *o, int t, size_t len)
{
	size_t at = (o->used + 15) & ~(size_t)15;
	if (at > o->room || len > o->room - at)
		return NULL;
	memset(o->buf + o->used, 0, at - o->used + len);
	o->off[t] = at, o->len[t] = len;
	o->used = at + len;
	return o->buf + at;
}

static uint64_t addr_of(const struct out *o, int t)
{
	return o->gpa + o->off[t];
}

static bool config_ok(const struct acpi_config *c)
{
	if (c->ncpus < 1 || c->ncpus > MAX_CPUS || c->nvirtio < 0 || c->nvirtio > 0xfff ||
	    (c->nvirtio && !c->virtio))
		return false;
	for (int i = 0; i < c->nvirtio; i++) {
		const struct acpi_dev *d = &c->virtio[i];
		if (d->gsi >= IOAPIC_PINS || !d->size || d->base > UINT32_MAX ||
		    d->size - 1 > UINT32_MAX - d->base)
			return false;
	}
	return true;
}

/* A device name: the prefix letter and three hex digits (config_ok keeps i below 0x1000). */
static void seg_name(char out[5], char prefix, unsigned i)
{
	out[0] = prefix;
	for (int k = 0; k < 3; k++)
		out[1 + k] = "0123456789ABCDEF"[(i >> (4 * (2 - k))) & 0xf];
	out[4] = 0;
}

/*
 * The namespace:
 *   \_S5_          Package { SLP_TYPa for S5, 0, 0, 0 }
 *   \_SB_.Cnnn     one per vCPU: _HID "ACPI0007", _UID = MADT processor UID
 *   \_SB_.COM1     _HID PNP0501, IO 0x3f8-0x3ff, IRQ 4 edge
 *   \_SB_.KBD_     _HID PNP0303, IO 0x60 and 0x64, IRQ 1 edge
 *   \_SB_.Vnnn     one per virtio-mmio window: _HID "LNRO0005", memory, GSI edge
 */
static void dsdt_body(struct aml *a, const struct acpi_config *c)
{
	char name[5];

	aml_name(a, "\\_S5_");
	size_t pkg = aml_package(a, 4);
	aml_integer(a, ACPI_SLP_TYP_S5);
	aml_integer(a, 0);
	aml_integer(a, 0);
	aml_integer(a, 0);
	aml_end(a, pkg);

	size_t sb = aml_scope(a, "\\_SB_");
	for (int i = 0; i < c->ncpus; i++) {
		seg_name(name, 'C', (unsigned)i);
		size_t dev = aml_device(a, name);
		aml_name(a, "_HID");
		aml_string(a, "ACPI0007");
		aml_name(a, "_UID");
		aml_integer(a, (uint64_t)i);
		aml_end(a, dev);
	}

	size_t com = aml_device(a, "COM1");
	aml_name(a, "_HID");
	aml_integer(a, eisa_id("PNP0501"));
	aml_name(a, "_UID");
	aml_integer(a, 0);
	aml_name(a, "_CRS");
	size_t buf = aml_buffer(a);
	res_io(a, SERIAL_COM1_BASE, 8);
	res_irq_edge(a, SERIAL_COM1_IRQ);
	res_end(a);
	aml_buffer_end(a, buf);
	aml_end(a, com);

	/*
	 * The keyboard controller. Hardware-reduced ACPI has no legacy PIC, so
	 * Linux maps ISA IRQs only as the namespace names them: without this
	 * device the i8042 (reset, Ctrl-Alt-Del on SIGTERM) gets no IRQ 1.
	 */
	size_t kbd = aml_device(a, "KBD_");
	aml_name(a, "_HID");
	aml_integer(a, eisa_id("PNP0303"));
	aml_name(a, "_UID");
	aml_integer(a, 0);
	aml_name(a, "_CRS");
	buf = aml_buffer(a);
	res_io(a, I8042_DATA_PORT, 1);
	res_io(a, I8042_CMD_PORT, 1);
	res_irq_edge(a, I8042_IRQ);
	res_end(a);
	aml_buffer_end(a, buf);
	aml_end(a, kbd);

	for (int i = 0; i < c->nvirtio; i++) {
		const struct acpi_dev *d = &c->virtio[i];
		seg_name(name, 'V', (unsigned)i);
		size_t dev = aml_device(a, name);
		aml_name(a, "_HID");
		aml_string(a, "LNRO0005");
		aml_name(a, "_UID");
		aml_integer(a, (uint64_t)i);
		aml_name(a, "_CRS");
		size_t crs = aml_buffer(a);
		res_memory32_fixed(a, (uint32_t)d->base, d->size);
		res_interrupt_edge(a, d->gsi);
		res_end(a);
		aml_buffer_end(a, crs);
		aml_end(a, dev);
	}
	aml_end(a, sb);
}

static void fill_fadt(struct fadt *f, uint64_t dsdt)
{
	const struct gas sleep_control = { GAS_SYSTEM_IO, 8, 0, GAS_ACCESS_BYTE,
					   ACPI_SLEEP_CONTROL_PORT };
	const struct gas sleep_status = { GAS_SYSTEM_IO, 8, 0, GAS_ACCESS_BYTE,
					  ACPI_SLEEP_STATUS_PORT };
	const struct gas reset = { GAS_SYSTEM_IO, 8, 0, GAS_ACCESS_BYTE, ACPI_RESET_PORT };

	header(&f->h, "FACP", FADT_REVISION);
	f->h.length = sizeof(*f);
	/* Hardware-reduced: no SCI, PM1/GPE blocks, FACS or SMI port; everything else is 0. */
	f->flags = FADT_WBINVD | FADT_PWR_BUTTON | FADT_SLP_BUTTON | FADT_RESET_REG_SUP |
		   FADT_HW_REDUCED_ACPI;
	f->iapc_boot_arch = BOOT_8042 | BOOT_VGA_NOT_PRESENT | BOOT_MSI_NOT_SUPPORTED |
			    BOOT_CMOS_RTC_NOT_PRESENT;
	f->reset_reg = reset;
	f->reset_value = ACPI_RESET_VALUE;
	f->minor_version = FADT_MINOR;
	f->x_dsdt = dsdt; /* the 32-bit DSDT field stays 0, as the spec asks when X_DSDT is set */
	f->sleep_control_reg = sleep_control;
	f->sleep_status_reg = sleep_status;
	memcpy(&f->hypervisor_vendor, "KVMRUN\0\0", 8);
}

static bool fill_madt(struct out *o, int ncpus)
{
	size_t len = sizeof(struct madt) + (size_t)ncpus * sizeof(struct madt_lapic) +
		     sizeof(struct madt_ioapic) + sizeof(struct madt_lapic_nmi);
	uint8_t *p = take(o, T_MADT, len);
	if (!p)
		return false;
	struct madt *m = (void *)p;
	header(&m->h, "APIC", 5); /* MADT revision of ACPI 6.x */
	m->h.length = (uint32_t)len;
	m->lapic_address = LAPIC_ADDR;
	m->flags = MADT_PCAT_COMPAT;
	p += sizeof(*m);
	for (int i = 0; i < ncpus; i++, p += sizeof(struct madt_lapic)) {
		const struct madt_lapic e = { 0, sizeof(e), (uint8_t)i, (uint8_t)i,
					      MADT_LAPIC_ENABLED };
		memcpy(p, &e, sizeof(e));
	}
	/*
	 * No interrupt source overrides: KVM's default routing wires GSI n to
	 * IOAPIC pin n and ISA IRQ n, the identity an OS assumes without them
	 * (ISA edge, active high), as the MP table says too.
	 */
	const struct madt_ioapic io = { 1, sizeof(io), (uint8_t)ncpus, 0, IOAPIC_ADDR, 0 };
	memcpy(p, &io, sizeof(io));
	p += sizeof(io);
	const struct madt_lapic_nmi nmi = { 4, sizeof(nmi), MADT_ALL_PROCESSORS, 0, 1 };
	memcpy(p, &nmi, sizeof(nmi));
	m->h.checksum = sum8_fix(m, len);
	return true;
}

/* Lay out every table in o; false when the configuration is bad or they do not fit. */
static bool build(struct out *o, const struct acpi_config *c)
{
	if (!config_ok(c) || (o->gpa & 15))
		return false;
	struct rsdp *rsdp = take(o, T_RSDP, sizeof(*rsdp));
	const size_t xsdt_len = sizeof(struct sdt_header) + 2 * sizeof(uint64_t);
	uint8_t *xsdt = take(o, T_XSDT, xsdt_len);
	struct fadt *fadt = take(o, T_FADT, sizeof(*fadt));
	if (!rsdp || !xsdt || !fadt || !fill_madt(o, c->ncpus))
		return false;

	struct sdt_header *dsdt = take(o, T_DSDT, sizeof(*dsdt));
	if (!dsdt)
		return false;
	struct aml a = { o->buf + o->used, 0, o->room - o->used, false };
	dsdt_body(&a, c);
	if (a.full || sizeof(*dsdt) + a.len > UINT32_MAX)
		return false;
	o->used += a.len;
	o->len[T_DSDT] += a.len;
	header(dsdt, "DSDT", 2); /* revision 2: integers are 64-bit */
	dsdt->length = (uint32_t)o->len[T_DSDT];
	dsdt->checksum = sum8_fix(dsdt, dsdt->length);

	fill_fadt(fadt, addr_of(o, T_DSDT));
	fadt->h.checksum = sum8_fix(fadt, sizeof(*fadt));

	struct sdt_header *xh = (void *)xsdt;
	const uint64_t entries[2] = { addr_of(o, T_FADT), addr_of(o, T_MADT) };
	header(xh, "XSDT", 1);
	xh->length = (uint32_t)xsdt_len;
	memcpy(xsdt + sizeof(*xh), entries, sizeof(entries));
	xh->checksum = sum8_fix(xsdt, xsdt_len);

	memcpy(rsdp->signature, "RSD PTR ", 8);
	memcpy(rsdp->oem_id, "KVMRUN", 6);
	rsdp->revision = 2;
	rsdp->length = sizeof(*rsdp);
	rsdp->xsdt_address = addr_of(o, T_XSDT); /* no RSDT: every table sits on 64-bit pointers */
	rsdp->checksum = sum8_fix(rsdp, 20);
	rsdp->extended_checksum = sum8_fix(rsdp, sizeof(*rsdp));
	return true;
}

uint64_t acpi_write(const struct guest_mem *m, uint64_t gpa, uint64_t room,
		    const struct acpi_config *c)
{
	uint8_t *host = mem_gpa(m, gpa, room);
	if (!host || room > SIZE_MAX)
		return 0;
	struct out o = { .buf = host, .gpa = gpa, .room = (size_t)room };
	return build(&o, c) ? gpa : 0;
}

static int write_file(const char *dir, const char *name, const uint8_t *p, size_t len,
		      char *err, size_t errlen)
{
	char path[4096];
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return errf(err, errlen, "--dump-acpi %s: path too long", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return errf(err, errlen, "--dump-acpi %s: %s", path, strerror(errno));
	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = w < 0 ? errno : EIO;
			close(fd);
			return errf(err, errlen, "--dump-acpi %s: %s", path, strerror(e));
		}
		p += w, len -= (size_t)w;
	}
	if (close(fd) < 0)
		return errf(err, errlen, "--dump-acpi %s: %s", path, strerror(errno));
	return 0;
}

int acpi_dump(const struct acpi_config *c, const char *dir, char *err, size_t errlen)
{
	struct out o = { .buf = malloc(ACPI_SIZE), .gpa = ACPI_BASE, .room = ACPI_SIZE };
	int rc = -1;

	if (!o.buf)
		return errf(err, errlen, "--dump-acpi: out of memory");
	if (!build(&o, c)) {
		errf(err, errlen, "--dump-acpi: the tables for %d vCPUs and %d devices do not fit "
				  "or the configuration is invalid", c->ncpus, c->nvirtio);
		goto out;
	}
	for (int t = 0; t < T_COUNT; t++)
		if (write_file(dir, dump_names[t], o.buf + o.off[t], o.len[t], err, errlen) < 0)
			goto out;
	rc = 0;
out:
	free(o.buf);
	return rc;
}

/* ---- the PM ports ---- */

struct acpi_pm {
	void (*event)(void *ctx, int kind);
	void *ctx;
	atomic_uint_fast64_t ignored;
};

struct acpi_pm *acpi_pm_create(void (*event)(void *ctx, int kind), void *ctx)
{
	struct acpi_pm *pm = calloc(1, sizeof(*pm));
	if (pm) {
		pm->event = event, pm->ctx = ctx;
		atomic_init(&pm->ignored, 0);
	}
	return pm;
}

void acpi_pm_free(struct acpi_pm *pm)
{
	free(pm);
}

uint64_t acpi_pm_ignored(const struct acpi_pm *pm)
{
	return atomic_load(&((struct acpi_pm *)pm)->ignored);
}

static void pm_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	memset(data, 0, len); /* no wake status, nothing pending */
}

/* One byte written to register `reg`; the guest controls both. */
static void pm_byte(struct acpi_pm *pm, uint64_t reg, uint8_t v)
{
	switch (reg) {
	case ACPI_SLEEP_CONTROL_PORT - ACPI_PM_PORT:
		if ((v & SLP_EN) && ((v >> SLP_TYP_SHIFT) & SLP_TYP_MASK) == ACPI_SLP_TYP_S5) {
			pm->event(pm->ctx, ACPI_EVENT_POWEROFF);
			return;
		}
		break;
	case ACPI_SLEEP_STATUS_PORT - ACPI_PM_PORT:
		return; /* write-1-to-clear of a status that is never set */
	case ACPI_RESET_PORT - ACPI_PM_PORT:
		if (v == ACPI_RESET_VALUE) {
			pm->event(pm->ctx, ACPI_EVENT_RESET);
			return;
		}
		break;
	}
	atomic_fetch_add(&pm->ignored, 1);
}

/* Any width at any offset: each byte goes to the register at its port. */
static void pm_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		pm_byte(opaque, off + i, data[i]);
}

const struct bus_ops acpi_pm_bus_ops = { pm_read, pm_write };
