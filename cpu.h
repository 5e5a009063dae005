/* SPDX-License-Identifier: Apache-2.0 */
/* vCPUs: architectural state at entry, and the run loop on one thread each. */
#ifndef KVMRUN_CPU_H
#define KVMRUN_CPU_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "boot.h"
#include "bus.h"

struct kvm_cpuid2;
struct kvm_run;

/* Why a vCPU ended the VM; vmm.c maps these to exit statuses. */
enum cpu_stop {
	CPU_STOP_RESET,	   /* guest powered off */
	CPU_STOP_REBOOT,   /* guest asked to reboot (triple fault, i8042, ACPI reset) */
	CPU_STOP_FAULT,	   /* KVM internal error, emulation failure, failed entry */
	CPU_STOP_INTERNAL, /* a kvmrun or host failure */
};

/* What all vCPUs share; read-only once they run. */
/*
 * The signal that kicks a vCPU thread out of KVM_RUN (seccomp allows main to
 * send only it). Not SIGUSR1/SIGUSR2: those are for the user (metrics, snapshot).
 */
#define CPU_KICK_SIGNAL SIGVTALRM

struct cpu_env {
	int vmfd;
	int run_size; /* KVM_GET_VCPU_MMAP_SIZE */
	int ncpus;
	const struct bus *pio, *mmio;
	const struct boot_entry *entry;
	const struct kvm_cpuid2 *cpuid; /* KVM_GET_SUPPORTED_CPUID, filtered per vCPU */
	atomic_bool *stopping;		/* set once the VM is ending */
	/* Called once per VM by the vCPU that ends it, with a one-line reason. */
	void (*stop)(void *ctx, enum cpu_stop why, const char *msg);
	void *ctx;
	/*
	 * Called first on every vCPU thread, before KVM_RUN (vmm.c installs the
	 * vCPU seccomp filter). Returns false if the thread must not run. May be NULL.
	 */
	bool (*thread_start)(void *ctx);
	/*
	 * Snapshots: while *pause is nonzero, a kicked vCPU parks outside
	 * KVM_RUN (after a KVM_RUN that completed any pending I/O, so its
	 * registers are whole) and counts itself in *parked. May be NULL.
	 */
	atomic_int *pause, *parked;
	/*
	 * --on-reboot restart: while *rebooting is nonzero, a vCPU holds outside
	 * KVM_RUN (counted in *parked) and main puts the boot state back. A
	 * reboot exit continues the loop instead of ending it when stop() set
	 * it. May be NULL.
	 */
	atomic_int *rebooting;
	/* Called on the first KVM_RUN of vCPU 0 (boot timing). May be NULL. */
	void (*first_run)(void *ctx);
};

/*
 * Exit reasons counted per vCPU, for metrics: one counter per exit, the
 * direction of port and MMIO exits in the kind (Firecracker's metrics split
 * them; kvmrun's "io" and "mmio" are their sums).
 */
enum cpu_exit_kind {
	CPU_EXIT_IO_IN,
	CPU_EXIT_IO_OUT,
	CPU_EXIT_MMIO_READ,
	CPU_EXIT_MMIO_WRITE,
	CPU_EXIT_INTR,
	CPU_EXIT_SHUTDOWN,
	CPU_EXIT_SYSTEM_EVENT,
	CPU_EXIT_INTERNAL_ERROR,
	CPU_EXIT_FAIL_ENTRY,
	CPU_EXIT_OTHER,
	CPU_EXIT_KINDS
};

/* "io_in", "io_out", "mmio_read", "mmio_write", "intr", ... */
const char *cpu_exit_name(enum cpu_exit_kind k);

struct cpu {
	int id;
	_Atomic uint64_t exits[CPU_EXIT_KINDS]; /* written by the vCPU thread only */
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool started;
	const struct cpu_env *env;
};

/*
 * Create vCPU `id` and give it its entry state: CPUID, MSRs, FPU, local
 * APIC wiring, and for vCPU 0 the registers boot_entry asks for. The others
 * wait in KVM for INIT/SIPI from the guest. 0, or -1 with err set.
 */
int cpu_create(struct cpu *c, const struct cpu_env *env, int id, char *err, size_t errlen);

/* Start the vCPU's thread. 0 or -errno. */
int cpu_start(struct cpu *c);

/*
 * Create vCPU `id` with nothing set: a restore puts the snapshot's state in.
 * 0, or -1 with err set.
 */
int cpu_create_bare(struct cpu *c, const struct cpu_env *env, int id, char *err, size_t errlen);

/* Make the vCPU leave KVM_RUN soon (the stopping flag keeps it out). */
void cpu_kick(struct cpu *c);

/* Install the signal handler cpu_kick relies on; once, before cpu_start. */
int cpu_init_signals(void);

#endif
