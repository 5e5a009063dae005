/* SPDX-License-Identifier: Apache-2.0 */
/* The command line: flags (and the --config file they override) into struct options. */
#ifndef KVMRUN_CONFIG_H
#define KVMRUN_CONFIG_H

#include <stdint.h>

#include "options.h"

/*
 * Fill `o` from the --config file (if any) and then the flags, which
 * override it. Every bad value ends the process with one line on stderr
 * naming the flag, file or field, and status 2; --help and --version end it
 * with 0.
 */
void config_parse(struct options *o, int argc, char **argv);

/*
 * --restore (or the API's PUT /snapshot/load): the disks and NICs from the
 * snapshot's config.json in o->restore_dir (or beside its state file,
 * snappath.h), each replaced by a --disk or
 * --net already in o at its position. A bad one ends the process (status 2).
 */
void config_restore_devices(struct options *o);

/* "512M", "2G", "64" (MiB). 0 on a malformed value. */
uint64_t config_parse_size(const char *s);

#endif
