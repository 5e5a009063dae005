// SPDX-License-Identifier: Apache-2.0
/* The --metrics lines: counters of the vCPUs, devices, console and seccomp, as one JSON object. */
#include "vm.h"

#include <stdio.h>

#include "acpi_pm.h"
#include "endpoints.h"
#include "metrics.h"
#include "seccomp.h"
#include "serial.h"
#include "virtio_blk.h"
#include "virtio_net.h"

/* A queue's limiter: requests that had to wait and for how long (absent: no limiter). */
static void limiter(struct jline *j, const char *name, struct virtio_dev *vd, unsigned q)
{
	struct rl_stats st;
	if (!virtio_limit_stats(vd, q, &st))
		return;
	j_obj(j, name);
	j_u64(j, "throttled", st.throttled);
	j_u64(j, "throttled_us", st.throttled_ns / 1000);
	j_end(j);
}

static void put_devices(struct vm *vm, struct jline *j)
{
	char name[16];
	j_obj(j, "disks");
	for (int i = 0; i < vm->opt.ndisks; i++) {
		struct blk_stats s;
		blk_get_stats(vm->blks[i], &s);
		snprintf(name, sizeof(name), "vd%c", 'a' + i);
		j_obj(j, name);
		j_u64(j, "requests", s.requests);
		j_u64(j, "bytes_read", s.bytes_read);
		j_u64(j, "bytes_written", s.bytes_written);
		j_u64(j, "errors", s.errors);
		j_u64(j, "ignored_accesses", s.ignored);
		limiter(j, "rate_limiter", blk_virtio(vm->blks[i]), 0);
		j_end(j);
	}
	j_end(j);
	j_obj(j, "nets");
	for (int i = 0; i < vm->opt.nnets; i++) {
		struct net_stats s;
		net_get_stats(vm->nets[i], &s);
		snprintf(name, sizeof(name), "eth%d", i);
		j_obj(j, name);
		j_u64(j, "rx_frames", s.rx_frames);
		j_u64(j, "rx_bytes", s.rx_bytes);
		j_u64(j, "tx_frames", s.tx_frames);
		j_u64(j, "tx_bytes", s.tx_bytes);
		j_u64(j, "rx_dropped", s.rx_oversize);
		j_u64(j, "tx_dropped", s.tx_dropped);
		j_u64(j, "errors", s.rx_errors + s.tx_errors);
		j_u64(j, "bad_length", s.rx_bad_length);
		j_u64(j, "link_up", s.link_downs == 0);
		j_u64(j, "ignored_accesses", s.ignored);
		limiter(j, "rx_rate_limiter", net_virtio(vm->nets[i]), NET_RXQ);
		limiter(j, "tx_rate_limiter", net_virtio(vm->nets[i]), NET_TXQ);
		j_end(j);
	}
	j_end(j);
}

/* Exits of one kind, all vCPUs. */
static uint64_t exits(struct vm *vm, enum cpu_exit_kind k)
{
	uint64_t sum = 0;
	for (int i = 0; i < vm->opt.cpus; i++)
		sum += atomic_load_explicit(&vm->cpus[i].exits[k], memory_order_relaxed);
	return sum;
}

/* A disk's counters under Firecracker's names (BlockDeviceMetrics). */
static void fc_block(struct jline *j, const char *name, const struct blk_stats *s,
		     uint64_t throttled)
{
	j_obj(j, name);
	j_u64(j, "read_bytes", s->bytes_read);
	j_u64(j, "write_bytes", s->bytes_written);
	j_u64(j, "execute_fails", s->errors);
	j_u64(j, "invalid_reqs_count", s->ignored);
	j_u64(j, "rate_limiter_throttled_events", throttled);
	j_end(j);
}

/* A NIC's counters under Firecracker's names (NetDeviceMetrics). */
static void fc_net(struct jline *j, const char *name, const struct net_stats *s,
		   uint64_t rx_throttled, uint64_t tx_throttled)
{
	j_obj(j, name);
	j_u64(j, "rx_bytes_count", s->rx_bytes);
	j_u64(j, "rx_packets_count", s->rx_frames);
	j_u64(j, "rx_fails", s->rx_errors + s->rx_oversize);
	j_u64(j, "tx_bytes_count", s->tx_bytes);
	j_u64(j, "tx_packets_count", s->tx_frames);
	j_u64(j, "tx_fails", s->tx_errors + s->tx_dropped);
	j_u64(j, "rx_rate_limiter_throttled", rx_throttled);
	j_u64(j, "tx_rate_limiter_throttled", tx_throttled);
	j_end(j);
}

static uint64_t throttled(struct virtio_dev *vd, unsigned q)
{
	struct rl_stats st;
	return virtio_limit_stats(vd, q, &st) ? st.throttled : 0;
}

/*
 * The same counters again under Firecracker's metric names and nesting
 * ("block", "block_<drive_id>", "net", "net_<iface_id>", "vcpu", the API's
 * requests), so a parser written for Firecracker's metrics reads them.
 */
static void put_firecracker(struct vm *vm, struct jline *j)
{
	char name[96];
	struct blk_stats bsum = { 0 };
	struct net_stats nsum = { 0 };
	uint64_t bthr = 0, rthr = 0, tthr = 0;
	for (int i = 0; i < vm->opt.ndisks; i++) {
		struct blk_stats s;
		uint64_t t = throttled(blk_virtio(vm->blks[i]), 0);
		blk_get_stats(vm->blks[i], &s);
		snprintf(name, sizeof(name), "block_%s", vm->opt.disk_ids[i]);
		if (!vm->opt.disk_ids[i][0])
			snprintf(name, sizeof(name), "block_disk%d", i);
		fc_block(j, name, &s, t);
		bsum.bytes_read += s.bytes_read, bsum.bytes_written += s.bytes_written;
		bsum.errors += s.errors, bsum.ignored += s.ignored, bthr += t;
	}
	fc_block(j, "block", &bsum, bthr);
	for (int i = 0; i < vm->opt.nnets; i++) {
		struct net_stats s;
		uint64_t r = throttled(net_virtio(vm->nets[i]), NET_RXQ);
		uint64_t t = throttled(net_virtio(vm->nets[i]), NET_TXQ);
		net_get_stats(vm->nets[i], &s);
		snprintf(name, sizeof(name), "net_%s", vm->opt.net_ids[i]);
		if (!vm->opt.net_ids[i][0])
			snprintf(name, sizeof(name), "net_net%d", i);
		fc_net(j, name, &s, r, t);
		nsum.rx_bytes += s.rx_bytes, nsum.rx_frames += s.rx_frames;
		nsum.rx_errors += s.rx_errors + s.rx_oversize, nsum.tx_bytes += s.tx_bytes;
		nsum.tx_frames += s.tx_frames, nsum.tx_errors += s.tx_errors + s.tx_dropped;
		rthr += r, tthr += t;
	}
	fc_net(j, "net", &nsum, rthr, tthr);
	j_obj(j, "vcpu");
	j_u64(j, "exit_io_in", exits(vm, CPU_EXIT_IO_IN));
	j_u64(j, "exit_io_out", exits(vm, CPU_EXIT_IO_OUT));
	j_u64(j, "exit_mmio_read", exits(vm, CPU_EXIT_MMIO_READ));
	j_u64(j, "exit_mmio_write", exits(vm, CPU_EXIT_MMIO_WRITE));
	j_u64(j, "failures", exits(vm, CPU_EXIT_INTERNAL_ERROR) + exits(vm, CPU_EXIT_FAIL_ENTRY));
	j_end(j);
	if (vm->endpoints)
		endpoints_metrics(vm->endpoints, j);
}

void vm_report(struct vm *vm, const char *event, int status)
{
	struct jline j;
	if (vm->metrics.fd < 0)
		return;
	j_begin(&j);
	j_u64(&j, "ts_us", vm_since_main_us(vm, log_now_ns()));
	j_str(&j, "event", event);
	if (status >= 0) {
		j_u64(&j, "status", (uint64_t)status);
		j_str(&j, "reason", vm->stop_msg);
	}
	j_obj(&j, "boot");
	j_u64(&j, "first_run_us", vm_since_main_us(vm, vm->t_first_run));
	j_u64(&j, "init_us", vm_since_main_us(vm, vm->t_init));
	j_end(&j);
	j_obj(&j, "exits"); /* "io" and "mmio" both ways, as the README shows them */
	j_u64(&j, "io", exits(vm, CPU_EXIT_IO_IN) + exits(vm, CPU_EXIT_IO_OUT));
	j_u64(&j, "mmio", exits(vm, CPU_EXIT_MMIO_READ) + exits(vm, CPU_EXIT_MMIO_WRITE));
	for (int k = CPU_EXIT_MMIO_WRITE + 1; k < CPU_EXIT_KINDS; k++)
		j_u64(&j, cpu_exit_name((enum cpu_exit_kind)k), exits(vm, (enum cpu_exit_kind)k));
	j_end(&j);
	put_devices(vm, &j);
	j_u64(&j, "reboots", vm->reboots); /* --on-reboot restart: machine restarts so far */
	j_obj(&j, "serial");
	j_u64(&j, "dropped_bytes", serial_dropped(vm->serial));
	j_u64(&j, "limited_bytes", vm->con.dropped); /* over --console-limit */
	j_end(&j);
	j_obj(&j, "seccomp");
	j_bool(&j, "enabled", !vm->opt.no_seccomp);
	/* main's filter is the snapshot (or restart) role's when those may happen. */
	j_u64(&j, "main_rules", (uint64_t)seccomp_count(vm_main_role(vm), NULL));
	j_u64(&j, "vcpu_rules", (uint64_t)seccomp_count(SECCOMP_VCPU, NULL));
	j_u64(&j, "io_rules", (uint64_t)seccomp_count(SECCOMP_IO, NULL));
	j_u64(&j, "net_rules", (uint64_t)seccomp_count(SECCOMP_NET, NULL));
	j_end(&j);
	j_obj(&j, "errors");
	j_u64(&j, "acpi_ignored_writes", acpi_pm_ignored(vm->pm));
	j_end(&j);
	put_firecracker(vm, &j);
	if (metrics_emit(&vm->metrics, &j) < 0)
		log_msg(&vm->log, LOG_WARN, "--metrics: a line was lost");
}
