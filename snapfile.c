// SPDX-License-Identifier: Apache-2.0
/*
 * The snapshot's files. The state file is a header and a body of records
 * (tag, index, length, bytes); decoding it trusts nothing: a damaged or
 * hostile file is refused with a line that says why.
 */
#include "snapfile.h"

#include <cpuid.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "layout.h"
#include "util.h"

enum { TAG_VM = 1, TAG_VCPU, TAG_SERIAL, TAG_I8042, TAG_TIMER, TAG_VIRTIO, TAG_BASE };

struct record {
	uint32_t tag, index;
	uint64_t len;
};

uint32_t snap_crc32(const uint8_t *p, size_t len)
{
	return snap_crc32_more(0, p, len);
}

/*
 * CRC-32 (zlib's and PNG's: reflected, polynomial 0xedb88320), a byte at a
 * time. crc_table[i] is i put through 8 rounds of c = c & 1 ? 0xedb88320 ^
 * (c >> 1) : c >> 1; a constant, so that no thread fills it at run time
 * (test/unit/test_snap.c computes it again and checks it).
 */
static const uint32_t crc_table[256] = {
	0x00000000, 0x77073096, 0xee0e612c, 0x990951ba, 0x076dc419, 0x706af48f, 0xe963a535,
	0x9e6495a3, 0x0edb8832, 0x79dcb8a4, 0xe0d5e91e, 0x97d2d988, 0x09b64c2b, 0x7eb17cbd,
	0xe7b82d07, 0x90bf1d91, 0x1db71064, 0x6ab020f2, 0xf3b97148, 0x84be41de, 0x1adad47d,
	0x6ddde4eb, 0xf4d4b551, 0x83d385c7, 0x136c9856, 0x646ba8c0, 0xfd62f97a, 0x8a65c9ec,
	0x14015c4f, 0x63066cd9, 0xfa0f3d63, 0x8d080df5, 0x3b6e20c8, 0x4c69105e, 0xd56041e4,
	0xa2677172, 0x3c03e4d1, 0x4b04d447, 0xd20d85fd, 0xa50ab56b, 0x35b5a8fa, 0x42b2986c,
	0xdbbbc9d6, 0xacbcf940, 0x32d86ce3, 0x45df5c75, 0xdcd60dcf, 0xabd13d59, 0x26d930ac,
	0x51de003a, 0xc8d75180, 0xbfd06116, 0x21b4f4b5, 0x56b3c423, 0xcfba9599, 0xb8bda50f,
	0x2802b89e, 0x5f058808, 0xc60cd9b2, 0xb10be924, 0x2f6f7c87, 0x58684c11, 0xc1611dab,
	0xb6662d3d, 0x76dc4190, 0x01db7106, 0x98d220bc, 0xefd5102a, 0x71b18589, 0x06b6b51f,
	0x9fbfe4a5, 0xe8b8d433, 0x7807c9a2, 0x0f00f934, 0x9609a88e, 0xe10e9818, 0x7f6a0dbb,
	0x086d3d2d, 0x91646c97, 0xe6635c01, 0x6b6b51f4, 0x1c6c6162, 0x856530d8, 0xf262004e,
	0x6c0695ed, 0x1b01a57b, 0x8208f4c1, 0xf50fc457, 0x65b0d9c6, 0x12b7e950, 0x8bbeb8ea,
	0xfcb9887c, 0x62dd1ddf, 0x15da2d49, 0x8cd37cf3, 0xfbd44c65, 0x4db26158, 0x3ab551ce,
	0xa3bc0074, 0xd4bb30e2, 0x4adfa541, 0x3dd895d7, 0xa4d1c46d, 0xd3d6f4fb, 0x4369e96a,
	0x346ed9fc, 0xad678846, 0xda60b8d0, 0x44042d73, 0x33031de5, 0xaa0a4c5f, 0xdd0d7cc9,
	0x5005713c, 0x270241aa, 0xbe0b1010, 0xc90c2086, 0x5768b525, 0x206f85b3, 0xb966d409,
	0xce61e49f, 0x5edef90e, 0x29d9c998, 0xb0d09822, 0xc7d7a8b4, 0x59b33d17, 0x2eb40d81,
	0xb7bd5c3b, 0xc0ba6cad, 0xedb88320, 0x9abfb3b6, 0x03b6e20c, 0x74b1d29a, 0xead54739,
	0x9dd277af, 0x04db2615, 0x73dc1683, 0xe3630b12, 0x94643b84, 0x0d6d6a3e, 0x7a6a5aa8,
	0xe40ecf0b, 0x9309ff9d, 0x0a00ae27, 0x7d079eb1, 0xf00f9344, 0x8708a3d2, 0x1e01f268,
	0x6906c2fe, 0xf762575d, 0x806567cb, 0x196c3671, 0x6e6b06e7, 0xfed41b76, 0x89d32be0,
	0x10da7a5a, 0x67dd4acc, 0xf9b9df6f, 0x8ebeeff9, 0x17b7be43, 0x60b08ed5, 0xd6d6a3e8,
	0xa1d1937e, 0x38d8c2c4, 0x4fdff252, 0xd1bb67f1, 0xa6bc5767, 0x3fb506dd, 0x48b2364b,
	0xd80d2bda, 0xaf0a1b4c, 0x36034af6, 0x41047a60, 0xdf60efc3, 0xa867df55, 0x316e8eef,
	0x4669be79, 0xcb61b38c, 0xbc66831a, 0x256fd2a0, 0x5268e236, 0xcc0c7795, 0xbb0b4703,
	0x220216b9, 0x5505262f, 0xc5ba3bbe, 0xb2bd0b28, 0x2bb45a92, 0x5cb36a04, 0xc2d7ffa7,
	0xb5d0cf31, 0x2cd99e8b, 0x5bdeae1d, 0x9b64c2b0, 0xec63f226, 0x756aa39c, 0x026d930a,
	0x9c0906a9, 0xeb0e363f, 0x72076785, 0x05005713, 0x95bf4a82, 0xe2b87a14, 0x7bb12bae,
	0x0cb61b38, 0x92d28e9b, 0xe5d5be0d, 0x7cdcefb7, 0x0bdbdf21, 0x86d3d2d4, 0xf1d4e242,
	0x68ddb3f8, 0x1fda836e, 0x81be16cd, 0xf6b9265b, 0x6fb077e1, 0x18b74777, 0x88085ae6,
	0xff0f6a70, 0x66063bca, 0x11010b5c, 0x8f659eff, 0xf862ae69, 0x616bffd3, 0x166ccf45,
	0xa00ae278, 0xd70dd2ee, 0x4e048354, 0x3903b3c2, 0xa7672661, 0xd06016f7, 0x4969474d,
	0x3e6e77db, 0xaed16a4a, 0xd9d65adc, 0x40df0b66, 0x37d83bf0, 0xa9bcae53, 0xdebb9ec5,
	0x47b2cf7f, 0x30b5ffe9, 0xbdbdf21c, 0xcabac28a, 0x53b39330, 0x24b4a3a6, 0xbad03605,
	0xcdd70693, 0x54de5729, 0x23d967bf, 0xb3667a2e, 0xc4614ab8, 0x5d681b02, 0x2a6f2b94,
	0xb40bbe37, 0xc30c8ea1, 0x5a05df1b, 0x2d02ef8d,
};

uint32_t snap_crc32_more(uint32_t crc, const uint8_t *p, size_t len)
{
	uint32_t c = crc ^ 0xffffffffu;
	for (size_t i = 0; i < len; i++)
		c = crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
	return c ^ 0xffffffffu;
}

void snap_host_cpu(struct snap_header *hdr)
{
	unsigned a, b, c, d;
	memset(hdr->cpu_vendor, 0, sizeof(hdr->cpu_vendor));
	__cpuid(0, a, b, c, d);
	memcpy(hdr->cpu_vendor, &b, 4);
	memcpy(hdr->cpu_vendor + 4, &d, 4);
	memcpy(hdr->cpu_vendor + 8, &c, 4);
	__cpuid(1, a, b, c, d);
	hdr->cpu_sig = a;
}

static uint8_t *put(uint8_t *p, uint32_t tag, uint32_t index, const void *data, uint64_t len)
{
	struct record r = { tag, index, len };
	memcpy(p, &r, sizeof(r));
	memcpy(p + sizeof(r), data, len);
	return p + sizeof(r) + len;
}

size_t snap_encoded_size(uint32_t ncpus, uint32_t ndev, bool diff)
{
	const struct snapshot *s = NULL;
	return (diff ? sizeof(struct record) + sizeof(s->base) : 0) + sizeof(s->hdr) +
	       4 * sizeof(struct record) + sizeof(s->vm) + sizeof(s->serial) + sizeof(s->kbd) +
	       sizeof(s->timer_fired) +
	       ncpus * (sizeof(struct record) + sizeof(struct vcpu_state)) +
	       ndev * (sizeof(struct record) + sizeof(struct virtio_state));
}

static uint32_t ndev(const struct snap_header *h)
{
	return (uint32_t)h->ndisks + h->nnets;
}

void snap_encode(struct snapshot *s, uint8_t *buf)
{
	bool diff = s->hdr.flags & SNAP_DIFF;
	size_t body = snap_encoded_size(s->hdr.ncpus, ndev(&s->hdr), diff) - sizeof(s->hdr);
	uint8_t *p = buf + sizeof(s->hdr);
	p = put(p, TAG_VM, 0, &s->vm, sizeof(s->vm));
	for (uint32_t i = 0; i < s->hdr.ncpus; i++)
		p = put(p, TAG_VCPU, i, &s->cpus[i], sizeof(s->cpus[i]));
	p = put(p, TAG_SERIAL, 0, &s->serial, sizeof(s->serial));
	p = put(p, TAG_I8042, 0, &s->kbd, sizeof(s->kbd));
	p = put(p, TAG_TIMER, 0, &s->timer_fired, sizeof(s->timer_fired));
	for (uint32_t i = 0; i < ndev(&s->hdr); i++)
		p = put(p, TAG_VIRTIO, i, &s->dev[i], sizeof(s->dev[i]));
	if (diff)
		p = put(p, TAG_BASE, 0, &s->base, sizeof(s->base));
	memcpy(s->hdr.magic, SNAP_MAGIC, sizeof(s->hdr.magic));
	s->hdr.version = SNAP_VERSION;
	s->hdr.body_len = body;
	s->hdr.crc = 0;
	memcpy(buf, &s->hdr, sizeof(s->hdr));
	s->hdr.crc = snap_crc32(buf, sizeof(s->hdr) + body);
	memcpy(buf, &s->hdr, sizeof(s->hdr));
}

/* Where a record of `tag` goes and how long it must be; NULL for an unknown tag. */
static void *slot(struct snapshot *s, const struct record *r, size_t *want)
{
	switch (r->tag) {
	case TAG_VM:
		*want = sizeof(s->vm);
		return r->index == 0 ? &s->vm : NULL;
	case TAG_VCPU:
		*want = sizeof(struct vcpu_state);
		return r->index < s->hdr.ncpus ? &s->cpus[r->index] : NULL;
	case TAG_SERIAL:
		*want = sizeof(s->serial);
		return r->index == 0 ? &s->serial : NULL;
	case TAG_I8042:
		*want = sizeof(s->kbd);
		return r->index == 0 ? &s->kbd : NULL;
	case TAG_TIMER:
		*want = sizeof(s->timer_fired);
		return r->index == 0 ? &s->timer_fired : NULL;
	case TAG_VIRTIO:
		*want = sizeof(struct virtio_state);
		return r->index < ndev(&s->hdr) ? &s->dev[r->index] : NULL;
	case TAG_BASE:
		*want = sizeof(s->base);
		return r->index == 0 && (s->hdr.flags & SNAP_DIFF) ? &s->base : NULL;
	default:
		return NULL;
	}
}

static int check_header(const struct snap_header *h, size_t len, char *err, size_t errlen)
{
	if (len < sizeof(*h) || memcmp(h->magic, SNAP_MAGIC, sizeof(h->magic)) != 0)
		return errf(err, errlen, "not a kvmrun snapshot state file");
	if (h->version != SNAP_VERSION)
		return errf(err, errlen, "snapshot format version %u (this kvmrun reads %u)",
			    h->version, SNAP_VERSION);
	if (h->body_len != len - sizeof(*h))
		return errf(err, errlen, "truncated or padded: %zu bytes of body, header says %llu",
			    len - sizeof(*h), (unsigned long long)h->body_len);
	if (h->ncpus < 1 || h->ncpus > MAX_CPUS)
		return errf(err, errlen, "%u vCPUs (1 to %d)", h->ncpus, MAX_CPUS);
	if (h->mem_size < (4u << 20) || h->mem_size % 4096 || h->mem_size > (1ull << 46))
		return errf(err, errlen, "guest RAM of %llu bytes",
			    (unsigned long long)h->mem_size);
	if (h->ndisks > MAX_DISKS || h->nnets > MAX_NETS || ndev(h) > MAX_VIRTIO_DEVICES)
		return errf(err, errlen, "%u disks and %u NICs (at most %d, %d, and %d in all)",
			    h->ndisks, h->nnets, MAX_DISKS, MAX_NETS, MAX_VIRTIO_DEVICES);
	if (h->flags & ~(SNAP_PIT | SNAP_ACPI | SNAP_DIFF))
		return errf(err, errlen, "unknown flags 0x%x", h->flags);
	return 0;
}

int snap_decode(const uint8_t *buf, size_t len, struct snapshot *s, char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	if (len >= sizeof(s->hdr))
		memcpy(&s->hdr, buf, sizeof(s->hdr));
	if (check_header(&s->hdr, len, err, errlen) < 0)
		return -1;
	const uint8_t *p = buf + sizeof(s->hdr), *end = buf + len;
	struct snap_header h = s->hdr;
	h.crc = 0;
	uint32_t crc =
		snap_crc32_more(snap_crc32((const uint8_t *)&h, sizeof(h)), p, (size_t)(end - p));
	if (crc != s->hdr.crc)
		return errf(err, errlen, "CRC mismatch: the file is damaged");
	/*
	 * seen[tag] for the one-per-machine records, seen[VCPU0 + i] for vCPU i,
	 * seen[dev0 + i] for device i.
	 */
	enum { VCPU0 = 8 };
	uint32_t dev0 = VCPU0 + s->hdr.ncpus, nseen = dev0 + ndev(&s->hdr);
	s->cpus = calloc(s->hdr.ncpus, sizeof(*s->cpus));
	uint8_t *seen = calloc(nseen, 1);
	if (!s->cpus || !seen)
		goto nomem;
	while (p < end) {
		struct record r;
		size_t want = 0;
		if ((size_t)(end - p) < sizeof(r))
			goto bad_record;
		memcpy(&r, p, sizeof(r));
		p += sizeof(r);
		void *to = slot(s, &r, &want);
		if (!to || r.len != want || (size_t)(end - p) < want)
			goto bad_record;
		uint32_t k = r.tag == TAG_VCPU	   ? VCPU0 + r.index
			     : r.tag == TAG_VIRTIO ? dev0 + r.index
						   : r.tag;
		if (seen[k]++)
			goto bad_record; /* twice */
		memcpy(to, p, want);
		p += want;
	}
	static const char *const names[] = { [TAG_VM] = "VM",
					     [TAG_SERIAL] = "serial",
					     [TAG_I8042] = "i8042",
					     [TAG_TIMER] = "boot timer",
					     [TAG_BASE] = "diff base" };
	for (uint32_t i = 1; i < nseen; i++) {
		if (seen[i] || i == TAG_VCPU || (i > TAG_TIMER && i < VCPU0 && i != TAG_BASE))
			continue;
		if (i == TAG_BASE && !(s->hdr.flags & SNAP_DIFF))
			continue;
		if (i < VCPU0)
			errf(err, errlen, "no %s record", names[i]);
		else if (i < dev0)
			errf(err, errlen, "no record for vCPU %u", i - VCPU0);
		else
			errf(err, errlen, "no record for virtio device %u", i - dev0);
		free(seen);
		free(s->cpus);
		s->cpus = NULL;
		return -1;
	}
	free(seen);
	const char *why = NULL;
	if ((s->hdr.flags & SNAP_DIFF) &&
	    (s->base.dir[0] != '/' || !memchr(s->base.dir, 0, sizeof(s->base.dir))))
		why = "a diff whose base is not an absolute path";
	/* What KVM would refuse later, refused here as the bad input it is (status 2). */
	if (!s->vm.has_pit != !(s->hdr.flags & SNAP_PIT))
		why = "the VM record and the header disagree on the PIT";
	for (uint32_t i = 0; i < s->hdr.ncpus; i++)
		if (s->cpus[i].ncpuid > VMSTATE_MAX_CPUID || s->cpus[i].nmsrs > VMSTATE_MAX_MSRS)
			why = "a vCPU record with too many CPUID entries or MSRs";
	if (why) {
		free(s->cpus);
		s->cpus = NULL;
		return errf(err, errlen, "%s", why);
	}
	return 0;
bad_record:
	free(seen);
	free(s->cpus);
	s->cpus = NULL;
	return errf(err, errlen, "a bad record at byte %zu", (size_t)(p - buf));
nomem:
	free(seen);
	free(s->cpus);
	s->cpus = NULL;
	return errf(err, errlen, "out of memory");
}

static bool zero_page(const uint8_t *p)
{
	static const uint8_t zero[4096];
	return memcmp(p, zero, sizeof(zero)) == 0;
}

static bool bit(const uint8_t *map, uint64_t page)
{
	return map[page / 8] >> (page % 8) & 1;
}

/* /proc/self/pagemap's bits for a page: present, swapped out, a file page (or shared anonymous). */
#define PM_PRESENT (1ULL << 63)
#define PM_SWAPPED (1ULL << 62)
#define PM_FILE (1ULL << 61)
#define PM_CHUNK 1024 /* entries read at once (8 KiB) */

/* The pagemap entries of the `pages` (<= PM_CHUNK) pages at host, into e. 0 or -errno. */
static int pagemap_read(int pagemap_fd, const uint8_t *host, uint64_t pages, uint64_t *e)
{
	uint64_t first = (uint64_t)(uintptr_t)host / 4096;
	ssize_t r = pread(pagemap_fd, e, pages * 8, (off_t)(first * 8));
	return r == (ssize_t)(pages * 8) ? 0 : r < 0 ? -errno : -EIO;
}

int64_t snap_dirty_pages(int pagemap_fd, const uint8_t *host, uint64_t size, uint8_t *bitmap)
{
	uint64_t e[PM_CHUNK], pages = size / 4096;
	int64_t n = 0;
	memset(bitmap, 0, (pages + 7) / 8);
	for (uint64_t p = 0; p < pages; p += PM_CHUNK) {
		uint64_t want = pages - p < PM_CHUNK ? pages - p : PM_CHUNK;
		int rc = pagemap_read(pagemap_fd, host + p * 4096, want, e);
		if (rc < 0)
			return rc;
		for (uint64_t i = 0; i < want; i++) {
			/* Written since the mapping: a private (anonymous) copy, or out on swap. */
			if (((e[i] & PM_PRESENT) && !(e[i] & PM_FILE)) || (e[i] & PM_SWAPPED)) {
				bitmap[(p + i) / 8] |= (uint8_t)(1u << ((p + i) % 8));
				n++;
			}
		}
	}
	return n;
}

/*
 * Which of the `pages` (<= PM_CHUNK) pages at host may hold data (res[i] =
 * 1): from /proc/self/pagemap, those present or swapped out. Anonymous pages
 * never touched are neither, and are skipped unread. (mincore() cannot stand
 * in for this: it calls a page that is out on swap not resident, and its
 * data would be lost.) Without pagemap every page is read.
 */
static void maybe_data(int pagemap_fd, const uint8_t *host, uint64_t pages, unsigned char *res)
{
	uint64_t e[PM_CHUNK];
	if (pagemap_fd < 0 || pagemap_read(pagemap_fd, host, pages, e) < 0) {
		memset(res, 1, pages);
		return;
	}
	for (uint64_t i = 0; i < pages; i++)
		res[i] = (e[i] & (PM_PRESENT | PM_SWAPPED)) != 0;
}

int64_t snap_write_memory(int fd, const uint8_t *host, uint64_t size, int pagemap_fd,
			  const uint8_t *only)
{
	/* Truncating to 0 first turns every page the new contents lack into a hole. */
	if (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)size) < 0)
		return -errno;
	unsigned char res[PM_CHUNK];
	int64_t written = 0;
	for (uint64_t off = 0; off < size; off += PM_CHUNK * 4096ull) {
		uint64_t pages = (size - off) / 4096 < PM_CHUNK ? (size - off) / 4096 : PM_CHUNK;
		maybe_data(pagemap_fd, host + off, pages, res);
		for (uint64_t i = 0; i < pages;) {
			uint64_t j = i;
			while (j < pages && (res[j] & 1) && (!only || bit(only, off / 4096 + j)) &&
			       !zero_page(host + off + j * 4096))
				j++;
			if (j == i) {
				i++;
				continue;
			}
			uint64_t at = off + i * 4096, n = (j - i) * 4096;
			for (uint64_t done = 0; done < n;) {
				ssize_t w =
					pwrite(fd, host + at + done, n - done, (off_t)(at + done));
				if (w < 0 && errno == EINTR)
					continue;
				if (w <= 0)
					return w < 0 ? -errno : -EIO;
				done += (uint64_t)w;
			}
			written += (int64_t)n;
			i = j;
		}
	}
	return written;
}
