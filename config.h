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
 * An error line that begins with a flag (--kernel, --disk, --log, ...)
 * whose value came from the config file or the API: the same line naming
 * the file and field instead, into out. Otherwise msg as it is.
 */
void config_label(const struct options *o, const char *msg, char *out, size_t outlen);

/* After a description was read into o (config_path "" for the API's): what it gave. */
void config_mark_from(struct options *o, const char *config_path);

/* The FROM_* inputs whose values differ between a and b (one of them a flag's). */
unsigned config_changed(const struct options *a, const struct options *b);

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
