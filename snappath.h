/* SPDX-License-Identifier: Apache-2.0 */
/* A snapshot's files: their names in a snapshot directory, or the API's pair of files. */
#ifndef KVMRUN_SNAPPATH_H
#define KVMRUN_SNAPPATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define SNAP_STATE "state"   /* the state file in a snapshot directory */
#define SNAP_MEMORY "memory" /* guest RAM, sparse: holes where it was never written or is zero */
#define SNAP_CONFIG "config.json" /* the machine, as --config reads it */
#define SNAP_DIRTY "dirty"	  /* a diff's bitmap of those pages, one bit per 4 KiB, LSB first */
#define SNAP_MAX_CHAIN 64	  /* diffs on diffs, at most this deep */

/*
 * Where a snapshot's file NAME (SNAP_STATE, SNAP_MEMORY, SNAP_CONFIG,
 * SNAP_DIRTY) is, into out: in the directory WHERE; or, when MEMORY is set
 * (the API's pair of files, as Firecracker names them), WHERE is the state
 * file itself, MEMORY the memory file, the machine's JSON is WHERE.json and
 * a diff's bitmap MEMORY.dirty. false: it does not fit.
 */
static inline bool snap_path(char *out, size_t n, const char *where, const char *memory,
			     const char *name)
{
	int len;
	if (!memory)
		len = snprintf(out, n, "%s/%s", where, name);
	else if (strcmp(name, SNAP_STATE) == 0)
		len = snprintf(out, n, "%s", where);
	else if (strcmp(name, SNAP_MEMORY) == 0)
		len = snprintf(out, n, "%s", memory);
	else if (strcmp(name, SNAP_CONFIG) == 0)
		len = snprintf(out, n, "%s.json", where);
	else
		len = snprintf(out, n, "%s.%s", memory, name);
	return len >= 0 && (size_t)len < n;
}

#endif
