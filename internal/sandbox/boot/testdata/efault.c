// Garbage pointers and arguments: every call must fail with the errno
// Linux gives, and nothing may crash.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BAD ((void *)16)
#define KERN ((void *)0xffffffffff600000UL)
#define T(expr) do { errno = 0; long r_ = (long)(expr); printf("%-55s %ld %s\n", #expr, r_, errno ? strerrorname_np(errno) : "-"); } while (0)

int main(void) {
	char buf[16];
	T(syscall(SYS_read, 0, BAD, 10));
	T(syscall(SYS_write, 1, BAD, 10));
	T(syscall(SYS_write, 1, KERN, 10));
	T(syscall(SYS_open, BAD, O_RDONLY));
	T(syscall(SYS_stat, "/", BAD));
	T(syscall(SYS_stat, BAD, buf));
	T(syscall(SYS_fstat, 0, BAD));
	T(syscall(SYS_uname, BAD));
	T(syscall(SYS_clock_gettime, CLOCK_REALTIME, BAD));
	T(syscall(SYS_pipe, BAD));
	T(syscall(SYS_getrandom, BAD, 16, 0));
	T(syscall(SYS_rt_sigaction, SIGUSR1, BAD, NULL, 8));
	T(syscall(SYS_rt_sigprocmask, SIG_BLOCK, BAD, NULL, 8));
	T(syscall(SYS_nanosleep, BAD, NULL));
	T(syscall(SYS_getcwd, BAD, 100));
	T(syscall(SYS_readlink, "/proc", BAD, 10));
	T(syscall(SYS_execve, BAD, NULL, NULL));
	T(syscall(SYS_wait4, -1, BAD, 0, NULL));
	T(syscall(SYS_getrlimit, RLIMIT_NOFILE, BAD));
	T(syscall(SYS_readv, 0, BAD, 1));
	T(syscall(SYS_writev, 1, (struct iovec[]){{BAD, 5}}, 1));
	T(syscall(SYS_poll, BAD, 1, 0));
	T(syscall(SYS_gettimeofday, BAD, NULL));
	T(syscall(SYS_sigaltstack, BAD, NULL));
	T(syscall(SYS_mkdir, BAD, 0755));
	T(syscall(SYS_chdir, BAD));
	T(syscall(SYS_futex, BAD, 0, 0, NULL, NULL, 0));
	T(syscall(SYS_rt_sigpending, BAD, 8));
	T(syscall(SYS_getdents64, 0, BAD, 100));
	// Bad descriptors and arguments.
	T(syscall(SYS_read, -1, buf, 1));
	T(syscall(SYS_close, 12345));
	T(syscall(SYS_dup2, 12345, 3));
	T(syscall(SYS_lseek, 0, 0, 99));
	T(syscall(SYS_mmap, NULL, 4096, PROT_READ, 0, -1, 0));
	T(syscall(SYS_munmap, 1, 4096));
	T(syscall(SYS_mprotect, 1, 4096, PROT_READ));
	T(syscall(SYS_rt_sigaction, 0, NULL, NULL, 8));
	T(syscall(SYS_rt_sigaction, SIGKILL, (struct sigaction[]){{0}}, NULL, 8));
	T(syscall(SYS_rt_sigprocmask, 99, (sigset_t[]){{0}}, NULL, 8));
	T(syscall(SYS_kill, getpid(), 99));
	T(syscall(SYS_kill, 99999, 0));
	T(syscall(SYS_wait4, -1, NULL, 0, NULL));
	T(syscall(SYS_fcntl, 0, 9999));
	T(syscall(SYS_clock_gettime, 99, buf));
	T(syscall(SYS_getrandom, buf, 16, 0x80));
	T(syscall(SYS_pipe2, buf, 0x1234567));
	T(syscall(SYS_dup3, 0, 0, 0));
	T(syscall(SYS_execve, "/nonexistent", NULL, NULL));
	T(syscall(SYS_execve, "/etc/passwd", NULL, NULL));
	T(syscall(SYS_execve, "/etc", NULL, NULL));
	T(syscall(SYS_ioctl, 0, 0x12345678, 0));
	printf("still alive\n");
	return 0;
}
