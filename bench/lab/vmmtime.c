// SPDX-License-Identifier: Apache-2.0
/*
 * vmmtime: run a VMM inside the lab's L1 and time what its guest prints.
 * Built static (L1 has no C library).
 *
 *   vmmtime [-o LOG] [-p PIDFILE] [-t SECONDS] [-m STRING]... -- PROGRAM ARG...
 *
 *   -o LOG      copy the child's stdout+stderr (the guest console) to LOG
 *   -p PIDFILE  write the child's pid there once it runs
 *   -t SECONDS  SIGKILL the child after this long (default 300)
 *   -m STRING   print "mark I MS" the first time a console line contains
 *               STRING (I: its index among the -m options, from 0)
 *
 * A console line holding "BENCH-CPU TAG" makes vmmtime print
 *   "cpu TAG MS TICKS GUEST_TICKS"
 * at once, TICKS being the child's utime+stime from /proc/PID/stat (all its
 * threads, in USER_HZ ticks) and GUEST_TICKS its guest_time (time in guest
 * mode, which utime includes): a guest prints it before and after a measured
 * phase, and the differences are the VMM's host CPU for that phase, with and
 * without the guest's own execution.
 * At the end: "exit STATUS MS CPU_MS" (CPU from wait4's rusage).
 * MS are milliseconds since just before fork(), CLOCK_MONOTONIC.
 * The child's stdin is /dev/null.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
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

/* utime+stime of the whole process, and *guest its guest_time (which
 * utime includes), in USER_HZ ticks; -1 when unreadable. */
static long long cpu_ticks(pid_t pid, long long *guest)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
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
	*guest = (long long)gt;
	return (long long)(ut + st);
}

int main(int argc, char **argv)
{
	const char *logpath = NULL, *pidfile = NULL;
	const char *marks[32];
	int nmarks = 0, seen[32] = { 0 };
	double timeout_s = 300;
	int opt;
	while ((opt = getopt(argc, argv, "+o:p:t:m:")) != -1) {
		switch (opt) {
		case 'o': logpath = optarg; break;
		case 'p': pidfile = optarg; break;
		case 't': timeout_s = atof(optarg); break;
		case 'm':
			if (nmarks < 32)
				marks[nmarks++] = optarg;
			break;
		default:
			fprintf(stderr, "usage: vmmtime [-o LOG] [-p PIDFILE] [-t S] [-m STR]... -- CMD...\n");
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
				}
			}
			char *c2 = strstr(line, "BENCH-CPU ");
			if (c2) {
				char tag[64] = "?";
				sscanf(c2 + 10, "%63s", tag);
				long long g = -1, c3 = cpu_ticks(pid, &g);
				printf("cpu %s %.2f %lld %lld\n", tag, t, c3, g);
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
