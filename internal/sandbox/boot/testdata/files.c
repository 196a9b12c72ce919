// Exercises the file system calls; prints results and errno names so a
// native run and a sandboxed run can be compared line by line.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#define CHECK(expr) do { long r_ = (long)(expr); printf("%-60s = %ld%s%s\n", #expr, r_, r_ < 0 ? " " : "", r_ < 0 ? strerrorname_np(errno) : ""); } while (0)

int main(void) {
	char buf[256];
	umask(022);
	CHECK(chdir("/tmp"));
	CHECK(mkdir("d", 0755));
	CHECK(mkdir("d", 0755));
	int fd = open("d/f", O_CREAT | O_RDWR | O_TRUNC, 0640);
	CHECK(fd >= 0);
	CHECK(write(fd, "hello world\n", 12));
	CHECK(lseek(fd, 0, SEEK_CUR));
	CHECK(lseek(fd, 6, SEEK_SET));
	memset(buf, 0, sizeof buf);
	CHECK(read(fd, buf, 100));
	printf("read: %s", buf);
	CHECK(pwrite(fd, "W", 1, 0));
	memset(buf, 0, sizeof buf);
	CHECK(pread(fd, buf, 5, 0));
	printf("pread: %s\n", buf);
	struct iovec iov[2] = {{"ab", 2}, {"cd\n", 3}};
	CHECK(lseek(fd, 0, SEEK_END));
	CHECK(writev(fd, iov, 2));
	char b1[3], b2[20];
	struct iovec riov[2] = {{b1, 3}, {b2, 20}};
	CHECK(lseek(fd, 0, SEEK_SET));
	CHECK(readv(fd, riov, 2));
	struct stat st;
	CHECK(fstat(fd, &st));
	printf("size %ld mode %o nlink %ld\n", (long)st.st_size, st.st_mode, (long)st.st_nlink);
	CHECK(ftruncate(fd, 5));
	CHECK(stat("d/f", &st));
	printf("size after truncate %ld\n", (long)st.st_size);
	struct statx stx;
	CHECK(statx(AT_FDCWD, "d/f", 0, STATX_BASIC_STATS, &stx));
	printf("statx size %llu mode %o\n", (unsigned long long)stx.stx_size, stx.stx_mode);
	CHECK(close(fd));
	CHECK(close(fd));
	CHECK(rename("d/f", "d/g"));
	CHECK(access("d/f", F_OK));
	CHECK(access("d/g", R_OK | W_OK));
	CHECK(symlink("g", "d/link"));
	memset(buf, 0, sizeof buf);
	CHECK(readlink("d/link", buf, sizeof buf));
	printf("readlink: %s\n", buf);
	CHECK(lstat("d/link", &st));
	printf("link is symlink: %d\n", S_ISLNK(st.st_mode));
	CHECK(link("d/g", "d/hard"));
	CHECK(stat("d/g", &st));
	printf("nlink %ld\n", (long)st.st_nlink);
	CHECK(chmod("d/g", 0600));
	CHECK(stat("d/g", &st));
	printf("mode %o\n", st.st_mode & 07777);
	CHECK(chown("d/g", 1000, 1000));
	CHECK(stat("d/g", &st));
	printf("owner %d:%d\n", st.st_uid, st.st_gid);
	CHECK(truncate("d/g", 100));
	CHECK(stat("d/g", &st));
	printf("size %ld\n", (long)st.st_size);
	CHECK(utimensat(AT_FDCWD, "d/g", (struct timespec[]){{1000, 0}, {2000, 0}}, 0));
	CHECK(stat("d/g", &st));
	printf("times %ld %ld\n", (long)st.st_atime, (long)st.st_mtime);
	// Directory listing.
	for (int i = 0; i < 5; i++) {
		snprintf(buf, sizeof buf, "d/n%d", i);
		close(open(buf, O_CREAT | O_WRONLY, 0644));
	}
	DIR *dir = opendir("d");
	int n = 0;
	struct dirent *de;
	while ((de = readdir(dir)) != NULL) n++;
	closedir(dir);
	printf("entries %d\n", n);
	CHECK(getcwd(buf, sizeof buf) != NULL);
	printf("cwd %s\n", buf);
	CHECK(getcwd(buf, 2) != NULL);
	// dup and fcntl.
	fd = open("d/g", O_RDONLY | O_CLOEXEC);
	CHECK(fcntl(fd, F_GETFD));
	CHECK(fcntl(fd, F_SETFD, 0));
	CHECK(fcntl(fd, F_GETFD));
	CHECK(fcntl(fd, F_GETFL) & O_ACCMODE);
	CHECK(dup2(fd, 50));
	CHECK(dup3(fd, 51, O_CLOEXEC));
	CHECK(fcntl(51, F_GETFD));
	CHECK(fcntl(fd, F_DUPFD, 40));
	CHECK(dup3(fd, fd, 0));
	CHECK(close(50));
	CHECK(close(51));
	CHECK(write(fd, "x", 1));
	// Errors.
	CHECK(open("nonexistent", O_RDONLY));
	CHECK(open("d/g/x", O_RDONLY));
	CHECK(open("d", O_WRONLY));
	CHECK(open("d/g", O_CREAT | O_EXCL | O_WRONLY, 0644));
	CHECK(mkdir("d/g/x", 0755));
	CHECK(rmdir("d"));
	CHECK(unlink("d"));
	CHECK(rmdir("d/g"));
	CHECK(read(999, buf, 1));
	CHECK(lseek(fd, -1, SEEK_SET));
	CHECK(readlink("d/g", buf, sizeof buf));
	CHECK(chdir("d/g"));
	// Cleanup.
	CHECK(unlink("d/link"));
	CHECK(unlink("d/hard"));
	CHECK(unlink("d/g"));
	for (int i = 0; i < 5; i++) {
		snprintf(buf, sizeof buf, "d/n%d", i);
		unlink(buf);
	}
	CHECK(rmdir("d"));
	int p[2];
	CHECK(pipe2(p, O_NONBLOCK));
	CHECK(read(p[0], buf, 1));
	CHECK(write(p[1], "pipe", 4));
	CHECK(read(p[0], buf, 10));
	CHECK(close(p[1]));
	CHECK(read(p[0], buf, 10));
	// eventfd: counter, semaphore mode, poll readiness, bad flags.
	int e = eventfd(3, EFD_NONBLOCK | EFD_CLOEXEC);
	CHECK(e >= 0);
	CHECK(fcntl(e, F_GETFD));
	uint64_t v = 0;
	CHECK(read(e, &v, sizeof v));
	printf("eventfd value %llu\n", (unsigned long long)v);
	CHECK(read(e, &v, sizeof v));
	CHECK(read(e, &v, 4));
	v = 5;
	CHECK(write(e, &v, sizeof v));
	struct pollfd pfd = {.fd = e, .events = POLLIN | POLLOUT};
	CHECK(poll(&pfd, 1, 0));
	printf("eventfd revents %#x\n", pfd.revents);
	CHECK(close(e));
	e = eventfd(2, EFD_SEMAPHORE);
	CHECK(read(e, &v, sizeof v));
	printf("semaphore read %llu\n", (unsigned long long)v);
	CHECK(read(e, &v, sizeof v));
	CHECK(close(e));
	CHECK(syscall(SYS_eventfd2, 0, 0x4000));
	return 0;
}
