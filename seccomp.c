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

#include <errno.h>
#include <linux/kvm.h>
#include <linux/if_tun.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <termios.h>

#define MAIN (1u << SECCOMP_MAIN)
#define VCPU (1u << SECCOMP_VCPU)
#define IO (1u << SECCOMP_IO)
#define ALL (MAIN | VCPU | IO)
#define DOWN (1u << SECCOMP_TEARDOWN)

/* Block-device ioctls (linux/fs.h clashes with musl's headers). */
#define BLKDISCARD_REQ _IO(0x12, 119)
#define BLKZEROOUT_REQ _IO(0x12, 127)

/* Syscalls allowed outright; mmap, mprotect and ioctl get argument rules below. */
static const struct {
	int nr;
	unsigned roles;
	const char *why;
} allowed[] = {
	{ SYS_read, ALL | DOWN, "console input, eventfd/signalfd/timerfd drains, disk and tap reads" },
	{ SYS_write, ALL, "console output, eventfd notifications (serial, stop, irqfd), tap/disk" },
	{ SYS_readv, IO, "tap RX into guest buffers" },
	{ SYS_writev, ALL, "stdio error messages; tap TX from guest buffers" },
	{ SYS_preadv, IO, "virtio-blk IN straight into guest buffers" },
	{ SYS_pwritev, IO, "virtio-blk OUT straight from guest buffers" },
	{ SYS_pread64, IO, "virtio-blk short reads" },
	{ SYS_pwrite64, IO, "virtio-blk short writes" },
	{ SYS_fdatasync, IO, "virtio-blk FLUSH" },
	{ SYS_fsync, IO, "virtio-blk FLUSH fallback" },
	{ SYS_fallocate, IO, "virtio-blk DISCARD and WRITE_ZEROES on image files" },
	{ SYS_poll, IO | DOWN, "virtio I/O thread waits on its kick and stop eventfds; the teardown child on kvmrun's pidfd" },
	{ SYS_ppoll, IO | DOWN, "the same, where libc uses ppoll" },
	{ SYS_epoll_pwait, MAIN | IO, "event loop; tap device threads" },
	{ SYS_epoll_wait, MAIN | IO, "event loop (libc fallback)" },
	{ SYS_epoll_ctl, MAIN | IO, "drop stdin at EOF; tap RX throttling" },
	{ SYS_timerfd_settime, MAIN, "SIGTERM grace period" },
	{ SYS_futex, ALL, "device and console locks" },
	{ SYS_tkill, ALL, "cpu_kick of vCPU threads; raise() in the fatal-signal handler" },
	{ SYS_tgkill, MAIN, "pthread_kill where libc uses tgkill" },
	{ SYS_rt_sigprocmask, ALL, "thread start masks; raise()" },
	{ SYS_rt_sigaction, ALL, "fatal-signal handler resets to SIG_DFL before re-raising" },
	{ SYS_rt_sigreturn, ALL, "return from the vCPU kick handler" },
	{ SYS_clock_gettime, ALL, "boot timing and log timestamps (vDSO fallback)" },
	{ SYS_munmap, ALL, "free() of large blocks" },
	{ SYS_madvise, ALL, "free() returning memory" },
	{ SYS_brk, ALL, "malloc()" },
	{ SYS_mremap, ALL, "realloc() of large blocks" },
	{ SYS_close, MAIN | IO, "closing fds at shutdown" },
	{ SYS_exit, ALL | DOWN, "thread exit" },
	{ SYS_exit_group, ALL | DOWN, "process exit" },
};

/* ioctl request numbers per role (compared on the low 32 bits: libc sign-extends). */
static const struct {
	uint32_t req;
	unsigned roles;
	const char *why;
} ioctls[] = {
	{ KVM_RUN, VCPU, "the vCPU run loop" },
	{ KVM_GET_REGS, VCPU, "guest RIP in fault reports" },
	{ KVM_IRQ_LINE, MAIN | VCPU, "serial and i8042 interrupt lines" },
	{ TCSETS, ALL, "restore the terminal (exit paths, fatal signals)" },
	{ TCSETSW, ALL, "restore the terminal" },
	{ TCSETSF, ALL, "restore the terminal (TCSAFLUSH)" },
	{ BLKDISCARD_REQ, IO, "virtio-blk DISCARD on block devices" },
	{ BLKZEROOUT_REQ, IO, "virtio-blk WRITE_ZEROES on block devices" },
	{ TUNSETOFFLOAD, VCPU | IO, "virtio-net offloads follow the negotiated features" },
	{ TUNSETVNETHDRSZ, VCPU | IO, "virtio-net header size" },
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
	return n + 2 + (m > 0); /* + mmap, mprotect (no PROT_EXEC), ioctl */
}

int seccomp_role_by_name(const char *name)
{
	static const char *const names[SECCOMP_ROLES] = { "main", "vcpu", "io", "teardown" };
	for (int i = 0; i < SECCOMP_ROLES; i++)
		if (strcmp(name, names[i]) == 0)
			return i;
	return -1;
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
	for (size_t i = 0; i < NALLOWED; i++)
		if (allowed[i].roles & (1u << role))
			check(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed[i].nr, 0), allowed[i].why);
	/* malloc and thread stacks map memory; nothing may map it executable. */
	check(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
			       SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)), "mmap");
	check(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
			       SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)), "mprotect");
	for (size_t i = 0; i < NIOCTLS; i++)
		if (ioctls[i].roles & (1u << role))
			check(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
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
	printf("/* Generated by build.sh from seccomp.c with libseccomp %u.%u.%u. Do not edit. */\n",
	       seccomp_version()->major, seccomp_version()->minor, seccomp_version()->micro);
	emit(stdout, SECCOMP_MAIN, "main");
	emit(stdout, SECCOMP_VCPU, "vcpu");
	emit(stdout, SECCOMP_IO, "io");
	emit(stdout, SECCOMP_TEARDOWN, "teardown");
	return 0;
}

#else
/* ---- runtime: load the prebuilt programs ---- */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "seccomp_bpf.h"

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
