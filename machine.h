/* SPDX-License-Identifier: Apache-2.0 */
/* The KVM machine: the VM, guest RAM and its slots, the in-kernel irqchip. In start-up order. */
#ifndef KVMRUN_MACHINE_H
#define KVMRUN_MACHINE_H

#include <stddef.h>

#include "vm.h"

/* Guest RAM in our address space (--memory, the page size chosen): before KVM is opened. */
void machine_ram(struct vm *vm);

/*
 * /dev/kvm, the VM and what KVM offers it (CPUID, the MSRs a snapshot
 * saves), none of which depends on the guest's options: 0, or -1 with err
 * and nothing kept. --api-sock calls it while the client configures.
 */
int machine_make(struct vm *vm, char *err, size_t errlen);

/* The VM (machine_make, unless done; its error ends the process), and --cpus against KVM. */
void machine_open(struct vm *vm);

/* RAM and the virtio register windows as memory slots; /dev/kvm closed. */
void machine_memory(struct vm *vm);

/* The in-kernel PIC, IOAPIC and LAPICs, and the PIT unless --no-pit. After machine_memory. */
void machine_irqchip(struct vm *vm);

#endif
