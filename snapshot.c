// SPDX-License-Identifier: Apache-2.0
/*
 * Snapshot and restore. A snapshot parks every vCPU outside KVM_RUN, reads
 * KVM's and the devices' state, and writes three files: the state file
 * (snapfile.c's format), guest RAM as a sparse file, and the machine as
 * JSON. A restore reads them back before /dev/kvm is opened, maps RAM from
 * the memory file copy-on-write, and puts the state into a fresh VM.
 */
#include "snapshot.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "acpi.h"
#include "layout.h"
#include "metrics.h"
#include "snapfile.h"
#include "util.h"
#include "virtio_blk.h"
#include "virtio_net.h"
#include "vm.h"

#ifndef KVMRUN_VERSION
#define KVMRUN_VERSION "dev"
#endif

enum { F_STATE, F_MEMORY, F_CONFIG, F_DIRTY };
static const char *const file_names[] = { SNAP_STATE, SNAP_MEMORY, SNAP_CONFIG, SNAP_DIRTY };

#define MAX_STATE_FILE (64u << 20)
#define IN_USE "in use by another kvmrun (restored from it, or writing it)"

/* A lock on the memory file: shared while a restored VM runs from it, exclusive to write it. */
static int lock(int fd, short type)
{
	struct flock lk = { .l_type = type, .l_whence = SEEK_SET };
	return fcntl(fd, F_OFD_SETLK, &lk);
}

/*
 * NAME in directory DIR, or (mem set: the API's pair of files) as snap_path
 * places it. Only a regular file: a FIFO must not hang the open (O_NONBLOCK,
 * no effect on a regular file), and a device is no snapshot. In a
 * directory, where kvmrun makes every file itself, not a symbolic link
 * either: a link planted there must not turn a snapshot's write onto
 * another file, or a restore's read onto one.
 */
static int open_in(struct vm *vm, const char *dir, const char *mem, const char *name, int flags,
		   const char *flag)
{
	char path[4096];
	struct stat st;
	if (!snap_path(path, sizeof(path), dir, mem, name))
		vm_die(vm, EXIT_USAGE, "%s %s: path too long", flag, dir);
	int fd = open(path, flags | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | (mem ? 0 : O_NOFOLLOW),
		      0600);
	const char *why = fd < 0 ? (errno == ELOOP && !mem ? "a symbolic link" : strerror(errno))
			  : fstat(fd, &st) < 0	 ? strerror(errno)
			  : !S_ISREG(st.st_mode) ? "not a regular file"
						 : NULL;
	if (why && mem)
		vm_die(vm, EXIT_USAGE, "%s %s: %s", flag, path, why);
	if (why)
		vm_die(vm, EXIT_USAGE, "%s %s: %s: %s", flag, dir, name, why);
	return fd;
}

/*
 * --track-dirty: this VM's snapshots hold only the pages written since it
 * was restored, and name the directory it was restored from as their base.
 * The pages are told apart through /proc/self/pagemap when the snapshot is
 * taken; nothing is tracked while the guest runs (the copy-on-write of the
 * memory file's mapping already keeps them apart).
 */
static void prepare_diff(struct vm *vm, const char *flag)
{
	if (!realpath(vm->opt.restore_dir, vm->snap->base.dir))
		vm_die(vm, EXIT_USAGE, "--restore %s: %s", vm->opt.restore_dir, strerror(errno));
	if (vm->pagemap_fd < 0)
		vm_die(vm, EXIT_RUNTIME, "--track-dirty: /proc/self/pagemap: %s", strerror(errno));
	vm->snap_dirty = malloc((vm->mem.size / 4096 + 7) / 8);
	if (!vm->snap_dirty)
		vm_die(vm, EXIT_RUNTIME, "out of memory");
	vm->snap->base.base_crc = vm->restored_crc;
	(void)flag;
}

/*
 * Whether a kvmrun holds the memory file's lock (a clone runs from it, or one
 * writes it), asked through a read-only open: opening it for writing first
 * would break the running clones' leases (watch_memory), and end them.
 */
static bool memory_in_use(const char *dir, const char *mem)
{
	char path[4096];
	struct flock lk = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	if (!snap_path(path, sizeof(path), dir, mem, SNAP_MEMORY))
		return false; /* the open that follows says so */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | (mem ? 0 : O_NOFOLLOW));
	bool used = fd >= 0 && fcntl(fd, F_OFD_GETLK, &lk) == 0 && lk.l_type != F_UNLCK;
	if (fd >= 0)
		close(fd);
	return used;
}

void snapshot_prepare(struct vm *vm)
{
	const char *dir = vm->opt.snapshot_dir;
	const char *flag = vm->opt.snapshot_on_ready ? "--snapshot-on-ready" : "--snapshot-dir";
	bool diff = vm->opt.track_dirty;
	if (dir) { /* else only the API's PUT /snapshot/create, which brings its own files */
		struct stat st;
		if (stat(dir, &st) < 0 && mkdir(dir, 0700) < 0)
			vm_die(vm, EXIT_USAGE, "%s %s: %s", flag, dir, strerror(errno));
		if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
			vm_die(vm, EXIT_USAGE, "%s %s: not a directory", flag, dir);
		if (memory_in_use(dir, NULL))
			vm_die(vm, EXIT_USAGE, "%s %s: %s", flag, dir, IN_USE);
		for (int i = 0; i < (diff ? 4 : 3); i++)
			vm->snap_files[i] =
				open_in(vm, dir, NULL, file_names[i], O_RDWR | O_CREAT, flag);
		if (lock(vm->snap_files[F_MEMORY], F_WRLCK) < 0)
			vm_die(vm, EXIT_USAGE, "%s %s: %s", flag, dir, IN_USE);
	}
	/* A confined main may not allocate: a snapshot's room is taken now. */
	vm->snap = calloc(1, sizeof(*vm->snap));
	vm->snap_buf =
		malloc(snap_encoded_size((uint32_t)vm->opt.cpus, (uint32_t)vm->ndevices, diff));
	vm->snap_msrs = malloc(sizeof(*vm->snap_msrs));
	if (vm->snap)
		vm->snap->cpus = calloc((size_t)vm->opt.cpus, sizeof(*vm->snap->cpus));
	if (!vm->snap || !vm->snap->cpus || !vm->snap_buf || !vm->snap_msrs)
		vm_die(vm, EXIT_RUNTIME, "out of memory");
	/*
	 * Which guest pages hold data (snap_write_memory, snap_dirty_pages):
	 * opened now, before the jail hides /proc. Without it a full snapshot
	 * reads every page, and a diff cannot be taken.
	 */
	vm->pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (diff)
		prepare_diff(vm, flag);
	vm->snap_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->snap_fd < 0)
		vm_die(vm, EXIT_RUNTIME, "eventfd: %s", strerror(errno));
}

/* --- taking one ------------------------------------------------------------------- */

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static int write_all(int fd, const void *buf, size_t len)
{
	if (ftruncate(fd, 0) < 0)
		return -errno;
	for (size_t done = 0; done < len;) {
		ssize_t w = pwrite(fd, (const uint8_t *)buf + done, len - done, (off_t)done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		done += (size_t)w;
	}
	return 0;
}

/* The machine as --config reads it: what it was booted with. */
static int write_config(struct vm *vm)
{
	struct jline j;
	vm_describe(vm, &j);
	if (j.overflow)
		return -EOVERFLOW;
	return write_all(vm->snap_files[F_CONFIG], j.buf, j.len);
}

#define MSR_KVM_SYSTEM_TIME_NEW 0x4b564d01u

/* The guest's kvmclock page, as KVM writes it (struct pvclock_vcpu_time_info). */
struct pvclock {
	uint32_t version, pad0;
	uint64_t tsc_timestamp, system_time;
	uint32_t mul;
	int8_t shift;
	uint8_t flags, pad[2];
};

/*
 * kvmclock as the guest reads it at vCPU 0's saved TSC: its own page's
 * system_time plus the TSC since, scaled as the page says. KVM_GET_CLOCK
 * is KVM's view, read at another instant and by other arithmetic; a
 * restore from it left the guest's TSC and kvmclock ~17 ms apart in the
 * lab, and Linux's clocksource watchdog marked the TSC unstable. false when
 * the guest has no kvmclock page (then it does not read that clock).
 */
static bool guest_kvmclock(struct vm *vm, const struct vcpu_state *c, uint64_t *ns)
{
	const struct kvm_msr_entry *t = vcpu_msr(c, MSR_TSC),
				   *m = vcpu_msr(c, MSR_KVM_SYSTEM_TIME_NEW);
	if (!t || !m || !(m->data & 1))
		return false;
	uint64_t tsc = t->data, msr = m->data;
	const struct pvclock *pv = mem_gpa(&vm->mem, msr & ~1ull, sizeof(*pv));
	if (!pv || pv->version & 1 || tsc < pv->tsc_timestamp || pv->shift < -31 || pv->shift > 31)
		return false; /* not in RAM, mid-update, or not KVM's: the guest's own doing */
	uint64_t delta = tsc - pv->tsc_timestamp;
	delta = pv->shift < 0 ? delta >> -pv->shift : delta << pv->shift;
	*ns = pv->system_time + (uint64_t)(((unsigned __int128)delta * pv->mul) >> 32);
	return true;
}

/*
 * A LAPIC timer in TSC-deadline mode whose deadline has just fired reads
 * back 0, and a 0 restored arms nothing: a tickless guest waiting on that
 * timer would sleep until some other interrupt comes. Restore the deadline
 * as the saved TSC instead, so the timer fires as soon as the guest runs
 * (the guest reprograms it; one early tick is harmless).
 */
static void keep_deadline(struct vcpu_state *c)
{
	const struct kvm_msr_entry *tsc = vcpu_msr(c, MSR_TSC);
	const struct kvm_msr_entry *deadline = vcpu_msr(c, MSR_TSC_DEADLINE);
	if (tsc && deadline && deadline->data == 0)
		c->msrs[deadline - c->msrs].data = tsc->data;
}

/* Read everything while the vCPUs are parked. 0, or -1 with err. */
static int capture(struct vm *vm, struct snapshot *s, char *err, size_t errlen)
{
	s->hdr.ncpus = (uint32_t)vm->opt.cpus;
	s->hdr.mem_size = vm->mem.size;
	s->hdr.flags = (vm->opt.no_pit ? 0 : SNAP_PIT) | (vm->opt.no_acpi ? 0 : SNAP_ACPI) |
		       (vm->opt.track_dirty ? SNAP_DIFF : 0);
	s->hdr.ndisks = (uint16_t)vm->opt.ndisks;
	s->hdr.nnets = (uint16_t)vm->opt.nnets;
	snprintf(s->hdr.kvmrun, sizeof(s->hdr.kvmrun), "%s", KVMRUN_VERSION);
	snap_host_cpu(&s->hdr);
	vm_clock_paused(vm);
	/*
	 * The TSC (vCPU 0's, which the others are kept in step with) and
	 * kvmclock must say the same instant, or the guest's clocksource
	 * watchdog sees the skew and marks its TSC unstable: the clock is read
	 * after the vCPUs, so take back the time that passed in between.
	 */
	uint64_t t_tsc = 0, t_other;
	for (int i = 0; i < vm->opt.cpus; i++) {
		if (vcpu_state_get(vm->cpus[i].fd, vm->msrs, vm->nmsrs, &s->cpus[i], vm->snap_msrs,
				   i == 0 ? &t_tsc : &t_other, err, errlen) < 0)
			return -1;
		keep_deadline(&s->cpus[i]);
	}
	if (vm_state_get(vm->vmfd, !vm->opt.no_pit, &s->vm, err, errlen) < 0)
		return -1;
	uint64_t ns;
	if (guest_kvmclock(vm, &s->cpus[0], &ns))
		s->vm.clock.clock = ns;
	else
		s->vm.clock.clock -= now_ns() - t_tsc;
	/* Output the guest already wrote goes out now, not again from every restore. */
	console_flush(&vm->con, vm->serial, 1000);
	serial_save(vm->serial, &s->serial);
	i8042_save(vm->kbd, &s->kbd);
	s->timer_fired = atomic_load(&vm->timer.fired);
	for (int i = 0; i < vm->ndevices; i++)
		virtio_save(vm_device(vm, i), &s->dev[i]);
	return 0;
}

/* A diff: which pages were written since the restore, into the bitmap and its file. */
static int write_dirty(struct vm *vm, struct snapshot *s, int64_t *pages)
{
	size_t len = (vm->mem.size / 4096 + 7) / 8;
	*pages = snap_dirty_pages(vm->pagemap_fd, vm->mem.host, vm->mem.size, vm->snap_dirty);
	if (*pages < 0)
		return (int)*pages;
	s->base.dirty_len = len;
	s->base.dirty_crc = snap_crc32(vm->snap_dirty, len);
	return write_all(vm->snap_files[F_DIRTY], vm->snap_dirty, len);
}

static int write_files(struct vm *vm, struct snapshot *s, int64_t *mem_bytes, char *err,
		       size_t errlen)
{
	bool diff = s->hdr.flags & SNAP_DIFF;
	size_t len = snap_encoded_size(s->hdr.ncpus, (uint32_t)vm->ndevices, diff);
	uint8_t *buf = vm->snap_buf;
	int64_t dirty = 0;
	/* The state file last: until it is whole, the directory does not restore. */
	int rc = ftruncate(vm->snap_files[F_STATE], 0) < 0 ? -errno : 0;
	if (rc == 0 && diff)
		rc = write_dirty(vm, s, &dirty);
	snap_encode(s, buf);
	if (rc == 0) {
		*mem_bytes = snap_write_memory(vm->snap_files[F_MEMORY], vm->mem.host, vm->mem.size,
					       vm->mem.from_file ? -1 : vm->pagemap_fd,
					       diff ? vm->snap_dirty : NULL);
		rc = *mem_bytes < 0 ? (int)*mem_bytes : 0;
	}
	if (rc == 0 && diff && fdatasync(vm->snap_files[F_DIRTY]) < 0)
		rc = -errno;
	if (rc == 0 && diff)
		log_msg(&vm->log, LOG_INFO,
			"diff snapshot: %lld pages written since the restore from %s",
			(long long)dirty, s->base.dir);
	if (rc == 0)
		rc = write_config(vm);
	if (rc == 0 &&
	    (fdatasync(vm->snap_files[F_MEMORY]) < 0 || fdatasync(vm->snap_files[F_CONFIG]) < 0))
		rc = -errno;
	if (rc == 0)
		rc = write_all(vm->snap_files[F_STATE], buf, len);
	if (rc == 0 && fdatasync(vm->snap_files[F_STATE]) < 0)
		rc = -errno;
	if (rc < 0)
		return errf(err, errlen, "writing to %s: %s", vm->opt.snapshot_dir, strerror(-rc));
	return 0;
}

bool snapshot_take(struct vm *vm)
{
	char err[256] = "";
	uint64_t t0 = now_ns();
	struct snapshot *s = vm->snap;
	int64_t mem_bytes = 0;
	bool ok = false;
	if (!vm_pause(vm)) {
		snprintf(err, sizeof(err), "the vCPUs did not pause (the VM is ending)");
	} else {
		/*
		 * Held from before the state is read until guest RAM is written:
		 * a request in flight completes first (its used element is in
		 * the snapshot's RAM, its bytes in the image), and none starts,
		 * nor does a frame land in RAM, while RAM is being written.
		 */
		for (int i = 0; i < vm->ndevices; i++)
			virtio_quiesce(vm_device(vm, i));
		ok = capture(vm, s, err, sizeof(err)) == 0 &&
		     write_files(vm, s, &mem_bytes, err, sizeof(err)) == 0;
		for (int i = 0; i < vm->ndevices; i++)
			virtio_resume(vm_device(vm, i));
	}
	if (ok)
		log_msg(&vm->log, LOG_INFO,
			"snapshot written to %s: %llu of %llu MiB of RAM, %d vCPUs, in %llu us",
			vm->opt.snapshot_dir, (unsigned long long)(mem_bytes >> 20),
			(unsigned long long)(vm->mem.size >> 20), vm->opt.cpus,
			(unsigned long long)(now_ns() - t0) / 1000);
	else
		log_msg(&vm->log, LOG_ERROR, "snapshot to %s failed: %s", vm->opt.snapshot_dir,
			err);
	if (!ok)
		fprintf(stderr, "kvmrun: snapshot to %s failed: %s\n", vm->opt.snapshot_dir, err);
	if ((!ok || vm->opt.snapshot_resume) && !vm->api_paused) /* PATCH /vm holds its pause */
		vm_resume(vm);
	return ok;
}

int snapshot_files_open(const char *dir, const char *mem, bool diff, int fds[SNAPSHOT_FILES],
			char *err, size_t errlen)
{
	char path[4096];
	struct stat st[SNAPSHOT_FILES];
	for (int i = 0; i < SNAPSHOT_FILES; i++)
		fds[i] = -1;
	if (!mem && mkdir(dir, 0700) < 0 && errno != EEXIST)
		return errf(err, errlen, "%s: %s", dir, strerror(errno));
	if (memory_in_use(dir, mem))
		return errf(err, errlen, "%s: %s", dir, IN_USE);
	for (int i = 0; i < (diff ? 4 : 3); i++) {
		if (!snap_path(path, sizeof(path), dir, mem, file_names[i])) {
			errf(err, errlen, "%s: path too long", dir);
			goto fail;
		}
		fds[i] = open(path,
			      O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY,
			      0600);
		if (fds[i] < 0 || fstat(fds[i], &st[i]) < 0) {
			errf(err, errlen, "%s: %s", path, strerror(errno));
			goto fail;
		}
		if (!S_ISREG(st[i].st_mode)) {
			errf(err, errlen, "%s: not a regular file", path);
			goto fail;
		}
		/* One file under two names (a hard link, "./s" and "s"): one write would undo the other. */
		for (int k = 0; k < i; k++)
			if (st[k].st_dev == st[i].st_dev && st[k].st_ino == st[i].st_ino) {
				errf(err, errlen, "%s: the same file as the snapshot's %s", path,
				     file_names[k]);
				goto fail;
			}
	}
	if (lock(fds[F_MEMORY], F_WRLCK) < 0) {
		errf(err, errlen, "%s: %s", dir, IN_USE);
		goto fail;
	}
	return 0;
fail:
	snapshot_files_close(fds);
	return -1;
}

void snapshot_files_close(int fds[SNAPSHOT_FILES])
{
	for (int i = 0; i < SNAPSHOT_FILES; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

bool snapshot_take_to(struct vm *vm, const char *dir, const int fds[SNAPSHOT_FILES], bool diff)
{
	int saved[SNAPSHOT_FILES];
	const char *saved_dir = vm->opt.snapshot_dir;
	bool saved_diff = vm->opt.track_dirty;
	memcpy(saved, vm->snap_files, sizeof(saved));
	memcpy(vm->snap_files, fds, sizeof(saved));
	vm->opt.snapshot_dir = dir;
	vm->opt.track_dirty = diff;
	bool ok = snapshot_take(vm);
	vm->opt.track_dirty = saved_diff;
	vm->opt.snapshot_dir = saved_dir;
	memcpy(vm->snap_files, saved, sizeof(saved));
	return ok;
}

/* --- restoring -------------------------------------------------------------------- */

static uint8_t *read_state(struct vm *vm, const char *dir, int fd, size_t *len)
{
	struct stat st = { 0 };
	if (fstat(fd, &st) < 0 || st.st_size <= 0 || (uint64_t)st.st_size > MAX_STATE_FILE)
		vm_die(vm, EXIT_USAGE, "--restore %s: %s: %s", dir, SNAP_STATE,
		       st.st_size <= 0 ? "empty (no snapshot was written here)" : "too large");
	uint8_t *buf = malloc((size_t)st.st_size);
	if (!buf)
		vm_die(vm, EXIT_RUNTIME, "out of memory");
	for (size_t done = 0; done < (size_t)st.st_size;) {
		ssize_t r = pread(fd, buf + done, (size_t)st.st_size - done, (off_t)done);
		if (r <= 0)
			vm_die(vm, EXIT_USAGE, "--restore %s: %s: %s", dir, SNAP_STATE,
			       r < 0 ? strerror(errno) : "shorter than it was");
		done += (size_t)r;
	}
	*len = (size_t)st.st_size;
	return buf;
}

/* Read and check DIR's state file into s; a bad one ends the process (status 2). */
static void load_state(struct vm *vm, const char *dir, const char *mem, struct snapshot *s)
{
	char err[256];
	int fd = open_in(vm, dir, mem, SNAP_STATE, O_RDONLY, "--restore");
	size_t len;
	uint8_t *buf = read_state(vm, dir, fd, &len);
	close(fd);
	if (snap_decode(buf, len, s, err, sizeof(err)) < 0)
		vm_die(vm, EXIT_USAGE, "--restore %s: %s: %s", dir, SNAP_STATE, err);
	free(buf);
}

/*
 * A read lease on a memory file: the kernel tells this process (LEASE_SIGNAL,
 * read by main's loop) before anyone truncates the file or opens it for writing,
 * and holds them until the lease goes, with this process. The guest's pages
 * come from that file: truncated under a running clone they would vanish
 * (the guest sees zeros or faults, the monitor SIGBUS), so the clone ends
 * first, with one line naming the file. Only the file's owner may take a
 * lease, and some file systems have none: then this is logged, not fatal.
 */
static void watch_memory(struct vm *vm, int mem, const char *dir, const char *mem_path)
{
	char path[4096];
	char *name =
		snap_path(path, sizeof(path), dir, mem_path, SNAP_MEMORY) ? strdup(path) : NULL;
	if (!name || fcntl(mem, F_SETSIG, LEASE_SIGNAL) < 0 ||
	    fcntl(mem, F_SETLEASE, F_RDLCK) < 0) {
		if (!vm->unwatched)
			vm->unwatched = name ? errno : ENOMEM;
		free(name);
		return;
	}
	vm->lease_fd[vm->nleases] = mem;
	vm->lease_path[vm->nleases++] = name;
}

/*
 * DIR's memory file, read-locked for as long as the VM runs (the fd stays
 * open: writers are kept away). Locked before its state file is read: a
 * writer holds its lock from before it truncates the state until the new
 * one is whole, so what is read after this lock is the state of this memory.
 */
static int lock_memory(struct vm *vm, const char *dir, const char *mem_path)
{
	/*
	 * The lock and the lease on an open of their own, never mapped: a
	 * mapping holds its file open for as long as the address space lives,
	 * and the teardown child shares kvmrun's until the VM is gone. This fd
	 * it closes, so both go the moment kvmrun exits.
	 */
	int lk = open_in(vm, dir, mem_path, SNAP_MEMORY, O_RDONLY, "--restore");
	if (lock(lk, F_RDLCK) < 0)
		vm_die(vm, EXIT_USAGE, "--restore %s: a kvmrun is writing a snapshot there", dir);
	watch_memory(vm, lk, dir, mem_path);
	int mem = open_in(vm, dir, mem_path, SNAP_MEMORY, O_RDONLY, "--restore");
	struct stat a, b;
	if (fstat(lk, &a) < 0 || fstat(mem, &b) < 0 || a.st_dev != b.st_dev || a.st_ino != b.st_ino)
		vm_die(vm, EXIT_USAGE, "--restore %s: %s was replaced while it was opened", dir,
		       SNAP_MEMORY);
	return mem; /* to map; lk stays open while the VM runs */
}

/* The memory file is of the size the state says. */
static void memory_size_is(struct vm *vm, const char *dir, int mem, uint64_t size)
{
	struct stat st = { 0 };
	if (fstat(mem, &st) < 0 || (uint64_t)st.st_size != size)
		vm_die(vm, EXIT_USAGE, "--restore %s: %s is %lld bytes, the state says %llu", dir,
		       SNAP_MEMORY, (long long)st.st_size, (unsigned long long)size);
}

/* A diff's pages over what its bases gave: its bitmap, checked, then each run of set bits. */
static void overlay(struct vm *vm, const char *dir, const struct snap_base *b, int mem)
{
	uint64_t pages = vm->mem.size / 4096, len = (pages + 7) / 8;
	int fd = open_in(vm, dir, NULL, SNAP_DIRTY, O_RDONLY, "--restore");
	uint8_t *map = malloc(len);
	struct stat st;
	if (!map)
		vm_die(vm, EXIT_RUNTIME, "out of memory");
	ssize_t r = pread(fd, map, len, 0);
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size != len || r != (ssize_t)len ||
	    b->dirty_len != len || snap_crc32(map, len) != b->dirty_crc)
		vm_die(vm, EXIT_USAGE, "--restore %s: %s: damaged (not the size or CRC %s says)",
		       dir, SNAP_DIRTY, SNAP_STATE);
	close(fd);
	memory_size_is(vm, dir, mem, vm->mem.size);
	for (uint64_t p = 0, q; p < pages; p = q) {
		for (q = p; q < pages && (map[q / 8] >> (q % 8) & 1); q++) {
		}
		if (q == p) {
			q++;
			continue;
		}
		int rc = mem_overlay_file(&vm->mem, mem, p * 4096, (q - p) * 4096);
		if (rc < 0)
			vm_die(vm, EXIT_RUNTIME, "--restore %s: cannot map %s: %s", dir,
			       SNAP_MEMORY, strerror(-rc));
	}
	free(map);
}

/*
 * Guest RAM: a full snapshot's memory file, or a diff's chain (its base, the
 * base's base, ... down to a full snapshot) mapped oldest first, each diff's
 * pages over the ones before.
 */
static void map_chain(struct vm *vm, const char *dir, const struct snapshot *s, int mem0)
{
	const char *chain[SNAP_MAX_CHAIN + 1] = { dir };
	int mem[SNAP_MAX_CHAIN + 1] = { mem0 };
	struct snap_base *bases = calloc(SNAP_MAX_CHAIN, sizeof(*bases));
	struct snapshot *b = calloc(1, sizeof(*b));
	if (!bases || !b)
		vm_die(vm, EXIT_RUNTIME, "out of memory");
	int n = 0;
	for (const struct snapshot *cur = s; cur->hdr.flags & SNAP_DIFF; cur = b) {
		if (n == SNAP_MAX_CHAIN)
			vm_die(vm, EXIT_USAGE, "--restore %s: more than %d diffs on diffs", dir,
			       SNAP_MAX_CHAIN);
		bases[n] = cur->base;
		chain[n + 1] = strdup(cur->base.dir);
		if (!chain[n + 1])
			vm_die(vm, EXIT_RUNTIME, "out of memory");
		mem[n + 1] = lock_memory(vm, chain[n + 1], NULL);
		load_state(vm, chain[n + 1], NULL, b);
		free(b->cpus);
		if (b->hdr.crc != bases[n].base_crc || b->hdr.mem_size != s->hdr.mem_size)
			vm_die(vm, EXIT_USAGE,
			       "--restore %s: its base %s is not the snapshot it was taken from "
			       "(written over since?)",
			       chain[n], chain[n + 1]);
		n++;
	}
	/* A pair of files is never a diff (restore_open): then chain[0] is all there is. */
	memory_size_is(vm, chain[n], mem[n], s->hdr.mem_size);
	int rc = mem_init_file(&vm->mem, mem[n], s->hdr.mem_size);
	if (rc < 0)
		vm_die(vm, EXIT_RUNTIME, "--restore %s: cannot map %s: %s", chain[n], SNAP_MEMORY,
		       strerror(-rc));
	for (int i = n - 1; i >= 0; i--)
		overlay(vm, chain[i], &bases[i], mem[i]);
	for (int i = 0; i <= n; i++)
		close(mem[i]); /* mapped: the mappings hold the files; the locks are elsewhere */
	free(bases);
	free(b);
}

void restore_open(struct vm *vm)
{
	const char *dir = vm->opt.restore_dir;
	struct snapshot *s = calloc(1, sizeof(*s));
	if (!s)
		vm_die(vm, EXIT_RUNTIME, "out of memory");
	int mem = lock_memory(vm, dir, vm->opt.restore_mem);
	load_state(vm, dir, vm->opt.restore_mem, s);
	if (vm->opt.restore_mem && (s->hdr.flags & SNAP_DIFF))
		vm_die(vm, EXIT_USAGE,
		       "snapshot_path %s: a diff (its base is named by directory): load the "
		       "snapshot directory it was written to",
		       dir);
	/* As --memory: no more than the host has (KVM would refuse a slot that large). */
	const long phys = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
	if (phys > 0 && page > 0 && s->hdr.mem_size > (uint64_t)phys * (uint64_t)page)
		vm_die(vm, EXIT_USAGE,
		       "--restore %s: %llu MiB of guest RAM, more than this host's %llu MiB", dir,
		       (unsigned long long)(s->hdr.mem_size >> 20),
		       (unsigned long long)(((uint64_t)phys * (uint64_t)page) >> 20));
	struct snap_header here;
	snap_host_cpu(&here);
	if (memcmp(here.cpu_vendor, s->hdr.cpu_vendor, sizeof(here.cpu_vendor)) != 0 ||
	    here.cpu_sig != s->hdr.cpu_sig)
		vm_die(vm, EXIT_USAGE,
		       "--restore %s: taken on another kind of CPU (%.12s 0x%x; this host: "
		       "%.12s 0x%x)",
		       dir, s->hdr.cpu_vendor, s->hdr.cpu_sig, here.cpu_vendor, here.cpu_sig);
	map_chain(vm, dir, s, mem);
	vm->restored_crc = s->hdr.crc;
	vm->opt.cpus = (int)s->hdr.ncpus;
	vm->opt.memory = s->hdr.mem_size;
	vm->opt.no_pit = !(s->hdr.flags & SNAP_PIT);
	vm->opt.no_acpi = !(s->hdr.flags & SNAP_ACPI);
	/* config.c took the devices from config.json (or the flags): as many as the state has. */
	if (vm->opt.ndisks != s->hdr.ndisks || vm->opt.nnets != s->hdr.nnets)
		vm_die(vm, EXIT_USAGE, "--restore %s: %s has %d disks and %d NICs, %s %u and %u",
		       dir, SNAP_CONFIG, vm->opt.ndisks, vm->opt.nnets, SNAP_STATE, s->hdr.ndisks,
		       s->hdr.nnets);
	vm->restored = s;
}

/* A disk's size as its config space says: virtio-blk's first field, capacity in sectors. */
static uint64_t saved_capacity(const struct virtio_state *st)
{
	uint64_t sectors = 0;
	memcpy(&sectors, st->config, sizeof(sectors));
	return le64toh(sectors);
}

static void restore_device(struct vm *vm, int i, const struct virtio_state *st)
{
	const char *dir = vm->opt.restore_dir, *flag, *name = vm_device_name(vm, i, &flag);
	bool disk = i < vm->opt.ndisks;
	int rc = virtio_load(vm_device(vm, i), st, &vm->mem);
	if (rc == -ERANGE && disk)
		vm_die(vm, EXIT_USAGE,
		       "--restore %s: %s %s: %llu bytes; the snapshot's disk %d had %llu (the "
		       "guest knows its size)",
		       dir, flag, name, (unsigned long long)(blk_capacity(vm->blks[i]) << 9), i,
		       (unsigned long long)(saved_capacity(st) << 9));
	if (rc == -ERANGE)
		vm_die(vm, EXIT_USAGE,
		       "--restore %s: %s %s: not the snapshot's MAC (the guest configured its "
		       "interface with that one; see %s)",
		       dir, flag, name, SNAP_CONFIG);
	if (rc == -EINVAL)
		vm_die(vm, EXIT_USAGE,
		       "--restore %s: %s %s: not the kind of device the snapshot's %s %d was "
		       "(%s)",
		       dir, flag, name, disk ? "disk" : "NIC", disk ? i : i - vm->opt.ndisks,
		       disk ? "ro and cache= must be as they were" : "its offloads differ");
	if (rc < 0)
		vm_die(vm, EXIT_USAGE, "--restore %s: %s: %s %s: a queue outside guest RAM", dir,
		       SNAP_STATE, flag, name);
}

void restore_devices(struct vm *vm)
{
	struct snapshot *s = vm->restored;
	if (serial_load(vm->serial, &s->serial) < 0 || i8042_load(vm->kbd, &s->kbd) < 0)
		vm_die(vm, EXIT_USAGE, "--restore %s: %s: bad device state", vm->opt.restore_dir,
		       SNAP_STATE);
	atomic_store(&vm->timer.fired, s->timer_fired != 0);
	for (int i = 0; i < vm->ndevices; i++)
		restore_device(vm, i, &s->dev[i]);
}

/*
 * A restored guest is a fork of the one snapshotted, maybe one of many: give
 * it a new VM generation ID and raise the GED line, whose _EVT notifies the
 * VGEN device (acpi.c). Linux then reseeds its CRNG ("crng reseeded due to
 * virtual machine fork"), so clones do not draw the same random numbers.
 * After the LAPICs are set (setting them would drop the interrupt).
 */
static void new_generation(struct vm *vm)
{
	if (vm->opt.no_acpi)
		return;
	if (acpi_vmgenid_new(&vm->mem) < 0)
		vm_die(vm, EXIT_RUNTIME,
		       "--restore %s: no random bytes for the VM generation ID: %s",
		       vm->opt.restore_dir, strerror(errno));
	for (uint32_t level = 1; level <= 2; level++) {
		struct kvm_irq_level l = { .irq = GED_GSI, .level = level & 1 };
		if (ioctl(vm->vmfd, KVM_IRQ_LINE, &l) < 0)
			vm_die(vm, EXIT_RUNTIME, "KVM: KVM_IRQ_LINE: %s", strerror(errno));
	}
}

void restore_cpus(struct vm *vm)
{
	char err[256];
	struct snapshot *s = vm->restored;
	/*
	 * KVM refusing the state (EINVAL: registers no CPU could hold) is the
	 * state file's fault, a usage error like any other bad input.
	 */
	if (vm_state_set(vm->vmfd, &s->vm, err, sizeof(err)) < 0)
		vm_die(vm, errno == EINVAL ? EXIT_USAGE : EXIT_RUNTIME, "--restore %s: %s: %s",
		       vm->opt.restore_dir, SNAP_STATE, err);
	int fds[MAX_CPUS];
	for (int i = 0; i < vm->opt.cpus; i++) {
		fds[i] = vm->cpus[i].fd;
		if (vcpu_state_set(fds[i], &s->cpus[i], NULL, NULL, err, sizeof(err)) < 0)
			vm_die(vm, errno == EINVAL ? EXIT_USAGE : EXIT_RUNTIME,
			       "--restore %s: %s: vCPU %d: %s", vm->opt.restore_dir, SNAP_STATE, i,
			       err);
	}
	/* The TSCs and kvmclock as at capture: one instant, as the guest saw them. */
	int exact = vm_time_set(vm->vmfd, fds, s->cpus, vm->opt.cpus, s->vm.clock.clock, err,
				sizeof(err));
	if (exact < 0)
		vm_die(vm, errno == EINVAL ? EXIT_USAGE : EXIT_RUNTIME, "--restore %s: %s: %s",
		       vm->opt.restore_dir, SNAP_STATE, err);
	log_msg(&vm->log, LOG_DEBUG, "restore: TSC and kvmclock set %s",
		exact ? "as KVM TSC offsets (one instant)"
		      : "as MSRs (KVM has no TSC offset control)");
	free(s->cpus);
	free(s);
	vm->restored = NULL;
	new_generation(vm);
}
