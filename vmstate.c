// SPDX-License-Identifier: Apache-2.0
/*
 * KVM's side of a snapshot: the ioctls that read a paused VM's state and put
 * it back into a fresh one, in the order KVM needs (see vcpu_state_set).
 */
#include "vmstate.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "util.h"

/* One KVM ioctl; on failure, return -1 with err naming it. */
#define KVM_DO(fd, req, arg, what)                                                      \
	do {                                                                            \
		if (ioctl(fd, req, arg) < 0)                                            \
			return errf(err, errlen, "KVM: %s: %s", what, strerror(errno)); \
	} while (0)

int vmstate_msr_list(int kvmfd, uint32_t *idx, uint32_t max, char *err, size_t errlen)
{
	struct {
		struct kvm_msr_list hdr;
		uint32_t idx[1024];
	} l = { .hdr.nmsrs = 1024 };
	KVM_DO(kvmfd, KVM_GET_MSR_INDEX_LIST, &l, "KVM_GET_MSR_INDEX_LIST");
	uint32_t n = l.hdr.nmsrs < max ? l.hdr.nmsrs : max;
	memcpy(idx, l.idx, n * sizeof(idx[0]));
	return (int)n;
}

static uint64_t mono_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

int vcpu_state_get(int vcpufd, const uint32_t *msrs, uint32_t nmsrs, struct vcpu_state *s,
		   struct vmstate_msrs *m, uint64_t *msr_ns, char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	KVM_DO(vcpufd, KVM_GET_REGS, &s->regs, "KVM_GET_REGS");
	KVM_DO(vcpufd, KVM_GET_SREGS, &s->sregs, "KVM_GET_SREGS");
	KVM_DO(vcpufd, KVM_GET_XSAVE, s->xsave, "KVM_GET_XSAVE");
	KVM_DO(vcpufd, KVM_GET_XCRS, &s->xcrs, "KVM_GET_XCRS");
	KVM_DO(vcpufd, KVM_GET_DEBUGREGS, &s->dregs, "KVM_GET_DEBUGREGS");
	KVM_DO(vcpufd, KVM_GET_LAPIC, &s->lapic, "KVM_GET_LAPIC");
	KVM_DO(vcpufd, KVM_GET_MP_STATE, &s->mp, "KVM_GET_MP_STATE");
	KVM_DO(vcpufd, KVM_GET_VCPU_EVENTS, &s->events, "KVM_GET_VCPU_EVENTS");
	struct {
		struct kvm_cpuid2 hdr;
		struct kvm_cpuid_entry2 e[VMSTATE_MAX_CPUID];
	} c = { .hdr.nent = VMSTATE_MAX_CPUID };
	KVM_DO(vcpufd, KVM_GET_CPUID2, &c, "KVM_GET_CPUID2");
	s->ncpuid = c.hdr.nent;
	memcpy(s->cpuid, c.e, c.hdr.nent * sizeof(c.e[0]));
	if (nmsrs > VMSTATE_MAX_MSRS)
		return errf(err, errlen, "%u MSRs to save, at most %d", nmsrs, VMSTATE_MAX_MSRS);
	/*
	 * KVM lists some MSRs that exist only with CPUID bits this guest lacks,
	 * and a read stops at the first it refuses: skip that one, read on.
	 */
	for (uint32_t from = 0; from < nmsrs;) {
		m->nmsrs = nmsrs - from;
		for (uint32_t i = from; i < nmsrs; i++)
			m->e[i - from] = (struct kvm_msr_entry){ .index = msrs[i] };
		int got = ioctl(vcpufd, KVM_GET_MSRS, m);
		if (from == 0)
			*msr_ns = mono_ns();
		if (got < 0)
			return errf(err, errlen, "KVM: KVM_GET_MSRS: %s", strerror(errno));
		memcpy(&s->msrs[s->nmsrs], m->e, (size_t)got * sizeof(m->e[0]));
		s->nmsrs += (uint32_t)got;
		from += (uint32_t)got + 1;
	}
	return 0;
}

/*
 * The order matters: CPUID before anything KVM checks against it; special
 * registers (paging, EFER) before the general ones; the LAPIC before the
 * MSRs, since KVM drops a TSC-deadline write unless the LAPIC timer is in
 * TSC-deadline mode; pending events and the run state last.
 */
/* A state no vCPU or VM can take (the caller exits 2 on EINVAL, not 1). */
static int invalid(int rc)
{
	errno = EINVAL;
	return rc;
}

int vcpu_state_set(int vcpufd, const struct vcpu_state *s, struct vmstate_msrs *scratch,
		   uint64_t *msr_ns, char *err, size_t errlen)
{
	if (s->ncpuid > VMSTATE_MAX_CPUID || s->nmsrs > VMSTATE_MAX_MSRS)
		return invalid(errf(err, errlen, "vCPU state: %u CPUID entries, %u MSRs: too many",
				    s->ncpuid, s->nmsrs));
	struct {
		struct kvm_cpuid2 hdr;
		struct kvm_cpuid_entry2 e[VMSTATE_MAX_CPUID];
	} c = { .hdr.nent = s->ncpuid };
	memcpy(c.e, s->cpuid, s->ncpuid * sizeof(c.e[0]));
	/* None: the vCPU keeps its own (a restart: KVM takes CPUID only before KVM_RUN). */
	if (s->ncpuid)
		KVM_DO(vcpufd, KVM_SET_CPUID2, &c, "KVM_SET_CPUID2 (the snapshot's CPUID)");
	KVM_DO(vcpufd, KVM_SET_SREGS, &s->sregs, "KVM_SET_SREGS");
	KVM_DO(vcpufd, KVM_SET_REGS, &s->regs, "KVM_SET_REGS");
	KVM_DO(vcpufd, KVM_SET_XSAVE, s->xsave, "KVM_SET_XSAVE");
	KVM_DO(vcpufd, KVM_SET_XCRS, &s->xcrs, "KVM_SET_XCRS");
	KVM_DO(vcpufd, KVM_SET_DEBUGREGS, &s->dregs, "KVM_SET_DEBUGREGS");
	KVM_DO(vcpufd, KVM_SET_LAPIC, &s->lapic, "KVM_SET_LAPIC");
	/*
	 * The TSC goes in on its own, after the rest and right before its
	 * timestamp (the caller matches kvmclock to it: writing the other MSRs
	 * can take milliseconds), and the TSC deadline after the TSC it is
	 * measured against. msr_ns NULL: both are left to vm_time_set.
	 */
	struct vmstate_msrs *m = scratch ? scratch : calloc(1, sizeof(*m));
	if (!m)
		return errf(err, errlen, "out of memory");
	m->nmsrs = 0;
	struct kvm_msr_entry tsc = { .index = 0 }, deadline = { .index = 0 };
	for (uint32_t i = 0; i < s->nmsrs; i++)
		if (s->msrs[i].index == MSR_TSC)
			tsc = s->msrs[i];
		else if (s->msrs[i].index == MSR_TSC_DEADLINE)
			deadline = s->msrs[i];
		else
			m->e[m->nmsrs++] = s->msrs[i];
	uint32_t want = m->nmsrs;
	int put = ioctl(vcpufd, KVM_SET_MSRS, m);
	if (msr_ns)
		*msr_ns = mono_ns(); /* no TSC listed: now will do */
	uint32_t bad = put >= 0 && (uint32_t)put < want ? m->e[put].index : 0;
	for (int k = 0; k < 2 && put == (int)want && msr_ns; k++) {
		struct kvm_msr_entry one = k == 0 ? tsc : deadline;
		if (one.index == 0)
			continue;
		m->nmsrs = 1, m->e[0] = one, want = 1;
		put = ioctl(vcpufd, KVM_SET_MSRS, m);
		bad = one.index;
		if (k == 0)
			*msr_ns = mono_ns();
	}
	if (m != scratch)
		free(m);
	if (put != (int)want)
		return invalid(errf(err, errlen, "KVM: KVM_SET_MSRS: MSR 0x%x refused", bad));
	KVM_DO(vcpufd, KVM_SET_VCPU_EVENTS, &s->events, "KVM_SET_VCPU_EVENTS");
	KVM_DO(vcpufd, KVM_SET_MP_STATE, &s->mp, "KVM_SET_MP_STATE");
	return 0;
}

const struct kvm_msr_entry *vcpu_msr(const struct vcpu_state *s, uint32_t index)
{
	for (uint32_t i = 0; i < s->nmsrs; i++)
		if (s->msrs[i].index == index)
			return &s->msrs[i];
	return NULL;
}

static int msr_put(int vcpufd, const struct kvm_msr_entry *e, char *err, size_t errlen)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e;
	} m = { .hdr.nmsrs = 1, .e = *e };
	if (ioctl(vcpufd, KVM_SET_MSRS, &m) != 1)
		return invalid(errf(err, errlen, "KVM: KVM_SET_MSRS: MSR 0x%x refused", e->index));
	return 0;
}

/*
 * KVM's own terms, where it offers them (KVM_VCPU_TSC_OFFSET, Linux 5.16;
 * KVM_GET_CLOCK's host TSC, when the host's clock runs on its TSC): the
 * kvmclock KVM_GET_CLOCK reports and the host TSC it was read at are one
 * instant, so each vCPU's TSC offset is computed to match it, and no time
 * spent in user space between two ioctls shows as skew. A TSC written as an
 * MSR also passes KVM's "the guest is syncing its TSCs" guess: a value
 * within a second of the one it expects is taken as a sync and replaced.
 * 1 done; 0 not offered (the TSCs untouched: time_by_msr sets both); -1 error.
 */
static int time_by_offset(int vmfd, const int *fds, const struct vcpu_state *cpus, int n,
			  uint64_t clock_ns, char *err, size_t errlen)
{
	struct kvm_device_attr a = { .group = KVM_VCPU_TSC_CTRL, .attr = KVM_VCPU_TSC_OFFSET };
	const struct kvm_msr_entry *tsc0 = vcpu_msr(&cpus[0], MSR_TSC);
	int khz = ioctl(fds[0], KVM_GET_TSC_KHZ, 0);
	if (!tsc0 || khz <= 0 || ioctl(fds[0], KVM_HAS_DEVICE_ATTR, &a) < 0)
		return 0;
	struct kvm_clock_data c = { .clock = clock_ns }, now = { .flags = 0 };
	KVM_DO(vmfd, KVM_SET_CLOCK, &c, "KVM_SET_CLOCK");
	KVM_DO(vmfd, KVM_GET_CLOCK, &now, "KVM_GET_CLOCK");
	if (!(now.flags & KVM_CLOCK_HOST_TSC) || now.clock < clock_ns)
		return 0;
	/*
	 * vCPU 0's TSC at now.host_tsc: its saved value plus the kvmclock time
	 * since it was set. kvmrun never scales a guest's TSC (no
	 * KVM_SET_TSC_KHZ), so guest TSC = host TSC + offset.
	 */
	unsigned __int128 cycles = (unsigned __int128)(now.clock - clock_ns) * (uint64_t)khz;
	uint64_t since = (uint64_t)(cycles / 1000000u);
	uint64_t base = tsc0->data + since - now.host_tsc;
	for (int i = 0; i < n; i++) {
		/*
		 * The vCPUs' TSCs were in step when saved (read one after the
		 * other): one offset for all, as KVM keeps them. A guest that
		 * set one apart by more than a second keeps the difference.
		 */
		const struct kvm_msr_entry *t = vcpu_msr(&cpus[i], MSR_TSC);
		int64_t apart = t ? (int64_t)(t->data - tsc0->data) : 0;
		uint64_t off = base;
		if (apart > (int64_t)khz * 1000 || apart < -(int64_t)khz * 1000)
			off += (uint64_t)apart;
		a.addr = (uint64_t)(uintptr_t)&off;
		KVM_DO(fds[i], KVM_SET_DEVICE_ATTR, &a, "KVM_SET_DEVICE_ATTR (TSC offset)");
	}
	return 1;
}

/* Without KVM_VCPU_TSC_OFFSET: each TSC as an MSR, then kvmclock matched to vCPU 0's. */
static int time_by_msr(int vmfd, const int *fds, const struct vcpu_state *cpus, int n,
		       uint64_t clock_ns, char *err, size_t errlen)
{
	uint64_t t0 = mono_ns();
	for (int i = 0; i < n; i++) {
		const struct kvm_msr_entry *t = vcpu_msr(&cpus[i], MSR_TSC);
		if (t && msr_put(fds[i], t, err, errlen) < 0)
			return -1;
		if (i == 0)
			t0 = mono_ns();
	}
	struct kvm_clock_data c = { .clock = clock_ns + (mono_ns() - t0) };
	KVM_DO(vmfd, KVM_SET_CLOCK, &c, "KVM_SET_CLOCK");
	return 0;
}

int vm_time_set(int vmfd, const int *vcpufds, const struct vcpu_state *cpus, int n,
		uint64_t clock_ns, char *err, size_t errlen)
{
	int exact = time_by_offset(vmfd, vcpufds, cpus, n, clock_ns, err, errlen);
	if (exact == 0 && time_by_msr(vmfd, vcpufds, cpus, n, clock_ns, err, errlen) < 0)
		return -1;
	if (exact < 0)
		return -1;
	/* A deadline is counted in the guest's TSC: it goes in after that is right. */
	for (int i = 0; i < n; i++) {
		const struct kvm_msr_entry *d = vcpu_msr(&cpus[i], MSR_TSC_DEADLINE);
		if (d && msr_put(vcpufds[i], d, err, errlen) < 0)
			return -1;
	}
	return exact;
}

int vm_state_get(int vmfd, bool pit, struct vm_state *s, char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	KVM_DO(vmfd, KVM_GET_CLOCK, &s->clock, "KVM_GET_CLOCK");
	s->pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
	s->pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
	s->ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
	KVM_DO(vmfd, KVM_GET_IRQCHIP, &s->pic_master, "KVM_GET_IRQCHIP (PIC master)");
	KVM_DO(vmfd, KVM_GET_IRQCHIP, &s->pic_slave, "KVM_GET_IRQCHIP (PIC slave)");
	KVM_DO(vmfd, KVM_GET_IRQCHIP, &s->ioapic, "KVM_GET_IRQCHIP (IOAPIC)");
	if (pit)
		KVM_DO(vmfd, KVM_GET_PIT2, &s->pit, "KVM_GET_PIT2");
	s->has_pit = pit;
	return 0;
}

int vm_state_set(int vmfd, const struct vm_state *s, char *err, size_t errlen)
{
	if (s->pic_master.chip_id != KVM_IRQCHIP_PIC_MASTER ||
	    s->pic_slave.chip_id != KVM_IRQCHIP_PIC_SLAVE ||
	    s->ioapic.chip_id != KVM_IRQCHIP_IOAPIC)
		return invalid(errf(err, errlen, "VM state: interrupt controllers out of order"));
	KVM_DO(vmfd, KVM_SET_IRQCHIP, &s->pic_master, "KVM_SET_IRQCHIP (PIC master)");
	KVM_DO(vmfd, KVM_SET_IRQCHIP, &s->pic_slave, "KVM_SET_IRQCHIP (PIC slave)");
	KVM_DO(vmfd, KVM_SET_IRQCHIP, &s->ioapic, "KVM_SET_IRQCHIP (IOAPIC)");
	if (s->has_pit)
		KVM_DO(vmfd, KVM_SET_PIT2, &s->pit, "KVM_SET_PIT2");
	return 0;
}

void vcpu_clock_paused(int vcpufd)
{
	/* EINVAL: the guest has not enabled kvmclock; nothing to tell. */
	if (ioctl(vcpufd, KVM_KVMCLOCK_CTRL, 0) < 0) {
	}
}
