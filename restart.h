/* SPDX-License-Identifier: Apache-2.0 */
/* --on-reboot restart: the machine as it was at boot, and putting it back in place. */
#ifndef KVMRUN_RESTART_H
#define KVMRUN_RESTART_H

struct vm;

/*
 * Before any vCPU first runs (and before main's filter): keep what a boot
 * starts from. The guest RAM the loader wrote (kernel, initrd, boot
 * parameters, ACPI and MP tables, page tables: the resident, non-zero
 * pages, copied once), every vCPU's and the VM's KVM state, the UART's and
 * the i8042's. Its size is logged. vm_die when out of memory or KVM fails.
 */
void restart_prepare(struct vm *vm);

/*
 * Main thread, when a vCPU asked to reboot (vm->rebooting set, that vCPU
 * holding): park every vCPU, reset every virtio device as its driver would,
 * drop all guest RAM (MADV_DONTNEED: the next run sees zero pages, nothing
 * of the last one), copy the boot image back, put every vCPU's and the VM's
 * boot state back, and let the vCPUs go. Disks, taps, sockets, the console
 * and every fd stay as they are. vm_die if the vCPUs do not stop or KVM
 * refuses the state.
 */
void restart_run(struct vm *vm);

#endif
