// SPDX-License-Identifier: Apache-2.0
/*
 * bare: the least a KVM program does before its first KVM_RUN, as a floor
 * for kvmrun's exec-to-first-KVM_RUN in bench/boot.sh. No error handling
 * beyond exiting 1; no devices, no seccomp, no threads.
 *
 *   open /dev/kvm, KVM_CREATE_VM, 128 MiB of memory in one slot,
 *   KVM_CREATE_IRQCHIP, KVM_GET_SUPPORTED_CPUID, one vCPU with that CPUID,
 *   real-mode registers, then KVM_RUN: the guest writes one byte to port
 *   0x3f8 and halts.
 *
 * Prints "PROBE hello" on stdout and, like kvmrun under KVMRUN_TRACE_BOOT,
 * "kvmrun: trace: main S.N first_run S.N" on stderr, so bench/launch.c times
 * it the same way. Built static by bench/boot.sh.
 */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MEM_SIZE (128ULL << 20)
#define CODE_GPA 0x1000

static struct timespec now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t;
}

static int must(int rc, const char *what)
{
	if (rc < 0) {
		perror(what);
		exit(1);
	}
	return rc;
}

static struct kvm_cpuid2 *supported_cpuid(int kvm)
{
	for (uint32_t n = 64; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
		if (!c)
			exit(1);
		c->nent = n;
		if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, c) == 0)
			return c;
		free(c);
	}
	exit(1);
}

int main(void)
{
	struct timespec t_main = now();
	int kvm = must(open("/dev/kvm", O_RDWR | O_CLOEXEC), "/dev/kvm");
	int vm = must(ioctl(kvm, KVM_CREATE_VM, 0), "KVM_CREATE_VM");
	uint8_t *mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED)
		return 1;
	struct kvm_userspace_memory_region slot = {
		.memory_size = MEM_SIZE, .userspace_addr = (uint64_t)(uintptr_t)mem,
	};
	must(ioctl(vm, KVM_SET_USER_MEMORY_REGION, &slot), "KVM_SET_USER_MEMORY_REGION");
	must(ioctl(vm, KVM_CREATE_IRQCHIP, 0), "KVM_CREATE_IRQCHIP");
	struct kvm_cpuid2 *cpuid = supported_cpuid(kvm);
	/* mov dx, 0x3f8; mov al, 'x'; out dx, al; hlt */
	static const uint8_t code[] = { 0xba, 0xf8, 0x03, 0xb0, 'x', 0xee, 0xf4 };
	memcpy(mem + CODE_GPA, code, sizeof(code));

	int cpu = must(ioctl(vm, KVM_CREATE_VCPU, 0), "KVM_CREATE_VCPU");
	int size = must(ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0), "KVM_GET_VCPU_MMAP_SIZE");
	struct kvm_run *run = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, cpu, 0);
	if (run == MAP_FAILED)
		return 1;
	must(ioctl(cpu, KVM_SET_CPUID2, cpuid), "KVM_SET_CPUID2");
	struct kvm_sregs sregs;
	must(ioctl(cpu, KVM_GET_SREGS, &sregs), "KVM_GET_SREGS");
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	must(ioctl(cpu, KVM_SET_SREGS, &sregs), "KVM_SET_SREGS");
	struct kvm_regs regs = { .rip = CODE_GPA, .rflags = 2 };
	must(ioctl(cpu, KVM_SET_REGS, &regs), "KVM_SET_REGS");

	struct timespec t_run = now();
	int out = 0;
	for (;;) {
		must(ioctl(cpu, KVM_RUN, 0), "KVM_RUN");
		if (run->exit_reason == KVM_EXIT_IO && run->io.port == 0x3f8)
			out++;
		else
			break; /* the halt: an in-kernel LAPIC keeps HLT inside KVM, so whatever comes next */
		if (out == 1)
			break;
	}
	printf("PROBE hello\n");
	fprintf(stderr, "kvmrun: trace: main %lld.%09ld first_run %lld.%09ld\n",
		(long long)t_main.tv_sec, t_main.tv_nsec, (long long)t_run.tv_sec, t_run.tv_nsec);
	return out == 1 ? 0 : 1;
}
