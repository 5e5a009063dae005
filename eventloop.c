// SPDX-License-Identifier: Apache-2.0
/* The main thread's loop: signals, console input and output, the VM's stop, and the way out. */
#include "vm.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "api.h"
#include "endpoints.h"
#include "i8042.h"
#include "restart.h"
#include "snapshot.h"
#include "util.h"

static void loop_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGQUIT);
	sigaddset(set, SIGUSR1);
	sigaddset(set, SIGUSR2);
	sigaddset(set, LEASE_SIGNAL); /* a restored snapshot's memory file is about to change */
}

void vm_block_signals(void)
{
	sigset_t set;
	loop_signals(&set);
	/* The vCPUs' kick is theirs alone: one sent to the process must not end main. */
	sigaddset(&set, CPU_KICK_SIGNAL);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static int block_signals(struct vm *vm)
{
	sigset_t set;
	loop_signals(&set); /* blocked since main's start (vm_block_signals) */
	int fd = signalfd(-1, &set, SFD_CLOEXEC);
	if (fd < 0)
		vm_die(vm, EXIT_RUNTIME, "signalfd: %s", strerror(errno));
	return fd;
}

/* 0, or -1 when fd is a file epoll cannot watch (always readable). */
static int epoll_add(struct vm *vm, int ep, int fd, uint32_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = tag };
	if (fd < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0)
		return 0;
	if (errno == EPERM)
		return -1;
	vm_die(vm, EXIT_RUNTIME, "epoll_ctl: %s", strerror(errno));
}

/* Stop every vCPU, flush the console, report, and leave with `status`. */
__attribute__((noreturn)) static void finish(struct vm *vm, int status, const char *msg)
{
	atomic_store(&vm->stopping, true);
	for (int i = 0; i < vm->opt.cpus; i++)
		cpu_kick(&vm->cpus[i]);
	console_flush(&vm->con, vm->serial, 1000); /* a console that takes nothing: 1 s at most */
	bool was_raw = vm->con.tty_raw;
	console_restore(&vm->con);
	if (msg && msg != vm->stop_msg)
		snprintf(vm->stop_msg, sizeof(vm->stop_msg), "%s", msg);
	log_msg(&vm->log, status ? LOG_ERROR : LOG_INFO, "exit %d: %s", status, vm->stop_msg);
	/* A FIFO reader gets whole lines: an earlier line's tail, then this one's (1 s at most). */
	metrics_flush(&vm->metrics, 500);
	vm_report(vm, "exit", status);
	metrics_flush(&vm->metrics, 500);
	if (status && msg)
		fprintf(stderr, "%skvmrun: %s\n", was_raw ? "\r\n" : "", msg);
	if (vm->trace) {
		fprintf(stderr, "kvmrun: trace: main %llu.%09llu first_run %llu.%09llu stages",
			(unsigned long long)(vm->t_main / 1000000000u),
			(unsigned long long)(vm->t_main % 1000000000u),
			(unsigned long long)(vm->t_first_run / 1000000000u),
			(unsigned long long)(vm->t_first_run % 1000000000u));
		for (int i = 0; i < vm->nstages; i++)
			fprintf(stderr, " %s=%llu", vm->stages[i].name,
				(unsigned long long)(vm->stages[i].t - vm->t_main) / 1000);
		fputc('\n', stderr);
	}
	/* No joins: vCPU threads may sit in KVM; process exit reclaims everything. */
	_exit(status);
}

static int stop_status(struct vm *vm)
{
	switch (atomic_load(&vm->stop_why)) {
	case CPU_STOP_RESET:
	case CPU_STOP_REBOOT:
		return EXIT_GUEST_DONE;
	case CPU_STOP_FAULT:
		return EXIT_GUEST_FAULT;
	default:
		return EXIT_RUNTIME;
	}
}

enum {
	EV_SIGNAL,
	EV_STDIN,
	EV_SERIAL,
	EV_STOP,
	EV_GRACE,
	EV_SNAPSHOT,
	EV_API,
	EV_REBOOT,
	EV_CONSOLE
};

/*
 * Guest output, and the console's state after it: main never blocks on a
 * slow or stuck console reader (it would stop serving signals, the API and
 * the guest's stop). What the console cannot take waits in the UART; the
 * loop hears when the console has room (EV_CONSOLE, one-shot), and a turn
 * cut short comes back after the other events (the serial eventfd again).
 */
static void drain(struct vm *vm, struct vm_loop *l)
{
	enum console_drain r = console_drain(&vm->con, vm->serial);
	if (r == CONSOLE_MORE)
		efd_signal(vm->serial_fd);
	if (r != CONSOLE_BLOCKED || vm->con.out_ep < 0)
		return;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT, .data.u32 = EV_CONSOLE };
	if (epoll_ctl(l->ep, l->out_added ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, vm->con.out_ep, &ev) ==
	    0)
		l->out_added = true;
}

/*
 * Console input, and whether to keep watching stdin: while the UART has no
 * room the bytes stay where they are and stdin is not watched (level-triggered,
 * it would wake the loop without end); the guest's reading frees room and
 * fires the serial eventfd, which puts it back.
 */
/* Out of the set, not masked: a hung-up pipe reports EPOLLHUP whatever the mask. */
static void watch_stdin(struct vm_loop *l, int in_fd, bool on)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = EV_STDIN };
	if (on == l->in_off &&
	    epoll_ctl(l->ep, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, in_fd, on ? &ev : NULL) == 0)
		l->in_off = !on;
}

static void input(struct vm *vm, struct vm_loop *l, int in_fd)
{
	if (!console_input(&vm->con, vm->serial))
		finish(vm, EXIT_GUEST_DONE, "Ctrl-A x: quit");
	if (vm->con.in_fd < 0) {
		epoll_ctl(l->ep, EPOLL_CTL_DEL, in_fd, NULL);
		return;
	}
	watch_stdin(l, in_fd, serial_input_room(vm->serial) > 0);
}

/* A snapshot, asked for by SIGUSR2 or the guest's init; then exit or run on. */
static void on_snapshot(struct vm *vm)
{
	if (!vm->opt.snapshot_dir) {
		log_msg(&vm->log, LOG_WARN, "SIGUSR2: no --snapshot-dir, nothing to do");
		return;
	}
	if (snapshot_take(vm) && !vm->opt.snapshot_resume)
		finish(vm, EXIT_GUEST_DONE, "snapshot written; exiting (--snapshot-then exit)");
}

/*
 * Someone truncates a memory file this guest's RAM is mapped from, or opens
 * it for writing; the kernel holds them until this process lets go. End the
 * guest now, before its pages go: later it would read zeros, or fault.
 */
static void on_lease_break(struct vm *vm, int fd)
{
	for (int i = 0; i < vm->nleases; i++)
		if (vm->lease_fd[i] == fd) {
			snprintf(vm->stop_msg, sizeof(vm->stop_msg),
				 "%s: the restored guest's memory file is being truncated or "
				 "opened for writing; the guest stops before its memory goes",
				 vm->lease_path[i]);
			finish(vm, EXIT_RUNTIME, vm->stop_msg);
		}
	log_msg(&vm->log, LOG_WARN, "signal %d: not from a memory file's lease; ignored",
		LEASE_SIGNAL);
}

static void on_signal(struct vm *vm, int sfd, int tfd, bool *asked)
{
	struct signalfd_siginfo si;
	if (read(sfd, &si, sizeof(si)) != sizeof(si))
		return;
	int sig = (int)si.ssi_signo;
	if (sig == SIGUSR1) {
		vm_report(vm, "sigusr1", -1);
		return;
	}
	if (sig == SIGUSR2) {
		on_snapshot(vm);
		return;
	}
	if (sig == LEASE_SIGNAL) {
		on_lease_break(vm, (int)si.ssi_fd);
		return;
	}
	if (sig == SIGHUP && vm->limits_fd >= 0) { /* with --limits: reload, not hang up */
		char err[256];
		int n = vm_limits_apply(vm, err, sizeof(err));
		if (n < 0)
			log_msg(&vm->log, LOG_ERROR, "SIGHUP: --limits %s: %s; limits unchanged",
				vm->opt.limits_path, err);
		else
			log_msg(&vm->log, LOG_INFO, "SIGHUP: limits of %d devices read from %s", n,
				vm->opt.limits_path);
		return;
	}
	if (sig == SIGTERM && vm->api_paused) /* parked vCPUs cannot take a Ctrl-Alt-Del */
		finish(vm, EXIT_SIGNAL + sig, "terminated by SIGTERM (the guest was paused)");
	if (sig == SIGTERM && !*asked) { /* the first SIGTERM asks; a second one ends it now */
		struct itimerspec grace = { .it_value.tv_sec = vm->opt.shutdown_timeout };
		if (grace.it_value.tv_sec == 0)
			grace.it_value.tv_nsec = 1;
		*asked = true;
		log_msg(&vm->log, LOG_INFO,
			"SIGTERM: asking the guest to shut down (Ctrl-Alt-Del)");
		i8042_ctrl_alt_del(vm->kbd);
		timerfd_settime(tfd, 0, &grace, NULL);
		return;
	}
	finish(vm, EXIT_SIGNAL + sig,
	       sig == SIGINT	? "terminated by SIGINT"
	       : sig == SIGHUP	? "terminated by SIGHUP"
	       : sig == SIGQUIT ? "terminated by SIGQUIT"
				: "terminated by SIGTERM");
}

void vm_loop_open(struct vm *vm, struct vm_loop *l)
{
	l->ep = epoll_create1(EPOLL_CLOEXEC);
	l->sfd = block_signals(vm);
	l->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	l->asked = false;
	l->out_added = l->in_off = false;
	if (l->ep < 0 || l->tfd < 0)
		vm_die(vm, EXIT_RUNTIME, "epoll/timerfd: %s", strerror(errno));
	epoll_add(vm, l->ep, l->sfd, EV_SIGNAL);
	vm->con.in_unpollable = epoll_add(vm, l->ep, vm->con.in_fd, EV_STDIN) < 0;
	epoll_add(vm, l->ep, vm->serial_fd, EV_SERIAL);
	epoll_add(vm, l->ep, vm->stop_fd, EV_STOP);
	epoll_add(vm, l->ep, vm->reboot_fd, EV_REBOOT);
	epoll_add(vm, l->ep, l->tfd, EV_GRACE);
	epoll_add(vm, l->ep, vm->snap_fd, EV_SNAPSHOT);
	if (vm->api)
		epoll_add(vm, l->ep, api_fd(vm->api), EV_API);
}

/* A request the API thread read whole: answer it here, where the VM's state lives. */
static void on_api(struct vm *vm)
{
	const struct api_req *q = api_take(vm->api);
	if (!q)
		return;
	endpoints_handle(vm, vm->endpoints, q, vm->api_resp);
	api_answer(vm->api, vm->api_resp);
}

void vm_loop_run(struct vm *vm, struct vm_loop *l)
{
	int ep = l->ep, sfd = l->sfd, tfd = l->tfd;

	for (;;) {
		struct epoll_event evs[8];
		/* A file on stdin is read as the guest makes room, without epoll. */
		int in_fd = vm->con.in_fd;
		bool poll_file = vm->con.in_unpollable && in_fd >= 0;
		if (poll_file && !console_input(&vm->con, vm->serial))
			finish(vm, EXIT_GUEST_DONE, "Ctrl-A x: quit");
		int n = epoll_wait(ep, evs, 8, poll_file ? 10 : -1);
		if (n < 0 && errno != EINTR)
			vm_die(vm, EXIT_RUNTIME, "epoll_wait: %s", strerror(errno));
		for (int i = 0; i < n; i++) {
			switch (evs[i].data.u32) {
			case EV_SIGNAL:
				on_signal(vm, sfd, tfd, &l->asked);
				break;
			case EV_STDIN:
				input(vm, l, in_fd);
				break;
			case EV_SERIAL:
				efd_drain(vm->serial_fd);
				if (l->in_off && vm->con.in_fd >= 0 &&
				    serial_input_room(vm->serial) > 0)
					watch_stdin(l, vm->con.in_fd, true);
				drain(vm, l);
				break;
			case EV_CONSOLE:
				drain(vm, l);
				break;
			case EV_STOP: {
				int status = stop_status(vm);
				finish(vm, status, status ? vm->stop_msg : NULL);
			}
			case EV_REBOOT:
				efd_drain(vm->reboot_fd);
				/* After SIGTERM the guest's reboot is how it stops (Ctrl-Alt-Del). */
				if (l->asked)
					finish(vm, EXIT_GUEST_DONE, vm->reboot_msg);
				restart_run(vm);
				break;
			case EV_SNAPSHOT:
				efd_drain(vm->snap_fd);
				on_snapshot(vm);
				break;
			case EV_API:
				on_api(vm);
				break;
			case EV_GRACE:
				finish(vm, EXIT_SIGNAL + SIGTERM,
				       "SIGTERM: the guest did not shut down in time");
			}
		}
	}
}
