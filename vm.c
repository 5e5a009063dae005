// SPDX-License-Identifier: Apache-2.0
/* What every part of the VMM uses: the way out on a fatal error, and start-up timing. */
#include "vm.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

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
