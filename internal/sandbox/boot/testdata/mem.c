// Exercises mmap, mprotect, mremap, madvise, brk, file mappings and
// faults (SIGSEGV handled with siglongjmp).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static sigjmp_buf env;
static volatile void *fault_addr;
static void on_segv(int sig, siginfo_t *si, void *uc) {
	fault_addr = si->si_addr;
	siglongjmp(env, si->si_code);
}

static int try_write(volatile char *p) {
	int code = sigsetjmp(env, 1);
	if (code == 0) {
		*p = 1;
		return 0;
	}
	return code;
}

int main(void) {
	struct sigaction sa = {0};
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &sa, NULL);

	size_t len = 16 * 4096;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	printf("mmap ok %d\n", p != MAP_FAILED);
	for (size_t i = 0; i < len; i++) p[i] = (char)i;
	long sum = 0;
	for (size_t i = 0; i < len; i++) sum += (unsigned char)p[i];
	printf("sum %ld\n", sum);
	printf("mprotect %d\n", mprotect(p, 4096, PROT_READ));
	int code = try_write(p);
	printf("write to read-only: code %d (SEGV_ACCERR=%d) addr ok %d\n", code, SEGV_ACCERR, fault_addr == p);
	printf("write to rw page: %d\n", try_write(p + 4096));
	printf("munmap %d\n", munmap(p + 8 * 4096, 4096));
	code = try_write(p + 8 * 4096);
	printf("write to unmapped: code %d (SEGV_MAPERR=%d)\n", code, SEGV_MAPERR);
	printf("mprotect hole %d %s\n", mprotect(p, len, PROT_READ), strerrorname_np(errno));

	char *q = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	strcpy(q + 4096, "survives mremap");
	char *r = mremap(q, 2 * 4096, 64 * 4096, MREMAP_MAYMOVE);
	printf("mremap ok %d: %s\n", r != MAP_FAILED, r + 4096);
	r[63 * 4096] = 'x';
	printf("grown tail %c\n", r[63 * 4096]);
	memset(r, 'z', 4096);
	printf("madvise %d\n", madvise(r, 4096, MADV_DONTNEED));
	printf("after DONTNEED %d\n", r[0]);

	void *b0 = sbrk(0);
	void *b1 = sbrk(1 << 20);
	memset(b1, 7, 1 << 20);
	printf("sbrk grew %d\n", (char *)sbrk(0) - (char *)b0 == (1 << 20));
	void *big = malloc(50 << 20);
	memset(big, 1, 50 << 20);
	free(big);
	printf("malloc 50M ok\n");

	// Shared anonymous memory seen by a child.
	int *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int *priv = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	*shared = 1;
	*priv = 1;
	pid_t pid = fork();
	if (pid == 0) {
		*shared = 42;
		*priv = 42;
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	printf("after child: shared %d private %d\n", *shared, *priv);

	// File mappings.
	int fd = open("/tmp/mapped", O_RDWR | O_CREAT | O_TRUNC, 0644);
	ftruncate(fd, 8192);
	char *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	strcpy(m, "written through the mapping");
	char buf[64] = {0};
	pread(fd, buf, 27, 0);
	printf("file sees: %s\n", buf);
	pwrite(fd, "WRITTEN", 7, 0);
	printf("mapping sees: %.27s\n", m);
	char *pm = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	pm[0] = 'p';
	printf("private copy %c, shared %c\n", pm[0], m[0]);
	munmap(m, 8192);
	munmap(pm, 8192);
	close(fd);
	unlink("/tmp/mapped");
	printf("bad mmap: %s\n", mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED ? strerrorname_np(errno) : "ok");
	printf("bad fd mmap: %s\n", mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, 999, 0) == MAP_FAILED ? strerrorname_np(errno) : "ok");
	return 0;
}
