// SPDX-License-Identifier: Apache-2.0
/* probe guest: hostile virtio-net mode (probe.hostile=net-chains); contract in hostile_net.c. */
#ifndef PROBE_HOSTILE_NET_H
#define PROBE_HOSTILE_NET_H

/* Prints its PROBE net.* lines and returns; mode_run then triple-faults. */
void hostile_net_chains(void);

#endif
