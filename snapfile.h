/* SPDX-License-Identifier: Apache-2.0 */
/* A snapshot on disk: the state file's format (encode, and a checked decode) and the sparse memory file. */
#ifndef KVMRUN_SNAPFILE_H
#define KVMRUN_SNAPFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "i8042.h"
#include "layout.h"
#include "options.h"
#include "serial.h"
#include "snappath.h"
#include "virtio.h"
#include "vmstate.h"

#define SNAP_MAGIC "KVMRSNAP"
#define SNAP_VERSION 2 /* 2: virtio devices */

/* Flags in the header. */
#define SNAP_PIT 1u  /* the VM had a PIT (not --no-pit) */
#define SNAP_ACPI 2u /* and ACPI tables (not --no-acpi): a restore notifies its VGEN device */
#define SNAP_DIFF 4u /* a diff: memory holds only the pages written since the base was restored */

/* A diff's base: the snapshot directory it was restored from, and its dirty bitmap's check. */
struct snap_base {
	char dir[4096]; /* absolute, NUL-terminated */
	uint64_t dirty_len;
	uint32_t dirty_crc;
	uint32_t base_crc; /* the base's state file CRC: a base written over since is refused */
};

/* The header: fixed size, host byte order (a snapshot restores on the CPU kind it was taken on). */
struct snap_header {
	char magic[8];
	uint32_t version;
	uint32_t crc; /* CRC-32 of the whole file, this field taken as 0 */
	uint64_t body_len;
	char kvmrun[32];     /* the version that wrote it */
	char cpu_vendor[16]; /* CPUID 0 of the host */
	uint32_t cpu_sig;    /* CPUID 1 EAX: family, model, stepping */
	uint32_t ncpus;
	uint64_t mem_size;
	uint32_t flags;
	uint16_t ndisks, nnets; /* virtio devices, disks first: one record each */
};

/* A whole snapshot's state, in memory. */
struct snapshot {
	struct snap_header hdr;
	struct vm_state vm;
	struct vcpu_state *cpus; /* hdr.ncpus of them */
	struct serial_state serial;
	struct i8042_state kbd;
	uint32_t timer_fired;
	struct virtio_state dev[MAX_VIRTIO_DEVICES]; /* hdr.ndisks + hdr.nnets of them */
	struct snap_base base;			     /* with SNAP_DIFF */
};

/* This host's CPU signature, into hdr. */
void snap_host_cpu(struct snap_header *hdr);

/* The state file's size for a VM of ncpus vCPUs and ndev virtio devices (diff: SNAP_DIFF or not). */
size_t snap_encoded_size(uint32_t ncpus, uint32_t ndev, bool diff);

/* Write the state file's bytes for `s` into buf (snap_encoded_size long), filling in its header's crc and body_len. */
void snap_encode(struct snapshot *s, uint8_t *buf);

/*
 * Check and read a state file: magic, version, CRC, every record's tag and
 * size, one record of each kind, one per vCPU and one per virtio device. `s->cpus` is allocated.
 * 0, or -1 with err saying what is wrong (the file is bad: a usage error).
 */
int snap_decode(const uint8_t *buf, size_t len, struct snapshot *s, char *err, size_t errlen);

/*
 * Write guest RAM [host, host+size) into fd as a sparse file: only pages
 * that are not all zero (and, with `only`, whose bit is set there) become
 * data. pagemap_fd >= 0 (/proc/self/pagemap): RAM is an anonymous mapping,
 * whose pages neither present nor swapped were never touched and are
 * skipped unread; -1: every page is read (a file-backed mapping, from a
 * restore, holds data in pages not resident). The bytes written, or -errno.
 */
int64_t snap_write_memory(int fd, const uint8_t *host, uint64_t size, int pagemap_fd,
			  const uint8_t *only);

/*
 * The pages of guest RAM [host, host+size) (a private mapping of a memory
 * file) written since it was mapped: they are anonymous copies now, where
 * the others are still the file's pages; /proc/self/pagemap (pagemap_fd)
 * tells them apart. Into bitmap (size/4096 bits, LSB first). The count of
 * such pages, or -errno.
 */
int64_t snap_dirty_pages(int pagemap_fd, const uint8_t *host, uint64_t size, uint8_t *bitmap);

/* CRC-32 (zlib's), and the same continued over more bytes. */
uint32_t snap_crc32(const uint8_t *p, size_t len);
uint32_t snap_crc32_more(uint32_t crc, const uint8_t *p, size_t len);

#endif
