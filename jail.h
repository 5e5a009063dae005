/* SPDX-License-Identifier: Apache-2.0 */
/* Dropping privileges in-process: chroot, ids, no_new_privs, no capabilities. */
#ifndef KVMRUN_JAIL_H
#define KVMRUN_JAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct jail_cfg {
	const char *chroot_dir; /* NULL: stay where we are */
	bool set_uid, set_gid;
	uid_t uid;
	gid_t gid;
};

/*
 * Before anything is opened: 0, or -1 with err naming the flag whose
 * privilege this process lacks (--chroot needs CAP_SYS_CHROOT, --uid
 * CAP_SETUID and CAP_SETGID, --gid CAP_SETGID). Without these flags an
 * ordinary user passes: jail_enter then drops what there is to drop.
 */
int jail_check(const struct jail_cfg *c, char *err, size_t errlen);

/*
 * Run once, on main, after every file the VM needs is open and before the
 * guest's threads start: enter chroot_dir (and chdir "/"), drop
 * supplementary groups, switch gid then uid, set no_new_privs, and clear all
 * capabilities (effective, permitted, inheritable, ambient, and the bounding
 * set when CAP_SETPCAP allows). 0, or -1 with err naming the step that
 * failed, ERR_USAGE when the cause is the user's value (e.g. a missing
 * directory).
 */
int jail_enter(const struct jail_cfg *c, char *err, size_t errlen);

/*
 * Threads made before jail_enter (the API's, the opener) keep what
 * jail_enter drops per thread: ids and the root are the process's (musl
 * changes every thread's ids), capabilities are each thread's own.
 *
 * jail_bounding: the bounding set dropped (when CAP_SETPCAP allows), on
 * main before it makes such a thread, which inherits it; later would be
 * too late with --uid, whose id change clears a thread's CAP_SETPCAP.
 * jail_thread: in such a thread once main has run jail_enter, no_new_privs
 * and no capabilities. Each 0 or -errno.
 */
int jail_bounding(void);
int jail_thread(void);

#endif
