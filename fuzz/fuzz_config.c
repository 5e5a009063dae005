// SPDX-License-Identifier: Apache-2.0
/* Fuzz target: config_parse, the command-line flags and the --config JSON file, in-process. */

/*
 * config_parse() ends the process on every bad input, and a fork per input
 * would hide the child's coverage from libFuzzer. So config.c (and fcjson.c, its JSON reader) is compiled
 * into this file with three test-only substitutions, leaving the module
 * itself unchanged:
 *   exit()          -> a longjmp back to the harness (the status is kept);
 *   malloc/calloc/free and cJSON's allocator -> a list the harness frees
 *                      after each input (config.c keeps its strings for the
 *                      life of the process, and an error path leaves its
 *                      JSON tree behind), so leak checking stays on.
 * Every system header config.c includes is included first, so the macros
 * touch only config.c's own code.
 *
 * Input: lines up to a line "%%" are argv[1..] (one argument per line); what
 * follows that line, if it is there, is the --config file (a memfd passed as
 * --config /proc/self/fd/N before the other arguments).
 */
#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_common.h"

struct block {
	struct block *prev, *next;
	max_align_t payload[];
};

static struct block live = { &live, &live };
static jmp_buf exit_jmp;

static void *fz_malloc(size_t n)
{
	struct block *b = malloc(sizeof(*b) + n);

	if (!b)
		return NULL;
	b->next = live.next;
	b->prev = &live;
	live.next->prev = b;
	live.next = b;
	return b->payload;
}

static void *fz_calloc(size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		return NULL;
	void *p = fz_malloc(n * size);
	if (p)
		memset(p, 0, n * size);
	return p;
}

static void fz_free(void *p)
{
	if (!p)
		return;
	struct block *b = (void *)((char *)p - offsetof(struct block, payload));

	b->prev->next = b->next;
	b->next->prev = b->prev;
	free(b);
}

static void fz_free_all(void)
{
	while (live.next != &live)
		fz_free(live.next->payload);
}

__attribute__((noreturn)) static void fz_exit(int status)
{
	longjmp(exit_jmp, status + 1);
}

#define exit(s) fz_exit(s)
#define malloc(n) fz_malloc(n)
#define calloc(n, s) fz_calloc(n, s)
#define free(p) fz_free(p)
#include "../config.c"
#include "../fcjson.c"
#undef exit
#undef malloc
#undef calloc
#undef free

#define MAX_ARGS 64

static int cfd = -1;
static char cpath[64];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	cJSON_Hooks hooks = { .malloc_fn = fz_malloc, .free_fn = fz_free };

	cJSON_InitHooks(&hooks);
	cfd = memfd_create("fuzz-config", MFD_CLOEXEC);
	if (cfd < 0)
		abort();
	snprintf(cpath, sizeof(cpath), "/proc/self/fd/%d", cfd);
	/* config.c's messages would drown libFuzzer's; FUZZ_VERBOSE=1 keeps them. */
	if (!getenv("FUZZ_VERBOSE")) {
		FILE *null = fopen("/dev/null", "w");

		if (null)
			stdout = stderr = null;
	}
	return 0;
}

/* What a successful parse promises vmm.c. */
static void check(const struct options *o)
{
	/* No kernel only where something else gives the guest: the API, or a snapshot. */
	FZ_ASSERT(o->kernel || o->dump_acpi || o->seccomp_selftest || o->seccomp_list ||
			  o->api_sock || o->restore_dir,
		  "no kernel");
	if (o->seccomp_selftest || o->seccomp_list)
		return; /* the test hooks return before the last checks */
	FZ_ASSERT(o->cpus >= 1 && o->cpus <= MAX_CPUS, "cpus %d", o->cpus);
	FZ_ASSERT(o->memory >= MIN_MEM && o->memory % 4096 == 0, "memory %llu",
		  (unsigned long long)o->memory);
	FZ_ASSERT(o->ndisks >= 0 && o->ndisks <= MAX_DISKS, "%d disks", o->ndisks);
	FZ_ASSERT(o->nnets >= 0 && o->nnets <= MAX_NETS, "%d nets", o->nnets);
	for (int i = 0; i < o->ndisks; i++)
		FZ_ASSERT(o->disks[i].path[0] && !strchr(o->disks[i].path, ','),
			  "disk %d path '%s'", i, o->disks[i].path);
	for (int i = 0; i < o->nnets; i++) {
		const struct net_spec *n = &o->nets[i];

		/* Exactly one backend: a tap by name, an fd, or a stream socket (passt's). */
		int backends = !!n->tap[0] + (n->fd >= 0) + !!n->stream[0];
		FZ_ASSERT(backends == 1 && n->fd >= -1 && strlen(n->tap) < NET_NAME_MAX &&
				  strlen(n->stream) < NET_STREAM_MAX,
			  "net %d: tap '%.16s' fd %d stream '%.16s'", i, n->tap, n->fd, n->stream);
		FZ_ASSERT(!n->has_mac || !(n->mac[0] & 1), "net %d: multicast MAC", i);
	}
	FZ_ASSERT(o->shutdown_timeout >= 0 && o->shutdown_timeout <= 3600, "shutdown timeout %d",
		  o->shutdown_timeout);
}

/*
 * When the interfaces come from the config file (no --net flag), each one is
 * the tap its host_dev_name names, and has its guest_mac if one is given.
 */
static void check_nets(const struct options *o, const char *json, int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (!strncmp(argv[i], "--net", 5) || !strncmp(argv[i], "--seccomp-selftest", 18))
			return;
	cJSON *root = cJSON_Parse(json);
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "network-interfaces"), *n;
	int i = 0;

	if (!cJSON_IsArray(arr))
		arr = NULL;
	cJSON_ArrayForEach(n, arr)
	{
		const cJSON *dev = cJSON_GetObjectItemCaseSensitive(n, "host_dev_name");
		const cJSON *mac = cJSON_GetObjectItemCaseSensitive(n, "guest_mac");

		FZ_ASSERT(i < o->nnets, "network-interfaces[%d] was dropped", i);
		FZ_ASSERT(cJSON_IsString(dev) && !strcmp(o->nets[i].tap, dev->valuestring),
			  "network-interfaces[%d]: host_dev_name \"%s\" became tap \"%s\"", i,
			  cJSON_IsString(dev) ? dev->valuestring : "?", o->nets[i].tap);
		FZ_ASSERT(o->nets[i].has_mac == cJSON_IsString(mac),
			  "network-interfaces[%d]: a MAC from nowhere", i);
		i++;
	}
	cJSON_Delete(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct options o;
	static char *argv[MAX_ARGS + 3]; /* argv[0], --config PATH, NULL */
	char *text = fz_malloc(size + 1);
	int argc = 0;

	memcpy(text, data, size);
	text[size] = 0;
	argv[argc++] = (char *)"kvmrun"; /* getopt takes char *const[]: never written */

	char *json = NULL, *line = text;

	for (;;) {
		char *nl = strchr(line, '\n');

		if (nl)
			*nl = 0;
		if (strcmp(line, "%%") == 0) {
			json = nl ? nl + 1 : line + strlen(line);
			break;
		}
		if (argc < MAX_ARGS && (line[0] || nl))
			argv[argc++] = line;
		if (!nl)
			break;
		line = nl + 1;
	}
	if (json) {
		size_t n = size - (size_t)(json - text);

		if (ftruncate(cfd, 0) < 0 ||
		    (n && pwrite(cfd, data + (json - text), n, 0) != (ssize_t)n))
			abort();
		/* --config goes first: the flags that follow override it. */
		memmove(argv + 3, argv + 1, (size_t)(argc - 1) * sizeof(*argv));
		argv[1] = (char *)"--config";
		argv[2] = cpath;
		argc += 2;
	}
	argv[argc] = NULL;
	optind = 0; /* glibc: start getopt afresh */
	if (setjmp(exit_jmp) == 0) {
		config_parse(&o, argc, argv);
		check(&o);
		if (json)
			check_nets(&o, json, argc, argv);
	}
	fz_free_all();
	return 0;
}
