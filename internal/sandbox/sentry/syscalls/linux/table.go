// Package linux is the Sentry's amd64 Linux system call table: one handler
// per call, grouped by family in sys_<family>.go. An unimplemented call
// returns ENOSYS through one helper that counts it per system call number
// (ENOSYSCounts, for `visor events`). A flag-gated strace mode logs every
// call; off, the hot path logs nothing.
//
// Handlers validate every argument: a garbage pointer is EFAULT, a bad
// flag EINVAL, a bad descriptor EBADF; nothing an application passes can
// panic the Sentry (boot's integration test TestFuzzSyscalls makes
// thousands of calls with random numbers and garbage arguments from inside
// a sandbox).
//
// Partial support is noted on the table entries in table_amd64.go. It
// imports the kernel, vfs, mm and fsimpl; boot imports it.
package linux

import (
	"log/slog"
	"sort"
	"sync/atomic"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/fsimpl/tmpfs"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/kernel"
)

// handler runs one system call.
type handler func(t *kernel.Task, a *[6]uint64) (uint64, error)

// Config configures the table.
type Config struct {
	// Strace logs every system call and its result at Debug level.
	Strace bool
	// Logger receives strace output.
	Logger *slog.Logger
}

// Deps are the table's collaborators.
type Deps struct {
	// Memfds backs memfd_create.
	Memfds *tmpfs.MemfdFS
}

// Table is the amd64 system call table.
type Table struct {
	handlers [abi.SyscallCount]handler
	// enosys counts calls to unimplemented system calls by number; the
	// last slot counts numbers beyond the table.
	enosys [abi.SyscallCount + 1]atomic.Uint64
	// calls counts every system call handled.
	calls  atomic.Uint64
	strace bool
	log    *slog.Logger
	memfds *tmpfs.MemfdFS
}

var _ kernel.SyscallTable = (*Table)(nil)

// New returns the table.
func New(cfg Config, deps Deps) *Table {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tb := &Table{strace: cfg.Strace, log: log, memfds: deps.Memfds}
	tb.register()
	return tb
}

// Call implements kernel.SyscallTable.Call.
func (tb *Table) Call(t *kernel.Task, sysno uintptr, args *[6]uint64) (uint64, error) {
	tb.calls.Add(1)
	if sysno >= abi.SyscallCount || tb.handlers[sysno] == nil {
		return tb.notImplemented(sysno)
	}
	if !tb.strace {
		return tb.handlers[sysno](t, args)
	}
	tb.log.Debug("syscall", "tid", t.ThreadID(), "sysno", abi.SyscallName(sysno), "args", args[:])
	rv, err := tb.handlers[sysno](t, args)
	if err != nil {
		tb.log.Debug("syscall error", "tid", t.ThreadID(), "sysno", abi.SyscallName(sysno), "err", err)
	} else {
		tb.log.Debug("syscall return", "tid", t.ThreadID(), "sysno", abi.SyscallName(sysno), "ret", rv)
	}
	return rv, err
}

// notImplemented is the one place an unimplemented call is answered: it
// counts it and returns ENOSYS.
func (tb *Table) notImplemented(sysno uintptr) (uint64, error) {
	if sysno >= abi.SyscallCount {
		tb.enosys[abi.SyscallCount].Add(1)
	} else {
		tb.enosys[sysno].Add(1)
	}
	return 0, abi.ENOSYS
}

// ENOSYSCount is how often the application called one unimplemented
// system call.
type ENOSYSCount struct {
	Sysno uintptr
	Name  string
	Count uint64
}

// ENOSYSCounts returns the unimplemented calls made so far, most frequent
// first.
func (tb *Table) ENOSYSCounts() []ENOSYSCount {
	var out []ENOSYSCount
	for i := range tb.enosys {
		n := tb.enosys[i].Load()
		if n == 0 {
			continue
		}
		name := abi.SyscallName(uintptr(i))
		if i == abi.SyscallCount {
			name = "(unknown number)"
		} else if name == "" {
			name = "syscall_" + itoa(i)
		}
		out = append(out, ENOSYSCount{Sysno: uintptr(i), Name: name, Count: n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Sysno < out[j].Sysno
	})
	return out
}

// Calls returns how many system calls the table has handled.
func (tb *Table) Calls() uint64 { return tb.calls.Load() }

// Implemented reports whether sysno has a handler.
func (tb *Table) Implemented(sysno uintptr) bool {
	return sysno < abi.SyscallCount && tb.handlers[sysno] != nil
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
