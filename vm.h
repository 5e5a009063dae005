/* SPDX-License-Identifier: Apache-2.0 */
/* The VM as vmm.c, eventloop.c and report.c share it: its state, and vm.c's common helpers. */
#ifndef KVMRUN_VM_H
#define KVMRUN_VM_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "boot.h"
#include "boottimer.h"
#include "bus.h"
#include "console.h"
#include "cpu.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "options.h"
#include "seccomp.h"
#include "snappath.h"
#include "vmstate.h"

#define MAX_DEVICES (MAX_DISKS + MAX_NETS)

/*
 * A memory file's lease is breaking (F_SETSIG): a real-time signal, so it
 * queues and is never merged into one already pending (a stray SIGIO).
 */
#define LEASE_SIGNAL (SIGRTMIN + 1)

struct acpi_pm;
struct api;
struct api_resp;
struct blk;
struct endpoints;
struct i8042;
struct net;
struct serial;
struct teardown;

/*
 * The VM and its devices: kvmrun's one piece of mutable process-wide state.
 * vmm.c owns the one instance (set up, then started); eventloop.c and
 * report.c get it by pointer.
 */
struct vm {
	struct options opt;
	int kvmfd, vmfd;
	struct guest_mem mem;
	struct bus pio, mmio;
	struct boot_entry entry;
	struct kvm_cpuid2 *cpuid;
	struct cpu_env env;
	struct cpu *cpus;
	struct serial *serial;
	struct i8042 *kbd;
	struct acpi_pm *pm;
	struct boot_timer timer;
	struct blk *blks[MAX_DISKS];
	struct net *nets[MAX_NETS];
	int ndevices;	  /* virtio-mmio windows: disks first, then NICs */
	uint8_t *windows; /* their registers, mapped read-only into the guest; or NULL */
	char devices_cmdline[MAX_DEVICES * 48];
	struct console con;
	struct log log;
	struct metrics_sink metrics;
	int serial_fd; /* eventfd: console output ready / input room */
	int stop_fd;   /* eventfd: a vCPU ended the VM */
	int reboot_fd; /* eventfd: --on-reboot restart: the guest asked to reboot */
	atomic_bool stopping;
	atomic_int rebooting; /* 1: vCPUs hold outside KVM_RUN while main resets the machine */
	char reboot_msg[128];
	uint64_t reboots;	 /* restarts done */
	struct restart *restart; /* --on-reboot restart: the machine as it was at boot */
	atomic_int stop_why;
	char stop_msg[256];
	/* Start-up: no thread runs the guest before every thread and the child are confined. */
	struct teardown *teardown; /* the teardown child, or NULL */
	atomic_int reported;	   /* threads that installed their filter, or failed to */
	atomic_int io_threads, net_threads, vcpu_threads; /* threads started, for their names */
	atomic_int go;					  /* 1: the vCPUs may run */
	uint64_t t_main, t_first_run, t_init;		  /* CLOCK_MONOTONIC ns; 0: not yet */
	/* Snapshots (snapshot.c): parked vCPUs, the files, what a restore read. */
	atomic_int pause, parked;
	int snap_fd;	   /* eventfd: the guest signalled init, snapshot due */
	int snap_files[4]; /* state, memory, config.json, dirty in --snapshot-dir */
	int pagemap_fd;	   /* --track-dirty: /proc/self/pagemap */
	int limits_fd;	   /* --limits FILE, kept open to re-read on SIGHUP; or -1 */
	struct limits_scratch *limits_buf; /* vm_limits_apply's, made at its first call */
	uint8_t *snap_dirty;		   /* --track-dirty: room for the dirty bitmap */
	uint32_t msrs[VMSTATE_MAX_MSRS];   /* the MSRs a snapshot saves */
	uint32_t nmsrs;
	struct snapshot *restored; /* --restore: the state read, until put back */
	uint32_t restored_crc;	   /* its state file's CRC (a diff's base_crc) */
	/*
	 * --restore: its memory files (a diff chain's too), each under a read
	 * lease, so a truncation or a writer's open is told (LEASE_SIGNAL)
	 * before it proceeds; with each one's path. unwatched: why a lease
	 * could not be taken (errno of the first refusal), or 0.
	 */
	int lease_fd[SNAP_MAX_CHAIN + 1];
	char *lease_path[SNAP_MAX_CHAIN + 1];
	int nleases, unwatched;
	struct snapshot *snap; /* --snapshot-dir: room for one, allocated ahead */
	uint8_t *snap_buf;     /* and for its state file's bytes */
	struct vmstate_msrs *snap_msrs;
	/* --api-sock: the socket (api.c), the endpoints' state, main's answer to fill. */
	struct api *api;
	struct endpoints *endpoints;
	struct api_resp *api_resp;
	bool api_started; /* the guest runs: pre-boot calls are refused */
	bool api_held;	  /* main holds InstanceStart's request until the guest runs */
	bool api_paused;  /* PATCH /vm Paused */
	bool confined;	  /* main's filter is on: it can no longer remove the socket */
	/* KVMRUN_TRACE_BOOT: when each start-up stage ended, for bench/boot.sh. */
	bool trace;
	bool kvm_made; /* kvmfd, vmfd, cpuid and msrs are there (make_vm) */
	int nstages;
	struct {
		const char *name;
		uint64_t t;
	} stages[16];
};

/* End the process with `status` after one line on stderr (and the log), terminal restored. */
__attribute__((format(printf, 3, 4), noreturn)) void vm_die(struct vm *vm, int status,
							    const char *fmt, ...);
/* Microseconds from main() to CLOCK_MONOTONIC time t (0 stays 0: "not yet"). */
uint64_t vm_since_main_us(const struct vm *vm, uint64_t t);
/* Note that a start-up stage ended (KVMRUN_TRACE_BOOT). */
void vm_stage(struct vm *vm, const char *name);
/* Virtio device i's transport (disks first, then NICs; i < ndevices). */
struct virtio_dev *vm_device(struct vm *vm, int i);
/*
 * --limits: read the file again (its fd, opened before the jail) and put
 * its limits on the devices it names, all or nothing. The number of devices
 * set, or -1 with err (nothing changed).
 */
int vm_limits_apply(struct vm *vm, char *err, size_t errlen);
/*
 * The machine as a --config file describes it (Firecracker's JSON): what it
 * was started with, limits as they are now; disks and NICs in order, with
 * their ids (or disk0.., net0..). For snapshots and GET /vm/config.
 */
struct jline;
void vm_describe(struct vm *vm, struct jline *j);
/*
 * Park every vCPU outside KVM_RUN (kick, then wait up to 2 s): true when all
 * are, false if the VM is ending or one did not come. Main thread only.
 */
bool vm_pause(struct vm *vm);
/* Main's seccomp role: main, snapshot (it may write snapshots) or restart (--on-reboot restart). */
enum seccomp_role vm_main_role(const struct vm *vm);
void vm_resume(struct vm *vm);
/* KVM_KVMCLOCK_CTRL on every vCPU of a paused VM: its watchdogs take the pause for no lockup. */
void vm_clock_paused(struct vm *vm);
/* What the user called device i (a disk's path, a NIC's tap), and its flag. */
const char *vm_device_name(const struct vm *vm, int i, const char **flag);

/* eventloop.c: the main thread's loop. */
struct vm_loop {
	int ep, sfd, tfd; /* epoll, signalfd, the SIGTERM grace timer */
	bool asked;	  /* a first SIGTERM asked the guest to shut down */
	bool out_added;	  /* the console's out_ep is in ep (armed one-shot when blocked) */
	bool in_off;	  /* stdin is not watched: the UART has no room for input */
};
/*
 * Block the signals the loop serves (SIGTERM, SIGINT, SIGHUP, SIGQUIT,
 * SIGUSR1, SIGUSR2) and the vCPU kick: main's first act, so that one sent
 * while kvmrun starts waits for the loop (or the API's wait for
 * InstanceStart) instead of killing it with its socket left behind and the
 * terminal raw. Threads made later inherit the mask.
 */
void vm_block_signals(void);
/* Block the loop's signals (before any vCPU thread exists) and open its fds. */
void vm_loop_open(struct vm *vm, struct vm_loop *l);
/* Serve signals, the console and the VM's stop until the end; never returns. */
__attribute__((noreturn)) void vm_loop_run(struct vm *vm, struct vm_loop *l);

/* report.c: one metrics line (event "exit" with status >= 0, or "sigusr1" with -1). */
void vm_report(struct vm *vm, const char *event, int status);

#endif
