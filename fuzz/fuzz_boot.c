// SPDX-License-Identifier: Apache-2.0
/* Fuzz target: boot_footprint and boot_load on any kernel file (bzImage, ELF, garbage). */
#include <sys/mman.h>
#include <unistd.h>

#include "../boot.h"
#include "fuzz_common.h"

/*
 * The input is the kernel file, handed to boot_load by path (a memfd under
 * /proc/self/fd), with a 4 KiB initrd and a 200-byte command line. Guest RAM
 * is exactly 2 MiB of low memory (the least boot_load accepts), allocated
 * to size so that ASan catches any write past its end. On success the entry
 * point must be in RAM, the boot data where boot.h says, and the footprint
 * boot_footprint read from the headers beforehand no larger than RAM.
 */
#define RAM (2ULL << 20)

static uint8_t *ram;
static int kfd = -1, ifd = -1;
static char kpath[64], ipath[64], cmdline[201];

static void setup(void)
{
	static uint8_t initrd[4096];

	ram = malloc(RAM);
	kfd = memfd_create("fuzz-kernel", MFD_CLOEXEC);
	ifd = memfd_create("fuzz-initrd", MFD_CLOEXEC);
	if (!ram || kfd < 0 || ifd < 0)
		abort();
	snprintf(kpath, sizeof(kpath), "/proc/self/fd/%d", kfd);
	snprintf(ipath, sizeof(ipath), "/proc/self/fd/%d", ifd);
	memset(initrd, 0xd1, sizeof(initrd));
	if (pwrite(ifd, initrd, sizeof(initrd), 0) != sizeof(initrd))
		abort();
	memset(cmdline, 'k', sizeof(cmdline) - 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct boot_spec s = {
		.kernel = kpath, .initrd = ipath, .cmdline = cmdline, .rsdp = 0xe0000
	};
	struct boot_entry e;
	char err[512];

	if (!ram)
		setup();
	memset(ram, 0, RAM);
	struct guest_mem m = { .host = ram, .size = RAM, .low_size = RAM };

	if (ftruncate(kfd, 0) < 0 || (size && pwrite(kfd, data, size, 0) != (ssize_t)size))
		abort();
	uint64_t footprint = boot_footprint(kpath);
	if (boot_load(&m, &s, &e, err, sizeof(err)) < 0) {
		FZ_ASSERT(err[0] && memchr(err, 0, sizeof(err)), "failed without a message");
		return 0;
	}
	FZ_ASSERT(mem_gpa(&m, e.rip, 1), "entry %#llx is not RAM", (unsigned long long)e.rip);
	FZ_ASSERT(footprint <= RAM, "footprint %#llx of a kernel that fits",
		  (unsigned long long)footprint);
	FZ_ASSERT(e.cr3 == BOOT_PML4, "cr3 %#llx", (unsigned long long)e.cr3);
	if (e.format == BOOT_PVH)
		FZ_ASSERT(e.rbx == BOOT_START_INFO && e.rip < MEM_HOLE_START, "PVH entry state");
	else
		FZ_ASSERT(e.rsi == BOOT_ZERO_PAGE, "zero page at %#llx", (unsigned long long)e.rsi);
	FZ_ASSERT(memcmp(ram + BOOT_CMDLINE, cmdline, sizeof(cmdline)) == 0,
		  "the command line is not at BOOT_CMDLINE");
	return 0;
}
