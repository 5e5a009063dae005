/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the user asked for, as one struct: filled by config.c (the flags),
 * fcjson.c (Firecracker's JSON: --config, a snapshot's config.json, API
 * bodies) and read by everything that builds the machine. Data only.
 */
#ifndef KVMRUN_OPTIONS_H
#define KVMRUN_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "blkspec.h"
#include "jail.h"
#include "log.h"
#include "netspec.h"

#define MAX_DISKS 16
#define MAX_NETS 8

/* Exit statuses: documented in --help, README.md and kvmrun.1. */
enum {
	EXIT_GUEST_DONE = 0,  /* guest reset or powered off (also Ctrl-A x) */
	EXIT_RUNTIME = 1,     /* kvmrun or host failure while setting up or running */
	EXIT_USAGE = 2,	      /* bad command line, config file or input file */
	EXIT_GUEST_FAULT = 3, /* KVM internal error / emulation failure / failed entry */
	EXIT_SIGNAL = 128,    /* + signal number: ended by a fatal signal */
};

#define DEFAULT_CMDLINE \
	"console=ttyS0 reboot=k panic=1 pci=off i8042.noaux i8042.nomux i8042.dumbkbd"

/*
 * The host pages under guest RAM: --hugepages, --no-hugepages, or
 * machine-config.huge_pages "2M" / "None"; absent, kvmrun chooses (vmm.c).
 */
enum page_choice { PAGES_AUTO, PAGES_SMALL, PAGES_HUGE };

enum console_kind { CONSOLE_STDIO, CONSOLE_NONE, CONSOLE_FILE, CONSOLE_FD };

/* struct options' from_config: what the config file or the API gave, not a flag. */
enum {
	FROM_KERNEL = 1 << 0,
	FROM_INITRD = 1 << 1,
	FROM_DISKS = 1 << 2,
	FROM_NETS = 1 << 3,
	FROM_LOG = 1 << 4,
	FROM_METRICS = 1 << 5,
	FROM_PAGES = 1 << 6,
};

struct options {
	const char *kernel, *initrd, *cmdline;
	char extra_cmdline[64]; /* from the config file: root=/dev/vda rw */
	uint64_t memory;
	int cpus;
	enum console_kind console;
	const char *console_path;
	int console_fd;
	int64_t console_limit; /* --console-limit: bytes/s of output kept; 0: off; -1: default */
	int shutdown_timeout;
	bool restart_on_reboot; /* --on-reboot restart: a guest reboot boots the machine again */
	struct blk_spec disks[MAX_DISKS];
	int ndisks;
	struct net_spec nets[MAX_NETS];
	int nnets;
	char disk_ids[MAX_DISKS][64]; /* drive_id, iface_id: from --config or the API; or "" */
	char net_ids[MAX_NETS][64];
	bool no_seccomp;
	struct jail_cfg jail;
	int ready_fd; /* -1: none */
	const char *metrics_path, *log_path;
	enum log_level log_level;
	/* Firecracker's logger.module, and show_level false / show_log_origin true. */
	const char *log_module;
	bool log_hide_level, log_origin;
	bool no_acpi;
	bool no_pit;
	enum page_choice pages;
	const char *dump_acpi;
	/* Snapshots: where to write them, when, and what then; or where to restore from. */
	const char *snapshot_dir; /* --snapshot-dir, --snapshot-on-ready; NULL: none */
	bool snapshot_on_ready;	  /* also when the guest signals init (the boot timer) */
	bool snapshot_resume;	  /* --snapshot-then resume: the guest runs on */
	const char *restore_dir;  /* --restore: the machine comes from this snapshot */
	const char *restore_mem;  /* PUT /snapshot/load's pair of files: restore_dir is the
					 state file, this the memory file (snappath.h) */
	bool track_dirty;	  /* --track-dirty: snapshots are diffs against restore_dir */
	const char *api_sock;	  /* --api-sock PATH: Firecracker's API on a Unix socket */
	const char *id;		  /* --id: the instance's name in GET / */
	const char *limits_path;  /* --limits FILE: device limits, re-read on SIGHUP */
	/*
	 * Where the inputs that errors name came from: from_config's bits are
	 * set for those the config file (config_path) or the API's description
	 * (config_path "") gave, so that an error names the field, not a flag
	 * the user never typed (config_label).
	 */
	const char *config_path;
	unsigned from_config;
	const char *seccomp_selftest; /* test hook: install that role's filter and misbehave */
	bool seccomp_list;	      /* test hook: print every role's allowlist */
};

#endif
