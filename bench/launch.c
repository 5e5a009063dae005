// SPDX-License-Identifier: Apache-2.0
/*
 * launch: run one command once and measure it from the outside.
 *
 *   launch [-t] [-e STRING] [-n] -- PROGRAM ARG...
 *
 *   -t         set KVMRUN_TRACE_BOOT=1 in the child's environment and parse
 *              kvmrun's "kvmrun: trace: main S.N first_run S.N" stderr line
 *   -e STRING  report whether the child's stdout contained STRING
 *   -n         floor mode: fork a child that _exit(0)s without exec, to show
 *              the peak RSS a forked child inherits from this launcher
 *   -x         exact-RSS mode: trace the child (PTRACE_O_TRACEEXIT) and read
 *              VmHWM from /proc/<tid>/status when its first thread starts to
 *              exit; adds vmhwm_kib=. Timings taken in this mode include the
 *              tracing overhead and are not meant to be used.
 *
 * Prints one line of key=value pairs on stdout:
 *   status=<wait status as "exit:N" or "signal:N"> wall_ns=<t1-t0>
 *   cpu_ns=<ru_utime+ru_stime> maxrss_kib=<ru_maxrss> expect=<1|0|->
 *   [exec_to_run_ns=<first_run-t0> main_to_run_ns=<first_run-main>
 *    exec_to_main_ns=<main-t0> run_to_exit_ns=<t1-first_run>]
 *                                          (with -t, when the line was found)
 *   [st_NAME=<us> ...]                     (with -t: kvmrun's start-up stages,
 *                                           each stage's end in µs after main)
 *   [vmhwm_kib=<VmHWM at exit>]            (with -x)
 * The child's stdin is /dev/null; its stdout and stderr go to memfds that are
 * read only after wait4(), so nothing in the parent competes with the child.
 * t0 is CLOCK_MONOTONIC immediately before fork(), t1 immediately after
 * wait4() returns. Exits 0 if the measurement was taken (whatever the child
 * did), 2 on a usage or setup error.
 *
 * Built static so that the RSS a forked child inherits (ru_maxrss counts the
 * high-water mark of the pre-exec image) stays small; -n measures it.
 *
 * Why -x exists: since Linux 6.2 the per-mm RSS counters are per-CPU
 * counters, and the exit path folds the high-water mark into ru_maxrss from
 * the fast, approximate read of them (each CPU may hold up to a batch of
 * pages not yet summed). For a process of a few hundred KiB that error is
 * of the same size as the value; /proc/<pid>/status sums the counters
 * exactly. For a 40 MiB process the difference does not matter.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static void die(const char *what)
{
	fprintf(stderr, "launch: %s: %s\n", what, strerror(errno));
	exit(2);
}

static int64_t ts_ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

static int64_t tv_ns(const struct timeval *t)
{
	return (int64_t)t->tv_sec * 1000000000 + (int64_t)t->tv_usec * 1000;
}

/* Read a whole memfd into a NUL-terminated malloc'd buffer. */
static char *slurp(int fd, size_t *len)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		die("fstat");
	size_t n = (size_t)st.st_size;
	char *buf = malloc(n + 1);
	if (!buf)
		die("malloc");
	size_t got = 0;
	while (got < n) {
		ssize_t r = pread(fd, buf + got, n - got, (off_t)got);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			die("pread");
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	buf[got] = '\0';
	*len = got;
	return buf;
}

/* "S.N" with exactly nine digits of N, as kvmrun prints it. */
static int parse_ts(const char *s, int64_t *out)
{
	char *end;
	long long sec = strtoll(s, &end, 10);
	if (end == s || *end != '.')
		return -1;
	const char *p = end + 1;
	int64_t nsec = 0;
	int digits = 0;
	while (*p >= '0' && *p <= '9' && digits < 9) {
		nsec = nsec * 10 + (*p - '0');
		p++;
		digits++;
	}
	if (digits != 9)
		return -1;
	*out = (int64_t)sec * 1000000000 + nsec;
	return 0;
}

static int parse_trace(const char *err, int64_t *t_main, int64_t *t_run)
{
	const char *key = "kvmrun: trace: main ";
	const char *p = strstr(err, key);
	if (!p)
		return -1;
	p += strlen(key);
	if (parse_ts(p, t_main) < 0)
		return -1;
	const char *q = strstr(p, " first_run ");
	if (!q)
		return -1;
	return parse_ts(q + strlen(" first_run "), t_run);
}

/* kvmrun's " stages NAME=US ..." (end of each start-up stage, µs after main) as " st_NAME=US". */
static void print_stages(const char *err)
{
	const char *p = strstr(err, "kvmrun: trace: main ");
	p = p ? strstr(p, " stages") : NULL;
	if (!p)
		return;
	p += strlen(" stages");
	while (*p == ' ') {
		char name[32];
		unsigned long long us;
		int used;
		if (sscanf(p, " %31[a-z_]=%llu%n", name, &us, &used) != 2)
			break;
		printf(" st_%s=%llu", name, us);
		p += used;
	}
}

/* memmem that tolerates NUL bytes in the guest's output. */
static int contains(const char *hay, size_t n, const char *needle)
{
	return memmem(hay, n, needle, strlen(needle)) != NULL;
}

/* VmHWM of a live task in KiB, or -1. */
static long read_vmhwm(pid_t tid)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", (int)tid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	long v = -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmHWM: %ld kB", &v) == 1)
			break;
	fclose(f);
	return v;
}

/*
 * Run the traced child until the main thread is gone. The child stopped
 * with SIGTRAP after its execve (PTRACE_TRACEME). Returns the main thread's
 * wait status and rusage through the pointers, and VmHWM at the first exit
 * event.
 */
static long trace_until_exit(pid_t pid, int *status, struct rusage *ru)
{
	long hwm = -1;
	int st;
	if (waitpid(pid, &st, 0) != pid)
		die("waitpid (exec stop)");
	if (!WIFSTOPPED(st)) {
		*status = st;
		memset(ru, 0, sizeof *ru);
		return -1;
	}
	if (ptrace(PTRACE_SETOPTIONS, pid, 0,
		   (void *)(long)(PTRACE_O_TRACEEXIT | PTRACE_O_TRACECLONE | PTRACE_O_EXITKILL)) < 0)
		die("PTRACE_SETOPTIONS");
	if (ptrace(PTRACE_CONT, pid, 0, 0) < 0)
		die("PTRACE_CONT");
	for (;;) {
		struct rusage r;
		pid_t t = wait4(-1, &st, __WALL, &r);
		if (t < 0) {
			if (errno == EINTR)
				continue;
			die("wait4 (traced)");
		}
		if (WIFEXITED(st) || WIFSIGNALED(st)) {
			if (t == pid) {
				*status = st;
				*ru = r;
				return hwm;
			}
			continue;
		}
		if (!WIFSTOPPED(st))
			continue;
		int sig = WSTOPSIG(st), event = st >> 16, inject = 0;
		if (event == PTRACE_EVENT_EXIT) {
			if (hwm < 0)
				hwm = read_vmhwm(t);
		} else if (event == 0 && sig != SIGSTOP && sig != SIGTRAP) {
			inject = sig; /* a real signal: deliver it */
		}
		ptrace(PTRACE_CONT, t, 0, (void *)(long)inject);
	}
}

int main(int argc, char **argv)
{
	int trace = 0, floor_mode = 0, exact = 0;
	const char *expect = NULL;
	int opt;
	while ((opt = getopt(argc, argv, "+te:nx")) != -1) {
		switch (opt) {
		case 't': trace = 1; break;
		case 'e': expect = optarg; break;
		case 'n': floor_mode = 1; break;
		case 'x': exact = 1; break;
		default:
			fprintf(stderr, "usage: launch [-t] [-e STRING] [-n] [-x] -- PROGRAM ARG...\n");
			return 2;
		}
	}
	char **cmd = argv + optind;
	if (!floor_mode && !cmd[0]) {
		fprintf(stderr, "launch: no program given\n");
		return 2;
	}

	int out_fd = memfd_create("launch-stdout", 0);
	int err_fd = memfd_create("launch-stderr", 0);
	int null_fd = open("/dev/null", O_RDONLY);
	if (out_fd < 0 || err_fd < 0 || null_fd < 0)
		die("memfd_create/open");
	if (trace && setenv("KVMRUN_TRACE_BOOT", "1", 1) < 0)
		die("setenv");

	struct timespec t0, t1;
	struct rusage ru;
	int status;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		if (floor_mode)
			_exit(0);
		if (dup2(null_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
			_exit(126);
		if (exact && ptrace(PTRACE_TRACEME, 0, 0, 0) < 0)
			_exit(125);
		execve(cmd[0], cmd, environ);
		_exit(127);
	}
	long hwm = -1;
	if (exact) {
		hwm = trace_until_exit(pid, &status, &ru);
		clock_gettime(CLOCK_MONOTONIC, &t1);
	} else {
		pid_t w;
		do
			w = wait4(pid, &status, 0, &ru);
		while (w < 0 && errno == EINTR);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (w < 0)
			die("wait4");
	}

	size_t out_len = 0, err_len = 0;
	char *out = slurp(out_fd, &out_len);
	char *err = slurp(err_fd, &err_len);

	char st[32];
	if (WIFEXITED(status))
		snprintf(st, sizeof st, "exit:%d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(st, sizeof st, "signal:%d", WTERMSIG(status));
	else
		snprintf(st, sizeof st, "other:%d", status);

	int64_t t0n = ts_ns(&t0);
	printf("status=%s wall_ns=%lld cpu_ns=%lld maxrss_kib=%ld expect=%s", st,
	       (long long)(ts_ns(&t1) - t0n),
	       (long long)(tv_ns(&ru.ru_utime) + tv_ns(&ru.ru_stime)), ru.ru_maxrss,
	       expect ? (contains(out, out_len, expect) ? "1" : "0") : "-");
	int64_t tm, tr;
	if (trace && parse_trace(err, &tm, &tr) == 0)
		printf(" exec_to_run_ns=%lld main_to_run_ns=%lld exec_to_main_ns=%lld run_to_exit_ns=%lld",
		       (long long)(tr - t0n), (long long)(tr - tm), (long long)(tm - t0n),
		       (long long)(ts_ns(&t1) - tr));
	if (trace)
		print_stages(err);
	if (exact)
		printf(" vmhwm_kib=%ld", hwm);
	printf("\n");

	/* On failure, keep the child's stderr for the report (one line, short). */
	if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0) && err_len) {
		char *nl = strchr(err, '\n');
		if (nl)
			*nl = '\0';
		fprintf(stderr, "launch: child stderr: %.200s\n", err);
	}
	return 0;
}
