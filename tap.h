/* SPDX-License-Identifier: Apache-2.0 */
/* Opening a tap for virtio-net: by name, or an fd the launcher opened. */
#ifndef KVMRUN_TAP_H
#define KVMRUN_TAP_H

#include <stddef.h>

#include "netspec.h"

/*
 * tap=NAME: open /dev/net/tun and TUNSETIFF NAME with IFF_TAP | IFF_NO_PI |
 * IFF_VNET_HDR (the kernel creates a non-persistent tap when NAME does not
 * exist and we may; it vanishes at exit). fd=N: check that N is open, is a
 * tap (TUNGETIFF) and was attached with IFF_NO_PI and IFF_VNET_HDR (neither
 * can be changed once attached). Either way: TUNSETVNETHDRSZ 12,
 * TUNSETOFFLOAD 0, O_NONBLOCK and close-on-exec. Returns the fd, with
 * `name` ("tap NAME" or "fd N (tap NAME)") for messages; or -1 with a
 * one-line message naming the tap or fd (busy elsewhere, permission, not a
 * tap, closed fd). A launcher's fd that fails its checks is left open.
 */
int tap_open(const struct net_spec *s, char *name, size_t namelen, char *err, size_t errlen);

#endif
