/* SPDX-License-Identifier: Apache-2.0 */
/* Snapshots of a running VM and restores from them: the lifecycle around snapfile.c and vmstate.c. */
#ifndef KVMRUN_SNAPSHOT_H
#define KVMRUN_SNAPSHOT_H

#include <stdbool.h>

struct vm;

/*
 * --snapshot-dir: open (create) DIR's three files before the jail and lock
 * the directory's state file, so no other kvmrun writes or restores from it
 * meanwhile. Ends the process on failure (status 2: DIR is the user's).
 */
void snapshot_prepare(struct vm *vm);

/*
 * Main thread, on SIGUSR2 or when the guest signalled init: park every vCPU
 * out of KVM_RUN, write the snapshot, then resume them. Returns true when it
 * was written (the caller exits for --snapshot-then exit); false, with a
 * line logged and on stderr, when it could not be, and the guest runs on.
 */
bool snapshot_take(struct vm *vm);

/*
 * --restore DIR: read and check the state file (a bad one ends the process
 * with status 2), take the machine's shape from it (vCPUs, RAM, PIT) and
 * map guest RAM from the memory file. Before /dev/kvm is opened.
 */
void restore_open(struct vm *vm);

/* Put the devices' state back (after setup_platform_devices). */
void restore_devices(struct vm *vm);

/* Put the VM's and each (bare) vCPU's state back, before any vCPU runs. */
void restore_cpus(struct vm *vm);

#endif
