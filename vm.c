// SPDX-License-Identifier: Apache-2.0
/* What every part of the VMM uses: the way out on a fatal error, and start-up timing. */
#include "vm.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "limitsfile.h"
#include "virtio_blk.h"
#include "virtio_net.h"

void vm_die(struct vm *vm, int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (vm) {
		console_restore(&vm->con);
		log_msg(&vm->log, LOG_ERROR, "%s", msg);
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
	static char text[LIMITS_MAX_BYTES + 1];
	static struct limits_line lines[LIMITS_MAX_DEVICES];
	ssize_t len = pread(vm->limits_fd, text, sizeof(text), 0);
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
