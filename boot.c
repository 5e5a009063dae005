// SPDX-License-Identifier: Apache-2.0
/* Kernel loading: detect bzImage / PVH ELF / plain ELF and lay out what each expects. */
#include "boot.h"

#include <asm/bootparam.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layout.h"
#include "util.h"

/* Where the bzImage setup header and its fields sit in the image (asm/bootparam.h). */
#define HDR_OFF offsetof(struct boot_params, hdr)
#define BOOT_FLAG_OFF offsetof(struct boot_params, hdr.boot_flag)
#define HEADER_MAGIC_OFF offsetof(struct boot_params, hdr.header)

#define PVH_MAGIC 0x336ec578u
#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define PAGE 4096ULL
#define MIB (1024ULL * 1024)

/* The PVH boot ABI's structures (version 1). */
struct hvm_start_info {
	uint32_t magic, version, flags, nr_modules;
	uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
	uint32_t memmap_entries, reserved;
};
struct hvm_modlist_entry {
	uint64_t paddr, size, cmdline_paddr, reserved;
};
struct hvm_memmap_entry {
	uint64_t addr, size;
	uint32_t type, reserved;
};

/* State of one load: the open kernel file and where to report a failure. */
struct loader {
	const struct guest_mem *m;
	const struct boot_spec *s;
	int fd;
	uint64_t size;
	char *err;
	size_t errlen;
	bool usage;	     /* the failure is the user's input, not the host */
	uint64_t kernel_end; /* first byte above the loaded kernel image */
};

/* The load's failure: errf's message, and whether the user's input is at fault. */
__attribute__((format(printf, 3, 4))) static int fail(struct loader *l, bool usage, const char *fmt,
						      ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(l->err, l->errlen, fmt, ap);
	va_end(ap);
	l->usage = usage;
	return -1;
}

const char *boot_format_name(enum boot_format f)
{
	return f == BOOT_BZIMAGE ? "bzImage" : f == BOOT_PVH ? "PVH ELF" : "ELF";
}

int boot_e820(const struct guest_mem *m, struct e820_entry out[E820_MAX])
{
	int n = 0;
	out[n++] = (struct e820_entry){ 0, BOOT_EBDA, E820_RAM };
	out[n++] = (struct e820_entry){ BOOT_EBDA, 0xa0000 - BOOT_EBDA, E820_RESERVED };
	out[n++] = (struct e820_entry){ BOOT_RESERVED, BOOT_KERNEL - BOOT_RESERVED, E820_RESERVED };
	out[n++] = (struct e820_entry){ BOOT_KERNEL, m->low_size - BOOT_KERNEL, E820_RAM };
	if (mem_high_size(m))
		out[n++] = (struct e820_entry){ MEM_HIGH_START, mem_high_size(m), E820_RAM };
	return n;
}

/*
 * Read exactly len bytes at off of fd into dst. A short file is `short_why`
 * (the user's fault when `short_usage`); a read error names errno. Messages
 * start with `name` ("path" or "--initrd path").
 */
static int read_full(struct loader *l, int fd, const char *name, uint64_t off, uint8_t *dst,
		     uint64_t len, const char *short_why, bool short_usage)
{
	while (len > 0) {
		ssize_t r = pread(fd, dst, len, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return fail(l, false, "%s: %s", name, strerror(errno));
		if (r == 0)
			return fail(l, short_usage, "%s: %s", name, short_why);
		dst += r, off += (uint64_t)r, len -= (uint64_t)r;
	}
	return 0;
}

/* Read exactly len bytes at off of the kernel into guest memory at gpa (checked). */
static int load_bytes(struct loader *l, uint64_t off, uint64_t gpa, uint64_t len, const char *what)
{
	uint8_t *dst = mem_gpa(l->m, gpa, len);
	if (!dst)
		return fail(l, true, "%s: %s at 0x%llx+0x%llx does not fit in guest memory",
			    l->s->kernel, what, (unsigned long long)gpa, (unsigned long long)len);
	return read_full(l, l->fd, l->s->kernel, off, dst, len, "file is truncated", true);
}

/* ---- page tables, GDT: the state both 64-bit entries assume ---- */

static void put_gdt(const struct guest_mem *m)
{
	uint64_t *gdt = MEM_FIXED(m, BOOT_GDT, 5 * 8);
	gdt[0] = 0;
	gdt[1] = 0x00cf9b000000ffffULL; /* 0x08: 32-bit code, flat (PVH entry) */
	gdt[2] = 0x00af9b000000ffffULL; /* 0x10: 64-bit code */
	gdt[3] = 0x00cf93000000ffffULL; /* 0x18: data, flat */
	gdt[4] = 0x00008b0000000067ULL; /* 0x20: 32-bit TSS, busy (PVH wants a TR) */
}

/* Identity-map the low 4 GiB with 2 MiB pages: 6 pages written once by the host. */
static void put_page_tables(const struct guest_mem *m)
{
	uint64_t *pml4 = MEM_FIXED(m, BOOT_PML4, PAGE);
	uint64_t *pdpt = MEM_FIXED(m, BOOT_PDPT, PAGE);
	uint64_t *pd = MEM_FIXED(m, BOOT_PD, 4 * PAGE);

	pml4[0] = BOOT_PDPT | 0x3; /* present, writable */
	for (uint64_t i = 0; i < 4; i++)
		pdpt[i] = (BOOT_PD + i * PAGE) | 0x3;
	for (uint64_t i = 0; i < 4 * 512; i++)
		pd[i] = (i << 21) | 0x83; /* present, writable, 2 MiB page */
}

/* ---- command line and initrd, shared by all formats ---- */

static int put_cmdline(struct loader *l, uint64_t limit)
{
	size_t len = strlen(l->s->cmdline);
	if (len > limit)
		return fail(l, true,
			    "--cmdline: the command line is %zu bytes; %s accepts at most %llu",
			    len, l->s->kernel, (unsigned long long)limit);
	memcpy(MEM_FIXED(l->m, BOOT_CMDLINE, len + 1), l->s->cmdline, len + 1);
	return 0;
}

/*
 * Place the initrd as high in low RAM as `max_end` allows, page aligned and
 * above the kernel, the way bootloaders do, so the kernel's own
 * decompression and early allocations stay clear of it.
 */
static int put_initrd(struct loader *l, uint64_t max_end, uint64_t *gpa, uint64_t *size)
{
	*gpa = *size = 0;
	if (!l->s->initrd)
		return 0;
	int fd = open(l->s->initrd,
		      O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY); /* a FIFO: no hang */
	struct stat st;
	if (fd < 0)
		return fail(l, true, "--initrd %s: %s", l->s->initrd, strerror(errno));
	int rc = -1;
	if (fstat(fd, &st) < 0) {
		fail(l, false, "--initrd %s: %s", l->s->initrd, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		fail(l, true, "--initrd %s: not a regular file", l->s->initrd);
		goto out;
	}
	uint64_t end = l->m->low_size < max_end ? l->m->low_size : max_end;
	uint64_t len = (uint64_t)st.st_size;
	if (len > end || ((end - len) & ~(PAGE - 1)) < l->kernel_end) {
		fail(l, true,
		     "--initrd %s: %llu bytes do not fit in guest memory below 0x%llx "
		     "beside the kernel (raise --memory)",
		     l->s->initrd, (unsigned long long)len, (unsigned long long)end);
		goto out;
	}
	uint64_t at = (end - len) & ~(PAGE - 1);
	char name[32 + 4096];
	snprintf(name, sizeof(name), "--initrd %s", l->s->initrd);
	/* In RAM: at + len <= end <= low_size was checked above. */
	if (read_full(l, fd, name, 0, MEM_FIXED(l->m, at, len), len, "file shrank while reading",
		      false) < 0)
		goto out;
	*gpa = at, *size = len;
	rc = 0;
out:
	close(fd);
	return rc;
}

/* ---- Linux boot protocol: zero page for bzImage and plain ELF ---- */

static int put_zero_page(struct loader *l, struct boot_params *bp, uint64_t cmdline_limit,
			 uint64_t initrd_max)
{
	struct e820_entry map[E820_MAX];
	int n = boot_e820(l->m, map);
	uint64_t rd, rdsz;

	if (put_cmdline(l, cmdline_limit) < 0 || put_initrd(l, initrd_max, &rd, &rdsz) < 0)
		return -1;
	bp->hdr.type_of_loader = 0xff; /* "undefined" loader */
	bp->hdr.cmd_line_ptr = (uint32_t)BOOT_CMDLINE;
	bp->ext_cmd_line_ptr = 0;
	bp->hdr.ramdisk_image = (uint32_t)rd;
	bp->ext_ramdisk_image = (uint32_t)(rd >> 32);
	bp->hdr.ramdisk_size = (uint32_t)rdsz;
	bp->ext_ramdisk_size = (uint32_t)(rdsz >> 32);
	for (int i = 0; i < n; i++)
		bp->e820_table[i] =
			(struct boot_e820_entry){ map[i].addr, map[i].size, map[i].type };
	bp->e820_entries = (uint8_t)n;
	bp->acpi_rsdp_addr = l->s->rsdp;
	return 0;
}

/* The real-mode part of a bzImage: the boot sector and the setup sectors (0 means 4). */
static uint64_t bzimage_setup_len(const struct setup_header *h)
{
	return ((uint64_t)(h->setup_sects ? h->setup_sects : 4) + 1) * 512;
}

/* Bytes a bzImage needs from its load address: its own init_size, or at least its payload. */
static uint64_t bzimage_need(const struct setup_header *h, uint64_t file_size)
{
	uint64_t setup = bzimage_setup_len(h);
	uint64_t payload = file_size > setup ? file_size - setup : 0;
	return h->init_size > payload ? h->init_size : payload;
}

static int load_bzimage(struct loader *l, const uint8_t *hd, size_t hdlen, struct boot_entry *e)
{
	struct setup_header h;
	struct boot_params *bp = MEM_FIXED(l->m, BOOT_ZERO_PAGE, sizeof(*bp));

	memcpy(&h, hd + HDR_OFF, sizeof(h));
	if (h.version < 0x20c || !(h.xloadflags & XLF_KERNEL_64))
		return fail(l, true,
			    "%s: bzImage has no 64-bit entry point (boot protocol %u.%02u, "
			    "need 2.12 with XLF_KERNEL_64)",
			    l->s->kernel, h.version >> 8, h.version & 0xff);
	uint64_t setup = bzimage_setup_len(&h);
	/* syssize (protocol 2.04+) is the kernel's length in 16-byte units. */
	if (setup >= l->size || l->size - setup < (uint64_t)h.syssize * 16)
		return fail(l, true, "%s: bzImage is truncated (%llu bytes, header says %llu)",
			    l->s->kernel, (unsigned long long)l->size,
			    (unsigned long long)(setup + (uint64_t)h.syssize * 16));
	/*
	 * A relocatable kernel runs from anywhere and relocates its own
	 * decompression; a fixed one must sit at its preferred address.
	 */
	uint64_t at = h.relocatable_kernel ? BOOT_KERNEL : h.pref_address;
	uint64_t payload = l->size - setup;
	uint64_t need = bzimage_need(&h, l->size);
	if (at < BOOT_KERNEL || !mem_gpa(l->m, at, need))
		return fail(l, true, "%s: kernel needs 0x%llx bytes at 0x%llx: raise --memory",
			    l->s->kernel, (unsigned long long)need, (unsigned long long)at);
	if (load_bytes(l, setup, at, payload, "kernel") < 0)
		return -1;
	l->kernel_end = at + need;

	/*
	 * The zero page starts as a copy of the image's setup header, which ends
	 * where its first instruction (a short jump at hdr.jump) lands.
	 */
	size_t hdr_end = offsetof(struct boot_params, hdr.header) + (h.jump >> 8);
	if (hdr_end > hdlen || hdr_end > sizeof(*bp))
		return fail(l, true, "%s: bzImage setup header is malformed", l->s->kernel);
	memcpy((uint8_t *)bp + HDR_OFF, hd + HDR_OFF, hdr_end - HDR_OFF);
	uint64_t cmax = h.cmdline_size ? h.cmdline_size : 255;
	if (put_zero_page(l, bp, cmax < BOOT_CMDLINE_MAX - 1 ? cmax : BOOT_CMDLINE_MAX - 1,
			  (uint64_t)h.initrd_addr_max + 1) < 0)
		return -1;
	bp->hdr.code32_start = (uint32_t)at;
	e->format = BOOT_BZIMAGE;
	e->rip = at + 0x200; /* the 64-bit entry, fixed by the protocol */
	e->rsi = BOOT_ZERO_PAGE;
	return 0;
}

/* ---- ELF: PVH entry note, or plain 64-bit entry ---- */

/*
 * The program headers, widened to Elf64_Phdr when the file is ELF32 (a PVH
 * kernel may be linked as one: its entry is 32-bit code anyway).
 */
static int read_phdrs(struct loader *l, const Elf64_Ehdr *eh, bool elf32, Elf64_Phdr *ph, int max)
{
	size_t entsize = elf32 ? sizeof(Elf32_Phdr) : sizeof(Elf64_Phdr);
	if (eh->e_phentsize != entsize || eh->e_phnum == 0 || eh->e_phnum > max)
		return fail(l, true, "%s: ELF program headers are malformed", l->s->kernel);
	size_t len = (size_t)eh->e_phnum * entsize;
	/* ph has room for max Elf64_Phdr, more than max Elf32_Phdr need. */
	if (eh->e_phoff > l->size || len > l->size - eh->e_phoff ||
	    pread(l->fd, ph, len, (off_t)eh->e_phoff) != (ssize_t)len)
		return fail(l, true, "%s: ELF program headers lie past the end of the file",
			    l->s->kernel);
	if (elf32) {
		Elf32_Phdr p32[64];
		memcpy(p32, ph, len);
		for (int i = 0; i < eh->e_phnum; i++)
			ph[i] = (Elf64_Phdr){
				.p_type = p32[i].p_type,
				.p_flags = p32[i].p_flags,
				.p_offset = p32[i].p_offset,
				.p_vaddr = p32[i].p_vaddr,
				.p_paddr = p32[i].p_paddr,
				.p_filesz = p32[i].p_filesz,
				.p_memsz = p32[i].p_memsz,
				.p_align = p32[i].p_align,
			};
	}
	return eh->e_phnum;
}

/* The ELF header, widened to Elf64_Ehdr for ELF32 (only the fields the loader reads). */
static int read_ehdr(struct loader *l, const uint8_t *hd, size_t hdlen, Elf64_Ehdr *eh, bool *elf32)
{
	*elf32 = hdlen > EI_CLASS && hd[EI_CLASS] == ELFCLASS32;
	if (hdlen < (*elf32 ? sizeof(Elf32_Ehdr) : sizeof(Elf64_Ehdr)))
		return fail(l, true, "%s: ELF header is truncated", l->s->kernel);
	if (!*elf32) {
		memcpy(eh, hd, sizeof(*eh));
		return 0;
	}
	Elf32_Ehdr e32;
	memcpy(&e32, hd, sizeof(e32));
	*eh = (Elf64_Ehdr){ .e_type = e32.e_type,
			    .e_machine = e32.e_machine,
			    .e_entry = e32.e_entry,
			    .e_phoff = e32.e_phoff,
			    .e_phentsize = e32.e_phentsize,
			    .e_phnum = e32.e_phnum };
	memcpy(eh->e_ident, e32.e_ident, EI_NIDENT);
	return 0;
}

/* Find XEN_ELFNOTE_PHYS32_ENTRY in the PT_NOTE segments. 1 found, 0 not, -1 error. */
static int find_pvh_entry(struct loader *l, const Elf64_Phdr *ph, int n, uint64_t *entry)
{
	for (int i = 0; i < n; i++) {
		if (ph[i].p_type != PT_NOTE)
			continue;
		uint8_t buf[4096];
		uint64_t len = ph[i].p_filesz < sizeof(buf) ? ph[i].p_filesz : sizeof(buf);
		if (ph[i].p_offset > l->size || len > l->size - ph[i].p_offset ||
		    pread(l->fd, buf, len, (off_t)ph[i].p_offset) != (ssize_t)len)
			return fail(l, true, "%s: ELF note segment lies past the end of the file",
				    l->s->kernel);
		for (uint64_t off = 0; off + sizeof(Elf64_Nhdr) <= len;) {
			Elf64_Nhdr nh;
			memcpy(&nh, buf + off, sizeof(nh));
			uint64_t name = off + sizeof(nh);
			uint64_t desc = name + ((nh.n_namesz + 3ULL) & ~3ULL);
			uint64_t next = desc + ((nh.n_descsz + 3ULL) & ~3ULL);
			if (next > len)
				break;
			if (nh.n_type == XEN_ELFNOTE_PHYS32_ENTRY && nh.n_namesz == 4 &&
			    memcmp(buf + name, "Xen", 4) == 0 &&
			    (nh.n_descsz == 4 || nh.n_descsz == 8)) {
				uint64_t v = 0;
				memcpy(&v, buf + desc, nh.n_descsz);
				*entry = v;
				return 1;
			}
			off = next;
		}
	}
	return 0;
}

static int load_segments(struct loader *l, const Elf64_Phdr *ph, int n)
{
	int loaded = 0;
	for (int i = 0; i < n; i++) {
		if (ph[i].p_type != PT_LOAD || ph[i].p_memsz == 0)
			continue;
		if (ph[i].p_filesz > ph[i].p_memsz || ph[i].p_offset > l->size ||
		    ph[i].p_filesz > l->size - ph[i].p_offset)
			return fail(l, true, "%s: ELF segment %d lies past the end of the file",
				    l->s->kernel, i);
		if (ph[i].p_paddr < BOOT_KERNEL || !mem_gpa(l->m, ph[i].p_paddr, ph[i].p_memsz))
			return fail(l, true,
				    "%s: ELF segment %d (0x%llx+0x%llx) does not fit in guest RAM "
				    "above 1 MiB (raise --memory?)",
				    l->s->kernel, i, (unsigned long long)ph[i].p_paddr,
				    (unsigned long long)ph[i].p_memsz);
		/* Guest RAM starts zeroed, so the BSS part needs no writes. */
		if (load_bytes(l, ph[i].p_offset, ph[i].p_paddr, ph[i].p_filesz, "segment") < 0)
			return -1;
		uint64_t end = ph[i].p_paddr + ph[i].p_memsz;
		if (end > l->kernel_end)
			l->kernel_end = end;
		loaded++;
	}
	if (!loaded)
		return fail(l, true, "%s: ELF file has nothing to load", l->s->kernel);
	return 0;
}

static int put_start_info(struct loader *l)
{
	struct e820_entry map[E820_MAX];
	int n = boot_e820(l->m, map);
	struct hvm_start_info *si = MEM_FIXED(l->m, BOOT_START_INFO, 0x1000);
	struct hvm_modlist_entry *mod = (void *)(si + 1);
	struct hvm_memmap_entry *mm = (void *)(mod + 1);
	uint64_t rd, rdsz;

	if (put_cmdline(l, BOOT_CMDLINE_MAX - 1) < 0 ||
	    put_initrd(l, MEM_HOLE_START, &rd, &rdsz) < 0)
		return -1;
	si->magic = PVH_MAGIC;
	si->version = 1;
	si->cmdline_paddr = BOOT_CMDLINE;
	si->rsdp_paddr = l->s->rsdp;
	if (rdsz) {
		*mod = (struct hvm_modlist_entry){ .paddr = rd, .size = rdsz };
		si->nr_modules = 1;
		si->modlist_paddr = BOOT_START_INFO + sizeof(*si);
	}
	for (int i = 0; i < n; i++)
		mm[i] = (struct hvm_memmap_entry){ map[i].addr, map[i].size, map[i].type, 0 };
	si->memmap_paddr = BOOT_START_INFO + sizeof(*si) + sizeof(*mod);
	si->memmap_entries = (uint32_t)n;
	return 0;
}

/* A plain vmlinux's entry is virtual; the boot protocol needs its physical twin. */
static uint64_t entry_phys(const Elf64_Phdr *ph, int n, uint64_t v)
{
	for (int i = 0; i < n; i++)
		if (ph[i].p_type == PT_LOAD && v >= ph[i].p_vaddr &&
		    v - ph[i].p_vaddr < ph[i].p_memsz)
			return v - ph[i].p_vaddr + ph[i].p_paddr;
	return v;
}

/* From the lowest loaded byte to the highest, BSS included; 0 when nothing loads. */
static uint64_t elf_span(const Elf64_Phdr *ph, int n)
{
	uint64_t lo = UINT64_MAX, hi = 0;
	for (int i = 0; i < n; i++) {
		if (ph[i].p_type != PT_LOAD || ph[i].p_memsz == 0)
			continue;
		uint64_t end = ph[i].p_paddr + ph[i].p_memsz;
		if (end < ph[i].p_paddr)
			return 0; /* wraps: boot_load refuses it */
		lo = ph[i].p_paddr < lo ? ph[i].p_paddr : lo;
		hi = end > hi ? end : hi;
	}
	return hi > lo ? hi - lo : 0;
}

static int load_elf(struct loader *l, const uint8_t *hd, size_t hdlen, struct boot_entry *e)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph[64];
	bool elf32;

	memset(&eh, 0, sizeof(eh));
	if (read_ehdr(l, hd, hdlen, &eh, &elf32) < 0)
		return -1;
	bool x86 = elf32 ? eh.e_machine == EM_386 || eh.e_machine == EM_X86_64
			 : eh.e_machine == EM_X86_64 && eh.e_ident[EI_CLASS] == ELFCLASS64;
	if (eh.e_ident[EI_DATA] != ELFDATA2LSB || !x86)
		return fail(l, true,
			    "%s: not an x86 ELF (64-bit x86-64, or 32-bit with a PVH note)",
			    l->s->kernel);
	if (eh.e_type != ET_EXEC)
		return fail(l, true, "%s: ELF is not an executable (type %u)", l->s->kernel,
			    eh.e_type);
	int n = read_phdrs(l, &eh, elf32, ph, 64);
	uint64_t pvh = 0;
	if (n < 0)
		return -1;
	int has_pvh = find_pvh_entry(l, ph, n, &pvh);
	if (has_pvh < 0)
		return -1;
	/* ELF32 has no 64-bit entry: only its PVH entry can be used. */
	if (elf32 && !has_pvh)
		return fail(l, true,
			    "%s: a 32-bit ELF boots only through a PVH entry note "
			    "(XEN_ELFNOTE_PHYS32_ENTRY), and it has none",
			    l->s->kernel);
	if (load_segments(l, ph, n) < 0)
		return -1;
	if (has_pvh) {
		if (!mem_gpa(l->m, pvh, 1) || pvh >= MEM_HOLE_START)
			return fail(l, true, "%s: PVH entry 0x%llx is outside the loaded kernel",
				    l->s->kernel, (unsigned long long)pvh);
		if (put_start_info(l) < 0)
			return -1;
		e->format = BOOT_PVH;
		e->rip = pvh;
		e->rbx = BOOT_START_INFO;
		return 0;
	}
	uint64_t entry = entry_phys(ph, n, eh.e_entry);
	if (!mem_gpa(l->m, entry, 1))
		return fail(l, true, "%s: ELF entry point 0x%llx is outside guest memory",
			    l->s->kernel, (unsigned long long)eh.e_entry);
	/* Enough of a setup header for a vmlinux entered at startup_64. */
	struct boot_params *bp = MEM_FIXED(l->m, BOOT_ZERO_PAGE, sizeof(*bp));
	bp->hdr.boot_flag = 0xaa55;
	bp->hdr.header = 0x53726448; /* "HdrS" */
	bp->hdr.version = 0x020f;
	bp->hdr.kernel_alignment = 0x1000000;
	bp->hdr.cmdline_size = (uint32_t)(BOOT_CMDLINE_MAX - 1);
	if (put_zero_page(l, bp, BOOT_CMDLINE_MAX - 1, MEM_HOLE_START) < 0)
		return -1;
	e->format = BOOT_ELF;
	e->rip = entry;
	e->rsi = BOOT_ZERO_PAGE;
	return 0;
}

static int open_kernel(struct loader *l)
{
	struct stat st;
	l->fd = open(l->s->kernel,
		     O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY); /* a FIFO: no hang */
	if (l->fd < 0)
		return fail(l, true, "--kernel %s: %s", l->s->kernel, strerror(errno));
	if (fstat(l->fd, &st) < 0)
		return fail(l, false, "--kernel %s: %s", l->s->kernel, strerror(errno));
	if (S_ISDIR(st.st_mode))
		return fail(l, true, "--kernel %s: is a directory", l->s->kernel);
	if (!S_ISREG(st.st_mode))
		return fail(l, true, "--kernel %s: not a regular file", l->s->kernel);
	if (st.st_size == 0)
		return fail(l, true, "--kernel %s: file is empty", l->s->kernel);
	l->size = (uint64_t)st.st_size;
	return 0;
}

static bool is_elf(const uint8_t *hd, ssize_t hdlen)
{
	return hdlen >= 4 && memcmp(hd, ELFMAG, SELFMAG) == 0;
}

static bool is_bzimage(const uint8_t *hd, ssize_t hdlen)
{
	return hdlen >= 0x250 && hd[BOOT_FLAG_OFF] == 0x55 && hd[BOOT_FLAG_OFF + 1] == 0xaa &&
	       memcmp(hd + HEADER_MAGIC_OFF, "HdrS", 4) == 0;
}

uint64_t boot_footprint(const char *kernel)
{
	struct boot_spec s = { .kernel = kernel };
	char err[256];
	struct loader l = { .s = &s, .fd = -1, .err = err, .errlen = sizeof(err) };
	uint8_t hd[1024] = { 0 };
	uint64_t span = 0;

	if (open_kernel(&l) < 0)
		return 0;
	ssize_t hdlen = pread(l.fd, hd, sizeof(hd), 0);
	if (is_elf(hd, hdlen)) {
		Elf64_Ehdr eh;
		Elf64_Phdr ph[64];
		bool elf32;
		memset(&eh, 0, sizeof(eh));
		int n = read_ehdr(&l, hd, (size_t)hdlen, &eh, &elf32) < 0
				? -1
				: read_phdrs(&l, &eh, elf32, ph, 64);
		if (n > 0)
			span = elf_span(ph, n);
	} else if (is_bzimage(hd, hdlen)) {
		struct setup_header h;
		memcpy(&h, hd + HDR_OFF, sizeof(h));
		span = bzimage_need(&h, l.size);
	}
	close(l.fd);
	return span;
}

int boot_load(const struct guest_mem *m, const struct boot_spec *s, struct boot_entry *e, char *err,
	      size_t errlen)
{
	struct loader l = {
		.m = m, .s = s, .fd = -1, .err = err, .errlen = errlen, .kernel_end = BOOT_KERNEL
	};
	uint8_t hd[1024] = { 0 };
	int rc = -1;

	memset(e, 0, sizeof(*e));
	if (m->low_size < 2 * MIB) {
		fail(&l, true, "--memory: at least 2 MiB are needed below 3 GiB");
		goto out;
	}
	if (open_kernel(&l) < 0)
		goto out;
	ssize_t hdlen = pread(l.fd, hd, sizeof(hd), 0);
	if (hdlen < 0) {
		fail(&l, false, "--kernel %s: %s", s->kernel, strerror(errno));
		goto out;
	}
	if (is_elf(hd, hdlen))
		rc = load_elf(&l, hd, (size_t)hdlen, e);
	else if (is_bzimage(hd, hdlen))
		rc = load_bzimage(&l, hd, (size_t)hdlen, e);
	else
		fail(&l, true, "--kernel %s: not a bzImage or ELF kernel (unknown format)",
		     s->kernel);
	if (rc == 0) {
		put_gdt(m);
		put_page_tables(m);
		e->cr3 = BOOT_PML4;
	}
out:
	if (l.fd >= 0)
		close(l.fd);
	return rc < 0 && l.usage ? ERR_USAGE : rc;
}
