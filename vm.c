// SPDX-License-Identifier: Apache-2.0
/* What every part of the VMM uses: the way out on a fatal error, and start-up timing. */
#include "vm.h"

#include <errno.h>
#include <linux/futex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "config.h"
#include "limitsfile.h"
#include "metrics.h"
#include "util.h"
#include "virtio_blk.h"
#include "virtio_net.h"
#include "vmstate.h"

void vm_die(struct vm *vm, int status, const char *fmt, ...)
{
	char said[512], msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(said, sizeof(said), fmt, ap);
	va_end(ap);
	snprintf(msg, sizeof(msg), "%s", said);
	if (vm) {
		/* "--kernel X: ..." names boot-source.kernel_image_path if that gave X */
		config_label(&vm->opt, said, msg, sizeof(msg));
		console_restore(&vm->con);
		log_msg(&vm->log, LOG_ERROR, "%s", msg);
	}
	if (vm && vm->api) {
		if (vm->api_held) /* a failed InstanceStart: its client learns why */
			api_fail_taken(vm->api, msg);
		if (!vm->confined) /* after, the teardown child removes it */
			api_unlink(vm->api);
	}
	fprintf(stderr, "kvmrun: %s\n", msg);
	exit(status);
}

/* Only when tracing (KVMRUN_TRACE_BOOT): it costs a clock read. */
void vm_stage(struct vm *vm, const char *name)
{
	if (!vm->trace || vm->nstages >= (int)(sizeof(vm->stages) / sizeof(vm->stages[0])))
		return;
	vm->stages[vm->nstages].name = name;
	vm->stages[vm->nstages++].t = log_now_ns();
}

uint64_t vm_since_main_us(const struct vm *vm, uint64_t t)
{
	return t ? (t - vm->t_main) / 1000 : 0;
}

struct virtio_dev *vm_device(struct vm *vm, int i)
{
	int nd = vm->opt.ndisks;
	return i < nd ? blk_virtio(vm->blks[i]) : net_virtio(vm->nets[i - nd]);
}

const char *vm_device_name(const struct vm *vm, int i, const char **flag)
{
	int nd = vm->opt.ndisks;
	*flag = i < nd ? "--disk" : "--net";
	return i < nd ? vm->opt.disks[i].path : net_name(vm->nets[i - nd]);
}

/* The device a --limits line names, as queue(s) of a transport; false when there is none. */
static bool limits_target(struct vm *vm, const char *name, struct virtio_dev **vd, bool *disk)
{
	if (name[0] == 'v') {
		int i = name[2] - 'a';
		*disk = true;
		*vd = i < vm->opt.ndisks ? blk_virtio(vm->blks[i]) : NULL;
	} else {
		int i = atoi(name + 3);
		*disk = false;
		*vd = i < vm->opt.nnets ? net_virtio(vm->nets[i]) : NULL;
	}
	return *vd != NULL;
}

int vm_limits_apply(struct vm *vm, char *err, size_t errlen)
{
	/* The first call is at start; a SIGHUP's, once the guest runs, may not allocate. */
	if (!vm->limits_buf && !(vm->limits_buf = calloc(1, sizeof(*vm->limits_buf)))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	char *text = vm->limits_buf->text;
	struct limits_line *lines = vm->limits_buf->lines;
	ssize_t len = pread(vm->limits_fd, text, sizeof(vm->limits_buf->text), 0);
	if (len < 0 || len > LIMITS_MAX_BYTES) {
		snprintf(err, errlen, "%s", len < 0 ? strerror(errno) : "larger than 64 KiB");
		return -1;
	}
	int n = limits_parse(text, (size_t)len, lines, err, errlen);
	if (n < 0)
		return -1;
	struct virtio_dev *vd;
	bool disk;
	/* All or nothing: every device named must exist before any limit changes. */
	for (int i = 0; i < n; i++)
		if (!limits_target(vm, lines[i].name, &vd, &disk)) {
			snprintf(err, errlen, "%s: no such device in this VM", lines[i].name);
			return -1;
		}
	for (int i = 0; i < n; i++) {
		limits_target(vm, lines[i].name, &vd, &disk);
		if (disk)
			virtio_limit_update(vd, 0, &lines[i].disk);
		else if (virtio_limit_update(vd, NET_RXQ, &lines[i].rx) == 0)
			virtio_limit_update(vd, NET_TXQ, &lines[i].tx);
	}
	return n;
}

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Kick every vCPU and wait (bounded) until all are parked; false if the VM is ending. */
bool vm_pause(struct vm *vm)
{
	atomic_store(&vm->pause, 1);
	for (int i = 0; i < vm->opt.cpus; i++)
		cpu_kick(&vm->cpus[i]);
	uint64_t until = now_ns() + 2000000000u;
	for (int n; (n = atomic_load(&vm->parked)) < vm->opt.cpus;) {
		if (atomic_load(&vm->stopping) || now_ns() > until)
			return false;
		struct timespec ten_ms = { 0, 10000000 };
		syscall(SYS_futex, &vm->parked, FUTEX_WAIT_PRIVATE, n, &ten_ms, NULL, 0);
	}
	return true;
}

enum seccomp_role vm_main_role(const struct vm *vm)
{
	bool snap = vm->opt.snapshot_dir || vm->api; /* the API's PUT /snapshot/create */
	if (vm->opt.restart_on_reboot)
		return snap ? SECCOMP_RESTART_SNAP : SECCOMP_RESTART;
	return snap ? SECCOMP_SNAPSHOT : SECCOMP_MAIN;
}

void vm_clock_paused(struct vm *vm)
{
	for (int i = 0; i < vm->opt.cpus; i++)
		vcpu_clock_paused(vm->cpus[i].fd);
}

void vm_resume(struct vm *vm)
{
	atomic_store(&vm->pause, 0);
	futex_wake(&vm->pause);
}

/* A rate limiter as --config reads it (Firecracker's RateLimiter), when it has a bucket. */
static void j_limit(struct jline *j, const char *name, const struct rl_spec *s)
{
	const struct rl_bucket_spec *b[2] = { &s->bw, &s->ops };
	static const char *const bname[2] = { "bandwidth", "ops" };
	if (!rl_on(s))
		return;
	j_obj(j, name);
	for (int i = 0; i < 2; i++) {
		if (!rl_bucket_on(b[i]))
			continue;
		j_obj(j, bname[i]);
		j_u64(j, "size", b[i]->size);
		j_u64(j, "one_time_burst", b[i]->one_time_burst);
		j_u64(j, "refill_time", b[i]->refill_ms);
		j_end(j);
	}
	j_end(j);
}

void vm_describe(struct vm *vm, struct jline *j)
{
	j_begin(j);
	j_obj(j, "boot-source");
	j_str(j, "kernel_image_path", vm->opt.kernel ? vm->opt.kernel : "");
	if (vm->opt.initrd)
		j_str(j, "initrd_path", vm->opt.initrd);
	j_str(j, "boot_args", vm->opt.cmdline ? vm->opt.cmdline : "");
	j_end(j);
	j_obj(j, "machine-config");
	j_u64(j, "vcpu_count", (uint64_t)vm->opt.cpus);
	j_u64(j, "mem_size_mib", vm->opt.memory >> 20);
	j_str(j, "huge_pages", vm->mem.huge ? "2M" : "None");
	j_end(j);
	/* Disks and NICs, in the order a restore takes them by position (both lists always). */
	j_arr(j, "drives");
	for (int i = 0; i < vm->opt.ndisks; i++) {
		const struct blk_spec *d = &vm->opt.disks[i];
		char id[64];
		snprintf(id, sizeof(id), "disk%d", i);
		if (vm->opt.disk_ids[i][0])
			snprintf(id, sizeof(id), "%s", vm->opt.disk_ids[i]);
		j_obj(j, NULL);
		j_str(j, "drive_id", id);
		j_str(j, "path_on_host", d->path);
		/* The root drive is the first, named on the command line (fcjson.c). */
		j_bool(j, "is_root_device",
		       i == 0 && strncmp(vm->opt.extra_cmdline, "root=", 5) == 0);
		if (i == 0 && strncmp(vm->opt.extra_cmdline, "root=PARTUUID=", 14) == 0) {
			char pu[40];
			snprintf(pu, sizeof(pu), "%.*s",
				 (int)strcspn(vm->opt.extra_cmdline + 14, " "),
				 vm->opt.extra_cmdline + 14);
			j_str(j, "partuuid", pu);
		}
		j_bool(j, "is_read_only", d->ro);
		j_str(j, "cache_type", d->no_flush ? "Unsafe" : "Writeback");
		j_limit(j, "rate_limiter", &d->limit);
		j_end(j);
	}
	j_end(j);
	j_arr(j, "network-interfaces");
	for (int i = 0; i < vm->opt.nnets; i++) {
		char id[64], mac[18];
		uint8_t m[6];
		net_get_mac(vm->nets[i], m);
		snprintf(id, sizeof(id), "net%d", i);
		if (vm->opt.net_ids[i][0])
			snprintf(id, sizeof(id), "%s", vm->opt.net_ids[i]);
		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3],
			 m[4], m[5]);
		j_obj(j, NULL);
		j_str(j, "iface_id", id);
		/* "" for a tap handed in as fd= or a stream=: a restore needs --net again for it. */
		j_str(j, "host_dev_name", vm->opt.nets[i].tap);
		j_str(j, "guest_mac", mac);
		j_limit(j, "rx_rate_limiter", &vm->opt.nets[i].rx_limit);
		j_limit(j, "tx_rate_limiter", &vm->opt.nets[i].tx_limit);
		j_end(j);
	}
	j_end(j);
	while (j->depth > 0)
		j_end(j);
	j_end(j);
}
