package ptrace

import (
	"golang.org/x/sys/unix"

	"github.com/podvisor/podvisor/internal/sandbox/seccomp"
)

// The stub seccomp filter is the second wall around application code. Stub
// threads run application code only under PTRACE_SYSEMU, so the host never
// executes an application's system call and the filter never sees one
// (since Linux 4.8 seccomp runs after the ptrace hook). It sees only what
// stubs themselves execute: the master's request loop, a new stub's
// start-up, the park loop, and calls the Sentry injects (memory-file
// mappings, thread creation and exit). Everything else kills the stub
// process.

// stubFilter returns the stub allow-list for the memory file memFD and
// the control socket ctlFD.
func stubFilter(memFD, ctlFD int) *seccomp.Filter {
	eq := func(v uint64) seccomp.ArgMatcher { return seccomp.EqualTo(v) }
	fd := func(n int) [6]seccomp.ArgMatcher { return [6]seccomp.ArgMatcher{eq(uint64(n))} }
	return &seccomp.Filter{
		Rules: []seccomp.Rule{
			// The master's request loop and a new stub's start-up.
			{Sysno: unix.SYS_READ, Args: fd(ctlFD)},
			{Sysno: unix.SYS_WRITE, Args: fd(ctlFD)},
			{Sysno: unix.SYS_CLOSE, Args: fd(ctlFD)},
			{Sysno: unix.SYS_CLONE, Args: [6]seccomp.ArgMatcher{eq(uint64(unix.SIGCHLD))}},
			{Sysno: unix.SYS_CLONE, Args: [6]seccomp.ArgMatcher{eq(stubThreadCloneFlags)}},
			{Sysno: unix.SYS_PRCTL, Args: [6]seccomp.ArgMatcher{eq(unix.PR_SET_PDEATHSIG), eq(uint64(unix.SIGKILL))}},
			{Sysno: unix.SYS_GETPID},
			{Sysno: unix.SYS_GETPPID},
			{Sysno: unix.SYS_EXIT_GROUP},
			// Parked threads.
			{Sysno: unix.SYS_PAUSE},
			// Injected by the Sentry: memory-file mappings, thread exit.
			{Sysno: unix.SYS_MMAP, Args: [6]seccomp.ArgMatcher{nil, nil, nil, nil, eq(uint64(memFD))}},
			{Sysno: unix.SYS_MUNMAP},
			{Sysno: unix.SYS_MPROTECT},
			{Sysno: unix.SYS_EXIT},
		},
		DefaultAction: seccomp.KillProcess,
	}
}

// sockFilter is struct sock_filter, as the stub data page holds it.
type sockFilter = unix.SockFilter
