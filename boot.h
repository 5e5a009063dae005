/* SPDX-License-Identifier: Apache-2.0 */
/* Kernel loading: bzImage, PVH ELF and plain ELF vmlinux, with the boot data they expect. */
#ifndef KVMRUN_BOOT_H
#define KVMRUN_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "mem.h"

/* Where the boot data goes (BOOT_GDT, BOOT_ZERO_PAGE, ...): layout.h, included by mem.h. */

/* GDT selectors kvmrun sets up (Linux's boot protocol wants 0x10/0x18). */
#define BOOT_CS32 0x08
#define BOOT_CS64 0x10
#define BOOT_DS 0x18
#define BOOT_TSS 0x20

enum boot_format { BOOT_BZIMAGE, BOOT_PVH, BOOT_ELF };

/* How a vCPU enters the guest; filled by boot_load, applied by cpu.c. */
struct boot_entry {
	enum boot_format format;
	uint64_t rip;
	uint64_t rsi; /* LONG64: boot_params address */
	uint64_t rbx; /* PVH: hvm_start_info address */
	uint64_t cr3; /* LONG64: page tables */
};

struct boot_spec {
	const char *kernel;
	const char *initrd;  /* NULL: none */
	const char *cmdline; /* the complete command line */
	uint64_t rsdp;	     /* ACPI RSDP address for the guest, 0: none */
};

struct e820_entry {
	uint64_t addr, size;
	uint32_t type;
};
#define E820_RAM 1
#define E820_RESERVED 2
#define E820_MAX 8

/* The memory map kvmrun gives the guest for this RAM layout. Returns the count. */
int boot_e820(const struct guest_mem *m, struct e820_entry out[E820_MAX]);

/*
 * Detect the kernel's format from its bytes and load it, the initrd and the
 * command line into guest memory, with the zero page or hvm_start_info, the
 * memory map, GDT and page tables. On failure `err` holds one line naming
 * the file and what is wrong, and the result is ERR_USAGE when the cause is
 * the user's input (a bad file or a value that does not fit), -1 for a
 * runtime failure (util.h).
 */
int boot_load(const struct guest_mem *m, const struct boot_spec *s, struct boot_entry *e, char *err,
	      size_t errlen);

/*
 * The guest memory the kernel in file `kernel` occupies by itself: from its
 * lowest to its highest loaded byte (ELF, BSS included) or its init_size
 * (bzImage). 0 when the file cannot be read or parsed: boot_load then says why.
 */
uint64_t boot_footprint(const char *kernel);

const char *boot_format_name(enum boot_format f);

#endif
