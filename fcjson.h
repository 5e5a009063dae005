/* SPDX-License-Identifier: Apache-2.0 */
/* Firecracker's JSON machine description: --config files, config.json, API request bodies. */
#ifndef KVMRUN_FCJSON_H
#define KVMRUN_FCJSON_H

#include <stddef.h>

#include "options.h"

typedef struct cJSON cJSON;

/*
 * Read the description in file `path` into o (fields it names replace o's).
 * A bad file or field ends the process: one line naming `flag`, the file and
 * the field, status 2. o's strings point into a tree kept for the process.
 * flag "--restore" (a snapshot's config.json): a NIC's host_dev_name may be
 * "" (it was on an fd or a stream; net_spec_unset() tells).
 */
void fcjson_load(const char *flag, const char *path, struct options *o);

/*
 * Whether file `path` is a description fcjson_load("--restore") would take: 0, with it
 * read into scratch (reset first; its arrays hold it, its string pointers
 * do not outlive the call); or -1 with the reason in err. Nothing exits.
 */
int fcjson_check_file(const char *path, struct options *scratch, char *err, size_t errlen);

/* The same from a parsed tree (kept by the caller while o is used): 0, or -1 with err. */
int fcjson_apply(const cJSON *root, struct options *o, char *err, size_t errlen);

/* One part of a description, as the API's requests carry them. */
enum fcjson_part { FC_BOOT_SOURCE, FC_MACHINE_CONFIG, FC_DRIVE, FC_IFACE, FC_LOGGER, FC_METRICS };

/*
 * Check one object as it would stand in a description (a drive: one entry of
 * "drives"), reading it into `scratch` (whose devices it resets). 0, or -1
 * with a line naming the field in err.
 */
int fcjson_check(enum fcjson_part part, const cJSON *obj, struct options *scratch, char *err,
		 size_t errlen);

/*
 * parent's member `name`, a RateLimiter ({bandwidth, ops}), into out (all 0
 * when absent or {}): 0, or -1 with a line naming the field in err.
 */
struct rl_spec;
int fcjson_rate_limiter(const cJSON *parent, const char *name, struct rl_spec *out, char *err,
			size_t errlen);

/* obj's first member whose name is not in known (NULL-terminated), or NULL (also when obj is no object). */
const char *fcjson_unknown(const cJSON *obj, const char *const *known);

/* "off", "error", "warn"/"warning", "info", "debug"/"trace" (any case) as enum log_level; -2 if none. */
int fcjson_log_level(const char *v);

#endif
