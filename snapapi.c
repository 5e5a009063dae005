// SPDX-License-Identifier: Apache-2.0
/*
 * The API's snapshot endpoints: PUT /snapshot/create on a paused guest, and
 * PUT /snapshot/load's checks before start (endpoints.c dispatches to them;
 * snapshot.c writes and reads the files).
 */
#include "snapapi.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fcjson.h"
#include "opener.h"
#include "snappath.h"
#include "snapshot.h"

/*
 * The snapshot's memory file when the client named a pair of files (state
 * file and memory file, as Firecracker's clients do): mem's path. NULL for
 * kvmrun's directory form (mem absent, or DIR/memory), or with r a 400
 * naming key (r->status set).
 */
static const char *pair_memory(const cJSON *dir, const cJSON *mem, const char *key,
			       struct api_resp *r)
{
	char want[4200];
	r->status = 0;
	if (!mem)
		return NULL;
	if (!cJSON_IsString(mem) || !*mem->valuestring) {
		api_fault(r, 400, "%s: expected a path", key);
		return NULL;
	}
	snprintf(want, sizeof(want), "%s/memory", dir->valuestring);
	if (strcmp(mem->valuestring, want) == 0)
		return NULL;
	bool too_long = strlen(mem->valuestring) >= SNAPAPI_PATH - 16;
	if (too_long || strcmp(mem->valuestring, dir->valuestring) == 0) {
		api_fault(r, 400, "%s: %s", key,
			  too_long ? "too long" : "the same file as snapshot_path");
		return NULL;
	}
	return mem->valuestring;
}

/*
 * PUT /snapshot/create, the guest paused (PATCH /vm) as Firecracker wants
 * it: a full kvmrun snapshot into the directory snapshot_path (made if
 * missing), which --restore DIR or PUT /snapshot/load runs. The opener
 * creates the files; main writes them (as on SIGUSR2); the guest stays
 * paused.
 */
void snapapi_create(struct vm *vm, struct opener *op, const cJSON *body, struct api_resp *r)
{
	static const char *const known[] = { "snapshot_path", "mem_file_path", "snapshot_type",
					     "version", NULL };
	const cJSON *dir = cJSON_GetObjectItemCaseSensitive(body, "snapshot_path");
	const cJSON *mem = cJSON_GetObjectItemCaseSensitive(body, "mem_file_path");
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(body, "snapshot_type");
	char err[256];
	if (!api_fields_known(body, known, "PUT /snapshot/create", r))
		return;
	if (!vm->api_started || !vm->api_paused) {
		api_fault(r, 400, "PUT /snapshot/create: the microVM must be %s (PATCH /vm Paused)",
			  vm->api_started ? "paused first" : "started and paused");
		return;
	}
	if (!cJSON_IsString(dir) || !*dir->valuestring ||
	    strlen(dir->valuestring) >= SNAPAPI_PATH - 16) {
		api_fault(r, 400,
			  "snapshot_path: required: a directory for kvmrun's snapshot, or its "
			  "state file");
		return;
	}
	bool diff = cJSON_IsString(type) && strcmp(type->valuestring, "Diff") == 0;
	if (type && !diff && (!cJSON_IsString(type) || strcmp(type->valuestring, "Full") != 0)) {
		api_fault(r, 400, "snapshot_type: \"Full\" or \"Diff\"");
		return;
	}
	if (diff && !vm->opt.track_dirty) {
		api_fault(r, 400,
			  "snapshot_type: \"Diff\" needs a guest loaded with track_dirty_pages "
			  "(PUT /snapshot/load): a kvmrun diff holds the pages written since "
			  "that load");
		return;
	}
	/*
	 * A directory of kvmrun's files; or, with mem_file_path elsewhere, the
	 * pair of files Firecracker's clients name (snappath.h: the machine's
	 * JSON goes beside the state file).
	 */
	const char *pair = pair_memory(dir, mem, "mem_file_path", r);
	if (!pair && r->status)
		return;
	if (pair && diff) {
		api_fault(r, 400,
			  "snapshot_type: a \"Diff\" is written to a snapshot directory "
			  "(mem_file_path absent or %s/memory): it names its base by directory",
			  dir->valuestring);
		return;
	}
	int fds[SNAPSHOT_FILES];
	if (opener_snapshot_files(op, dir->valuestring, pair, diff, fds, err, sizeof(err)) < 0) {
		api_fault(r, 400, "snapshot_path: %s", err);
		return;
	}
	bool ok = snapshot_take_to(vm, dir->valuestring, fds, diff);
	opener_close(op, fds);
	if (!ok) {
		api_fault(r, 400,
			  "snapshot_path: %s: the snapshot could not be written (see the log)",
			  dir->valuestring);
		return;
	}
	r->status = 204;
	r->len = 0;
}

/*
 * network_overrides ([{iface_id, host_dev_name}], as Firecracker's): a
 * clone's NIC on a tap of its own. Each iface_id must name one of the
 * snapshot's NICs (saved: its config.json), once. true with out's
 * overrides, or false with r a 400 naming the entry.
 */
static bool net_overrides(const cJSON *list, const struct options *saved, struct snapapi_load *out,
			  struct api_resp *r)
{
	static const char *const known[] = { "iface_id", "host_dev_name", NULL };
	out->noverrides = 0;
	if (!list)
		return true;
	if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) > MAX_NETS) {
		api_fault(r, 400,
			  "network_overrides: expected an array of at most %d {\"iface_id\", "
			  "\"host_dev_name\"}",
			  MAX_NETS);
		return false;
	}
	const cJSON *o;
	int k = 0;
	cJSON_ArrayForEach(o, list)
	{
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "iface_id");
		const cJSON *tap = cJSON_GetObjectItemCaseSensitive(o, "host_dev_name");
		const char *bad = fcjson_unknown(o, known), *why = NULL;
		if (!cJSON_IsObject(o) || bad || !cJSON_IsString(id) || !cJSON_IsString(tap)) {
			api_fault(r, 400, "network_overrides[%d]: %s%s", k, bad ? bad : "",
				  bad ? ": not supported by kvmrun"
				      : "expected {\"iface_id\": ..., \"host_dev_name\": ...}");
			return false;
		}
		if ((why = net_tap_name_error(tap->valuestring, strlen(tap->valuestring)))) {
			api_fault(r, 400, "network_overrides[%d].host_dev_name: \"%s\": %s", k,
				  tap->valuestring, why);
			return false;
		}
		int i = 0;
		while (i < saved->nnets && strcmp(saved->net_ids[i], id->valuestring) != 0)
			i++;
		for (int j = 0; j < k && i < saved->nnets; j++)
			if (out->overrides[j].index == i)
				why = "named twice";
		if (i == saved->nnets || why) {
			api_fault(r, 400, "network_overrides[%d].iface_id: \"%s\": %s", k,
				  id->valuestring,
				  why ? why : "the snapshot has no network interface of that id");
			return false;
		}
		out->overrides[k].index = i;
		snprintf(out->overrides[k].tap, sizeof(out->overrides[k].tap), "%s",
			 tap->valuestring);
		k++;
	}
	out->noverrides = k;
	/* A NIC the snapshot had on an fd or a stream runs only on the tap given here. */
	for (int i = 0; i < saved->nnets; i++) {
		bool given = false;
		for (int j = 0; j < k; j++)
			given |= out->overrides[j].index == i;
		if (!given && net_spec_unset(&saved->nets[i])) {
			api_fault(r, 400,
				  "network_overrides: the snapshot's interface \"%s\" was on a "
				  "stream "
				  "or a handed-in fd: give it a host_dev_name",
				  saved->net_ids[i]);
			return false;
		}
	}
	return true;
}

/*
 * PUT /snapshot/load before start: the guest a kvmrun snapshot directory
 * holds (snapshot_path), as --restore DIR runs it. Firecracker's snapshot is
 * two files; kvmrun's is a directory, whose memory file is the only one
 * mem_backend / mem_file_path may name. As Firecracker, the guest stays
 * paused unless resume_vm is true (its default is false, and go-sdk leaves a
 * false out): a pool of loaded clones waits for PATCH /vm Resumed.
 */
bool snapapi_load(const struct vm *vm, bool configured, const cJSON *body, struct options *scratch,
		  struct snapapi_load *out, struct api_resp *r)
{
	static const char *const known[] = { "snapshot_path",	  "mem_file_path",
					     "mem_backend",	  "enable_diff_snapshots",
					     "resume_vm",	  "track_dirty_pages",
					     "network_overrides", "clock_realtime",
					     "huge_pages",	  NULL };
	const cJSON *dir = cJSON_GetObjectItemCaseSensitive(body, "snapshot_path");
	const cJSON *resume = cJSON_GetObjectItemCaseSensitive(body, "resume_vm");
	const cJSON *mem = cJSON_GetObjectItemCaseSensitive(body, "mem_file_path");
	const cJSON *backend = cJSON_GetObjectItemCaseSensitive(body, "mem_backend");
	char want[4200], err[256];
	if (!api_fields_known(body, known, "PUT /snapshot/load", r))
		return false;
	if (vm->api_started) {
		api_fault(r, 400,
			  "The requested operation is not supported after starting the "
			  "microVM (PUT /snapshot/load)");
		return false;
	}
	if (!cJSON_IsString(dir) || !*dir->valuestring) {
		api_fault(r, 400, "snapshot_path: required: the directory of a kvmrun snapshot");
		return false;
	}
	if (resume && !cJSON_IsBool(resume)) {
		api_fault(r, 400, "resume_vm: expected true or false");
		return false;
	}
	/*
	 * Firecracker's clock_realtime true moves the guest's clock on by the
	 * time since the snapshot; kvmrun's guest goes on from its snapshot's
	 * instant (false, the default). huge_pages: the snapshot's own pages.
	 */
	const cJSON *rt = cJSON_GetObjectItemCaseSensitive(body, "clock_realtime");
	if (rt && !cJSON_IsNull(rt) && !cJSON_IsFalse(rt)) {
		api_fault(r, 400,
			  "clock_realtime: only false (the guest's clock goes on from the "
			  "snapshot's instant)");
		return false;
	}
	const cJSON *hp = cJSON_GetObjectItemCaseSensitive(body, "huge_pages");
	if (hp && !cJSON_IsNull(hp) && !(cJSON_IsString(hp) && !strcmp(hp->valuestring, "None"))) {
		api_fault(r, 400,
			  "huge_pages: only \"None\" (a restored guest runs on its memory "
			  "file's pages)");
		return false;
	}
	if (strlen(dir->valuestring) >= SNAPAPI_PATH - 16) {
		api_fault(r, 400, "snapshot_path: too long");
		return false;
	}
	/* Firecracker's enable_diff_snapshots is the older name of track_dirty_pages. */
	static const char *const track_keys[] = { "track_dirty_pages", "enable_diff_snapshots" };
	bool track = false;
	for (size_t i = 0; i < 2; i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, track_keys[i]);
		if (v && !cJSON_IsBool(v)) {
			api_fault(r, 400, "%s: expected true or false", track_keys[i]);
			return false;
		}
		track |= cJSON_IsTrue(v);
	}
	if (backend) {
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(backend, "backend_type");
		if (!cJSON_IsString(t) || strcmp(t->valuestring, "File") != 0) {
			api_fault(r, 400, "mem_backend.backend_type: only \"File\"");
			return false;
		}
		mem = cJSON_GetObjectItemCaseSensitive(backend, "backend_path");
	}
	const char *pair = pair_memory(dir, mem, backend ? "mem_backend" : "mem_file_path", r);
	if (!pair && r->status)
		return false;
	if (pair && track) {
		api_fault(r, 400,
			  "track_dirty_pages: needs kvmrun's snapshot directory (its diffs name "
			  "their base by directory), not a pair of files");
		return false;
	}
	snprintf(want, sizeof(want), pair ? "%s" : "%s/state", dir->valuestring);
	int fd = open(want, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY); /* a FIFO: no hang */
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, sizeof(err), "%s",
			 fd < 0 ? strerror(errno)
				: "a directory: its memory file would be in it (mem_backend "
				  "absent, or DIR/memory)");
		if (fd >= 0)
			close(fd);
		api_fault(r, 400, "snapshot_path: %s: %s", want, err);
		return false;
	}
	close(fd);
	if (configured) {
		api_fault(r, 400,
			  "snapshot_path: the machine comes from the snapshot: load it "
			  "before any other PUT (as Firecracker)");
		return false;
	}
	/* Its machine, read now: a damaged one is this request's 400, not an exit later. */
	if (!snap_path(want, sizeof(want), dir->valuestring, pair, SNAP_CONFIG) ||
	    fcjson_check_file(want, scratch, err, sizeof(err)) < 0) {
		api_fault(r, 400, "snapshot_path: %s: %s", want, err);
		return false;
	}
	if (!net_overrides(cJSON_GetObjectItemCaseSensitive(body, "network_overrides"), scratch,
			   out, r))
		return false;
	snprintf(out->dir, sizeof(out->dir), "%s", dir->valuestring);
	snprintf(out->mem, sizeof(out->mem), "%s", pair ? pair : "");
	out->track = track;
	out->paused = !cJSON_IsTrue(resume);
	return true;
}
