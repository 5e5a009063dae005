/* SPDX-License-Identifier: Apache-2.0 */
/* The machine kvmrun builds: every guest-physical address, port, interrupt line and limit. */
#ifndef KVMRUN_LAYOUT_H
#define KVMRUN_LAYOUT_H

/*
 * Guest-physical memory, low to high:
 *
 *   0x0000_0000  RAM ---------------------------------------------------+
 *     0x500        GDT (boot.c: flat 32/64-bit code, data, TSS)         |
 *     0x6000       PVH hvm_start_info, its module list and memory map  |
 *     0x7000       Linux boot_params (the "zero page")                   |
 *     0x9000       PML4, 0xa000 PDPT, 0xb000-0xefff four PDs:           |
 *                  the low 4 GiB identity-mapped with 2 MiB pages       |
 *     0x20000      kernel command line (up to 64 KiB)                   |
 *   0x9_fc00     EBDA: reserved up to 0xa_0000                         low RAM
 *   0xe_0000     ACPI tables (RSDP first), up to 0xf_0000;            |
 *   0xf_0000     MP table; [0xe_0000, 1 MiB) reserved in the e820 map |
 *   0x10_0000    the kernel (bzImage, ELF segments), then the initrd at |
 *                the top of low RAM                                      |
 *   0xc000_0000  MEM_HOLE_START: RAM stops here --------------------------+
 *     0xd000_0000  virtio-mmio windows, 4 KiB each, disks then NICs
 *     0xd100_0000  the boot-timer byte (write 123: "init started")
 *     0xfec0_0000  IOAPIC
 *     0xfee0_0000  LAPIC
 *     0xfffb_c000  KVM's identity-map page, then its three TSS pages
 *   0x1_0000_0000 MEM_HIGH_START: RAM above 3 GiB continues here
 */
#define BOOT_GDT 0x500ULL
#define BOOT_START_INFO 0x6000ULL
#define BOOT_ZERO_PAGE 0x7000ULL
#define BOOT_PML4 0x9000ULL
#define BOOT_PDPT 0xA000ULL
#define BOOT_PD 0xB000ULL /* four pages */
#define BOOT_CMDLINE 0x20000ULL
#define BOOT_CMDLINE_MAX 0x10000ULL
#define BOOT_EBDA 0x9fc00ULL
#define BOOT_RESERVED 0xe0000ULL /* [0xe0000, 1 MiB) reserved: ACPI tables, MP table */
#define ACPI_BASE 0xe0000ULL
#define ACPI_SIZE 0x10000ULL
#define MPTABLE_BASE 0xf0000ULL
/*
 * The VM generation ID (16 bytes) the DSDT's VGEN device points at, in the
 * reserved range above the MP table: kvmrun writes a new one at every
 * restore and raises GED_GSI, whose _EVT notifies VGEN (Linux then reseeds
 * its CRNG: clones of one snapshot must not share its state).
 */
#define VMGENID_GPA 0xff000ULL
#define VMGENID_LEN 16
#define BOOT_KERNEL 0x100000ULL

#define MEM_HOLE_START 0xC0000000ULL  /* 3 GiB */
#define MEM_HIGH_START 0x100000000ULL /* 4 GiB */

#define VIRTIO_BASE 0xd0000000ULL /* window i at VIRTIO_BASE + i * 4 KiB */
#define BOOT_TIMER_ADDR 0xd1000000ULL
#define IOAPIC_ADDR 0xfec00000u
#define LAPIC_ADDR 0xfee00000u
#define IDENTITY_MAP_ADDR 0xfffbc000ULL /* KVM_SET_IDENTITY_MAP_ADDR: one page */
#define TSS_ADDR 0xfffbd000ULL		/* KVM_SET_TSS_ADDR: three pages */

/* I/O ports. */
#define I8042_DATA_PORT 0x60
#define I8042_CMD_PORT 0x64
#define SERIAL_COM1_BASE 0x3f8
#define ACPI_PM_PORT 0x600 /* sleep control, sleep status, reset: one byte each */
#define ACPI_PM_PORT_LEN 3

/*
 * Interrupt lines: IOAPIC pin n is GSI n, ISA IRQ n is wired to pin n. The
 * virtio devices follow COM1's IRQ 4, one pin each.
 */
#define I8042_IRQ 1
#define SERIAL_COM1_IRQ 4
#define GED_GSI 3 /* ISA IRQ 3 (COM2's, which this machine lacks): the ACPI GED's event line */
#define VIRTIO_FIRST_GSI 5
#define IOAPIC_PINS 24 /* GSIs 0..23: KVM's in-kernel IOAPIC has no more */
#define MAX_VIRTIO_DEVICES (IOAPIC_PINS - VIRTIO_FIRST_GSI) /* disks and NICs together: 19 */

/* APIC ids 0..MAX_CPUS-1 for the vCPUs; the IOAPIC takes id ncpus (< 255, broadcast). */
#define MAX_CPUS 254

#endif
