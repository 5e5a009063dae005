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

uint32_t snap_crc32_more(uint32_t crc, const uint8_t *p, size_t len)
{
	static uint32_t table[256];
	if (!table[1])
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;
			for (int k = 0; k < 8; k++)
				c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
			table[i] = c;
		}
	uint32_t c = crc ^ 0xffffffffu;
	for (size_t i = 0; i < len; i++)
		c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
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
	if ((s->hdr.flags & SNAP_DIFF) &&
	    (s->base.dir[0] != '/' || !memchr(s->base.dir, 0, sizeof(s->base.dir)))) {
		free(s->cpus);
		s->cpus = NULL;
		return errf(err, errlen, "a diff whose base is not an absolute path");
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

int64_t snap_dirty_pages(int pagemap_fd, const uint8_t *host, uint64_t size, uint8_t *bitmap)
{
	enum { CHUNK = 1024 };
	uint64_t e[CHUNK], pages = size / 4096, first = (uint64_t)(uintptr_t)host / 4096;
	int64_t n = 0;
	memset(bitmap, 0, (pages + 7) / 8);
	for (uint64_t p = 0; p < pages; p += CHUNK) {
		uint64_t want = pages - p < CHUNK ? pages - p : CHUNK;
		ssize_t r = pread(pagemap_fd, e, want * 8, (off_t)((first + p) * 8));
		if (r != (ssize_t)(want * 8))
			return r < 0 ? -errno : -EIO;
		for (uint64_t i = 0; i < want; i++) {
			/* bit 63 present, 62 swapped, 61 a file page (or shared anonymous) */
			bool present = e[i] >> 63 & 1, swapped = e[i] >> 62 & 1,
			     file = e[i] >> 61 & 1;
			if ((present && !file) || swapped) {
				bitmap[(p + i) / 8] |= (uint8_t)(1u << ((p + i) % 8));
				n++;
			}
		}
	}
	return n;
}

int64_t snap_write_memory(int fd, const uint8_t *host, uint64_t size, bool anon,
			  const uint8_t *only)
{
	/* Truncating to 0 first turns every page the new contents lack into a hole. */
	if (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)size) < 0)
		return -errno;
	enum { CHUNK = 1024 };
	unsigned char res[CHUNK];
	int64_t written = 0;
	for (uint64_t off = 0; off < size; off += CHUNK * 4096ull) {
		uint64_t pages = (size - off) / 4096 < CHUNK ? (size - off) / 4096 : CHUNK;
		/* Never-touched pages are not resident: no need to read (and map) them. */
		if (!anon || mincore((void *)(host + off), pages * 4096, res) < 0)
			memset(res, 1, sizeof(res));
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
