// SPDX-License-Identifier: Apache-2.0
/*
 * apistart: start a VMM once and time its API socket and its start from the
 * outside (bench/api.sh's launcher; same conventions as bench/launch.c).
 *
 *   apistart [-s SOCK [-p US] [-i] [-g] [-k] [-q REQUESTS]] [-e STRING] [-w SECONDS]
 *            -- PROGRAM ARG...
 *   apistart -l SOCK          the floor: bind and listen on SOCK, print
 *                             "listening NS" (CLOCK_MONOTONIC) on stdout, then
 *                             answer every request with "200 {}" until killed
 *
 *   -s SOCK      after fork+exec, try connect() on SOCK every 50 µs until it
 *                succeeds (the socket is accepting)
 *   -p US        try connect() every US µs instead (default 50)
 *   -i           first sleep until SOCK appears (inotify on its folder), then
 *                try connect() every 50 µs (bind and listen are a few µs
 *                apart): on one CPU, polling from the start takes CPU time
 *                from the child it waits for
 *   -g           then GET / on that connection (the first answer: a client
 *                such as firecracker-go-sdk polls a GET until one comes)
 *   -k           then SIGTERM the child and wait (socket-readiness runs)
 *   -q REQUESTS  then send the file's requests, one a line "METHOD PATH [BODY]",
 *                in order on the same HTTP/1.1 connection (keep-alive, as
 *                firecracker-go-sdk's client does), each answered before the
 *                next is sent; every answer must be 2xx
 *   -e STRING    report whether the child's stdout contained STRING
 *   -w SECONDS   kill the child (SIGKILL) after this long (default 30)
 *
 * The child gets stdin /dev/null, stdout and stderr on memfds (read after it
 * exits), a pipe's write end as fd 3 (pass it "--ready-fd 3") and
 * KVMRUN_TRACE_BOOT=1. While the last request's answer is awaited the
 * launcher polls the socket and the pipe together, so each is timed when it
 * comes, whichever is first.
 *
 * Prints one line of key=value pairs (ns are from t0, CLOCK_MONOTONIC right
 * before fork(); absent keys were not measured):
 *   status=exit:N|signal:N wall_ns (t0 to wait4's return)
 *   connect_ns tries (connect attempts that failed first)
 *   get_ns (the answer to GET /)
 *   nreq puts_ns (connect to the answer of the last request but one)
 *   puts_done_ns (that answer, from t0)
 *   start_ns start_status (the answer to the last request; InstanceStart)
 *   ready_ns running_us (fd 3's "running US" line read; US is kvmrun's own,
 *                        main() to its first KVM_RUN)
 *   listen_ns (the floor's own "listening NS" line: its listen() returned)
 *   exec_to_main_ns exec_to_run_ns (kvmrun's KVMRUN_TRACE_BOOT line: its main()
 *                        and first KVM_RUN on the same clock)
 *   config_ns (the end of kvmrun's "config" stage in that line: options parsed;
 *              with --api-sock its socket is bound and listening a few system
 *              calls later)
 *   http_fail=PATH:STATUS (the first request not answered 2xx)
 *   expect=1|0|-
 * Exits 0 if the measurement was taken (whatever the child did), 2 on a usage
 * or setup error.
 *
 * Why C and not Python's http.client: in test/l1's L1 (one vCPU, TCG) the
 * client shares the CPU with kvmrun, and an interpreter's start-up and
 * per-request overhead (tens of ms there) would be timed along with kvmrun.
 * Here each request is one write() and its answer a read() or two.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define READY_FD 3
#define MAX_REQS 32

static pid_t child = -1;

static void die(const char *what)
{
	fprintf(stderr, "apistart: %s: %s\n", what, strerror(errno));
	if (child > 0)
		kill(child, SIGKILL);
	exit(2);
}

static int64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void on_alarm(int sig)
{
	(void)sig;
	if (child > 0)
		kill(child, SIGKILL);
}

/* Read a whole memfd into a NUL-terminated malloc'd buffer. */
static char *slurp(int fd, size_t *len)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		die("fstat");
	size_t n = (size_t)st.st_size, got = 0;
	char *buf = malloc(n + 1);
	if (!buf)
		die("malloc");
	while (got < n) {
		ssize_t r = pread(fd, buf + got, n - got, (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	buf[got] = '\0';
	*len = got;
	return buf;
}

/* "S.N" with nine digits of N, as kvmrun's trace line prints it. */
static int parse_ts(const char *s, int64_t *out)
{
	char *end;
	long long sec = strtoll(s, &end, 10);
	if (end == s || *end != '.')
		return -1;
	int64_t nsec = 0;
	int digits = 0;
	for (const char *p = end + 1; *p >= '0' && *p <= '9' && digits < 9; p++, digits++)
		nsec = nsec * 10 + (*p - '0');
	if (digits != 9)
		return -1;
	*out = (int64_t)sec * 1000000000 + nsec;
	return 0;
}

static int parse_trace(const char *err, int64_t *t_main, int64_t *t_run)
{
	const char *p = strstr(err, "kvmrun: trace: main ");
	if (!p || parse_ts(p + strlen("kvmrun: trace: main "), t_main) < 0)
		return -1;
	const char *q = strstr(p, " first_run ");
	return q ? parse_ts(q + strlen(" first_run "), t_run) : -1;
}

/* ---- HTTP/1.1 over the Unix socket ---- */

struct resp {
	char buf[16384];
	size_t len;
	int status; /* 0 until the whole answer is in */
	char line[128];
};

/* Whole answer in r->buf? Sets r->status. -1: malformed. */
static int resp_complete(struct resp *r)
{
	r->buf[r->len] = '\0';
	char *end = strstr(r->buf, "\r\n\r\n");
	if (!end)
		return 0;
	int st;
	if (sscanf(r->buf, "HTTP/1.%*d %d", &st) != 1)
		return -1;
	size_t clen = 0;
	for (char *h = strstr(r->buf, "\r\n"); h && h < end; h = strstr(h + 2, "\r\n"))
		if (strncasecmp(h + 2, "Content-Length:", 15) == 0)
			clen = strtoul(h + 2 + 15, NULL, 10);
	size_t need = (size_t)(end + 4 - r->buf) + clen;
	if (r->len < need)
		return 0;
	if (r->len > need)
		return -1; /* one request in flight: nothing may follow */
	char *nl = strstr(r->buf, "\r\n");
	snprintf(r->line, sizeof(r->line), "%.*s", (int)(nl - r->buf), r->buf);
	r->status = st;
	return 1;
}

/* Read what is there. 1: answer complete, 0: not yet, -1: EOF or error. */
static int resp_read(int fd, struct resp *r)
{
	if (r->len >= sizeof(r->buf) - 1)
		return -1;
	ssize_t n = read(fd, r->buf + r->len, sizeof(r->buf) - 1 - r->len);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0)
		return -1;
	r->len += (size_t)n;
	return resp_complete(r);
}

static int send_req(int fd, const char *method, const char *path, const char *body)
{
	char req[8192];
	size_t blen = strlen(body);
	int n = blen ? snprintf(req, sizeof(req),
				"%s %s HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n"
				"Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
				method, path, blen, body)
		     : snprintf(req, sizeof(req),
				"%s %s HTTP/1.1\r\nHost: localhost\r\nAccept: "
				"application/json\r\n\r\n",
				method, path);
	if (n < 0 || (size_t)n >= sizeof(req))
		return -1;
	for (int off = 0; off < n;) {
		ssize_t w = write(fd, req + off, (size_t)(n - off));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		off += (int)w;
	}
	return 0;
}

/* One request and its whole answer (blocking). Status, or -1. */
static int http(int fd, const char *method, const char *path, const char *body, struct resp *r)
{
	r->len = 0;
	r->status = 0;
	r->line[0] = '\0';
	if (send_req(fd, method, path, body) < 0)
		return -1;
	int c;
	while ((c = resp_read(fd, r)) == 0) {
	}
	return c < 0 ? -1 : r->status;
}

struct req {
	char *method, *path, *body;
};

static int load_requests(const char *file, struct req *q)
{
	FILE *f = fopen(file, "r");
	if (!f)
		die(file);
	int n = 0;
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, f) > 0) {
		line[strcspn(line, "\n")] = '\0';
		if (!line[0] || line[0] == '#')
			continue;
		if (n == MAX_REQS) {
			fprintf(stderr, "apistart: %s: more than %d requests\n", file, MAX_REQS);
			exit(2);
		}
		char *m = strtok(line, " "), *p = strtok(NULL, " "), *b = strtok(NULL, "");
		if (!m || !p) {
			fprintf(stderr, "apistart: %s: a line is \"METHOD PATH [BODY]\"\n", file);
			exit(2);
		}
		q[n++] = (struct req){ strdup(m), strdup(p), strdup(b ? b : "") };
	}
	free(line);
	fclose(f);
	return n;
}

/* ---- the floor: a program that only listens and answers ---- */

__attribute__((noreturn)) static void listen_only(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 128) < 0)
		die("listen");
	/* Its own clock at listen(), for the launcher (stdout is a memfd there). */
	char line[64];
	int n = snprintf(line, sizeof(line), "listening %lld\n", (long long)now_ns());
	if (write(1, line, (size_t)n) < 0)
		die("write");
	static const char ans[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
				  "Content-Length: 2\r\n\r\n{}";
	for (;;) {
		int c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		char buf[4096];
		size_t len = 0;
		for (;;) {
			ssize_t n = read(c, buf + len, sizeof(buf) - 1 - len);
			if (n <= 0)
				break;
			len += (size_t)n;
			buf[len] = '\0';
			if (strstr(buf, "\r\n\r\n")) {
				if (write(c, ans, sizeof(ans) - 1) < 0)
					break;
				len = 0;
			}
			if (len == sizeof(buf) - 1)
				break;
		}
		close(c);
	}
}

int main(int argc, char **argv)
{
	const char *sock = NULL, *expect = NULL, *reqfile = NULL;
	int get = 0, term = 0, wait_s = 30, use_inotify = 0, opt;
	long poll_ns = 50000; /* connect() every 50 µs */
	while ((opt = getopt(argc, argv, "+s:p:igkq:e:w:l:")) != -1) {
		switch (opt) {
		case 's':
			sock = optarg;
			break;
		case 'p':
			poll_ns = atol(optarg) * 1000;
			break;
		case 'i':
			use_inotify = 1;
			break;
		case 'g':
			get = 1;
			break;
		case 'k':
			term = 1;
			break;
		case 'q':
			reqfile = optarg;
			break;
		case 'e':
			expect = optarg;
			break;
		case 'w':
			wait_s = atoi(optarg);
			break;
		case 'l':
			listen_only(optarg);
		default:
			fprintf(stderr,
				"usage: apistart [-s SOCK [-p US] [-i] [-g] [-k] [-q REQUESTS]] "
				"[-e STRING] "
				"[-w SECONDS] -- PROGRAM ARG...\n       apistart -l SOCK\n");
			return 2;
		}
	}
	char **cmd = argv + optind;
	if (!cmd[0] || ((get || term || reqfile || use_inotify) && !sock)) {
		fprintf(stderr, "apistart: no program given, or -g/-i/-k/-q without -s\n");
		return 2;
	}
	struct req reqs[MAX_REQS];
	int nreq = reqfile ? load_requests(reqfile, reqs) : 0;
	if (reqfile && nreq == 0) {
		fprintf(stderr, "apistart: %s: no requests\n", reqfile);
		return 2;
	}
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (sock && strlen(sock) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "apistart: %s: path too long for a Unix socket\n", sock);
		return 2;
	}
	if (sock)
		memcpy(sa.sun_path, sock, strlen(sock));

	int out_fd = memfd_create("apistart-stdout", MFD_CLOEXEC);
	int err_fd = memfd_create("apistart-stderr", MFD_CLOEXEC);
	int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int rp[2];
	if (out_fd < 0 || err_fd < 0 || null_fd < 0 || pipe2(rp, O_CLOEXEC) < 0)
		die("memfd_create/open/pipe");
	if (setenv("KVMRUN_TRACE_BOOT", "1", 1) < 0)
		die("setenv");
	int ifd = -1;
	const char *base = NULL;
	if (use_inotify) {
		char dir[sizeof(sa.sun_path)];
		snprintf(dir, sizeof(dir), "%s", sock);
		char *slash = strrchr(dir, '/');
		base = strrchr(sock, '/') ? strrchr(sock, '/') + 1 : sock;
		if (!slash)
			snprintf(dir, sizeof(dir), ".");
		else if (slash == dir)
			dir[1] = '\0';
		else
			*slash = '\0';
		ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
		if (ifd < 0 || inotify_add_watch(ifd, dir, IN_CREATE) < 0)
			die("inotify");
	}
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0); /* 50 µs sleeps, not 50 + 50 */
	struct sigaction sa_alarm = { .sa_handler = on_alarm };
	sigaction(SIGALRM, &sa_alarm, NULL);

	int64_t t0 = now_ns();
	child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		/* fds 0-2 are open in the launcher, so every fd here is >= 3. */
		if (dup2(null_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0 ||
		    dup2(rp[1], READY_FD) < 0)
			_exit(126);
		execve(cmd[0], cmd, environ);
		_exit(127);
	}
	alarm((unsigned)wait_s);
	close(rp[1]);

	int64_t connect_ns = -1, get_ns = -1, puts_ns = -1, puts_done_ns = -1, start_ns = -1,
		ready_ns = -1;
	long long running_us = -1;
	int tries = 0, start_status = -1, fd = -1, failed = 0, reaped = -1;
	char http_fail[300] = "";
	static struct resp r;

	if (sock) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			die("socket");
		int watching = ifd >= 0, st;
		for (;;) {
			/*
			 * Until SOCK is created. The inotify fd stays open until the
			 * end: its close waits for an SRCU grace period (several ms in
			 * a nested guest), which would be timed as the socket's delay.
			 */
			while (watching) {
				struct pollfd p = { ifd, POLLIN, 0 };
				if (poll(&p, 1, 10) > 0) {
					union {
						struct inotify_event ev;
						char b[4096];
					} u;
					ssize_t n = read(ifd, u.b, sizeof(u.b));
					for (char *e = u.b; n > 0 && e < u.b + n;) {
						struct inotify_event *ev =
							(struct inotify_event *)e;
						if (ev->len && strcmp(ev->name, base) == 0) {
							watching = 0;
							break;
						}
						e += sizeof(*ev) + ev->len;
					}
				} else if (waitpid(child, &st, WNOHANG) == child) {
					reaped = st;
					break;
				}
			}
			if (reaped >= 0) {
				fprintf(stderr, "apistart: the child ended before %s appeared\n",
					sock);
				failed = 1;
				break;
			}
			if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
				connect_ns = now_ns() - t0;
				break;
			}
			if (errno != ENOENT && errno != ECONNREFUSED && errno != EINTR) {
				fprintf(stderr, "apistart: connect %s: %s\n", sock,
					strerror(errno));
				failed = 1;
				break;
			}
			tries++;
			if (waitpid(child, &st, WNOHANG) == child) {
				fprintf(stderr, "apistart: the child ended before %s accepted\n",
					sock);
				reaped = st;
				failed = 1;
				break;
			}
			struct timespec d = { poll_ns / 1000000000, poll_ns % 1000000000 };
			nanosleep(&d, NULL);
		}
	}
	if (fd >= 0 && !failed && get) {
		int st = http(fd, "GET", "/", "", &r);
		get_ns = now_ns() - t0;
		if (st < 200 || st > 299) {
			snprintf(http_fail, sizeof(http_fail), "/:%d", st);
			failed = 1;
		}
	}
	for (int i = 0; fd >= 0 && !failed && i < nreq; i++) {
		if (i < nreq - 1) {
			int st = http(fd, reqs[i].method, reqs[i].path, reqs[i].body, &r);
			if (st < 200 || st > 299) {
				snprintf(http_fail, sizeof(http_fail), "%s:%d", reqs[i].path, st);
				failed = 1;
				fprintf(stderr, "apistart: %s %s: %s %s\n", reqs[i].method,
					reqs[i].path, r.line,
					strstr(r.buf, "\r\n\r\n") ? strstr(r.buf, "\r\n\r\n") + 4
								  : "");
			}
			if (i == nreq - 2) {
				puts_done_ns = now_ns() - t0;
				puts_ns = puts_done_ns - connect_ns;
			}
			continue;
		}
		/* The last request (InstanceStart): its answer and fd 3's line, as they come. */
		r.len = 0;
		r.status = 0;
		r.line[0] = '\0';
		if (send_req(fd, reqs[i].method, reqs[i].path, reqs[i].body) < 0) {
			failed = 1;
			break;
		}
		char rbuf[256];
		size_t rlen = 0;
		int http_done = 0, pipe_done = 0;
		while (!http_done || !pipe_done) {
			struct pollfd p[2] = { { http_done ? -1 : fd, POLLIN, 0 },
					       { pipe_done ? -1 : rp[0], POLLIN, 0 } };
			if (poll(p, 2, -1) < 0) {
				if (errno == EINTR)
					continue;
				die("poll");
			}
			if (p[0].revents) {
				int c = resp_read(fd, &r);
				if (c != 0) {
					start_ns = now_ns() - t0;
					start_status = c > 0 ? r.status : -1;
					http_done = 1;
				}
			}
			if (p[1].revents) {
				ssize_t n = read(rp[0], rbuf + rlen, sizeof(rbuf) - 1 - rlen);
				if (n > 0) {
					rlen += (size_t)n;
					rbuf[rlen] = '\0';
					char *m = strstr(rbuf, "running ");
					if (m && strchr(m, '\n')) {
						ready_ns = now_ns() - t0;
						running_us = atoll(m + 8);
						pipe_done = 1;
					}
				}
				if (n <= 0 || rlen == sizeof(rbuf) - 1)
					pipe_done = 1;
			}
		}
		if (start_status < 200 || start_status > 299) {
			snprintf(http_fail, sizeof(http_fail), "%s:%d", reqs[i].path, start_status);
			fprintf(stderr, "apistart: %s %s: %s %s\n", reqs[i].method, reqs[i].path,
				r.line[0] ? r.line : "no answer",
				strstr(r.buf, "\r\n\r\n") ? strstr(r.buf, "\r\n\r\n") + 4 : "");
		}
	}
	if (!sock || (!reqfile && !term && !failed)) {
		/* No API start: wait for fd 3's line (a --config start). */
		char rbuf[256];
		size_t rlen = 0;
		for (;;) {
			ssize_t n = read(rp[0], rbuf + rlen, sizeof(rbuf) - 1 - rlen);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			rlen += (size_t)n;
			rbuf[rlen] = '\0';
			char *m = strstr(rbuf, "running ");
			if (m && strchr(m, '\n')) {
				ready_ns = now_ns() - t0;
				running_us = atoll(m + 8);
				break;
			}
			if (rlen == sizeof(rbuf) - 1)
				break;
		}
	}
	if (reaped < 0 && (term || failed))
		kill(child, failed ? SIGKILL : SIGTERM);

	int status = reaped;
	if (reaped < 0) {
		pid_t w;
		do
			w = waitpid(child, &status, 0);
		while (w < 0 && errno == EINTR);
		if (w < 0)
			die("waitpid");
	}
	int64_t wall_ns = now_ns() - t0;
	alarm(0);
	if (fd >= 0)
		close(fd);
	if (ifd >= 0)
		close(ifd);

	size_t out_len = 0, err_len = 0;
	char *out = slurp(out_fd, &out_len);
	char *err = slurp(err_fd, &err_len);
	char st[32];
	if (WIFEXITED(status))
		snprintf(st, sizeof(st), "exit:%d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(st, sizeof(st), "signal:%d", WTERMSIG(status));
	else
		snprintf(st, sizeof(st), "other:%d", status);
	printf("status=%s wall_ns=%lld", st, (long long)wall_ns);
	if (connect_ns >= 0)
		printf(" connect_ns=%lld tries=%d", (long long)connect_ns, tries);
	if (get_ns >= 0)
		printf(" get_ns=%lld", (long long)get_ns);
	if (nreq)
		printf(" nreq=%d", nreq);
	if (puts_ns >= 0)
		printf(" puts_ns=%lld puts_done_ns=%lld", (long long)puts_ns,
		       (long long)puts_done_ns);
	if (start_ns >= 0)
		printf(" start_ns=%lld start_status=%d", (long long)start_ns, start_status);
	if (ready_ns >= 0)
		printf(" ready_ns=%lld running_us=%lld", (long long)ready_ns, running_us);
	const char *ls = memmem(out, out_len, "listening ", 10);
	if (ls)
		printf(" listen_ns=%lld", atoll(ls + 10) - (long long)t0);
	int64_t tm, tr;
	if (parse_trace(err, &tm, &tr) == 0 && tr > 0) {
		printf(" exec_to_main_ns=%lld exec_to_run_ns=%lld", (long long)(tm - t0),
		       (long long)(tr - t0));
		const char *st = strstr(err, " stages");
		const char *cf = st ? strstr(st, " config=") : NULL;
		if (cf)
			printf(" config_ns=%lld", (long long)(tm - t0) + atoll(cf + 8) * 1000);
	}
	if (http_fail[0])
		printf(" http_fail=%s", http_fail);
	printf(" expect=%s\n",
	       expect ? (memmem(out, out_len, expect, strlen(expect)) ? "1" : "0") : "-");
	if (failed || !(WIFEXITED(status) && (WEXITSTATUS(status) == 0 || term))) {
		char *nl = strchr(err, '\n');
		if (nl)
			*nl = '\0';
		if (err_len)
			fprintf(stderr, "apistart: child stderr: %.300s\n", err);
	}
	return 0;
}
