// pty: pseudo-terminals through /dev/ptmx and /dev/pts: a child on the
// slave as its controlling terminal, canonical input, output processing,
// echo, and ^C as SIGINT to the foreground process group.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define CHECK(expr) do { long r_ = (long)(expr); printf("%-50s = %ld%s%s\n", #expr, r_, r_ < 0 ? " " : "", r_ < 0 ? strerrorname_np(errno) : ""); fflush(stdout); } while (0)

// readall reads what the master has within a short time.
static void show(int m, const char *what) {
	char buf[256];
	usleep(200000);
	ssize_t n = read(m, buf, sizeof buf - 1);
	if (n < 0) {
		printf("%s: read %s\n", what, strerrorname_np(errno));
		return;
	}
	printf("%s: %zd bytes:", what, n);
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] >= 32 && buf[i] < 127)
			printf(" %c", buf[i]);
		else
			printf(" \\x%02x", (unsigned char)buf[i]);
	}
	printf("\n");
	fflush(stdout);
}

int main(void) {
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	CHECK(m >= 0);
	CHECK(grantpt(m));
	CHECK(unlockpt(m));
	const char *name = ptsname(m);
	printf("slave is under /dev/pts: %d\n", name != NULL && strncmp(name, "/dev/pts/", 9) == 0);
	struct winsize ws = {.ws_row = 24, .ws_col = 80};
	CHECK(ioctl(m, TIOCSWINSZ, &ws));
	CHECK(fcntl(m, F_SETFL, O_NONBLOCK));
	fflush(stdout);
	int sync[2];
	pipe(sync);
	pid_t pid = fork();
	if (pid == 0) {
		close(m);
		setsid();
		int s = open(name, O_RDWR); // becomes the controlling terminal
		if (s < 0)
			_exit(90);
		dup2(s, 0);
		dup2(s, 1);
		dup2(s, 2);
		if (tcgetpgrp(0) != getpgrp())
			_exit(91);
		struct winsize w;
		ioctl(0, TIOCGWINSZ, &w);
		printf("child: %dx%d\n", w.ws_row, w.ws_col);
		fflush(stdout);
		char line[64];
		write(sync[1], "r", 1);
		if (fgets(line, sizeof line, stdin))
			printf("got [%.*s]\n", (int)strcspn(line, "\n"), line);
		fflush(stdout);
		write(sync[1], "r", 1);
		pause(); // until ^C
		_exit(92);
	}
	char c;
	read(sync[0], &c, 1);
	show(m, "child wrote");
	CHECK(write(m, "ab\x7f" "cd\n", 6)); // erase the b
	read(sync[0], &c, 1);
	show(m, "echo and reply");
	CHECK(write(m, "\x03", 1));
	int st;
	CHECK(waitpid(pid, &st, 0) == pid);
	printf("child killed by SIGINT: %d\n", WIFSIGNALED(st) && WTERMSIG(st) == SIGINT);
	show(m, "after ^C");
	return 0;
}
