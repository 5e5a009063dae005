/* SPDX-License-Identifier: Apache-2.0 */
/* The API socket: HTTP/1.1 on a Unix socket, read on its own thread, answered by main. */
#ifndef KVMRUN_API_H
#define KVMRUN_API_H

#include <stdbool.h>
#include <stddef.h>

#define API_MAX_REQUEST (64u << 10) /* request line + headers + body; more: 413 */
#define API_MAX_BODY 32768	    /* an answer's JSON: as much as a metrics line (struct jline) */

struct api;

/* One request, whole, as main sees it: valid until api_answer. */
struct api_req {
	char method[8]; /* "GET", "PUT", "PATCH", ... */
	char path[256]; /* without the query */
	const char *body;
	size_t body_len;
};

struct api_resp {
	int status;		 /* 200, 204, 400, ... */
	char body[API_MAX_BODY]; /* JSON, or "" */
	size_t len;
};

/*
 * Create the listening socket at `path` (mode 0600) and the thread's
 * resources; nothing is served yet. NULL with a line in err: a path that
 * exists already is refused (as Firecracker refuses it).
 */
struct api *api_listen(const char *path, char *err, size_t errlen);

/*
 * Start the thread that accepts and reads connections and hands each whole
 * request to main through api_fd. It serves at once, unconfined like main
 * before the guest starts; on api_confine it calls thread_start(ctx) (its
 * seccomp filter; false: it stops serving). Call api_confine after the jail
 * (musl's setuid reaches every thread, and a confined one would die of it).
 */
int api_start(struct api *a, bool (*thread_start)(void *ctx), void *ctx);
void api_confine(struct api *a);

/*
 * Before the guest exists: answer requests on the API thread itself with
 * fn (0: *r is the answer; nonzero: hand the request to main as usual, as
 * InstanceStart must be), sparing each request a hop to main and back. Set
 * before api_start. Main turns it off (fn NULL) before it answers the
 * request that started the guest; the thread never calls fn after that.
 */
typedef int (*api_direct_fn)(void *ctx, const struct api_req *q, struct api_resp *r);
void api_direct(struct api *a, api_direct_fn fn, void *ctx);
/* Readable (an eventfd) when a request waits for main. */
int api_fd(const struct api *a);

/* Main: the request waiting, or NULL (spurious wake). Answer it with api_answer. */
const struct api_req *api_take(struct api *a);
void api_answer(struct api *a, const struct api_resp *r);

/*
 * Main is ending the process while it holds a request (a failed
 * InstanceStart): answer it 400 with `msg` now, from this thread.
 */
void api_fail_taken(struct api *a, const char *msg);

/* Remove the socket's name (before kvmrun is confined; after, teardown.c does). */
void api_unlink(struct api *a);
/* The directory fd and name teardown.c removes the socket with. */
int api_dirfd(const struct api *a);
const char *api_name(const struct api *a);

/* A JSON fault answer: status 400 (or `status`), {"fault_message": msg}. */
void api_fault(struct api_resp *r, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Every member of a request's JSON body is in `known` (NULL-terminated); or
 * false, with r a 400 naming the first that is not and `where` ("PUT
 * /actions").
 */
typedef struct cJSON cJSON;
bool api_fields_known(const cJSON *body, const char *const *known, const char *where,
		      struct api_resp *r);

#endif
