/* SPDX-License-Identifier: Apache-2.0 */
/* Deferred VM teardown: a child holds the VM and its memory so that kvmrun's own exit is fast. */
#ifndef KVMRUN_TEARDOWN_H
#define KVMRUN_TEARDOWN_H

#include <stdbool.h>

struct teardown;

/*
 * Start the teardown child. Call it from the main thread once privileges
 * are dropped (the child inherits ids and capabilities) and before the
 * thread's own seccomp filter forbids clone. The child shares the address
 * space, keeps only `vmfd` (and a pidfd of kvmrun), sits under its own
 * seccomp filter (unless `confine` is false) and exits when every thread
 * of kvmrun has, so the kernel's VM and memory teardown runs in it.
 * If u names a file (the API socket), the child removes it once kvmrun has
 * exited. Returns its handle, or NULL with *err = -errno (then kvmrun tears
 * everything down in its own exit, as without it).
 */
struct teardown_unlink {
	int dirfd;	  /* -1: nothing to remove */
	const char *name; /* in that directory */
};
struct teardown *teardown_fork(int vmfd, bool confine, const struct teardown_unlink *u, int *err);

/*
 * Wait (up to timeout_ms, sleeping) until the child has installed its
 * filter: 0. If it failed or took longer, it is killed and -1 returned; the
 * VM is then torn down in kvmrun's own exit. Call before the guest runs.
 */
int teardown_confined(struct teardown *t, unsigned timeout_ms);

#endif
