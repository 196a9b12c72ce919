package boot

import (
	"golang.org/x/sys/unix"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/seccomp"
)

// ConfineOptions tunes the Sentry's seccomp allow-list.
type ConfineOptions struct {
	// DefaultAction applies to system calls outside the list:
	// seccomp.KillProcess if zero. seccomp.Trap helps find a missing
	// call (the Go runtime reports the SIGSYS with a stack trace).
	DefaultAction seccomp.Action
	// Extra rules the host wiring needs (for example socket calls on the
	// Gofer connection).
	Extra []seccomp.Rule
}

// goThreadCloneFlags are the flags the Go runtime creates threads with
// (CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_SYSVSEM|CLONE_THREAD,
// plus CLONE_SETTLS for threads with an M).
const goThreadCloneFlags = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_SYSVSEM | unix.CLONE_THREAD

// pthreadCloneFlags are glibc's pthread_create flags, used when the binary
// links runtime/cgo (package net does, for its resolver, unless built with
// netgo or CGO_ENABLED=0): its threads then come from pthread_create,
// which tries clone3 first (refused with ENOSYS below, as its flags sit
// behind a pointer the filter cannot read) and falls back to clone.
const pthreadCloneFlags = goThreadCloneFlags | unix.CLONE_SETTLS | unix.CLONE_PARENT_SETTID | unix.CLONE_CHILD_CLEARTID

// SentryFilter returns the Sentry's seccomp allow-list: what the Go
// runtime and the Sentry call once started (measured by running the test
// workloads confined with seccomp.Trap), and nothing that reaches the
// host's file system, network or processes beyond the stubs: no open,
// socket, connect, bind, execve, mount, chroot; the only new threads are
// Go's own. Opening a file fails with EPERM rather than killing the
// Sentry, so a bug shows as an error.
//
// ptrace and kill cannot be limited to the stubs by argument; the Sentry
// runs in its own PID namespace (visor boot), where its stubs are the only
// other processes.
func SentryFilter(opts ConfineOptions) *seccomp.Filter {
	allow := []uintptr{
		// Memory and threads (Go runtime).
		unix.SYS_MMAP, unix.SYS_MUNMAP, unix.SYS_MADVISE, unix.SYS_MPROTECT, unix.SYS_MREMAP,
		unix.SYS_FUTEX, unix.SYS_NANOSLEEP, unix.SYS_CLOCK_NANOSLEEP, unix.SYS_SCHED_YIELD,
		unix.SYS_GETTID, unix.SYS_GETPID, unix.SYS_TGKILL, unix.SYS_KILL,
		unix.SYS_RT_SIGACTION, unix.SYS_RT_SIGPROCMASK, unix.SYS_RT_SIGRETURN, unix.SYS_SIGALTSTACK,
		unix.SYS_EXIT, unix.SYS_EXIT_GROUP, unix.SYS_RESTART_SYSCALL,
		unix.SYS_CLOCK_GETTIME, unix.SYS_GETTIMEOFDAY, unix.SYS_SCHED_GETAFFINITY,
		unix.SYS_EPOLL_CREATE1, unix.SYS_EPOLL_CTL, unix.SYS_EPOLL_PWAIT, unix.SYS_EPOLL_WAIT,
		unix.SYS_EVENTFD2, unix.SYS_PIPE2, unix.SYS_GETRANDOM,
		// Descriptors the Sentry already holds: stdio, the memory file,
		// the stub control socket, the Gofer connection.
		unix.SYS_READ, unix.SYS_WRITE, unix.SYS_READV, unix.SYS_WRITEV,
		unix.SYS_PREAD64, unix.SYS_PWRITE64, unix.SYS_PREADV, unix.SYS_PWRITEV,
		unix.SYS_CLOSE, unix.SYS_FCNTL, unix.SYS_FSTAT, unix.SYS_LSEEK,
		unix.SYS_POLL, unix.SYS_PPOLL, unix.SYS_FALLOCATE, unix.SYS_FTRUNCATE,
		unix.SYS_SENDMSG, unix.SYS_RECVMSG, unix.SYS_SHUTDOWN,
		// fsimpl/host on donated descriptors.
		unix.SYS_FSYNC, unix.SYS_FDATASYNC, unix.SYS_FCHMOD, unix.SYS_FCHOWN,
		// The stubs.
		unix.SYS_PTRACE, unix.SYS_WAIT4, unix.SYS_WAITID,
	}
	var rules []seccomp.Rule
	for _, nr := range allow {
		rules = append(rules, seccomp.Rule{Sysno: nr})
	}
	rules = append(rules,
		seccomp.Rule{Sysno: unix.SYS_CLONE, Args: [6]seccomp.ArgMatcher{seccomp.EqualTo(goThreadCloneFlags)}},
		seccomp.Rule{Sysno: unix.SYS_CLONE, Args: [6]seccomp.ArgMatcher{seccomp.EqualTo(goThreadCloneFlags | unix.CLONE_SETTLS)}},
		seccomp.Rule{Sysno: unix.SYS_CLONE, Args: [6]seccomp.ArgMatcher{seccomp.EqualTo(pthreadCloneFlags)}},
		seccomp.Rule{Sysno: unix.SYS_CLONE3, Action: seccomp.ReturnErrno(unix.ENOSYS)},
		// A new pthread registers restartable sequences and its robust
		// futex list (glibc aborts if rseq fails in a new thread after
		// it worked in the first).
		seccomp.Rule{Sysno: unix.SYS_RSEQ},
		seccomp.Rule{Sysno: unix.SYS_SET_ROBUST_LIST},
		// futimens of a donated descriptor: utimensat with a NULL path.
		seccomp.Rule{Sysno: unix.SYS_UTIMENSAT, Args: [6]seccomp.ArgMatcher{nil, seccomp.EqualTo(0)}},
	)
	// Terminal requests fsimpl/host passes to a host terminal given for
	// stdio (job control itself stays in the Sentry).
	for _, req := range []uintptr{unix.TCGETS, unix.TCSETS, unix.TCSETSW, unix.TCSETSF,
		unix.TIOCGWINSZ, unix.TIOCSWINSZ, unix.TIOCSCTTY, unix.TCFLSH, unix.TCSBRK, unix.TCXONC, abi.FIONREAD} {
		rules = append(rules, seccomp.Rule{Sysno: unix.SYS_IOCTL, Args: [6]seccomp.ArgMatcher{nil, seccomp.EqualTo(uint64(req))}})
	}
	for _, nr := range []uintptr{unix.SYS_OPEN, unix.SYS_OPENAT, unix.SYS_OPENAT2, unix.SYS_CREAT, unix.SYS_SOCKET} {
		rules = append(rules, seccomp.Rule{Sysno: nr, Action: seccomp.ReturnErrno(unix.EPERM)})
	}
	rules = append(rules, opts.Extra...)
	def := opts.DefaultAction
	if def == 0 {
		def = seccomp.KillProcess
	}
	return &seccomp.Filter{Rules: rules, DefaultAction: def}
}

// Confine installs the Sentry's seccomp filter on every thread of the
// process. Call it once the Sentry is built (after New): from then on the
// process cannot open host files, create sockets, execute programs or
// mount. It cannot be undone.
func (s *Sentry) Confine(opts ConfineOptions) error {
	return seccomp.Install(SentryFilter(opts))
}

// ControlRules are the extra allow-list entries for serving the control
// protocol (internal/sandbox/control) on the listening socket boot
// inherits: accepting connections on it and reading their addresses. No
// socket can be created or bound.
func ControlRules() []seccomp.Rule {
	return []seccomp.Rule{
		{Sysno: unix.SYS_ACCEPT4},
		{Sysno: unix.SYS_GETSOCKNAME},
		{Sysno: unix.SYS_GETPEERNAME},
	}
}
