/* SPDX-License-Identifier: Apache-2.0 */
/* The API's snapshot endpoints (Firecracker's PUT /snapshot/create and /snapshot/load). */
#ifndef KVMRUN_SNAPAPI_H
#define KVMRUN_SNAPAPI_H

#include <stdbool.h>

#include "api.h"
#include "netspec.h"
#include "options.h"
#include "vm.h"

typedef struct cJSON cJSON;
struct opener;

#define SNAPAPI_PATH 4096 /* a snapshot path the API keeps, with room for "/memory" */

/* PUT /snapshot/create on a paused guest: the snapshot written, r answered (204 or 400). */
void snapapi_create(struct vm *vm, struct opener *op, const cJSON *body, struct api_resp *r);

/* What a PUT /snapshot/load asks for, checked: a restore as --restore would run it. */
struct snapapi_load {
	char dir[SNAPAPI_PATH]; /* snapshot_path: the directory, or the pair's state file */
	char mem[SNAPAPI_PATH]; /* the pair's memory file; "" for the directory form */
	bool track;		/* track_dirty_pages: later snapshots may be diffs */
	bool paused;		/* resume_vm false or absent: Paused until PATCH /vm Resumed */
	/* network_overrides: the snapshot's NIC `index` (its position) on tap `tap` */
	int noverrides;
	struct {
		int index;
		char tap[NET_NAME_MAX];
	} overrides[MAX_NETS];
};

/*
 * PUT /snapshot/load before start (configured: some other PUT came first,
 * which Firecracker refuses too), the snapshot's machine description read
 * into scratch to check it: true with *out filled, or false with r the 400
 * answer naming the field.
 */
bool snapapi_load(const struct vm *vm, bool configured, const cJSON *body, struct options *scratch,
		  struct snapapi_load *out, struct api_resp *r);

#endif
