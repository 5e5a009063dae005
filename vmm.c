// SPDX-License-Identifier: Apache-2.0
/* kvmrun: the VM's lifecycle: check and open every input, build the machine, confine, start. */
#include "vm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <linux/kvm.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "acpi.h"
#include "acpi_pm.h"
#include "api.h"
#include "config.h"
#include "endpoints.h"
#include "i8042.h"
#include "jail.h"
#include "layout.h"
#include "machine.h"
#include "metrics.h"
#include "mptable.h"
#include "restart.h"
#include "seccomp.h"
#include "serial.h"
#include "snapshot.h"
#include "teardown.h"
#include "util.h"
#include "virtio.h"
#include "virtio_blk.h"
#include "virtio_io.h"
#include "virtio_net.h"

/* For the fatal-signal handler only: the terminal is restored on every exit path. */
static struct vm *g_vm;

/*
 * Die of `sig` now, not by returning: a return needs rt_sigreturn, which
 * only the vCPUs' filter allows, and a confined thread would die of SIGSYS
 * instead. The signal is blocked while its handler runs, so the kernel
 * forces a synchronous one of the same kind through at its default action
 * (SA_RESETHAND put that back): the status and a core say what happened.
 */
__attribute__((noreturn)) static void die_of(int sig, const siginfo_t *si)
{
	/* In assembly: in C these are undefined behaviour, and UBSan would step in. */
	if (sig == SIGBUS && si->si_code > 0)
		(void)*(volatile const uint8_t *)si->si_addr; /* the page that is gone */
	if (sig == SIGILL)
		__asm__ volatile("ud2");
	if (sig == SIGFPE)
		__asm__ volatile("xor %%eax, %%eax\n\txor %%edx, %%edx\n\tdiv %%eax" ::
					 : "eax", "edx");
	/* SIGSEGV (also for a SIGBUS sent by kill): page 0 is never mapped. */
	__asm__ volatile("movl $0, 0x8" ::: "memory");
	__builtin_trap();
}

/*
 * A fault in any thread (SIGSEGV, SIGBUS, SIGILL, SIGFPE), or one sent:
 * give the terminal back, say so when guest RAM itself went (its snapshot
 * memory file cut short, lease or not), and die of the same signal.
 */
static void on_fatal_signal(int sig, siginfo_t *si, void *uc)
{
	static const char gone[] = "kvmrun: SIGBUS: guest RAM is gone from under kvmrun "
				   "(its snapshot memory file truncated?)\n";
	(void)uc;
	if (g_vm) {
		console_restore(&g_vm->con);
		const uint8_t *a = si->si_addr;
		if (sig == SIGBUS && si->si_code > 0 && g_vm->mem.host && a >= g_vm->mem.host &&
		    a < g_vm->mem.host + g_vm->mem.size)
			(void)!write(STDERR_FILENO, gone, sizeof(gone) - 1);
	}
	die_of(sig, si);
}

/* ---- events from vCPU threads ---- */

static void set_irq(void *ctx, uint32_t gsi, int level)
{
	struct vm *vm = ctx;
	struct kvm_irq_level l = { .irq = gsi, .level = (uint32_t)level };
	ioctl(vm->vmfd, KVM_IRQ_LINE, &l);
}

static void vm_stop(void *ctx, enum cpu_stop why, const char *msg)
{
	struct vm *vm = ctx;
	bool was = false;
	if (why == CPU_STOP_REBOOT && vm->restart) {
		/* The asking vCPU, and any other that asks meanwhile, holds; main restarts. */
		int idle = 0;
		if (atomic_compare_exchange_strong(&vm->rebooting, &idle, 1)) {
			snprintf(vm->reboot_msg, sizeof(vm->reboot_msg), "%s", msg);
			efd_signal(vm->reboot_fd);
		}
		return;
	}
	if (!atomic_compare_exchange_strong(&vm->stopping, &was, true))
		return; /* another vCPU got there first */
	atomic_store(&vm->stop_why, why);
	snprintf(vm->stop_msg, sizeof(vm->stop_msg), "%s", msg);
	efd_signal(vm->stop_fd);
}

static void guest_reset(void *ctx)
{
	vm_stop(ctx, CPU_STOP_REBOOT, "guest reset (i8042)");
}

static void acpi_event(void *ctx, int kind)
{
	if (kind == ACPI_EVENT_POWEROFF)
		vm_stop(ctx, CPU_STOP_RESET, "guest powered off (ACPI)");
	else
		vm_stop(ctx, CPU_STOP_REBOOT, "guest reset (ACPI)");
}

static void ready_line(struct vm *vm, const char *what, uint64_t t)
{
	char line[64];
	int n = snprintf(line, sizeof(line), "%s %llu\n", what,
			 (unsigned long long)vm_since_main_us(vm, t));
	if (vm->opt.ready_fd >= 0 && write(vm->opt.ready_fd, line, (size_t)n) < 0)
		log_msg(&vm->log, LOG_WARN, "--ready-fd: %s", strerror(errno));
}

static void init_signalled(void *ctx)
{
	struct vm *vm = ctx;
	vm->t_init = log_now_ns();
	ready_line(vm, "init", vm->t_init);
	/* The first boot's init only: a guest rebooting in a loop must not write snapshots. */
	if (vm->opt.snapshot_on_ready && vm->reboots == 0)
		efd_signal(vm->snap_fd); /* main takes it: this vCPU parks on its next kick */
	log_msg(&vm->log, LOG_INFO, "guest init signalled (%llu us after start)",
		(unsigned long long)vm_since_main_us(vm, vm->t_init));
}

static void first_run(void *ctx)
{
	struct vm *vm = ctx;
	vm->t_first_run = log_now_ns();
	ready_line(vm, "running", vm->t_first_run);
	log_msg(&vm->log, LOG_INFO, "guest running (first KVM_RUN %llu us after start)",
		(unsigned long long)vm_since_main_us(vm, vm->t_first_run));
}

/*
 * ---- seccomp on every thread ----
 *
 * Each thread installs its own filter before it handles anything the guest
 * controls, and no vCPU enters KVM_RUN before every thread (vCPUs, I/O
 * threads, main) and the teardown child are confined: the vCPU threads wait
 * at a gate that the main thread opens once all have reported. A thread
 * that cannot confine itself stops the VM and never enters its loop.
 */
static bool enter_role(struct vm *vm, enum seccomp_role role)
{
	if (vm->opt.no_seccomp)
		return true;
	int rc = seccomp_enter(role);
	if (rc < 0) {
		char msg[96];
		snprintf(msg, sizeof(msg), "seccomp: cannot install a filter: %s", strerror(-rc));
		vm_stop(vm, CPU_STOP_INTERNAL, msg);
		return false;
	}
	return true;
}

/* A thread is as confined as it will be: main's start gate counts it. */
static void thread_reported(struct vm *vm)
{
	atomic_fetch_add(&vm->reported, 1);
	futex_wake(&vm->reported);
}

/* A new thread: its filter (or the failure to install it), reported to main. */
static bool thread_confine(struct vm *vm, enum seccomp_role role)
{
	bool ok = enter_role(vm, role);
	thread_reported(vm);
	return ok;
}

/* A device's thread: named PREFIX<n>, confined to its role. */
static bool device_thread_start(struct vm *vm, atomic_int *count, const char *prefix,
				enum seccomp_role role)
{
	char name[16];
	snprintf(name, sizeof(name), "%s%d", prefix, atomic_fetch_add(count, 1));
	prctl(PR_SET_NAME, name, 0, 0, 0);
	return thread_confine(vm, role);
}

/* A disk's I/O thread (kvmrun-ioN): file I/O, no tap or socket calls. */
static bool blk_thread_start(void *ctx)
{
	struct vm *vm = ctx;
	return device_thread_start(vm, &vm->io_threads, "kvmrun-io", SECCOMP_IO);
}

/* A NIC's thread (kvmrun-netN): the tap or stream, no disk calls (the network's side). */
static bool net_thread_start(void *ctx)
{
	struct vm *vm = ctx;
	return device_thread_start(vm, &vm->net_threads, "kvmrun-net", SECCOMP_NET);
}

/*
 * The API thread and the opener are made before the jail, to overlap their
 * start with the client's requests: they drop their own capabilities (a
 * thread's, not the process's) before their filter.
 */
static bool early_thread_confine(struct vm *vm, enum seccomp_role role)
{
	int rc = jail_thread();
	if (rc == 0)
		return thread_confine(vm, role);
	char msg[96];
	snprintf(msg, sizeof(msg), "a thread cannot drop its capabilities: %s", strerror(-rc));
	vm_stop(vm, CPU_STOP_INTERNAL, msg);
	thread_reported(vm);
	return false;
}

static bool api_thread_confine(void *ctx)
{
	return early_thread_confine(ctx, SECCOMP_API);
}

static bool opener_thread_confine(void *ctx)
{
	return early_thread_confine(ctx, SECCOMP_OPENER);
}

static bool vcpu_thread_start(void *ctx)
{
	struct vm *vm = ctx;
	char name[16];
	snprintf(name, sizeof(name), "kvmrun-vcpu%d", atomic_fetch_add(&vm->vcpu_threads, 1));
	prctl(PR_SET_NAME, name, 0, 0, 0);
	bool ok = thread_confine(vm, SECCOMP_VCPU);
	while (!atomic_load(&vm->go))
		futex_wait(&vm->go, 0);
	return ok;
}

/*
 * The teardown child is made early (it inherits the dropped ids), so that
 * its start overlaps device and vCPU set-up instead of delaying the guest.
 */
static void start_teardown_child(struct vm *vm)
{
	int rc;
	/* It also removes the API socket: the confined main thread cannot. */
	struct teardown_unlink sock = { -1, NULL };
	if (vm->api)
		sock = (struct teardown_unlink){ api_dirfd(vm->api), api_name(vm->api) };
	vm->teardown = teardown_fork(vm->vmfd, !vm->opt.no_seccomp, &sock, &rc);
	if (!vm->teardown)
		log_msg(&vm->log, vm->api ? LOG_WARN : LOG_DEBUG,
			"no teardown child (%s): the VM is torn down in our exit%s", strerror(-rc),
			vm->api ? ", and the API socket stays" : "");
}

/*
 * Start the vCPU threads and open their gate once everything is confined:
 * the teardown child (checked before main's own filter, which forbids the
 * sleep the check uses), main, and every I/O and vCPU thread.
 */
static void vm_start_guest(struct vm *vm)
{
	for (int i = 0; i < vm->opt.cpus; i++)
		if (cpu_start(&vm->cpus[i]) < 0)
			vm_die(vm, EXIT_RUNTIME, "cannot start vCPU %d thread", i);
	if (vm->teardown && teardown_confined(vm->teardown, 1000) < 0) {
		log_msg(&vm->log, LOG_WARN,
			"the teardown child did not confine itself: killed; the "
			"VM is torn down in our exit");
		vm->teardown = NULL;
	}
	vm->confined = !vm->opt.no_seccomp;
	/* Snapshots are written by main: with --snapshot-dir, and with the API's /snapshot/create. */
	if (!enter_role(vm, vm_main_role(vm)))
		atomic_store(&vm->stopping, true); /* the stop event ends the loop */
	int want = vm->ndevices + vm->opt.cpus + (vm->api ? 2 : 0); /* + API, opener */
	for (int n; (n = atomic_load(&vm->reported)) < want;)
		futex_wait(&vm->reported, n);
	vm_stage(vm, "threads");
	if (vm->api_paused) /* PUT /snapshot/load without resume_vm: no guest instruction yet */
		atomic_store(&vm->pause, 1);
	atomic_store(&vm->go, 1);
	futex_wake(&vm->go);
}

/* ---- setup ---- */

/*
 * Fds a launcher leaked into us are closed before anything is opened: only
 * 0-2 and the fds named on the command line (--net fd=N, --console fd=N,
 * --ready-fd N) stay, so no thread ever holds what it was not given.
 */
static void close_inherited(struct vm *vm)
{
	int keep[MAX_NETS + 2], n = 0;
	for (int i = 0; i < vm->opt.nnets; i++)
		if (vm->opt.nets[i].fd >= 0)
			keep[n++] = vm->opt.nets[i].fd;
	if (vm->opt.console == CONSOLE_FD)
		keep[n++] = vm->opt.console_fd;
	if (vm->opt.ready_fd >= 0)
		keep[n++] = vm->opt.ready_fd;
	/* Sorted, so the gaps between them are ranges to close. */
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && keep[j] < keep[j - 1]; j--) {
			int t = keep[j];
			keep[j] = keep[j - 1];
			keep[j - 1] = t;
		}
	unsigned from = 3;
	for (int i = 0; i <= n; i++) {
		unsigned to = i < n ? (unsigned)keep[i] : ~0u;
		if (to > from && syscall(SYS_close_range, from, to - 1, 0) < 0)
			for (unsigned fd = from; fd < to && fd < 65536; fd++)
				close((int)fd); /* before Linux 5.9 */
		if (i < n && (unsigned)keep[i] + 1 > from)
			from = (unsigned)keep[i] + 1;
	}
}

/*
 * --limits FILE and --api-sock: every queue gets a limiter now (the I/O
 * threads poll their timers from the start), so SIGHUP or a PATCH can
 * change it later.
 */
static void prepare_limits(struct vm *vm)
{
	for (int i = 0; i < vm->ndevices; i++) {
		struct virtio_dev *vd = vm_device(vm, i);
		bool disk = i < vm->opt.ndisks;
		int rc = virtio_limit_prepare(vd, disk ? 0 : NET_RXQ);
		if (rc == 0 && !disk)
			rc = virtio_limit_prepare(vd, NET_TXQ);
		if (rc < 0)
			vm_die(vm, EXIT_RUNTIME, "%s: %s",
			       vm->opt.limits_path ? "--limits" : "--api-sock", strerror(-rc));
	}
}

/* The file's limits go on; its fd stays open for SIGHUP (main opens nothing later). */
static void open_limits(struct vm *vm)
{
	char err[256];
	vm->limits_fd = open(vm->opt.limits_path, O_RDONLY | O_CLOEXEC);
	if (vm->limits_fd < 0)
		vm_die(vm, EXIT_USAGE, "--limits %s: %s", vm->opt.limits_path, strerror(errno));
	if (vm_limits_apply(vm, err, sizeof(err)) < 0)
		vm_die(vm, EXIT_USAGE, "--limits %s: %s", vm->opt.limits_path, err);
}

/* Open (and lock) every disk and tap first: a bad one fails before anything else. */
static void open_devices(struct vm *vm)
{
	char err[512];
	for (int i = 0; i < vm->opt.ndisks; i++) {
		vm->blks[i] = blk_open(&vm->opt.disks[i], err, sizeof(err));
		if (!vm->blks[i])
			vm_die(vm, EXIT_USAGE, "--disk %s", err);
	}
	for (int i = 0; i < vm->opt.nnets; i++) {
		vm->nets[i] = net_open(&vm->opt.nets[i], (unsigned)i, err, sizeof(err));
		if (!vm->nets[i])
			vm_die(vm, EXIT_USAGE, "--net %s", err);
	}
	vm->ndevices = vm->opt.ndisks + vm->opt.nnets;
	/* Limits that change while the guest runs (SIGHUP, PATCH) need their timers now. */
	if (vm->opt.limits_path || vm->opt.api_sock)
		prepare_limits(vm);
	if (vm->opt.limits_path)
		open_limits(vm);
}

/* A device's thread that cannot go on (virtio_thread_failed): the VM ends, naming the device. */
static void device_thread_failed(void *ctx, struct virtio_dev *vd, const char *why)
{
	struct vm *vm = ctx;
	const char *flag = "device", *name = "?";
	char msg[320];
	for (int i = 0; i < vm->ndevices; i++)
		if (vm_device(vm, i) == vd)
			name = vm_device_name(vm, i, &flag);
	snprintf(msg, sizeof(msg), "%s %s: %s", flag, name, why);
	vm_stop(vm, CPU_STOP_INTERNAL, msg);
}

/* Where virtio device `i` lives: its 4 KiB window and its IRQ. */
static struct virtio_mmio_cfg virtio_cfg(struct vm *vm, int i)
{
	return (struct virtio_mmio_cfg){
		.vmfd = vm->vmfd,
		.mem = &vm->mem,
		.thread_start = i < vm->opt.ndisks ? blk_thread_start : net_thread_start,
		.thread_failed = device_thread_failed,
		.thread_ctx = vm,
		.base = VIRTIO_BASE + (uint64_t)i * VIRTIO_MMIO_SIZE,
		.gsi = VIRTIO_FIRST_GSI + (uint32_t)i,
		.regs = vm->windows ? vm->windows + (size_t)i * VIRTIO_MMIO_SIZE : NULL,
	};
}

/*
 * --api-sock without a kernel: serve the API until InstanceStart, before
 * anything else is opened (what the requests name is opened then, as if
 * --config had named it). SIGTERM, SIGINT or SIGHUP meanwhile end kvmrun
 * with the socket removed.
 */
static void api_configure(struct vm *vm)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		vm_die(vm, EXIT_RUNTIME, "signalfd: %s", strerror(errno));
	/*
	 * The client takes a while to send its requests (the API thread answers
	 * them): make the VM meanwhile, KVM_CREATE_VM being the slowest step of
	 * a start. A failure here is not reported: machine_open tries again at its
	 * turn and reports it then, after the options were checked.
	 */
	char err[256];
	machine_make(vm, err, sizeof(err));
	for (;;) {
		struct pollfd p[2] = { { api_fd(vm->api), POLLIN, 0 }, { sfd, POLLIN, 0 } };
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			vm_die(vm, EXIT_RUNTIME, "poll: %s", strerror(errno));
		struct signalfd_siginfo si;
		if (p[1].revents && read(sfd, &si, sizeof(si)) == sizeof(si)) {
			api_unlink(vm->api);
			exit(EXIT_SIGNAL + (int)si.ssi_signo);
		}
		const struct api_req *q = p[0].revents ? api_take(vm->api) : NULL;
		if (!q)
			continue;
		int rc = endpoints_handle(vm, vm->endpoints, q, vm->api_resp);
		bool start = rc == ENDPOINT_START &&
			     endpoints_apply(vm, vm->endpoints, vm->api_resp) == 0;
		if (rc ==
		    ENDPOINT_START) /* a start that fails later ends kvmrun: its metrics with it */
			endpoints_tally(vm->endpoints, q, !start);
		if (start) {
			/* The guest is being built: from here on main answers every request. */
			api_direct(vm->api, NULL, NULL);
			break;
		}
		api_answer(vm->api, vm->api_resp);
	}
	close(sfd);
	vm->api_held = true; /* answered once the guest runs, or by vm_die */
	log_msg(&vm->log, LOG_INFO, "API: InstanceStart");
}

/* Before start, on the API thread: the pre-boot endpoints (main waits meanwhile). */
static int api_pre_boot(void *ctx, const struct api_req *q, struct api_resp *r)
{
	struct vm *vm = ctx;
	return endpoints_handle(vm, vm->endpoints, q, r);
}

/* --api-sock: the socket first (clients poll for it), then its thread. */
static void open_api(struct vm *vm)
{
	char err[256];
	vm->api = api_listen(vm->opt.api_sock, err, sizeof(err));
	if (!vm->api)
		vm_die(vm, EXIT_USAGE, "%s", err);
	vm->endpoints = endpoints_new();
	vm->api_resp = malloc(sizeof(*vm->api_resp));
	if (!vm->endpoints || !vm->api_resp)
		vm_die(vm, EXIT_RUNTIME, "out of memory");
	/* No kernel: the API configures the guest, each PUT answered on the thread. */
	if (!vm->opt.kernel)
		api_direct(vm->api, api_pre_boot, vm);
	/* Before the threads are made: they inherit it (jail.h). */
	int rc = jail_bounding();
	if (rc < 0)
		vm_die(vm, EXIT_RUNTIME, "dropping the capability bounding set: %s", strerror(-rc));
	rc = api_start(vm->api, api_thread_confine, vm);
	if (rc < 0)
		vm_die(vm, EXIT_RUNTIME, "--api-sock: cannot start its thread: %s", strerror(-rc));
	/* Made now, while the client sends its PUTs; it waits for the jail (opener_confine). */
	rc = endpoints_start_opener(vm->endpoints, opener_thread_confine, vm);
	if (rc < 0)
		vm_die(vm, EXIT_RUNTIME, "--api-sock: cannot start the opener thread: %s",
		       strerror(-rc));
}

/* The guest runs: InstanceStart (if it started it) gets its answer. */
static void api_started(struct vm *vm)
{
	vm->api_started = true;
	if (!vm->api_held)
		return;
	vm->api_resp->status = 204;
	vm->api_resp->len = 0;
	vm->api_held = false;
	api_answer(vm->api, vm->api_resp);
}

/* Kernels without ACPI find the devices on the command line. */
static void announce_devices(struct vm *vm)
{
	for (int i = 0; i < vm->ndevices; i++) {
		struct virtio_mmio_cfg cfg = virtio_cfg(vm, i);
		size_t used = strlen(vm->devices_cmdline);
		snprintf(vm->devices_cmdline + used, sizeof(vm->devices_cmdline) - used,
			 " virtio_mmio.device=4K@0x%llx:%u", (unsigned long long)cfg.base, cfg.gsi);
	}
}

static struct acpi_config acpi_plan(struct vm *vm, struct acpi_dev devs[MAX_DEVICES])
{
	for (int i = 0; i < vm->ndevices; i++) {
		struct virtio_mmio_cfg cfg = virtio_cfg(vm, i);
		devs[i] = (struct acpi_dev){ cfg.base, VIRTIO_MMIO_SIZE, cfg.gsi };
	}
	return (struct acpi_config){ vm->opt.cpus, devs, vm->ndevices };
}

/* --dump-acpi DIR: the tables this machine would get, as files, then exit. */
__attribute__((noreturn)) static void dump_acpi(struct vm *vm)
{
	struct acpi_dev devs[MAX_DEVICES];
	char err[256];
	vm->ndevices = vm->opt.ndisks + vm->opt.nnets;
	struct acpi_config cfg = acpi_plan(vm, devs);
	if (acpi_dump(&cfg, vm->opt.dump_acpi, err, sizeof(err)) < 0)
		vm_die(vm, EXIT_USAGE, "%s", err); /* err names --dump-acpi */
	exit(0);
}

static void load_guest(struct vm *vm)
{
	char cmdline[BOOT_CMDLINE_MAX + sizeof(vm->devices_cmdline) + 256], err[512];
	struct acpi_dev devs[MAX_DEVICES];
	const char *user = vm->opt.cmdline ? vm->opt.cmdline : "";
	/*
	 * With ACPI the i8042 is found (and gets its IRQ) through the DSDT;
	 * without it, Linux must probe the legacy ports instead.
	 */
	int n = snprintf(cmdline, sizeof(cmdline), "%s%s%s%s%s%s%s", DEFAULT_CMDLINE,
			 vm->opt.no_acpi ? " i8042.nopnp" : "", vm->devices_cmdline,
			 vm->opt.extra_cmdline[0] ? " " : "", vm->opt.extra_cmdline,
			 *user ? " " : "", user);
	if (n < 0 || (size_t)n >= sizeof(cmdline))
		vm_die(vm, EXIT_USAGE, "--cmdline: longer than %llu bytes", BOOT_CMDLINE_MAX - 1);
	struct boot_spec spec = { vm->opt.kernel, vm->opt.initrd, cmdline, 0 };
	if (!vm->opt.no_acpi) {
		struct acpi_config cfg = acpi_plan(vm, devs);
		spec.rsdp = acpi_write(&vm->mem, ACPI_BASE, ACPI_SIZE, &cfg);
		if (!spec.rsdp)
			vm_die(vm, EXIT_RUNTIME, "cannot build the ACPI tables");
		if (acpi_vmgenid_new(&vm->mem) < 0)
			vm_die(vm, EXIT_RUNTIME, "no random bytes for the VM generation ID: %s",
			       strerror(errno));
	}
	int rc = boot_load(&vm->mem, &spec, &vm->entry, err, sizeof(err));
	if (rc < 0)
		vm_die(vm, rc == ERR_USAGE ? EXIT_USAGE : EXIT_RUNTIME, "%s", err);
	if (mptable_write(&vm->mem, MPTABLE_BASE, vm->opt.cpus) < 0)
		vm_die(vm, EXIT_RUNTIME, "cannot write the MP table for %d vCPUs", vm->opt.cpus);
	log_msg(&vm->log, LOG_INFO,
		"loaded %s (%s), %d vCPUs, %llu MiB on %s pages, %d disks, %d NICs", vm->opt.kernel,
		boot_format_name(vm->entry.format), vm->opt.cpus,
		(unsigned long long)(vm->opt.memory >> 20), vm->mem.huge ? "2 MiB" : "4 KiB",
		vm->opt.ndisks, vm->opt.nnets);
	log_msg(&vm->log, LOG_DEBUG, "command line: %s", cmdline);
}

static int new_eventfd(struct vm *vm)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0)
		vm_die(vm, EXIT_RUNTIME, "eventfd: %s", strerror(errno));
	return fd;
}

static void setup_platform_devices(struct vm *vm)
{
	vm->serial_fd = new_eventfd(vm);
	vm->stop_fd = new_eventfd(vm);
	vm->reboot_fd = new_eventfd(vm);
	struct irq_line com1 = { set_irq, vm, SERIAL_COM1_IRQ };
	struct irq_line kbd = { set_irq, vm, I8042_IRQ };
	vm->serial = serial_create(&com1, vm->serial_fd);
	vm->kbd = i8042_create(&kbd, guest_reset, vm);
	vm->pm = acpi_pm_create(acpi_event, vm);
	boot_timer_init(&vm->timer, init_signalled, vm);
	if (!vm->serial || !vm->kbd || !vm->pm)
		vm_die(vm, EXIT_RUNTIME, "out of memory");
	if (bus_add(&vm->pio, SERIAL_COM1_BASE, 8, &serial_bus_ops, vm->serial) < 0 ||
	    bus_add(&vm->pio, I8042_DATA_PORT, 5, &i8042_bus_ops, vm->kbd) < 0 ||
	    bus_add(&vm->pio, ACPI_PM_PORT, ACPI_PM_PORT_LEN, &acpi_pm_bus_ops, vm->pm) < 0 ||
	    bus_add(&vm->mmio, BOOT_TIMER_ADDR, 0x1000, &boot_timer_ops, &vm->timer) < 0)
		vm_die(vm, EXIT_RUNTIME, "device address conflict");
}

/* Files the VM writes to: opened before the jail, like everything else. */
/*
 * An output that is one of the inputs (--console file=, --log or --metrics
 * naming a disk image, the kernel, the initrd, the --limits file) would
 * write into it: refused before anything is opened for writing.
 */
static void not_an_input(struct vm *vm, const char *flag, const char *path)
{
	struct stat out, in;
	if (!path || stat(path, &out) < 0 || !S_ISREG(out.st_mode))
		return;
	const char *inputs[MAX_DISKS + 3] = { vm->opt.kernel, vm->opt.initrd, vm->opt.limits_path };
	int n = 3;
	for (int i = 0; i < vm->opt.ndisks; i++)
		inputs[n++] = vm->opt.disks[i].path;
	for (int i = 0; i < n; i++)
		if (inputs[i] && stat(inputs[i], &in) == 0 && in.st_dev == out.st_dev &&
		    in.st_ino == out.st_ino)
			vm_die(vm, EXIT_USAGE,
			       "%s%s: the same file as the input %s: it would be "
			       "written into",
			       flag, path, inputs[i]);
}

static void open_outputs(struct vm *vm)
{
	char err[512];
	not_an_input(vm, "--log ", vm->opt.log_path);
	not_an_input(vm, "--metrics ", vm->opt.metrics_path);
	if (vm->opt.console == CONSOLE_FILE)
		not_an_input(vm, "--console file=", vm->opt.console_path);
	int rc = log_open(&vm->log, vm->opt.log_path, vm->opt.log_level, vm->t_main);
	log_style(&vm->log, vm->opt.log_module, !vm->opt.log_hide_level, vm->opt.log_origin);
	if (rc < 0)
		vm_die(vm, EXIT_USAGE, "--log %s: %s%s", vm->opt.log_path, strerror(-rc),
		       rc == -ENXIO ? " (a FIFO needs a reader first)" : "");
	vm->metrics.fd = -1;
	if (vm->opt.metrics_path && (rc = metrics_open(&vm->metrics, vm->opt.metrics_path)) < 0)
		vm_die(vm, EXIT_USAGE, "--metrics %s: %s%s", vm->opt.metrics_path, strerror(-rc),
		       rc == -ENXIO ? " (a FIFO needs a reader first)" : "");
	if (console_open(&vm->con, &vm->opt, err, sizeof(err)) < 0)
		vm_die(vm, EXIT_USAGE, "%s", err);
	static const int fatal[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE };
	struct sigaction sa = { .sa_sigaction = on_fatal_signal,
				.sa_flags = SA_RESETHAND | SA_SIGINFO };
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		sigaction(fatal[i], &sa, NULL);
}

/* Everything is open: from here on kvmrun runs with only what it holds. */
static void enter_jail(struct vm *vm)
{
	char err[256];
	int rc = jail_enter(&vm->opt.jail, err, sizeof(err));
	if (rc < 0)
		vm_die(vm, rc == ERR_USAGE ? EXIT_USAGE : EXIT_RUNTIME, "%s", err);
}

static void attach_device(struct vm *vm, int i)
{
	struct virtio_mmio_cfg cfg = virtio_cfg(vm, i);
	struct virtio_dev *vd = vm_device(vm, i);
	int rc = virtio_start(vd, &cfg);
	const char *flag, *name = vm_device_name(vm, i, &flag);
	if (rc < 0)
		vm_die(vm, EXIT_RUNTIME, "%s %s: cannot attach: %s", flag, name, strerror(-rc));
	if (bus_add(&vm->mmio, cfg.base, VIRTIO_MMIO_SIZE, &virtio_mmio_ops, vd) < 0)
		vm_die(vm, EXIT_RUNTIME, "device address conflict at 0x%llx",
		       (unsigned long long)cfg.base);
}

static void setup_cpus(struct vm *vm)
{
	char err[256];
	vm->env = (struct cpu_env){
		.vmfd = vm->vmfd,
		.run_size = vm->env.run_size,
		.ncpus = vm->opt.cpus,
		.pio = &vm->pio,
		.mmio = &vm->mmio,
		.entry = &vm->entry,
		.cpuid = vm->cpuid,
		.stopping = &vm->stopping,
		.stop = vm_stop,
		.ctx = vm,
		.first_run = first_run,
		.thread_start = vcpu_thread_start,
		.pause = &vm->pause,
		.parked = &vm->parked,
		.rebooting = &vm->rebooting,
	};
	vm->cpus = calloc((size_t)vm->opt.cpus, sizeof(*vm->cpus));
	if (!vm->cpus || cpu_init_signals() < 0)
		vm_die(vm, EXIT_RUNTIME, "cannot set up vCPUs: %s", strerror(errno));
	for (int i = 0; i < vm->opt.cpus; i++)
		if ((vm->restored ? cpu_create_bare : cpu_create)(&vm->cpus[i], &vm->env, i, err,
								  sizeof(err)) < 0)
			vm_die(vm, EXIT_RUNTIME, "KVM: %s", err);
}

/*
 * A closed stdin, stdout or stderr is the number the next open() returns: a
 * disk image opened there would take error messages or console output into
 * its first bytes. /dev/null holds the number instead.
 */
static void hold_std_fds(void)
{
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) < 0)
			return; /* no /dev/null: nothing better to do */
}

int main(int argc, char **argv)
{
	static struct vm vm = {
		.log = { .fd = -1 },
		.con = { .in_fd = -1, .out_fd = -1, .out_ep = -1 },
		.metrics = { .fd = -1 },
		.snap_fd = -1,
		.snap_files = { -1, -1, -1, -1 },
		.pagemap_fd = -1,
		.limits_fd = -1,
	};
	g_vm = &vm;
	vm.t_main = log_now_ns();
	/*
	 * A peer that went away (an API client that hung up before its answer,
	 * a console or metrics reader that quit) is an EPIPE to the writer, never
	 * the end of the guest. From the first instruction: main answers API
	 * requests long before the event loop starts.
	 */
	signal(SIGPIPE, SIG_IGN);
	vm_block_signals();
	hold_std_fds();
	vm.trace = getenv("KVMRUN_TRACE_BOOT") != NULL;
	config_parse(&vm.opt, argc, argv);
	/*
	 * A vCPU writes the ready lines (one per boot): a launcher that stops
	 * reading them must not stall it. Lines that do not fit are dropped.
	 */
	if (vm.opt.ready_fd >= 0)
		fcntl(vm.opt.ready_fd, F_SETFL, fcntl(vm.opt.ready_fd, F_GETFL) | O_NONBLOCK);
	if (vm.opt.seccomp_selftest) {
		char err[128];
		int rc = seccomp_selftest(vm.opt.seccomp_selftest, err, sizeof(err));
		vm_die(NULL, rc == ERR_USAGE ? EXIT_USAGE : EXIT_RUNTIME, "%s", err);
	}
	if (vm.opt.seccomp_list) {
		seccomp_list(stdout);
		exit(0);
	}
	if (vm.opt.dump_acpi)
		dump_acpi(&vm);
	char err[256];
	if (jail_check(&vm.opt.jail, err, sizeof(err)) < 0)
		vm_die(&vm, EXIT_USAGE, "%s", err);
	vm_stage(&vm, "config");
	/*
	 * Everything the user named is opened and checked (disks, taps, files,
	 * the kernel and initrd, loaded into guest RAM) before /dev/kvm: a bad
	 * input is a usage error naming it, whatever the host's KVM.
	 */
	close_inherited(&vm);
	if (vm.opt.api_sock) {
		open_api(&vm);
		if (!vm.opt.kernel)
			api_configure(&vm);
		vm_stage(&vm, "api"); /* InstanceStart taken */
	}
	if (vm.opt.restore_dir) {
		restore_open(&vm);
		open_devices(&vm);
		open_outputs(&vm);
		log_msg(&vm.log, LOG_INFO, "restoring %s: %d vCPUs, %llu MiB", vm.opt.restore_dir,
			vm.opt.cpus, (unsigned long long)(vm.opt.memory >> 20));
		if (vm.unwatched)
			log_msg(&vm.log, LOG_INFO,
				"no lease on the memory file (%s): a truncation of it would "
				"not be seen before the guest's memory goes",
				strerror(vm.unwatched));
	} else {
		open_devices(&vm);
		machine_ram(&vm);
		announce_devices(&vm);
		open_outputs(&vm);
		load_guest(&vm);
	}
	if (vm.opt.snapshot_dir || vm.api)
		snapshot_prepare(&vm);
	vm_stage(&vm, "load");
	machine_open(&vm);
	vm_stage(&vm, "cpuid");
	machine_memory(&vm);
	vm_stage(&vm, "memory");
	machine_irqchip(&vm);
	vm_stage(&vm, "irqchip");
	setup_platform_devices(&vm);
	if (vm.restored)
		restore_devices(&vm);
	enter_jail(&vm);
	if (vm.api) {
		/* Their filters, now that ids have changed. */
		api_confine(vm.api);
		endpoints_running(vm.endpoints);
	}
	start_teardown_child(&vm);
	vm_stage(&vm, "jail");
	for (int i = 0; i < vm.ndevices; i++)
		attach_device(&vm, i);
	setup_cpus(&vm);
	if (vm.restored)
		restore_cpus(&vm);
	if (vm.opt.restart_on_reboot)
		restart_prepare(&vm);
	vm_stage(&vm, "vcpus");
	if (vm.opt.no_seccomp)
		fputs("kvmrun: WARNING: --no-seccomp: the monitor is not confined; a hostile guest "
		      "that finds a bug owns this process (debugging only)\n",
		      stderr);
	console_start(&vm.con); /* --console file= is emptied only now, every check passed */
	struct vm_loop loop;
	vm_loop_open(&vm, &loop);
	vm_start_guest(&vm);
	if (vm.api)
		api_started(&vm);
	vm_loop_run(&vm, &loop);
}
