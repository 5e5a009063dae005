// SPDX-License-Identifier: Apache-2.0
/* The ACPI power-management ports the FADT names: poweroff (S5) and reset. */
#include "acpi_pm.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"

#define SLP_EN 0x20 /* sleep control register: SLP_EN bit 5, SLP_TYP bits 4:2 */
#define SLP_TYP_SHIFT 2
#define SLP_TYP_MASK 0x7

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
