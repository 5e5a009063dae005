// SPDX-License-Identifier: Apache-2.0
/* probe guest: constants shared by the assembly and the C part. */
#ifndef PROBE_LAYOUT_H
#define PROBE_LAYOUT_H

#define LOAD_ADDR 0x100000

/* GDT selectors, the Linux 64-bit boot protocol's choice for CS and DS. */
#define SEL_CS32 0x08
#define SEL_CS64 0x10
#define SEL_DS 0x18

/* Boot kinds passed to probe_main. */
#define BOOT_PVH 0
#define BOOT_BZIMAGE 1
#define BOOT_ELF 2

/* Offsets in hvm_start_info and boot_params (the zero page). */
#define SI_MAGIC 0x00
#define SI_VERSION 0x04
#define SI_NR_MODULES 0x0c
#define SI_MODLIST 0x10
#define SI_CMDLINE 0x18
#define SI_MEMMAP 0x28
#define SI_MEMMAP_ENTRIES 0x30
#define SI_SIZE 0x38
#define SI_MAGIC_VALUE 0x336ec578

#define BP_ACPI_RSDP 0x070
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE 0x0c4
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_E820_ENTRIES 0x1e8
#define BP_RAMDISK_IMAGE 0x218
#define BP_RAMDISK_SIZE 0x21c
#define BP_CMD_LINE_PTR 0x228
#define BP_E820_TABLE 0x2d0

#endif
