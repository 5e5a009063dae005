/* SPDX-License-Identifier: Apache-2.0 */
/* ACPI tables (RSDP, XSDT, FADT, MADT, DSDT) and the power-management ports they name. */
#ifndef KVMRUN_ACPI_H
#define KVMRUN_ACPI_H

#include <stddef.h>
#include <stdint.h>

#include "bus.h"
#include "mem.h"

/*
 * Where the tables go (layout.h): the RSDP at ACPI_BASE (16-byte aligned,
 * inside the 0xe0000-0xfffff range an OS scans for "RSD PTR "), the other
 * tables right after it, all below ACPI_BASE + ACPI_SIZE = MPTABLE_BASE. The
 * memory map must mark [ACPI_BASE, 1 MiB) reserved. Up to MAX_CPUS vCPUs; a
 * device's gsi must be below IOAPIC_PINS.
 */

/*
 * The hardware-reduced power-management registers, three byte-wide I/O
 * ports (bus_add acpi_pm_bus_ops at ACPI_PM_PORT, length ACPI_PM_PORT_LEN):
 *   0x600 SLEEP_CONTROL_REG  write SLP_EN (bit 5) with SLP_TYP (bits 4:2)
 *                            = ACPI_SLP_TYP_S5: power off. Reads 0.
 *   0x601 SLEEP_STATUS_REG   reads 0 (WAK_STS never set); writes ignored.
 *   0x602 RESET_REG          write ACPI_RESET_VALUE: reset. Reads 0.
 * Every other write is ignored and counted.
 */
#define ACPI_SLEEP_CONTROL_PORT (ACPI_PM_PORT + 0)
#define ACPI_SLEEP_STATUS_PORT (ACPI_PM_PORT + 1)
#define ACPI_RESET_PORT (ACPI_PM_PORT + 2)
#define ACPI_RESET_VALUE 0x01
#define ACPI_SLP_TYP_S5 5 /* the _S5_ package's value */

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
 * Build the same tables as acpi_write would at ACPI_BASE and write them to
 * dir as rsdp.dat, xsdt.dat, facp.dat, apic.dat and dsdt.dat (the names
 * acpixtract uses; `iasl -d` reads them). The directory must exist. 0, or
 * -1 with one line in err naming the cause.
 */
int acpi_dump(const struct acpi_config *c, const char *dir, char *err, size_t errlen);

/* What the guest asked for through the PM ports. */
enum acpi_event { ACPI_EVENT_POWEROFF = 1, ACPI_EVENT_RESET = 2 };

struct acpi_pm;

/*
 * The PM port device. `event(ctx, kind)` runs on the vCPU thread that wrote
 * the register, kind an enum acpi_event; it may run more than once (several
 * vCPUs, repeated writes), so it must be idempotent. NULL when out of memory.
 */
struct acpi_pm *acpi_pm_create(void (*event)(void *ctx, int kind), void *ctx);
void acpi_pm_free(struct acpi_pm *pm);

/* Its port handlers: bus_add(pio, ACPI_PM_PORT, ACPI_PM_PORT_LEN, &acpi_pm_bus_ops, pm). */
extern const struct bus_ops acpi_pm_bus_ops;

/* Guest writes to the PM ports that asked for nothing kvmrun does (e.g. S3). */
uint64_t acpi_pm_ignored(const struct acpi_pm *pm);

#endif
