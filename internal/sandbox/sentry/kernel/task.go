package kernel

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/mm"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/platform"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

// Task is one thread of application code. Its goroutine (run) owns its
// registers and execution state; other goroutines reach it through the
// kernel's locked state and Interrupt.
//
// A Task is the context.Context of the system calls it makes: it is a
// vfs.Blocker (signals interrupt blocking file operations) and a
// vfs.TaskTTY (terminal job control).
type Task struct {
	k   *Kernel
	tid int32
	tg  *ThreadGroup

	// Owned by the task goroutine.
	regs      abi.PtraceRegs
	ctx       platform.Context
	trap      platform.Trap
	initialFP []byte
	// skipReturn is set by handlers that set every register themselves.
	skipReturn bool
	// restartErrno is the restart code the last system call returned,
	// resolved when signals are handled.
	restartErrno abi.Errno
	// restartBlock re-runs an interrupted nanosleep (restart_syscall).
	restartBlock func(t *Task) (uint64, error)
	// savedMask is restored after a signal handler started by
	// rt_sigsuspend/ppoll/pselect returns (via the frame's mask).
	savedMask    abi.SignalSet
	hasSavedMask bool
	// utime and stime accumulate in the task goroutine; read atomically.
	utimeNS, stimeNS atomic.Int64

	// Shared resources: changed only by the task itself (execve, unshare,
	// setns), read by others under mu.
	mu      sync.Mutex
	mm      *mm.MemoryManager // +checklocks:mu
	fdTable *FDTable          // +checklocks:mu
	fs      *FSContext        // +checklocks:mu
	name    string            // +checklocks:mu

	creds atomic.Pointer[Credentials]

	// Guarded by k.mu.
	sigMask      abi.SignalSet
	pending      sigPending
	altStack     abi.SignalStack
	exiting      bool
	exitCode     int
	stopped      bool
	vforkDone    chan struct{}
	clearTID     uint64
	robustList   uint64
	pdeathSignal abi.Signal
	// sigWaitSet holds the signals rt_sigtimedwait waits for: they wake
	// the task even while blocked.
	sigWaitSet abi.SignalSet
	noNewPrivs bool
	// zombieLeader is set when the leader exited before other threads:
	// its TID stays allocated until the group ends.
	zombieLeader bool

	// sigCheck asks the task goroutine to look at signals, stops and
	// exit before it next runs application code.
	sigCheck atomic.Bool
	// interruptCh wakes a task blocked in Block.
	interruptCh chan struct{}
	// done is closed when the task is killed (context.Context.Done).
	done     chan struct{}
	doneOnce sync.Once
}

var (
	_ context.Context = (*Task)(nil)
	_ vfs.Blocker     = (*Task)(nil)
	_ vfs.TaskTTY     = (*Task)(nil)
)

// Kernel returns the task's kernel.
func (t *Task) Kernel() *Kernel { return t.k }

// ThreadID returns the task's thread ID.
func (t *Task) ThreadID() int32 { return t.tid }

// ThreadGroup returns the task's process.
func (t *Task) ThreadGroup() *ThreadGroup { return t.tg }

// Regs returns the task's registers. Only the task goroutine (system call
// handlers) may use it.
func (t *Task) Regs() *abi.PtraceRegs { return &t.regs }

// SkipSyscallReturn tells the dispatcher not to store the system call's
// result in rax: the handler set every register.
func (t *Task) SkipSyscallReturn() { t.skipReturn = true }

// MemoryManager returns the task's address space.
func (t *Task) MemoryManager() *mm.MemoryManager {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.mm
}

// FDTable returns the task's file descriptor table.
func (t *Task) FDTable() *FDTable {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.fdTable
}

// FSContext returns the task's root, working directory and umask.
func (t *Task) FSContext() *FSContext {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.fs
}

// Name returns the task's name (comm).
func (t *Task) Name() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.name
}

// SetName sets the task's name, truncated to 15 bytes (PR_SET_NAME).
func (t *Task) SetName(name string) {
	if len(name) > abi.TASK_COMM_LEN-1 {
		name = name[:abi.TASK_COMM_LEN-1]
	}
	t.mu.Lock()
	t.name = name
	t.mu.Unlock()
}

// Credentials returns the task's credentials (immutable; replaced on
// change).
func (t *Task) Credentials() *Credentials { return t.creds.Load() }

// SetCredentials replaces the task's credentials.
func (t *Task) SetCredentials(c *Credentials) { t.creds.Store(c) }

// cpuTimes returns the task's user and system time.
func (t *Task) cpuTimes() (time.Duration, time.Duration) {
	return time.Duration(t.utimeNS.Load()), time.Duration(t.stimeNS.Load())
}

// CPUTime returns the task's user and system time.
func (t *Task) CPUTime() (utime, stime time.Duration) { return t.cpuTimes() }

// Deadline implements context.Context.Deadline.
func (t *Task) Deadline() (time.Time, bool) { return time.Time{}, false }

// Done implements context.Context.Done: closed when the task is killed.
func (t *Task) Done() <-chan struct{} { return t.done }

// Err implements context.Context.Err.
func (t *Task) Err() error {
	select {
	case <-t.done:
		return context.Canceled
	default:
		return nil
	}
}

// Value implements context.Context.Value.
func (t *Task) Value(key any) any { return nil }

// interrupt wakes the task: out of Block, or out of application code.
func (t *Task) interrupt() {
	t.sigCheck.Store(true)
	select {
	case t.interruptCh <- struct{}{}:
	default:
	}
	if c := t.ctx; c != nil {
		c.Interrupt()
	}
}

// errInterrupted is what blocking returns when a signal (or exit) needs
// the task: system calls return it as ERESTARTSYS.
var errInterrupted = abi.ERESTARTSYS

// Block waits until ch is ready (receives or is closed), or the task is
// interrupted by a signal it must handle, a stop, or death. It implements
// vfs.Blocker. The interrupted case returns ERESTARTSYS, which callers
// return from the system call (the kernel turns it into EINTR or a
// restart).
func (t *Task) Block(ch <-chan struct{}) error {
	_, err := t.BlockWithDeadline(ch, time.Time{})
	return err
}

// BlockWithDeadline is Block with a deadline (zero: none). It returns
// timedOut when the deadline passed first.
func (t *Task) BlockWithDeadline(ch <-chan struct{}, deadline time.Time) (timedOut bool, err error) {
	var timer <-chan time.Time
	if !deadline.IsZero() {
		d := time.Until(deadline)
		if d <= 0 {
			select {
			case <-ch:
				return false, nil
			default:
				return true, nil
			}
		}
		tm := time.NewTimer(d)
		defer tm.Stop()
		timer = tm.C
	}
	for {
		// What the task waits for wins over a signal that arrived at
		// the same time (a child's exit and its SIGCHLD): the call
		// completes and the signal is handled after it.
		select {
		case <-ch:
			return false, nil
		default:
		}
		if t.interruptPending() {
			// The event may have happened under the same Kernel.mu
			// critical section as the signal; look once more.
			select {
			case <-ch:
				return false, nil
			default:
			}
			return false, errInterrupted
		}
		select {
		case <-ch:
			return false, nil
		case <-timer:
			return true, nil
		case <-t.interruptCh:
		}
	}
}

// interruptPending reports whether something needs the task goroutine: a
// deliverable signal, a stop, or death.
func (t *Task) interruptPending() bool {
	if !t.sigCheck.Load() {
		return false
	}
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	return t.needsAttentionLocked()
}

// needsAttentionLocked reports whether the task must leave a blocking wait.
//
// Preconditions: k.mu is held.
func (t *Task) needsAttentionLocked() bool {
	if t.exiting || t.tg.exiting || (t.tg.stopping && !t.stopped) {
		return true
	}
	return t.deliverableLocked() != 0
}

// BlockInterruptible waits for ch like Block, but a deliverable signal
// returns EINTR directly (for waits that must not restart: pause,
// sigsuspend).
func (t *Task) BlockInterruptible(ch <-chan struct{}) error {
	if err := t.Block(ch); err != nil {
		return abi.EINTR
	}
	return nil
}

// Sleep blocks for d or until interrupted.
func (t *Task) Sleep(d time.Duration) error {
	_, err := t.BlockWithDeadline(nil, time.Now().Add(d))
	return err
}

// run is the task goroutine.
func (t *Task) run() {
	defer t.k.running.Done()
	// Locked for life: the OS thread traces the task's stub thread. It is
	// never unlocked; the thread exits with the goroutine after the
	// context released every stub thread it traced.
	runtime.LockOSThread()
	if t.initialFP != nil {
		t.ctx.SetFPState(t.initialFP)
		t.initialFP = nil
	}
	for {
		if t.sigCheck.Load() || t.restartErrno != 0 {
			if t.handleSignals() {
				break
			}
		}
		m := t.MemoryManager()
		as, err := m.AddressSpace()
		if err != nil {
			t.k.log.Error("creating an address space failed; killing the process", "pid", t.tg.pid, "err", err)
			t.killGroup(abi.SIGKILL)
			continue
		}
		start := time.Now()
		ev, err := t.ctx.Switch(as, &t.regs, &t.trap)
		now := time.Now()
		t.utimeNS.Add(int64(now.Sub(start)))
		if err != nil {
			if !t.isExiting() {
				t.k.log.Warn("application thread died on the host; killing the process", "pid", t.tg.pid, "tid", t.tid, "err", err)
			}
			t.killGroup(abi.SIGKILL)
			continue
		}
		switch ev {
		case platform.EventSyscall:
			t.doSyscall()
		case platform.EventFault:
			t.handleFault(m)
		case platform.EventSignal:
			info := t.trap.Info
			t.forceSignal(&info)
		case platform.EventInterrupt:
		}
		t.stimeNS.Add(int64(time.Since(now)))
	}
	t.exitTask()
}

// isExiting reports whether the task or its group is exiting.
func (t *Task) isExiting() bool {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	return t.exiting || t.tg.exiting
}

// doSyscall runs the system call the registers hold.
func (t *Task) doSyscall() {
	sysno := uintptr(t.regs.OrigRax)
	args := t.regs.SyscallArgs()
	rv, err := t.k.syscalls.Call(t, sysno, &args)
	if t.skipReturn {
		t.skipReturn = false
		return
	}
	if err == nil {
		t.regs.Rax = rv
		return
	}
	errno := errnoOf(err)
	if errno.IsRestart() {
		t.restartErrno = errno
	}
	t.regs.Rax = negErrno(errno)
}

// errnoOf converts a handler's error to an errno: a memory fault is
// EFAULT, anything that is not an errno is EIO.
func errnoOf(err error) abi.Errno {
	var e abi.Errno
	if errors.As(err, &e) {
		return e
	}
	var f *mm.Fault
	if errors.As(err, &f) {
		return abi.EFAULT
	}
	return abi.EIO
}

// handleFault resolves a page fault or delivers SIGSEGV/SIGBUS.
func (t *Task) handleFault(m *mm.MemoryManager) {
	err := m.HandleFault(t, t.trap.Addr, t.trap.Access)
	if err == nil {
		return
	}
	info := abi.SigInfo{Signo: int32(abi.SIGSEGV), Code: abi.SEGV_MAPERR}
	var f *mm.Fault
	if errors.As(err, &f) {
		info.Signo, info.Code = int32(f.Signal), f.Code
	} else {
		info.Signo, info.Code = int32(abi.SIGBUS), abi.BUS_ADRERR
	}
	info.SetAddr(t.trap.Addr)
	t.forceSignal(&info)
}

// negErrno returns -e as the application sees it in rax.
func negErrno(e abi.Errno) uint64 { return uint64(-int64(e)) }
