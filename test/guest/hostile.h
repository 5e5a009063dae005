// SPDX-License-Identifier: Apache-2.0
/* probe guest: hostile modes (probe.hostile=NAME), run after the report; contract in hostile.c. */
#ifndef PROBE_HOSTILE_H
#define PROBE_HOSTILE_H

/* The probe's command line; mode_run sets it before a hostile mode runs. */
extern const char *hostile_cmdline;

/*
 * Each mode prints its PROBE lines and returns; mode_run then ends the VM
 * with a triple fault (kvmrun exits 0).
 */
void hostile_blk_chains(void);
void hostile_blk_ops(void);
void hostile_blk_loop(void);
void hostile_blk_rate(void);
void hostile_mmio_poke(void);
void hostile_reg_read(void);
void hostile_serial_poke(void);
void hostile_i8042_poke(void);

#endif
