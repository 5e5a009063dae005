// SPDX-License-Identifier: Apache-2.0
/* Intel MultiProcessor Specification 1.4 table for SMP guests. */
#include "mptable.h"

#include <string.h>

#include "layout.h"
#include "util.h"

struct mpf {
	char sig[4];
	uint32_t physptr;
	uint8_t length, spec_rev, checksum, feature[5];
} __attribute__((packed));

struct mpc_header {
	char sig[4];
	uint16_t length;
	uint8_t spec_rev, checksum;
	char oem[8], product[12];
	uint32_t oem_ptr;
	uint16_t oem_size, count;
	uint32_t lapic;
	uint16_t ext_length;
	uint8_t ext_checksum, reserved;
} __attribute__((packed));

struct mpc_cpu {
	uint8_t type, apic_id, apic_ver, flags;
	uint32_t signature, features, reserved[2];
} __attribute__((packed));

struct mpc_bus {
	uint8_t type, id;
	char name[6];
} __attribute__((packed));

struct mpc_ioapic {
	uint8_t type, id, ver, flags;
	uint32_t addr;
} __attribute__((packed));

struct mpc_irq { /* I/O interrupt (type 3) and local interrupt (type 4) entries */
	uint8_t type, irq_type;
	uint16_t flags;
	uint8_t src_bus, src_irq, dst_apic, dst_pin;
} __attribute__((packed));

enum { MP_CPU, MP_BUS, MP_IOAPIC, MP_INTSRC, MP_LINTSRC };
enum { MP_INT, MP_NMI, MP_SMI, MP_EXTINT };

static size_t table_size(int ncpus)
{
	return sizeof(struct mpf) + sizeof(struct mpc_header) + ncpus * sizeof(struct mpc_cpu) +
	       sizeof(struct mpc_bus) + sizeof(struct mpc_ioapic) +
	       (IOAPIC_PINS + 2) * sizeof(struct mpc_irq);
}

int mptable_write(const struct guest_mem *m, uint64_t gpa, int ncpus)
{
	if (ncpus < 1 || ncpus > MAX_CPUS)
		return -1;
	size_t size = table_size(ncpus);
	uint8_t *base = mem_gpa(m, gpa, size);
	if (!base)
		return -1;
	memset(base, 0, size);

	struct mpf *mpf = (void *)base;
	struct mpc_header *hdr = (void *)(mpf + 1);
	uint8_t *p = (uint8_t *)(hdr + 1);
	uint16_t count = 0;
	const uint8_t ioapic_id = (uint8_t)ncpus;

	for (int i = 0; i < ncpus; i++, count++, p += sizeof(struct mpc_cpu))
		*(struct mpc_cpu *)p =
			(struct mpc_cpu){ .type = MP_CPU,
					  .apic_id = (uint8_t)i,
					  .apic_ver = 0x14,
					  .flags = 1 | (i == 0 ? 2 : 0), /* enabled, BSP */
					  .signature = 0x600,
					  .features = 0x201 /* FPU, APIC */ };
	*(struct mpc_bus *)p = (struct mpc_bus){ MP_BUS, 0, "ISA   " };
	p += sizeof(struct mpc_bus), count++;
	*(struct mpc_ioapic *)p = (struct mpc_ioapic){ MP_IOAPIC, ioapic_id, 0x11, 1, IOAPIC_ADDR };
	p += sizeof(struct mpc_ioapic), count++;
	/* Flags 0: bus-default polarity and trigger, i.e. edge, active high on ISA. */
	for (uint8_t irq = 0; irq < IOAPIC_PINS; irq++, count++, p += sizeof(struct mpc_irq))
		*(struct mpc_irq *)p =
			(struct mpc_irq){ MP_INTSRC, MP_INT, 0, 0, irq, ioapic_id, irq };
	*(struct mpc_irq *)p = (struct mpc_irq){ MP_LINTSRC, MP_EXTINT, 0, 0, 0, 0xff, 0 };
	p += sizeof(struct mpc_irq), count++;
	*(struct mpc_irq *)p = (struct mpc_irq){ MP_LINTSRC, MP_NMI, 0, 0, 0, 0xff, 1 };
	p += sizeof(struct mpc_irq), count++;

	memcpy(hdr->sig, "PCMP", 4);
	hdr->length = (uint16_t)(p - (uint8_t *)hdr);
	hdr->spec_rev = 4;
	memcpy(hdr->oem, "KVMRUN  ", 8);
	memcpy(hdr->product, "KVMRUN-MP   ", 12);
	hdr->count = count;
	hdr->lapic = LAPIC_ADDR;
	hdr->checksum = sum8_fix(hdr, hdr->length);

	memcpy(mpf->sig, "_MP_", 4);
	mpf->physptr = (uint32_t)(gpa + sizeof(*mpf));
	mpf->length = 1; /* in 16-byte units */
	mpf->spec_rev = 4;
	mpf->checksum = sum8_fix(mpf, sizeof(*mpf));
	return (int)size;
}
