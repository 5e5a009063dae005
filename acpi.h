/* SPDX-License-Identifier: Apache-2.0 */
/* ACPI tables (RSDP, XSDT, FADT, MADT, DSDT) for the machine kvmrun builds. */
#ifndef KVMRUN_ACPI_H
#define KVMRUN_ACPI_H

#include <stddef.h>
#include <stdint.h>

#include "mem.h"

/*
 * Where the tables go (layout.h): the RSDP at ACPI_BASE (16-byte aligned,
 * inside the 0xe0000-0xfffff range an OS scans for "RSD PTR "), the other
 * tables right after it, all below ACPI_BASE + ACPI_SIZE = MPTABLE_BASE. The
 * memory map must mark [ACPI_BASE, 1 MiB) reserved. Up to MAX_CPUS vCPUs; a
 * device's gsi must be below IOAPIC_PINS.
 */

/* A virtio-mmio window: DSDT device "LNRO0005" with its memory range and interrupt. */
struct acpi_dev {
	uint64_t base; /* below 4 GiB (Memory32Fixed) */
	uint32_t size;
	uint32_t gsi; /* IOAPIC pin, edge-triggered, active high */
};

/* The machine to describe. COM1 (0x3f8, IRQ 4) is always included. */
struct acpi_config {
	int ncpus; /* 1..ACPI_MAX_CPUS: APIC ids 0..ncpus-1 */
	const struct acpi_dev *virtio;
	int nvirtio;
};

/*
 * Build all tables into guest memory at [gpa, gpa + room), RSDP first, and
 * return the RSDP's guest address (gpa; give it to the guest in
 * boot_params.acpi_rsdp_addr and hvm_start_info.rsdp_paddr). Returns 0 when
 * the configuration is invalid (ncpus out of range, a gsi >= 24, a window
 * not below 4 GiB), the tables do not fit in room, or [gpa, gpa + room) is
 * not guest RAM below 4 GiB. gpa must be 16-byte aligned.
 */
uint64_t acpi_write(const struct guest_mem *m, uint64_t gpa, uint64_t room,
		    const struct acpi_config *c);

/*
 * Write a new random VM generation ID (getrandom) at VMGENID_GPA, where the
 * DSDT's VGEN device says it is. 0, or -1 with errno.
 */
int acpi_vmgenid_new(const struct guest_mem *m);

/*
 * Build the same tables as acpi_write would at ACPI_BASE and write them to
 * dir as rsdp.dat, xsdt.dat, facp.dat, apic.dat and dsdt.dat (the names
 * acpixtract uses; `iasl -d` reads them). The directory must exist. 0, or
 * -1 with one line in err naming the cause.
 */
int acpi_dump(const struct acpi_config *c, const char *dir, char *err, size_t errlen);

#endif
