// Tries to reach the host from inside the sandbox. Every attempt must
// fail (or act only on the sandbox's own objects).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define T(expr) do { errno = 0; long r_ = (long)(expr); printf("%-50s %ld %s\n", #expr, r_, errno ? strerrorname_np(errno) : "-"); } while (0)

int main(int argc, char **argv) {
	int hostpid = argc > 1 ? atoi(argv[1]) : 0;
	char buf[256] = {0};
	// Signals to PID 1 and to a host PID.
	T(kill(1, SIGKILL));
	T(kill(hostpid, SIGKILL));
	T(kill(-1, 0));
	// Raw and packet sockets, and any other socket.
	T(socket(AF_PACKET, SOCK_RAW, 0));
	T(socket(AF_INET, SOCK_RAW, 255));
	T(socket(AF_INET, SOCK_STREAM, 0));
	T(socket(AF_UNIX, SOCK_STREAM, 0));
	// ptrace.
	T(ptrace(PTRACE_ATTACH, 1, 0, 0));
	T(ptrace(PTRACE_TRACEME, 0, 0, 0));
	// Path escapes: .., symlinks, /proc/*/root.
	int fd = open("/../../../../etc/hostname", O_RDONLY);
	read(fd, buf, sizeof buf - 1);
	printf("via ..: %s", buf);
	close(fd);
	symlink("../../../../../../../etc/hostname", "/tmp/rel");
	symlink("/etc/hostname", "/tmp/abs");
	memset(buf, 0, sizeof buf);
	fd = open("/tmp/rel", O_RDONLY);
	read(fd, buf, sizeof buf - 1);
	printf("via relative symlink: %s", buf);
	close(fd);
	memset(buf, 0, sizeof buf);
	fd = open("/proc/self/root/../../../etc/hostname", O_RDONLY);
	read(fd, buf, sizeof buf - 1);
	printf("via /proc/self/root: %s", buf);
	close(fd);
	memset(buf, 0, sizeof buf);
	fd = open("/proc/1/root/../../etc/hostname", O_RDONLY);
	T(fd >= 0 || errno == ENOENT);
	close(fd);
	T(chroot("/tmp"));
	memset(buf, 0, sizeof buf);
	fd = open("/../../etc/hostname", O_RDONLY);
	printf("after chroot, escape by ..: %d %s\n", fd, fd < 0 ? strerrorname_np(errno) : "opened");
	T(chdir("/"));
	// Mounts stay inside the sandbox.
	T(mount("none", "/", "tmpfs", 0, NULL));
	T(mount("/dev/sda", "/", "ext4", 0, NULL));
	printf("done\n");
	return 0;
}
