// SPDX-License-Identifier: Apache-2.0
/* Guest physical memory: one anonymous mapping, two KVM slots, one gate. */
#include "mem.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "layout.h"

/*
 * Huge pages only fill 2 MiB-aligned ranges of the mapping: map 2 MiB more
 * and trim to an aligned start (host and guest addresses then agree
 * modulo 2 MiB, so KVM can map each huge page with one large nested page).
 */
static uint8_t *map_aligned(uint64_t size)
{
	uint8_t *raw = mmap(NULL, size + MEM_HUGE_PAGE, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (raw == MAP_FAILED)
		return NULL;
	uint8_t *p =
		(uint8_t *)(((uintptr_t)raw + MEM_HUGE_PAGE - 1) & ~(uintptr_t)(MEM_HUGE_PAGE - 1));
	uint8_t *end = raw + size + MEM_HUGE_PAGE;
	if (p > raw)
		munmap(raw, (size_t)(p - raw));
	if (p + size < end)
		munmap(p + size, (size_t)(end - (p + size)));
	return p;
}

int mem_init(struct guest_mem *m, uint64_t size, enum mem_pages pages)
{
	/*
	 * MAP_NORESERVE: the guest touches only what it uses, and resident
	 * memory is part of what we promise. Pages are zero until written.
	 */
	bool huge = pages == MEM_PAGES_HUGE;
	uint8_t *p = huge ? map_aligned(size)
			  : mmap(NULL, size, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (!p || p == MAP_FAILED)
		return -errno;
	/* Only a host kernel without THP refuses either; for small pages that is no loss. */
	if (madvise(p, size, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) < 0 && huge) {
		int e = errno;
		munmap(p, size);
		return -e;
	}
	m->host = p;
	m->huge = huge;
	m->size = size;
	m->low_size = size < MEM_HOLE_START ? size : MEM_HOLE_START;
	return 0;
}

int mem_init_file(struct guest_mem *m, int fd, uint64_t size)
{
	uint8_t *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	m->host = p;
	m->huge = false;
	m->from_file = true;
	m->size = size;
	m->low_size = size < MEM_HOLE_START ? size : MEM_HOLE_START;
	return 0;
}

int mem_overlay_file(struct guest_mem *m, int fd, uint64_t off, uint64_t len)
{
	if (off > m->size || len > m->size - off)
		return -EINVAL;
	void *p = mmap(m->host + off, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, fd, (off_t)off);
	if (p != MAP_FAILED)
		return 0;
	if (errno != ENOMEM)
		return -errno;
	/* vm.max_map_count reached: copy instead (private pages, not shared). */
	for (uint64_t done = 0; done < len;) {
		ssize_t r = pread(fd, m->host + off + done, len - done, (off_t)(off + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		done += (uint64_t)r;
	}
	return 0;
}

static int set_slot(int vmfd, uint32_t slot, uint64_t gpa, uint64_t len, void *host, uint32_t flags)
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
		rc = set_slot(vmfd, 1, MEM_HIGH_START, mem_high_size(m), m->host + m->low_size, 0);
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

void *mem_fixed(const struct guest_mem *m, uint64_t gpa, uint64_t len, const char *who)
{
	void *p = mem_gpa(m, gpa, len);
	if (!p) {
		fprintf(stderr, "kvmrun: layout bug: %s: 0x%llx+0x%llx is not guest RAM\n", who,
			(unsigned long long)gpa, (unsigned long long)len);
		abort();
	}
	return p;
}
