// Package kernel is the Sentry's process model: tasks (one goroutine each,
// locked to its OS thread while it runs application code through a
// platform.Context), thread groups (processes), the PID namespace, the
// process tree with sessions and process groups, credentials, signals
// (pending sets, masks, handlers, real signal frames, job control), clone,
// execve, exit and wait, futexes, timers and clocks, rlimits, and the
// per-process resources system calls work on (FD table, file system
// context, address space).
//
// System calls themselves live in syscalls/linux, which the kernel calls
// through the SyscallTable interface; boot wires the two together.
//
// kernel imports abi, memmap, platform, mm, loader and vfs (and fsimpl for
// pipes); /proc, the system call table and boot import it.
//
// # Lock order
//
//	Task goroutine state (regs, restart state): owned by the task's
//	goroutine, no lock.
//	Kernel.mu (the process tree, PIDs, sessions and process groups, every
//	  signal queue, mask, handler table and stop/exit state)
//	  FDTable.mu, FSContext.mu
//	    vfs and mm locks (never taken under Kernel.mu by blocking paths)
//	futexManager.mu
//	  mm locks (futex values are read under it)
//
// Nothing blocks while holding Kernel.mu: waiters register a channel under
// it, drop it and block in Task.Block, which signals interrupt.
package kernel

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/mm/pgalloc"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/platform"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

// Kernel identity: what uname(2) and /proc/version report. Never the
// host's.
const (
	Sysname = "Linux"
	Release = "5.15.0-visor"
	Version = "#1 SMP PREEMPT_DYNAMIC visor"
	Machine = "x86_64"
)

// ProcVersion is the text of /proc/version.
const ProcVersion = "Linux version " + Release + " (visor@podvisor) (gcc version 12.2.0) " + Version + "\n"

// SyscallTable runs system calls; syscalls/linux implements it.
type SyscallTable interface {
	// Call runs system call sysno for t with args and returns the value
	// for rax, or an abi.Errno (restart codes included). Handlers that
	// set all registers themselves (rt_sigreturn, a successful execve)
	// call t.SkipSyscallReturn.
	Call(t *Task, sysno uintptr, args *[6]uint64) (uint64, error)
}

// Config holds the kernel's settings.
type Config struct {
	// Hostname and Domainname are the UTS names.
	Hostname, Domainname string
	// TotalMemory is the memory sysinfo and /proc/meminfo report.
	TotalMemory uint64
	// NumCPU is the CPU count reported to the application.
	NumCPU int
	// Logger receives lifecycle messages; nothing is logged per system
	// call.
	Logger *slog.Logger
}

// Deps are the kernel's collaborators.
type Deps struct {
	Platform   platform.Platform
	MemoryFile *pgalloc.MemoryFile
	VFS        *vfs.VirtualFilesystem
	Syscalls   SyscallTable
	// Random feeds getrandom, AT_RANDOM and /dev/urandom; crypto/rand if
	// nil.
	Random io.Reader
}

// Kernel is one Sentry's kernel state.
type Kernel struct {
	cfg      Config
	log      *slog.Logger
	platform platform.Platform
	mf       *pgalloc.MemoryFile
	vfs      *vfs.VirtualFilesystem
	syscalls SyscallTable
	random   io.Reader
	cpu      cpuInfo

	// bootTime is when the kernel started: CLOCK_MONOTONIC counts from
	// it, so the host's uptime is never shown.
	bootTime time.Time
	// initFP is a clean floating-point state, for execve.
	initFP []byte

	futexes futexManager

	mu sync.Mutex
	// nextPID is the next PID to try.
	nextPID int32 // +checklocks:mu
	// tasks maps thread IDs to tasks; tgs maps process IDs.
	tasks map[int32]*Task        // +checklocks:mu
	tgs   map[int32]*ThreadGroup // +checklocks:mu
	// pgrps and sessions by ID.
	pgrps    map[int32]*ProcessGroup // +checklocks:mu
	sessions map[int32]*Session      // +checklocks:mu
	// ttys maps a terminal to the session it controls.
	ttys map[*vfs.TTY]*Session // +checklocks:mu
	// init is PID 1, the container's first process.
	init *ThreadGroup // +checklocks:mu
	// hostname and domainname may be changed by sethostname.
	hostname, domainname string // +checklocks:mu
	// stopCond is signalled when stop or exit state changes.
	stopCond *sync.Cond

	// running counts task goroutines; Wait waits for them.
	running sync.WaitGroup
}

// New creates a kernel.
func New(cfg Config, deps Deps) (*Kernel, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.NumCPU <= 0 {
		cfg.NumCPU = runtime.NumCPU()
	}
	if cfg.TotalMemory == 0 {
		cfg.TotalMemory = deps.MemoryFile.TotalBytes()
	}
	if cfg.Hostname == "" {
		cfg.Hostname = "localhost"
	}
	if cfg.Domainname == "" {
		cfg.Domainname = "(none)"
	}
	r := deps.Random
	if r == nil {
		r = rand.Reader
	}
	k := &Kernel{
		cfg:        cfg,
		log:        log,
		platform:   deps.Platform,
		mf:         deps.MemoryFile,
		vfs:        deps.VFS,
		syscalls:   deps.Syscalls,
		random:     r,
		cpu:        readCPUInfo(),
		bootTime:   time.Now(),
		nextPID:    1,
		tasks:      make(map[int32]*Task),
		tgs:        make(map[int32]*ThreadGroup),
		pgrps:      make(map[int32]*ProcessGroup),
		sessions:   make(map[int32]*Session),
		ttys:       make(map[*vfs.TTY]*Session),
		hostname:   cfg.Hostname,
		domainname: cfg.Domainname,
	}
	k.stopCond = sync.NewCond(&k.mu)
	k.futexes.init()
	fp, err := cleanFPState(deps.Platform)
	if err != nil {
		return nil, err
	}
	k.initFP = fp
	return k, nil
}

// cleanFPState returns the floating-point state a fresh context starts with.
func cleanFPState(p platform.Platform) ([]byte, error) {
	var fp []byte
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		c := p.NewContext()
		defer c.Release()
		fp, err = c.FPState()
	}()
	<-done
	if err != nil {
		return nil, fmt.Errorf("reading the initial floating-point state: %w", err)
	}
	return fp, nil
}

// VFS returns the kernel's virtual file system.
func (k *Kernel) VFS() *vfs.VirtualFilesystem { return k.vfs }

// MemoryFile returns the memory file.
func (k *Kernel) MemoryFile() *pgalloc.MemoryFile { return k.mf }

// Platform returns the platform.
func (k *Kernel) Platform() platform.Platform { return k.platform }

// Logger returns the kernel's logger.
func (k *Kernel) Logger() *slog.Logger { return k.log }

// Config returns the kernel's configuration.
func (k *Kernel) Config() Config { return k.cfg }

// Random returns the kernel's source of random bytes.
func (k *Kernel) Random() io.Reader { return k.random }

// Monotonic returns CLOCK_MONOTONIC: the time since the kernel started.
func (k *Kernel) Monotonic() time.Duration { return time.Since(k.bootTime) }

// BootTime returns the wall-clock time the kernel started.
func (k *Kernel) BootTime() time.Time { return k.bootTime }

// UTSNames returns the hostname and domain name.
func (k *Kernel) UTSNames() (hostname, domainname string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.hostname, k.domainname
}

// SetHostname sets the hostname (sethostname).
func (k *Kernel) SetHostname(name string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.hostname = name
}

// SetDomainname sets the NIS domain name (setdomainname).
func (k *Kernel) SetDomainname(name string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.domainname = name
}

// allocPIDLocked returns an unused PID.
//
// Preconditions: k.mu is held.
func (k *Kernel) allocPIDLocked() (int32, error) {
	const maxPID = 1 << 22
	for i := 0; i < maxPID; i++ {
		pid := k.nextPID
		k.nextPID++
		if k.nextPID >= maxPID {
			k.nextPID = 2
		}
		if _, used := k.tasks[pid]; used {
			continue
		}
		if _, used := k.tgs[pid]; used {
			continue
		}
		if _, used := k.pgrps[pid]; used {
			continue
		}
		if _, used := k.sessions[pid]; used {
			continue
		}
		return pid, nil
	}
	return 0, abi.EAGAIN
}

// TaskWithID returns the task with thread ID tid, or nil.
func (k *Kernel) TaskWithID(tid int32) *Task {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.tasks[tid]
}

// ThreadGroupWithID returns the process with ID pid, or nil (zombies
// included).
func (k *Kernel) ThreadGroupWithID(pid int32) *ThreadGroup {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.tgs[pid]
}

// ThreadGroups returns every process, in PID order.
func (k *Kernel) ThreadGroups() []*ThreadGroup {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]*ThreadGroup, 0, len(k.tgs))
	for _, tg := range k.tgs {
		out = append(out, tg)
	}
	sortTGs(out)
	return out
}

// NumTasks returns the number of live tasks.
func (k *Kernel) NumTasks() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.tasks)
}

// Wait waits until every task goroutine has exited.
func (k *Kernel) Wait() { k.running.Wait() }

// KillAll kills every process (the sandbox is shutting down) and waits for
// the tasks to exit.
func (k *Kernel) KillAll() {
	k.mu.Lock()
	for _, tg := range k.tgs {
		k.killGroupLocked(tg, abi.SIGKILL)
	}
	k.mu.Unlock()
	k.running.Wait()
}

// background is the context for kernel work not done on behalf of a task.
func background() context.Context { return context.Background() }
