/* SPDX-License-Identifier: Apache-2.0 */
/* Snapshots of a running VM and restores from them: the lifecycle around snapfile.c and vmstate.c. */
#ifndef KVMRUN_SNAPSHOT_H
#define KVMRUN_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>

struct vm;

#define SNAPSHOT_FILES 4 /* state, memory, config.json, dirty (diffs) */

/*
 * --snapshot-dir: open (create) DIR's three files before the jail and lock
 * the directory's memory file, so no other kvmrun writes or restores from it
 * meanwhile; and, as for --api-sock, take the room a snapshot needs (a
 * confined main may not allocate). Ends the process on failure (status 2:
 * DIR is the user's).
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
 * PUT /snapshot/create: DIR's files (with diff, the dirty-page map's too),
 * created (and DIR) as --snapshot-dir would; or with mem, the pair of files
 * DIR (the state) and mem, and DIR.json (snappath.h); the memory file
 * locked. The opener thread calls it (it alone may open files once the
 * guest runs). 0, or -1 with err and nothing open.
 */
int snapshot_files_open(const char *dir, const char *mem, bool diff, int fds[SNAPSHOT_FILES],
			char *err, size_t errlen);
void snapshot_files_close(int fds[SNAPSHOT_FILES]);

/*
 * snapshot_take into DIR's files, --snapshot-dir's left as they were: a full
 * snapshot, or with diff (a guest restored with dirty tracking on) the pages
 * written since its restore, naming the snapshot it came from.
 */
bool snapshot_take_to(struct vm *vm, const char *dir, const int fds[SNAPSHOT_FILES], bool diff);

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
