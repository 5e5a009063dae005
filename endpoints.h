/* SPDX-License-Identifier: Apache-2.0 */
/* The API's endpoints (Firecracker's): answered on the main thread. */
#ifndef KVMRUN_ENDPOINTS_H
#define KVMRUN_ENDPOINTS_H

#include "api.h"
#include "vm.h"

#define ENDPOINT_START 1 /* InstanceStart before start: build and run the guest, then answer */

struct endpoints;

/* The pre-boot description, empty. NULL: out of memory. */
struct endpoints *endpoints_new(void);

/*
 * Start the opener thread (it opens the images PATCH /drives path_on_host
 * names) early, before the jail; it waits for endpoints_running. 0 or -errno.
 */
int endpoints_start_opener(struct endpoints *e, bool (*confine)(void *ctx), void *ctx);

/*
 * The guest is about to run, main is jailed: the opener calls confine(ctx)
 * (its seccomp filter) and serves; from now on requests are parsed into
 * memory mapped ahead (main may not allocate once confined). Call once,
 * before main's filter goes on.
 */
void endpoints_running(struct endpoints *e);

/*
 * Answer request q into r: 0; or ENDPOINT_START (r left unset): the caller
 * calls endpoints_apply and starts the guest, answering 204 when it runs,
 * and counts the request (endpoints_tally) when it knows how it went.
 */
int endpoints_handle(struct vm *vm, struct endpoints *e, const struct api_req *q,
		     struct api_resp *r);

/* Count request q in the API metrics (get/put/patch_api_requests), failed or not. */
void endpoints_tally(struct endpoints *e, const struct api_req *q, bool failed);

/* The description built so far into vm->opt: 0, or -1 with r the 400 answer. */
int endpoints_apply(struct vm *vm, struct endpoints *e, struct api_resp *r);

/* Firecracker's get_/put_/patch_api_requests sections: {RESOURCE_count, RESOURCE_fails}. */
struct jline;
void endpoints_metrics(const struct endpoints *e, struct jline *j);

#endif
