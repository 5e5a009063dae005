// SPDX-License-Identifier: Apache-2.0
/*
 * kvmsteps: time each KVM step of a kvmrun-like start-up and tear-down in
 * one process, without strace's overhead, to attribute kvmrun's launch time.
 *
 *   kvmsteps [RUNS] [MEM_MIB]
 *
 * Does, per run: open /dev/kvm, KVM_CREATE_VM, KVM_SET_TSS_ADDR +
 * KVM_SET_IDENTITY_MAP_ADDR, KVM_CREATE_IRQCHIP, KVM_CREATE_PIT2,
 * KVM_GET_SUPPORTED_CPUID, mmap + KVM_SET_USER_MEMORY_REGION, KVM_CREATE_VCPU
 * + mmap of kvm_run + SET_CPUID2 + SET_SREGS/REGS, the guest run (real mode:
 * "out 0x3f8,al; out 0x501,al": two KVM_RUNs, each ending in KVM_EXIT_IO;
 * the first is the vCPU's first entry), then close(vcpu), munmap,
 * close(vm) (the last close
 * runs kvm_destroy_vm before returning). Prints the median, min and max wall
 * time of every step in microseconds, and the median CPU time of the run.
 *
 * Experiments (environment): KVMSTEPS_MEM_FIRST=1 registers the memslot right
 * after KVM_CREATE_VM; KVMSTEPS_NO_PIT=1 skips KVM_CREATE_PIT2;
 * KVMSTEPS_EXIT=1 calls _exit(0) right after the first run's guest run
 * (prints nothing; time it from outside with launch, as a whole process).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

enum { S_OPEN, S_CREATE_VM, S_TSS, S_IRQCHIP, S_PIT, S_CPUID, S_MEMSLOT, S_VCPU, S_RUN1, S_RUN,
       S_CLOSE_VCPU, S_MUNMAP, S_CLOSE_VM, S_TOTAL, NSTEPS };
static const char *names[NSTEPS] = {
	"open /dev/kvm", "KVM_CREATE_VM", "SET_TSS_ADDR+IDENTITY_MAP", "KVM_CREATE_IRQCHIP",
	"KVM_CREATE_PIT2", "KVM_GET_SUPPORTED_CPUID", "mmap+SET_USER_MEMORY_REGION",
	"CREATE_VCPU+mmap+CPUID2+SREGS+REGS", "first KVM_RUN (to 1st exit)",
	"second KVM_RUN (to 2nd exit)", "close(vcpu fd)",
	"munmap(guest memory)", "close(vm fd) = destroy VM", "total",
};

static double now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static void fail(const char *what)
{
	fprintf(stderr, "kvmsteps: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Experiment switches (environment): see the usage comment. */
static int mem_first, no_pit, exit_after_run;

static uint8_t *add_memslot(int vm, size_t mem)
{
	uint8_t *ram = mmap(NULL, mem, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (ram == MAP_FAILED)
		fail("mmap");
	struct kvm_userspace_memory_region r = {
		.slot = 0, .guest_phys_addr = 0, .memory_size = mem, .userspace_addr = (uintptr_t)ram,
	};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		fail("KVM_SET_USER_MEMORY_REGION");
	return ram;
}

static void one_run(size_t mem, double *d)
{
	double t = now_us(), start = t, u;
#define STEP(i) do { u = now_us(); d[i] = u - t; t = u; } while (0)
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		fail("open /dev/kvm");
	STEP(S_OPEN);
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		fail("KVM_CREATE_VM");
	STEP(S_CREATE_VM);
	uint8_t *ram = NULL;
	if (mem_first)
		ram = add_memslot(vm, mem);
	uint64_t idmap = 0xfffbc000;
	if (ioctl(vm, KVM_SET_TSS_ADDR, 0xfffbd000UL) < 0 ||
	    ioctl(vm, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0)
		fail("SET_TSS_ADDR");
	STEP(S_TSS);
	if (ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0)
		fail("KVM_CREATE_IRQCHIP");
	STEP(S_IRQCHIP);
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	if (!no_pit && ioctl(vm, KVM_CREATE_PIT2, &pit) < 0)
		fail("KVM_CREATE_PIT2");
	STEP(S_PIT);
	static struct { struct kvm_cpuid2 c; struct kvm_cpuid_entry2 e[256]; } cpuid;
	cpuid.c.nent = 256;
	if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, &cpuid) < 0)
		fail("KVM_GET_SUPPORTED_CPUID");
	STEP(S_CPUID);
	if (!mem_first)
		ram = add_memslot(vm, mem);
	STEP(S_MEMSLOT);
	int cpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (cpu < 0)
		fail("KVM_CREATE_VCPU");
	int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	struct kvm_run *run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, cpu, 0);
	if (run == MAP_FAILED)
		fail("mmap kvm_run");
	if (ioctl(cpu, KVM_SET_CPUID2, &cpuid) < 0)
		fail("KVM_SET_CPUID2");
	/* Real mode at 0x1000: mov al,'!'; mov dx,0x3f8; out dx,al; mov dx,0x501; out dx,al */
	static const uint8_t code[] = { 0xb0, '!', 0xba, 0xf8, 0x03, 0xee, 0xba, 0x01, 0x05, 0xee };
	memcpy(ram + 0x1000, code, sizeof code);
	struct kvm_sregs s;
	if (ioctl(cpu, KVM_GET_SREGS, &s) < 0)
		fail("KVM_GET_SREGS");
	s.cs.base = 0;
	s.cs.selector = 0;
	if (ioctl(cpu, KVM_SET_SREGS, &s) < 0)
		fail("KVM_SET_SREGS");
	struct kvm_regs regs = { .rip = 0x1000, .rflags = 2 };
	if (ioctl(cpu, KVM_SET_REGS, &regs) < 0)
		fail("KVM_SET_REGS");
	STEP(S_VCPU);
	for (int i = 0; i < 10; i++) {
		if (ioctl(cpu, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			fail("KVM_RUN");
		}
		if (i == 0)
			STEP(S_RUN1);
		if (run->exit_reason != KVM_EXIT_IO || run->io.port == 0x501)
			break;
	}
	if (run->exit_reason != KVM_EXIT_IO || run->io.port != 0x501)
		fprintf(stderr, "kvmsteps: note: last exit reason %u\n", run->exit_reason);
	STEP(S_RUN);
	if (exit_after_run)
		_exit(0); /* leave the tear-down to process exit, as kvmrun does */
	munmap(run, (size_t)run_size);
	close(cpu);
	STEP(S_CLOSE_VCPU);
	munmap(ram, mem);
	STEP(S_MUNMAP);
	close(vm);
	close(kvm);
	STEP(S_CLOSE_VM);
	d[S_TOTAL] = t - start;
}

int main(int argc, char **argv)
{
	int runs = argc > 1 ? atoi(argv[1]) : 20;
	size_t mem = (size_t)(argc > 2 ? atoi(argv[2]) : 128) << 20;
	if (runs < 1)
		runs = 1;
	mem_first = getenv("KVMSTEPS_MEM_FIRST") != NULL;
	no_pit = getenv("KVMSTEPS_NO_PIT") != NULL;
	exit_after_run = getenv("KVMSTEPS_EXIT") != NULL;
	if (mem_first || no_pit)
		printf("experiment:%s%s\n", mem_first ? " memslot right after KVM_CREATE_VM (its time is"
			" then counted in SET_TSS_ADDR's row)" : "", no_pit ? " no PIT" : "");
	double *d = calloc((size_t)runs * NSTEPS, sizeof *d), *cpu = calloc((size_t)runs, sizeof *cpu);
	for (int i = 0; i < runs; i++) {
		struct rusage a, b;
		getrusage(RUSAGE_SELF, &a);
		one_run(mem, d + (size_t)i * NSTEPS);
		getrusage(RUSAGE_SELF, &b);
		cpu[i] = (b.ru_utime.tv_sec - a.ru_utime.tv_sec + b.ru_stime.tv_sec - a.ru_stime.tv_sec) * 1e6 +
			 (b.ru_utime.tv_usec - a.ru_utime.tv_usec + b.ru_stime.tv_usec - a.ru_stime.tv_usec);
	}
	printf("%-36s %9s %9s %9s   (us, %d runs, %zu MiB)\n", "step", "median", "min", "max", runs, mem >> 20);
	double *col = calloc((size_t)runs, sizeof *col);
	for (int s = 0; s < NSTEPS; s++) {
		for (int i = 0; i < runs; i++)
			col[i] = d[(size_t)i * NSTEPS + s];
		qsort(col, (size_t)runs, sizeof *col, cmp);
		printf("%-36s %9.0f %9.0f %9.0f\n", names[s], col[runs / 2], col[0], col[runs - 1]);
	}
	qsort(cpu, (size_t)runs, sizeof *cpu, cmp);
	printf("%-36s %9.0f %9.0f %9.0f\n", "CPU time of one run (getrusage)", cpu[runs / 2], cpu[0], cpu[runs - 1]);
	return 0;
}
