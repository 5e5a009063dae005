// SPDX-License-Identifier: Apache-2.0
/* vCPU creation, entry state (64-bit Linux boot protocol or 32-bit PVH) and run loop. */
#include "cpu.h"

#include <asm/processor-flags.h>
#include <errno.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "layout.h"
#include "util.h"

/* EFER bits (asm/msr-index.h is not exported to user space). */
#define EFER_LME (1u << 8)  /* long mode enable */
#define EFER_LMA (1u << 10) /* long mode active */
#define MSR_IA32_TSC 0x10
#define MSR_IA32_SYSENTER_CS 0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SYSCALL_MASK 0xc0000084
#define MSR_KERNEL_GS_BASE 0xc0000102

#define APIC_LVT_LINT0 0x350
#define APIC_LVT_LINT1 0x360
#define APIC_MODE_NMI 0x4
#define APIC_MODE_EXTINT 0x7

static unsigned order(int n) /* bits needed for n distinct ids */
{
	unsigned b = 0;
	while ((1 << b) < n)
		b++;
	return b;
}

/* Per-vCPU view of CPUID: APIC id, package topology, hypervisor bit. */
static int set_cpuid(struct cpu *c, char *err, size_t errlen)
{
	const struct kvm_cpuid2 *src = c->env->cpuid;
	size_t size = sizeof(*src) + src->nent * sizeof(src->entries[0]);
	struct kvm_cpuid2 *cp = malloc(size);
	const uint32_t n = (uint32_t)c->env->ncpus, id = (uint32_t)c->id;

	if (!cp)
		return errf(err, errlen, "out of memory");
	memcpy(cp, src, size);
	for (uint32_t i = 0; i < cp->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cp->entries[i];
		switch (e->function) {
		case 1:
			e->ebx = (id << 24) | ((n > 255 ? 255 : n) << 16) | (8 << 8);
			e->ecx |= 1u << 31; /* running under a hypervisor */
			if (n > 1)
				e->edx |= 1u << 28; /* HTT: more than one logical CPU */
			break;
		case 4: /* cores per package, one thread each */
			e->eax = (e->eax & 0x03ffffffu) | (((n - 1) & 0x3f) << 26);
			break;
		case 0xb: /* x2APIC topology: level 0 SMT (1 thread), level 1 cores */
			e->edx = id;
			if (e->index == 0) {
				e->eax = 0, e->ebx = 1, e->ecx = 0x100;
			} else if (e->index == 1) {
				e->eax = order((int)n), e->ebx = n, e->ecx = 0x201;
			} else {
				e->eax = e->ebx = 0, e->ecx = e->index;
			}
			break;
		case 0x80000008: /* AMD: cores per package */
			e->ecx = (e->ecx & ~0xffu) | ((n - 1) & 0xff);
			break;
		default:
			break;
		}
	}
	int rc = ioctl(c->fd, KVM_SET_CPUID2, cp);
	free(cp);
	if (rc < 0)
		return errf(err, errlen, "KVM_SET_CPUID2: %s", strerror(errno));
	return 0;
}

static int set_msrs(struct cpu *c, char *err, size_t errlen)
{
	static const uint32_t zero[] = { MSR_IA32_SYSENTER_CS,
					 MSR_IA32_SYSENTER_ESP,
					 MSR_IA32_SYSENTER_EIP,
					 MSR_STAR,
					 MSR_LSTAR,
					 MSR_CSTAR,
					 MSR_SYSCALL_MASK,
					 MSR_KERNEL_GS_BASE,
					 MSR_IA32_TSC };
	const size_t n = sizeof(zero) / sizeof(zero[0]) + 1;
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[sizeof(zero) / sizeof(zero[0]) + 1];
	} m;

	memset(&m, 0, sizeof(m));
	for (size_t i = 0; i < n - 1; i++)
		m.e[i].index = zero[i];
	m.e[n - 1].index = MSR_IA32_MISC_ENABLE;
	m.e[n - 1].data = 1; /* fast string operations */
	m.hdr.nmsrs = (uint32_t)n;
	int rc = ioctl(c->fd, KVM_SET_MSRS, &m);
	if (rc < 0)
		return errf(err, errlen, "KVM_SET_MSRS: %s", strerror(errno));
	return 0;
}

static int set_fpu(struct cpu *c, char *err, size_t errlen)
{
	struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };
	if (ioctl(c->fd, KVM_SET_FPU, &fpu) < 0)
		return errf(err, errlen, "KVM_SET_FPU: %s", strerror(errno));
	return 0;
}

/* LINT0 delivers the PIC's ExtINT, LINT1 NMI: what the MP table promises. */
static int set_lapic(struct cpu *c, char *err, size_t errlen)
{
	struct kvm_lapic_state la;
	if (ioctl(c->fd, KVM_GET_LAPIC, &la) < 0)
		return errf(err, errlen, "KVM_GET_LAPIC: %s", strerror(errno));
	uint32_t *lint0 = (uint32_t *)(void *)(la.regs + APIC_LVT_LINT0);
	uint32_t *lint1 = (uint32_t *)(void *)(la.regs + APIC_LVT_LINT1);
	*lint0 = (*lint0 & ~0x700u) | (APIC_MODE_EXTINT << 8);
	*lint1 = (*lint1 & ~0x700u) | (APIC_MODE_NMI << 8);
	if (ioctl(c->fd, KVM_SET_LAPIC, &la) < 0)
		return errf(err, errlen, "KVM_SET_LAPIC: %s", strerror(errno));
	return 0;
}

static struct kvm_segment seg(uint16_t sel, uint8_t type, uint8_t l, uint8_t db)
{
	return (struct kvm_segment){ .base = 0,
				     .limit = 0xffffffff,
				     .selector = sel,
				     .type = type,
				     .present = 1,
				     .dpl = 0,
				     .db = db,
				     .s = 1,
				     .l = l,
				     .g = 1 };
}

/* vCPU 0's registers: 64-bit long mode with paging, or PVH's flat 32-bit mode. */
static int set_entry_regs(struct cpu *c, char *err, size_t errlen)
{
	const struct boot_entry *b = c->env->entry;
	const bool pvh = b->format == BOOT_PVH;
	struct kvm_sregs sr;
	struct kvm_regs r = { .rflags = 2, .rip = b->rip };

	if (ioctl(c->fd, KVM_GET_SREGS, &sr) < 0)
		return errf(err, errlen, "KVM_GET_SREGS: %s", strerror(errno));
	sr.cs = pvh ? seg(BOOT_CS32, 11, 0, 1) : seg(BOOT_CS64, 11, 1, 0);
	sr.ds = sr.es = sr.fs = sr.gs = sr.ss = seg(BOOT_DS, 3, 0, 1);
	sr.tr = seg(BOOT_TSS, 11, 0, 0);
	sr.tr.s = 0, sr.tr.g = 0, sr.tr.limit = 0x67;
	sr.gdt.base = BOOT_GDT;
	sr.gdt.limit = 5 * 8 - 1;
	sr.idt.base = 0;
	sr.idt.limit = 0;
	if (pvh) {
		sr.cr0 = X86_CR0_PE | X86_CR0_ET; /* paging off, as the PVH ABI says */
		sr.cr4 = 0;
		sr.efer = 0;
		r.rbx = b->rbx;
	} else {
		sr.cr0 = X86_CR0_PG | X86_CR0_AM | X86_CR0_WP | X86_CR0_NE | X86_CR0_ET |
			 X86_CR0_MP | X86_CR0_PE;
		sr.cr3 = b->cr3;
		sr.cr4 = X86_CR4_PAE;
		sr.efer = EFER_LME | EFER_LMA;
		r.rsi = b->rsi;
		r.rsp = 0x8ff0; /* a scratch stack below the page tables */
	}
	if (ioctl(c->fd, KVM_SET_SREGS, &sr) < 0)
		return errf(err, errlen, "KVM_SET_SREGS: %s", strerror(errno));
	if (ioctl(c->fd, KVM_SET_REGS, &r) < 0)
		return errf(err, errlen, "KVM_SET_REGS: %s", strerror(errno));
	return 0;
}

int cpu_create_bare(struct cpu *c, const struct cpu_env *env, int id, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	c->id = id;
	c->env = env;
	c->fd = ioctl(env->vmfd, KVM_CREATE_VCPU, id);
	if (c->fd < 0)
		return errf(err, errlen, "KVM_CREATE_VCPU %d: %s", id, strerror(errno));
	c->run = mmap(NULL, (size_t)env->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd, 0);
	if (c->run == MAP_FAILED)
		return errf(err, errlen, "mmap of vCPU %d: %s", id, strerror(errno));
	return 0;
}

int cpu_create(struct cpu *c, const struct cpu_env *env, int id, char *err, size_t errlen)
{
	if (cpu_create_bare(c, env, id, err, errlen) < 0)
		return -1;
	if (set_cpuid(c, err, errlen) < 0 || set_msrs(c, err, errlen) < 0 ||
	    set_fpu(c, err, errlen) < 0 || set_lapic(c, err, errlen) < 0)
		return -1;
	if (id == 0 && set_entry_regs(c, err, errlen) < 0)
		return -1;
	return 0;
}

static void stop(struct cpu *c, enum cpu_stop why, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void stop(struct cpu *c, enum cpu_stop why, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->env->stop(c->env->ctx, why, msg);
}

static uint64_t guest_rip(struct cpu *c)
{
	struct kvm_regs r;
	return ioctl(c->fd, KVM_GET_REGS, &r) < 0 ? 0 : r.rip;
}

static void port_io(struct cpu *c)
{
	struct kvm_run *run = c->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool out = run->io.direction == KVM_EXIT_IO_OUT;

	/* String I/O (REP INS/OUTS) arrives as count items of size bytes. */
	for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size)
		bus_access(c->env->pio, run->io.port, data, run->io.size, out);
}

const char *cpu_exit_name(enum cpu_exit_kind k)
{
	static const char *const names[CPU_EXIT_KINDS] = {
		"io_in",    "io_out",	    "mmio_read",      "mmio_write", "intr",
		"shutdown", "system_event", "internal_error", "fail_entry", "other",
	};
	return names[k];
}

static void count(struct cpu *c, enum cpu_exit_kind k)
{
	/* One writer per counter: a relaxed add is enough for readers that sample. */
	atomic_fetch_add_explicit(&c->exits[k], 1, memory_order_relaxed);
}

static enum cpu_exit_kind exit_kind(const struct kvm_run *run)
{
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		return run->io.direction == KVM_EXIT_IO_OUT ? CPU_EXIT_IO_OUT : CPU_EXIT_IO_IN;
	case KVM_EXIT_MMIO:
		return run->mmio.is_write ? CPU_EXIT_MMIO_WRITE : CPU_EXIT_MMIO_READ;
	case KVM_EXIT_SHUTDOWN:
		return CPU_EXIT_SHUTDOWN;
	case KVM_EXIT_SYSTEM_EVENT:
		return CPU_EXIT_SYSTEM_EVENT;
	case KVM_EXIT_INTERNAL_ERROR:
		return CPU_EXIT_INTERNAL_ERROR;
	case KVM_EXIT_FAIL_ENTRY:
		return CPU_EXIT_FAIL_ENTRY;
	default:
		return CPU_EXIT_OTHER;
	}
}

/* After a reboot exit: true when the machine restarts (the loop holds, then goes on). */
static bool rebooting(const struct cpu *c)
{
	return c->env->rebooting && atomic_load(c->env->rebooting);
}

/* Handle one exit; false when the VM ends. */
static bool handle_exit(struct cpu *c)
{
	struct kvm_run *run = c->run;
	count(c, exit_kind(run));
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		port_io(c);
		return true;
	case KVM_EXIT_MMIO:
		bus_access(c->env->mmio, run->mmio.phys_addr, run->mmio.data,
			   run->mmio.len > 8 ? 8 : run->mmio.len, run->mmio.is_write);
		return true;
	case KVM_EXIT_SHUTDOWN:
		stop(c, CPU_STOP_REBOOT, "guest reset (triple fault on vCPU %d)", c->id);
		return rebooting(c);
	case KVM_EXIT_SYSTEM_EVENT:
		if (run->system_event.type == KVM_SYSTEM_EVENT_CRASH)
			stop(c, CPU_STOP_FAULT, "guest crashed (vCPU %d)", c->id);
		else if (run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN)
			stop(c, CPU_STOP_RESET, "guest powered off");
		else
			stop(c, CPU_STOP_REBOOT, "guest reset");
		return rebooting(c);
	case KVM_EXIT_INTERNAL_ERROR:
		stop(c, CPU_STOP_FAULT,
		     "KVM internal error on vCPU %d: suberror %u (%s) at guest "
		     "RIP 0x%llx",
		     c->id, run->internal.suberror,
		     run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION ? "emulation failure"
									    : "see KVM docs",
		     (unsigned long long)guest_rip(c));
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		stop(c, CPU_STOP_FAULT,
		     "KVM could not enter vCPU %d: hardware reason 0x%llx at "
		     "guest RIP 0x%llx",
		     c->id, (unsigned long long)run->fail_entry.hardware_entry_failure_reason,
		     (unsigned long long)guest_rip(c));
		return false;
	case KVM_EXIT_HLT: /* only without an in-kernel LAPIC: not our setup */
	default:
		stop(c, CPU_STOP_FAULT, "unexpected KVM exit %u on vCPU %d at guest RIP 0x%llx",
		     run->exit_reason, c->id, (unsigned long long)guest_rip(c));
		return false;
	}
}

/* Out of KVM_RUN while *flag (0 or 1) is set, counted in *parked for main. */
static void wait_out(struct cpu *c, atomic_int *flag)
{
	atomic_fetch_add(c->env->parked, 1);
	futex_wake(c->env->parked);
	while (atomic_load(flag))
		futex_wait(flag, 1);
	atomic_fetch_sub(c->env->parked, 1);
	futex_wake(c->env->parked);
	c->run->immediate_exit = 0;
}

/*
 * Out of KVM_RUN until the snapshot is taken. immediate_exit is cleared
 * after waking, then the pause looked at again: a kick for the next
 * snapshot that set it just before we cleared it then still parks us.
 */
static void park(struct cpu *c)
{
	do
		wait_out(c, c->env->pause);
	while (atomic_load(c->env->pause));
}

static void *cpu_thread(void *arg)
{
	struct cpu *c = arg;
	sigset_t kick;
	sigemptyset(&kick);
	sigaddset(&kick, CPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &kick, NULL);

	if (c->env->thread_start && !c->env->thread_start(c->env->ctx))
		return NULL;
	bool first = c->id == 0 && c->env->first_run;
	/*
	 * Paused before the first KVM_RUN (a snapshot loaded paused): no kick
	 * came, so park here. Later pauses kick (immediate_exit, EINTR below),
	 * so the loop itself looks at nothing more per exit.
	 */
	if (c->env->pause && atomic_load(c->env->pause))
		park(c);
	while (!atomic_load(c->env->stopping)) {
		if (rebooting(c)) {
			/* --on-reboot restart: main resets the machine, our registers too. */
			wait_out(c, c->env->rebooting);
			continue;
		}
		if (first) {
			c->env->first_run(c->env->ctx);
			first = false;
		}
		if (ioctl(c->fd, KVM_RUN, 0) < 0) {
			/* EINTR: kicked. EAGAIN: an AP not yet started by INIT/SIPI. */
			if (errno == EINTR || errno == EAGAIN) {
				count(c, CPU_EXIT_INTR);
				if (errno == EINTR && c->env->pause && atomic_load(c->env->pause))
					park(c);
				continue;
			}
			stop(c, CPU_STOP_INTERNAL, "KVM_RUN on vCPU %d: %s", c->id,
			     strerror(errno));
			break;
		}
		if (!handle_exit(c))
			break;
	}
	return NULL;
}

int cpu_start(struct cpu *c)
{
	int rc = pthread_create(&c->thread, NULL, cpu_thread, c);
	c->started = rc == 0;
	return -rc;
}

void cpu_kick(struct cpu *c)
{
	if (!c->started)
		return;
	c->run->immediate_exit = 1; /* covers a kick that lands just before KVM_RUN */
	pthread_kill(c->thread, CPU_KICK_SIGNAL);
}

static void on_kick(int sig)
{
	(void)sig; /* only there to interrupt KVM_RUN with EINTR */
}

int cpu_init_signals(void)
{
	struct sigaction sa = { .sa_handler = on_kick }; /* no SA_RESTART */
	sigemptyset(&sa.sa_mask);
	return sigaction(CPU_KICK_SIGNAL, &sa, NULL);
}
