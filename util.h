/* SPDX-License-Identifier: Apache-2.0 */
/* Small helpers every module shares (counters, eventfds, one-line errors, checksums), and how failures are reported. */
#ifndef KVMRUN_UTIL_H
#define KVMRUN_UTIL_H

#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

/*
 * How a function reports failure, everywhere in kvmrun:
 *   - -errno, when a system call failed and errno says all there is to say
 *     (mem_register, virtio_start, seccomp_enter).
 *   - -1 (or NULL) with a one-line message in the caller's `char *err,
 *     size_t errlen` (no trailing newline), when the failure needs words:
 *     which file, field or value, and why. A function whose failure can be
 *     the user's input or the host returns ERR_USAGE for the first, so the
 *     caller can exit 2 for a usage error and 1 for a runtime one.
 */
#define ERR_USAGE (-2)

/* Format the message into err and return -1 (the second convention above). */
__attribute__((format(printf, 3, 4))) static inline int errf(char *err, size_t errlen,
							     const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* Add to a statistics counter that other threads sample: relaxed, never torn. */
static inline void stat_add(uint64_t *c, uint64_t n)
{
	__atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}

/* Wake whoever polls an eventfd. A write fails only on counter overflow: a wake-up is pending then. */
static inline void efd_signal(int fd)
{
	uint64_t one = 1;
	if (write(fd, &one, sizeof(one)) < 0) {
	}
}

/* Reset a non-blocking eventfd's counter (EAGAIN: it was already 0). */
static inline void efd_drain(int fd)
{
	uint64_t v;
	if (read(fd, &v, sizeof(v)) < 0) {
	}
}

/* Sleep while *a == val (a futex: the start gate, and vCPUs parked for a snapshot). */
/*
 * An epoll set holding only `fd` for EPOLLOUT: whether an output (a pipe, a
 * socket, a terminal) takes more without blocking, asked with a zero
 * timeout or waited on. -1 when epoll cannot hold it (a regular file, always
 * writable) or fd is -1.
 */
static inline int out_epoll(int fd)
{
	struct epoll_event ev = { .events = EPOLLOUT };
	int ep = fd < 0 ? -1 : epoll_create1(EPOLL_CLOEXEC);
	if (ep >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		close(ep);
		ep = -1;
	}
	return ep;
}

/* At exit: wait for room on out_epoll's set, a tenth of a second of *ms at a time. */
static inline void out_wait(int ep, int *ms)
{
	struct epoll_event ev;
	epoll_wait(ep, &ev, 1, *ms < 100 ? *ms : 100);
	*ms -= 100;
}

static inline void futex_wait(atomic_int *a, int val)
{
	syscall(SYS_futex, a, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static inline void futex_wake(atomic_int *a)
{
	syscall(SYS_futex, a, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
}

/* The byte that makes an ACPI or MP table's bytes sum to zero (its checksum field counted as 0). */
static inline uint8_t sum8_fix(const void *p, size_t len)
{
	uint8_t sum = 0;
	for (size_t i = 0; i < len; i++)
		sum += ((const uint8_t *)p)[i];
	return (uint8_t)-sum;
}

/*
 * Start fn(arg) on a detached thread with `stack` bytes of stack and every
 * signal blocked: signals are main's (and the vCPU kick is the vCPUs').
 * 0 or -errno.
 */
static inline int thread_spawn_quiet(void *(*fn)(void *), void *arg, size_t stack)
{
	pthread_t t;
	pthread_attr_t attr;
	sigset_t all, old;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, stack);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&t, &attr, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	return -rc;
}

#endif
