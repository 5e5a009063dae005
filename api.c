// SPDX-License-Identifier: Apache-2.0
/*
 * The API socket's transport: a Unix stream socket, HTTP/1.1 parsed by
 * Debian's http-parser on a thread of its own (under its own seccomp role:
 * it reads bytes from clients and nothing else). Only a whole, well-formed
 * request reaches main, which answers it (endpoints.c): so the code that
 * touches raw client bytes holds no power over the VM, and what changes the
 * VM runs on the one thread that already owns it.
 *
 * Clients are many and independent: connections are non-blocking, each has
 * its own buffer, a request must arrive whole within REQUEST_MS of its
 * first byte and an answer must be taken within REQUEST_MS, so a slow or
 * stuck client costs a slot and never blocks another or the guest. Idle
 * connections (keep-alive, between requests) have no deadline, but when
 * every slot is taken the one idle longest is closed for the newcomer, so
 * clients that open and keep connections cannot lock the orchestrator out.
 * One request at a time per connection: pipelined bytes wait in its buffer.
 */
#include "api.h"

#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "fcjson.h"
#include "util.h"

#define MAX_CONNS 128	 /* more wait in the listen backlog */
#define REQUEST_MS 10000 /* a request's bytes, or an answer's, take at most this */
#define OUT_MAX (API_MAX_BODY + 256)

struct conn {
	int fd; /* -1: free */
	http_parser p;
	size_t len, parsed;  /* bytes in buf; of them, fed to the parser */
	uint64_t deadline;   /* ns; 0: idle between requests */
	uint64_t idle_since; /* ns: when it last became idle (the oldest goes first when full) */
	bool complete, too_big, url_long;
	/* The header being read: its name's first bytes; the Expect header's value. */
	bool in_value, in_expect;
	uint8_t name_len, expect_len;
	char name[8], expect[16];
	char url[256];
	size_t url_len;
	char *body; /* in buf: the body's pieces moved together as they come */
	size_t body_len;
	size_t out_len, out_off;
	char out[OUT_MAX];
	char buf[API_MAX_REQUEST];
};

struct api {
	int lfd, ep, efd, dirfd;
	int confine_fd; /* eventfd: main is jailed, the thread confines itself now */
	char name[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct conn *conns; /* MAX_CONNS, mapped once: the thread allocates nothing */
	uint8_t busy
		[MAX_CONNS]; /* conns[i] holds a connection (the slots stay untouched till used) */
	http_parser_settings cb;
	bool (*thread_start)(void *ctx);
	void *ctx;
	/* Before start: requests answered on the thread (api_direct). */
	_Atomic(api_direct_fn) direct;
	void *direct_ctx;
	struct api_resp direct_resp;
	struct api_resp refusal;  /* the thread's, for refuse() */
	struct api_resp farewell; /* main's, for api_fail_taken() on its way out */
	/* The request main holds: filled by the thread, answered by main. */
	struct conn *taken;
	struct api_req req;
	/* main's word to the thread: W_ANSWERED (its request has an answer), W_CONFINE (confine now) */
	atomic_int word;
	bool confined, failed; /* the thread's: it asked for its filter; it could not have it */
};
enum { W_ANSWERED = 1, W_CONFINE = 2 };

/* epoll data: NULL is the listening socket, &confine_tag main's word, else a conn. */
static const char confine_tag;

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* ---- http-parser callbacks: one message's URL and body, into the conn ---- */

static int on_begin(http_parser *p)
{
	struct conn *c = p->data;
	c->url_len = 0;
	c->url_long = false;
	c->body = NULL;
	c->body_len = 0;
	c->in_value = c->in_expect = false;
	c->name_len = c->expect_len = 0;
	c->deadline = now_ns() + (uint64_t)REQUEST_MS * 1000000u;
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
	struct conn *c = p->data;
	if (c->url_len + len >= sizeof(c->url)) {
		c->url_long = true;
		return 0;
	}
	memcpy(c->url + c->url_len, at, len);
	c->url_len += len;
	c->url[c->url_len] = 0;
	return 0;
}

/* Append at[0..len) to a small field; past its room it only counts (and matches nothing). */
static void keep(char *dst, size_t room, uint8_t *n, const char *at, size_t len)
{
	for (size_t i = 0; i < len && *n < UINT8_MAX; i++, (*n)++)
		if (*n < room)
			dst[*n] = at[i];
}

/* Header names and values come in pieces: only Expect's value is kept. */
static int on_field(http_parser *p, const char *at, size_t len)
{
	struct conn *c = p->data;
	if (c->in_value) /* a new header begins */
		c->in_value = false, c->name_len = 0;
	keep(c->name, sizeof(c->name), &c->name_len, at, len);
	return 0;
}

static int on_value(http_parser *p, const char *at, size_t len)
{
	struct conn *c = p->data;
	if (!c->in_value) {
		c->in_value = true;
		c->in_expect = c->name_len == 6 && strncasecmp(c->name, "expect", 6) == 0;
		if (c->in_expect)
			c->expect_len = 0;
	}
	if (c->in_expect)
		keep(c->expect, sizeof(c->expect), &c->expect_len, at, len);
	return 0;
}

/*
 * A declared body that cannot fit is refused before a byte of it is read.
 * A client that asks (Expect: 100-continue, as curl does for larger bodies)
 * is told to send its body now, as Firecracker does, rather than after the
 * second it would wait; not while an earlier answer is still going out.
 */
static int on_headers(http_parser *p)
{
	static const char go_on[] = "HTTP/1.1 100 Continue\r\n\r\n";
	struct conn *c = p->data;
	if (p->content_length != ULLONG_MAX && p->content_length > API_MAX_REQUEST) {
		c->too_big = true;
		return 1;
	}
	bool http11 = p->http_major > 1 || (p->http_major == 1 && p->http_minor >= 1);
	if (http11 && c->expect_len == 12 && strncasecmp(c->expect, "100-continue", 12) == 0 &&
	    c->out_len == c->out_off) /* never to HTTP/1.0 (RFC 9110 10.1.1) */
		(void)!write(c->fd, go_on, sizeof(go_on) - 1);
	return 0;
}

/*
 * Body pieces (a chunked body comes in several) are moved down to follow
 * one another: each lies in buf after the previous one's end, so the move
 * only ever goes to lower addresses over bytes already parsed.
 */
static int on_body(http_parser *p, const char *at, size_t len)
{
	struct conn *c = p->data;
	if (!c->body)
		c->body = (char *)at;
	memmove(c->body + c->body_len, at, len);
	c->body_len += len;
	return 0;
}

static int on_complete(http_parser *p)
{
	struct conn *c = p->data;
	c->complete = true;
	http_parser_pause(p, 1); /* one request at a time: the rest waits in buf */
	return 0;
}

/* ---- answers ---- */

static const char *reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 204:
		return "No Content";
	case 413:
		return "Payload Too Large";
	case 400:
		return "Bad Request";
	default:
		return "Error";
	}
}

static void format_answer(struct conn *c, const struct api_resp *r)
{
	int n;
	if (r->status == 204)
		n = snprintf(c->out, sizeof(c->out),
			     "HTTP/1.1 204 No Content\r\nServer: kvmrun\r\n\r\n");
	else
		n = snprintf(
			c->out, sizeof(c->out),
			"HTTP/1.1 %d %s\r\nServer: kvmrun\r\nContent-Type: application/json\r\n"
			"Content-Length: %zu\r\n\r\n%.*s",
			r->status, reason(r->status), r->len, (int)r->len, r->body);
	c->out_len = n > 0 && (size_t)n < sizeof(c->out) ? (size_t)n : 0;
	c->out_off = 0;
}

void api_fault(struct api_resp *r, int status, const char *fmt, ...)
{
	char msg[1024], esc[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* JSON string escaping: quotes, backslashes and control bytes. */
	size_t o = 0;
	for (const char *s = msg; *s && o + 7 < sizeof(esc); s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			esc[o++] = '\\', esc[o++] = (char)ch;
		else if (ch < 0x20)
			o += (size_t)snprintf(esc + o, sizeof(esc) - o, "\\u%04x", ch);
		else
			esc[o++] = (char)ch;
	}
	esc[o] = 0;
	r->status = status;
	int n = snprintf(r->body, sizeof(r->body), "{\"fault_message\": \"%s\"}", esc);
	r->len = n > 0 && (size_t)n < sizeof(r->body) ? (size_t)n : 0;
}

/* ---- connections ---- */

static void conn_close(struct api *a, struct conn *c)
{
	epoll_ctl(a->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	a->busy[c - a->conns] = 0;
}

static void set_idle(struct conn *c)
{
	c->deadline = 0;
	c->idle_since = now_ns();
}

/* A free slot, or the one whose connection has been idle longest (closed); NULL: none. */
static struct conn *free_slot(struct api *a)
{
	struct conn *old = NULL;
	for (int i = 0; i < MAX_CONNS; i++) {
		struct conn *c = &a->conns[i];
		if (!a->busy[i])
			return c;
		bool idle = !c->deadline && !c->len && !c->out_len && c != a->taken;
		if (idle && (!old || c->idle_since < old->idle_since))
			old = c;
	}
	if (old)
		conn_close(a, old);
	return old;
}

static void conn_open(struct api *a, int fd)
{
	struct conn *c = free_slot(a);
	if (!c) {
		close(fd); /* every slot mid-request: the client sees the connection closed */
		return;
	}
	c->fd = fd;
	a->busy[c - a->conns] = 1;
	c->len = c->parsed = 0;
	set_idle(c);
	c->complete = c->too_big = false;
	c->out_len = c->out_off = 0;
	http_parser_init(&c->p, HTTP_REQUEST);
	c->p.data = c;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c };
	if (epoll_ctl(a->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		close(fd);
		c->fd = -1;
		a->busy[c - a->conns] = 0;
	}
}

/* Write what is pending; false if the connection is gone or must close now. */
static bool flush_out(struct api *a, struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			if (!c->deadline)
				c->deadline = now_ns() + (uint64_t)REQUEST_MS * 1000000u;
			return true; /* EPOLLOUT brings us back */
		}
		if (w <= 0) {
			conn_close(a, c);
			return false;
		}
		c->out_off += (size_t)w;
	}
	c->out_len = c->out_off = 0;
	return true;
}

/* Answer with a fault and close: the connection's bytes cannot be trusted further. */
static void refuse(struct api *a, struct conn *c, int status, const char *msg)
{
	api_fault(&a->refusal, status, "%s", msg);
	format_answer(c, &a->refusal);
	(void)!write(c->fd, c->out, c->out_len); /* best effort: the connection ends here */
	conn_close(a, c);
}

/* Install the thread's filter once main has asked (api_confine). */
static void confine(struct api *a)
{
	if (a->confined || !(atomic_load(&a->word) & W_CONFINE))
		return;
	a->confined = true;
	a->failed = !a->thread_start(a->ctx);
}

/* Write what the socket takes of c's answer now; flush_out sends the rest. */
static void send_now(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		c->out_off += (size_t)w;
	}
}

/* Answer a whole request here (api_direct), or hand it to main and wait for its answer. */
static void dispatch(struct api *a, struct conn *c)
{
	struct api_req *q = &a->req;
	snprintf(q->method, sizeof(q->method), "%s",
		 http_method_str((enum http_method)c->p.method));
	/* The path without its query (Firecracker has none): "/drives/rootfs". */
	size_t plen = strcspn(c->url, "?#");
	memcpy(q->path, c->url, plen);
	q->path[plen] = 0;
	q->body = c->body ? c->body : "";
	q->body_len = c->body_len;
	api_direct_fn fn = atomic_load(&a->direct);
	if (fn && fn(a->direct_ctx, q, &a->direct_resp) == 0) {
		format_answer(c, &a->direct_resp);
		send_now(c);
		return;
	}
	a->taken = c;
	atomic_fetch_and(&a->word, ~W_ANSWERED);
	efd_signal(a->efd);
	/* Main may hold this request (InstanceStart) until the thread is confined. */
	for (int w; !((w = atomic_load(&a->word)) & W_ANSWERED);) {
		confine(a);
		futex_wait(&a->word, w);
	}
	a->taken = NULL; /* main wrote the answer, or what it could of it (c->out holds the rest) */
}

/* Feed what buf holds to the parser, and serve each whole request in turn. */
static void serve(struct api *a, struct conn *c)
{
	while (c->out_len == 0 && c->parsed < c->len) {
		size_t n =
			http_parser_execute(&c->p, &a->cb, c->buf + c->parsed, c->len - c->parsed);
		c->parsed += n;
		enum http_errno e = HTTP_PARSER_ERRNO(&c->p);
		if (c->too_big) {
			refuse(a, c, 413, "the request is larger than 64 KiB");
			return;
		}
		if (e != HPE_OK && e != HPE_PAUSED) {
			char msg[128];
			snprintf(msg, sizeof(msg), "malformed HTTP request: %s",
				 http_errno_description(e));
			refuse(a, c, 400, msg);
			return;
		}
		if (!c->complete)
			break;
		bool keep = http_should_keep_alive(&c->p);
		if (c->url_long) {
			refuse(a, c, 400, "the request's path is longer than 255 bytes");
			return;
		}
		dispatch(a, c);
		c->complete = false;
		set_idle(c);
		/* What follows this request moves to the front; the parser goes on. */
		memmove(c->buf, c->buf + c->parsed, c->len - c->parsed);
		c->len -= c->parsed;
		c->parsed = 0;
		http_parser_pause(&c->p, 0);
		if (!flush_out(a, c))
			return;
		if (!keep) {
			conn_close(a, c);
			return;
		}
	}
}

static void on_readable(struct api *a, struct conn *c)
{
	for (;;) {
		if (c->len == sizeof(c->buf)) {
			/* Full and no whole request in it: more than 64 KiB. */
			refuse(a, c, 413, "the request is larger than 64 KiB");
			return;
		}
		ssize_t r = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return;
		if (r <= 0) {
			/* Gone, perhaps mid-request: nothing of a partial request was acted on. */
			conn_close(a, c);
			return;
		}
		if (c->len == 0 && c->parsed == 0 && !c->deadline)
			c->deadline = now_ns() + (uint64_t)REQUEST_MS * 1000000u;
		c->len += (size_t)r;
		serve(a, c);
		if (c->fd < 0)
			return;
	}
}

/* Close connections past their deadline; the wait until the next one (ms, or -1). */
static int expire(struct api *a)
{
	uint64_t now = now_ns(), next = UINT64_MAX;
	for (int i = 0; i < MAX_CONNS; i++) {
		struct conn *c = &a->conns[i];
		if (!a->busy[i] || !c->deadline)
			continue;
		if (c->deadline <= now)
			conn_close(a, c);
		else if (c->deadline < next)
			next = c->deadline;
	}
	return next == UINT64_MAX ? -1 : (int)((next - now) / 1000000u + 1);
}

/*
 * The thread serves from the start (before start the requests configure the
 * guest), and confines itself when main says (api_confine): after the jail,
 * since musl applies setuid and friends to every thread, and a confined one
 * would be killed for it.
 */
static void *thread_main(void *arg)
{
	struct api *a = arg;
	prctl(PR_SET_NAME, "kvmrun-api", 0, 0, 0);
	while (!a->failed) { /* without its filter it serves no more (the VM is stopping) */
		struct epoll_event ev[32];
		int n = epoll_wait(a->ep, ev, 32, expire(a));
		for (int i = 0; i < n; i++) {
			if (ev[i].data.ptr == &confine_tag) {
				epoll_ctl(a->ep, EPOLL_CTL_DEL, a->confine_fd, NULL);
				confine(a);
				continue;
			}
			if (!ev[i].data.ptr) {
				int fd;
				while ((fd = accept4(a->lfd, NULL, NULL,
						     SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0)
					conn_open(a, fd);
				continue;
			}
			struct conn *c = ev[i].data.ptr;
			if (c->fd >= 0 && (ev[i].events & EPOLLOUT) && c->out_len) {
				if (!flush_out(a, c))
					continue;
				if (c->out_len == 0) {
					set_idle(c);
					serve(a, c); /* a pipelined request may wait */
				}
			}
			if (c->fd >= 0 && (ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
				on_readable(a, c);
		}
	}
	return NULL;
}

/* ---- set-up, and main's side ---- */

struct api *api_listen(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct api *a = calloc(1, sizeof(*a));
	char dir[sizeof(sa.sun_path)], base[sizeof(sa.sun_path)];
	if (!a || strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "--api-sock %s: %s", path,
			 a ? "longer than a socket path may be (107 bytes)" : "out of memory");
		free(a);
		return NULL;
	}
	strcpy(sa.sun_path, path);
	strcpy(a->path, path);
	strcpy(dir, path);
	strcpy(base, path);
	snprintf(a->name, sizeof(a->name), "%s", basename(base));
	a->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	a->dirfd = open(dirname(dir), O_PATH | O_DIRECTORY | O_CLOEXEC);
	a->ep = epoll_create1(EPOLL_CLOEXEC);
	a->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	a->confine_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	a->conns = mmap(NULL, MAX_CONNS * sizeof(struct conn), PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (a->lfd < 0 || a->dirfd < 0 || a->ep < 0 || a->efd < 0 || a->confine_fd < 0 ||
	    a->conns == MAP_FAILED) {
		snprintf(err, errlen, "--api-sock %s: %s", path, strerror(errno));
		return NULL; /* the process ends: nothing to close */
	}
	/*
	 * The socket is bound under a temporary name, listening, and only then
	 * linked to PATH: a client that sees PATH can connect (no window between
	 * bind and listen), and link() refuses a PATH that exists. 0600 from the
	 * start: no moment when others may connect. A PATH too long for the
	 * temporary name is bound directly.
	 */
	char tmp[sizeof(sa.sun_path)];
	bool staged =
		(size_t)snprintf(tmp, sizeof(tmp), "%s.%d~", path, (int)getpid()) < sizeof(tmp);
	if (staged) {
		unlink(tmp); /* a crashed kvmrun's, with our pid */
		strcpy(sa.sun_path, tmp);
	}
	mode_t old = umask(0177);
	int rc = bind(a->lfd, (struct sockaddr *)&sa, sizeof(sa));
	int e = errno;
	umask(old);
	struct epoll_event lev = { .events = EPOLLIN, .data.ptr = NULL };
	struct epoll_event cev = { .events = EPOLLIN, .data.ptr = (void *)&confine_tag };
	if (rc == 0 &&
	    (listen(a->lfd, 128) < 0 || epoll_ctl(a->ep, EPOLL_CTL_ADD, a->lfd, &lev) < 0 ||
	     epoll_ctl(a->ep, EPOLL_CTL_ADD, a->confine_fd, &cev) < 0)) {
		e = errno;
		unlink(sa.sun_path);
		rc = -1;
	}
	if (rc == 0 && staged) {
		rc = link(tmp, path);
		e = errno;
		unlink(tmp);
	}
	if (rc < 0) {
		snprintf(err, errlen, "--api-sock %s: %s", path,
			 e == EADDRINUSE || e == EEXIST
				 ? "exists (remove it, or choose another path)"
				 : strerror(e));
		return NULL;
	}
	a->cb = (http_parser_settings){ .on_message_begin = on_begin,
					.on_url = on_url,
					.on_header_field = on_field,
					.on_header_value = on_value,
					.on_headers_complete = on_headers,
					.on_body = on_body,
					.on_message_complete = on_complete };
	return a;
}

void api_direct(struct api *a, api_direct_fn fn, void *ctx)
{
	a->direct_ctx = ctx;
	atomic_store(&a->direct, fn);
}

int api_start(struct api *a, bool (*thread_start)(void *ctx), void *ctx)
{
	a->thread_start = thread_start;
	a->ctx = ctx;
	/* Every signal blocked in the thread: SIGTERM and friends are main's to take. */
	return thread_spawn_quiet(thread_main, a, 256u << 10);
}

void api_confine(struct api *a)
{
	/* The thread waits either in epoll (the eventfd) or for an answer (the word). */
	atomic_fetch_or(&a->word, W_CONFINE);
	futex_wake(&a->word);
	efd_signal(a->confine_fd);
}

int api_fd(const struct api *a)
{
	return a->efd;
}

const struct api_req *api_take(struct api *a)
{
	uint64_t v;
	if (read(a->efd, &v, sizeof(v)) != sizeof(v) || !a->taken)
		return NULL;
	return &a->req;
}

/*
 * Main writes the answer itself, at once: one wake-up less per request, and
 * an answer (InstanceStart's 204) is on the socket before a guest that ends
 * at once can end kvmrun. What the socket does not take now, the thread
 * sends. The thread waits meanwhile, so the connection is main's to use.
 */
void api_answer(struct api *a, const struct api_resp *r)
{
	struct conn *c = a->taken;
	if (c) {
		format_answer(c, r);
		send_now(c); /* full (or gone): the thread's flush_out goes on */
	}
	atomic_fetch_or(&a->word, W_ANSWERED);
	futex_wake(&a->word);
}

void api_fail_taken(struct api *a, const char *msg)
{
	struct conn *c = a->taken;
	if (!c)
		return;
	api_fault(&a->farewell, 400, "%s", msg);
	format_answer(c, &a->farewell);
	for (size_t off = 0; off < c->out_len;) {
		ssize_t w = write(c->fd, c->out + off, c->out_len - off);
		if (w <= 0)
			break; /* a full socket buffer: the client learns from the close */
		off += (size_t)w;
	}
}

void api_unlink(struct api *a)
{
	unlinkat(a->dirfd, a->name, 0);
}

int api_dirfd(const struct api *a)
{
	return a->dirfd;
}

const char *api_name(const struct api *a)
{
	return a->name;
}

bool api_fields_known(const cJSON *body, const char *const *known, const char *where,
		      struct api_resp *r)
{
	const char *bad = fcjson_unknown(body, known);
	if (bad)
		api_fault(r, 400, "%s: not supported by kvmrun in %s", bad, where);
	return !bad;
}
