// Package platform defines how the Sentry runs application code: an
// AddressSpace is an application's memory as the host sees it (ranges of the
// Sentry's memory file mapped at application addresses), and a Context runs
// one task's registers on an AddressSpace until the application makes a
// system call, faults or is interrupted. Implementations live below:
// ptrace (stub processes under PTRACE_SYSEMU) now, kvm later; platforms
// looks them up by name.
//
// # A KVM platform
//
// The interface is shaped so a KVM implementation fits without changes
// above it (see the measurements in shared/notes/kvm-on-pvm): an
// AddressSpace becomes guest page tables over the memory file, which is
// registered once as guest memory (MapFile/Protect/Unmap edit page table
// entries; no injection); a Context becomes a vCPU borrowed for the
// duration of Switch, loading regs (and its FPState, which the Context
// keeps) and running until the guest trampoline exits: a system call
// (under kvm_pvm the user-page MMIO stub path), a fault delivered through
// the guest IDT (Trap.Addr and an exact Trap.Access from the error code),
// or an interrupt (KVM's immediate_exit). Nothing above the platform
// knows about stubs, tracers or vCPUs.
//
// platform imports only abi and memmap; mm and the kernel import it. No
// implementation may import a layer above it.
//
// # Threads
//
// A ptrace tracer is a host thread, so a Context belongs to the OS thread
// that first calls Switch on it: the task goroutine locks itself to its
// thread (runtime.LockOSThread) for its whole life and calls every Context
// method but Interrupt from there. Other platforms may be more relaxed, but
// callers must follow this rule on all of them.
package platform

import (
	"errors"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/memmap"
)

// ErrContextDead is returned (wrapped) by Switch when the host thread that
// runs the application died (killed from outside the sandbox, or the
// platform failed). The task cannot continue; the kernel kills it.
var ErrContextDead = errors.New("platform execution context died")

// Platform creates address spaces and execution contexts.
type Platform interface {
	// Name returns the name Lookup knows the platform by ("ptrace").
	Name() string

	// NewAddressSpace returns a new, empty address space.
	NewAddressSpace() (AddressSpace, error)

	// NewContext returns a new execution context for one task. It starts
	// with a clean floating-point state.
	NewContext() Context

	// MinUserAddress and MaxUserAddress bound the application addresses
	// that may be mapped: [MinUserAddress, MaxUserAddress).
	MinUserAddress() uint64
	MaxUserAddress() uint64

	// FPStateSize returns the size in bytes of the floating-point state
	// Context.FPState returns (an XSAVE image in the standard format the
	// kernel puts in signal frames).
	FPStateSize() int

	// Close releases the platform's host resources. Address spaces and
	// contexts must be released first.
	Close() error
}

// AddressSpace is an application address space: ranges of the memory file
// mapped at application addresses. Only mm calls it.
//
// Methods are safe for concurrent use; mm serializes changes to
// overlapping ranges.
type AddressSpace interface {
	// MapFile maps the memory-file range fr at addr with access at,
	// replacing whatever was mapped there. With precommit the host
	// populates the pages at once.
	//
	// Preconditions: addr and fr are page-aligned, fr is non-empty, and
	// [addr, addr+fr.Length()) lies within [MinUserAddress,
	// MaxUserAddress).
	MapFile(addr uint64, fr memmap.FileRange, at memmap.AccessType, precommit bool) error

	// Protect changes the access of the mappings in [addr,
	// addr+length) to at (mm uses it to write-protect pages shared
	// copy-on-write).
	//
	// Preconditions: as for Unmap.
	Protect(addr, length uint64, at memmap.AccessType) error

	// Unmap removes any mappings in [addr, addr+length).
	//
	// Preconditions: addr and length are page-aligned and the range lies
	// within the user range.
	Unmap(addr, length uint64)

	// Release destroys the address space. Contexts still switched to it
	// fail their next Switch with ErrContextDead or move to another
	// address space.
	Release()
}

// Event says why Switch returned.
type Event int

// Switch events.
const (
	// EventSyscall: the application made a system call. The registers
	// hold it: Rax and OrigRax the number, Rdi..R9 the arguments, Rip the
	// address after the syscall instruction.
	EventSyscall Event = iota
	// EventFault: a memory access faulted at Trap.Addr; mm may resolve
	// it and the task retries, or the kernel delivers Trap.Info.
	EventFault
	// EventSignal: the application caused a synchronous signal other than
	// a memory fault (SIGILL, SIGFPE, SIGTRAP, ...), in Trap.Info.
	EventSignal
	// EventInterrupt: Interrupt was called (possibly before Switch).
	EventInterrupt
)

// String implements fmt.Stringer.
func (e Event) String() string {
	switch e {
	case EventSyscall:
		return "syscall"
	case EventFault:
		return "fault"
	case EventSignal:
		return "signal"
	case EventInterrupt:
		return "interrupt"
	}
	return "unknown"
}

// Trap holds what Switch reports for EventFault and EventSignal.
type Trap struct {
	// Info is the signal the host raised, as the application would get it.
	Info abi.SigInfo
	// Addr is the faulting address (EventFault).
	Addr uint64
	// Access is the access that faulted, as precisely as the platform
	// knows: ptrace cannot tell a read from a write on a missing page and
	// reports Read, then Write when the page is present but read-only.
	Access memmap.AccessType
}

// Context runs one task's application code.
type Context interface {
	// Switch runs the application with registers regs on as until it
	// makes a system call, faults, raises a signal or is interrupted; it
	// then stores the registers back into regs and returns why. For
	// EventFault and EventSignal it fills trap.
	//
	// Preconditions: called from the Context's OS thread (see the package
	// doc); regs holds valid user-mode registers.
	Switch(as AddressSpace, regs *abi.PtraceRegs, trap *Trap) (Event, error)

	// Interrupt makes a running or the next Switch return EventInterrupt
	// soon. It may be called from any goroutine, at any time.
	Interrupt()

	// FPState returns a copy of the task's floating-point state.
	//
	// Preconditions: as for Switch.
	FPState() ([]byte, error)

	// SetFPState replaces the task's floating-point state with state (as
	// returned by FPState, possibly from another Context). Invalid images
	// fail with abi.EINVAL.
	//
	// Preconditions: as for Switch.
	SetFPState(state []byte) error

	// Release frees the context's host resources. The Context must not be
	// used again.
	//
	// Preconditions: as for Switch.
	Release()
}
