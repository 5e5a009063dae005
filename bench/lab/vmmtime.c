// SPDX-License-Identifier: Apache-2.0
/*
 * vmmtime: run a VMM inside the lab's L1 and time what its guest prints.
 * Built static (L1 has no C library).
 *
 *   vmmtime [-o LOG] [-p PIDFILE] [-t SECONDS] [-m STRING]... [-x PID] -- PROGRAM ARG...
 *
 *   -o LOG      copy the child's stdout+stderr (the guest console) to LOG
 *   -p PIDFILE  write the child's pid there once it runs
 *   -t SECONDS  SIGKILL the child after this long (default 300)
 *   -m STRING   print "mark I MS" the first time a console line contains
 *               STRING (I: its index among the -m options, from 0)
 *   -x PID      another process to time along (e.g. the network daemon the
 *               VMM talks to): see "xcpu" below
 *
 * A console line holding "BENCH-CPU TAG" makes vmmtime print
 *   "cpu TAG MS TICKS GUEST_TICKS"
 * at once, TICKS being the child's utime+stime from /proc/PID/stat (all its
 * threads, in USER_HZ ticks) and GUEST_TICKS its guest_time (time in guest
 * mode, which utime includes): a guest prints it before and after a measured
 * phase, and the differences are the VMM's host CPU for that phase, with and
 * without the guest's own execution. Right after it come
 *   "threads TAG NAME:TICKS:GUEST_TICKS:TID:VCSW:NVCSW:UTIME ..."
 * one item per thread of the child (/proc/PID/task/TID/stat, UTIME its
 * utime alone (which includes guest time), and its voluntary and
 * involuntary context switches from status; NAME its comm
 * with spaces and colons as '_'; the main thread, TID = PID, first, then the
 * others by TID), and, when L1's debugfs shows the child's VM(s) under
 * /sys/kernel/debug/kvm/PID-FD/ (PID: the child or one of its threads),
 *   "kvmstat TAG NAME=VALUE ..."
 * for every plain numeric file at the top of those directories (KVM's VM
 * statistics and its vCPU statistics summed over the vCPUs; summed over the
 * directories if there are several), by name. Nothing for KVM when debugfs
 * is not mounted or holds no such directory.
 * With -k, the first time each -m STRING is seen it also prints
 *   "mem I RSS_KB ANON_HUGE_KB" (the child's VmRSS, and AnonHugePages from
 *   smaps_rollup, -1 when unreadable) and "kvmstat markI ..." as above,
 * so a guest's page faults and exits can be read at that point.
 * With -x PID, each "cpu" line is followed by
 *   "xcpu TAG TICKS GUEST_TICKS" for that process (-1 -1 when it is gone).
 * First of all: "start SECONDS" (the CLOCK_MONOTONIC reading that MS count
 * from, to line up with trace timestamps taken with trace_clock "mono"),
 * then "first MS" when the child's first output byte arrives.
 * At the end: "exit STATUS MS CPU_MS" (CPU from wait4's rusage).
 * MS are milliseconds since just before fork(), CLOCK_MONOTONIC.
 * The child's stdin is /dev/null.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct timespec t0;

static double ms_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0.tv_sec) * 1e3 + (t.tv_nsec - t0.tv_nsec) / 1e6;
}

/* The text of file `path` (relative to dirfd) into buf[size], NUL-terminated: its length, or -1. */
static ssize_t read_text(int dirfd, const char *path, char *buf, size_t size)
{
	int fd = openat(dirfd, path, O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return n;
}

/* CPU times from a /proc/.../stat file, in USER_HZ ticks. */
struct cpu_times {
	long long ticks; /* utime + stime */
	long long utime; /* includes guest time */
	long long guest; /* guest_time */
};

/* Parse a /proc/.../stat file into *t, and the comm (if comm is not NULL)
 * into comm[commsz]; 0, or -1 when unreadable. */
static int read_stat(const char *path, char *comm, size_t commsz, struct cpu_times *t)
{
	char buf[1024];
	if (read_text(AT_FDCWD, path, buf, sizeof buf) < 0)
		return -1;
	char *p = strrchr(buf, ')'); /* comm may hold spaces */
	if (!p)
		return -1;
	unsigned long long ut = 0, st = 0, gt = 0;
	/* after ")": state(3) ppid pgrp session tty tpgid flags minflt cminflt
	 * majflt cmajflt utime(14) stime(15) cutime cstime priority nice
	 * num_threads itrealvalue starttime vsize rss rsslim startcode endcode
	 * startstack kstkesp kstkeip signal blocked sigignore sigcatch wchan
	 * nswap cnswap exit_signal processor rt_priority policy
	 * delayacct_blkio_ticks guest_time(43) */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu"
			  " %*d %*d %*d %*d %*d %*d %*u %*u %*d %*u %*u %*u %*u %*u %*u %*u %*u %*u %*u %*u"
			  " %*u %*u %*d %*d %*u %*u %*u %llu",
		   &ut, &st, &gt) != 3)
		return -1;
	if (comm) {
		char *q = strchr(buf, '(');
		size_t k = 0;
		if (q)
			for (q++; q < p && k < commsz - 1; q++)
				comm[k++] = (*q == ' ' || *q == ':' || *q == '\t') ? '_' : *q;
		comm[k] = 0;
		if (!k)
			snprintf(comm, commsz, "?");
	}
	*t = (struct cpu_times){ (long long)(ut + st), (long long)ut, (long long)gt };
	return 0;
}

/* utime+stime of the whole process, and *guest its guest_time (which
 * utime includes), in USER_HZ ticks; -1 when unreadable. */
static long long cpu_ticks(pid_t pid, long long *guest)
{
	char path[64];
	struct cpu_times t;
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if (read_stat(path, NULL, 0, &t) < 0)
		return -1;
	*guest = t.guest;
	return t.ticks;
}

#define MAX_TIDS 512

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

/* The child's thread ids into tids[MAX_TIDS]: pid first, then the others
 * in ascending order; returns how many. */
static int list_tids(pid_t pid, int *tids)
{
	char path[64];
	int n = 0;
	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return 0;
	struct dirent *e;
	tids[n++] = (int)pid;
	while ((e = readdir(d)) && n < MAX_TIDS) {
		char *end;
		long t = strtol(e->d_name, &end, 10);
		if (*end || end == e->d_name || t <= 0 || t == pid)
			continue;
		tids[n++] = (int)t;
	}
	closedir(d);
	qsort(tids + 1, n - 1, sizeof *tids, cmp_int);
	return n;
}

/* A thread's voluntary and involuntary context switches (its status file); 0 if unreadable. */
static void ctx_switches(pid_t pid, int tid, long long *vol, long long *invol)
{
	char path[96], line[256];
	snprintf(path, sizeof path, "/proc/%d/task/%d/status", (int)pid, tid);
	*vol = *invol = 0;
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof line, f)) {
		sscanf(line, "voluntary_ctxt_switches: %lld", vol);
		sscanf(line, "nonvoluntary_ctxt_switches: %lld", invol);
	}
	fclose(f);
}

/* "threads TAG NAME:TICKS:GUEST_TICKS:TID:VCSW:NVCSW ...": every thread of the child. */
static void print_threads(const char *tag, pid_t pid, const int *tids, int n)
{
	char path[96], comm[64];
	printf("threads %s", tag);
	for (int i = 0; i < n; i++) {
		struct cpu_times t;
		long long v, nv;
		snprintf(path, sizeof path, "/proc/%d/task/%d/stat", (int)pid, tids[i]);
		if (read_stat(path, comm, sizeof comm, &t) < 0)
			continue;
		ctx_switches(pid, tids[i], &v, &nv);
		printf(" %s:%lld:%lld:%d:%lld:%lld:%lld", comm, t.ticks, t.guest, tids[i], v, nv,
		       t.utime);
	}
	printf("\n");
}

struct kstat {
	char name[64];
	long long v;
};

static int cmp_kstat(const void *a, const void *b)
{
	return strcmp(((const struct kstat *)a)->name, ((const struct kstat *)b)->name);
}

/* A plain numeric file's value into *v: 0, or -1 if not one. */
static int read_number(int dirfd, const char *name, long long *v)
{
	char buf[64];
	if (read_text(dirfd, name, buf, sizeof buf) < 0)
		return -1;
	char *end;
	errno = 0;
	long long x = strtoll(buf, &end, 10);
	if (end == buf || errno)
		return -1;
	while (*end == '\n' || *end == ' ')
		end++;
	if (*end)
		return -1;
	*v = x;
	return 0;
}

#ifndef KVM_DEBUGFS
#define KVM_DEBUGFS "/sys/kernel/debug/kvm"
#endif
#define MAX_KSTATS 512

/* "kvmstat TAG NAME=VALUE ...": the statistics of the child's VM(s) in
 * KVM's debugfs (directories PID-FD, PID the child or one of its threads). */
static void print_kvmstat(const char *tag, const int *tids, int ntids)
{
	static struct kstat ks[MAX_KSTATS];
	int nks = 0, nvms = 0;
	DIR *d = opendir(KVM_DEBUGFS);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		char *end;
		long owner = strtol(e->d_name, &end, 10);
		if (end == e->d_name || *end != '-')
			continue;
		int mine = 0;
		for (int i = 0; i < ntids && !mine; i++)
			mine = tids[i] == owner;
		if (!mine)
			continue;
		int vfd = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY);
		if (vfd < 0)
			continue;
		DIR *v = fdopendir(vfd);
		if (!v) {
			close(vfd);
			continue;
		}
		nvms++;
		struct dirent *f;
		while ((f = readdir(v))) {
			struct stat sb;
			long long x;
			if (f->d_name[0] == '.' || strlen(f->d_name) >= sizeof ks[0].name)
				continue;
			if (fstatat(vfd, f->d_name, &sb, 0) < 0 || !S_ISREG(sb.st_mode))
				continue;
			if (read_number(vfd, f->d_name, &x) < 0)
				continue;
			int j;
			for (j = 0; j < nks && strcmp(ks[j].name, f->d_name); j++)
				;
			if (j == nks) {
				if (nks == MAX_KSTATS)
					continue;
				snprintf(ks[nks].name, sizeof ks[nks].name, "%s", f->d_name);
				ks[nks++].v = 0;
			}
			ks[j].v += x;
		}
		closedir(v);
	}
	closedir(d);
	if (!nvms || !nks)
		return;
	qsort(ks, nks, sizeof ks[0], cmp_kstat);
	printf("kvmstat %s", tag);
	for (int j = 0; j < nks; j++)
		printf(" %s=%lld", ks[j].name, ks[j].v);
	printf("\n");
}

/* A "Name:  N kB" line of a /proc file, in kB; -1 if absent. */
static long long proc_kb(const char *path, const char *name)
{
	char line[256];
	long long v = -1;
	size_t n = strlen(name);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, name, n) == 0 && line[n] == ':')
			v = atoll(line + n + 1);
	fclose(f);
	return v;
}

/* "mem I RSS_KB ANON_HUGE_KB" and "kvmstat markI ...": the child at mark I. */
static void print_mark_state(int m, pid_t pid)
{
	char path[64], tag[16];
	static int tids[MAX_TIDS];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	long long rss = proc_kb(path, "VmRSS");
	snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)pid);
	printf("mem %d %lld %lld\n", m, rss, proc_kb(path, "AnonHugePages"));
	snprintf(tag, sizeof tag, "mark%d", m);
	print_kvmstat(tag, tids, list_tids(pid, tids));
}

int main(int argc, char **argv)
{
	const char *logpath = NULL, *pidfile = NULL;
	const char *marks[32];
	int nmarks = 0, seen[32] = { 0 }, mark_state = 0, first = 0;
	pid_t xpid = 0;
	double timeout_s = 300;
	int opt;
	while ((opt = getopt(argc, argv, "+o:p:t:m:kx:")) != -1) {
		switch (opt) {
		case 'k': mark_state = 1; break;
		case 'o': logpath = optarg; break;
		case 'p': pidfile = optarg; break;
		case 't': timeout_s = atof(optarg); break;
		case 'x': xpid = (pid_t)atoi(optarg); break;
		case 'm':
			if (nmarks < 32)
				marks[nmarks++] = optarg;
			break;
		default:
			fprintf(stderr, "usage: vmmtime [-o LOG] [-p PIDFILE] [-t S] [-k] [-m STR]... -- CMD...\n");
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "vmmtime: no command\n");
		return 2;
	}
	int logfd = -1;
	if (logpath && (logfd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0) {
		perror("vmmtime: log");
		return 2;
	}
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		perror("vmmtime: pipe");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	printf("start %lld.%09ld\n", (long long)t0.tv_sec, t0.tv_nsec);
	pid_t pid = fork();
	if (pid < 0) {
		perror("vmmtime: fork");
		return 2;
	}
	if (pid == 0) {
		int nul = open("/dev/null", O_RDONLY);
		dup2(nul, 0);
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		execvp(argv[optind], argv + optind);
		fprintf(stderr, "vmmtime: exec %s: %s\n", argv[optind], strerror(errno));
		_exit(127);
	}
	close(pfd[1]);
	if (pidfile) {
		FILE *f = fopen(pidfile, "w");
		if (f) {
			fprintf(f, "%d\n", (int)pid);
			fclose(f);
		}
	}
	char line[4096];
	size_t len = 0;
	int killed = 0;
	for (;;) {
		double left = timeout_s * 1e3 - ms_now();
		if (left <= 0) {
			if (!killed) {
				kill(pid, SIGKILL);
				killed = 1;
				printf("timeout %.1f\n", ms_now());
			}
			left = 1000;
		}
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		int r = poll(&p, 1, left > 1e6 ? 1000000 : (int)left + 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			continue;
		char buf[4096];
		ssize_t n = read(pfd[0], buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		double t = ms_now();
		if (!first) {
			first = 1;
			printf("first %.2f\n", t);
		}
		if (logfd >= 0 && write(logfd, buf, n) != n)
			perror("vmmtime: log write");
		for (ssize_t i = 0; i < n; i++) {
			char c = buf[i];
			if (c != '\n' && len < sizeof line - 1) {
				if (c != '\r')
					line[len++] = c;
				continue;
			}
			if (c != '\n')
				continue; /* overlong line: keep its head only */
			line[len] = 0;
			len = 0;
			for (int m = 0; m < nmarks; m++) {
				if (!seen[m] && strstr(line, marks[m])) {
					seen[m] = 1;
					printf("mark %d %.2f\n", m, t);
					if (mark_state)
						print_mark_state(m, pid);
				}
			}
			char *c2 = strstr(line, "BENCH-CPU ");
			if (c2) {
				char tag[64] = "?";
				sscanf(c2 + 10, "%63s", tag);
				long long g = -1, c3 = cpu_ticks(pid, &g);
				printf("cpu %s %.2f %lld %lld\n", tag, t, c3, g);
				if (xpid > 0) {
					long long xg = -1, xc = cpu_ticks(xpid, &xg);
					printf("xcpu %s %lld %lld\n", tag, xc, xc < 0 ? -1 : xg);
				}
				static int tids[MAX_TIDS];
				int ntids = list_tids(pid, tids);
				print_threads(tag, pid, tids, ntids);
				print_kvmstat(tag, tids, ntids);
			}
		}
	}
	int status;
	struct rusage ru;
	while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR)
		;
	double t1 = ms_now();
	double cpu = ru.ru_utime.tv_sec * 1e3 + ru.ru_utime.tv_usec / 1e3 + ru.ru_stime.tv_sec * 1e3 +
		     ru.ru_stime.tv_usec / 1e3;
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	printf("exit %d %.2f %.2f\n", code, t1, cpu);
	return 0;
}
