// SPDX-License-Identifier: Apache-2.0
/* ACPI 6.x tables for a hardware-reduced x86 machine: RSDP, XSDT, FADT, MADT and the DSDT (aml.c). */
#include "acpi.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "acpi_pm.h"
#include "aml.h"
#include "i8042.h"
#include "layout.h"
#include "mptable.h"
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
/*
 * VM generation ID (Microsoft's "Virtual Machine Generation ID" paper; Linux's
 * drivers/virt/vmgenid.c matches the _CID): ADDR is the ID's guest address
 * as a package of its low and high 32 bits. The hardware-reduced way to
 * notify it is a Generic Event Device (ACPI0013): its interrupt runs _EVT
 * with the GSI, and _EVT sends VGEN the notification (0x80) on which the
 * guest reads the new ID.
 */
static void vmgenid(struct aml *a)
{
	size_t dev = aml_device(a, "VGEN");
	aml_name(a, "_HID");
	aml_string(a, "KVMR0001");
	aml_name(a, "_CID");
	aml_string(a, "VM_GEN_COUNTER");
	aml_name(a, "_DDN");
	aml_string(a, "VM_Gen_Counter");
	aml_name(a, "ADDR");
	size_t pkg = aml_package(a, 2);
	aml_integer(a, VMGENID_GPA & 0xffffffffu);
	aml_integer(a, VMGENID_GPA >> 32);
	aml_end(a, pkg);
	aml_end(a, dev);

	dev = aml_device(a, "GED_");
	aml_name(a, "_HID");
	aml_string(a, "ACPI0013");
	aml_name(a, "_UID");
	aml_integer(a, 0);
	aml_name(a, "_CRS");
	size_t buf = aml_buffer(a);
	aml_res_interrupt_edge(a, GED_GSI);
	aml_res_end(a);
	aml_buffer_end(a, buf);
	size_t evt = aml_method(a, "_EVT", 1);
	size_t cond = aml_if_arg_equals(a, 0, GED_GSI);
	aml_notify(a, "\\_SB_.VGEN", 0x80);
	aml_end(a, cond);
	aml_end(a, evt);
	aml_end(a, dev);
}

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
	aml_integer(a, aml_eisa_id("PNP0501"));
	aml_name(a, "_UID");
	aml_integer(a, 0);
	aml_name(a, "_CRS");
	size_t buf = aml_buffer(a);
	aml_res_io(a, SERIAL_COM1_BASE, 8);
	aml_res_irq_edge(a, SERIAL_COM1_IRQ);
	aml_res_end(a);
	aml_buffer_end(a, buf);
	aml_end(a, com);

	/*
	 * The keyboard controller. Hardware-reduced ACPI has no legacy PIC, so
	 * Linux maps ISA IRQs only as the namespace names them: without this
	 * device the i8042 (reset, Ctrl-Alt-Del on SIGTERM) gets no IRQ 1.
	 */
	size_t kbd = aml_device(a, "KBD_");
	aml_name(a, "_HID");
	aml_integer(a, aml_eisa_id("PNP0303"));
	aml_name(a, "_UID");
	aml_integer(a, 0);
	aml_name(a, "_CRS");
	buf = aml_buffer(a);
	aml_res_io(a, I8042_DATA_PORT, 1);
	aml_res_io(a, I8042_CMD_PORT, 1);
	aml_res_irq_edge(a, I8042_IRQ);
	aml_res_end(a);
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
		aml_res_memory32_fixed(a, (uint32_t)d->base, d->size);
		aml_res_interrupt_edge(a, d->gsi);
		aml_res_end(a);
		aml_buffer_end(a, crs);
		aml_end(a, dev);
	}
	vmgenid(a);
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

int acpi_vmgenid_new(const struct guest_mem *m)
{
	uint8_t *id = mem_gpa(m, VMGENID_GPA, VMGENID_LEN);
	if (!id) {
		errno = EFAULT;
		return -1;
	}
	for (size_t got = 0; got < VMGENID_LEN;) {
		ssize_t r = getrandom(id + got, VMGENID_LEN - got, 0);
		if (r < 0 && errno != EINTR)
			return -1;
		got += r > 0 ? (size_t)r : 0;
	}
	return 0;
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

static int write_file(const char *dir, const char *name, const uint8_t *p, size_t len, char *err,
		      size_t errlen)
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
		errf(err, errlen,
		     "--dump-acpi: the tables for %d vCPUs and %d devices do not fit "
		     "or the configuration is invalid",
		     c->ncpus, c->nvirtio);
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
