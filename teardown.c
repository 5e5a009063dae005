// SPDX-License-Identifier: Apache-2.0
/*
 * Deferred VM teardown. Destroying a KVM VM waits for SRCU grace periods:
 * the in-kernel irqchip leaves one pending for a while after it is created,
 * and removing the PIT starts more; unmapping guest memory that a VM's MMU
 * notifier watches waits for another. Milliseconds, spent in the exit of
 * whichever process drops the last reference, and a launcher waiting for
 * kvmrun's exit status would wait for all of it.
 *
 * So a child made before the guest starts shares kvmrun's address space
 * (CLONE_VM) and holds a copy of the VM fd and no other fd (no disk, tap or
 * console: locks and taps are released the moment kvmrun exits). It waits
 * until the last thread of kvmrun is gone (a pidfd of kvmrun turns readable
 * then); as the child still uses the address space and the VM, kvmrun's
 * exit costs neither teardown. The child then exits and both happen there,
 * off the launcher's path.
 *
 * Why the whole thread group and not just kvmrun's fds: KVM starts a worker
 * of its own inside kvmrun (NX huge page recovery, "kvm-nx-lpage-re", a
 * thread of kvmrun since Linux 6.13) that holds references to the VM and
 * the address space and exits after kvmrun's other threads; a child that
 * left when kvmrun's fds closed would let that worker drop the last
 * references, and the teardown would run inside kvmrun's exit again.
 * Without pidfds (Linux < 5.3) the child falls back to a pipe's EOF.
 */
#include "teardown.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "seccomp.h"

/* Close every fd from `first` up (close_range, or one by one before Linux 5.9). */
static void close_from(int first)
{
	if (syscall(SYS_close_range, (unsigned)first, ~0u, 0) == 0)
		return;
	long max = sysconf(_SC_OPEN_MAX);
	for (long fd = first; fd < (max > 0 ? max : 1024); fd++)
		close((int)fd);
}

/* Shared with the child (CLONE_VM); lives at the bottom of its stack mapping. */
struct teardown {
	int vmfd, waitfd; /* waitfd: a pidfd of kvmrun, or a pipe's read end */
	int dirfd;	  /* -1, or where `name` is removed when kvmrun has gone */
	char name[108];
	bool pidfd, confine;
	int pid;
	int state; /* the child's progress: TD_STARTING, then TD_CONFINED or TD_FAILED */
};
enum { TD_STARTING, TD_CONFINED, TD_FAILED };

/* Until kvmrun is gone: its pidfd readable (every thread exited) or the pipe at EOF. */
static void wait_for_kvmrun(bool pidfd)
{
	struct pollfd p = { .fd = 0, .events = POLLIN };
	char c;
	for (;;) {
		ssize_t n = pidfd ? poll(&p, 1, -1) : read(0, &c, 1);
		if ((pidfd && n > 0) || (!pidfd && n == 0) || (n < 0 && errno != EINTR))
			return;
	}
}

/*
 * Runs on its own small stack in the shared address space but with the
 * parent's thread pointer: only plain syscall wrappers here (a failing one
 * writes the main thread's errno, which nothing reads at that point).
 */
static int child(void *arg)
{
	struct teardown *a = arg;
	int vmfd = a->vmfd, waitfd = a->waitfd, dirfd = a->dirfd;
	bool pidfd = a->pidfd, confine = a->confine;
	/* Signals meant for kvmrun's process group do not cut the wait short. */
	sigset_t all;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	/* Keep what we wait on as fd 0, the VM as fd 1, the socket's directory as 2. */
	if (dup2(waitfd, 0) < 0 || dup2(vmfd, 1) < 0 || (dirfd >= 0 && dup2(dirfd, 2) < 0)) {
		__atomic_store_n(&a->state, TD_FAILED, __ATOMIC_RELEASE);
		_exit(0);
	}
	close_from(dirfd >= 0 ? 3 : 2);
	prctl(PR_SET_NAME, "kvmrun-teardown", 0, 0, 0);
	/* Ids and capabilities are kvmrun's, already dropped (teardown.h). */
	if (confine && seccomp_enter(SECCOMP_TEARDOWN) < 0) {
		__atomic_store_n(&a->state, TD_FAILED, __ATOMIC_RELEASE);
		_exit(0);
	}
	/* A plain store into the shared memory: the filter allows no futex. */
	__atomic_store_n(&a->state, TD_CONFINED, __ATOMIC_RELEASE);
	wait_for_kvmrun(pidfd);
	if (dirfd >= 0)
		unlinkat(2, a->name, 0);
	_exit(0); /* the last user of the VM and the memory: teardown runs here */
}

#define CHILD_STACK (64u << 10)

struct teardown *teardown_fork(int vmfd, bool confine, const struct teardown_unlink *u, int *err)
{
	int p[2] = { -1, -1 };
	int pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0); /* close-on-exec */
	if (pidfd < 0 && pipe2(p, O_CLOEXEC) < 0) {
		*err = -errno;
		return NULL;
	}
	int waitfd = pidfd >= 0 ? pidfd : p[0];
	/* The child reads its arguments before it touches anything else; they
	 * live on the same fresh mapping as its stack, which is never freed. */
	uint8_t *stack =
		mmap(NULL, CHILD_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (stack == MAP_FAILED) {
		*err = -errno;
		close(waitfd);
		if (p[1] >= 0)
			close(p[1]);
		return NULL;
	}
	struct teardown *a = (void *)stack; /* mmap: page-aligned */
	*a = (struct teardown){
		.vmfd = vmfd,
		.waitfd = waitfd,
		.pidfd = pidfd >= 0,
		.confine = confine,
		.state = TD_STARTING,
		.dirfd = u && u->name ? u->dirfd : -1,
	};
	if (u && u->name)
		snprintf(a->name, sizeof(a->name), "%s", u->name);
	/* No CLONE_FILES: the child gets a copy of the fd table and trims it. */
	int pid = clone(child, stack + CHILD_STACK, CLONE_VM | SIGCHLD, a);
	int e = errno;
	close(waitfd);
	if (pid < 0) {
		*err = -e;
		if (p[1] >= 0)
			close(p[1]);
		munmap(stack, CHILD_STACK);
		return NULL;
	}
	a->pid = pid;
	/* A pipe's write end stays open, unused, until kvmrun exits. */
	return a;
}

int teardown_confined(struct teardown *t, unsigned timeout_ms)
{
	/* The child starts, trims its fds and installs one filter: tens of microseconds. */
	const struct timespec tick = { 0, 20000 };
	for (unsigned long waited_us = 0;; waited_us += 20) {
		int s = __atomic_load_n(&t->state, __ATOMIC_ACQUIRE);
		if (s == TD_CONFINED)
			return 0;
		if (s == TD_FAILED || waited_us >= timeout_ms * 1000ul)
			break;
		nanosleep(&tick, NULL);
	}
	/* Not confined: it must not live on beside the guest. */
	kill(t->pid, SIGKILL);
	return -1;
}
