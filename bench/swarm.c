// SPDX-License-Identifier: Apache-2.0
/*
 * swarm: start many copies of one command and measure them together; the
 * density benchmark's launcher (bench/density.sh). Same conventions as
 * bench/launch.c: built static, child stdin /dev/null, stdout and stderr in
 * memfds, CLOCK_MONOTONIC, one key=value line per fact on stdout.
 *
 *   swarm -r -n N -c C -e STRING -- PROGRAM ARG...
 *       throughput: run N copies, at most C alive at once (a new one is
 *       started as soon as one is reaped). Wall time is t0 = right before
 *       the first fork to t1 = right after the last wait4().
 *   swarm -h -n M -e STRING -s SIG [-w SEC] [-x STATUS] [-i MS] -- PROGRAM ARG...
 *       hold: start M copies, wait until each one's stdout holds STRING
 *       (at most SEC seconds, default 60), wait 200 ms more, read each
 *       one's /proc/PID/status and /proc/PID/smaps_rollup, then its threads'
 *       on-CPU time (schedstat) over an idle window of MS ms (default 1000),
 *       then send SIG to each, reap them all
 *       (SIGKILL after 10 s for any that did not go) and check that no PID
 *       is left in /proc.
 *
 * Output lines:
 *   vm i=.. pid=.. status=exit:N|signal:N wall_ns=.. cpu_ns=.. maxrss_kib=..
 *      expect=1|0 [ready_ns=.. vmrss_kib=.. vmhwm_kib=.. rssanon_kib=..
 *      rssfile_kib=.. vmpte_kib=.. threads=.. pss_kib=.. pss_anon_kib=..
 *      pss_file_kib=.. private_kib=.. idle_cpu_ns=..] (the bracket: -h only)
 *   swarm mode=.. n=.. c=.. wall_ns=.. ok=.. failed=.. cpu_ns=<sum of the
 *      children's user+sys> host_busy_ns=.. host_steal_ns=.. host_total_ns=..
 *      (from /proc/stat over [t0,t1], all CPUs; the host is shared, so this
 *      includes other people's work) [memavail_drop_kib=..  slab_delta_kib=..
 *      pagetables_delta_kib=.. left=<PIDs still in /proc after reaping>
 *      idle_window_ns=..]
 * -e '' skips the output check (for experiments with programs that print nothing).
 * A VM is ok when it exited 0 (-r) or with the status -x gives (-h; default
 * any exit, not a signal, after SIG) and its stdout held STRING.
 * Exits 0 if the measurement was taken, 1 if a child could not be handled
 * (left running, not ready in time), 2 on a usage or setup error.
 * Every child gets PR_SET_PDEATHSIG SIGKILL, so none outlives the swarm.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

struct vm {
	pid_t pid;
	int out_fd, err_fd;
	int64_t t_start, t_end, t_ready;
	int status, reaped, expect_ok;
	struct rusage ru;
	long st[7];   /* VmRSS VmHWM RssAnon RssFile VmPTE Threads (kB / count) */
	long pss[4];  /* Pss Pss_Anon Pss_File Private_Clean+Private_Dirty */
	int64_t idle0, idle1; /* on-CPU ns of all its threads, idle window */
};

static void die(const char *what)
{
	fprintf(stderr, "swarm: %s: %s\n", what, strerror(errno));
	exit(2);
}

static int64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int64_t tv_ns(const struct timeval *t)
{
	return (int64_t)t->tv_sec * 1000000000 + (int64_t)t->tv_usec * 1000;
}

/* Does the memfd hold STRING? Reads it whole (outputs are a few KiB). */
static int fd_contains(int fd, const char *needle)
{
	struct stat st;
	if (!*needle)
		return 1; /* -e '': no output check */
	if (fstat(fd, &st) < 0)
		die("fstat");
	size_t n = (size_t)st.st_size;
	if (n == 0)
		return 0;
	char *buf = malloc(n);
	if (!buf)
		die("malloc");
	ssize_t r = pread(fd, buf, n, 0);
	int hit = r > 0 && memmem(buf, (size_t)r, needle, strlen(needle)) != NULL;
	free(buf);
	return hit;
}

/* First line of the child's stderr, for failure reports. */
static void first_err_line(int fd, char *out, size_t len)
{
	ssize_t r = pread(fd, out, len - 1, 0);
	out[r > 0 ? r : 0] = '\0';
	char *nl = strchr(out, '\n');
	if (nl)
		*nl = '\0';
}

static void spawn(struct vm *v, char **cmd, int null_fd)
{
	v->out_fd = memfd_create("swarm-stdout", MFD_CLOEXEC);
	v->err_fd = memfd_create("swarm-stderr", MFD_CLOEXEC);
	if (v->out_fd < 0 || v->err_fd < 0)
		die("memfd_create");
	pid_t parent = getpid();
	v->t_start = now_ns();
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(124);
		/* dup2 clears FD_CLOEXEC on the copies */
		if (dup2(null_fd, 0) < 0 || dup2(v->out_fd, 1) < 0 || dup2(v->err_fd, 2) < 0)
			_exit(126);
		execve(cmd[0], cmd, environ);
		_exit(127);
	}
	v->pid = pid;
}

/* Reap one child (blocking unless nohang); returns its index or -1. */
static int reap(struct vm *vms, int n, int nohang)
{
	int st;
	struct rusage ru;
	pid_t w;
	do
		w = wait4(-1, &st, nohang ? WNOHANG : 0, &ru);
	while (w < 0 && errno == EINTR);
	int64_t t = now_ns();
	if (w <= 0)
		return -1;
	for (int i = 0; i < n; i++)
		if (vms[i].pid == w && !vms[i].reaped) {
			vms[i].reaped = 1;
			vms[i].status = st;
			vms[i].ru = ru;
			vms[i].t_end = t;
			return i;
		}
	return -1;
}

static void status_str(int st, char *buf, size_t len)
{
	if (WIFEXITED(st))
		snprintf(buf, len, "exit:%d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "signal:%d", WTERMSIG(st));
	else
		snprintf(buf, len, "other:%d", st);
}

/* /proc/stat "cpu" line: busy (not idle/iowait), steal and total, in ns. */
static void host_cpu(int64_t *busy, int64_t *steal, int64_t *total)
{
	unsigned long long v[10] = {0};
	FILE *f = fopen("/proc/stat", "r");
	if (!f || fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
			 &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]) < 8)
		die("/proc/stat");
	fclose(f);
	/* user nice system idle iowait irq softirq steal guest guest_nice;
	 * guest time is already inside user */
	unsigned long long tot = 0;
	for (int i = 0; i < 8; i++)
		tot += v[i];
	long hz = sysconf(_SC_CLK_TCK);
	int64_t k = 1000000000 / hz;
	*total = (int64_t)tot * k;
	*busy = (int64_t)(tot - v[3] - v[4] - v[7]) * k;
	*steal = (int64_t)v[7] * k;
}

/* A "Key:   N kB" field of a /proc file, or -1. */
static long proc_field(const char *path, const char *key)
{
	char line[256];
	size_t kl = strlen(key);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	long v = -1;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, key, kl) && line[kl] == ':') {
			v = strtol(line + kl + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static void read_mem(struct vm *v)
{
	static const char *const sk[] = {"VmRSS", "VmHWM", "RssAnon", "RssFile", "VmPTE", "Threads"};
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/status", (int)v->pid);
	for (int i = 0; i < 6; i++)
		v->st[i] = proc_field(path, sk[i]);
	snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)v->pid);
	v->pss[0] = proc_field(path, "Pss");
	v->pss[1] = proc_field(path, "Pss_Anon");
	v->pss[2] = proc_field(path, "Pss_File");
	long pc = proc_field(path, "Private_Clean"), pd = proc_field(path, "Private_Dirty");
	v->pss[3] = pc < 0 || pd < 0 ? -1 : pc + pd;
}

/* On-CPU time of every thread of PID (schedstat field 1, ns), or -1. */
static int64_t proc_oncpu(pid_t pid)
{
	char path[96];
	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	int64_t sum = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/proc/%d/task/%.20s/schedstat", (int)pid, e->d_name);
		FILE *f = fopen(path, "r");
		long long ns;
		if (f && fscanf(f, "%lld", &ns) == 1)
			sum += ns;
		if (f)
			fclose(f);
	}
	closedir(d);
	return sum;
}

static int pid_alive(pid_t pid)
{
	return kill(pid, 0) == 0 || errno != ESRCH;
}

int main(int argc, char **argv)
{
	int mode = 0, n = 0, conc = 0, sig = 0, wait_s = 60, want_exit = -1, idle_ms = 1000;
	const char *expect = NULL;
	int opt;
	while ((opt = getopt(argc, argv, "+rhn:c:e:s:w:x:i:")) != -1) {
		switch (opt) {
		case 'r': mode = 'r'; break;
		case 'h': mode = 'h'; break;
		case 'n': n = atoi(optarg); break;
		case 'c': conc = atoi(optarg); break;
		case 'e': expect = optarg; break;
		case 's': sig = atoi(optarg); break;
		case 'w': wait_s = atoi(optarg); break;
		case 'x': want_exit = atoi(optarg); break;
		case 'i': idle_ms = atoi(optarg); break;
		default: goto usage;
		}
	}
	char **cmd = argv + optind;
	if (!mode || n < 1 || !expect || !cmd[0] || (mode == 'r' && conc < 1) ||
	    (mode == 'h' && sig < 1))
		goto usage;

	struct vm *vms = calloc((size_t)n, sizeof *vms);
	int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (!vms || null_fd < 0)
		die("calloc/open");
	int rc = 0;
	int64_t b0, s0, h0, b1, s1, h1, t0, t1;
	char st[32], err[160];

	if (mode == 'r') {
		host_cpu(&b0, &s0, &h0);
		t0 = now_ns();
		int started = 0, done = 0;
		while (started < n && started < conc)
			spawn(&vms[started++], cmd, null_fd);
		while (done < started) {
			if (reap(vms, started, 0) < 0)
				die("wait4");
			done++;
			if (started < n)
				spawn(&vms[started++], cmd, null_fd);
		}
		t1 = now_ns();
		host_cpu(&b1, &s1, &h1);
	} else {
		/* hold */
		long ma0 = proc_field("/proc/meminfo", "MemAvailable");
		long sl0 = proc_field("/proc/meminfo", "Slab");
		long pt0 = proc_field("/proc/meminfo", "PageTables");
		host_cpu(&b0, &s0, &h0);
		t0 = now_ns();
		for (int i = 0; i < n; i++)
			spawn(&vms[i], cmd, null_fd);
		int64_t deadline = t0 + (int64_t)wait_s * 1000000000;
		int ready = 0, gone = 0;
		while (ready + gone < n && now_ns() < deadline) {
			int i;
			while ((i = reap(vms, n, 1)) >= 0) /* a VM that ended early */
				if (!vms[i].t_ready)
					gone++;
			for (i = 0; i < n; i++)
				if (!vms[i].t_ready && !vms[i].reaped && fd_contains(vms[i].out_fd, expect)) {
					vms[i].t_ready = now_ns();
					ready++;
				}
			if (ready + gone < n)
				usleep(2000);
		}
		t1 = now_ns(); /* all ready */
		host_cpu(&b1, &s1, &h1);
		/* settle: let the last VMs finish their first report lines */
		usleep(200000);
		for (int i = 0; i < n; i++)
			if (!vms[i].reaped)
				read_mem(&vms[i]);
		/* what an idle (halted) VM's monitor costs: on-CPU time over a window */
		for (int i = 0; i < n; i++)
			vms[i].idle0 = vms[i].reaped ? -1 : proc_oncpu(vms[i].pid);
		int64_t i0 = now_ns();
		usleep((useconds_t)idle_ms * 1000);
		int64_t idle_ns = now_ns() - i0;
		for (int i = 0; i < n; i++)
			vms[i].idle1 = vms[i].reaped ? -1 : proc_oncpu(vms[i].pid);
		long ma1 = proc_field("/proc/meminfo", "MemAvailable");
		long sl1 = proc_field("/proc/meminfo", "Slab");
		long pt1 = proc_field("/proc/meminfo", "PageTables");
		if (ready < n) {
			fprintf(stderr, "swarm: only %d of %d became ready (%d ended early)\n", ready, n, gone);
			rc = 1;
		}
		for (int i = 0; i < n; i++)
			if (!vms[i].reaped)
				kill(vms[i].pid, sig);
		int64_t kill_deadline = now_ns() + 10 * (int64_t)1000000000;
		int left = 0;
		for (int i = 0; i < n; i++)
			left += !vms[i].reaped;
		while (left > 0) {
			if (reap(vms, n, 1) >= 0) {
				left--;
				continue;
			}
			if (now_ns() > kill_deadline) {
				for (int i = 0; i < n; i++)
					if (!vms[i].reaped) {
						fprintf(stderr, "swarm: pid %d ignored signal %d, SIGKILL\n",
							(int)vms[i].pid, sig);
						kill(vms[i].pid, SIGKILL);
					}
				rc = 1;
				kill_deadline = INT64_MAX;
			}
			usleep(1000);
		}
		int still = 0;
		for (int i = 0; i < n; i++)
			still += pid_alive(vms[i].pid);
		if (still)
			rc = 1;
		printf("swarm mode=hold n=%d wall_ns=%lld memavail_drop_kib=%ld slab_delta_kib=%ld "
		       "pagetables_delta_kib=%ld left=%d idle_window_ns=%lld",
		       n, (long long)(t1 - t0), ma0 - ma1, sl1 - sl0, pt1 - pt0, still,
		       (long long)idle_ns);
	}

	int ok = 0;
	int64_t cpu = 0;
	for (int i = 0; i < n; i++) {
		struct vm *v = &vms[i];
		if (!v->pid)
			continue;
		int exp = fd_contains(v->out_fd, expect);
		int good_status = mode == 'r'
			? WIFEXITED(v->status) && WEXITSTATUS(v->status) == 0
			: WIFEXITED(v->status) && (want_exit < 0 || WEXITSTATUS(v->status) == want_exit);
		if (mode == 'h' && want_exit < 0 && sig == SIGKILL)
			good_status = WIFSIGNALED(v->status) && WTERMSIG(v->status) == SIGKILL;
		v->expect_ok = exp && good_status && (mode == 'r' || v->t_ready);
		ok += v->expect_ok;
		cpu += tv_ns(&v->ru.ru_utime) + tv_ns(&v->ru.ru_stime);
	}
	if (mode == 'r')
		printf("swarm mode=throughput n=%d c=%d wall_ns=%lld", n, conc, (long long)(t1 - t0));
	printf(" ok=%d failed=%d cpu_ns=%lld host_busy_ns=%lld host_steal_ns=%lld host_total_ns=%lld\n",
	       ok, n - ok, (long long)cpu, (long long)(b1 - b0), (long long)(s1 - s0),
	       (long long)(h1 - h0));
	for (int i = 0; i < n; i++) {
		struct vm *v = &vms[i];
		status_str(v->status, st, sizeof st);
		printf("vm i=%d pid=%d status=%s wall_ns=%lld cpu_ns=%lld maxrss_kib=%ld expect=%d", i,
		       (int)v->pid, st, (long long)(v->t_end - v->t_start),
		       (long long)(tv_ns(&v->ru.ru_utime) + tv_ns(&v->ru.ru_stime)), v->ru.ru_maxrss,
		       fd_contains(v->out_fd, expect));
		if (mode == 'h')
			printf(" ready_ns=%lld vmrss_kib=%ld vmhwm_kib=%ld rssanon_kib=%ld rssfile_kib=%ld "
			       "vmpte_kib=%ld threads=%ld pss_kib=%ld pss_anon_kib=%ld pss_file_kib=%ld "
			       "private_kib=%ld idle_cpu_ns=%lld",
			       v->t_ready ? (long long)(v->t_ready - v->t_start) : -1LL, v->st[0], v->st[1],
			       v->st[2], v->st[3], v->st[4], v->st[5], v->pss[0], v->pss[1], v->pss[2],
			       v->pss[3],
			       v->idle0 >= 0 && v->idle1 >= 0 ? (long long)(v->idle1 - v->idle0) : -1LL);
		printf("\n");
		if (!v->expect_ok) {
			first_err_line(v->err_fd, err, sizeof err);
			fprintf(stderr, "swarm: vm %d (pid %d) failed: %s expect=%d stderr: %s\n", i,
				(int)v->pid, st, fd_contains(v->out_fd, expect), err);
		}
	}
	return rc;
usage:
	fprintf(stderr, "usage: swarm -r -n N -c C -e STRING -- PROGRAM ARG...\n"
			"       swarm -h -n M -e STRING -s SIG [-w SEC] [-x STATUS] [-i MS] -- PROGRAM ARG...\n");
	return 2;
}
