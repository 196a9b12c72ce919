package gofer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/podvisor/podvisor/internal/sandbox/seccomp"
)

// ConfineOptions choose the confinement steps of Confine; all are on
// unless skipped.
type ConfineOptions struct {
	// Root is the directory the mount namespace is pivoted into: the
	// container's root file system.
	Root string
	// ReadOnlyRoot remounts Root read-only in the Gofer's namespace.
	ReadOnlyRoot bool
	// SkipCapabilities keeps the process's capabilities.
	SkipCapabilities bool
	// SkipSeccomp does not install the seccomp allow-list.
	SkipSeccomp bool
}

// Confine confines the Gofer after Open: ConfineMountNamespace(Root),
// DropCapabilities, then the seccomp allow-list of SeccompFilter.
// Preconditions: the process was started in a new mount namespace, as
// root; the directories to serve are open.
func (g *Gofer) Confine(opts ConfineOptions) error {
	if err := ConfineMountNamespace(opts.Root, opts.ReadOnlyRoot); err != nil {
		return err
	}
	if !opts.SkipCapabilities {
		if err := DropCapabilities(); err != nil {
			return err
		}
	}
	if !opts.SkipSeccomp {
		if err := seccomp.Install(SeccompFilter()); err != nil {
			return fmt.Errorf("installing the gofer's seccomp filter: %w", err)
		}
	}
	g.logger.Info("gofer confined", "root", opts.Root)
	return nil
}

// ErrHostMountNamespace is returned by ConfineMountNamespace when the
// process shares the mount namespace of PID 1: pivoting it would change
// the host's root.
var ErrHostMountNamespace = errors.New("the gofer is in the host's mount namespace; start it with CLONE_NEWNS")

// ConfineMountNamespace makes root the root of the calling process's mount
// namespace: mount events stop propagating to the host, root is bind
// mounted on itself (read-only if asked), pivot_root moves the namespace
// into it and the old root is detached. Descriptors opened before stay
// usable.
func ConfineMountNamespace(root string, readOnly bool) error {
	self, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		return fmt.Errorf("reading the gofer's mount namespace: %w", err)
	}
	init, err := os.Readlink("/proc/1/ns/mnt")
	if err == nil && init == self {
		return ErrHostMountNamespace
	}
	if err := unix.Mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("making the gofer's mounts private: %w", err)
	}
	// The tree is bind mounted on itself, so that the walk into it
	// crosses the new mount. The host's own root cannot be entered that
	// way (a walk to "/" stays on the process's root mount), so `visor
	// do`'s root goes on /tmp instead, in this private namespace only.
	target := root
	if filepath.Clean(root) == "/" {
		target = "/tmp"
	}
	if err := unix.Mount(root, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind mounting %s: %w", root, err)
	}
	if readOnly {
		if err := unix.Mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("remounting %s read-only: %w", root, err)
		}
	}
	if err := unix.Chdir(target); err != nil {
		return fmt.Errorf("entering %s: %w", root, err)
	}
	// pivot_root(".", ".") stacks the old root under the new one; the
	// detach below removes it.
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivoting into %s: %w", root, err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detaching the old root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("entering the new root: %w", err)
	}
	return nil
}

// keptCapabilities are what serving files for any owner needs.
const keptCapabilities = 1<<unix.CAP_CHOWN | 1<<unix.CAP_DAC_OVERRIDE | 1<<unix.CAP_DAC_READ_SEARCH |
	1<<unix.CAP_FOWNER | 1<<unix.CAP_FSETID

// SeccompFilter returns the Gofer's allow-list: the file system calls it
// makes on descriptors, the socket calls on its existing connections,
// and what the Go runtime needs. Everything else fails with EPERM:
// socket, socketpair, connect, bind, execve, ptrace, mount, clone
// without CLONE_THREAD (fork), mmap with PROT_EXEC.
func SeccompFilter() *seccomp.Filter {
	f := &seccomp.Filter{DefaultAction: seccomp.ReturnErrno(unix.EPERM)}
	allow := func(nrs ...uintptr) {
		for _, nr := range nrs {
			f.Rules = append(f.Rules, seccomp.Rule{Sysno: nr})
		}
	}
	// Files, through descriptors.
	allow(unix.SYS_OPENAT, unix.SYS_OPENAT2, unix.SYS_CLOSE, unix.SYS_READ, unix.SYS_WRITE,
		unix.SYS_PREAD64, unix.SYS_PWRITE64, unix.SYS_LSEEK, unix.SYS_FSTAT, unix.SYS_NEWFSTATAT,
		unix.SYS_STATX, unix.SYS_FSTATFS, unix.SYS_GETDENTS64, unix.SYS_MKDIRAT, unix.SYS_MKNODAT,
		unix.SYS_SYMLINKAT, unix.SYS_LINKAT, unix.SYS_UNLINKAT, unix.SYS_RENAMEAT, unix.SYS_RENAMEAT2,
		unix.SYS_READLINKAT, unix.SYS_FCHOWNAT, unix.SYS_FCHOWN, unix.SYS_FCHMODAT, unix.SYS_FCHMOD,
		unix.SYS_UTIMENSAT, unix.SYS_FTRUNCATE, unix.SYS_FSYNC, unix.SYS_FDATASYNC, unix.SYS_FCNTL,
		unix.SYS_DUP, unix.SYS_DUP3, unix.SYS_UMASK)
	// The connections it already has.
	allow(unix.SYS_SENDMSG, unix.SYS_RECVMSG, unix.SYS_SHUTDOWN, unix.SYS_GETSOCKOPT,
		unix.SYS_GETSOCKNAME, unix.SYS_GETPEERNAME)
	// The Go runtime.
	allow(unix.SYS_FUTEX, unix.SYS_MUNMAP, unix.SYS_MADVISE, unix.SYS_RT_SIGACTION,
		unix.SYS_RT_SIGPROCMASK, unix.SYS_RT_SIGRETURN, unix.SYS_SIGALTSTACK, unix.SYS_SCHED_YIELD,
		unix.SYS_NANOSLEEP, unix.SYS_CLOCK_GETTIME, unix.SYS_CLOCK_NANOSLEEP, unix.SYS_GETTID,
		unix.SYS_GETPID, unix.SYS_TGKILL, unix.SYS_EXIT, unix.SYS_EXIT_GROUP, unix.SYS_EPOLL_CREATE1,
		unix.SYS_EPOLL_CTL, unix.SYS_EPOLL_PWAIT, unix.SYS_EPOLL_WAIT, unix.SYS_EVENTFD2, unix.SYS_PIPE2,
		unix.SYS_GETRANDOM, unix.SYS_SCHED_GETAFFINITY, unix.SYS_GETRLIMIT, unix.SYS_PRLIMIT64,
		unix.SYS_SETITIMER, unix.SYS_TIMER_CREATE, unix.SYS_TIMER_SETTIME, unix.SYS_TIMER_DELETE,
		unix.SYS_MINCORE, unix.SYS_GETPPID, unix.SYS_CAPGET)
	noExec := [6]seccomp.ArgMatcher{2: seccomp.MaskedEqual(unix.PROT_EXEC, 0)}
	f.Rules = append(f.Rules,
		seccomp.Rule{Sysno: unix.SYS_MMAP, Args: noExec},
		seccomp.Rule{Sysno: unix.SYS_MPROTECT, Args: noExec},
		// Threads, not processes.
		seccomp.Rule{Sysno: unix.SYS_CLONE, Args: [6]seccomp.ArgMatcher{seccomp.MaskedEqual(unix.CLONE_THREAD, unix.CLONE_THREAD)}},
		// Make the runtime fall back to clone, whose flags are checked.
		seccomp.Rule{Sysno: unix.SYS_CLONE3, Action: seccomp.ReturnErrno(unix.ENOSYS)},
	)
	return f
}
