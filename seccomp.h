/* SPDX-License-Identifier: Apache-2.0 */
/* Per-thread seccomp allowlists: one per thread role, compiled to BPF at build time. */
#ifndef KVMRUN_SECCOMP_H
#define KVMRUN_SECCOMP_H

#include <stdio.h>

enum seccomp_role {
	SECCOMP_MAIN,	      /* the event loop: console, signals, timers */
	SECCOMP_VCPU,	      /* KVM_RUN and the device register handlers it calls */
	SECCOMP_IO,	      /* virtio-blk device threads: disk I/O */
	SECCOMP_TEARDOWN,     /* the child that holds the VM fd until kvmrun exits */
	SECCOMP_SNAPSHOT,     /* main, when it may write snapshots: main's list and their calls */
	SECCOMP_API,	      /* --api-sock: the thread that reads HTTP requests from clients */
	SECCOMP_OPENER,	      /* --api-sock: the thread that opens an image PATCH /drives names */
	SECCOMP_RESTART,      /* main with --on-reboot restart: main's list and a reset's calls */
	SECCOMP_NET,	      /* virtio-net device threads: tap or stream I/O, no disk calls */
	SECCOMP_RESTART_SNAP, /* main with both: the snapshot role's and the restart role's */
	SECCOMP_ROLES
};

/*
 * Install the role's filter on the calling thread (with no_new_privs).
 * Anything outside the allowlist kills the whole process with SIGSYS.
 * 0 or -errno.
 */
int seccomp_enter(enum seccomp_role role);

/*
 * --seccomp-selftest ROLE: install that role's filter, then make a call no
 * role allows; the kernel must kill the process with SIGSYS. Returns only on
 * failure: ERR_USAGE for an unknown role, else -1; err says why.
 */
int seccomp_selftest(const char *role, char *err, size_t errlen);

/* A role by its name (main, vcpu, io, net, teardown, snapshot, api, opener, restart,
 * restart-snap), or -1. */
int seccomp_role_by_name(const char *name);

/*
 * Every role's allowlist, one line per rule: "ROLE syscall NAME" (ioctl
 * limited to the requests listed) and "ROLE ioctl 0xREQ NAME". For --seccomp-list and the test that holds the
 * lists to what each role really calls.
 */
void seccomp_list(FILE *out);

/* Number of allowed syscalls (and ioctl requests) in a role's filter. */
int seccomp_count(enum seccomp_role role, int *ioctls);

#endif
