// Package mm implements application address spaces: one MemoryManager per
// process (shared by its threads), holding virtual memory areas (VMAs) over
// the Sentry's single memory file, brk, the mmap family, page-fault
// handling, copy-on-write fork, and the Sentry's own access to application
// memory (CopyIn/CopyOut/Pin) through its mapping of the memory file.
//
// # Pages
//
// A page of a VMA is either absent, backed by a private frame (a memory-file
// page this MemoryManager holds a reference on: anonymous memory, or a
// private copy of a file page), or backed by a Mappable's frame (a file's
// page cache, shared mappings, and not-yet-written pages of private file
// mappings). Pages are created on demand by faults, a window at a time, and
// mapped into the platform address space with the VMA's permissions, less
// write where the page is shared copy-on-write.
//
// Fork shares private frames with the child (a reference each) and
// write-protects them in the parent; the first write on either side copies
// the page, unless it is no longer shared (reference count one), in which
// case it is just made writable again.
//
// # Lock order
//
//	mm.mappingMu (VMAs; held across Mappable.AddMapping/RemoveMapping)
//	  Mappable mappings locks
//	    mm.activeMu (pages and the platform address space; held across
//	    Mappable.Translate; taken by Invalidate)
//	      Mappable data locks
//	        pgalloc.MemoryFile.mu
//
// Fork locks the parent's mappingMu and activeMu; the child is not yet
// shared.
//
// mm imports abi, memmap, platform and its pgalloc subpackage; the kernel,
// loader and file systems (through memmap) use it.
package mm

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/memmap"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/mm/pgalloc"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/platform"
)

// Deps are a MemoryManager's collaborators.
type Deps struct {
	Platform   platform.Platform
	MemoryFile *pgalloc.MemoryFile
}

// MemoryManager is one application address space.
type MemoryManager struct {
	p  platform.Platform
	mf *pgalloc.MemoryFile

	// users counts the tasks using this address space (threads share
	// it); at zero everything is unmapped.
	users atomic.Int32

	mappingMu sync.RWMutex
	// vmas are sorted by start and do not overlap.
	vmas []*vma // +checklocks:mappingMu
	// layout is set by the loader.
	layout Layout // +checklocks:mappingMu
	// brk is the program break: brk.Start is where the heap starts,
	// brk.End the current break.
	brk memmap.AddrRange // +checklocks:mappingMu
	// usageAS is the total length of VMAs (VmSize).
	usageAS uint64 // +checklocks:mappingMu
	// executable names the program for /proc/[pid]/exe.
	executable memmap.MappingIdentity // +checklocks:mappingMu
	// argv and envv are where the loader put the arguments and
	// environment (/proc/[pid]/cmdline and environ).
	argv, envv memmap.AddrRange // +checklocks:mappingMu
	auxv       []uint64         // +checklocks:mappingMu

	activeMu sync.Mutex
	// as is the platform address space, created on first use.
	as platform.AddressSpace // +checklocks:activeMu
	// ptes maps a page address to what backs it.
	ptes map[uint64]pte // +checklocks:activeMu
	// rss counts present pages.
	rss uint64 // +checklocks:activeMu
}

// pte is one present page.
type pte struct {
	// frame is the offset of the page in the memory file.
	frame uint64
	// private is set when the frame is this address space's (it holds a
	// reference); otherwise the frame is a Mappable's translation.
	private bool
	// mapped is the access the platform address space currently grants;
	// NoAccess when it does not map the page.
	mapped memmap.AccessType
}

// Layout is where the loader put the stack and where mmap allocates.
type Layout struct {
	// MinAddr and MaxAddr bound application mappings.
	MinAddr, MaxAddr uint64
	// MmapBase is the top of the area mmap allocates from, downwards.
	MmapBase uint64
	// StackTop is the end of the initial stack VMA.
	StackTop uint64
}

// New returns an empty address space, with a layout for the platform's
// address range and a stack limit of stackLimit bytes.
func New(deps Deps) *MemoryManager {
	mm := &MemoryManager{p: deps.Platform, mf: deps.MemoryFile, ptes: make(map[uint64]pte)}
	mm.users.Store(1)
	max := deps.Platform.MaxUserAddress()
	mm.layout = Layout{
		MinAddr:  deps.Platform.MinUserAddress(),
		MaxAddr:  max,
		StackTop: max,
		MmapBase: max - defaultStackGap,
	}
	return mm
}

// defaultStackGap is the room left below the stack top for the stack to
// grow before mmap allocations start (Linux uses the stack rlimit, at least
// 128 MiB).
const defaultStackGap = 128 << 20

// SetLayout sets the stack top and mmap base; the loader calls it before
// the first mapping. stackLimit is RLIMIT_STACK.
func (mm *MemoryManager) SetLayout(stackTop, stackLimit uint64) {
	mm.mappingMu.Lock()
	defer mm.mappingMu.Unlock()
	gap := stackLimit
	if gap < defaultStackGap {
		gap = defaultStackGap
	}
	if max := (stackTop - mm.layout.MinAddr) / 6 * 5; gap > max {
		gap = max
	}
	mm.layout.StackTop = stackTop
	mm.layout.MmapBase = abi.PageRoundDown(stackTop - gap)
}

// Layout returns the address-space layout.
func (mm *MemoryManager) Layout() Layout {
	mm.mappingMu.RLock()
	defer mm.mappingMu.RUnlock()
	return mm.layout
}

// AddressSpace returns the platform address space, creating it on first
// use.
func (mm *MemoryManager) AddressSpace() (platform.AddressSpace, error) {
	mm.activeMu.Lock()
	as := mm.as
	mm.activeMu.Unlock()
	if as != nil {
		return as, nil
	}
	mm.mappingMu.RLock()
	defer mm.mappingMu.RUnlock()
	mm.activeMu.Lock()
	defer mm.activeMu.Unlock()
	if err := mm.ensureAS(); err != nil {
		return nil, err
	}
	return mm.as, nil
}

// IncUsers adds a user (a thread sharing the address space); it returns
// false if the address space is already torn down.
func (mm *MemoryManager) IncUsers() bool {
	for {
		n := mm.users.Load()
		if n == 0 {
			return false
		}
		if mm.users.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// DecUsers drops a user; the last one tears the address space down: every
// mapping is removed and the platform address space released.
func (mm *MemoryManager) DecUsers(ctx context.Context) {
	if mm.users.Add(-1) != 0 {
		return
	}
	mm.mappingMu.Lock()
	defer mm.mappingMu.Unlock()
	mm.activeMu.Lock()
	for addr, p := range mm.ptes {
		if p.private {
			mm.mf.DecRef(memmap.FileRange{Start: p.frame, End: p.frame + abi.PageSize})
		}
		delete(mm.ptes, addr)
	}
	mm.rss = 0
	if mm.as != nil {
		mm.as.Release()
		mm.as = nil
	}
	mm.activeMu.Unlock()
	for _, v := range mm.vmas {
		mm.dropVMA(ctx, v)
	}
	mm.vmas = nil
	mm.usageAS = 0
	if mm.executable != nil {
		mm.executable.DecRef(ctx)
		mm.executable = nil
	}
}

// SetExecutable records the program the address space runs (for
// /proc/[pid]/exe), taking a reference on it.
func (mm *MemoryManager) SetExecutable(ctx context.Context, id memmap.MappingIdentity) {
	if id != nil {
		id.IncRef()
	}
	mm.mappingMu.Lock()
	old := mm.executable
	mm.executable = id
	mm.mappingMu.Unlock()
	if old != nil {
		old.DecRef(ctx)
	}
}

// Executable returns the program, with a reference the caller must drop,
// or nil.
func (mm *MemoryManager) Executable() memmap.MappingIdentity {
	mm.mappingMu.RLock()
	defer mm.mappingMu.RUnlock()
	if mm.executable != nil {
		mm.executable.IncRef()
	}
	return mm.executable
}

// SetArgvEnv records where the arguments, environment and auxiliary vector
// are.
func (mm *MemoryManager) SetArgvEnv(argv, envv memmap.AddrRange, auxv []uint64) {
	mm.mappingMu.Lock()
	defer mm.mappingMu.Unlock()
	mm.argv, mm.envv, mm.auxv = argv, envv, auxv
}

// ArgvEnv returns the ranges recorded by SetArgvEnv.
func (mm *MemoryManager) ArgvEnv() (argv, envv memmap.AddrRange) {
	mm.mappingMu.RLock()
	defer mm.mappingMu.RUnlock()
	return mm.argv, mm.envv
}

// Auxv returns the auxiliary vector recorded by SetArgvEnv.
func (mm *MemoryManager) Auxv() []uint64 {
	mm.mappingMu.RLock()
	defer mm.mappingMu.RUnlock()
	return append([]uint64(nil), mm.auxv...)
}

// Usage returns the virtual size and resident size in bytes.
func (mm *MemoryManager) Usage() (vsize, rss uint64) {
	mm.mappingMu.RLock()
	vsize = mm.usageAS
	mm.mappingMu.RUnlock()
	mm.activeMu.Lock()
	rss = mm.rss * abi.PageSize
	mm.activeMu.Unlock()
	return vsize, rss
}
