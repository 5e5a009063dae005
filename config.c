// SPDX-License-Identifier: Apache-2.0
/*
 * Command-line flags and the Firecracker-style --config JSON file, turned
 * into one validated struct options. Every bad input ends the process here
 * with one line naming the flag, file or field, and status 2.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fcjson.h"
#include "layout.h"
#include "mptable.h"
#include "snappath.h"

#ifndef KVMRUN_VERSION
#define KVMRUN_VERSION "dev"
#endif

#define DEFAULT_MEM (128ULL << 20)
#define MIN_MEM (4ULL << 20)

static const char usage_text[] =
	"Usage: kvmrun --kernel FILE [options]\n"
	"       kvmrun --config FILE [options]\n"
	"       kvmrun --api-sock PATH [options]\n"
	"Boot a Linux (bzImage, PVH ELF or ELF vmlinux) guest on KVM with a serial console.\n"
	"Inherited file descriptors other than 0-2 and those named here are closed.\n"
	"\n"
	"  -k, --kernel FILE        kernel to boot (format detected from the file)\n"
	"  -i, --initrd FILE        initial ramdisk\n"
	"  -c, --cmdline STR        appended to the default kernel command line:\n"
	"                           \"" DEFAULT_CMDLINE "\"\n"
	"  -m, --memory SIZE        guest RAM, e.g. 512M, 2G (default 128M; no suffix means MiB;\n"
	"                           4M to the host's RAM, a multiple of 4K)\n"
	"  -n, --cpus N             vCPUs, 1 to 254 (default 1)\n"
	"      --disk PATH[,ro][,serial=ID][,cache=unsafe|writeback][,bw=RATE][,iops=N]\n"
	"                           virtio-blk disk: raw image or block device (repeatable:\n"
	"                           16 disks, 8 NICs, 19 devices in all);\n"
	"                           bw=/iops= limit it (also bw-burst=, iops-burst=)\n"
	"      --net tap=NAME | fd=N | stream=PATH [,mac=MAC][,rx-bw=RATE][,tx-bw=RATE]...\n"
	"                           virtio-net interface on a tap device, or on passt's\n"
	"                           socket (stream=: no root needed) (repeatable);\n"
	"                           rx-bw=, tx-bw=, rx-ops=, tx-ops= (and -burst=) limit it\n"
	"      --limits FILE        rate limits per device (\"vda bw=10M\", \"eth0 rx-bw=2M\"),\n"
	"                           read at start and again on SIGHUP\n"
	"      --console KIND       stdio (default), none, file=PATH or fd=N\n"
	"      --console-limit RATE|off\n"
	"                           console output kept per second, the rest dropped and\n"
	"                           counted (64 s worth at once; default 64K for file=)\n"
	"      --config FILE        Firecracker-style JSON machine description; flags override it\n"
	"      --api-sock PATH      Firecracker's HTTP API on a Unix socket (mode 0600; must not\n"
	"                           exist); without a kernel, the API configures and starts it\n"
	"      --id ID              the instance's id in the API (GET /)\n"
	"      --config-file, --log-path, --metrics-path, --level, --no-api, --boot-timer\n"
	"                           Firecracker's names: --config, --log, --metrics,\n"
	"                           --log-level, no API (the default), the boot timer (always on)\n"
	"      --ready-fd N         write \"running US\" and \"init US\" lines to fd N\n"
	"      --metrics PATH       JSON-lines metrics (file or FIFO), at exit and on SIGUSR1\n"
	"      --log PATH           event log with monotonic timestamps\n"
	"      --log-level LEVEL    off, error, warn (warning), info (default) or debug\n"
	"                           (trace); any case\n"
	"      --shutdown-timeout S seconds the guest gets to shut down after SIGTERM, 0 to 3600\n"
	"                           (default 10; 0: ends right after its Ctrl-Alt-Del)\n"
	"      --on-reboot exit|restart\n"
	"                           what a guest reboot does: end kvmrun (default, status 0) or\n"
	"                           boot the same machine again in this process; poweroff exits\n"
	"      --no-acpi            no ACPI tables (devices stay on the command line)\n"
	"      --no-pit             no i8254 PIT (faster exit; for guests that need no PIT:\n"
	"                           Linux checks its timer through it, use no_timer_check)\n"
	"      --hugepages          guest RAM on 2 MiB transparent huge pages: fewer nested\n"
	"                           page faults (faster boot), more resident memory; the\n"
	"                           default when the kernel itself takes 2 MiB or more\n"
	"      --no-hugepages       guest RAM on 4 KiB pages: only what the guest touches is\n"
	"                           resident; the default for smaller kernels\n"
	"      --snapshot-dir DIR   on SIGUSR2, pause the guest and write a snapshot to DIR\n"
	"      --snapshot-on-ready DIR\n"
	"                           the same when the guest signals init (the boot timer)\n"
	"      --snapshot-then exit|resume\n"
	"                           after a snapshot, exit 0 (default) or let the guest run on\n"
	"      --restore DIR        run the guest a snapshot in DIR holds, from where it was\n"
	"                           (machine from the snapshot; --disk/--net replace its\n"
	"                           disks and NICs by position, else config.json names them)\n"
	"      --track-dirty        with --restore and --snapshot-dir: snapshots hold only the\n"
	"                           pages written since the restore, and name DIR as their base\n"
	"      --dump-acpi DIR      write the ACPI tables for this machine to DIR and exit\n"
	"      --chroot DIR         after opening every file, chroot into DIR (needs root)\n"
	"      --uid N, --gid N     after opening every file, run as this user and group\n"
	"                           (needs root; without them kvmrun runs as any user who may\n"
	"                           open /dev/kvm, and drops what capabilities it has)\n"
	"      --no-seccomp         run without the seccomp filters (debugging only; unsafe)\n"
	"      --seccomp-list, --seccomp-selftest ROLE\n"
	"                           test hooks, each given alone: print every thread role's\n"
	"                           allowlist; install ROLE's filter and make a forbidden call\n"
	"  -h, --help               this text\n"
	"  -V, --version            version\n"
	"Long flags are taken only in full (--mem is not --memory).\n"
	"\n"
	"Console: when stdin is a terminal it is put in raw mode; Ctrl-A x quits, Ctrl-A Ctrl-A\n"
	"sends a Ctrl-A.\n"
	"\n"
	"Exit status:\n"
	"  0    the guest reset or powered off (or Ctrl-A x)\n"
	"  1    runtime failure in kvmrun or the host (e.g. /dev/kvm unusable)\n"
	"  2    usage error: bad option, value, config file or input file\n"
	"  3    the guest faulted: KVM internal error, emulation failure or failed entry\n"
	"  128+N  ended by signal N (SIGTERM: the guest did not shut down in time)\n";

__attribute__((format(printf, 1, 2), noreturn)) static void usage_error(const char *fmt, ...)
{
	va_list ap;
	fputs("kvmrun: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see kvmrun --help)\n", stderr);
	exit(EXIT_USAGE);
}

/* What snapshots and restores cannot be combined with (yet, or ever). */
static void check_snapshot_flags(const struct options *o, const char *cfg, const char *machine,
				 bool then)
{
	if (then && !o->snapshot_dir)
		usage_error("--snapshot-then: needs --snapshot-dir or --snapshot-on-ready");
	if (o->track_dirty && (!o->restore_dir || !o->snapshot_dir))
		usage_error("--track-dirty: needs --restore (a diff is against the snapshot the "
			    "guest came from) and --snapshot-dir");
	if (!o->restore_dir)
		return;
	if (machine || cfg)
		usage_error("--restore %s: %s: the machine comes from the snapshot", o->restore_dir,
			    machine ? machine : "--config");
	if (o->snapshot_dir && strcmp(o->snapshot_dir, o->restore_dir) == 0)
		usage_error("--snapshot-dir %s: the snapshot this VM runs from (its memory file "
			    "must not change under it)",
			    o->snapshot_dir);
}

uint64_t config_parse_size(const char *s)
{
	char *end;
	errno = 0;
	if (*s < '0' || *s > '9')
		return 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return 0;
	unsigned shift = 20;
	bool unit = true;
	switch (*end) {
	case 'k':
	case 'K':
		shift = 10;
		end++;
		break;
	case 'm':
	case 'M':
		shift = 20;
		end++;
		break;
	case 'g':
	case 'G':
		shift = 30;
		end++;
		break;
	case 't':
	case 'T':
		shift = 40;
		end++;
		break;
	case 0:
		unit = false;
		break;
	default:
		return 0;
	}
	if (unit && *end == 'i') /* 2GiB, 2GB, 2G */
		end++;
	if (unit && *end == 'B')
		end++;
	if (*end || v > (UINT64_MAX >> shift))
		return 0;
	return (uint64_t)v << shift;
}

static int parse_int(const char *s, const char *flag, long lo, long hi)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end)
		usage_error("%s %s: not a number", flag, s);
	if (v < lo || v > hi)
		usage_error("%s %s: must be between %ld and %ld", flag, s, lo, hi);
	return (int)v;
}

static void check_memory(uint64_t bytes, const char *what)
{
	const long phys = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
	const uint64_t host_ram = (uint64_t)phys * (uint64_t)page;
	char v[32];
	if (bytes % (1u << 20))
		snprintf(v, sizeof(v), "%llu bytes", (unsigned long long)bytes);
	else
		snprintf(v, sizeof(v), "%llu MiB", (unsigned long long)(bytes >> 20));
	if (bytes < MIN_MEM)
		usage_error("%s %s: at least 4M is needed", what, v);
	if (bytes % 4096)
		usage_error("%s %s: not a multiple of 4 KiB", what, v);
	if (phys > 0 && bytes > host_ram)
		usage_error("%s %s: more than this host's %llu MiB of RAM", what, v,
			    (unsigned long long)(host_ram >> 20));
}

/* An fd handed in by the launcher must be open now. `flag` is printed before the value. */
static int parse_fd(const char *s, const char *flag)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > INT_MAX)
		usage_error("%s%s: not an fd number", flag, s);
	int fd = (int)v;
	if (fcntl(fd, F_GETFD) < 0)
		usage_error("%s%s: fd %d is not open", flag, s, fd);
	return fd;
}

static void parse_console(struct options *o, const char *v)
{
	if (strcmp(v, "stdio") == 0)
		o->console = CONSOLE_STDIO;
	else if (strcmp(v, "none") == 0)
		o->console = CONSOLE_NONE;
	else if (strncmp(v, "file=", 5) == 0 && v[5])
		o->console = CONSOLE_FILE, o->console_path = v + 5;
	else if (strncmp(v, "fd=", 3) == 0 && v[3])
		o->console = CONSOLE_FD, o->console_fd = parse_fd(v + 3, "--console fd=");
	else
		usage_error("--console %s: expected stdio, none, file=PATH or fd=N", v);
}

/* --console-limit RATE|off */
static void parse_console_limit(struct options *o, const char *v)
{
	o->console_limit = strcmp(v, "off") == 0 ? 0 : rl_parse_rate(v);
	if (o->console_limit < 0)
		usage_error("--console-limit %s: expected a rate (64K, 1M) or off", v);
}

static void parse_log_level(struct options *o, const char *v, const char *what)
{
	int level = fcjson_log_level(v);
	if (level < LOG_OFF)
		usage_error("%s %s: expected off, error, warn, info or debug", what, v);
	o->log_level = (enum log_level)level;
}

/*
 * --restore DIR: the disks and NICs are the snapshot's, as DIR/config.json
 * names them, each replaced by the --disk or --net given in its position
 * (a clone gets its own image copy and tap). A NIC keeps the snapshot's MAC
 * unless mac= is given: the guest configured its interface with it.
 */
void config_restore_devices(struct options *o)
{
	struct options *saved = calloc(1, sizeof(*saved)); /* ~70 KiB: not on the stack */
	char path[4096];
	if (!saved) {
		fputs("kvmrun: --restore: out of memory\n", stderr);
		exit(EXIT_RUNTIME);
	}
	if (!snap_path(path, sizeof(path), o->restore_dir, o->restore_mem, SNAP_CONFIG))
		usage_error("--restore %s: path too long", o->restore_dir);
	fcjson_load("--restore", path, saved);
	if (o->ndisks > saved->ndisks)
		usage_error("--disk %s: the snapshot in %s has %d disk%s",
			    o->disks[saved->ndisks].path, o->restore_dir, saved->ndisks,
			    saved->ndisks == 1 ? "" : "s");
	if (o->nnets > saved->nnets)
		usage_error("--net: %d given; the snapshot in %s has %d NIC%s", o->nnets,
			    o->restore_dir, saved->nnets, saved->nnets == 1 ? "" : "s");
	for (int i = o->ndisks; i < saved->ndisks; i++)
		o->disks[i] = saved->disks[i];
	memcpy(o->disk_ids, saved->disk_ids, sizeof(o->disk_ids));
	memcpy(o->net_ids, saved->net_ids, sizeof(o->net_ids));
	o->ndisks = saved->ndisks;
	for (int i = 0; i < saved->nnets; i++) {
		if (i >= o->nnets)
			o->nets[i] = saved->nets[i];
		else if (!o->nets[i].has_mac && saved->nets[i].has_mac) {
			memcpy(o->nets[i].mac, saved->nets[i].mac, 6);
			o->nets[i].has_mac = true;
		}
	}
	o->nnets = saved->nnets;
	free(saved);
}

/* After config_restore_devices: the first NIC with nothing to run on (net_spec_unset), or -1. */
static int unset_net(const struct options *o)
{
	for (int i = 0; i < o->nnets; i++)
		if (net_spec_unset(&o->nets[i]))
			return i;
	return -1;
}

/* --id: Firecracker's instance ids: 1..64 of [A-Za-z0-9-]. */
static void check_id(const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n > 64 ||
	    strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		       "0123456789-") != n)
		usage_error("--id %s: 1 to 64 letters, digits or '-'", id);
}

enum {
	OPT_CONSOLE = 256,
	OPT_SHUTDOWN_TIMEOUT,
	OPT_ON_REBOOT,
	OPT_DISK,
	OPT_NET,
	OPT_NO_SECCOMP,
	OPT_SECCOMP_LIST,
	OPT_SECCOMP_SELFTEST,
	OPT_CHROOT,
	OPT_UID,
	OPT_GID,
	OPT_CONFIG,
	OPT_READY_FD,
	OPT_METRICS,
	OPT_LOG,
	OPT_LOG_LEVEL,
	OPT_NO_ACPI,
	OPT_DUMP_ACPI,
	OPT_NO_PIT,
	OPT_SNAPSHOT_DIR,
	OPT_SNAPSHOT_ON_READY,
	OPT_SNAPSHOT_THEN,
	OPT_RESTORE,
	OPT_TRACK_DIRTY,
	OPT_CONSOLE_LIMIT,
	OPT_LIMITS,
	OPT_HUGEPAGES,
	OPT_NO_HUGEPAGES,
	OPT_API_SOCK,
	OPT_NO_API,
	OPT_ID,
	OPT_BOOT_TIMER,
	OPT_LEVEL
};

static const struct option longopts[] = {
	{ "kernel", required_argument, NULL, 'k' },
	{ "initrd", required_argument, NULL, 'i' },
	{ "cmdline", required_argument, NULL, 'c' },
	{ "memory", required_argument, NULL, 'm' },
	{ "cpus", required_argument, NULL, 'n' },
	{ "console", required_argument, NULL, OPT_CONSOLE },
	{ "disk", required_argument, NULL, OPT_DISK },
	{ "net", required_argument, NULL, OPT_NET },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "config-file", required_argument, NULL, OPT_CONFIG },
	{ "api-sock", required_argument, NULL, OPT_API_SOCK },
	{ "no-api", no_argument, NULL, OPT_NO_API },
	{ "id", required_argument, NULL, OPT_ID },
	{ "boot-timer", no_argument, NULL, OPT_BOOT_TIMER },
	{ "metrics-path", required_argument, NULL, OPT_METRICS },
	{ "log-path", required_argument, NULL, OPT_LOG },
	{ "level", required_argument, NULL, OPT_LEVEL },
	{ "ready-fd", required_argument, NULL, OPT_READY_FD },
	{ "metrics", required_argument, NULL, OPT_METRICS },
	{ "log", required_argument, NULL, OPT_LOG },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "shutdown-timeout", required_argument, NULL, OPT_SHUTDOWN_TIMEOUT },
	{ "on-reboot", required_argument, NULL, OPT_ON_REBOOT },
	{ "no-acpi", no_argument, NULL, OPT_NO_ACPI },
	{ "no-pit", no_argument, NULL, OPT_NO_PIT },
	{ "snapshot-dir", required_argument, NULL, OPT_SNAPSHOT_DIR },
	{ "snapshot-on-ready", required_argument, NULL, OPT_SNAPSHOT_ON_READY },
	{ "snapshot-then", required_argument, NULL, OPT_SNAPSHOT_THEN },
	{ "restore", required_argument, NULL, OPT_RESTORE },
	{ "track-dirty", no_argument, NULL, OPT_TRACK_DIRTY },
	{ "console-limit", required_argument, NULL, OPT_CONSOLE_LIMIT },
	{ "limits", required_argument, NULL, OPT_LIMITS },
	{ "hugepages", no_argument, NULL, OPT_HUGEPAGES },
	{ "no-hugepages", no_argument, NULL, OPT_NO_HUGEPAGES },
	{ "dump-acpi", required_argument, NULL, OPT_DUMP_ACPI },
	{ "no-seccomp", no_argument, NULL, OPT_NO_SECCOMP },
	{ "seccomp-selftest", required_argument, NULL, OPT_SECCOMP_SELFTEST },
	{ "seccomp-list", no_argument, NULL, OPT_SECCOMP_LIST },
	{ "chroot", required_argument, NULL, OPT_CHROOT },
	{ "uid", required_argument, NULL, OPT_UID },
	{ "gid", required_argument, NULL, OPT_GID },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ 0 },
};

/* True if argument a is a flag whose value is the next argument. */
static bool takes_value(const char *a)
{
	if (a[0] != '-')
		return false;
	if (a[1] != '-')
		return a[1] && strchr("kicmn", a[1]) && !a[2];
	for (const struct option *l = longopts; l->name; l++)
		if (strcmp(a + 2, l->name) == 0)
			return l->has_arg == required_argument;
	return false;
}

/*
 * --config is read before the other flags, so that they override it. *flag:
 * the name it was given by (--config-file for Firecracker's launchers), for
 * its errors.
 */
static const char *find_config(int argc, char **argv, const char **flag)
{
	const char *path = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *eq = strchr(a, '=');
		size_t n = eq ? (size_t)(eq - a) : strlen(a);
		if (strcmp(a, "--") == 0)
			break;
		if ((n != 8 || strncmp(a, "--config", 8) != 0) &&
		    (n != 13 || strncmp(a, "--config-file", 13) != 0)) {
			if (!eq && takes_value(a))
				i++; /* --cmdline --config: a value, not a flag */
			continue;
		}
		*flag = n == 8 ? "--config" : "--config-file";
		if (!eq && i + 1 == argc)
			usage_error("%s needs a value", *flag);
		path = eq ? eq + 1 : argv[++i];
		if (!*path)
			usage_error("%s needs a value", *flag);
	}
	return path;
}

/* What the flags said beyond struct options, for the checks after them. */
struct seen {
	const char *machine; /* the first flag that shapes the machine (not with --restore) */
	bool disks, nets;    /* flags replace the config file's drives, NICs */
	bool then, no_api;
	bool memory; /* --memory given: else the config file's mem_size_mib, if any, counts */
};

/* The flags that shape the machine: true if c was one. */
static bool machine_flag(struct options *o, struct seen *s, int c, const char *v)
{
	const char *flag;
	switch (c) {
	case 'k':
		flag = "--kernel";
		o->kernel = v;
		break;
	case 'i':
		flag = "--initrd";
		o->initrd = v;
		break;
	case 'c':
		flag = "--cmdline";
		o->cmdline = v;
		break;
	case 'm':
		flag = "--memory";
		s->memory = true;
		o->memory = config_parse_size(v);
		if (!o->memory)
			usage_error("--memory %s: not a size (try 512M or 2G)", v);
		break;
	case 'n':
		flag = "--cpus";
		o->cpus = parse_int(v, "--cpus", 1, MAX_CPUS);
		break;
	case OPT_NO_ACPI:
		flag = "--no-acpi";
		o->no_acpi = true;
		break;
	case OPT_NO_PIT:
		flag = "--no-pit";
		o->no_pit = true;
		break;
	case OPT_HUGEPAGES:
		flag = "--hugepages";
		o->pages = PAGES_HUGE;
		break;
	case OPT_NO_HUGEPAGES:
		flag = "--no-hugepages";
		o->pages = PAGES_SMALL;
		break;
	default:
		return false;
	}
	s->machine = s->machine ? s->machine : flag;
	return true;
}

/* The devices: disks, NICs, the console, their limits. True if c was one. */
static bool device_flag(struct options *o, struct seen *s, int c, const char *v)
{
	char err[256];
	switch (c) {
	case OPT_DISK:
		if (!s->disks)
			o->ndisks = 0, o->extra_cmdline[0] = 0, s->disks = true;
		if (o->ndisks == MAX_DISKS)
			usage_error("--disk %s: at most %d disks", v, MAX_DISKS);
		if (blk_parse_spec(v, &o->disks[o->ndisks], err, sizeof(err)) < 0)
			usage_error("%s", err);
		o->ndisks++;
		return true;
	case OPT_NET:
		if (!s->nets)
			o->nnets = 0, s->nets = true;
		if (o->nnets == MAX_NETS)
			usage_error("--net %s: at most %d interfaces", v, MAX_NETS);
		if (net_parse_spec(v, &o->nets[o->nnets], err, sizeof(err)) < 0)
			usage_error("--net %s: %s", v, err);
		o->nnets++;
		return true;
	case OPT_CONSOLE:
		parse_console(o, v);
		return true;
	case OPT_CONSOLE_LIMIT:
		parse_console_limit(o, v);
		return true;
	case OPT_LIMITS:
		o->limits_path = v;
		return true;
	default:
		return false;
	}
}

/* Snapshots and restores: true if c was one of their flags. */
static bool snapshot_flag(struct options *o, struct seen *s, int c, const char *v)
{
	switch (c) {
	case OPT_SNAPSHOT_DIR:
	case OPT_SNAPSHOT_ON_READY:
		if (o->snapshot_dir && strcmp(o->snapshot_dir, v) != 0)
			usage_error("%s %s: snapshots already go to %s",
				    c == OPT_SNAPSHOT_DIR ? "--snapshot-dir"
							  : "--snapshot-on-ready",
				    v, o->snapshot_dir);
		o->snapshot_dir = v;
		o->snapshot_on_ready |= c == OPT_SNAPSHOT_ON_READY;
		return true;
	case OPT_SNAPSHOT_THEN:
		if (strcmp(v, "exit") != 0 && strcmp(v, "resume") != 0)
			usage_error("--snapshot-then %s: expected exit or resume", v);
		o->snapshot_resume = strcmp(v, "resume") == 0;
		s->then = true;
		return true;
	case OPT_TRACK_DIRTY:
		o->track_dirty = true;
		return true;
	case OPT_RESTORE:
		o->restore_dir = v;
		return true;
	default:
		return false;
	}
}

/*
 * The run around the machine: API, reporting, lifecycle, confinement and
 * the rest. Ends the process on --help, --version and an unknown flag.
 * False: the test hooks, after which no flag is read.
 */
static bool run_flag(struct options *o, struct seen *s, int c, const char *v, char **argv)
{
	switch (c) {
	case OPT_CONFIG: /* read first, in config_parse, by find_config */
		break;
	case OPT_API_SOCK:
		o->api_sock = v;
		break;
	case OPT_NO_API:
		s->no_api = true;
		break;
	case OPT_ID:
		check_id(v);
		o->id = v;
		break;
	case OPT_BOOT_TIMER:
		break; /* the boot timer device is always there */
	case OPT_READY_FD:
		o->ready_fd = parse_fd(v, "--ready-fd ");
		if ((fcntl(o->ready_fd, F_GETFL) & O_ACCMODE) == O_RDONLY)
			usage_error("--ready-fd %s: fd %d is not open for writing", v, o->ready_fd);
		break;
	case OPT_METRICS:
		o->metrics_path = v;
		break;
	case OPT_LOG:
		o->log_path = v;
		break;
	case OPT_LOG_LEVEL:
	case OPT_LEVEL:
		parse_log_level(o, v, c == OPT_LEVEL ? "--level" : "--log-level");
		break;
	case OPT_SHUTDOWN_TIMEOUT:
		o->shutdown_timeout = parse_int(v, "--shutdown-timeout", 0, 3600);
		break;
	case OPT_ON_REBOOT:
		if (strcmp(v, "exit") && strcmp(v, "restart"))
			usage_error("--on-reboot: '%s' is neither exit nor restart", v);
		o->restart_on_reboot = !strcmp(v, "restart");
		break;
	case OPT_DUMP_ACPI:
		o->dump_acpi = v;
		break;
	case OPT_NO_SECCOMP:
		o->no_seccomp = true;
		break;
	case OPT_SECCOMP_SELFTEST:
		o->seccomp_selftest = v;
		return false;
	case OPT_SECCOMP_LIST:
		o->seccomp_list = true;
		return false;
	case OPT_CHROOT:
		o->jail.chroot_dir = v;
		break;
	case OPT_UID:
		o->jail.uid = (uid_t)parse_int(v, "--uid", 0, INT_MAX);
		o->jail.set_uid = true;
		break;
	case OPT_GID:
		o->jail.gid = (gid_t)parse_int(v, "--gid", 0, INT_MAX);
		o->jail.set_gid = true;
		break;
	case 'h':
		fputs(usage_text, stdout);
		exit(0);
	case 'V':
		printf("kvmrun v%s\n", KVMRUN_VERSION); /* Firecracker's "NAME vX.Y.Z" */
		exit(0);
	case ':': /* the flag was last: optind is past the end */
		usage_error("%s needs a value",
			    argv[optind - 1] ? argv[optind - 1] : argv[optind - 2]);
	default:
		if (optopt && optopt < 256 && argv[optind - 1] && argv[optind - 1][1] != '-')
			usage_error("unknown option -%c", optopt);
		usage_error("unknown option %s",
			    argv[optind - 1] ? argv[optind - 1] : argv[optind - 2]);
	}
	return true;
}

/* What the flags, together, cannot ask for. */
/* Each handed-in fd has one job: two flags on one fd would read or write each other's bytes. */
static void check_fds(const struct options *o)
{
	int fds[MAX_NETS + 2], n = 0;
	const char *what[MAX_NETS + 2];
	if (o->ready_fd >= 0)
		fds[n] = o->ready_fd, what[n++] = "--ready-fd";
	if (o->console == CONSOLE_FD)
		fds[n] = o->console_fd, what[n++] = "--console fd=";
	for (int i = 0; i < o->nnets; i++)
		if (o->nets[i].fd >= 0)
			fds[n] = o->nets[i].fd, what[n++] = "--net fd=";
	for (int i = 0; i < n; i++)
		for (int k = 0; k < i; k++)
			if (fds[i] == fds[k])
				usage_error("%s%s%d: fd %d is given to %s too", what[i],
					    what[i][strlen(what[i]) - 1] == '=' ? "" : " ", fds[i],
					    fds[i], what[k]);
}

static void check_flags(struct options *o, const char *cfg, const struct seen *s)
{
	check_fds(o);
	check_snapshot_flags(o, cfg, s->machine, s->then);
	if (o->restore_dir)
		config_restore_devices(o);
	int unset = o->restore_dir ? unset_net(o) : -1;
	if (unset >= 0)
		usage_error("--restore %s: its NIC %d (%s) was on a stream or a handed-in fd: give "
			    "--net for it (in its position)",
			    o->restore_dir, unset, o->net_ids[unset]);
	if (s->no_api && o->api_sock)
		usage_error("--no-api: --api-sock %s asks for the API", o->api_sock);
	if (o->restart_on_reboot && o->restore_dir)
		usage_error("--on-reboot restart: not with --restore (a restored guest has no boot "
			    "image to start again from)");
	if (o->api_sock && (o->dump_acpi || o->restore_dir))
		usage_error("--api-sock: not with %s", o->dump_acpi ? "--dump-acpi" : "--restore");
	if (!o->kernel && !o->dump_acpi && !o->restore_dir && !o->api_sock)
		usage_error("--kernel FILE is required (or --api-sock PATH, to configure through "
			    "the API)");
	if (o->ndisks + o->nnets > MAX_VIRTIO_DEVICES)
		usage_error(
			"--disk, --net: %d disks and %d NICs; at most %d in all (each takes one of "
			"the interrupt controller's free lines)",
			o->ndisks, o->nnets, MAX_VIRTIO_DEVICES);
	char what[PATH_MAX + 48] = "--memory";
	if (cfg && !s->memory)
		snprintf(what, sizeof(what), "%s: machine-config.mem_size_mib", cfg);
	check_memory(o->memory, what);
}

/*
 * getopt_long takes any unambiguous prefix of a long flag (--mem for
 * --memory); kvmrun takes none, so that a flag added later never changes
 * what a script's abbreviation meant. The flag just read is argv[optind - 1],
 * or argv[optind - 2] when its value was the next argument.
 */
static void check_full_name(char **argv, int idx)
{
	const struct option *l = &longopts[idx];
	const char *a = argv[optind - 1];
	if (l->has_arg == required_argument && optarg == a && optind >= 2)
		a = argv[optind - 2];
	size_t n = strcspn(a, "=");
	if (strncmp(a, "--", 2) != 0 || n - 2 != strlen(l->name) ||
	    strncmp(a + 2, l->name, n - 2) != 0)
		usage_error("unknown option %.*s (write --%s in full)", (int)n, a, l->name);
}

void config_mark_from(struct options *o, const char *config_path)
{
	o->config_path = config_path;
	o->from_config = (o->kernel ? FROM_KERNEL : 0) | (o->initrd ? FROM_INITRD : 0) |
			 (o->ndisks ? FROM_DISKS : 0) | (o->nnets ? FROM_NETS : 0) |
			 (o->log_path ? FROM_LOG : 0) | (o->metrics_path ? FROM_METRICS : 0) |
			 (o->pages != PAGES_AUTO ? FROM_PAGES : 0);
}

unsigned config_changed(const struct options *a, const struct options *b)
{
	return (a->kernel != b->kernel ? FROM_KERNEL : 0) |
	       (a->initrd != b->initrd ? FROM_INITRD : 0) |
	       (a->ndisks != b->ndisks ? FROM_DISKS : 0) | (a->nnets != b->nnets ? FROM_NETS : 0) |
	       (a->log_path != b->log_path ? FROM_LOG : 0) |
	       (a->metrics_path != b->metrics_path ? FROM_METRICS : 0) |
	       (a->pages != b->pages ? FROM_PAGES : 0);
}

void config_label(const struct options *o, const char *msg, char *out, size_t outlen)
{
	static const struct {
		const char *flag, *field;
		unsigned bit;
	} map[] = {
		{ "--kernel", "boot-source.kernel_image_path", FROM_KERNEL },
		{ "--initrd", "boot-source.initrd_path", FROM_INITRD },
		{ "--disk", "drives[].path_on_host", FROM_DISKS },
		{ "--net", "network-interfaces[].host_dev_name", FROM_NETS },
		{ "--log", "logger.log_path", FROM_LOG },
		{ "--metrics", "metrics.metrics_path", FROM_METRICS },
		{ "--hugepages", "machine-config.huge_pages", FROM_PAGES },
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		size_t n = strlen(map[i].flag);
		if (!(o->from_config & map[i].bit) || strncmp(msg, map[i].flag, n) != 0 ||
		    (msg[n] != ' ' && msg[n] != ':'))
			continue;
		const char *file = o->config_path ? o->config_path : "";
		snprintf(out, outlen, "%s%s%s%s", file, *file ? ": " : "", map[i].field, msg + n);
		return;
	}
	snprintf(out, outlen, "%s", msg);
}

void config_parse(struct options *o, int argc, char **argv)
{
	struct seen s = { 0 };
	int c;

	*o = (struct options){ .memory = DEFAULT_MEM,
			       .cpus = 1,
			       .shutdown_timeout = 10,
			       .ready_fd = -1,
			       .console_fd = -1,
			       .console_limit = -1,
			       .log_level = LOG_INFO };
	const char *cfg_flag = "--config", *cfg = find_config(argc, argv, &cfg_flag);
	struct options from_file = { 0 };
	if (cfg) {
		fcjson_load(cfg_flag, cfg, o);
		from_file = *o;
	}
	opterr = 0;
	int idx = -1;
	for (int nflags = 0; (c = getopt_long(argc, argv, ":k:i:c:m:n:hV", longopts, &idx)) != -1;
	     nflags++, idx = -1) {
		if (idx >= 0 && c != '?' && c != ':')
			check_full_name(argv, idx);
		if (machine_flag(o, &s, c, optarg) || device_flag(o, &s, c, optarg) ||
		    snapshot_flag(o, &s, c, optarg))
			continue;
		if (!run_flag(o, &s, c, optarg, argv)) {
			/* A test hook runs alone: a flag beside it would be silently ignored. */
			if (nflags || optind != argc)
				usage_error("%s: a test hook, given alone",
					    o->seccomp_list ? "--seccomp-list"
							    : "--seccomp-selftest");
			return;
		}
	}
	if (optind < argc)
		usage_error("unexpected argument %s", argv[optind]);
	if (cfg) {
		/* What a flag gave instead is the flag's: its errors name the flag. */
		config_mark_from(&from_file, cfg);
		unsigned flags = config_changed(&from_file, o) | (s.disks ? FROM_DISKS : 0) |
				 (s.nets ? FROM_NETS : 0); /* --disk, --net replace the lists */
		o->config_path = cfg;
		o->from_config = from_file.from_config & ~flags;
	}
	check_flags(o, cfg, &s);
}
