// SPDX-License-Identifier: Apache-2.0
/*
 * Test helper: run kvmrun under ptrace and, when a thread first enters
 * ioctl(KVM_RUN) (held there, so the guest has not run yet), report every
 * thread of kvmrun and every child process it has made, then let it run on.
 *
 *   firstrun KVMRUN [ARGS...]
 *
 * Prints one line per task:
 *   TASK pid=P tid=T name=NAME seccomp=N
 * (N from /proc's "Seccomp:" field: 2 is filter mode), then "FIRSTRUN done"
 * and exits with kvmrun's status (128+N when a signal ended it; 125 if no
 * KVM_RUN was ever entered). t_security.py uses it to check that nothing
 * runs unconfined once the guest can: every other tracee is either held at
 * a syscall stop of ours or running its own code, as it would be.
 */
#include <dirent.h>
#include <errno.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static void status_of(int pid, int tid)
{
	char path[64], line[256], name[64] = "?";
	int seccomp = -1;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", pid, tid);
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "Name:", 5))
			sscanf(line + 5, " %63s", name);
		else if (!strncmp(line, "Seccomp:", 8))
			seccomp = atoi(line + 8);
	}
	fclose(f);
	printf("TASK pid=%d tid=%d name=%s seccomp=%d\n", pid, tid, name, seccomp);
}

static void tasks_of(int pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	DIR *d = opendir(path);
	struct dirent *e;
	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.')
			status_of(pid, atoi(e->d_name));
	if (d)
		closedir(d);
}

/* kvmrun's threads, then each process whose parent is kvmrun (the teardown child). */
static void report(int pid)
{
	tasks_of(pid);
	DIR *d = opendir("/proc");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char path[64], line[128];
		int child = atoi(e->d_name);
		if (child <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/status", child);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f))
			if (!strncmp(line, "PPid:", 5) && atoi(line + 5) == pid)
				tasks_of(child);
		fclose(f);
	}
	if (d)
		closedir(d);
	printf("FIRSTRUN done\n");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: firstrun KVMRUN [ARGS...]\n");
		return 2;
	}
	int pid = fork();
	if (pid == 0) {
		ptrace(PTRACE_TRACEME, 0, NULL, NULL);
		raise(SIGSTOP);
		execv(argv[1], argv + 1);
		_exit(127);
	}
	int st;
	waitpid(pid, &st, 0);
	ptrace(PTRACE_SETOPTIONS, pid, NULL,
	       (void *)(long)(PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK |
			      PTRACE_O_TRACEVFORK | PTRACE_O_TRACEEXEC));
	ptrace(PTRACE_SYSCALL, pid, NULL, NULL);
	bool seen = false;
	for (;;) {
		int t = waitpid(-1, &st, __WALL);
		if (t < 0)
			break;
		if (WIFEXITED(st) || WIFSIGNALED(st)) {
			if (t == pid)
				break;
			continue;
		}
		if (!WIFSTOPPED(st))
			continue;
		int sig = WSTOPSIG(st), deliver = 0;
		if (sig == (SIGTRAP | 0x80)) {
			struct __ptrace_syscall_info si; /* glibc's name for the kernel's struct */
			long n = ptrace(PTRACE_GET_SYSCALL_INFO, t, (void *)sizeof(si), &si);
			if (n > 0 && si.op == PTRACE_SYSCALL_INFO_ENTRY && !seen &&
			    si.entry.nr == SYS_ioctl && (uint32_t)si.entry.args[1] == KVM_RUN) {
				report(pid);
				seen = true;
			}
		} else if (st >> 16) {
			/* PTRACE_EVENT_* stops (clone, fork, exec): nothing to deliver. */
		} else if (sig != SIGSTOP) {
			deliver = sig; /* a real signal: pass it on */
		}
		/* After the report, no more syscall stops: let kvmrun run at full speed. */
		ptrace(seen ? PTRACE_CONT : PTRACE_SYSCALL, t, NULL, (void *)(long)deliver);
	}
	if (!seen)
		return 125;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
