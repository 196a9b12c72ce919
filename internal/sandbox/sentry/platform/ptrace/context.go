package ptrace

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/memmap"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/platform"
	"golang.org/x/sys/unix"
)

// interruptSignal is what Interrupt sends a running stub thread. Untraced,
// its default action is to ignore it, so a late one does no harm.
const interruptSignal = unix.SIGCHLD

// context runs one task: it keeps one stub thread traced by the task's OS
// thread, in the address space the task last switched to.
type context struct {
	p *Platform

	// These fields belong to the context's OS thread.
	tracer    int32 // host TID of the tracer, set on first bind
	as        *addressSpace
	thread    *stubThread
	pendingFP []byte // applied at the next bind

	// interrupt is set by Interrupt and consumed by Switch.
	interrupt atomic.Bool
	// running is the stub thread (pid<<32|tid) while it runs application
	// code, else 0.
	running atomic.Uint64
}

var _ platform.Context = (*context)(nil)

// bind makes c's thread one of as, releasing the one it had.
func (c *context) bind(as *addressSpace) error {
	if c.tracer == 0 {
		c.tracer = int32(unix.Gettid())
	}
	if c.thread != nil {
		// Keep the floating-point state across an address-space change
		// unless someone already set it (execve resets it).
		if c.pendingFP == nil {
			if fp, err := c.readFP(); err == nil {
				c.pendingFP = fp
			}
		}
		c.unbind()
	}
	t, err := as.take()
	if err != nil {
		return err
	}
	fp := c.pendingFP
	if fp == nil {
		fp = c.p.initFP
	}
	if err := setXState(t.tid, fp); err != nil {
		as.put(t)
		return fmt.Errorf("setting the floating-point state of %v: %w", t, err)
	}
	c.pendingFP = nil
	as.bind(c.tracer, t)
	c.as, c.thread = as, t
	return nil
}

// unbind releases c's thread: parked if its space lives, else reaped.
func (c *context) unbind() {
	if c.thread == nil {
		return
	}
	if c.as.unbind(c.tracer) {
		c.as.put(c.thread)
	} else {
		// The space was killed: reap our thread.
		for {
			if _, err := c.thread.wait(); err != nil {
				break
			}
			// Stopped on the way to dying: let it go on.
			ptrace(unix.PTRACE_CONT, c.thread.tid, 0, 0)
		}
	}
	c.as, c.thread = nil, nil
}

// Switch implements platform.Context.Switch.
func (c *context) Switch(pas platform.AddressSpace, regs *abi.PtraceRegs, trap *platform.Trap) (platform.Event, error) {
	as := pas.(*addressSpace)
	if c.as != as || c.thread == nil {
		if err := c.bind(as); err != nil {
			return 0, err
		}
	}
	t := c.thread
	if c.interrupt.Swap(false) {
		return platform.EventInterrupt, nil
	}
	if as.hasPending() {
		if err := as.flush(t); err != nil {
			return 0, c.died(fmt.Errorf("updating the mappings of %v: %w", t, err))
		}
	}
	init := &c.p.initRegs
	regs.Cs, regs.Ss = init.Cs, init.Ss
	regs.Ds, regs.Es, regs.Fs, regs.Gs = 0, 0, 0, 0
	regs.OrigRax = ^uint64(0)
	if err := setRegs(t.tid, regs); err != nil {
		return 0, c.died(fmt.Errorf("setting registers of %v: %w", t, err))
	}
	c.running.Store(uint64(t.pid)<<32 | uint64(uint32(t.tid)))
	defer c.running.Store(0)
	if c.interrupt.Swap(false) {
		return platform.EventInterrupt, nil
	}
	for {
		if err := ptrace(ptraceSysemu, t.tid, 0, 0); err != nil {
			return 0, c.died(fmt.Errorf("resuming %v: %w", t, err))
		}
		ws, err := t.wait()
		if err != nil {
			return 0, c.died(err)
		}
		if !ws.Stopped() {
			continue
		}
		sig := ws.StopSignal()
		if sig == syscallStopSignal {
			if err := getRegs(t.tid, regs); err != nil {
				return 0, c.died(err)
			}
			// The host put -ENOSYS in rax at syscall entry.
			regs.Rax = regs.OrigRax
			return platform.EventSyscall, nil
		}
		if ws.TrapCause() == ptraceEventStop || (sig != unix.SIGTRAP && ws.TrapCause() > 0) {
			// A group stop (someone sent SIGSTOP): ignore it.
			continue
		}
		if err := getSigInfo(t.tid, &trap.Info); err != nil {
			return 0, c.died(err)
		}
		if trap.Info.Code <= 0 {
			// Sent by a process. Ours is an interrupt; any other
			// sender's signal is dropped.
			if trap.Info.PID() == int32(c.p.sentryPID) && sig == interruptSignal {
				c.interrupt.Store(false)
				if err := getRegs(t.tid, regs); err != nil {
					return 0, c.died(err)
				}
				return platform.EventInterrupt, nil
			}
			continue
		}
		// Raised by the host for something the application did.
		if err := getRegs(t.tid, regs); err != nil {
			return 0, c.died(err)
		}
		switch abi.Signal(sig) {
		case abi.SIGSEGV, abi.SIGBUS:
			if trap.Info.Code == abi.SI_KERNEL {
				// A general protection fault, not a page fault.
				return platform.EventSignal, nil
			}
			trap.Addr = trap.Info.Addr()
			trap.Access = memmap.Read
			if abi.Signal(sig) == abi.SIGSEGV && trap.Info.Code == abi.SEGV_ACCERR {
				trap.Access = memmap.Write
			}
			if trap.Addr == regs.Rip {
				trap.Access = memmap.Execute
			}
			return platform.EventFault, nil
		default:
			return platform.EventSignal, nil
		}
	}
}

// died turns a failure of c's stub thread into ErrContextDead.
func (c *context) died(err error) error {
	var d *errStubDied
	if errors.As(err, &d) {
		c.as.unbind(c.tracer)
		c.as.Release()
		c.as, c.thread = nil, nil
	}
	return fmt.Errorf("%w: %v", platform.ErrContextDead, err)
}

// Interrupt implements platform.Context.Interrupt.
func (c *context) Interrupt() {
	c.interrupt.Store(true)
	if r := c.running.Load(); r != 0 {
		unix.Tgkill(int(r>>32), int(uint32(r)), interruptSignal)
	}
}

func (c *context) readFP() ([]byte, error) {
	buf := make([]byte, c.p.fpSize)
	if _, err := getXState(c.thread.tid, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// FPState implements platform.Context.FPState.
func (c *context) FPState() ([]byte, error) {
	if c.pendingFP != nil {
		return append([]byte(nil), c.pendingFP...), nil
	}
	if c.thread == nil {
		return append([]byte(nil), c.p.initFP...), nil
	}
	return c.readFP()
}

// SetFPState implements platform.Context.SetFPState.
func (c *context) SetFPState(state []byte) error {
	if len(state) < abi.FXSaveSize+64 || len(state) > c.p.fpSize {
		return abi.EINVAL
	}
	buf := make([]byte, c.p.fpSize)
	copy(buf, state)
	if c.thread == nil {
		c.pendingFP = buf
		return nil
	}
	if err := setXState(c.thread.tid, buf); err != nil {
		if c.as.isDead() {
			// The thread is going away with its address space;
			// apply the state to the next one.
			c.pendingFP = buf
			return nil
		}
		return abi.EINVAL
	}
	return nil
}

// Release implements platform.Context.Release.
func (c *context) Release() {
	c.unbind()
}
