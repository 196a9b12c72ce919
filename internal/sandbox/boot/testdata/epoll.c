// epoll: level- and edge-triggered items, one-shot and MOD, DEL, errors,
// timeouts, nested instances, a wake-up from another thread, EINTR.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define CHECK(expr) do { long r_ = (long)(expr); printf("%-60s = %ld%s%s\n", #expr, r_, r_ < 0 ? " " : "", r_ < 0 ? strerrorname_np(errno) : ""); } while (0)

static int p[2];

static void show(int ep, int timeout) {
	struct epoll_event evs[8];
	int n = epoll_wait(ep, evs, 8, timeout);
	if (n < 0) {
		printf("  wait: %s\n", strerrorname_np(errno));
		return;
	}
	printf("  wait: %d:", n);
	for (int i = 0; i < n; i++)
		printf(" [%llu %#x]", (unsigned long long)evs[i].data.u64, evs[i].events);
	printf("\n");
}

static void *writer(void *arg) {
	usleep(100000);
	write(p[1], "w", 1);
	return NULL;
}

static void onalrm(int sig) {}

int main(int argc, char **argv) {
	char buf[64];
	int ep = epoll_create1(EPOLL_CLOEXEC);
	CHECK(ep >= 0);
	CHECK(pipe(p));
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 1};
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
	ev.events = EPOLLOUT;
	ev.data.u64 = 2;
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, p[1], &ev));
	show(ep, 0);
	CHECK(write(p[1], "abc", 3));
	show(ep, 0);
	show(ep, 0); // level-triggered: still readable
	CHECK(read(p[0], buf, sizeof buf));
	CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, p[1], NULL));
	CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, p[1], NULL));
	show(ep, 0);
	// Edge-triggered.
	ev.events = EPOLLIN | EPOLLET;
	ev.data.u64 = 3;
	CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev));
	CHECK(write(p[1], "x", 1));
	show(ep, 0);
	show(ep, 0); // no new edge
	CHECK(write(p[1], "y", 1));
	show(ep, 0);
	CHECK(read(p[0], buf, sizeof buf));
	// One-shot, re-armed with MOD.
	ev.events = EPOLLIN | EPOLLONESHOT;
	ev.data.u64 = 4;
	CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev));
	CHECK(write(p[1], "z", 1));
	show(ep, 0);
	show(ep, 0);
	CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev));
	show(ep, 0);
	CHECK(read(p[0], buf, sizeof buf));
	// eventfd and hang-up.
	int efd = eventfd(0, 0);
	ev.events = EPOLLIN;
	ev.data.u64 = 5;
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev));
	ev.data.u64 = 4;
	CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev));
	uint64_t one = 1;
	CHECK(write(efd, &one, 8));
	show(ep, 0);
	CHECK(read(efd, &one, 8));
	// Errors.
	int fd = open("/etc/passwd", O_RDONLY);
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev));
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, ep, &ev));
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, 999, &ev));
	CHECK(epoll_ctl(fd, EPOLL_CTL_ADD, p[0], &ev));
	CHECK(epoll_ctl(ep, 99, p[0], &ev));
	CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev));
	CHECK(write(efd, &one, 8));
	CHECK(epoll_wait(ep, (struct epoll_event *)(long)(argc + 7), 1, 0));
	CHECK(read(efd, &one, 8));
	CHECK(epoll_wait(ep, (struct epoll_event *)buf, 0, 0));
	CHECK(epoll_wait(fd, (struct epoll_event *)buf, 1, 0));
	CHECK(epoll_create(0));
	CHECK(epoll_create1(1));
	// Timeout.
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	show(ep, 50);
	clock_gettime(CLOCK_MONOTONIC, &b);
	long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	printf("timeout waited >= 50ms: %d\n", ms >= 49);
	// Nested: the outer instance sees the inner one readable.
	int outer = epoll_create1(0);
	ev.events = EPOLLIN;
	ev.data.u64 = 9;
	CHECK(epoll_ctl(outer, EPOLL_CTL_ADD, ep, &ev));
	show(outer, 0);
	// A wake-up from another thread, through the nested instance.
	pthread_t th;
	pthread_create(&th, NULL, writer, NULL);
	show(outer, 5000);
	show(ep, 5000);
	pthread_join(th, NULL);
	CHECK(read(p[0], buf, sizeof buf));
	// A signal interrupts the wait (never restarted).
	struct sigaction sa = {.sa_handler = onalrm, .sa_flags = SA_RESTART};
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = {.it_value = {.tv_usec = 50000}};
	setitimer(ITIMER_REAL, &it, NULL);
	show(ep, 5000);
	// Closing the read end: the write end reports an error.
	CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL));
	CHECK(close(p[0]));
	ev.events = EPOLLOUT;
	ev.data.u64 = 7;
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, p[1], &ev));
	show(ep, 0);
	return 0;
}
