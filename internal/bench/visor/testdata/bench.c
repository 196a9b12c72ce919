// Micro-benchmarks for the Sentry, run the same way natively and in the
// sandbox. Each mode runs a loop and prints nanoseconds per operation,
// measured with CLOCK_MONOTONIC inside the program.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static char buf[1 << 20];

int main(int argc, char **argv) {
	if (argc < 3) {
		fprintf(stderr, "usage: bench MODE N [path]\n");
		return 2;
	}
	const char *mode = argv[1];
	long n = atol(argv[2]);
	const char *path = argc > 3 ? argv[3] : "/tmp/bench-file";
	double t0, t1;
	if (!strcmp(mode, "getppid")) {
		t0 = now();
		for (long i = 0; i < n; i++) syscall(SYS_getppid);
		t1 = now();
	} else if (!strcmp(mode, "openread")) {
		int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
		write(fd, buf, 4096);
		close(fd);
		t0 = now();
		for (long i = 0; i < n; i++) {
			fd = open(path, O_RDONLY);
			if (read(fd, buf, 4096) != 4096) return 1;
			close(fd);
		}
		t1 = now();
		unlink(path);
	} else if (!strcmp(mode, "pipe")) {
		int a[2], b[2];
		pipe(a);
		pipe(b);
		pid_t pid = fork();
		if (pid == 0) {
			char c;
			for (long i = 0; i < n; i++) {
				if (read(a[0], &c, 1) != 1) _exit(1);
				write(b[1], &c, 1);
			}
			_exit(0);
		}
		char c = 'x';
		t0 = now();
		for (long i = 0; i < n; i++) {
			write(a[1], &c, 1);
			if (read(b[0], &c, 1) != 1) return 1;
		}
		t1 = now();
		waitpid(pid, NULL, 0);
	} else if (!strcmp(mode, "forkexec")) {
		// path is a static program that exits at once.
		t0 = now();
		for (long i = 0; i < n; i++) {
			pid_t pid = fork();
			if (pid == 0) {
				execl(path, path, (char *)NULL);
				_exit(127);
			}
			int st;
			waitpid(pid, &st, 0);
			if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) return 1;
		}
		t1 = now();
	} else if (!strcmp(mode, "tmpfs")) {
		// n MiB written, then read back, in 1 MiB chunks.
		memset(buf, 'v', sizeof buf);
		t0 = now();
		int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0644);
		for (long i = 0; i < n; i++) {
			if (write(fd, buf, sizeof buf) != sizeof buf) return 1;
		}
		lseek(fd, 0, SEEK_SET);
		for (long i = 0; i < n; i++) {
			if (read(fd, buf, sizeof buf) != sizeof buf) return 1;
		}
		close(fd);
		t1 = now();
		unlink(path);
		printf("%.0f\n", (t1 - t0));
		return 0;
	} else if (!strcmp(mode, "true")) {
		return 0;
	} else {
		fprintf(stderr, "unknown mode %s\n", mode);
		return 2;
	}
	printf("%.1f\n", (t1 - t0) / n);
	return 0;
}
