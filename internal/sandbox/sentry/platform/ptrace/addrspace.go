package ptrace

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/memmap"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/platform"
	"golang.org/x/sys/unix"
)

// addressSpace is one stub process.
//
// MapFile only queues the mapping; queued operations run as one batch (the
// stub's command page lists them) before any thread of the space next runs
// application code, or at once with a Protect or Unmap, which are
// synchronous. flushMu orders batches.
type addressSpace struct {
	p   *Platform
	pid int32
	// cmd is the command page (memory file), mapped at the stub's
	// cmdPage once cmdMapped.
	cmd memmap.FileRange

	flushMu   sync.Mutex
	cmdMapped bool // +checklocks:flushMu

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
	// pending are queued operations, in order.
	pending []batchEntry // +checklocks:mu
}

// batchEntry is one command-page entry: a system call and its result.
type batchEntry struct {
	nr     uint64
	args   [6]uint64
	result uint64
}

// maxBatch is how many entries fit the command page.
const maxBatch = abi.PageSize / 64

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

// MapFile implements platform.AddressSpace.MapFile: the mapping is queued
// and made before the space's threads next run.
func (as *addressSpace) MapFile(addr uint64, fr memmap.FileRange, at memmap.AccessType, precommit bool) error {
	flags := uint64(unix.MAP_SHARED | unix.MAP_FIXED)
	if precommit {
		flags |= unix.MAP_POPULATE
	}
	as.mu.Lock()
	if as.dead {
		as.mu.Unlock()
		return platform.ErrContextDead
	}
	as.pending = append(as.pending, batchEntry{nr: unix.SYS_MMAP, args: [6]uint64{addr, fr.Length(), at.Prot(), flags, uint64(as.p.memFD), fr.Start}})
	full := len(as.pending) >= maxBatch
	as.mu.Unlock()
	if full {
		return as.do(as.flush)
	}
	return nil
}

// Protect implements platform.AddressSpace.Protect.
func (as *addressSpace) Protect(addr, length uint64, at memmap.AccessType) error {
	as.mu.Lock()
	as.pending = append(as.pending, batchEntry{nr: unix.SYS_MPROTECT, args: [6]uint64{addr, length, at.Prot()}})
	as.mu.Unlock()
	return as.do(as.flush)
}

// Unmap implements platform.AddressSpace.Unmap.
func (as *addressSpace) Unmap(addr, length uint64) {
	as.mu.Lock()
	as.pending = append(as.pending, batchEntry{nr: unix.SYS_MUNMAP, args: [6]uint64{addr, length}})
	as.mu.Unlock()
	err := as.do(as.flush)
	if err != nil && !errors.Is(err, platform.ErrContextDead) {
		// A stub that cannot unmap may keep stale pages: kill it.
		as.p.log.Warn("unmapping in a stub failed; killing it", "stub", as.pid, "err", err)
		as.Release()
	}
}

// hasPending reports whether operations are queued.
func (as *addressSpace) hasPending() bool {
	as.mu.Lock()
	defer as.mu.Unlock()
	return len(as.pending) > 0
}

// flush runs the queued operations in t, a thread of the space the
// caller traces. A batch leaves the queue only once it ran, so another
// thread's hasPending stays true meanwhile and its flush waits for it
// (that thread must not run application code before the mappings are).
func (as *addressSpace) flush(t *stubThread) error {
	as.flushMu.Lock()
	defer as.flushMu.Unlock()
	for {
		as.mu.Lock()
		batch := as.pending
		if len(batch) > maxBatch {
			batch = batch[:maxBatch]
		}
		as.mu.Unlock()
		if len(batch) == 0 {
			return nil
		}
		err := as.runBatch(t, batch)
		as.mu.Lock()
		if len(as.pending) >= len(batch) { // else Release emptied it
			as.pending = as.pending[len(batch):]
			if len(as.pending) == 0 {
				as.pending = nil
			}
		}
		as.mu.Unlock()
		if err != nil {
			return err
		}
	}
}

// runBatch runs one batch: a single call directly, more through the
// command page.
//
// Preconditions: as.flushMu is held.
func (as *addressSpace) runBatch(t *stubThread, batch []batchEntry) error {
	p := as.p
	if len(batch) == 1 {
		e := batch[0]
		_, err := p.syscall(t, p.stub.syscall, uintptr(e.nr), e.args[:]...)
		return err
	}
	if !as.cmdMapped {
		if _, err := p.syscall(t, p.stub.syscall, unix.SYS_MMAP, p.stub.cmdPage(), abi.PageSize,
			unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_FIXED, uint64(p.memFD), as.cmd.Start); err != nil {
			return fmt.Errorf("mapping the command page: %w", err)
		}
		as.cmdMapped = true
	}
	page := p.mf.Bytes(as.cmd)
	for i, e := range batch {
		putEntry(page[i*64:], &e)
	}
	if err := p.runCommandPage(t, len(batch)); err != nil {
		return err
	}
	for i := range batch {
		if r := int64(binary.LittleEndian.Uint64(page[i*64+56:])); r < 0 && r > -4096 {
			return fmt.Errorf("batched %s: %w", abi.SyscallName(uintptr(batch[i].nr)), abi.Errno(-r))
		}
	}
	return nil
}

func putEntry(b []byte, e *batchEntry) {
	binary.LittleEndian.PutUint64(b[0:], e.nr)
	for i, a := range e.args {
		binary.LittleEndian.PutUint64(b[8+8*i:], a)
	}
	binary.LittleEndian.PutUint64(b[56:], 0)
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
	as.pending = nil
	as.cond.Broadcast()
	as.mu.Unlock()
	unix.Kill(int(as.pid), unix.SIGKILL)
	// A killed process runs no more application or stub instructions, so
	// its command page can go back to the memory file.
	as.p.mf.DecRef(as.cmd)
}
