// SPDX-License-Identifier: Apache-2.0
/* Dropping privileges in-process, the way Firecracker's jailer does it out of process. */
#include "jail.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util.h"

/* The effective capability set, one bit per capability. */
static uint64_t effective_caps(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data) < 0)
		return 0;
	return (uint64_t)data[1].effective << 32 | data[0].effective;
}

static bool has_cap(uint64_t caps, int cap)
{
	return caps >> cap & 1;
}

/*
 * Needs CAP_SETPCAP, so it runs before the ids change. Without it there is
 * nothing to drop that matters: a process without capabilities, under
 * no_new_privs and a filter without execve, cannot gain any.
 */
static int drop_bounding_set(void)
{
	if (!has_cap(effective_caps(), CAP_SETPCAP))
		return 0;
	/* Capabilities are numbered without gaps: EINVAL is the first past the kernel's last. */
	for (int cap = 0; cap <= 63; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			if (errno == EINVAL)
				break;
			return -errno;
		}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return -errno;
	return 0;
}

/* Lowering one's own capability sets is always allowed. */
static int drop_capabilities(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];
	memset(data, 0, sizeof(data));
	return syscall(SYS_capset, &hdr, data) < 0 ? -errno : 0;
}

int jail_bounding(void)
{
	return drop_bounding_set();
}

int jail_thread(void)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	return drop_capabilities();
}

int jail_check(const struct jail_cfg *c, char *err, size_t errlen)
{
	uint64_t caps = effective_caps();
	if (c->set_uid &&
	    !c->set_gid) /* as Firecracker's jailer: both, or the group stays root's */
		return errf(err, errlen,
			    "--uid %u: give --gid too (else the group stays 0, root's)",
			    (unsigned)c->uid);
	if (c->chroot_dir && !has_cap(caps, CAP_SYS_CHROOT))
		return errf(err, errlen,
			    "--chroot %s: needs CAP_SYS_CHROOT (run kvmrun "
			    "as root to use it)",
			    c->chroot_dir);
	if (c->set_uid && !has_cap(caps, CAP_SETUID))
		return errf(err, errlen,
			    "--uid %u: needs CAP_SETUID (run kvmrun as root "
			    "to use it)",
			    (unsigned)c->uid);
	if (c->set_gid && !has_cap(caps, CAP_SETGID))
		return errf(err, errlen,
			    "--gid %u: needs CAP_SETGID (run kvmrun as root "
			    "to use it)",
			    (unsigned)c->gid);
	return 0;
}

int jail_enter(const struct jail_cfg *c, char *err, size_t errlen)
{
	if (c->chroot_dir) {
		struct stat st;
		if (stat(c->chroot_dir, &st) < 0)
			return errf(err, errlen, "--chroot %s: %s", c->chroot_dir, strerror(errno)),
			       ERR_USAGE;
		if (!S_ISDIR(st.st_mode))
			return errf(err, errlen, "--chroot %s: not a directory", c->chroot_dir),
			       ERR_USAGE;
		if (chroot(c->chroot_dir) < 0 || chdir("/") < 0)
			return errf(err, errlen, "--chroot %s: %s", c->chroot_dir, strerror(errno));
	}
	int rc = drop_bounding_set();
	if (rc < 0)
		return errf(err, errlen, "dropping the capability bounding set: %s", strerror(-rc));
	if (c->set_gid || c->set_uid) {
		if (setgroups(0, NULL) < 0)
			return errf(err, errlen, "setgroups: %s", strerror(errno));
	}
	/* gid before uid: once the uid is dropped, changing the gid is not allowed. */
	if (c->set_gid && setresgid(c->gid, c->gid, c->gid) < 0)
		return errf(err, errlen, "--gid %u: %s", (unsigned)c->gid, strerror(errno));
	if (c->set_uid && setresuid(c->uid, c->uid, c->uid) < 0)
		return errf(err, errlen, "--uid %u: %s", (unsigned)c->uid, strerror(errno));
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return errf(err, errlen, "no_new_privs: %s", strerror(errno));
	rc = drop_capabilities();
	if (rc < 0)
		return errf(err, errlen, "dropping capabilities: %s", strerror(-rc));
	return 0;
}
