// SPDX-License-Identifier: Apache-2.0
/*
 * Seccomp allowlists, one per thread role. The rules below are compiled with
 * libseccomp at build time (build.sh builds this file with
 * -DKVMRUN_SECCOMP_GEN into a generator that writes build/seccomp_bpf.h), so
 * kvmrun only loads ready BPF programs: no filter compilation at start-up.
 * Default action: kill the process. x32 and other ABIs hit the bad-arch
 * action, which is also kill.
 */
#include "seccomp.h"

#include "cpu.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <termios.h>

/*
 * Main's roles: the snapshot role is main's plus what writing a snapshot
 * calls (SNAP); the restart role is main's plus what putting the boot state
 * back calls (RESTART); restart-snap, for a main that may do both, has both.
 */
#define BOTH (1u << SECCOMP_RESTART_SNAP)
#define RESTART ((1u << SECCOMP_RESTART) | BOTH)
#define SNAP ((1u << SECCOMP_SNAPSHOT) | BOTH)
#define MAIN ((1u << SECCOMP_MAIN) | SNAP | RESTART)
#define VCPU (1u << SECCOMP_VCPU)
#define IO (1u << SECCOMP_IO)	/* disks' threads */
#define NET (1u << SECCOMP_NET) /* NICs' threads */
#define ALL (MAIN | VCPU | IO | NET)
#define DOWN (1u << SECCOMP_TEARDOWN)
#define API (1u << SECCOMP_API)
#define OPENER (1u << SECCOMP_OPENER)

#ifndef FALLOC_FL_ZERO_RANGE
#define FALLOC_FL_ZERO_RANGE 0x10 /* as virtio_blk.c: not in every libc's fcntl.h */
#endif

/* Block-device ioctls (linux/fs.h clashes with musl's headers). */
#define BLKDISCARD_REQ _IO(0x12, 119)
#define BLKZEROOUT_REQ _IO(0x12, 127)
#define BLKGETSIZE64_REQ _IOR(0x12, 114, size_t)
#define BLKSSZGET_REQ _IO(0x12, 104)

/*
 * Syscalls per role, each with the path that makes it; `arg`/`vals`, when
 * arg >= 0, allow the call only with one of those values of that argument
 * (tkill: the vCPU kick signal; futex: the two operations musl makes).
 * Held to what each role calls by test/t_seccomp.py: a rule no traced
 * workload uses is an error unless that test names the path (marked
 * "untested path" here). No memory calls at all: every allocation, thread
 * stack and mapping is made before the threads confine themselves.
 */
#define MAX_VALS 4
#define SC(name, roles, why)                                \
	{                                                   \
		SYS_##name, #name, roles, -1, { 0 }, 0, why \
	}
#define SC_ARG(name, roles, arg, why, ...)                                          \
	{                                                                           \
		SYS_##name, #name, roles, arg, { __VA_ARGS__ },                     \
			sizeof((uint64_t[]){ __VA_ARGS__ }) / sizeof(uint64_t), why \
	}
static const struct {
	int nr;
	const char *name;
	unsigned roles;
	int arg;
	uint64_t vals[MAX_VALS];
	unsigned nvals;
	const char *why;
} allowed[] = {
	SC(read, MAIN | IO | NET | DOWN | API,
	   "console input, eventfd/signalfd drains, tap and stream reads; the "
	   "teardown child's pipe before Linux 5.3 (untested path)"),
	SC(write, ALL | API | OPENER,
	   "console output, eventfd notifications (serial, stop, kicks), tap/log"),
	SC(readv, NET, "tap RX straight into guest buffers"),
	SC(writev, MAIN | NET, "stderr messages (main); tap and stream TX from guest buffers"),
	SC(preadv, IO, "virtio-blk IN straight into guest buffers"),
	SC(pwritev, IO, "virtio-blk OUT straight from guest buffers; zeroes where fallocate fails"),
	SC(fdatasync, IO, "virtio-blk FLUSH"),
	SC_ARG(fallocate, IO, 1, "virtio-blk DISCARD and WRITE_ZEROES on image files",
	       FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
	       FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE),
	SC(timerfd_settime, IO | NET,
	   "rate limiters: wake when the bucket can pay (bw=, iops=, ...)"),
	SC(poll, IO | NET | DOWN,
	   "I/O threads wait on kicks, the tap and stop; the teardown child on "
	   "kvmrun's pidfd"),
	SC(epoll_pwait, MAIN | API, "the event loop; the API thread's wait for clients"),
	SC(epoll_ctl, MAIN | API, "drop stdin at EOF; API clients come and go"),
	SC(accept4, API, "--api-sock: a client connects"),
	SC(close, API, "--api-sock: a client is done, or is dropped"),
	SC(unlinkat, DOWN, "--api-sock: remove the socket once kvmrun has exited"),
	SC(open, OPENER,
	   "PATCH /drives path_on_host: the new image; PUT /snapshot/create: its files (created)"),
	SC_ARG(mkdir, OPENER, 1, "PUT /snapshot/create: its directory, when missing", 0700),
	SC(fstat, OPENER, "PATCH /drives: the new image is a file or a block device, its size"),
	SC_ARG(fcntl, OPENER, 1,
	       "PATCH /drives: clear O_NONBLOCK, take the image's OFD lock; PUT /snapshot/create: "
	       "whether a clone holds its memory file; musl's open(O_CLOEXEC) sets FD_CLOEXEC",
	       F_SETFL, F_OFD_SETLK, F_OFD_GETLK, F_SETFD),
	SC(close, OPENER, "PATCH /drives: the old image (or a new one refused)"),
	SC(timerfd_settime, MAIN,
	   "SIGTERM grace period; --limits: wake a queue whose limit changed"),
	/*
	 * musl's locks, joins and semaphores wait and wake with the private
	 * operations only (none of the PI or requeue ones, the kernel's most
	 * troubled); kvmrun has no condition variables.
	 */
	SC_ARG(futex, ALL | API | OPENER, 1,
	       "device and console locks, the start gate; main answers the API, waits for the "
	       "opener",
	       FUTEX_WAIT_PRIVATE, FUTEX_WAKE_PRIVATE),
	SC_ARG(tkill, MAIN, 1,
	       "cpu_kick: pthread_kill of a vCPU thread, only "
	       "with the kick signal",
	       CPU_KICK_SIGNAL),
	SC(rt_sigprocmask, MAIN | VCPU, "pthread_kill (main) and thread exit (vCPUs) mask signals"),
	SC(rt_sigreturn, VCPU, "return from the kick handler"),
	SC(clock_gettime, ALL | API | OPENER,
	   "timestamps where the vDSO has no fast path (untested path)"),
	SC(exit, VCPU, "a vCPU thread ends when the VM stops"),
	SC(exit_group, MAIN | DOWN, "process exit"),
	SC(pwrite64, SNAP, "snapshot: the state and memory files"),
	SC_ARG(madvise, RESTART, 2,
	       "--on-reboot restart: the last run's guest RAM goes, zero pages come back",
	       MADV_DONTNEED),
	SC(ftruncate, SNAP, "snapshot: empty the files, so old pages become holes"),
	SC(fdatasync, SNAP, "snapshot: on disk before kvmrun exits or resumes"),
	SC(pread64, MAIN,
	   "--limits: read the file again on SIGHUP; snapshots: which guest pages hold data, "
	   "and with --track-dirty which were written since the restore (pagemap)"),
};

/* ioctl request numbers per role (compared on the low 32 bits: libc sign-extends). */
#define IOC(req, roles, why)          \
	{                             \
		req, #req, roles, why \
	}
static const struct {
	uint32_t req;
	const char *name;
	unsigned roles;
	const char *why;
} ioctls[] = {
	IOC(KVM_RUN, VCPU, "the vCPU run loop"),
	IOC(KVM_GET_REGS, VCPU | SNAP, "guest RIP in fault reports; snapshot"),
	IOC(KVM_GET_SREGS, SNAP, "snapshot: vCPU state"),
	IOC(KVM_GET_XSAVE, SNAP, "snapshot: vCPU state"),
	IOC(KVM_GET_XCRS, SNAP, "snapshot: vCPU state"),
	IOC(KVM_GET_DEBUGREGS, SNAP, "snapshot: vCPU state"),
	IOC(KVM_GET_LAPIC, SNAP, "snapshot: vCPU state"),
	IOC(KVM_GET_MP_STATE, SNAP, "snapshot: vCPU state"),
	IOC(KVM_GET_VCPU_EVENTS, SNAP, "snapshot: vCPU state"),
	IOC(KVM_GET_CPUID2, SNAP, "snapshot: the CPUID the guest saw"),
	IOC(KVM_GET_MSRS, SNAP, "snapshot: vCPU state"),
	IOC(KVM_KVMCLOCK_CTRL, SNAP, "snapshot: the guest's clock knows it was paused"),
	IOC(KVM_GET_CLOCK, SNAP, "snapshot: VM state"),
	IOC(KVM_GET_IRQCHIP, SNAP, "snapshot: VM state"),
	IOC(KVM_GET_PIT2, SNAP, "snapshot: VM state"),
	IOC(KVM_SET_SREGS, RESTART, "--on-reboot restart: the vCPUs' boot state"),
	IOC(KVM_SET_REGS, RESTART, "--on-reboot restart: the vCPUs' boot state"),
	IOC(KVM_SET_XSAVE, RESTART, "--on-reboot restart: the vCPUs' boot state"),
	IOC(KVM_SET_XCRS, RESTART, "--on-reboot restart: the vCPUs' boot state"),
	IOC(KVM_SET_DEBUGREGS, RESTART, "--on-reboot restart: the vCPUs' boot state"),
	IOC(KVM_SET_LAPIC, RESTART, "--on-reboot restart: the vCPUs' boot state"),
	IOC(KVM_SET_MSRS, RESTART,
	    "--on-reboot restart: the vCPUs' boot state (kvmclock and PV MSRs off again)"),
	IOC(KVM_SET_VCPU_EVENTS, RESTART, "--on-reboot restart: no exception pending"),
	IOC(KVM_SET_MP_STATE, RESTART, "--on-reboot restart: APs wait for INIT/SIPI again"),
	IOC(KVM_SET_IRQCHIP, RESTART, "--on-reboot restart: PICs and IOAPIC as at boot"),
	IOC(KVM_SET_PIT2, RESTART, "--on-reboot restart: the PIT as at boot"),
	IOC(KVM_IRQ_LINE, MAIN | VCPU, "serial and i8042 interrupt lines"),
	IOC(TCSETSF, ALL | API | OPENER,
	    "restore the terminal at exit (main), or when a thread faults (the "
	    "crash handler; untested path for vCPU, I/O, API and opener threads)"),
	IOC(BLKDISCARD_REQ, IO, "virtio-blk DISCARD on block devices"),
	IOC(BLKZEROOUT_REQ, IO, "virtio-blk WRITE_ZEROES on block devices"),
	IOC(TUNSETOFFLOAD, NET, "virtio-net offloads follow the negotiated features"),
	IOC(BLKGETSIZE64_REQ, OPENER, "PATCH /drives onto a block device: its size"),
	IOC(BLKSSZGET_REQ, OPENER, "PATCH /drives onto a block device: its logical block size"),
};

#define NALLOWED (sizeof(allowed) / sizeof(allowed[0]))
#define NIOCTLS (sizeof(ioctls) / sizeof(ioctls[0]))

int seccomp_count(enum seccomp_role role, int *nioctl)
{
	int n = 0, m = 0;
	for (size_t i = 0; i < NALLOWED; i++)
		n += !!(allowed[i].roles & (1u << role));
	for (size_t i = 0; i < NIOCTLS; i++)
		m += !!(ioctls[i].roles & (1u << role));
	if (nioctl)
		*nioctl = m;
	return n + (m > 0); /* + ioctl */
}

static const char *const role_names[SECCOMP_ROLES] = { "main",	      "vcpu",	  "io",
						       "teardown",    "snapshot", "api",
						       "opener",      "restart",  "net",
						       "restart-snap" };

int seccomp_role_by_name(const char *name)
{
	for (int i = 0; i < SECCOMP_ROLES; i++)
		if (strcmp(name, role_names[i]) == 0)
			return i;
	return -1;
}

void seccomp_list(FILE *out)
{
	for (int r = 0; r < SECCOMP_ROLES; r++) {
		int nioctl = 0;
		for (size_t i = 0; i < NALLOWED; i++)
			if (allowed[i].roles & (1u << r))
				fprintf(out, "%s syscall %s\n", role_names[r], allowed[i].name);
		for (size_t i = 0; i < NIOCTLS; i++)
			if (ioctls[i].roles & (1u << r)) {
				fprintf(out, "%s ioctl 0x%x %s\n", role_names[r],
					(unsigned)ioctls[i].req, ioctls[i].name);
				nioctl++;
			}
		if (nioctl)
			fprintf(out, "%s syscall ioctl\n", role_names[r]);
	}
}

#ifdef KVMRUN_SECCOMP_GEN
/* ---- build-time generator: rules -> BPF arrays in a C header ---- */
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static void check(int rc, const char *what)
{
	if (rc < 0) {
		fprintf(stderr, "seccomp generator: %s: %s\n", what, strerror(-rc));
		exit(1);
	}
}

static void emit(FILE *out, enum seccomp_role role, const char *name)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (!ctx)
		check(-ENOMEM, "seccomp_init");
	check(seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS), "badarch");
	for (size_t i = 0; i < NALLOWED; i++) {
		if (!(allowed[i].roles & (1u << role)))
			continue;
		if (allowed[i].arg < 0)
			check(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed[i].nr, 0),
			      allowed[i].why);
		for (unsigned v = 0; allowed[i].arg >= 0 && v < allowed[i].nvals; v++)
			check(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed[i].nr, 1,
					       SCMP_CMP((unsigned)allowed[i].arg, SCMP_CMP_EQ,
							allowed[i].vals[v])),
			      allowed[i].why);
	}
	for (size_t i = 0; i < NIOCTLS; i++)
		if (ioctls[i].roles & (1u << role))
			check(seccomp_rule_add(
				      ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				      SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, ioctls[i].req)),
			      ioctls[i].why);

	FILE *tmp = tmpfile();
	if (!tmp)
		check(-errno, "tmpfile");
	check(seccomp_export_bpf(ctx, fileno(tmp)), "seccomp_export_bpf");
	long len = ftell(tmp) > 0 ? ftell(tmp) : lseek(fileno(tmp), 0, SEEK_END);
	unsigned char *buf = malloc((size_t)len);
	if (!buf || pread(fileno(tmp), buf, (size_t)len, 0) != len)
		check(-EIO, "reading the exported filter");
	fprintf(out, "static const unsigned char bpf_%s[] __attribute__((aligned(8))) = {", name);
	for (long i = 0; i < len; i++)
		fprintf(out, "%s0x%02x,", i % 16 ? "" : "\n\t", buf[i]);
	fprintf(out, "\n};\n");
	free(buf);
	fclose(tmp);
	seccomp_release(ctx);
}

int main(void)
{
	printf("/* Generated by build.sh from seccomp.c with libseccomp %u.%u.%u. Do not edit. "
	       "*/\n",
	       seccomp_version()->major, seccomp_version()->minor, seccomp_version()->micro);
	emit(stdout, SECCOMP_MAIN, "main");
	emit(stdout, SECCOMP_VCPU, "vcpu");
	emit(stdout, SECCOMP_IO, "io");
	emit(stdout, SECCOMP_TEARDOWN, "teardown");
	emit(stdout, SECCOMP_SNAPSHOT, "snapshot");
	emit(stdout, SECCOMP_API, "api");
	emit(stdout, SECCOMP_OPENER, "opener");
	emit(stdout, SECCOMP_RESTART, "restart");
	emit(stdout, SECCOMP_NET, "net");
	emit(stdout, SECCOMP_RESTART_SNAP, "restart_snap");
	return 0;
}

#else
/* ---- runtime: load the prebuilt programs ---- */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util.h"

#include "seccomp_bpf.h"

int seccomp_selftest(const char *role, char *err, size_t errlen)
{
	int r = seccomp_role_by_name(role);
	if (r < 0)
		return errf(err, errlen,
			    "--seccomp-selftest %s: expected main, vcpu, io, net, teardown, "
			    "snapshot, api, opener, restart or restart-snap",
			    role),
		       ERR_USAGE;
	int rc = seccomp_enter((enum seccomp_role)r);
	if (rc < 0)
		return errf(err, errlen, "seccomp: %s", strerror(-rc));
	syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
	return errf(err, errlen, "seccomp self-test: socket() was not blocked in role %s", role);
}

int seccomp_enter(enum seccomp_role role)
{
#ifdef __SANITIZE_ADDRESS__
	/*
	 * The ASan/UBSan build (./build.sh asan) checks memory safety; its
	 * runtime makes calls no allowlist has (sigaltstack, ...). The filters
	 * themselves are tested on the static build.
	 */
	(void)role;
	return 0;
#endif
	static const struct {
		const unsigned char *bpf;
		size_t len;
	} progs[SECCOMP_ROLES] = {
		{ bpf_main, sizeof(bpf_main) },
		{ bpf_vcpu, sizeof(bpf_vcpu) },
		{ bpf_io, sizeof(bpf_io) },
		{ bpf_teardown, sizeof(bpf_teardown) },
		{ bpf_snapshot, sizeof(bpf_snapshot) },
		{ bpf_api, sizeof(bpf_api) },
		{ bpf_opener, sizeof(bpf_opener) },
		{ bpf_restart, sizeof(bpf_restart) },
		{ bpf_net, sizeof(bpf_net) },
		{ bpf_restart_snap, sizeof(bpf_restart_snap) },
	};
	struct sock_fprog prog = {
		.len = (unsigned short)(progs[role].len / sizeof(struct sock_filter)),
		.filter = (struct sock_filter *)(uintptr_t)progs[role].bpf,
	};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
		return -errno;
	return 0;
}
#endif
