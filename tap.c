// SPDX-License-Identifier: Apache-2.0
/* Opening a tap for virtio-net: by name, or an fd the launcher opened; the settings both need. */
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* Settings common to both ways of getting a tap. 0, or -1 with err set. */
static int tap_setup(int fd, const char *name, char *err, size_t errlen)
{
	int hdr = sizeof(struct virtio_net_hdr_v1);
	int fl = fcntl(fd, F_GETFL);

	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0) {
		snprintf(err, errlen, "%s: TUNSETVNETHDRSZ: %s", name, strerror(errno));
		return -1;
	}
	if (ioctl(fd, TUNSETOFFLOAD, 0UL) < 0) {
		snprintf(err, errlen, "%s: TUNSETOFFLOAD: %s", name, strerror(errno));
		return -1;
	}
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		snprintf(err, errlen, "%s: fcntl: %s", name, strerror(errno));
		return -1;
	}
	return 0;
}

static int open_tap(const char *tap, char *err, size_t errlen)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0) {
		snprintf(err, errlen, "tap %s: /dev/net/tun: %s", tap, strerror(errno));
		return -1;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", tap);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int e = errno;

		if (e == EBUSY)
			snprintf(err, errlen, "tap %s: busy (attached to another process)", tap);
		else if (e == EPERM)
			snprintf(err, errlen,
				 "tap %s: permission denied (needs CAP_NET_ADMIN, or a persistent "
				 "tap owned by this user)",
				 tap);
		else if (e == EINVAL)
			snprintf(err, errlen,
				 "tap %s: exists with other settings (a tun device or a "
				 "multi-queue tap?)",
				 tap);
		else
			snprintf(err, errlen, "tap %s: TUNSETIFF: %s", tap, strerror(e));
		close(fd);
		return -1;
	}
	return fd;
}

/* fd=N from the launcher: is it open, a tap, with the flags we need? 0 or -1. */
static int check_fd(int fd, char *name, size_t namelen, char *err, size_t errlen)
{
	struct ifreq ifr;

	if (fcntl(fd, F_GETFD) < 0) {
		snprintf(err, errlen, "fd=%d: not an open file descriptor", fd);
		return -1;
	}
	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(fd, TUNGETIFF, &ifr) < 0) {
		snprintf(err, errlen, "fd=%d: not an attached tap (TUNGETIFF: %s)", fd,
			 strerror(errno));
		return -1;
	}
	ifr.ifr_name[IFNAMSIZ - 1] = 0;
	snprintf(name, namelen, "fd %d (tap %s)", fd, ifr.ifr_name);
	if (!(ifr.ifr_flags & IFF_TAP)) {
		snprintf(err, errlen, "fd=%d: %s is a tun (layer 3) device, not a tap", fd,
			 ifr.ifr_name);
		return -1;
	}
	if (!(ifr.ifr_flags & IFF_NO_PI) || !(ifr.ifr_flags & IFF_VNET_HDR)) {
		snprintf(err, errlen,
			 "fd=%d: tap %s was attached without IFF_NO_PI and IFF_VNET_HDR (both are "
			 "needed and cannot be set afterwards)",
			 fd, ifr.ifr_name);
		return -1;
	}
	return 0;
}

int tap_open(const struct net_spec *s, char *name, size_t namelen, char *err, size_t errlen)
{
	int fd;

	if (s->tap[0]) {
		snprintf(name, namelen, "tap %s", s->tap);
		fd = open_tap(s->tap, err, errlen);
		if (fd < 0)
			return -1;
	} else {
		fd = s->fd;
		if (check_fd(fd, name, namelen, err, errlen) < 0)
			return -1; /* not ours to close */
	}
	if (tap_setup(fd, name, err, errlen) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}
