package ptrace

import (
	"fmt"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"golang.org/x/sys/unix"
)

// ptrace requests and options not all in x/sys/unix.
const (
	ptraceSysemu      = 31
	ptraceSeize       = 0x4206
	ptraceInterrupt   = 0x4207
	ptraceGetRegset   = 0x4204
	ptraceSetRegset   = 0x4205
	ptraceGetSiginfo  = 0x4202
	ptraceEventStop   = 128
	ptraceOExitKill   = 0x100000
	ptraceOSysGood    = 0x1
	ntX86XState       = 0x202
	syscallStopSignal = unix.SIGTRAP | 0x80
)

// stubThread is one host thread of a stub process. While traced, every
// ptrace call on it must come from its tracer thread.
type stubThread struct {
	pid int32 // thread group (stub process)
	tid int32
}

func (t *stubThread) String() string { return fmt.Sprintf("stub %d/%d", t.pid, t.tid) }

// errStubDied is returned when a stub thread exited or was killed.
type errStubDied struct {
	t      *stubThread
	status unix.WaitStatus
}

func (e *errStubDied) Error() string {
	if e.status.Signaled() {
		return fmt.Sprintf("%v killed by %v", e.t, e.status.Signal())
	}
	return fmt.Sprintf("%v exited with status %d", e.t, e.status.ExitStatus())
}

// wait waits for t to stop or die. A death is returned as *errStubDied.
func (t *stubThread) wait() (unix.WaitStatus, error) {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(int(t.tid), &ws, unix.WALL, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("waiting for %v: %w", t, err)
		}
		if ws.Exited() || ws.Signaled() {
			return ws, &errStubDied{t: t, status: ws}
		}
		return ws, nil
	}
}

// seize attaches to the untraced, parked thread t and stops it in the park
// loop. The calling thread becomes its tracer.
//
// A new stub's first thread may still be between its report to the
// Sentry and the park loop. It is then run on from one system call stop
// to the next (PTRACE_SYSCALL) until it is about to enter pause(2) in the
// park loop, let into it and interrupted there. Interrupting it again and
// again instead can livelock on a busy host: a tracee re-interrupted
// before it is scheduled stops again without executing an instruction.
// It is not left in the syscall-entry stop itself: seccomp checks the
// system call after that stop, and an injection's cancelled call (-1)
// would fail the stub's filter.
func (p *Platform) seize(t *stubThread) error {
	if err := ptrace(ptraceSeize, t.tid, 0, ptraceOSysGood|ptraceOExitKill); err != nil {
		return fmt.Errorf("seizing %v: %w", t, err)
	}
	var regs abi.PtraceRegs
	for attempt := 0; ; attempt++ {
		if err := ptrace(ptraceInterrupt, t.tid, 0, 0); err != nil {
			return fmt.Errorf("interrupting %v: %w", t, err)
		}
		// Wait for the interrupt's stop, letting any signal-delivery
		// stop pass (suppressed) on the way.
		for {
			ws, err := t.wait()
			if err != nil {
				return err
			}
			if ws.Stopped() && ws.TrapCause() == ptraceEventStop {
				break
			}
			if err := ptrace(unix.PTRACE_CONT, t.tid, 0, 0); err != nil {
				return fmt.Errorf("continuing %v: %w", t, err)
			}
		}
		if err := getRegs(t.tid, &regs); err != nil {
			return fmt.Errorf("reading registers of %v: %w", t, err)
		}
		if p.stub.inPark(regs.Rip) {
			p.initOnce.Do(func() { p.captureInit(t, &regs) })
			return nil
		}
		if attempt >= 3 {
			return fmt.Errorf("%v never reached its park loop (rip %#x)", t, regs.Rip)
		}
		// Run it to pause's syscall-entry stop (two system calls
		// away at most; signal stops may come between).
		for stops := 0; ; stops++ {
			if stops > 100 {
				return fmt.Errorf("%v does not reach its park loop (rip %#x)", t, regs.Rip)
			}
			if err := ptrace(unix.PTRACE_SYSCALL, t.tid, 0, 0); err != nil {
				return fmt.Errorf("continuing %v: %w", t, err)
			}
			ws, err := t.wait()
			if err != nil {
				return err
			}
			if !ws.Stopped() || ws.StopSignal() != syscallStopSignal {
				continue // a signal-delivery or group stop: suppress it
			}
			if err := getRegs(t.tid, &regs); err != nil {
				return fmt.Errorf("reading registers of %v: %w", t, err)
			}
			if p.stub.inPark(regs.Rip) {
				break
			}
		}
		// Into pause; the next interrupt finds it there.
		if err := ptrace(unix.PTRACE_CONT, t.tid, 0, 0); err != nil {
			return fmt.Errorf("continuing %v: %w", t, err)
		}
	}
}

// park returns the traced thread t to the park loop and detaches, leaving
// it untraced.
func (p *Platform) park(t *stubThread) error {
	regs := p.initRegs
	regs.Rip = p.stub.park
	regs.OrigRax = ^uint64(0)
	if err := setRegs(t.tid, &regs); err != nil {
		return fmt.Errorf("parking %v: %w", t, err)
	}
	if err := ptrace(unix.PTRACE_DETACH, t.tid, 0, 0); err != nil {
		return fmt.Errorf("detaching %v: %w", t, err)
	}
	return nil
}

// syscall runs system call nr with args in the traced, stopped thread t,
// at the stub's injection site, and returns its result.
func (p *Platform) syscall(t *stubThread, site uint64, nr uintptr, args ...uint64) (uint64, error) {
	for {
		regs := p.initRegs
		regs.Rip = site
		regs.Rax = uint64(nr)
		regs.OrigRax = ^uint64(0)
		dst := []*uint64{&regs.Rdi, &regs.Rsi, &regs.Rdx, &regs.R10, &regs.R8, &regs.R9}
		for i, a := range args {
			*dst[i] = a
		}
		if err := setRegs(t.tid, &regs); err != nil {
			return 0, fmt.Errorf("setting registers of %v: %w", t, err)
		}
		for {
			if err := ptrace(unix.PTRACE_CONT, t.tid, 0, 0); err != nil {
				return 0, fmt.Errorf("continuing %v: %w", t, err)
			}
			ws, err := t.wait()
			if err != nil {
				return 0, err
			}
			if ws.Stopped() && ws.StopSignal() == unix.SIGTRAP && ws.TrapCause() == 0 {
				break
			}
			// A signal (an interrupt meant for a Switch) or a group
			// stop: suppress it and go on.
		}
		if err := getRegs(t.tid, &regs); err != nil {
			return 0, fmt.Errorf("reading registers of %v: %w", t, err)
		}
		ret := int64(regs.Rax)
		if ret < 0 && ret > -4096 {
			errno := abi.Errno(-ret)
			if errno.IsRestart() {
				continue
			}
			return 0, errno
		}
		return regs.Rax, nil
	}
}

// runCommandPage runs the first n entries of the command page in the
// traced, stopped thread t.
func (p *Platform) runCommandPage(t *stubThread, n int) error {
	regs := p.initRegs
	regs.Rip = p.stub.batch
	regs.R12 = p.stub.cmdPage()
	regs.Rbx = uint64(n)
	regs.OrigRax = ^uint64(0)
	if err := setRegs(t.tid, &regs); err != nil {
		return fmt.Errorf("setting registers of %v: %w", t, err)
	}
	for {
		if err := ptrace(unix.PTRACE_CONT, t.tid, 0, 0); err != nil {
			return fmt.Errorf("continuing %v: %w", t, err)
		}
		ws, err := t.wait()
		if err != nil {
			return err
		}
		if ws.Stopped() && ws.StopSignal() == unix.SIGTRAP && ws.TrapCause() == 0 {
			return nil
		}
	}
}

// newThread makes a new, parked thread in t's stub process and returns it.
func (p *Platform) newThread(t *stubThread) (*stubThread, error) {
	tid, err := p.syscall(t, p.stub.clone, unix.SYS_CLONE, stubThreadCloneFlags, 0, 0, 0, 0)
	if err != nil {
		return nil, fmt.Errorf("cloning a thread in %v: %w", t, err)
	}
	return &stubThread{pid: t.pid, tid: int32(tid)}, nil
}

// captureInit records the register template for injections from a thread
// stopped in the park loop: the segment selectors and flags the host gave
// stub threads.
func (p *Platform) captureInit(t *stubThread, regs *abi.PtraceRegs) {
	p.initRegs = abi.PtraceRegs{
		Cs:     regs.Cs,
		Ss:     regs.Ss,
		Ds:     regs.Ds,
		Es:     regs.Es,
		Fs:     regs.Fs,
		Gs:     regs.Gs,
		Eflags: regs.Eflags,
		Rsp:    p.stub.end - 64,
	}
}
