// Calls system calls with random arguments (garbage pointers, huge sizes,
// bad descriptors, random flags) in short-lived children. The Sentry must
// answer every call with a result or an errno and never fall over; a child
// killed by its own garbage (a SIGSEGV after mapping over its code, an
// alarm) or blocked by it for good (then killed by the parent) is fine.
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static uint64_t state = 88172645463325252ULL;
static uint64_t rnd(void) {
	state ^= state << 13;
	state ^= state >> 7;
	state ^= state << 17;
	return state;
}

static char buf[8192];

static uint64_t arg(void) {
	switch (rnd() % 10) {
	case 0: return 0;
	case 1: return rnd() % 8;
	case 2: return (uint64_t)-1;
	case 3: return rnd();
	case 4: return (uint64_t)buf + rnd() % 4096;
	case 5: return 0x1000 * (rnd() % 64);
	case 6: return 0xffffffffff600000ULL;
	case 7: return 1ULL << (rnd() % 64);
	case 8: return rnd() % 65536;
	default: return (uint64_t)buf;
	}
}

// Calls that would end or replace the child, or stop its loop, are left out.
static int excluded(long nr) {
	switch (nr) {
	case SYS_exit: case SYS_exit_group: case SYS_execve: case SYS_execveat:
	case SYS_fork: case SYS_vfork: case SYS_clone: case SYS_clone3:
	case SYS_kill: case SYS_tkill: case SYS_tgkill: case SYS_rt_sigreturn:
	case SYS_reboot: case SYS_vhangup:
		return 1;
	}
	return 0;
}

int main(int argc, char **argv) {
	int rounds = argc > 1 ? atoi(argv[1]) : 40;
	int calls = 0, children_killed = 0;
	for (int r = 0; r < rounds; r++) {
		uint64_t seed = rnd();
		pid_t pid = fork();
		if (pid == 0) {
			state = seed | 1;
			alarm(1);
			for (int i = 0; i < 200; i++) {
				long nr = rnd() % 460; // through the newest calls (openat2, close_range, epoll_pwait2, ...)
				if (excluded(nr)) continue;
				memset(buf, 'A', sizeof buf);
				syscall(nr, arg(), arg(), arg(), arg(), arg(), arg());
			}
			_exit(0);
		}
		// The child may have cancelled its alarm and blocked for good
		// (pause, a read...): kill it after two seconds.
		int status, waited = 0;
		for (int ms = 0; ms < 2000 && !waited; ms += 10) {
			if (waitpid(pid, &status, WNOHANG) == pid)
				waited = 1;
			else
				usleep(10000);
		}
		if (!waited) {
			kill(pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0) {}
		}
		if (WIFSIGNALED(status)) children_killed++;
		calls += 200;
	}
	printf("fuzz done: %d rounds\n", rounds);
	return 0;
}
