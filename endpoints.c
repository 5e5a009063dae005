// SPDX-License-Identifier: Apache-2.0
/*
 * The API's endpoints, Firecracker's names and bodies (api.c carries the
 * HTTP). Runs on the main thread. Before the guest starts, the requests
 * build a description in Firecracker's --config JSON, each part checked as
 * it arrives (fcjson.c); InstanceStart reads the whole into the options,
 * exactly as --config would. After it, the calls that act on a running VM.
 */
#include "endpoints.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "config.h"
#include "fcjson.h"
#include "i8042.h"
#include "metrics.h"
#include "opener.h"
#include "snapapi.h"
#include "tap.h"
#include "util.h"
#include "virtio.h"
#include "virtio_blk.h"
#include "virtio_net.h"

#ifndef KVMRUN_VERSION
#define KVMRUN_VERSION "dev"
#endif

/* Requests per method and resource, as Firecracker's metrics count them. */
enum { M_GET, M_PUT, M_PATCH, M_KINDS };
static const char *const resources[] = { "instance_info", "vmm_version", "machine_cfg", "vm_config",
					 "boot_source",	  "drive",	 "network",	"logger",
					 "metrics",	  "actions",	 "vm",		"other" };
#define NRES (sizeof(resources) / sizeof(resources[0]))

/*
 * Once the guest runs, main may not allocate: its filter has no memory
 * calls, and musl's malloc may need brk or mmap. The JSON of a request is
 * then parsed into an arena mapped before start (untouched pages cost
 * nothing) and emptied after each request; a body too big for it is
 * refused like malformed JSON. The arena is set once, before start: cJSON's
 * hooks take no context, hence the file-level pointer.
 */
#define ARENA_SIZE (8u << 20)
struct arena {
	uint8_t *base;
	size_t used;
};
static struct arena *arena;

static void *arena_malloc(size_t n)
{
	n = (n + 15) & ~(size_t)15;
	if (n > ARENA_SIZE - arena->used)
		return NULL;
	void *p = arena->base + arena->used;
	arena->used += n;
	return p;
}

static void arena_free(void *p)
{
	(void)p; /* all of it goes after the request */
}

struct endpoints {
	struct opener *op;
	struct arena arena;
	struct snapapi_load load; /* PUT /snapshot/load's: vm->opt's restore paths point here */
	cJSON *doc; /* the description being built; kept after start (opt points into it) */
	uint64_t count[M_KINDS][NRES], fails[M_KINDS][NRES];
	struct options scratch;
	char err[512];
};

struct endpoints *endpoints_new(void)
{
	struct endpoints *e = calloc(1, sizeof(*e));
	if (e)
		e->doc = cJSON_CreateObject();
	if (e)
		e->arena.base = mmap(NULL, ARENA_SIZE, PROT_READ | PROT_WRITE,
				     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (e)
		e->op = opener_new();
	if (!e || !e->doc || !e->op || e->arena.base == MAP_FAILED) {
		free(e);
		return NULL;
	}
	return e;
}

void endpoints_running(struct endpoints *e)
{
	opener_confine(e->op);
	cJSON_Hooks hooks = { .malloc_fn = arena_malloc, .free_fn = arena_free };
	arena = &e->arena;
	cJSON_InitHooks(&hooks);
}

/* ---- answers ---- */

static void answer_json(struct api_resp *r, struct jline *j)
{
	r->status = 200;
	r->len = j->overflow ? 0 : j->len < sizeof(r->body) ? j->len : 0;
	memcpy(r->body, j->buf, r->len);
	if (!r->len)
		api_fault(r, 500, "the answer does not fit in %zu bytes", sizeof(r->body));
}

static void answer_doc(struct api_resp *r, const cJSON *doc)
{
	if (!cJSON_PrintPreallocated((cJSON *)doc, r->body, (int)sizeof(r->body) - 5, 0)) {
		api_fault(r, 500, "the answer does not fit in %zu bytes", sizeof(r->body));
		return;
	}
	r->status = 200;
	r->len = strlen(r->body);
}

static void no_content(struct api_resp *r)
{
	r->status = 204;
	r->len = 0;
}

/* ---- the description: parts replaced whole, devices by id ---- */

/* doc[name] = obj (obj is doc's now, or freed). Names compare case-sensitively, as JSON's do. */
static void put_part(cJSON *doc, const char *name, cJSON *obj)
{
	bool ok = cJSON_GetObjectItemCaseSensitive(doc, name)
			  ? cJSON_ReplaceItemInObjectCaseSensitive(doc, name, obj)
			  : cJSON_AddItemToObject(doc, name, obj);
	if (!ok)
		cJSON_Delete(obj);
}

/* doc[list] with the entry whose `key` is id replaced by obj (or obj added). */
static int put_device(cJSON *doc, const char *list, const char *key, const char *id, cJSON *obj,
		      int max)
{
	cJSON *arr = cJSON_GetObjectItemCaseSensitive(doc, list), *d;
	if (!arr) {
		arr = cJSON_AddArrayToObject(doc, list);
		if (!arr)
			return -ENOMEM;
	}
	int i = 0;
	cJSON_ArrayForEach(d, arr)
	{
		const cJSON *k = cJSON_GetObjectItemCaseSensitive(d, key);
		if (cJSON_IsString(k) && strcmp(k->valuestring, id) == 0) {
			cJSON_ReplaceItemInArray(arr, i, obj);
			return 0;
		}
		i++;
	}
	if (i >= max)
		return -ENOSPC;
	cJSON_AddItemToArray(arr, obj);
	return 0;
}

/*
 * A file the request names must open now (the guest's start opens it
 * again), and be a regular file (or, dev_ok, a block device). O_NONBLOCK:
 * a FIFO or a tty must not hang the thread that answers every client.
 */
static int check_file(struct api_resp *r, const cJSON *obj, const char *field, int flags,
		      bool dev_ok)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, field);
	if (!cJSON_IsString(m))
		return 0;
	struct stat st;
	const char *why = NULL;
	int fd = open(m->valuestring, flags | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0 || fstat(fd, &st) < 0)
		why = strerror(errno);
	else if (S_ISDIR(st.st_mode))
		why = "is a directory";
	else if (!S_ISREG(st.st_mode) && !(dev_ok && S_ISBLK(st.st_mode)))
		why = dev_ok ? "not a regular file or block device" : "not a regular file";
	if (fd >= 0)
		close(fd);
	if (why)
		api_fault(r, 400, "%s: %s: %s", field, m->valuestring, why);
	return why ? -1 : 0;
}

/*
 * A file kvmrun will write (logger.log_path, metrics.metrics_path): checked
 * now, as Firecracker opens it at this PUT, but neither created nor
 * truncated before start. It exists and is no directory (a regular file we
 * may write, or a FIFO, whose reader is looked for at start), or its
 * directory is one we may create it in.
 */
static int check_out_file(struct api_resp *r, const cJSON *obj, const char *field)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, field);
	if (!cJSON_IsString(m))
		return 0;
	const char *path = m->valuestring, *why = NULL;
	char dir[4096];
	struct stat st;
	if (!*path) {
		why = "empty";
	} else if (stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			why = "is a directory";
		else if (!S_ISFIFO(st.st_mode) && access(path, W_OK) < 0)
			why = strerror(errno);
	} else if (errno != ENOENT) {
		why = strerror(errno);
	} else if (lstat(path, &st) == 0) {
		why = "a symbolic link to nothing"; /* its target's directory is elsewhere */
	} else {
		const char *slash = strrchr(path, '/');
		size_t n = !slash ? 1 : slash == path ? 1 : (size_t)(slash - path);
		snprintf(dir, sizeof(dir), "%.*s", (int)n, slash ? path : ".");
		if (n >= sizeof(dir) || stat(dir, &st) < 0)
			why = n >= sizeof(dir) ? "path too long" : strerror(errno);
		else if (!S_ISDIR(st.st_mode))
			why = "its directory is not a directory";
		else if (access(dir, W_OK | X_OK) < 0)
			why = "cannot be created in its directory";
	}
	if (why)
		api_fault(r, 400, "%s: %s: %s", field, path, why);
	return why ? -1 : 0;
}

/*
 * Another entry of the description's `list` than `id` whose `field` is true
 * (want NULL) or the string `want` (in any case when nocase: a MAC): its id,
 * or NULL.
 */
static const char *taken_by(const cJSON *doc, const char *list, const char *key, const char *id,
			    const char *field, const char *want, bool nocase)
{
	const cJSON *d, *arr = cJSON_GetObjectItemCaseSensitive(doc, list);
	cJSON_ArrayForEach(d, arr)
	{
		const cJSON *k = cJSON_GetObjectItemCaseSensitive(d, key);
		const cJSON *f = cJSON_GetObjectItemCaseSensitive(d, field);
		if (!cJSON_IsString(k) || strcmp(k->valuestring, id) == 0)
			continue;
		if (want ? cJSON_IsString(f) && (nocase ? strcasecmp(f->valuestring, want)
							: strcmp(f->valuestring, want)) == 0
			 : cJSON_IsTrue(f))
			return k->valuestring;
	}
	return NULL;
}

/* The tap a NIC names opens now (a busy or forbidden one is this PUT's 400), then closes. */
static int check_tap(struct endpoints *e, struct api_resp *r)
{
	char name[64], err[256];
	int fd = tap_open(&e->scratch.nets[0], name, sizeof(name), err, sizeof(err));
	if (fd < 0) {
		api_fault(r, 400, "host_dev_name: %s", err);
		return -1;
	}
	close(fd);
	return 0;
}

static const char *id_of(const char *path, const char *prefix)
{
	size_t n = strlen(prefix);
	if (strncmp(path, prefix, n) != 0 || !path[n] || strchr(path + n, '/'))
		return NULL;
	return path + n;
}

/* A PUT before start: check, then put it in the description. */
static void preboot_put(struct endpoints *e, const char *path, cJSON *obj, struct api_resp *r)
{
	const char *id;
	int rc = 0;
	if (strcmp(path, "/boot-source") == 0) {
		if (fcjson_check(FC_BOOT_SOURCE, obj, &e->scratch, e->err, sizeof(e->err)) < 0)
			goto bad;
		if (check_file(r, obj, "kernel_image_path", O_RDONLY, false) < 0 ||
		    check_file(r, obj, "initrd_path", O_RDONLY, false) < 0)
			goto out;
		put_part(e->doc, "boot-source", obj);
	} else if (strcmp(path, "/machine-config") == 0) {
		if (fcjson_check(FC_MACHINE_CONFIG, obj, &e->scratch, e->err, sizeof(e->err)) < 0)
			goto bad;
		if (e->scratch.memory < (4u << 20)) {
			api_fault(r, 400, "mem_size_mib: at least 4 is needed");
			goto out;
		}
		put_part(e->doc, "machine-config", obj);
	} else if (strcmp(path, "/logger") == 0 || strcmp(path, "/metrics") == 0) {
		bool lg = path[1] == 'l';
		if (fcjson_check(lg ? FC_LOGGER : FC_METRICS, obj, &e->scratch, e->err,
				 sizeof(e->err)) < 0)
			goto bad;
		if (check_out_file(r, obj, lg ? "log_path" : "metrics_path") < 0)
			goto out;
		put_part(e->doc, path + 1, obj);
	} else if ((id = id_of(path, "/drives/"))) {
		if (fcjson_check(FC_DRIVE, obj, &e->scratch, e->err, sizeof(e->err)) < 0)
			goto bad;
		if (strcmp(e->scratch.disk_ids[0], id) != 0) {
			api_fault(r, 400, "drive_id: \"%s\" is not the path's \"%s\"",
				  e->scratch.disk_ids[0], id);
			goto out;
		}
		if (check_file(r, obj, "path_on_host", e->scratch.disks[0].ro ? O_RDONLY : O_RDWR,
			       true))
			goto out;
		const char *root =
			cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(obj, "is_root_device"))
				? taken_by(e->doc, "drives", "drive_id", id, "is_root_device", NULL,
					   false)
				: NULL;
		if (root) {
			api_fault(r, 400, "is_root_device: drive \"%s\" is the root device already",
				  root);
			goto out;
		}
		rc = put_device(e->doc, "drives", "drive_id", id, obj, MAX_DISKS);
	} else if ((id = id_of(path, "/network-interfaces/"))) {
		if (fcjson_check(FC_IFACE, obj, &e->scratch, e->err, sizeof(e->err)) < 0)
			goto bad;
		if (strcmp(e->scratch.net_ids[0], id) != 0) {
			api_fault(r, 400, "iface_id: \"%s\" is not the path's \"%s\"",
				  e->scratch.net_ids[0], id);
			goto out;
		}
		const cJSON *mac = cJSON_GetObjectItemCaseSensitive(obj, "guest_mac");
		const char *twin = cJSON_IsString(mac)
					   ? taken_by(e->doc, "network-interfaces", "iface_id", id,
						      "guest_mac", mac->valuestring, true)
					   : NULL;
		if (twin) {
			api_fault(r, 400, "guest_mac: %s is interface \"%s\"'s already",
				  mac->valuestring, twin);
			goto out;
		}
		/* The check below closes the tap again: a second NIC on it would pass it too. */
		const char *dev = e->scratch.nets[0].tap;
		const char *same = taken_by(e->doc, "network-interfaces", "iface_id", id,
					    "host_dev_name", dev, false);
		if (same) {
			api_fault(r, 400, "host_dev_name: tap %s is interface \"%s\"'s already",
				  dev, same);
			goto out;
		}
		if (check_tap(e, r) < 0)
			goto out;
		rc = put_device(e->doc, "network-interfaces", "iface_id", id, obj, MAX_NETS);
	} else {
		api_fault(r, 400, "Invalid request method and/or path: PUT %s", path);
		goto out;
	}
	if (rc < 0) {
		api_fault(r, 400, "%s: %s", path,
			  rc == -ENOSPC ? "no room for another device" : strerror(-rc));
		goto out;
	}
	no_content(r);
	return; /* obj belongs to the description now */
bad:
	api_fault(r, 400, "%s", e->err);
out:
	cJSON_Delete(obj);
}

/* PATCH /machine-config before start: the fields given, over what is set. */
static void patch_machine(struct endpoints *e, cJSON *patch, struct api_resp *r)
{
	const cJSON *cur = cJSON_GetObjectItemCaseSensitive(e->doc, "machine-config");
	cJSON *m = cur ? cJSON_Duplicate(cur, 1) : cJSON_CreateObject(), *f;
	if (!m || !cJSON_IsObject(patch)) {
		api_fault(r, 400, "the body must be a JSON object");
		goto out;
	}
	bool any = false; /* null is absent: all null is empty */
	cJSON_ArrayForEach(f, patch) any |= !cJSON_IsNull(f);
	if (!any) { /* Firecracker's answer, word for word */
		api_fault(r, 400, "Empty PATCH request.");
		goto out;
	}
	if (!cur) {
		cJSON_AddNumberToObject(m, "vcpu_count", 1);
		cJSON_AddNumberToObject(m, "mem_size_mib", 128);
	}
	cJSON_ArrayForEach(f, patch)
	{
		/*
		 * null is no change, as Firecracker's Option fields read it. An
		 * unknown name (not in m, which was checked) goes in, null or
		 * not, for the check to refuse.
		 */
		if (cJSON_IsNull(f) && cJSON_GetObjectItemCaseSensitive(m, f->string))
			continue;
		cJSON *dup = cJSON_Duplicate(f, 1);
		put_part(m, f->string, dup);
	}
	preboot_put(e, "/machine-config", m, r);
	m = NULL;
out:
	cJSON_Delete(m);
	cJSON_Delete(patch);
}

static void get_machine(struct vm *vm, struct endpoints *e, struct api_resp *r)
{
	struct jline j;
	int cpus = vm->opt.cpus;
	uint64_t mib = vm->opt.memory >> 20;
	bool huge = vm->opt.pages == PAGES_HUGE, track = vm->opt.track_dirty;
	bool chosen = true; /* false: kvmrun chooses at start, and the field is left out */
	if (!vm->api_started) {
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(e->doc, "machine-config");
		e->scratch.cpus = 1, e->scratch.memory = 128u << 20, e->scratch.pages = PAGES_AUTO;
		if (m)
			fcjson_check(FC_MACHINE_CONFIG, m, &e->scratch, e->err, sizeof(e->err));
		cpus = e->scratch.cpus, mib = e->scratch.memory >> 20;
		huge = e->scratch.pages == PAGES_HUGE;
		/* "None" would read back as a choice: PUT again, it pins 4 KiB pages. */
		chosen = e->scratch.pages != PAGES_AUTO;
	} else {
		huge = vm->mem.huge;
	}
	j_begin(&j);
	j_u64(&j, "vcpu_count", (uint64_t)cpus);
	j_u64(&j, "mem_size_mib", mib);
	j_bool(&j, "smt", 0);
	j_bool(&j, "track_dirty_pages", track); /* PUT /snapshot/load's, once started */
	if (chosen)
		j_str(&j, "huge_pages", huge ? "2M" : "None");
	j_end(&j);
	answer_json(r, &j);
}

static void get_info(struct vm *vm, struct api_resp *r)
{
	struct jline j;
	j_begin(&j);
	j_str(&j, "id", vm->opt.id ? vm->opt.id : "anonymous-instance");
	j_str(&j, "state",
	      !vm->api_started ? "Not started"
	      : vm->api_paused ? "Paused"
			       : "Running");
	j_str(&j, "vmm_version", KVMRUN_VERSION);
	j_str(&j, "app_name", "kvmrun");
	j_end(&j);
	answer_json(r, &j);
}

/* ---- after start ---- */

static int device_index(struct vm *vm, const char *id, bool disk)
{
	int n = disk ? vm->opt.ndisks : vm->opt.nnets;
	for (int i = 0; i < n; i++) {
		char dflt[16];
		const char *have = disk ? vm->opt.disk_ids[i] : vm->opt.net_ids[i];
		snprintf(dflt, sizeof(dflt), "%s%d", disk ? "disk" : "net", i);
		if (strcmp(have[0] ? have : dflt, id) == 0)
			return i;
	}
	return -1;
}

/*
 * A limiter's buckets: the ones the PATCH names replace; the others stay, and
 * so does one given as null (Firecracker reads null as absent: no update).
 * A bucket of size or refill_time 0 switches that bucket off, as there.
 */
static int patch_limit(struct vm *vm, struct virtio_dev *vd, unsigned q, const cJSON *body,
		       const char *name, struct rl_spec *cur, struct api_resp *r)
{
	char err[256];
	struct rl_spec s;
	const cJSON *rl = cJSON_GetObjectItemCaseSensitive(body, name);
	if (!rl || cJSON_IsNull(rl))
		return 0;
	if (fcjson_rate_limiter(body, name, &s, err, sizeof(err)) < 0) {
		api_fault(r, 400, "%s", err);
		return -1;
	}
	struct rl_spec next = *cur;
	const cJSON *bw = cJSON_GetObjectItemCaseSensitive(rl, "bandwidth");
	const cJSON *ops = cJSON_GetObjectItemCaseSensitive(rl, "ops");
	if (bw && !cJSON_IsNull(bw))
		next.bw = s.bw;
	if (ops && !cJSON_IsNull(ops))
		next.ops = s.ops;
	int rc = virtio_limit_update(vd, q, &next);
	if (rc < 0) {
		api_fault(r, 400, "%s: %s", name, strerror(-rc));
		return -1;
	}
	*cur = next;
	log_msg(&vm->log, LOG_INFO, "API: %s changed", name);
	return 0;
}

static const char *const drive_patch[] = { "drive_id", "path_on_host", "rate_limiter", NULL };
static const char *const iface_patch[] = { "iface_id", "rx_rate_limiter", "tx_rate_limiter", NULL };

static void patch_device(struct vm *vm, struct endpoints *e, const char *path, const cJSON *body,
			 struct api_resp *r)
{
	bool disk = strncmp(path, "/drives/", 8) == 0;
	const char *id = id_of(path, disk ? "/drives/" : "/network-interfaces/");
	const char *key = disk ? "drive_id" : "iface_id";
	const cJSON *given = cJSON_GetObjectItemCaseSensitive(body, key);
	if (!api_fields_known(body, disk ? drive_patch : iface_patch,
			      disk ? "PATCH /drives" : "PATCH /network-interfaces", r))
		return;
	if (!cJSON_IsString(given) || strcmp(given->valuestring, id) != 0) {
		api_fault(r, 400, "%s: required, and equal to the path's \"%s\"", key, id);
		return;
	}
	int i = device_index(vm, id, disk);
	if (i < 0) {
		api_fault(r, 400, "%s: no %s \"%s\" in this VM", key, disk ? "drive" : "interface",
			  id);
		return;
	}
	const cJSON *image = cJSON_GetObjectItemCaseSensitive(body, "path_on_host");
	if (disk && image) {
		char err[512];
		struct blk_spec *spec = &vm->opt.disks[i];
		if (!cJSON_IsString(image) || strlen(image->valuestring) >= sizeof(spec->path)) {
			api_fault(r, 400, "path_on_host: expected a path of at most %zu bytes",
				  sizeof(spec->path) - 1);
			return;
		}
		if (opener_replace(e->op, vm->blks[i], image->valuestring, err, sizeof(err)) < 0) {
			api_fault(r, 400, "path_on_host: %s", err);
			return;
		}
		snprintf(spec->path, sizeof(spec->path), "%s", image->valuestring);
		log_msg(&vm->log, LOG_INFO, "API: drive %s now runs on %s (%llu sectors)", id,
			spec->path, (unsigned long long)blk_capacity(vm->blks[i]));
	}
	if (disk) {
		if (patch_limit(vm, blk_virtio(vm->blks[i]), 0, body, "rate_limiter",
				&vm->opt.disks[i].limit, r) < 0)
			return;
	} else {
		struct virtio_dev *vd = net_virtio(vm->nets[i]);
		if (patch_limit(vm, vd, NET_RXQ, body, "rx_rate_limiter", &vm->opt.nets[i].rx_limit,
				r) < 0 ||
		    patch_limit(vm, vd, NET_TXQ, body, "tx_rate_limiter", &vm->opt.nets[i].tx_limit,
				r) < 0)
			return;
	}
	no_content(r);
}

static void patch_vm(struct vm *vm, const cJSON *body, struct api_resp *r)
{
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(body, "state");
	static const char *const known[] = { "state", NULL };
	if (!api_fields_known(body, known, "PATCH /vm", r))
		return;
	if (!cJSON_IsString(st) ||
	    (strcmp(st->valuestring, "Paused") != 0 && strcmp(st->valuestring, "Resumed") != 0)) {
		api_fault(r, 400, "state: expected \"Paused\" or \"Resumed\"");
		return;
	}
	bool pause = st->valuestring[0] == 'P';
	if (pause && !vm->api_paused) {
		if (!vm_pause(vm)) {
			vm_resume(vm);
			api_fault(r, 400, "state: the vCPUs did not stop");
			return;
		}
		vm->api_paused = true;
		log_msg(&vm->log, LOG_INFO, "API: paused");
	} else if (!pause && vm->api_paused) {
		/* The guest's watchdogs learn that the time it was paused is no lockup. */
		vm_clock_paused(vm);
		vm_resume(vm);
		vm->api_paused = false;
		log_msg(&vm->log, LOG_INFO, "API: resumed");
	}
	no_content(r);
}

/* ---- dispatch ---- */

/* Firecracker's devices that kvmrun does not have: one clear answer for all of them. */
static const char *not_offered(const char *path)
{
	static const struct {
		const char *prefix, *what;
	} none[] = {
		{ "/vsock", "vsock devices" },
		{ "/balloon", "a balloon device" },
		{ "/mmds", "MMDS (the metadata service)" },
		{ "/entropy", "an entropy device" },
		{ "/pmem", "pmem devices" },
		{ "/hotplug", "hot-plugging" },
		{ "/cpu-config", "custom CPU templates" },
		{ "/memory-hotplug", "hot-plugging" },
		{ "/serial", "serial configuration through the API (see --console)" },
	};
	for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
		size_t n = strlen(none[i].prefix);
		if (strncmp(path, none[i].prefix, n) == 0 && (!path[n] || path[n] == '/'))
			return none[i].what;
	}
	return NULL;
}

static bool preboot_only(const char *m, const char *path)
{
	return (strcmp(m, "PUT") == 0 &&
		(strcmp(path, "/boot-source") == 0 || strcmp(path, "/machine-config") == 0 ||
		 strcmp(path, "/logger") == 0 || strcmp(path, "/metrics") == 0 ||
		 id_of(path, "/drives/") || id_of(path, "/network-interfaces/"))) ||
	       (strcmp(m, "PATCH") == 0 && strcmp(path, "/machine-config") == 0);
}

static int action(struct vm *vm, const cJSON *body, struct api_resp *r)
{
	static const char *const known[] = { "action_type", NULL };
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(body, "action_type");
	if (!api_fields_known(body, known, "PUT /actions", r))
		return 0;
	if (!cJSON_IsString(t)) {
		api_fault(r, 400, "action_type: required, a string");
		return 0;
	}
	const char *a = t->valuestring;
	if (strcmp(a, "InstanceStart") == 0) {
		if (vm->api_started) {
			api_fault(r, 400,
				  "The requested operation is not supported after starting the "
				  "microVM (action_type InstanceStart)");
			return 0;
		}
		return ENDPOINT_START;
	}
	if (strcmp(a, "FlushMetrics") == 0 || strcmp(a, "SendCtrlAltDel") == 0) {
		if (!vm->api_started) {
			api_fault(r, 400,
				  "The requested operation is not supported before starting the "
				  "microVM (action_type %s)",
				  a);
			return 0;
		}
		if (a[0] == 'F')
			vm_report(vm, "flush", -1);
		else
			i8042_ctrl_alt_del(vm->kbd);
		no_content(r);
		return 0;
	}
	api_fault(r, 400,
		  "action_type: \"%s\": expected InstanceStart, SendCtrlAltDel or FlushMetrics", a);
	return 0;
}

static size_t resource_of(const char *path)
{
	static const char *const paths[NRES] = { "/",
						 "/version",
						 "/machine-config",
						 "/vm/config",
						 "/boot-source",
						 "/drives/",
						 "/network-interfaces/",
						 "/logger",
						 "/metrics",
						 "/actions",
						 "/vm",
						 "" };
	for (size_t i = 0; i + 1 < NRES; i++) {
		size_t n = strlen(paths[i]);
		if (paths[i][n - 1] == '/' && n > 1 ? strncmp(path, paths[i], n) == 0
						    : strcmp(path, paths[i]) == 0)
			return i;
	}
	return NRES - 1;
}

int endpoints_start_opener(struct endpoints *e, bool (*confine)(void *ctx), void *ctx)
{
	return opener_start(e->op, confine, ctx);
}

static int handle(struct vm *vm, struct endpoints *e, const struct api_req *q, struct api_resp *r);

/*
 * PUT /snapshot/load, checked: the guest starts from it as --restore runs
 * one. Only the logger and metrics may come before it (as Firecracker:
 * firecracker-go-sdk sends them first); the machine is the snapshot's.
 */
static int snapshot_load(struct vm *vm, struct endpoints *e, const cJSON *body, struct api_resp *r)
{
	static const char *const machine[] = { "boot-source", "machine-config", "drives",
					       "network-interfaces" };
	bool configured = false;
	for (size_t i = 0; i < sizeof(machine) / sizeof(machine[0]); i++) {
		const cJSON *it = cJSON_GetObjectItemCaseSensitive(e->doc, machine[i]);
		/* A GET /vm/config lists drives and interfaces, empty: a list counts when it holds one. */
		configured |= it && (!cJSON_IsArray(it) || cJSON_GetArraySize(it) > 0);
	}
	if (!snapapi_load(vm, configured, body, &e->scratch, &e->load, r))
		return 0;
	vm->opt.restore_dir = e->load.dir;
	vm->opt.restore_mem = *e->load.mem ? e->load.mem : NULL;
	vm->opt.track_dirty = e->load.track; /* then PUT /snapshot/create "Diff" */
	vm->api_paused = e->load.paused;     /* its vCPUs park before their first KVM_RUN */
	return ENDPOINT_START;
}

void endpoints_tally(struct endpoints *e, const struct api_req *q, bool failed)
{
	int m = strcmp(q->method, "GET") == 0	  ? M_GET
		: strcmp(q->method, "PUT") == 0	  ? M_PUT
		: strcmp(q->method, "PATCH") == 0 ? M_PATCH
						  : -1;
	if (m < 0)
		return; /* Firecracker's metrics count these three methods only */
	size_t res = resource_of(q->path);
	e->count[m][res]++;
	e->fails[m][res] += failed;
}

int endpoints_handle(struct vm *vm, struct endpoints *e, const struct api_req *q,
		     struct api_resp *r)
{
	int rc = handle(vm, e, q, r);
	if (arena == &e->arena)
		e->arena.used = 0; /* the request's JSON is gone */
	if (rc == 0) /* else counted by the caller, once it starts the guest or cannot */
		endpoints_tally(e, q, r->status >= 400);
	return rc;
}

void endpoints_metrics(const struct endpoints *e, struct jline *j)
{
	static const char *const names[M_KINDS] = { "get_api_requests", "put_api_requests",
						    "patch_api_requests" };
	char key[48];
	for (int m = 0; m < M_KINDS; m++) {
		j_obj(j, names[m]);
		for (size_t i = 0; i < NRES; i++) {
			snprintf(key, sizeof(key), "%s_count", resources[i]);
			j_u64(j, key, e->count[m][i]);
			snprintf(key, sizeof(key), "%s_fails", resources[i]);
			j_u64(j, key, e->fails[m][i]);
		}
		j_end(j);
	}
}

static int handle(struct vm *vm, struct endpoints *e, const struct api_req *q, struct api_resp *r)
{
	const char *m = q->method, *path = q->path, *what;
	bool get = strcmp(m, "GET") == 0, put = strcmp(m, "PUT") == 0,
	     patch = strcmp(m, "PATCH") == 0;
	cJSON *body = NULL;
	int rc = 0;
	if ((what = not_offered(path))) {
		api_fault(r, 400, "kvmrun does not offer %s (%s %s)", what, m, path);
		return 0;
	}
	if (get) {
		if (strcmp(path, "/") == 0)
			get_info(vm, r);
		else if (strcmp(path, "/version") == 0) {
			struct jline j;
			j_begin(&j);
			j_str(&j, "firecracker_version", KVMRUN_VERSION);
			j_end(&j);
			answer_json(r, &j);
		} else if (strcmp(path, "/machine-config") == 0)
			get_machine(vm, e, r);
		else if (strcmp(path, "/vm/config") == 0 && !vm->api_started) {
			/* Firecracker lists both, empty or not. */
			if (!cJSON_GetObjectItemCaseSensitive(e->doc, "drives"))
				cJSON_AddArrayToObject(e->doc, "drives");
			if (!cJSON_GetObjectItemCaseSensitive(e->doc, "network-interfaces"))
				cJSON_AddArrayToObject(e->doc, "network-interfaces");
			answer_doc(r, e->doc);
		} else if (strcmp(path, "/vm/config") == 0) {
			struct jline j;
			vm_describe(vm, &j);
			answer_json(r, &j);
		} else
			api_fault(r, 400, "Invalid request method and/or path: GET %s", path);
		return 0;
	}
	if (!put && !patch) {
		api_fault(r, 400, "Invalid request method and/or path: %s %s", m, path);
		return 0;
	}
	const char *end = NULL;
	body = cJSON_ParseWithLengthOpts(q->body, q->body_len, &end, 0);
	while (body && end < q->body + q->body_len && strchr(" \t\r\n", *end))
		end++;
	if (body && end != q->body + q->body_len) { /* more after the JSON value */
		cJSON_Delete(body);
		body = NULL;
	}
	if (!body) {
		api_fault(r, 400, "the body is not JSON (at byte %zu)",
			  end ? (size_t)(end - q->body) : 0);
		return 0;
	}
	if (!cJSON_IsObject(body)) {
		api_fault(r, 400, "the body must be a JSON object");
		goto out;
	}
	if (vm->api_started && preboot_only(m, path)) {
		api_fault(r, 400,
			  "The requested operation is not supported after starting the microVM "
			  "(%s %s)",
			  m, path);
		goto out;
	}
	if (put && strcmp(path, "/actions") == 0)
		rc = action(vm, body, r);
	else if (put && strcmp(path, "/snapshot/load") == 0)
		rc = snapshot_load(vm, e, body, r);
	else if (put && strcmp(path, "/snapshot/create") == 0)
		snapapi_create(vm, e->op, body, r);
	else if (put) {
		preboot_put(e, path, body, r);
		body = NULL; /* preboot_put owns it */
	} else if (strcmp(path, "/machine-config") == 0) {
		patch_machine(e, body, r);
		body = NULL;
	} else if (strcmp(path, "/vm") == 0 && vm->api_started)
		patch_vm(vm, body, r);
	else if ((id_of(path, "/drives/") || id_of(path, "/network-interfaces/")) &&
		 vm->api_started)
		patch_device(vm, e, path, body, r);
	else if (strcmp(path, "/vm") == 0 || id_of(path, "/drives/") ||
		 id_of(path, "/network-interfaces/"))
		api_fault(r, 400,
			  "The requested operation is not supported before starting the microVM "
			  "(%s %s)",
			  m, path);
	else
		api_fault(r, 400, "Invalid request method and/or path: %s %s", m, path);
out:
	cJSON_Delete(body);
	return rc;
}

int endpoints_apply(struct vm *vm, struct endpoints *e, struct api_resp *r)
{
	if (vm->opt.restore_dir) { /* PUT /snapshot/load: as --restore DIR */
		/* The logger and metrics PUT before it (checked then); they point into e->doc. */
		const cJSON *lg = cJSON_GetObjectItemCaseSensitive(e->doc, "logger");
		const cJSON *mt = cJSON_GetObjectItemCaseSensitive(e->doc, "metrics");
		if ((lg && fcjson_check(FC_LOGGER, lg, &vm->opt, e->err, sizeof(e->err)) < 0) ||
		    (mt && fcjson_check(FC_METRICS, mt, &vm->opt, e->err, sizeof(e->err)) < 0)) {
			api_fault(r, 400, "PUT /snapshot/load: %s", e->err);
			return -1;
		}
		config_restore_devices(&vm->opt);
		for (int k = 0; k < e->load.noverrides; k++) {
			struct net_spec *n = &vm->opt.nets[e->load.overrides[k].index];
			snprintf(n->tap, sizeof(n->tap), "%s", e->load.overrides[k].tap);
			n->fd = -1; /* a tap by name now, whatever the snapshot's was */
			n->stream[0] = 0;
		}
		return 0;
	}
	if (!cJSON_HasObjectItem(e->doc, "boot-source")) {
		api_fault(r, 400, "InstanceStart: no boot source (PUT /boot-source first)");
		return -1;
	}
	/* A file --config would give: the flags given with --api-sock still count. */
	struct options o = vm->opt;
	if (fcjson_apply(e->doc, &o, e->err, sizeof(e->err)) < 0) {
		api_fault(r, 400, "InstanceStart: %s", e->err);
		return -1;
	}
	/*
	 * Errors at start name the API's fields for what it gave, the flags'
	 * for theirs. The API's drives and NICs follow the flags' (if any):
	 * only a list that is the API's alone is named by its field.
	 */
	const struct options *before = &vm->opt;
	config_mark_from(&o, "");
	o.from_config &= config_changed(before, &o) & ~(before->ndisks ? FROM_DISKS : 0) &
			 ~(before->nnets ? FROM_NETS : 0);
	vm->opt = o;
	return 0;
}
