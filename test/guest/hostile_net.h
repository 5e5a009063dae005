// SPDX-License-Identifier: Apache-2.0
/* probe guest: hostile virtio-net mode (probe.hostile=net-chains); contract in hostile_net.c. */
#ifndef PROBE_HOSTILE_NET_H
#define PROBE_HOSTILE_NET_H

/* Prints its PROBE net.* lines and returns; mode_run then triple-faults. */
void hostile_net_chains(void);

/*
 * probe.hostile=rx-flood (needs --cpus 2): a second CPU refills the RX ring
 * with malformed chains without end while this one times 50 register writes;
 * prints `PROBE net.flood=writes=50 worst_us=N chains=N devstatus=0x..`.
 */
void hostile_rx_flood(void);

#endif
