// Signals: handlers with siginfo, masks, pending sets, sigaltstack,
// SA_RESETHAND, SA_NODEFER, SA_RESTART vs EINTR, sigsuspend, real-time
// queueing, SIGCHLD and deaths by signal.
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile int got, depth, maxdepth, rtcount, onalt;
static volatile int lastcode, lastpid;
static char altstack[64 * 1024];

static void h_info(int sig, siginfo_t *si, void *uc) {
	got = sig;
	lastcode = si->si_code;
	lastpid = si->si_pid;
}
static void h_alt(int sig) {
	char local;
	onalt = &local >= altstack && &local < altstack + sizeof altstack;
}
static void h_nodefer(int sig) {
	depth++;
	if (depth > maxdepth) maxdepth = depth;
	if (depth < 3) raise(SIGUSR2);
	depth--;
}
static void h_rt(int sig, siginfo_t *si, void *uc) { rtcount += si->si_value.sival_int; }
static void h_alarm(int sig) {}
static void h_plain(int sig) { got = sig; }

int main(void) {
	struct sigaction sa = {0};
	sa.sa_sigaction = h_info;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGUSR1, &sa, NULL);
	kill(getpid(), SIGUSR1);
	printf("kill: got %d code %d (SI_USER %d) pid matches %d\n", got, lastcode, SI_USER, lastpid == getpid());
	raise(SIGUSR1);
	printf("raise: code %d (SI_TKILL %d)\n", lastcode, SI_TKILL);

	// Blocking and pending.
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, &old);
	got = 0;
	kill(getpid(), SIGUSR1);
	sigset_t pend;
	sigpending(&pend);
	printf("blocked: got %d pending %d\n", got, sigismember(&pend, SIGUSR1));
	sigprocmask(SIG_SETMASK, &old, NULL);
	printf("unblocked: got %d\n", got);

	// Alternate stack.
	stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack};
	printf("sigaltstack %d\n", sigaltstack(&ss, NULL));
	struct sigaction alt = {0};
	alt.sa_handler = h_alt;
	alt.sa_flags = SA_ONSTACK;
	sigaction(SIGWINCH, &alt, NULL);
	raise(SIGWINCH);
	printf("handler ran on the alternate stack: %d\n", onalt);

	// SA_NODEFER lets the handler nest.
	struct sigaction nd = {0};
	nd.sa_handler = h_nodefer;
	nd.sa_flags = SA_NODEFER;
	sigaction(SIGUSR2, &nd, NULL);
	raise(SIGUSR2);
	printf("nodefer max depth %d\n", maxdepth);

	// SA_RESETHAND: the second one is fatal (checked in a child).
	pid_t pid = fork();
	if (pid == 0) {
		struct sigaction rh = {0};
		rh.sa_handler = h_plain;
		rh.sa_flags = SA_RESETHAND;
		sigaction(SIGTERM, &rh, NULL);
		raise(SIGTERM);
		printf("child survived the first SIGTERM: %d\n", got == SIGTERM);
		fflush(stdout);
		raise(SIGTERM);
		_exit(0);
	}
	int status;
	waitpid(pid, &status, 0);
	printf("child killed by %d\n", WIFSIGNALED(status) ? WTERMSIG(status) : -1);

	// Real-time signals queue.
	struct sigaction rt = {0};
	rt.sa_sigaction = h_rt;
	rt.sa_flags = SA_SIGINFO;
	sigaction(SIGRTMIN + 1, &rt, NULL);
	sigemptyset(&set);
	sigaddset(&set, SIGRTMIN + 1);
	sigprocmask(SIG_BLOCK, &set, &old);
	for (int i = 1; i <= 3; i++) sigqueue(getpid(), SIGRTMIN + 1, (union sigval){.sival_int = i});
	sigprocmask(SIG_SETMASK, &old, NULL);
	printf("rt queued sum %d\n", rtcount);

	// EINTR without SA_RESTART, restart with it.
	int p[2];
	pipe(p);
	struct sigaction al = {0};
	al.sa_handler = h_alarm;
	sigaction(SIGALRM, &al, NULL);
	alarm(1);
	char c;
	int n = read(p[0], &c, 1);
	printf("read interrupted: %d %s\n", n, n < 0 ? strerrorname_np(errno) : "");
	al.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &al, NULL);
	pid = fork();
	if (pid == 0) {
		sleep(2);
		write(p[1], "x", 1);
		_exit(0);
	}
	alarm(1);
	n = read(p[0], &c, 1);
	printf("read restarted: %d %c\n", n, c);
	waitpid(pid, NULL, 0);

	// sigsuspend.
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, &old);
	pid = fork();
	if (pid == 0) {
		kill(getppid(), SIGUSR1);
		_exit(0);
	}
	got = 0;
	sigset_t empty;
	sigemptyset(&empty);
	n = sigsuspend(&empty);
	printf("sigsuspend %d %s got %d\n", n, strerrorname_np(errno), got);
	sigprocmask(SIG_SETMASK, &old, NULL);
	waitpid(pid, NULL, 0);

	// SIGCHLD.
	struct sigaction ch = {0};
	ch.sa_sigaction = h_info;
	ch.sa_flags = SA_SIGINFO;
	sigaction(SIGCHLD, &ch, NULL);
	got = 0;
	pid = fork();
	if (pid == 0) _exit(3);
	while (got != SIGCHLD) pause();
	printf("SIGCHLD code %d (CLD_EXITED %d)\n", lastcode, CLD_EXITED);
	waitpid(pid, &status, 0);
	printf("exit status %d\n", WEXITSTATUS(status));

	// Kill a sleeping child.
	pid = fork();
	if (pid == 0) {
		pause();
		_exit(0);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	printf("killed child: signaled %d sig %d\n", WIFSIGNALED(status), WTERMSIG(status));
	// Stop and continue a child.
	pid = fork();
	if (pid == 0) {
		for (;;) pause();
	}
	kill(pid, SIGSTOP);
	waitpid(pid, &status, WUNTRACED);
	printf("stopped %d by %d\n", WIFSTOPPED(status), WSTOPSIG(status));
	kill(pid, SIGCONT);
	waitpid(pid, &status, WCONTINUED);
	printf("continued %d\n", WIFCONTINUED(status));
	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
	printf("terminated by %d\n", WTERMSIG(status));
	return 0;
}
