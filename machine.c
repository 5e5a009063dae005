// SPDX-License-Identifier: Apache-2.0
/*
 * The KVM machine: /dev/kvm and the VM, guest RAM and its memory slots, the
 * in-kernel interrupt controllers and PIT. vmm.c calls these in start-up
 * order; each ends the process with a line naming the cause, but for
 * machine_make, which reports.
 */
#include "machine.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "boot.h"
#include "layout.h"
#include "util.h"
#include "virtio.h"
#include "vmstate.h"

static int kvm_do(int fd, unsigned long req, unsigned long arg, const char *what, char *err,
		  size_t errlen)
{
	int rc;
	do
		rc = ioctl(fd, req, arg);
	while (rc < 0 && errno == EINTR);
	return rc < 0 ? errf(err, errlen, "KVM: %s: %s", what, strerror(errno)) : rc;
}

static int kvm_ioctl_checked(struct vm *vm, int fd, unsigned long req, unsigned long arg,
			     const char *what)
{
	char err[128];
	int rc = kvm_do(fd, req, arg, what, err, sizeof(err));
	if (rc < 0)
		vm_die(vm, EXIT_RUNTIME, "%s", err);
	return rc;
}

static struct kvm_cpuid2 *supported_cpuid(int kvmfd, char *err, size_t errlen)
{
	for (uint32_t n = 64;; n *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
		if (!c) {
			errf(err, errlen, "out of memory");
			return NULL;
		}
		c->nent = n;
		if (ioctl(kvmfd, KVM_GET_SUPPORTED_CPUID, c) == 0)
			return c;
		free(c);
		if (errno != E2BIG || n > 4096) {
			errf(err, errlen, "KVM: KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
			return NULL;
		}
	}
}

/*
 * The VM and what KVM offers it, none of which depends on the guest's
 * options. 0, or -1 with err and nothing kept.
 */
int machine_make(struct vm *vm, char *err, size_t errlen)
{
	int kvmfd = open("/dev/kvm", O_RDWR | O_CLOEXEC), vmfd = -1, size, n = 0;
	uint64_t idmap = IDENTITY_MAP_ADDR;
	struct kvm_cpuid2 *cpuid = NULL;
	if (kvmfd < 0)
		return errf(err, errlen, "/dev/kvm: %s%s", strerror(errno),
			    errno == ENOENT ? " (is the kvm module loaded?)" : "");
	if (ioctl(kvmfd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
		errf(err, errlen, "/dev/kvm: unsupported KVM API version");
		goto fail;
	}
	if (ioctl(kvmfd, KVM_CHECK_EXTENSION, KVM_CAP_IMMEDIATE_EXIT) <= 0) {
		errf(err, errlen, "KVM: KVM_CAP_IMMEDIATE_EXIT is missing (Linux 4.11+ needed)");
		goto fail;
	}
	if ((vmfd = kvm_do(kvmfd, KVM_CREATE_VM, 0, "KVM_CREATE_VM", err, errlen)) < 0 ||
	    kvm_do(vmfd, KVM_SET_TSS_ADDR, TSS_ADDR, "KVM_SET_TSS_ADDR", err, errlen) < 0 ||
	    kvm_do(vmfd, KVM_SET_IDENTITY_MAP_ADDR, (unsigned long)&idmap,
		   "KVM_SET_IDENTITY_MAP_ADDR", err, errlen) < 0 ||
	    (size = kvm_do(kvmfd, KVM_GET_VCPU_MMAP_SIZE, 0, "KVM_GET_VCPU_MMAP_SIZE", err,
			   errlen)) < 0)
		goto fail;
	vm_stage(vm, "vm");
	if (!(cpuid = supported_cpuid(kvmfd, err, errlen)))
		goto fail;
	if (vm->opt.snapshot_dir || vm->api || vm->opt.restart_on_reboot) {
		n = vmstate_msr_list(kvmfd, vm->msrs, VMSTATE_MAX_MSRS, err, errlen);
		if (n < 0)
			goto fail;
	}
	vm->kvmfd = kvmfd;
	vm->vmfd = vmfd;
	vm->env.run_size = size;
	vm->cpuid = cpuid;
	vm->nmsrs = (uint32_t)n;
	vm->kvm_made = true;
	return 0;
fail:
	free(cpuid);
	if (vmfd >= 0)
		close(vmfd);
	close(kvmfd);
	return -1;
}

/* The VM, unless api_configure made it while the client configured it. */
void machine_open(struct vm *vm)
{
	char err[256];
	if (!vm->kvm_made && machine_make(vm, err, sizeof(err)) < 0)
		vm_die(vm, EXIT_RUNTIME, "%s", err);
	int max = ioctl(vm->kvmfd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (max > 0 && vm->opt.cpus > max)
		vm_die(vm, EXIT_USAGE, "--cpus %d: this host's KVM allows at most %d", vm->opt.cpus,
		       max);
}

/*
 * The in-kernel interrupt controllers and PIT. Called after register_memory on
 * purpose: creating them leaves an SRCU grace period pending in KVM, and a
 * memory slot registered after that waits it out (milliseconds, against a
 * tenth of one before it).
 */
void machine_irqchip(struct vm *vm)
{
	kvm_ioctl_checked(vm, vm->vmfd, KVM_CREATE_IRQCHIP, 0, "KVM_CREATE_IRQCHIP");
	/*
	 * The PIT is what Linux checks its timer interrupt with at boot, so it is
	 * on by default; tearing it down costs the exit path milliseconds, so
	 * guests that do not need it can go without (--no-pit).
	 */
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	if (!vm->opt.no_pit)
		kvm_ioctl_checked(vm, vm->vmfd, KVM_CREATE_PIT2, (unsigned long)&pit,
				  "KVM_CREATE_PIT2");
}

/*
 * The virtio register windows as read-only guest memory, one slot for all:
 * the guest reads registers (InterruptStatus in every interrupt handler)
 * without an exit. Done before the irqchip, like the RAM slots (see
 * machine_irqchip). A KVM without read-only slots gets exits for reads.
 */
static void map_windows(struct vm *vm)
{
	size_t len = (size_t)vm->ndevices * VIRTIO_MMIO_SIZE;
	if (len == 0 || ioctl(vm->kvmfd, KVM_CHECK_EXTENSION, KVM_CAP_READONLY_MEM) <= 0)
		return;
	/* Populated: KVM must map our pages, not the shared zero page. */
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (p == MAP_FAILED)
		vm_die(vm, EXIT_RUNTIME, "cannot map the device registers: %s", strerror(errno));
	int rc = mem_register_readonly(vm->vmfd, VIRTIO_BASE, len, p);
	if (rc < 0)
		vm_die(vm, EXIT_RUNTIME, "KVM: KVM_SET_USER_MEMORY_REGION (device registers): %s",
		       strerror(-rc));
	vm->windows = p;
}

/*
 * The host pages under guest RAM when the user did not choose. 2 MiB pages
 * save the guest a nested page fault per 4 KiB it touches (in the lab a
 * Linux boot to init took ~6,800 on 4 KiB pages, ~21 on 2 MiB pages, and
 * got there 37% sooner: bench/RESULTS.md), but make every 2 MiB it touches
 * resident. A kernel that itself takes 2 MiB
 * or more is a guest that touches tens of MiB on its way to init (Linux:
 * its image, page tables and memory map, the unpacked initramfs), so the
 * extra residency is small beside it and the time is won; a smaller one (a
 * unikernel, the probe guest: 0.1 MiB) touches less than one huge page, and
 * 2 MiB pages would multiply what it costs the host.
 */
static enum mem_pages choose_pages(const struct vm *vm)
{
	if (vm->opt.pages != PAGES_AUTO)
		return vm->opt.pages == PAGES_HUGE ? MEM_PAGES_HUGE : MEM_PAGES_SMALL;
	return boot_footprint(vm->opt.kernel) >= MEM_HUGE_PAGE ? MEM_PAGES_HUGE : MEM_PAGES_SMALL;
}

/* Guest RAM in our address space: the loader fills it before KVM is opened. */
void machine_ram(struct vm *vm)
{
	enum mem_pages pages = choose_pages(vm);
	int rc = mem_init(&vm->mem, vm->opt.memory, pages);
	if (rc == -EINVAL && pages == MEM_PAGES_HUGE && vm->opt.pages == PAGES_AUTO)
		rc = mem_init(&vm->mem, vm->opt.memory, MEM_PAGES_SMALL); /* no THP here */
	if (rc == -EINVAL && pages == MEM_PAGES_HUGE)
		vm_die(vm, EXIT_RUNTIME,
		       "--hugepages: the host kernel has no transparent huge pages");
	if (rc < 0)
		vm_die(vm, EXIT_RUNTIME, "--memory: cannot map %llu MiB: %s",
		       (unsigned long long)(vm->opt.memory >> 20), strerror(-rc));
}

void machine_memory(struct vm *vm)
{
	int rc = mem_register(&vm->mem, vm->vmfd);
	if (rc < 0)
		vm_die(vm, EXIT_RUNTIME, "KVM: KVM_SET_USER_MEMORY_REGION: %s", strerror(-rc));
	map_windows(vm);
	/* The last use of /dev/kvm itself: everything else goes through the VM's fd. */
	close(vm->kvmfd);
	vm->kvmfd = -1;
}
