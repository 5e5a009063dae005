// SPDX-License-Identifier: Apache-2.0
/* --on-reboot restart: boot the same machine again in this process, from what it held at boot. */
#include "restart.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "console.h"
#include "i8042.h"
#include "serial.h"
#include "util.h"
#include "virtio.h"
#include "vm.h"
#include "vmstate.h"

#define PAGE 4096u

/* A run of guest RAM (offsets into vm->mem.host) the loader wrote. */
struct extent {
	uint64_t off, len;
};

struct restart {
	struct vm_state vm;
	struct vcpu_state *cpus;
	struct vmstate_msrs *scratch; /* KVM_SET_MSRS's buffer: a confined main cannot allocate */
	struct serial_state serial;
	struct i8042_state kbd;
	struct extent *ext;
	size_t next;
	uint8_t *data; /* the extents' bytes, back to back */
	uint64_t bytes;
};

static bool page_is_zero(const uint8_t *p)
{
	const uint64_t *q = (const uint64_t *)(const void *)p;
	for (unsigned i = 0; i < PAGE / 8; i++)
		if (q[i])
			return false;
	return true;
}

/*
 * Walk the RAM mapping's resident, non-zero pages (the guest has not run:
 * only the loader wrote). With copy false, count the extents and bytes;
 * with it, fill r->ext and r->data.
 */
static void walk(const struct vm *vm, const unsigned char *res, struct restart *r, bool copy)
{
	size_t pages = (size_t)(vm->mem.size / PAGE), n = 0;
	uint64_t bytes = 0;
	bool open = false;
	for (size_t i = 0; i < pages; i++) {
		const uint8_t *p = vm->mem.host + (uint64_t)i * PAGE;
		if (!(res[i] & 1) || page_is_zero(p)) {
			open = false;
			continue;
		}
		if (!open) {
			if (copy)
				r->ext[n] = (struct extent){ (uint64_t)i * PAGE, 0 };
			n++;
			open = true;
		}
		if (copy) {
			memcpy(r->data + bytes, p, PAGE);
			r->ext[n - 1].len += PAGE;
		}
		bytes += PAGE;
	}
	r->next = n;
	r->bytes = bytes;
}

static void keep_memory(struct vm *vm, struct restart *r)
{
	size_t pages = (size_t)(vm->mem.size / PAGE);
	unsigned char *res = malloc(pages);
	if (!res)
		vm_die(vm, EXIT_RUNTIME, "--on-reboot restart: out of memory");
	if (mincore(vm->mem.host, vm->mem.size, res) < 0)
		vm_die(vm, EXIT_RUNTIME, "--on-reboot restart: mincore: %s", strerror(errno));
	walk(vm, res, r, false);
	r->ext = calloc(r->next ? r->next : 1, sizeof(*r->ext));
	r->data = malloc(r->bytes ? r->bytes : 1);
	if (!r->ext || !r->data)
		vm_die(vm, EXIT_RUNTIME, "--on-reboot restart: no room for a %llu KiB boot image",
		       (unsigned long long)(r->bytes >> 10));
	walk(vm, res, r, true);
	free(res);
}

void restart_prepare(struct vm *vm)
{
	char err[256];
	struct restart *r = calloc(1, sizeof(*r));
	struct vmstate_msrs *scratch = malloc(sizeof(*scratch));
	if (!r || !scratch || !(r->cpus = calloc((size_t)vm->opt.cpus, sizeof(*r->cpus))))
		vm_die(vm, EXIT_RUNTIME, "--on-reboot restart: out of memory");
	keep_memory(vm, r);
	uint64_t ns;
	for (int i = 0; i < vm->opt.cpus; i++)
		if (vcpu_state_get(vm->cpus[i].fd, vm->msrs, vm->nmsrs, &r->cpus[i], scratch, &ns,
				   err, sizeof(err)) < 0)
			vm_die(vm, EXIT_RUNTIME, "--on-reboot restart: vCPU %d: %s", i, err);
	/* The CPUID stays the vCPU's own: KVM takes a new one only before the first KVM_RUN. */
	for (int i = 0; i < vm->opt.cpus; i++)
		r->cpus[i].ncpuid = 0;
	if (vm_state_get(vm->vmfd, !vm->opt.no_pit, &r->vm, err, sizeof(err)) < 0)
		vm_die(vm, EXIT_RUNTIME, "--on-reboot restart: %s", err);
	serial_save(vm->serial, &r->serial);
	i8042_save(vm->kbd, &r->kbd);
	r->scratch = scratch;
	vm->restart = r;
	log_msg(&vm->log, LOG_INFO,
		"--on-reboot restart: boot image of %llu KiB in %zu extents kept for reboots",
		(unsigned long long)(r->bytes >> 10), r->next);
}

/* Guest RAM as at boot: all of it dropped, then the loader's pages copied back. */
static void reset_memory(struct vm *vm, const struct restart *r)
{
	if (madvise(vm->mem.host, vm->mem.size, MADV_DONTNEED) < 0)
		vm_die(vm, EXIT_RUNTIME, "reboot: cannot drop guest RAM: %s", strerror(errno));
	const uint8_t *src = r->data;
	for (size_t i = 0; i < r->next; i++) {
		memcpy(vm->mem.host + r->ext[i].off, src, r->ext[i].len);
		src += r->ext[i].len;
	}
}

void restart_run(struct vm *vm)
{
	struct restart *r = vm->restart;
	char err[256];
	uint64_t t0 = log_now_ns();
	if (!vm_pause(vm)) {
		if (atomic_load(&vm->stopping))
			return; /* a vCPU powered off meanwhile: its stop event ends the VM */
		vm_die(vm, EXIT_RUNTIME, "reboot: the vCPUs did not stop within 2 s");
	}
	for (int i = 0; i < vm->ndevices; i++)
		virtio_reset(vm_device(vm, i));
	console_flush(&vm->con, vm->serial, 1000); /* what the last run wrote goes out first */
	if (serial_load(vm->serial, &r->serial) < 0 || i8042_load(vm->kbd, &r->kbd) < 0)
		vm_die(vm, EXIT_RUNTIME, "reboot: the UART or i8042 refused its boot state");
	atomic_store(&vm->timer.fired, false);
	reset_memory(vm, r);
	if (vm_state_set(vm->vmfd, &r->vm, err, sizeof(err)) < 0)
		vm_die(vm, EXIT_RUNTIME, "reboot: %s", err);
	uint64_t ns;
	for (int i = 0; i < vm->opt.cpus; i++)
		if (vcpu_state_set(vm->cpus[i].fd, &r->cpus[i], r->scratch, &ns, err, sizeof(err)) <
		    0)
			vm_die(vm, EXIT_RUNTIME, "reboot: vCPU %d: %s", i, err);
	vm->reboots++;
	log_msg(&vm->log, LOG_INFO, "%s: machine restarted in %llu us (reboot %llu)",
		vm->reboot_msg, (unsigned long long)(log_now_ns() - t0) / 1000,
		(unsigned long long)vm->reboots);
	atomic_store(&vm->rebooting, 0);
	futex_wake(&vm->rebooting);
	if (!vm->api_paused) /* PATCH /vm Paused holds across a reboot; Resumed resumes */
		vm_resume(vm);
}
