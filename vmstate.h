/* SPDX-License-Identifier: Apache-2.0 */
/* The VM's and each vCPU's state inside KVM, read out and put back (snapshot and restore). */
#ifndef KVMRUN_VMSTATE_H
#define KVMRUN_VMSTATE_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VMSTATE_MAX_MSRS 256
#define MSR_TSC 0x10u
#define MSR_TSC_DEADLINE 0x6e0u
#define VMSTATE_MAX_CPUID 128

/* One vCPU: everything KVM holds for it that the guest can see. */
struct vcpu_state {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	uint8_t xsave[4096]; /* struct kvm_xsave (KVM_GET_XSAVE's fixed size) */
	struct kvm_xcrs xcrs;
	struct kvm_debugregs dregs;
	struct kvm_lapic_state lapic;
	struct kvm_mp_state mp;
	struct kvm_vcpu_events events;
	uint32_t nmsrs, ncpuid;
	struct kvm_msr_entry msrs[VMSTATE_MAX_MSRS];
	struct kvm_cpuid_entry2 cpuid[VMSTATE_MAX_CPUID];
};

/* The saved MSR `index` of s, or NULL. */
const struct kvm_msr_entry *vcpu_msr(const struct vcpu_state *s, uint32_t index);

/* The VM: its clock and the in-kernel interrupt controllers and PIT. */
struct vm_state {
	struct kvm_clock_data clock;
	struct kvm_irqchip pic_master, pic_slave, ioapic;
	struct kvm_pit_state2 pit;
	uint32_t has_pit;
};

/*
 * The MSRs KVM can save (KVM_GET_MSR_INDEX_LIST on /dev/kvm), taken at
 * set-up while /dev/kvm is open. The count, or -1 with err set.
 */
int vmstate_msr_list(int kvmfd, uint32_t *idx, uint32_t max, char *err, size_t errlen);

/* Room for one MSR read or write; allocated ahead (a snapshot allocates nothing). */
struct vmstate_msrs {
	uint32_t nmsrs, pad; /* struct kvm_msrs */
	struct kvm_msr_entry e[VMSTATE_MAX_MSRS];
};

/*
 * Read a vCPU that is out of KVM_RUN (the listed MSRs it has), using
 * `scratch`. *msr_ns: CLOCK_MONOTONIC when its TSC was read (vcpu_state_set:
 * written), so kvmclock can be matched to it. 0, or -1 with err naming the ioctl.
 */
int vcpu_state_get(int vcpufd, const uint32_t *msrs, uint32_t nmsrs, struct vcpu_state *s,
		   struct vmstate_msrs *scratch, uint64_t *msr_ns, char *err, size_t errlen);
/*
 * Put one back into a fresh vCPU (its CPUID first: KVM checks the rest
 * against it; ncpuid 0 keeps the vCPU's own, as a restart must). scratch:
 * KVM_SET_MSRS's buffer, or NULL to allocate one. msr_ns NULL: the TSC and
 * its deadline are left out, for vm_time_set. 0, or -1 with err set and
 * errno EINVAL when the state is one no vCPU can take (too many entries, an
 * MSR KVM refuses), else the ioctl's errno.
 */
int vcpu_state_set(int vcpufd, const struct vcpu_state *s, struct vmstate_msrs *scratch,
		   uint64_t *msr_ns, char *err, size_t errlen);

int vm_state_get(int vmfd, bool pit, struct vm_state *s, char *err, size_t errlen);
/* The interrupt controllers and PIT; the clock is vm_clock_set's. errno as vcpu_state_set. */
int vm_state_set(int vmfd, const struct vm_state *s, char *err, size_t errlen);
/*
 * The guest's time, after vcpu_state_set(..., NULL, ...) on each of the n
 * vCPUs: their saved TSCs and kvmclock (clock_ns: kvmclock at vCPU 0's
 * saved TSC) put back as one instant, then the TSC deadlines. 1 when KVM
 * took the TSCs as offsets (exact), 0 when as MSRs (the time between two
 * ioctls is skew the guest may see), -1 with err.
 */
int vm_time_set(int vmfd, const int *vcpufds, const struct vcpu_state *cpus, int n,
		uint64_t clock_ns, char *err, size_t errlen);

/* Tell KVM the guest was paused, so kvmclock guests do not see a soft lockup (best effort). */
void vcpu_clock_paused(int vcpufd);

#endif
