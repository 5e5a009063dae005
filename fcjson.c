// SPDX-License-Identifier: Apache-2.0
/*
 * Firecracker's JSON machine description, the parts kvmrun has: the
 * --config file, a snapshot's config.json, and the bodies of the API's
 * PUT/PATCH requests (api.c). Every bad field is named in one line; from a
 * file that line ends the process with status 2, from the API it is the
 * request's 400 answer and nothing changes.
 */
#include "fcjson.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layout.h"
#include "mptable.h"

#define MAX_CONFIG (1 << 20)

int fcjson_log_level(const char *v)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	if (strcasecmp(v, "off") == 0)
		return LOG_OFF;
	for (int i = 0; i < 4; i++)
		if (strcasecmp(v, names[i]) == 0 || (i == 1 && strcasecmp(v, "warning") == 0) ||
		    (i == 3 && strcasecmp(v, "trace") == 0))
			return i;
	return -2;
}

/*
 * Where a description comes from, and what an error does: from a file, one
 * line and exit 2; from the API (fail set), the line goes to msg and the
 * parse unwinds to the setjmp in fcjson_apply or fcjson_check. Nothing is
 * allocated between the two (strings point into the caller's cJSON tree),
 * so the jump leaks nothing.
 */
struct cfile {
	const char *flag; /* "--config", or "--restore" for a snapshot's config.json */
	bool snapshot;	  /* a snapshot's config.json: a NIC may have no tap (see net_ifaces) */
	const char *path;
	const char *label; /* the API: one object's name in messages ("" for none) */
	jmp_buf *fail;
	char *msg;
	size_t msglen;
};

__attribute__((format(printf, 2, 3), noreturn)) static void cfg_error(const struct cfile *f,
								      const char *fmt, ...)
{
	va_list ap;
	if (f->fail) {
		va_start(ap, fmt);
		vsnprintf(f->msg, f->msglen, fmt, ap);
		va_end(ap);
		longjmp(*f->fail, 1);
	}
	fprintf(stderr, "kvmrun: %s %s: ", f->flag, f->path);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(EXIT_USAGE);
}

/*
 * Reject any member of obj not named in `known` (NULL-terminated). Not an
 * object (an array's items have no names): nothing to reject here; the
 * caller's own type check refuses it.
 */
const char *fcjson_unknown(const cJSON *obj, const char *const *known)
{
	const cJSON *m;
	if (!cJSON_IsObject(obj))
		return NULL;
	cJSON_ArrayForEach(m, obj)
	{
		const char *const *k = known;
		while (*k && strcmp(*k, m->string) != 0)
			k++;
		if (!*k)
			return m->string;
	}
	return NULL;
}

static void only_known(const struct cfile *f, const cJSON *obj, const char *path,
		       const char *const *known)
{
	const char *bad = fcjson_unknown(obj, known);
	if (bad)
		cfg_error(f, "%s%s%s: not supported by kvmrun", path, *path ? "." : "", bad);
}

/* The separator before a field's name: none when the object has no name (an API body). */
static const char *dot(const char *path)
{
	return *path ? "." : "";
}

enum jtype { J_STR, J_INT, J_BOOL, J_OBJ, J_ARR };

/*
 * A whole number that fits a long long. The range test comes first: casting
 * a double outside it (1e300, or inf from 1e999) to an integer is undefined.
 */
static bool is_integer(double v)
{
	return v >= -9223372036854775808.0 && v < 9223372036854775808.0 &&
	       v == (double)(long long)v;
}

/* Member `name` of obj checked for type; NULL when absent (an error if required). */
static const cJSON *member(const struct cfile *f, const cJSON *obj, const char *path,
			   const char *name, enum jtype t, bool required)
{
	static const char *const tname[] = { "a string", "an integer", "true or false", "an object",
					     "an array" };
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, name);
	if (!m || cJSON_IsNull(m)) {
		if (required)
			cfg_error(f, "%s%s%s: required", path, *path ? "." : "", name);
		return NULL;
	}
	bool ok = (t == J_STR && cJSON_IsString(m)) || (t == J_BOOL && cJSON_IsBool(m)) ||
		  (t == J_OBJ && cJSON_IsObject(m)) || (t == J_ARR && cJSON_IsArray(m)) ||
		  (t == J_INT && cJSON_IsNumber(m) && is_integer(m->valuedouble));
	if (!ok)
		cfg_error(f, "%s%s%s: expected %s", path, *path ? "." : "", name, tname[t]);
	return m;
}

static const char *str_member(const struct cfile *f, const cJSON *o, const char *path,
			      const char *name, bool required)
{
	const cJSON *m = member(f, o, path, name, J_STR, required);
	return m ? m->valuestring : NULL;
}

static void boot_source(const struct cfile *f, const cJSON *b, struct options *o)
{
	static const char *const known[] = { "kernel_image_path", "initrd_path", "boot_args",
					     NULL };
	only_known(f, b, "boot-source", known);
	o->kernel = str_member(f, b, "boot-source", "kernel_image_path", true);
	o->initrd = str_member(f, b, "boot-source", "initrd_path", false);
	o->cmdline = str_member(f, b, "boot-source", "boot_args", false);
}

static void machine_config(const struct cfile *f, const cJSON *m, struct options *o)
{
	static const char *const known[] = {
		"vcpu_count",	"mem_size_mib", "smt", "track_dirty_pages",
		"cpu_template", "huge_pages",	NULL
	};
	const char *p = "machine-config";
	only_known(f, m, p, known);
	double cpus = member(f, m, p, "vcpu_count", J_INT, true)->valuedouble;
	double mib = member(f, m, p, "mem_size_mib", J_INT, true)->valuedouble;
	if (cpus < 1 || cpus > MAX_CPUS)
		cfg_error(f, "machine-config.vcpu_count: must be between 1 and %d", MAX_CPUS);
	if (mib < 1 || mib > (double)(1 << 30))
		cfg_error(f, "machine-config.mem_size_mib: out of range");
	o->cpus = (int)cpus;
	o->memory = (uint64_t)mib << 20;
	const cJSON *smt = member(f, m, p, "smt", J_BOOL, false);
	if (smt && cJSON_IsTrue(smt))
		cfg_error(f,
			  "machine-config.smt: true is not supported (each vCPU is its own core)");
	const cJSON *dirty = member(f, m, p, "track_dirty_pages", J_BOOL, false);
	if (dirty && cJSON_IsTrue(dirty))
		cfg_error(f, "machine-config.track_dirty_pages: true is not supported");
	const cJSON *tmpl = member(f, m, p, "cpu_template", J_STR, false);
	if (tmpl && strcmp(tmpl->valuestring, "None") != 0)
		cfg_error(f, "machine-config.cpu_template: \"%s\" is not supported (only \"None\")",
			  tmpl->valuestring);
	/*
	 * kvmrun's 2 MiB pages are transparent ones: "2M" (hugetlbfs in
	 * Firecracker) and Firecracker's "Transparent" both ask for them.
	 */
	const cJSON *huge = member(f, m, p, "huge_pages", J_STR, false);
	const char *h = huge ? huge->valuestring : NULL;
	if (h && strcmp(h, "None") != 0 && strcmp(h, "2M") != 0 && strcmp(h, "Transparent") != 0)
		cfg_error(f,
			  "machine-config.huge_pages: \"%s\" is not supported (\"None\", \"2M\" "
			  "or \"Transparent\")",
			  h);
	if (h)
		o->pages = strcmp(h, "None") != 0 ? PAGES_HUGE : PAGES_SMALL;
}

/* A TokenBucket: {size, one_time_burst, refill_time}, non-negative integers (Firecracker's). */
static void token_bucket(const struct cfile *f, const cJSON *b, const char *path,
			 struct rl_bucket_spec *out)
{
	static const char *const known[] = { "size", "one_time_burst", "refill_time", NULL };
	static const char *const names[] = { "size", "one_time_burst", "refill_time" };
	uint64_t *to[] = { &out->size, &out->one_time_burst, &out->refill_ms };
	if (!cJSON_IsObject(b))
		cfg_error(f, "%s: expected an object", path);
	only_known(f, b, path, known);
	for (int i = 0; i < 3; i++) {
		const cJSON *m = member(f, b, path, names[i], J_INT, i != 1);
		if (m && (m->valuedouble < 0 || m->valuedouble > (double)(1ull << 62)))
			cfg_error(f, "%s.%s: must be between 0 and 2^62", path, names[i]);
		*to[i] = m ? (uint64_t)m->valuedouble : 0;
	}
}

/* A RateLimiter: {bandwidth, ops}, each a TokenBucket or absent (Kata sends {} always). */
static void rate_limiter(const struct cfile *f, const cJSON *parent, const char *path,
			 const char *name, struct rl_spec *out)
{
	static const char *const known[] = { "bandwidth", "ops", NULL };
	char p[96], q[112];
	const cJSON *rl = member(f, parent, path, name, J_OBJ, false);
	memset(out, 0, sizeof(*out));
	if (!rl)
		return;
	snprintf(p, sizeof(p), "%s%s%s", path, dot(path), name);
	only_known(f, rl, p, known);
	const cJSON *bw = cJSON_GetObjectItemCaseSensitive(rl, "bandwidth");
	const cJSON *ops = cJSON_GetObjectItemCaseSensitive(rl, "ops");
	if (bw && !cJSON_IsNull(bw)) {
		snprintf(q, sizeof(q), "%s.bandwidth", p);
		token_bucket(f, bw, q, &out->bw);
	}
	if (ops && !cJSON_IsNull(ops)) {
		snprintf(q, sizeof(q), "%s.ops", p);
		token_bucket(f, ops, q, &out->ops);
	}
}

static void drives(struct cfile *f, const cJSON *arr, struct options *o)
{
	static const char *const known[] = { "drive_id",     "path_on_host", "is_root_device",
					     "is_read_only", "cache_type",   "io_engine",
					     "rate_limiter", "partuuid",     NULL };
	const cJSON *d;
	int root = -1;
	const char *partuuid = NULL; /* the root drive's: root=PARTUUID=, as Firecracker */
	cJSON_ArrayForEach(d, arr)
	{
		char p[32];
		snprintf(p, sizeof(p), "drives[%d]", o->ndisks);
		if (f->label)
			snprintf(p, sizeof(p), "%s", f->label);
		if (!cJSON_IsObject(d))
			cfg_error(f, "%s: expected an object", p);
		if (o->ndisks == MAX_DISKS)
			cfg_error(f, "%s: at most %d drives", p, MAX_DISKS);
		only_known(f, d, p, known);
		struct blk_spec *s = &o->disks[o->ndisks];
		memset(s, 0, sizeof(*s));
		const char *id = member(f, d, p, "drive_id", J_STR, true)->valuestring;
		if (!*id || strlen(id) >= sizeof(o->disk_ids[0]))
			cfg_error(f, "%s%sdrive_id: 1 to %zu characters", p, *p ? "." : "",
				  sizeof(o->disk_ids[0]) - 1);
		const char *path = member(f, d, p, "path_on_host", J_STR, true)->valuestring;
		if (!*path || strlen(path) >= sizeof(s->path) || strchr(path, ','))
			cfg_error(f, "%s%spath_on_host: empty, too long or contains a comma", p,
				  dot(p));
		strcpy(s->path, path);
		strcpy(o->disk_ids[o->ndisks], id);
		bool is_root = cJSON_IsTrue(member(f, d, p, "is_root_device", J_BOOL, true));
		const cJSON *ro = member(f, d, p, "is_read_only", J_BOOL, false);
		s->ro = ro && cJSON_IsTrue(ro);
		/* Firecracker's default is Unsafe: no FLUSH offered to the guest. */
		const cJSON *cache = member(f, d, p, "cache_type", J_STR, false);
		s->no_flush = true;
		if (cache && strcmp(cache->valuestring, "Writeback") == 0)
			s->no_flush = false;
		else if (cache && strcmp(cache->valuestring, "Unsafe") != 0)
			cfg_error(f, "%s%scache_type: expected \"Unsafe\" or \"Writeback\"", p,
				  dot(p));
		rate_limiter(f, d, p, "rate_limiter", &s->limit);
		const cJSON *eng = member(f, d, p, "io_engine", J_STR, false);
		/* "Async" is Firecracker's io_uring engine: here both are kvmrun's I/O thread. */
		if (eng && strcmp(eng->valuestring, "Sync") != 0 &&
		    strcmp(eng->valuestring, "Async") != 0)
			cfg_error(f, "%s%sio_engine: \"%s\": expected \"Sync\" or \"Async\"", p,
				  dot(p), eng->valuestring);
		/* A partition's UUID: GPT's 36 characters, or MBR's "12345678-01". */
		const char *pu = str_member(f, d, p, "partuuid", false);
		if (pu && (!*pu || strlen(pu) > 36 ||
			   strspn(pu, "0123456789abcdefABCDEF-") != strlen(pu)))
			cfg_error(f,
				  "%s%spartuuid: \"%s\": expected a partition UUID (hex digits and "
				  "dashes, at most 36)",
				  p, dot(p), pu);
		if (is_root) {
			if (root >= 0)
				cfg_error(
					f,
					"%s%sis_root_device: drives[%d] is the root device already",
					p, dot(p), root);
			root = o->ndisks;
			partuuid = pu; /* only the root drive's counts, as in Firecracker */
		}
		o->ndisks++;
	}
	/* Like Firecracker: the root drive becomes /dev/vda and the command line says so. */
	if (root > 0) {
		struct blk_spec r = o->disks[root];
		char id[sizeof(o->disk_ids[0])];
		memcpy(id, o->disk_ids[root], sizeof(id));
		memmove(&o->disks[1], &o->disks[0], (size_t)root * sizeof(r));
		memmove(&o->disk_ids[1], &o->disk_ids[0], (size_t)root * sizeof(id));
		o->disks[0] = r;
		memcpy(o->disk_ids[0], id, sizeof(id));
	}
	if (root >= 0 && partuuid)
		snprintf(o->extra_cmdline, sizeof(o->extra_cmdline), "root=PARTUUID=%s %s",
			 partuuid, o->disks[0].ro ? "ro" : "rw");
	else if (root >= 0)
		snprintf(o->extra_cmdline, sizeof(o->extra_cmdline), "root=/dev/vda %s",
			 o->disks[0].ro ? "ro" : "rw");
}

static void net_ifaces(struct cfile *f, const cJSON *arr, struct options *o)
{
	static const char *const known[] = { "iface_id",	"host_dev_name",   "guest_mac",
					     "rx_rate_limiter", "tx_rate_limiter", NULL };
	const cJSON *n;
	cJSON_ArrayForEach(n, arr)
	{
		char p[40];
		snprintf(p, sizeof(p), "network-interfaces[%d]", o->nnets);
		if (f->label)
			snprintf(p, sizeof(p), "%s", f->label);
		if (!cJSON_IsObject(n))
			cfg_error(f, "%s: expected an object", p);
		if (o->nnets == MAX_NETS)
			cfg_error(f, "%s: at most %d interfaces", p, MAX_NETS);
		only_known(f, n, p, known);
		const char *id = member(f, n, p, "iface_id", J_STR, true)->valuestring;
		if (!*id || strlen(id) >= sizeof(o->net_ids[0]))
			cfg_error(f, "%s%siface_id: 1 to %zu characters", p, *p ? "." : "",
				  sizeof(o->net_ids[0]) - 1);
		const char *dev = member(f, n, p, "host_dev_name", J_STR, true)->valuestring;
		const cJSON *mac = member(f, n, p, "guest_mac", J_STR, false);
		struct net_spec *s = &o->nets[o->nnets];
		/*
		 * A snapshot names "" for a NIC that was on a handed-in fd or a
		 * stream: the restore must put it on something again (--net,
		 * network_overrides), and says so if it does not.
		 */
		const char *why =
			f->snapshot && !*dev ? NULL : net_tap_name_error(dev, strlen(dev));
		memset(s, 0, sizeof(*s));
		s->fd = -1;
		if (why)
			cfg_error(f, "%s%shost_dev_name: %s", p, dot(p), why);
		memcpy(s->tap, dev, strlen(dev));
		strcpy(o->net_ids[o->nnets], id);
		if (mac && net_parse_mac(mac->valuestring, s->mac) < 0)
			cfg_error(f,
				  "%s%sguest_mac: bad MAC '%s' (want a unicast address like "
				  "52:54:00:12:34:56)",
				  p, dot(p), mac->valuestring);
		s->has_mac = mac != NULL;
		rate_limiter(f, n, p, "rx_rate_limiter", &s->rx_limit);
		rate_limiter(f, n, p, "tx_rate_limiter", &s->tx_limit);
		o->nnets++;
	}
}

static void logger(const struct cfile *f, const cJSON *lg, struct options *o)
{
	static const char *const lk[] = { "log_path",	     "level",  "show_level",
					  "show_log_origin", "module", NULL };
	const char *p = f->label ? f->label : "logger";
	only_known(f, lg, p, lk);
	/* Optional, as in Firecracker: a level alone changes the level of --log, if any. */
	const char *path = str_member(f, lg, p, "log_path", false);
	if (path)
		o->log_path = path;
	const cJSON *lvl = member(f, lg, p, "level", J_STR, false);
	int level = lvl ? fcjson_log_level(lvl->valuestring) : (int)o->log_level;
	if (level < LOG_OFF)
		cfg_error(f, "%s%slevel: \"%s\": expected Off, Error, Warning, Info or Debug", p,
			  dot(p), lvl->valuestring);
	o->log_level = (enum log_level)level;
	/* kvmrun shows levels unless told not to (Firecracker's default is not to). */
	const cJSON *show = member(f, lg, p, "show_level", J_BOOL, false);
	o->log_hide_level = show && cJSON_IsFalse(show);
	o->log_origin = cJSON_IsTrue(member(f, lg, p, "show_log_origin", J_BOOL, false));
	/* kvmrun's modules are its source files; Firecracker's (Rust paths) name none. */
	o->log_module = str_member(f, lg, p, "module", false);
	if (o->log_module && !log_module_known(o->log_module))
		cfg_error(f, "%s%smodule: \"%s\": no kvmrun module is named so (its modules: %s)",
			  p, dot(p), o->log_module, log_modules);
}

static void metrics(const struct cfile *f, const cJSON *mt, struct options *o)
{
	static const char *const mk[] = { "metrics_path", NULL };
	const char *p = f->label ? f->label : "metrics";
	only_known(f, mt, p, mk);
	o->metrics_path = str_member(f, mt, p, "metrics_path", true);
}

/* A whole description (the top-level object) into o. */
static void apply(struct cfile *f, const cJSON *root, struct options *o)
{
	static const char *const known[] = {
		"boot-source", "drives", "network-interfaces", "machine-config", "logger",
		"metrics",     NULL
	};
	if (!cJSON_IsObject(root))
		cfg_error(f, "expected a JSON object at the top");
	only_known(f, root, "", known);
	boot_source(f, member(f, root, "", "boot-source", J_OBJ, true), o);
	const cJSON *m = member(f, root, "", "machine-config", J_OBJ, false);
	if (m)
		machine_config(f, m, o);
	const cJSON *d = member(f, root, "", "drives", J_ARR, false);
	if (d)
		drives(f, d, o);
	const cJSON *n = member(f, root, "", "network-interfaces", J_ARR, false);
	if (n)
		net_ifaces(f, n, o);
	if (o->ndisks + o->nnets > MAX_VIRTIO_DEVICES)
		cfg_error(f,
			  "drives, network-interfaces: %d in all; at most %d (each takes one of "
			  "the interrupt controller's free lines)",
			  o->ndisks + o->nnets, MAX_VIRTIO_DEVICES);
	const cJSON *lg = member(f, root, "", "logger", J_OBJ, false);
	if (lg)
		logger(f, lg, o);
	const cJSON *mt = member(f, root, "", "metrics", J_OBJ, false);
	if (mt)
		metrics(f, mt, o);
}

__attribute__((format(printf, 3, 4), noreturn)) static void
file_error(const char *flag, const char *path, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "kvmrun: %s %s: ", flag, path);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see kvmrun --help)\n", stderr);
	exit(EXIT_USAGE);
}

/* A file that cannot be read: the process ends, or (f->fail) the caller gets the reason. */
__attribute__((noreturn)) static void read_error(const struct cfile *f, const char *why)
{
	if (f->fail)
		cfg_error(f, "%s", why);
	file_error(f->flag, f->path, "%s", why);
}

static char *read_config(const struct cfile *f, size_t *len)
{
	/* O_NONBLOCK: a FIFO is refused below, not waited on (the API thread reads these too). */
	int fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	struct stat st;
	if (fd < 0)
		read_error(f, strerror(errno));
	char *buf = NULL;
	ssize_t r = -1;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= MAX_CONFIG &&
	    (buf = malloc((size_t)st.st_size + 1)))
		r = read(fd, buf, (size_t)st.st_size);
	close(fd);
	if (r < 0 || r != st.st_size) {
		const char *why = buf ? "cannot read it" : "not a regular file of at most 1 MiB";
		free(buf);
		read_error(f, why);
	}
	buf[r] = 0;
	*len = (size_t)r;
	return buf;
}

static cJSON *parse_file(const struct cfile *f)
{
	size_t len;
	char *text = read_config(f, &len);
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithOpts(text, &end, 1);
	if (!root) {
		size_t at = end ? (size_t)(end - text) : len, line = 1, col = 1;
		for (size_t i = 0; i < at && i < len; i++, col++)
			if (text[i] == '\n')
				line++, col = 0;
		free(text);
		cfg_error(f, "malformed JSON at line %zu, column %zu", line, col);
	}
	free(text); /* cJSON holds copies */
	return root;
}

void fcjson_load(const char *flag, const char *path, struct options *o)
{
	struct cfile f = { .flag = flag, .path = path, .snapshot = strcmp(flag, "--restore") == 0 };
	apply(&f, parse_file(&f), o);
	/* The tree stays: o's strings point into it, for the life of the process. */
}

int fcjson_check_file(const char *path, struct options *scratch, char *err, size_t errlen)
{
	jmp_buf fail;
	struct cfile f = { .flag = "api",
			   .path = path,
			   .snapshot = true,
			   .fail = &fail,
			   .msg = err,
			   .msglen = errlen };
	cJSON *volatile root = NULL;
	if (setjmp(fail)) {
		cJSON_Delete(root);
		return -1;
	}
	memset(scratch, 0, sizeof(*scratch));
	root = parse_file(&f);
	apply(&f, root, scratch);
	cJSON_Delete(root);
	return 0;
}

int fcjson_apply(const cJSON *root, struct options *o, char *err, size_t errlen)
{
	jmp_buf fail;
	struct cfile f = { .flag = "api", .path = "", .fail = &fail, .msg = err, .msglen = errlen };
	if (setjmp(fail))
		return -1;
	apply(&f, root, o);
	return 0;
}

int fcjson_check(enum fcjson_part part, const cJSON *obj, struct options *scratch, char *err,
		 size_t errlen)
{
	jmp_buf fail;
	struct cfile f = {
		.flag = "api", .path = "", .label = "", .fail = &fail, .msg = err, .msglen = errlen
	};
	cJSON *volatile one = NULL; /* volatile: read after the longjmp */
	if (setjmp(fail)) {
		cJSON_Delete(one); /* holds only a reference to obj */
		return -1;
	}
	if (!cJSON_IsObject(obj))
		cfg_error(&f, "the body must be a JSON object");
	switch (part) {
	case FC_BOOT_SOURCE:
		boot_source(&f, obj, scratch);
		break;
	case FC_MACHINE_CONFIG:
		machine_config(&f, obj, scratch);
		break;
	case FC_DRIVE:
	case FC_IFACE:
		/* The array readers take one object the way a file lists it. */
		one = cJSON_CreateArray();
		if (!one || !cJSON_AddItemReferenceToArray(one, (cJSON *)obj))
			cfg_error(&f, "out of memory");
		scratch->ndisks = scratch->nnets = 0;
		(part == FC_DRIVE ? drives : net_ifaces)(&f, one, scratch);
		break;
	case FC_LOGGER:
		logger(&f, obj, scratch);
		break;
	case FC_METRICS:
		metrics(&f, obj, scratch);
		break;
	}
	cJSON_Delete(one);
	return 0;
}

int fcjson_rate_limiter(const cJSON *parent, const char *name, struct rl_spec *out, char *err,
			size_t errlen)
{
	jmp_buf fail;
	struct cfile f = { .flag = "api", .path = "", .fail = &fail, .msg = err, .msglen = errlen };
	if (setjmp(fail))
		return -1;
	rate_limiter(&f, parent, "", name, out);
	return 0;
}
