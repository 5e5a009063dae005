/* SPDX-License-Identifier: Apache-2.0 */
/* Intel MultiProcessor table: how the guest finds its CPUs and IOAPIC without ACPI. */
#ifndef KVMRUN_MPTABLE_H
#define KVMRUN_MPTABLE_H

#include <stdint.h>

#include "mem.h"

/*
 * Write the floating pointer and configuration table at guest-physical gpa
 * (within the BIOS area the guest scans, 0xf0000-0xfffff): one enabled
 * processor per vCPU with APIC id = index (0 is the BSP), one IOAPIC with
 * id ncpus, an ISA bus and its interrupt routing. Returns the bytes written,
 * or -1 if ncpus is out of range or the table does not fit in guest memory.
 */
int mptable_write(const struct guest_mem *m, uint64_t gpa, int ncpus);

#endif
