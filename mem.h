/* SPDX-License-Identifier: Apache-2.0 */
/* Guest physical memory: one host mapping, and the one checked gate into it. */
#ifndef KVMRUN_MEM_H
#define KVMRUN_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "layout.h"

/*
 * Guest RAM (layout.h has the whole map):
 *   [0, low_size)                       RAM (low_size <= MEM_HOLE_START)
 *   [MEM_HOLE_START, MEM_HIGH_START)    hole: virtio-mmio windows, IOAPIC, LAPIC
 *   [MEM_HIGH_START, +size-low_size)    RAM above 4 GiB, when size > MEM_HOLE_START
 * All RAM lives in one host mapping: host[0, low_size) is the low part and
 * host[low_size, size) the high part.
 */

struct guest_mem {
	uint8_t *host;	   /* start of the mapping holding all guest RAM */
	uint64_t size;	   /* total RAM in bytes */
	uint64_t low_size; /* RAM below MEM_HOLE_START */
	bool huge;	   /* on 2 MiB pages (MEM_PAGES_HUGE) */
	bool from_file;	   /* mapped from a snapshot's memory file */
};

#define MEM_HUGE_PAGE (2ULL << 20)

/* The host pages under guest RAM. */
enum mem_pages {
	/*
	 * 4 KiB: what the guest touches is resident, no more. Advised
	 * MADV_NOHUGEPAGE, as hosts with transparent huge pages "always"
	 * (Debian's default) would otherwise fill 2 MiB per touch anyway.
	 */
	MEM_PAGES_SMALL,
	/*
	 * 2 MiB transparent huge pages: the mapping is 2 MiB-aligned (so KVM
	 * can map each one with one nested page) and advised MADV_HUGEPAGE.
	 */
	MEM_PAGES_HUGE,
};

/*
 * Map `size` bytes of anonymous guest RAM (lazily populated) on `pages`.
 * 0 or -errno (-EINVAL for MEM_PAGES_HUGE: the host kernel has no
 * transparent huge pages).
 */
int mem_init(struct guest_mem *m, uint64_t size, enum mem_pages pages);

/*
 * Guest RAM from a snapshot's memory file, mapped MAP_PRIVATE: pages come
 * in from the page cache as the guest touches them, its writes go to
 * private copies, and clones of one snapshot share the file's pages. 0 or -errno.
 */
int mem_init_file(struct guest_mem *m, int fd, uint64_t size);

/*
 * A diff snapshot's pages over RAM mapped by mem_init_file: [off, off+len)
 * of m becomes the same range of fd, MAP_PRIVATE too (clones share these
 * pages as well). Falls back to reading them when the process is out of
 * mappings. 0 or -errno.
 */
int mem_overlay_file(struct guest_mem *m, int fd, uint64_t off, uint64_t len);

/* Register the RAM with KVM as memory slots on vmfd (slots 0 and 1). 0 or -errno. */
int mem_register(const struct guest_mem *m, int vmfd);

/*
 * Show host[0, len) (page-aligned) to the guest at gpa as memory it may read
 * but not write (KVM_MEM_READONLY, slot 2): its writes exit as MMIO. Used
 * for the virtio-mmio register windows. 0 or -errno.
 */
int mem_register_readonly(int vmfd, uint64_t gpa, uint64_t len, void *host);

/*
 * The gate: the host address of guest-physical [gpa, gpa+len), or NULL when
 * any byte of it is not RAM or the sum overflows. A range may not straddle
 * the hole. len 0 is valid for any gpa inside or at the end of a RAM region.
 * Everything the guest controls reaches guest memory only through here.
 */
void *mem_gpa(const struct guest_mem *m, uint64_t gpa, uint64_t len);

/*
 * mem_gpa for kvmrun's own fixed addresses (layout.h), not the guest's: a
 * range outside RAM there is a bug in the layout, never an input error, so
 * it ends the process naming the caller instead of returning NULL. Callers
 * rely on a check made earlier (boot_load refuses less than 2 MiB of RAM).
 */
#define MEM_FIXED(m, gpa, len) mem_fixed((m), (gpa), (len), __func__)
void *mem_fixed(const struct guest_mem *m, uint64_t gpa, uint64_t len, const char *who);

/* Guest RAM bytes at and above MEM_HIGH_START. */
static inline uint64_t mem_high_size(const struct guest_mem *m)
{
	return m->size - m->low_size;
}

#endif
