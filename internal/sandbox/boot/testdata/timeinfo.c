// Clocks, sleeps, randomness, identity, limits and system information.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/sysinfo.h>
#include <sys/time.h>
#include <sys/times.h>
#include <sys/utsname.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

static double now(clockid_t c) {
	struct timespec ts;
	clock_gettime(c, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(void) {
	double a = now(CLOCK_MONOTONIC);
	struct timespec req = {0, 50 * 1000 * 1000};
	printf("nanosleep %d\n", nanosleep(&req, NULL));
	double b = now(CLOCK_MONOTONIC);
	printf("slept at least 50ms: %d\n", b - a >= 0.049);
	struct timespec res;
	printf("getres %d\n", clock_getres(CLOCK_MONOTONIC, &res));
	struct timeval tv;
	gettimeofday(&tv, NULL);
	printf("gettimeofday close to time(): %d\n", labs(tv.tv_sec - time(NULL)) <= 1);
	printf("realtime after 2020: %d\n", now(CLOCK_REALTIME) > 1577836800);
	printf("bad clock: %d %s\n", clock_gettime(12345, &res), strerrorname_np(errno));
	req.tv_nsec = 2000000000;
	printf("bad nanosleep: %d %s\n", nanosleep(&req, NULL), strerrorname_np(errno));
	struct tms t;
	printf("times ok %d\n", times(&t) != (clock_t)-1);

	unsigned char r1[32], r2[32];
	printf("getrandom %zd %zd\n", getrandom(r1, sizeof r1, 0), getrandom(r2, sizeof r2, GRND_NONBLOCK));
	printf("random differs %d\n", memcmp(r1, r2, sizeof r1) != 0);

	struct utsname u;
	uname(&u);
	printf("sysname %s machine %s\n", u.sysname, u.machine);

	struct rlimit rl;
	printf("getrlimit %d\n", getrlimit(RLIMIT_NOFILE, &rl));
	rl.rlim_cur = 20;
	printf("setrlimit %d\n", setrlimit(RLIMIT_NOFILE, &rl));
	int last = -1, fd;
	while ((fd = open("/etc/passwd", O_RDONLY)) >= 0) last = fd;
	printf("highest fd %d before %s\n", last, strerrorname_np(errno));
	rl.rlim_cur = rl.rlim_max + 1;
	printf("cur above max: %d %s\n", setrlimit(RLIMIT_NOFILE, &rl), strerrorname_np(errno));
	printf("bad resource: %d %s\n", getrlimit(99, &rl), strerrorname_np(errno));

	printf("uid %d euid %d gid %d\n", getuid(), geteuid(), getgid());
	prctl(PR_SET_NAME, "renamed");
	char name[16] = {0};
	prctl(PR_GET_NAME, name);
	printf("name %s\n", name);
	struct sysinfo si;
	printf("sysinfo %d procs>0 %d\n", sysinfo(&si), si.procs > 0);
	printf("pid>0 %d ppid>=0 %d\n", getpid() > 0, getppid() >= 0);
	return 0;
}
