// SPDX-License-Identifier: Apache-2.0
/* Fuzz target: the API socket's request path: HTTP bytes -> http-parser -> endpoints -> answer. */

/*
 * The input is what a client writes on its connection (several requests,
 * pipelined, any bytes). api.c is compiled into this file so that the
 * harness can stand in for the thread and for main: the bytes go down a
 * socketpair, the connection's read handler runs here, and where api.c
 * would signal main and wait, the harness answers at once with
 * endpoints.c's real handlers (one change, by macro: efd_signal). Byte 0
 * picks the VM's phase: even, before start (the PUTs build a description,
 * InstanceStart reads it into the options); odd, running with no devices
 * (PATCHes, actions, pause). Every answer must be a well-formed HTTP
 * response with a known status, and a fault's body must be JSON.
 *
 * Files: a request may name any path; the endpoints' open() is replaced so
 * that only "/fuzz/kernel", "/fuzz/disk" and "/fuzz/snap/state" exist (a
 * fuzzer must not open device files read-write), and the opener thread's
 * jobs create nothing. What a running VM would do (pause the vCPUs,
 * press Ctrl-Alt-Del, write metrics) is recorded, not done: there is no VM.
 */
#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../util.h"
#include "../vm.h"
#include "fuzz_common.h"

static struct api *g_api;
static struct vm g_vm;
static int pauses, actions;

static void main_answers(void);
#define efd_signal(fd) main_answers()
#include "../api.c"
#undef efd_signal

static int fz_open(const char *path, int flags, ...)
{
	(void)flags;
	if (strcmp(path, "/fuzz/kernel") == 0 || strcmp(path, "/fuzz/disk") == 0 ||
	    strcmp(path, "/fuzz/snap/state") == 0)
		return dup(0);
	errno = ENOENT;
	return -1;
}
#define open fz_open
#include "../endpoints.c"
#include "../snapapi.c"
#undef open

/* No tap is made here: the seeds' "tap0" opens (a stand-in fd), any other name is refused. */
int tap_open(const struct net_spec *s, char *name, size_t namelen, char *err, size_t errlen)
{
	snprintf(name, namelen, "tap %s", s->tap);
	if (strcmp(s->tap, "tap0") == 0)
		return dup(0);
	snprintf(err, errlen, "tap %s: not in the fuzzer", s->tap);
	return -1;
}

/* The opener thread: none here. A path from the input is no place to create files. */
static char fz_opener;
struct opener *opener_new(void)
{
	return (struct opener *)&fz_opener;
}
int opener_start(struct opener *op, bool (*confine)(void *ctx), void *ctx)
{
	(void)op, (void)confine, (void)ctx;
	return 0;
}
void opener_confine(struct opener *op)
{
	(void)op;
}
int opener_snapshot_files(struct opener *op, const char *dir, const char *mem, bool diff,
			  int fds[SNAPSHOT_FILES], char *err, size_t errlen)
{
	(void)op, (void)mem, (void)diff, (void)fds;
	snprintf(err, errlen, "%s: not in the fuzzer", dir);
	return -1;
}
void opener_close(struct opener *op, int fds[SNAPSHOT_FILES])
{
	(void)op, (void)fds;
	FZ_ASSERT(0, "opener_close without files");
}
int opener_replace(struct opener *op, struct blk *b, const char *path, char *err, size_t errlen)
{
	(void)op, (void)b, (void)path, (void)err, (void)errlen;
	FZ_ASSERT(0, "opener_replace without disks");
	return -1;
}
bool snapshot_take_to(struct vm *vm, const char *dir, const int fds[SNAPSHOT_FILES], bool diff)
{
	(void)vm, (void)dir, (void)fds, (void)diff;
	FZ_ASSERT(0, "snapshot_take_to without files");
	return false;
}

/* What endpoints.c calls on a running VM: recorded (there is no VM here). */
bool vm_pause(struct vm *vm)
{
	(void)vm;
	pauses++;
	return true;
}
void vm_resume(struct vm *vm)
{
	(void)vm;
	pauses--;
}
void vm_clock_paused(struct vm *vm)
{
	(void)vm;
}
void vm_report(struct vm *vm, const char *event, int status)
{
	(void)vm, (void)event, (void)status;
	actions++;
}
void i8042_ctrl_alt_del(struct i8042 *k)
{
	(void)k;
	actions++;
}
void vm_describe(struct vm *vm, struct jline *j)
{
	(void)vm;
	j_begin(j);
	j_end(j);
}
/* config.c is not linked: what the error lines would name is of no interest here. */
void config_mark_from(struct options *o, const char *config_path)
{
	o->config_path = config_path;
}
unsigned config_changed(const struct options *a, const struct options *b)
{
	(void)a, (void)b;
	return 0;
}

/* PUT /snapshot/load: in kvmrun, config.json's devices; here the snapshot has none. */
void config_restore_devices(struct options *o)
{
	(void)o;
}
/* No devices exist in the fuzzed VM: device_index finds none, so these are never reached. */
int virtio_limit_update(struct virtio_dev *vd, unsigned q, const struct rl_spec *s)
{
	(void)vd, (void)q, (void)s;
	FZ_ASSERT(0, "virtio_limit_update without devices");
	return 0;
}
struct virtio_dev *blk_virtio(struct blk *b)
{
	(void)b;
	FZ_ASSERT(0, "blk_virtio without disks");
	return NULL;
}
uint64_t blk_capacity(const struct blk *b)
{
	(void)b;
	FZ_ASSERT(0, "blk_capacity without disks");
	return 0;
}
struct virtio_dev *net_virtio(struct net *n)
{
	(void)n;
	FZ_ASSERT(0, "net_virtio without NICs");
	return NULL;
}

static struct api_resp resp;
static struct endpoints *eps;

/* Main's side, at once: what vmm.c's api_configure and eventloop.c's on_api do. */
static void main_answers(void)
{
	int rc = endpoints_handle(&g_vm, eps, &g_api->req, &resp);
	if (rc == ENDPOINT_START && endpoints_apply(&g_vm, eps, &resp) == 0)
		api_fault(&resp, 400, "the fuzzed VM does not start");
	FZ_ASSERT(resp.status == 200 || resp.status == 204 || resp.status == 400 ||
			  resp.status == 500,
		  "status %d", resp.status);
	api_answer(g_api, &resp);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	char path[64], err[256];
	snprintf(path, sizeof(path), "/tmp/fuzz-api-%d.sock", (int)getpid());
	unlink(path);
	g_api = api_listen(path, err, sizeof(err));
	if (!g_api) {
		fprintf(stderr, "%s\n", err);
		abort();
	}
	unlink(path);
	eps = endpoints_new();
	if (!eps)
		abort();
	return 0;
}

/*
 * The answers on the client's side, one after another: each "HTTP/1.1 NNN"
 * with a known status, its headers ended, then exactly Content-Length bytes
 * of body (none for 204), a fault's body JSON with a fault_message.
 */
static void check_answers(int fd)
{
	static char in[1 << 20];
	size_t len = 0;
	ssize_t r;
	while (len < sizeof(in) - 1 && (r = read(fd, in + len, sizeof(in) - 1 - len)) > 0)
		len += (size_t)r;
	in[len] = 0;
	for (char *p = in; p < in + len;) {
		FZ_ASSERT(strncmp(p, "HTTP/1.1 ", 9) == 0, "an answer starts with %.20s", p);
		int status = atoi(p + 9);
		FZ_ASSERT(status == 200 || status == 204 || status == 400 || status == 413 ||
				  status == 500,
			  "answer status %d", status);
		char *body = strstr(p, "\r\n\r\n");
		FZ_ASSERT(body, "an answer without the end of its headers");
		body += 4;
		char *cl = strstr(p, "Content-Length: ");
		size_t blen = cl && cl < body ? strtoul(cl + 16, NULL, 10) : 0;
		FZ_ASSERT(status != 204 || blen == 0, "a 204 with a body");
		FZ_ASSERT(body + blen <= in + len, "an answer cut short");
		if (status >= 400) {
			char save = body[blen];
			body[blen] = 0;
			cJSON *j = cJSON_Parse(body);
			FZ_ASSERT(j && cJSON_GetObjectItem(j, "fault_message"),
				  "a fault without its JSON body: %s", body);
			cJSON_Delete(j);
			body[blen] = save;
		}
		p = body + blen;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sv[2];
	if (size < 1 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
		return 0;
	memset(&g_vm, 0, sizeof(g_vm));
	g_vm.opt.cpus = 1;
	g_vm.opt.memory = 128u << 20;
	g_vm.log.fd = -1;
	g_vm.api_started = data[0] & 1;
	/* A fresh description each input (the endpoints and their opener thread stay). */
	cJSON_InitHooks(NULL);
	cJSON_Delete(eps->doc);
	eps->doc = cJSON_CreateObject();
	FZ_ASSERT(eps->doc, "out of memory");
	if (g_vm.api_started)
		endpoints_running(eps); /* requests parse into the arena, as after start */
	conn_open(g_api, sv[0]);
	struct conn *c = NULL;
	for (int i = 0; i < MAX_CONNS; i++)
		if (g_api->conns[i].fd == sv[0])
			c = &g_api->conns[i];
	FZ_ASSERT(c, "the connection has no slot");
	/* The client's bytes, in pieces of at most 4 KiB as a socket might deliver them. */
	for (size_t off = 1; off < size && c->fd >= 0;) {
		size_t n = size - off < 4096 ? size - off : 4096;
		if (write(sv[1], data + off, n) != (ssize_t)n)
			break;
		off += n;
		on_readable(g_api, c);
		check_answers(sv[1]);
	}
	if (c->fd >= 0)
		conn_close(g_api, c);
	close(sv[1]);
	cJSON_InitHooks(NULL); /* the next input's doc is freed with malloc's free */
	return 0;
}
