// Package ptrace is the ptrace platform: application code runs in stub
// processes, host processes that map nothing but a two-page stub and the
// application's memory (ranges of the Sentry's memory file). Each task's
// goroutine traces its own stub thread with PTRACE_SYSEMU, so every system
// call the application makes stops the thread before the host executes it
// and comes to the Sentry instead; faults come back as signals.
//
// Stub processes are forked by a master stub, itself forked once from the
// Sentry at start-up (see master.go); new stub threads are made by
// injecting clone into a traced stub thread. Stub threads not bound to a
// task wait untraced in a park loop, so any Sentry thread can seize one
// without handing work to another thread. Stubs die with the Sentry
// (PR_SET_PDEATHSIG on the master and the stubs, PTRACE_O_EXITKILL on every
// traced thread) and run under a seccomp filter that allows only what the
// stub code and the injected calls need.
//
// Only the platforms package (and tests) import it; it imports abi, memmap
// and platform.
//
// Lock order: addressSpace.mu is a leaf; context fields are owned by the
// context's OS thread.
package ptrace

import (
	"fmt"
	"log/slog"
	"runtime"
	"sync"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/memmap"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/platform"
	"golang.org/x/sys/unix"
)

// Config configures the ptrace platform.
type Config struct {
	// MemoryFD is the Sentry's memory file; stubs map ranges of it.
	MemoryFD int
	// MemoryFile allocates each stub's command page.
	MemoryFile memmap.MemoryFile
	// Logger receives lifecycle messages.
	Logger *slog.Logger
}

// Platform is the ptrace platform.
type Platform struct {
	log       *slog.Logger
	memFD     int
	mf        memmap.MemoryFile
	sentryPID int
	stub      *stubLayout
	master    *master

	// initOnce guards initRegs, fpSize and initFP, captured from the
	// first stub thread seized.
	initOnce sync.Once
	initRegs abi.PtraceRegs
	fpSize   int
	initFP   []byte
}

var _ platform.Platform = (*Platform)(nil)

// New starts the ptrace platform: it installs the stub pages, forks the
// master stub and checks that a stub can be created and traced.
func New(cfg Config) (*Platform, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := quietChildStops(); err != nil {
		return nil, fmt.Errorf("setting SA_NOCLDSTOP on SIGCHLD: %w", err)
	}
	l, err := installStub()
	if err != nil {
		return nil, err
	}
	m, err := startMaster(l, cfg.MemoryFD)
	if err != nil {
		return nil, err
	}
	if cfg.MemoryFile == nil {
		m.close()
		return nil, fmt.Errorf("ptrace platform: no memory file")
	}
	p := &Platform{log: log, memFD: cfg.MemoryFD, mf: cfg.MemoryFile, sentryPID: unix.Getpid(), stub: l, master: m}
	if err := p.probe(); err != nil {
		m.close()
		return nil, fmt.Errorf("starting a stub process: %w", err)
	}
	log.Info("ptrace platform ready", "stub", fmt.Sprintf("%#x", l.start), "master", m.pid, "fpsize", p.fpSize)
	return p, nil
}

// probe creates one stub, seizes it and measures the floating-point state
// size, then destroys it.
func (p *Platform) probe() error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	pid, _, err := p.master.newStub()
	if err != nil {
		return err
	}
	t := &stubThread{pid: pid, tid: pid}
	defer func() {
		unix.Kill(int(pid), unix.SIGKILL)
		t.wait()
	}()
	if err := p.seize(t); err != nil {
		return err
	}
	buf := make([]byte, 1<<16)
	n, err := getXState(t.tid, buf)
	if err != nil {
		return fmt.Errorf("reading the XSAVE state of %v: %w", t, err)
	}
	if n < abi.FXSaveSize+64 {
		return fmt.Errorf("XSAVE state of %d bytes is too small", n)
	}
	p.fpSize = n
	// The initial state: x87 and SSE in their reset configuration,
	// everything else in its init state (xstate_bv selects x87|SSE).
	fp := make([]byte, n)
	fp[0], fp[1] = 0x7f, 0x03 // FCW 0x037f
	mxcsr := uint32(0x1f80)
	fp[24], fp[25], fp[26], fp[27] = byte(mxcsr), byte(mxcsr>>8), 0, 0
	fp[512] = 0x3
	if err := setXState(t.tid, fp); err != nil {
		return fmt.Errorf("writing the initial XSAVE state: %w", err)
	}
	// Read it back: the kernel fills the software-reserved bytes a
	// signal frame needs.
	if _, err := getXState(t.tid, fp); err != nil {
		return fmt.Errorf("reading the initial XSAVE state: %w", err)
	}
	p.initFP = fp
	return nil
}

// Name implements platform.Platform.Name.
func (p *Platform) Name() string { return "ptrace" }

// MinUserAddress implements platform.Platform.MinUserAddress.
func (p *Platform) MinUserAddress() uint64 { return 0x10000 }

// MaxUserAddress implements platform.Platform.MaxUserAddress.
func (p *Platform) MaxUserAddress() uint64 { return p.stub.cmdPage() }

// FPStateSize implements platform.Platform.FPStateSize.
func (p *Platform) FPStateSize() int { return p.fpSize }

// NewAddressSpace implements platform.Platform.NewAddressSpace.
func (p *Platform) NewAddressSpace() (platform.AddressSpace, error) {
	pid, spare, err := p.master.newStub()
	if err != nil {
		return nil, err
	}
	cmd, err := p.mf.Allocate(abi.PageSize)
	if err != nil {
		unix.Kill(int(pid), unix.SIGKILL)
		return nil, fmt.Errorf("allocating a command page: %w", err)
	}
	pool := []int32{pid}
	if spare > 0 {
		pool = []int32{spare, pid}
	}
	as := &addressSpace{p: p, pid: pid, cmd: cmd, pool: pool, bound: make(map[int32]*stubThread)}
	as.cond.L = &as.mu
	return as, nil
}

// NewContext implements platform.Platform.NewContext.
func (p *Platform) NewContext() platform.Context {
	return &context{p: p}
}

// Close implements platform.Platform.Close.
func (p *Platform) Close() error {
	p.master.close()
	return nil
}
