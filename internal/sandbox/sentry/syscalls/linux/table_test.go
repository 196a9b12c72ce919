package linux

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/podvisor/podvisor/internal/sandbox/abi"
)

// TestENOSYSCounting checks that unimplemented calls are answered by the
// one helper and counted by number, most frequent first.
func TestENOSYSCounting(t *testing.T) {
	tb := New(Config{}, Deps{})
	for _, nr := range []uintptr{abi.SYS_IO_URING_SETUP, abi.SYS_IO_URING_SETUP, abi.SYS_BPF, 9999} {
		if tb.Implemented(nr) {
			t.Fatalf("%s is implemented; pick another", abi.SyscallName(nr))
		}
		if _, err := tb.Call(nil, nr, &[6]uint64{}); err != abi.ENOSYS {
			t.Fatalf("Call(%d) = %v, want ENOSYS", nr, err)
		}
	}
	want := []ENOSYSCount{
		{Sysno: abi.SYS_IO_URING_SETUP, Name: "io_uring_setup", Count: 2},
		{Sysno: abi.SYS_BPF, Name: "bpf", Count: 1},
		{Sysno: abi.SyscallCount, Name: "(unknown number)", Count: 1},
	}
	if diff := cmp.Diff(want, tb.ENOSYSCounts()); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	if tb.Calls() != 4 {
		t.Errorf("Calls() = %d, want 4", tb.Calls())
	}
}

// TestTableCoversTheIssue checks that every call the issue lists has a
// handler.
func TestTableCoversTheIssue(t *testing.T) {
	tb := New(Config{}, Deps{})
	for _, name := range []string{
		"fork", "vfork", "clone", "clone3", "execve", "exit", "exit_group", "wait4", "waitid",
		"getpid", "getppid", "gettid", "setpgid", "getpgid", "setsid", "getsid", "kill", "tgkill",
		"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack",
		"brk", "mmap", "munmap", "mprotect", "mremap", "madvise",
		"openat", "read", "write", "pread64", "pwrite64", "readv", "writev", "lseek", "close",
		"dup", "dup2", "dup3", "fcntl", "ioctl", "fstat", "newfstatat", "statx", "getdents64",
		"mkdir", "unlink", "rename", "symlink", "readlink", "chmod", "chown", "utimensat",
		"truncate", "access", "chdir", "getcwd", "umask", "pipe", "pipe2", "poll", "select",
		"nanosleep", "clock_gettime", "gettimeofday", "time", "uname", "getrlimit", "prlimit64",
		"sysinfo", "getrandom", "getuid", "geteuid", "getgid", "getegid", "setuid", "setgid",
		"arch_prctl", "set_tid_address", "futex",
	} {
		found := false
		for nr := uintptr(0); nr < abi.SyscallCount; nr++ {
			if abi.SyscallName(nr) == name {
				found = true
				if !tb.Implemented(nr) {
					t.Errorf("%s has no handler", name)
				}
			}
		}
		if !found {
			t.Errorf("unknown system call %s", name)
		}
	}
}
