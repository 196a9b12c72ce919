package ptrace

import (
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/podvisor/podvisor/internal/sandbox/sentry/memmap"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/platform"
	"golang.org/x/sys/unix"
)

// addressSpace is one stub process.
type addressSpace struct {
	p   *Platform
	pid int32

	mu   sync.Mutex
	cond sync.Cond // on mu: the pool got a thread, or the space died
	// pool holds parked, untraced threads. It is never left empty while
	// the space lives: whoever takes the last one makes a new one.
	pool []int32 // +checklocks:mu
	// refilling is set while a taker makes the pool's next thread.
	refilling bool // +checklocks:mu
	// bound maps a tracer's host TID to the thread it keeps traced here
	// (a context's thread).
	bound map[int32]*stubThread // +checklocks:mu
	dead  bool                  // +checklocks:mu
}

var _ platform.AddressSpace = (*addressSpace)(nil)

// take seizes a parked thread for the calling (locked) OS thread, and
// refills the pool if it took the last one.
//
// Preconditions: the caller's goroutine is locked to its OS thread.
func (as *addressSpace) take() (*stubThread, error) {
	as.mu.Lock()
	for len(as.pool) == 0 && !as.dead {
		as.cond.Wait()
	}
	if as.dead {
		as.mu.Unlock()
		return nil, fmt.Errorf("stub %d: %w", as.pid, platform.ErrContextDead)
	}
	tid := as.pool[len(as.pool)-1]
	as.pool = as.pool[:len(as.pool)-1]
	refill := len(as.pool) == 0
	if refill {
		as.refilling = true
	}
	as.mu.Unlock()

	t := &stubThread{pid: as.pid, tid: tid}
	err := as.p.seize(t)
	seized := err == nil
	var nt *stubThread
	if err == nil && refill {
		nt, err = as.p.newThread(t)
	}
	as.mu.Lock()
	if refill {
		as.refilling = false
		if nt != nil {
			as.pool = append(as.pool, nt.tid)
		}
		as.cond.Broadcast()
	}
	as.mu.Unlock()
	if err != nil {
		// A thread that cannot be seized, or a pool that cannot be
		// refilled: the stub process is broken.
		as.Release()
		if seized {
			t.wait()
		}
		return nil, err
	}
	return t, nil
}

// put returns a traced thread to the pool, untraced.
//
// Preconditions: the caller is t's tracer.
func (as *addressSpace) put(t *stubThread) {
	if err := as.p.park(t); err != nil {
		as.p.log.Warn("parking a stub thread", "err", err)
		as.Release()
		return
	}
	as.mu.Lock()
	as.pool = append(as.pool, t.tid)
	as.cond.Broadcast()
	as.mu.Unlock()
}

// isDead reports whether the space was released.
func (as *addressSpace) isDead() bool {
	as.mu.Lock()
	defer as.mu.Unlock()
	return as.dead
}

// bind records t as the thread traced by host thread tracer.
func (as *addressSpace) bind(tracer int32, t *stubThread) {
	as.mu.Lock()
	as.bound[tracer] = t
	as.mu.Unlock()
}

// unbind forgets tracer's thread and reports whether the space is alive.
func (as *addressSpace) unbind(tracer int32) bool {
	as.mu.Lock()
	defer as.mu.Unlock()
	delete(as.bound, tracer)
	return !as.dead
}

// do runs f on a thread of the space traced by the calling OS thread: its
// bound thread if it has one, else one borrowed from the pool.
func (as *addressSpace) do(f func(t *stubThread) error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	self := int32(unix.Gettid())
	as.mu.Lock()
	t, dead := as.bound[self], as.dead
	as.mu.Unlock()
	if dead {
		return platform.ErrContextDead
	}
	if t != nil {
		return f(t)
	}
	t, err := as.take()
	if err != nil {
		return err
	}
	err = f(t)
	var died *errStubDied
	if errors.As(err, &died) {
		as.Release()
		return err
	}
	as.put(t)
	return err
}

// MapFile implements platform.AddressSpace.MapFile.
func (as *addressSpace) MapFile(addr uint64, fr memmap.FileRange, at memmap.AccessType, precommit bool) error {
	flags := uint64(unix.MAP_SHARED | unix.MAP_FIXED)
	if precommit {
		flags |= unix.MAP_POPULATE
	}
	return as.do(func(t *stubThread) error {
		_, err := as.p.syscall(t, as.p.stub.syscall, unix.SYS_MMAP, addr, fr.Length(), at.Prot(), flags, uint64(as.p.memFD), fr.Start)
		return err
	})
}

// Protect implements platform.AddressSpace.Protect.
func (as *addressSpace) Protect(addr, length uint64, at memmap.AccessType) error {
	return as.do(func(t *stubThread) error {
		_, err := as.p.syscall(t, as.p.stub.syscall, unix.SYS_MPROTECT, addr, length, at.Prot())
		return err
	})
}

// Unmap implements platform.AddressSpace.Unmap.
func (as *addressSpace) Unmap(addr, length uint64) {
	err := as.do(func(t *stubThread) error {
		_, err := as.p.syscall(t, as.p.stub.syscall, unix.SYS_MUNMAP, addr, length)
		return err
	})
	if err != nil && !errors.Is(err, platform.ErrContextDead) {
		// A stub that cannot unmap may keep stale pages: kill it.
		as.p.log.Warn("unmapping in a stub failed; killing it", "stub", as.pid, "err", err)
		as.Release()
	}
}

// Release implements platform.AddressSpace.Release. The stub process is
// killed; its untraced threads are reaped by the master, traced ones by
// their tracers.
func (as *addressSpace) Release() {
	as.mu.Lock()
	if as.dead {
		as.mu.Unlock()
		return
	}
	as.dead = true
	as.cond.Broadcast()
	as.mu.Unlock()
	unix.Kill(int(as.pid), unix.SIGKILL)
}
