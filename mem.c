// SPDX-License-Identifier: Apache-2.0
/* Guest physical memory: one anonymous mapping, two KVM slots, one gate. */
#include "mem.h"

#include <errno.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

int mem_init(struct guest_mem *m, uint64_t size)
{
	/*
	 * MAP_NORESERVE: the guest touches only what it uses, and peak RSS is
	 * part of what we promise. Pages are zero until written.
	 */
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	m->host = p;
	m->size = size;
	m->low_size = size < MEM_HOLE_START ? size : MEM_HOLE_START;
	return 0;
}

static int set_slot(int vmfd, uint32_t slot, uint64_t gpa, uint64_t len, void *host,
		    uint32_t flags)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot,
		.flags = flags,
		.guest_phys_addr = gpa,
		.memory_size = len,
		.userspace_addr = (uint64_t)(uintptr_t)host,
	};
	return ioctl(vmfd, KVM_SET_USER_MEMORY_REGION, &r) < 0 ? -errno : 0;
}

int mem_register(const struct guest_mem *m, int vmfd)
{
	int rc = set_slot(vmfd, 0, 0, m->low_size, m->host, 0);
	if (rc == 0 && mem_high_size(m) > 0)
		rc = set_slot(vmfd, 1, MEM_HIGH_START, mem_high_size(m),
			      m->host + m->low_size, 0);
	return rc;
}

int mem_register_readonly(int vmfd, uint64_t gpa, uint64_t len, void *host)
{
	return set_slot(vmfd, 2, gpa, len, host, KVM_MEM_READONLY);
}

void *mem_gpa(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	uint64_t end = gpa + len;

	if (end < gpa)
		return NULL; /* wrapped: hostile or corrupt length */
	if (end <= m->low_size)
		return m->host + gpa;
	if (gpa >= MEM_HIGH_START && end - MEM_HIGH_START <= mem_high_size(m))
		return m->host + m->low_size + (gpa - MEM_HIGH_START);
	return NULL;
}
