/* SPDX-License-Identifier: Apache-2.0 */
/* The ACPI power-management ports the FADT names: poweroff (S5) and reset. */
#ifndef KVMRUN_ACPI_PM_H
#define KVMRUN_ACPI_PM_H

#include <stdint.h>

#include "bus.h"
#include "layout.h"

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
