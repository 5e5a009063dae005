// SPDX-License-Identifier: Apache-2.0
/*
 * Deferred VM teardown. Destroying a KVM VM waits for SRCU grace periods:
 * the in-kernel irqchip leaves one pending for about 13 ms after it is
 * created, and removing the PIT starts more; unmapping guest memory that a
 * VM's MMU notifier watches waits for another. On this host that is 13-25 ms,
 * spent in the exit of whichever process drops the last reference, and a
 * launcher waiting for kvmrun's exit status waits for all of it.
 *
 * So a child made when the guest starts shares kvmrun's address space
 * (CLONE_VM) and holds a copy of the VM fd and no other fd (no disk, tap or
 * console: locks and taps are released the moment kvmrun exits, as before).
 * It blocks reading a pipe whose only writer is kvmrun; kvmrun's exit closes
 * the pipe and, as the child still uses the address space and the VM, costs
 * neither teardown. The child then exits and both happen there, off the
 * launcher's path.
 */
#include "teardown.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
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

struct child_args {
	int vmfd, rd;
	bool confine;
};

/*
 * Runs on its own small stack in the shared address space but with the
 * parent's thread pointer: only plain syscall wrappers here (a failing one
 * writes the main thread's errno, which nothing reads at that point).
 */
static int child(void *arg)
{
	const struct child_args *a = arg;
	int vmfd = a->vmfd, rd = a->rd;
	bool confine = a->confine;
	/* Signals meant for kvmrun's process group do not cut the wait short. */
	sigset_t all;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	/* Keep the pipe as fd 0 and the VM as fd 1; nothing else. */
	if (dup2(rd, 0) < 0 || dup2(vmfd, 1) < 0)
		_exit(0);
	close_from(2);
	prctl(PR_SET_NAME, "kvmrun-teardown", 0, 0, 0);
	/* Ids and capabilities are kvmrun's, already dropped (teardown.h). */
	if (confine && seccomp_enter(SECCOMP_TEARDOWN) < 0)
		_exit(0);
	char c;
	for (;;) {
		ssize_t n = read(0, &c, 1);
		if (n == 0 || (n < 0 && errno != EINTR))
			break;
	}
	_exit(0); /* the last user of the VM and the memory: teardown runs here */
}

#define CHILD_STACK (64u << 10)

int teardown_fork(int vmfd, bool confine)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	/* The child reads its arguments before it touches anything else; they
	 * live on the same fresh mapping as its stack, which is never freed. */
	uint8_t *stack = mmap(NULL, CHILD_STACK, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (stack == MAP_FAILED) {
		int e = errno;
		close(p[0]);
		close(p[1]);
		return -e;
	}
	struct child_args *a = (struct child_args *)stack;
	*a = (struct child_args){ .vmfd = vmfd, .rd = p[0], .confine = confine };
	/* No CLONE_FILES: the child gets a copy of the fd table and trims it. */
	int pid = clone(child, stack + CHILD_STACK, CLONE_VM | SIGCHLD, a);
	int e = errno;
	close(p[0]);
	if (pid < 0) {
		close(p[1]);
		munmap(stack, CHILD_STACK);
		return -e;
	}
	/* The write end stays open, unused, until kvmrun exits. */
	return 0;
}
