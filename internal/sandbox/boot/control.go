package boot

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/bootconfig"
	"github.com/podvisor/podvisor/internal/sandbox/control"
)

// Controller serves the control protocol (internal/sandbox/control) for a
// Sentry: `visor start`, `exec`, `kill`, `wait`, `ps` and `events` reach
// the Sentry through it. cmd/visor's boot command wires it to the control
// socket.
type Controller struct {
	s          *Sentry
	first      bootconfig.Process
	firstStdio [3]*os.File

	mu sync.Mutex
	// firstProc is the container's first process once started.
	firstProc *Process // +checklocks:mu
	// killedBeforeStart is the signal that ended a created container.
	killedBeforeStart abi.Signal // +checklocks:mu
	// procs are the processes started through the controller, by PID;
	// statuses keeps exit statuses of those already waited for.
	procs    map[int32]*Process              // +checklocks:mu
	statuses map[int32]bootconfig.ExitStatus // +checklocks:mu
	// firstDone is closed when the first process has exited or the
	// container was killed before it started.
	firstDone chan struct{}
}

var _ control.Handler = (*Controller)(nil)

// NewController returns the control handler for s, whose first process is
// first with standard I/O stdio (host descriptors the Controller takes
// over).
func NewController(s *Sentry, first bootconfig.Process, stdio [3]*os.File) *Controller {
	return &Controller{
		s:          s,
		first:      first,
		firstStdio: stdio,
		procs:      make(map[int32]*Process),
		statuses:   make(map[int32]bootconfig.ExitStatus),
		firstDone:  make(chan struct{}),
	}
}

// SpecFromBootconfig converts a bootconfig process to a ProcessSpec.
func SpecFromBootconfig(p bootconfig.Process, stdio [3]*os.File) ProcessSpec {
	spec := ProcessSpec{
		Argv:           p.Args,
		Env:            p.Env,
		Cwd:            p.Cwd,
		UID:            p.User.UID,
		GID:            p.User.GID,
		AdditionalGIDs: p.User.AdditionalGIDs,
		Stdio:          stdio,
		Terminal:       p.Terminal,
	}
	if p.User.Umask != nil {
		spec.Umask, spec.UmaskSet = *p.User.Umask, true
	}
	if len(p.Rlimits) > 0 {
		spec.Rlimits = make(map[int]abi.Rlimit)
		for _, r := range p.Rlimits {
			spec.Rlimits[r.Resource] = abi.Rlimit{Cur: r.Soft, Max: r.Hard}
		}
	}
	return spec
}

// Done is closed when the container's first process has exited, or the
// container was killed before it started: `visor boot` then records the
// status (Wait with pid 0) and exits.
func (c *Controller) Done() <-chan struct{} { return c.firstDone }

// Start implements control.Handler.Start.
func (c *Controller) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.firstProc != nil || c.killedBeforeStart != 0 {
		return fmt.Errorf("starting the container: %w", control.ErrState)
	}
	p, err := c.s.Start(ctx, SpecFromBootconfig(c.first, c.firstStdio))
	for _, f := range c.firstStdio {
		if f != nil {
			f.Close()
		}
	}
	if err != nil {
		return fmt.Errorf("starting %q: %w", c.first.Args, err)
	}
	c.firstProc = p
	c.procs[p.PID()] = p
	go func() {
		<-p.tg.Exited()
		close(c.firstDone)
	}()
	return nil
}

// Exec implements control.Handler.Exec.
func (c *Controller) Exec(ctx context.Context, p bootconfig.Process, stdio [3]*os.File) (int32, error) {
	defer func() {
		for _, f := range stdio {
			if f != nil {
				f.Close()
			}
		}
	}()
	c.mu.Lock()
	started := c.firstProc != nil
	c.mu.Unlock()
	if !started {
		return 0, fmt.Errorf("exec before start: %w", control.ErrState)
	}
	if len(p.Args) == 0 {
		return 0, fmt.Errorf("exec: no program: %w", control.ErrInvalid)
	}
	proc, err := c.s.Exec(ctx, SpecFromBootconfig(p, stdio))
	if err != nil {
		return 0, fmt.Errorf("exec %q: %w", p.Args, err)
	}
	c.mu.Lock()
	c.procs[proc.PID()] = proc
	c.mu.Unlock()
	return proc.PID(), nil
}

// Signal implements control.Handler.Signal.
func (c *Controller) Signal(ctx context.Context, req control.SignalRequest) error {
	sig := abi.Signal(req.Signal)
	if !sig.Valid() {
		return fmt.Errorf("signal %d: %w", req.Signal, control.ErrInvalid)
	}
	c.mu.Lock()
	if c.firstProc == nil {
		if req.All || req.PID == 0 {
			if c.killedBeforeStart == 0 {
				c.killedBeforeStart = sig
				close(c.firstDone)
			}
			c.mu.Unlock()
			return nil
		}
		c.mu.Unlock()
		return fmt.Errorf("signal before start: %w", control.ErrState)
	}
	c.mu.Unlock()
	if req.All {
		return c.s.SignalAll(sig)
	}
	pid := req.PID
	if pid == 0 {
		pid = c.firstProc.PID()
	}
	if err := c.s.SignalProcess(pid, sig); err != nil {
		return fmt.Errorf("signal %d to %d: %w", req.Signal, pid, control.ErrNoProcess)
	}
	return nil
}

// Wait implements control.Handler.Wait.
func (c *Controller) Wait(ctx context.Context, pid int32) (bootconfig.ExitStatus, error) {
	c.mu.Lock()
	if pid == 0 {
		if c.firstProc == nil && c.killedBeforeStart == 0 {
			c.mu.Unlock()
			// Wait for Start (or a kill before it).
			select {
			case <-c.firstDone:
			case <-ctx.Done():
				return bootconfig.ExitStatus{}, ctx.Err()
			}
			c.mu.Lock()
		}
		if c.killedBeforeStart != 0 {
			sig := c.killedBeforeStart
			c.mu.Unlock()
			return bootconfig.ExitStatus{Signal: int(sig)}, nil
		}
		pid = c.firstProc.PID()
	}
	if st, ok := c.statuses[pid]; ok {
		c.mu.Unlock()
		return st, nil
	}
	p := c.procs[pid]
	c.mu.Unlock()
	if p == nil {
		return bootconfig.ExitStatus{}, fmt.Errorf("wait for %d: %w", pid, control.ErrNoProcess)
	}
	ws, err := p.Wait(ctx)
	if err != nil {
		return bootconfig.ExitStatus{}, err
	}
	st := bootconfig.ExitStatus{Code: ws.ExitCode()}
	if ws.Signaled() {
		st = bootconfig.ExitStatus{Signal: int(ws.Signal())}
	}
	c.mu.Lock()
	c.statuses[pid] = st
	c.mu.Unlock()
	return st, nil
}

// Processes implements control.Handler.Processes.
func (c *Controller) Processes(ctx context.Context) ([]control.Process, error) {
	var out []control.Process
	for _, p := range c.s.Processes(ctx) {
		out = append(out, control.Process{
			PID:     p.PID,
			PPID:    p.PPID,
			UID:     p.UID,
			State:   p.State,
			TTY:     "?",
			Started: p.StartTime,
			CPU:     p.Utime + p.Stime,
			Cmd:     strings.Join(p.Cmdline, " "),
		})
	}
	return out, nil
}

// Events implements control.Handler.Events.
func (c *Controller) Events(ctx context.Context) (control.Events, error) {
	var ev control.Events
	for _, e := range c.s.Events() {
		ev.ENOSYS = append(ev.ENOSYS, control.SyscallCount{Nr: int(e.Sysno), Name: e.Name, Count: e.Count})
	}
	threads := 0
	for _, p := range c.s.Processes(ctx) {
		ev.Stats.Processes++
		threads += p.Threads
		ev.Stats.CPU += p.Utime + p.Stime
	}
	ev.Stats.Threads = threads
	ev.Stats.MemoryBytes = c.s.mf.UsedBytes()
	ev.Stats.Syscalls = c.s.table.Calls()
	return ev, nil
}
