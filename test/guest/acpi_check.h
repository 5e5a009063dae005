// SPDX-License-Identifier: Apache-2.0
/* probe guest: the ACPI mode (probe.exit=acpi); contract in README.md, "ACPI". */
#ifndef PROBE_ACPI_CHECK_H
#define PROBE_ACPI_CHECK_H

#include <stdint.h>

/* What probe_main was handed: BOOT_PVH/BZIMAGE/ELF and the start_info or zero page address. */
extern int acpi_boot_kind;
extern uint64_t acpi_boot_info;

/* Find the RSDP, check every table's checksum, report, then act on probe.acpi=. */
void mode_acpi(void);

#endif
