// SPDX-License-Identifier: Apache-2.0
/* kvmrun: command line, VM lifecycle and the event loop. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <limits.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "boot.h"
#include "bus.h"
#include "cpu.h"
#include "i8042.h"
#include "jail.h"
#include "mem.h"
#include "mptable.h"
#include "seccomp.h"
#include "serial.h"
#include "virtio.h"
#include "virtio_blk.h"

#ifndef KVMRUN_VERSION
#define KVMRUN_VERSION "dev"
#endif

/* Exit statuses: documented in --help, README.md and kvmrun.1. */
enum {
	EXIT_GUEST_DONE = 0,  /* guest reset or powered off (also Ctrl-A x) */
	EXIT_RUNTIME = 1,     /* kvmrun or host failure while setting up or running */
	EXIT_USAGE = 2,       /* bad command line or input file */
	EXIT_GUEST_FAULT = 3, /* KVM internal error / emulation failure / failed entry */
	EXIT_SIGNAL = 128,    /* + signal number: ended by a fatal signal */
};

#define DEFAULT_MEM (128ULL << 20)
#define MIN_MEM (4ULL << 20)
#define DEFAULT_CMDLINE \
	"console=ttyS0 reboot=k panic=1 pci=off i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd"
#define TSS_ADDR 0xfffbd000
#define IDENTITY_MAP_ADDR 0xfffbc000
#define ESCAPE_CHAR 0x01 /* Ctrl-A */
#define MAX_DISKS 16
#define VIRTIO_BASE 0xd0000000ULL /* virtio-mmio windows, 4 KiB apart, in the hole */
#define VIRTIO_FIRST_GSI 5        /* after COM1's 4; one IOAPIC pin per device */

enum console_kind { CONSOLE_STDIO, CONSOLE_NONE, CONSOLE_FILE };

struct options {
	const char *kernel, *initrd, *cmdline, *console_path;
	uint64_t memory;
	int cpus;
	enum console_kind console;
	int shutdown_timeout;
	struct blk_spec disks[MAX_DISKS];
	int ndisks;
	bool no_seccomp;
	struct jail_cfg jail;
};

/* The one place with mutable process-wide state: the VM and its devices. */
struct vm {
	struct options opt;
	int kvmfd, vmfd;
	struct guest_mem mem;
	struct bus pio, mmio;
	struct boot_entry entry;
	struct kvm_cpuid2 *cpuid;
	struct cpu_env env;
	struct cpu *cpus;
	struct serial *serial;
	struct i8042 *kbd;
	struct blk *blks[MAX_DISKS];
	int ndevices; /* virtio-mmio windows handed out */
	char devices_cmdline[MAX_DISKS * 48];
	int serial_fd; /* eventfd: console output ready / input room */
	int stop_fd;   /* eventfd: a vCPU ended the VM */
	int in_fd, out_fd;
	bool escape_pending, tty_raw;
	bool in_unpollable; /* stdin is a regular file or /dev/null: always readable */
	struct termios saved_tty;
	/* Start gate: every thread has its seccomp filter before the guest runs. */
	pthread_mutex_t gate_lock;
	pthread_cond_t gate_cond;
	int threads_ready, threads_failed;
	bool gate_open;
	atomic_bool stopping;
	atomic_int stop_why;
	char stop_msg[256];
	struct timespec t_main, t_first_run;
};

/* Terminal state, reachable from a fatal-signal handler: restored on every exit path. */
static struct vm *g_vm;

__attribute__((format(printf, 2, 3), noreturn)) static void die(int status, const char *fmt, ...)
{
	va_list ap;
	fputs("kvmrun: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(status);
}

/* ---- command line ---- */

static const char usage_text[] =
	"Usage: kvmrun --kernel FILE [options]\n"
	"Boot a Linux (bzImage, PVH ELF or ELF vmlinux) guest on KVM with a serial console.\n"
	"\n"
	"  -k, --kernel FILE        kernel to boot (format detected from the file)\n"
	"  -i, --initrd FILE        initial ramdisk\n"
	"  -c, --cmdline STR        appended to the default kernel command line:\n"
	"                           \"" DEFAULT_CMDLINE "\"\n"
	"  -m, --memory SIZE        guest RAM, e.g. 512M, 2G (default 128M; no suffix means MiB)\n"
	"  -n, --cpus N             vCPUs (default 1)\n"
	"      --disk PATH[,ro][,serial=ID]\n"
	"                           virtio-blk disk: raw image or block device (repeatable)\n"
	"      --console KIND       stdio (default), none, or file=PATH\n"
	"      --shutdown-timeout S seconds the guest gets to shut down after SIGTERM (default 10)\n"
	"      --chroot DIR         after opening every file, chroot into DIR\n"
	"      --uid N, --gid N     after opening every file, run as this user and group\n"
	"                           (capabilities are always dropped before the guest runs)\n"
	"      --no-seccomp         run without the seccomp filters (debugging only; unsafe)\n"
	"  -h, --help               this text\n"
	"  -V, --version            version\n"
	"\n"
	"Console: when stdin is a terminal it is put in raw mode; Ctrl-A x quits, Ctrl-A Ctrl-A\n"
	"sends a Ctrl-A.\n"
	"\n"
	"Exit status:\n"
	"  0    the guest reset or powered off (or Ctrl-A x)\n"
	"  1    runtime failure in kvmrun or the host (e.g. /dev/kvm unusable)\n"
	"  2    usage error: bad option, value or input file\n"
	"  3    the guest faulted: KVM internal error, emulation failure or failed entry\n"
	"  128+N  ended by signal N (SIGTERM: the guest did not shut down in time)\n";

__attribute__((format(printf, 1, 2), noreturn)) static void usage_error(const char *fmt, ...)
{
	va_list ap;
	fputs("kvmrun: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see kvmrun --help)\n", stderr);
	exit(EXIT_USAGE);
}

/* "512M", "2G", "1048576K", "64" (MiB). 0 on a malformed value. */
static uint64_t parse_size(const char *s)
{
	char *end;
	errno = 0;
	if (*s < '0' || *s > '9')
		return 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return 0;
	unsigned shift = 20;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	case 0: break;
	default: return 0;
	}
	if (*end == 'i' && end[-1] != 0)
		end++;
	if (*end == 'B')
		end++;
	if (*end || v > (UINT64_MAX >> shift))
		return 0;
	return (uint64_t)v << shift;
}

static int parse_int(const char *s, const char *flag, long lo, long hi)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end)
		usage_error("%s %s: not a number", flag, s);
	if (v < lo || v > hi)
		usage_error("%s %s: must be between %ld and %ld", flag, s, lo, hi);
	return (int)v;
}

static void parse_console(struct options *o, const char *v)
{
	if (strcmp(v, "stdio") == 0)
		o->console = CONSOLE_STDIO;
	else if (strcmp(v, "none") == 0)
		o->console = CONSOLE_NONE;
	else if (strncmp(v, "file=", 5) == 0 && v[5])
		o->console = CONSOLE_FILE, o->console_path = v + 5;
	else
		usage_error("--console %s: expected stdio, none or file=PATH", v);
}

/*
 * --seccomp-selftest ROLE: install that role's filter, then make a call no
 * role allows. The kernel must kill us with SIGSYS; returning is a failure.
 */
__attribute__((noreturn)) static void seccomp_selftest(const char *role)
{
	int r = seccomp_role_by_name(role);
	if (r < 0)
		usage_error("--seccomp-selftest %s: expected main, vcpu or io", role);
	int rc = seccomp_enter((enum seccomp_role)r);
	if (rc < 0)
		die(EXIT_RUNTIME, "seccomp: %s", strerror(-rc));
	syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
	die(EXIT_RUNTIME, "seccomp self-test: socket() was not blocked in role %s", role);
}

static void parse_args(struct options *o, int argc, char **argv)
{
	enum { OPT_CONSOLE = 256, OPT_SHUTDOWN_TIMEOUT, OPT_DISK, OPT_NO_SECCOMP,
	       OPT_SECCOMP_SELFTEST, OPT_CHROOT, OPT_UID, OPT_GID };
	static const struct option longopts[] = {
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "cmdline", required_argument, NULL, 'c' },
		{ "memory", required_argument, NULL, 'm' },
		{ "cpus", required_argument, NULL, 'n' },
		{ "console", required_argument, NULL, OPT_CONSOLE },
		{ "disk", required_argument, NULL, OPT_DISK },
		{ "no-seccomp", no_argument, NULL, OPT_NO_SECCOMP },
		{ "chroot", required_argument, NULL, OPT_CHROOT },
		{ "uid", required_argument, NULL, OPT_UID },
		{ "gid", required_argument, NULL, OPT_GID },
		{ "seccomp-selftest", required_argument, NULL, OPT_SECCOMP_SELFTEST },
		{ "shutdown-timeout", required_argument, NULL, OPT_SHUTDOWN_TIMEOUT },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	const long phys = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
	const uint64_t host_ram = (uint64_t)phys * (uint64_t)page;
	int c;

	*o = (struct options){ .memory = DEFAULT_MEM, .cpus = 1, .shutdown_timeout = 10 };
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":k:i:c:m:n:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'k': o->kernel = optarg; break;
		case 'i': o->initrd = optarg; break;
		case 'c': o->cmdline = optarg; break;
		case 'm':
			o->memory = parse_size(optarg);
			if (!o->memory)
				usage_error("--memory %s: not a size (try 512M or 2G)", optarg);
			if (o->memory < MIN_MEM)
				usage_error("--memory %s: at least 4M is needed", optarg);
			if (o->memory % 4096)
				usage_error("--memory %s: not a multiple of 4 KiB", optarg);
			if (phys > 0 && o->memory > host_ram)
				usage_error("--memory %s: more than this host's %llu MiB of RAM", optarg,
					    (unsigned long long)(host_ram >> 20));
			break;
		case 'n': o->cpus = parse_int(optarg, "--cpus", 1, MPTABLE_MAX_CPUS); break;
		case OPT_CONSOLE: parse_console(o, optarg); break;
		case OPT_DISK: {
			char err[256];
			if (o->ndisks == MAX_DISKS)
				usage_error("--disk %s: at most %d disks", optarg, MAX_DISKS);
			if (blk_parse_spec(optarg, &o->disks[o->ndisks], err, sizeof(err)) < 0)
				usage_error("%s", err);
			o->ndisks++;
			break;
		}
		case OPT_SHUTDOWN_TIMEOUT:
			o->shutdown_timeout = parse_int(optarg, "--shutdown-timeout", 0, 3600);
			break;
		case OPT_NO_SECCOMP: o->no_seccomp = true; break;
		case OPT_CHROOT: o->jail.chroot_dir = optarg; break;
		case OPT_UID:
			o->jail.uid = (uid_t)parse_int(optarg, "--uid", 0, INT_MAX);
			o->jail.set_uid = true;
			break;
		case OPT_GID:
			o->jail.gid = (gid_t)parse_int(optarg, "--gid", 0, INT_MAX);
			o->jail.set_gid = true;
			break;
		case OPT_SECCOMP_SELFTEST: seccomp_selftest(optarg);
		case 'h': fputs(usage_text, stdout); exit(0);
		case 'V': printf("kvmrun %s\n", KVMRUN_VERSION); exit(0);
		case ':': usage_error("%s needs a value", argv[optind - 1]);
		default:
			if (optopt)
				usage_error("unknown option -%c", optopt);
			usage_error("unknown option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument %s", argv[optind]);
	if (!o->kernel)
		usage_error("--kernel FILE is required");
}

/* ---- the console: terminal mode, input escape, output draining ---- */

static void restore_tty(void)
{
	if (g_vm && g_vm->tty_raw) {
		tcsetattr(g_vm->in_fd, TCSAFLUSH, &g_vm->saved_tty);
		g_vm->tty_raw = false;
	}
}

static void on_fatal_signal(int sig)
{
	restore_tty();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void setup_console(struct vm *vm)
{
	vm->in_fd = vm->out_fd = -1;
	if (vm->opt.console == CONSOLE_STDIO) {
		vm->in_fd = STDIN_FILENO;
		vm->out_fd = STDOUT_FILENO;
	} else if (vm->opt.console == CONSOLE_FILE) {
		vm->out_fd = open(vm->opt.console_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (vm->out_fd < 0)
			die(EXIT_USAGE, "--console file=%s: %s", vm->opt.console_path, strerror(errno));
	}
	if (vm->in_fd >= 0 && isatty(vm->in_fd) && tcgetattr(vm->in_fd, &vm->saved_tty) == 0) {
		struct termios raw = vm->saved_tty;
		cfmakeraw(&raw);
		raw.c_oflag |= OPOST | ONLCR; /* keep the host terminal's line handling */
		if (tcsetattr(vm->in_fd, TCSAFLUSH, &raw) == 0)
			vm->tty_raw = true;
	}
	atexit(restore_tty);
	static const int fatal[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };
	for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		signal(fatal[i], on_fatal_signal);
}

static void write_all(struct vm *vm, const uint8_t *buf, size_t len)
{
	while (len && vm->out_fd >= 0) {
		ssize_t w = write(vm->out_fd, buf, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) { /* console gone (EPIPE, EIO): the guest runs on without it */
			vm->out_fd = -1;
			return;
		}
		buf += w, len -= (size_t)w;
	}
}

static void drain_output(struct vm *vm)
{
	uint8_t buf[4096];
	size_t n;
	while ((n = serial_take_output(vm->serial, buf, sizeof(buf))) > 0)
		write_all(vm, buf, n);
}

/* Returns false when the user asked to quit with Ctrl-A x. */
static bool console_input(struct vm *vm)
{
	uint8_t in[512], out[1024];
	size_t room = serial_input_room(vm->serial), n = 0;
	if (room == 0)
		return true; /* resumes when the guest reads: serial_fd fires */
	ssize_t r = read(vm->in_fd, in, room < sizeof(in) ? room : sizeof(in));
	if (r <= 0) {
		if (r == 0 || (errno != EINTR && errno != EAGAIN))
			vm->in_fd = -1; /* EOF: the guest keeps running without input */
		return true;
	}
	for (ssize_t i = 0; i < r; i++) {
		uint8_t ch = in[i];
		if (vm->tty_raw && vm->escape_pending) {
			vm->escape_pending = false;
			if (ch == 'x' || ch == 'X')
				return false;
			if (ch != ESCAPE_CHAR)
				out[n++] = ESCAPE_CHAR;
		} else if (vm->tty_raw && ch == ESCAPE_CHAR) {
			vm->escape_pending = true;
			continue;
		}
		out[n++] = ch;
	}
	serial_input(vm->serial, out, n);
	return true;
}

/* ---- KVM ---- */

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
	if (!atomic_compare_exchange_strong(&vm->stopping, &was, true))
		return; /* another vCPU got there first */
	atomic_store(&vm->stop_why, why);
	snprintf(vm->stop_msg, sizeof(vm->stop_msg), "%s", msg);
	uint64_t one = 1;
	if (write(vm->stop_fd, &one, sizeof(one)) < 0)
		_exit(EXIT_RUNTIME); /* cannot tell the loop: nothing sane remains */
}

static void guest_reset(void *ctx)
{
	vm_stop(ctx, CPU_STOP_RESET, "guest reset (i8042)");
}

static void first_run(void *ctx)
{
	clock_gettime(CLOCK_MONOTONIC, &((struct vm *)ctx)->t_first_run);
}

/* ---- seccomp on every thread, and the gate that holds the guest until then ---- */

static void thread_ready(struct vm *vm, bool ok)
{
	pthread_mutex_lock(&vm->gate_lock);
	vm->threads_ready++;
	vm->threads_failed += !ok;
	pthread_cond_broadcast(&vm->gate_cond);
	pthread_mutex_unlock(&vm->gate_lock);
}

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

static void io_thread_start(void *ctx)
{
	struct vm *vm = ctx;
	thread_ready(vm, enter_role(vm, SECCOMP_IO));
}

/* vCPU threads wait here until every thread, main included, is confined. */
static bool vcpu_thread_start(void *ctx)
{
	struct vm *vm = ctx;
	bool ok = enter_role(vm, SECCOMP_VCPU);
	thread_ready(vm, ok);
	pthread_mutex_lock(&vm->gate_lock);
	while (!vm->gate_open)
		pthread_cond_wait(&vm->gate_cond, &vm->gate_lock);
	pthread_mutex_unlock(&vm->gate_lock);
	return ok;
}

/* Main thread: wait for `n` threads to report, confine ourselves, open the gate. */
static void open_gate(struct vm *vm, int n)
{
	pthread_mutex_lock(&vm->gate_lock);
	while (vm->threads_ready < n)
		pthread_cond_wait(&vm->gate_cond, &vm->gate_lock);
	bool ok = vm->threads_failed == 0 && enter_role(vm, SECCOMP_MAIN);
	vm->gate_open = true;
	pthread_cond_broadcast(&vm->gate_cond);
	pthread_mutex_unlock(&vm->gate_lock);
	if (!ok)
		atomic_store(&vm->stopping, true); /* the stop event ends the loop */
}

static int kvm_ioctl_checked(int fd, unsigned long req, unsigned long arg, const char *what)
{
	int rc;
	do
		rc = ioctl(fd, req, arg);
	while (rc < 0 && errno == EINTR);
	if (rc < 0)
		die(EXIT_RUNTIME, "KVM: %s: %s", what, strerror(errno));
	return rc;
}

static struct kvm_cpuid2 *supported_cpuid(int kvmfd)
{
	for (uint32_t n = 64;; n *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
		if (!c)
			die(EXIT_RUNTIME, "out of memory");
		c->nent = n;
		if (ioctl(kvmfd, KVM_GET_SUPPORTED_CPUID, c) == 0)
			return c;
		free(c);
		if (errno != E2BIG || n > 4096)
			die(EXIT_RUNTIME, "KVM: KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
	}
}

static void open_kvm(struct vm *vm)
{
	vm->kvmfd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvmfd < 0)
		die(EXIT_RUNTIME, "/dev/kvm: %s%s", strerror(errno),
		    errno == ENOENT ? " (is the kvm module loaded?)" : "");
	if (ioctl(vm->kvmfd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
		die(EXIT_RUNTIME, "/dev/kvm: unsupported KVM API version");
	int max = ioctl(vm->kvmfd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (max > 0 && vm->opt.cpus > max)
		usage_error("--cpus %d: this host's KVM allows at most %d", vm->opt.cpus, max);
	if (ioctl(vm->kvmfd, KVM_CHECK_EXTENSION, KVM_CAP_IMMEDIATE_EXIT) <= 0)
		die(EXIT_RUNTIME, "KVM: KVM_CAP_IMMEDIATE_EXIT is missing (Linux 4.11 or newer needed)");
	vm->vmfd = kvm_ioctl_checked(vm->kvmfd, KVM_CREATE_VM, 0, "KVM_CREATE_VM");
	kvm_ioctl_checked(vm->vmfd, KVM_SET_TSS_ADDR, TSS_ADDR, "KVM_SET_TSS_ADDR");
	uint64_t idmap = IDENTITY_MAP_ADDR;
	kvm_ioctl_checked(vm->vmfd, KVM_SET_IDENTITY_MAP_ADDR, (unsigned long)&idmap,
			  "KVM_SET_IDENTITY_MAP_ADDR");
	kvm_ioctl_checked(vm->vmfd, KVM_CREATE_IRQCHIP, 0, "KVM_CREATE_IRQCHIP");
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	kvm_ioctl_checked(vm->vmfd, KVM_CREATE_PIT2, (unsigned long)&pit, "KVM_CREATE_PIT2");
	vm->env.run_size = kvm_ioctl_checked(vm->kvmfd, KVM_GET_VCPU_MMAP_SIZE, 0,
					     "KVM_GET_VCPU_MMAP_SIZE");
	vm->cpuid = supported_cpuid(vm->kvmfd);
}

static void setup_memory(struct vm *vm)
{
	int rc = mem_init(&vm->mem, vm->opt.memory);
	if (rc < 0)
		die(EXIT_RUNTIME, "--memory: cannot map %llu MiB: %s",
		    (unsigned long long)(vm->opt.memory >> 20), strerror(-rc));
	rc = mem_register(&vm->mem, vm->vmfd);
	if (rc < 0)
		die(EXIT_RUNTIME, "KVM: KVM_SET_USER_MEMORY_REGION: %s", strerror(-rc));
}

/* Open (and lock) every disk first: a bad --disk fails before anything else happens. */
static void open_disks(struct vm *vm)
{
	char err[512];
	for (int i = 0; i < vm->opt.ndisks; i++) {
		vm->blks[i] = blk_open(&vm->opt.disks[i], err, sizeof(err));
		if (!vm->blks[i])
			die(EXIT_USAGE, "--disk %s", err);
	}
}

/* Where virtio device `i` lives: its 4 KiB window and its IRQ. */
static struct virtio_mmio_cfg virtio_cfg(struct vm *vm, int i)
{
	return (struct virtio_mmio_cfg){
		.vmfd = vm->vmfd, .mem = &vm->mem,
		.thread_start = io_thread_start, .thread_ctx = vm,
		.base = VIRTIO_BASE + (uint64_t)i * VIRTIO_MMIO_SIZE,
		.gsi = VIRTIO_FIRST_GSI + (uint32_t)i,
	};
}

/* Announce every virtio device on the kernel command line (disks first). */
static void announce_devices(struct vm *vm)
{
	vm->ndevices = vm->opt.ndisks;
	for (int i = 0; i < vm->ndevices; i++) {
		struct virtio_mmio_cfg cfg = virtio_cfg(vm, i);
		size_t used = strlen(vm->devices_cmdline);
		snprintf(vm->devices_cmdline + used, sizeof(vm->devices_cmdline) - used,
			 " virtio_mmio.device=4K@0x%llx:%u", (unsigned long long)cfg.base, cfg.gsi);
	}
}

static void attach(struct vm *vm, int i, int (*fn)(void *dev, const struct virtio_mmio_cfg *,
						   const struct bus_ops **, void **),
		   void *dev, const char *what)
{
	struct virtio_mmio_cfg cfg = virtio_cfg(vm, i);
	const struct bus_ops *ops;
	void *opaque;
	int rc = fn(dev, &cfg, &ops, &opaque);
	if (rc < 0)
		die(EXIT_RUNTIME, "%s: cannot attach: %s", what, strerror(-rc));
	if (bus_add(&vm->mmio, cfg.base, VIRTIO_MMIO_SIZE, ops, opaque) < 0)
		die(EXIT_RUNTIME, "device address conflict at 0x%llx", (unsigned long long)cfg.base);
}

static int blk_attach_any(void *dev, const struct virtio_mmio_cfg *cfg,
			  const struct bus_ops **ops, void **opaque)
{
	return blk_attach(dev, cfg, ops, opaque);
}

/* Bind the devices to KVM and start their I/O threads (after the jail). */
static void attach_devices(struct vm *vm)
{
	for (int i = 0; i < vm->opt.ndisks; i++)
		attach(vm, i, blk_attach_any, vm->blks[i], vm->opt.disks[i].path);
}

/* Everything is open: from here on kvmrun runs with only what it holds. */
static void enter_jail(struct vm *vm)
{
	char err[256];
	int usage;
	if (jail_enter(&vm->opt.jail, err, sizeof(err), &usage) < 0)
		die(usage ? EXIT_USAGE : EXIT_RUNTIME, "%s", err);
}

static void load_guest(struct vm *vm)
{
	char cmdline[BOOT_CMDLINE_MAX + sizeof(vm->devices_cmdline) + 256], err[512];
	int usage = 0;
	int n = snprintf(cmdline, sizeof(cmdline), "%s%s%s%s", DEFAULT_CMDLINE,
			 vm->devices_cmdline, vm->opt.cmdline ? " " : "",
			 vm->opt.cmdline ? vm->opt.cmdline : "");
	if (n < 0 || (size_t)n >= sizeof(cmdline))
		usage_error("--cmdline: longer than %llu bytes", BOOT_CMDLINE_MAX - 1);
	struct boot_spec spec = { vm->opt.kernel, vm->opt.initrd, cmdline };
	if (boot_load(&vm->mem, &spec, &vm->entry, err, sizeof(err), &usage) < 0)
		die(usage ? EXIT_USAGE : EXIT_RUNTIME, "%s", err);
	if (mptable_write(&vm->mem, BOOT_BIOS, vm->opt.cpus) < 0)
		die(EXIT_RUNTIME, "cannot write the MP table for %d vCPUs", vm->opt.cpus);
}

static int new_eventfd(void)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0)
		die(EXIT_RUNTIME, "eventfd: %s", strerror(errno));
	return fd;
}

static void setup_devices(struct vm *vm)
{
	vm->serial_fd = new_eventfd();
	vm->stop_fd = new_eventfd();
	struct irq_line com1 = { set_irq, vm, SERIAL_COM1_IRQ };
	struct irq_line kbd = { set_irq, vm, I8042_IRQ };
	vm->serial = serial_create(&com1, vm->serial_fd);
	vm->kbd = i8042_create(&kbd, guest_reset, vm);
	if (!vm->serial || !vm->kbd)
		die(EXIT_RUNTIME, "out of memory");
	if (bus_add(&vm->pio, SERIAL_COM1_BASE, 8, &serial_bus_ops, vm->serial) < 0 ||
	    bus_add(&vm->pio, I8042_DATA_PORT, 5, &i8042_bus_ops, vm->kbd) < 0)
		die(EXIT_RUNTIME, "device address conflict");
}

static void setup_cpus(struct vm *vm)
{
	char err[256];
	vm->env = (struct cpu_env){
		.kvmfd = vm->kvmfd, .vmfd = vm->vmfd, .run_size = vm->env.run_size,
		.ncpus = vm->opt.cpus, .pio = &vm->pio, .mmio = &vm->mmio,
		.entry = &vm->entry, .cpuid = vm->cpuid, .stopping = &vm->stopping,
		.stop = vm_stop, .ctx = vm, .first_run = first_run,
		.thread_start = vcpu_thread_start,
	};
	vm->cpus = calloc((size_t)vm->opt.cpus, sizeof(*vm->cpus));
	if (!vm->cpus || cpu_init_signals() < 0)
		die(EXIT_RUNTIME, "cannot set up vCPUs: %s", strerror(errno));
	for (int i = 0; i < vm->opt.cpus; i++)
		if (cpu_create(&vm->cpus[i], &vm->env, i, err, sizeof(err)) < 0)
			die(EXIT_RUNTIME, "KVM: %s", err);
}

/* ---- the event loop ---- */

static int block_signals(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGQUIT);
	/* Blocked before any thread starts, so only the loop's signalfd sees them. */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	int fd = signalfd(-1, &set, SFD_CLOEXEC);
	if (fd < 0)
		die(EXIT_RUNTIME, "signalfd: %s", strerror(errno));
	return fd;
}

/* 0, or -1 when fd is a file epoll cannot watch (always readable). */
static int epoll_add(int ep, int fd, uint32_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = tag };
	if (fd < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0)
		return 0;
	if (errno == EPERM)
		return -1;
	die(EXIT_RUNTIME, "epoll_ctl: %s", strerror(errno));
}

static void drain_eventfd(int fd)
{
	uint64_t v;
	if (read(fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: already drained */
	}
}

static void print_boot_trace(const struct vm *vm)
{
	if (!getenv("KVMRUN_TRACE_BOOT"))
		return;
	fprintf(stderr, "kvmrun: trace: main %lld.%09ld first_run %lld.%09ld\n",
		(long long)vm->t_main.tv_sec, vm->t_main.tv_nsec,
		(long long)vm->t_first_run.tv_sec, vm->t_first_run.tv_nsec);
}

/* Stop every vCPU, flush the console, and leave with `status`. */
__attribute__((noreturn)) static void finish(struct vm *vm, int status, const char *msg)
{
	atomic_store(&vm->stopping, true);
	for (int i = 0; i < vm->opt.cpus; i++)
		cpu_kick(&vm->cpus[i]);
	drain_output(vm);
	restore_tty();
	if (msg)
		fprintf(stderr, "%skvmrun: %s\n", vm->opt.console == CONSOLE_STDIO ? "\r\n" : "", msg);
	print_boot_trace(vm);
	fflush(NULL);
	/* No joins: vCPU threads may sit in KVM; process exit reclaims everything. */
	_exit(status);
}

static int stop_status(struct vm *vm)
{
	switch (atomic_load(&vm->stop_why)) {
	case CPU_STOP_RESET: return EXIT_GUEST_DONE;
	case CPU_STOP_FAULT: return EXIT_GUEST_FAULT;
	default: return EXIT_RUNTIME;
	}
}

enum { EV_SIGNAL, EV_STDIN, EV_SERIAL, EV_STOP, EV_GRACE };

static void on_signal(struct vm *vm, int sfd, int tfd)
{
	struct signalfd_siginfo si;
	char msg[64];
	if (read(sfd, &si, sizeof(si)) != sizeof(si))
		return;
	int sig = (int)si.ssi_signo;
	if (sig == SIGTERM && !atomic_load(&vm->stopping)) {
		struct itimerspec grace = { .it_value.tv_sec = vm->opt.shutdown_timeout };
		if (grace.it_value.tv_sec == 0)
			grace.it_value.tv_nsec = 1;
		static bool asked;
		if (!asked) { /* the first SIGTERM asks; a second one ends it now */
			asked = true;
			i8042_ctrl_alt_del(vm->kbd);
			timerfd_settime(tfd, 0, &grace, NULL);
			return;
		}
	}
	snprintf(msg, sizeof(msg), "terminated by %s", sig == SIGINT ? "SIGINT" :
		 sig == SIGHUP ? "SIGHUP" : sig == SIGQUIT ? "SIGQUIT" : "SIGTERM");
	finish(vm, EXIT_SIGNAL + sig, msg);
}

static void event_loop(struct vm *vm)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	int sfd = block_signals();
	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	if (ep < 0 || tfd < 0)
		die(EXIT_RUNTIME, "epoll/timerfd: %s", strerror(errno));
	epoll_add(ep, sfd, EV_SIGNAL);
	vm->in_unpollable = epoll_add(ep, vm->in_fd, EV_STDIN) < 0;
	epoll_add(ep, vm->serial_fd, EV_SERIAL);
	epoll_add(ep, vm->stop_fd, EV_STOP);
	epoll_add(ep, tfd, EV_GRACE);

	for (int i = 0; i < vm->opt.cpus; i++)
		if (cpu_start(&vm->cpus[i]) < 0)
			die(EXIT_RUNTIME, "cannot start vCPU %d thread", i);
	/* One I/O thread per virtio device, plus the vCPUs. */
	open_gate(vm, vm->opt.cpus + vm->ndevices);

	for (;;) {
		struct epoll_event evs[8];
		/* A file on stdin is read as the guest makes room, without epoll. */
		bool poll_file = vm->in_unpollable && vm->in_fd >= 0;
		if (poll_file && !console_input(vm))
			finish(vm, EXIT_GUEST_DONE, "Ctrl-A x: quit");
		int n = epoll_wait(ep, evs, 8, poll_file ? 10 : -1);
		if (n < 0 && errno != EINTR)
			die(EXIT_RUNTIME, "epoll_wait: %s", strerror(errno));
		for (int i = 0; i < n; i++) {
			switch (evs[i].data.u32) {
			case EV_SIGNAL:
				on_signal(vm, sfd, tfd);
				break;
			case EV_STDIN:
				if (!console_input(vm))
					finish(vm, EXIT_GUEST_DONE, "Ctrl-A x: quit");
				if (vm->in_fd < 0 && !vm->in_unpollable)
					epoll_ctl(ep, EPOLL_CTL_DEL, STDIN_FILENO, NULL);
				break;
			case EV_SERIAL:
				drain_eventfd(vm->serial_fd);
				drain_output(vm);
				break;
			case EV_STOP: {
				int status = stop_status(vm);
				finish(vm, status, status ? vm->stop_msg : NULL);
			}
			case EV_GRACE:
				finish(vm, EXIT_SIGNAL + SIGTERM,
				       "SIGTERM: the guest did not shut down in time");
			}
		}
	}
}

int main(int argc, char **argv)
{
	static struct vm vm = {
		.gate_lock = PTHREAD_MUTEX_INITIALIZER,
		.gate_cond = PTHREAD_COND_INITIALIZER,
	};
	g_vm = &vm;
	clock_gettime(CLOCK_MONOTONIC, &vm.t_main);
	parse_args(&vm.opt, argc, argv);
	open_disks(&vm);
	open_kvm(&vm);
	setup_memory(&vm);
	announce_devices(&vm);
	load_guest(&vm);
	setup_devices(&vm);
	setup_console(&vm);
	enter_jail(&vm);
	attach_devices(&vm);
	setup_cpus(&vm);
	if (vm.opt.no_seccomp)
		fputs("kvmrun: WARNING: --no-seccomp: the monitor is not confined; a hostile guest "
		      "that finds a bug owns this process (debugging only)\n", stderr);
	event_loop(&vm);
}
