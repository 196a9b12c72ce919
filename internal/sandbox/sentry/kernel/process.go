package kernel

import (
	"context"
	"fmt"
	"time"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

// CreateProcessArgs describes a process the host starts in the sandbox
// (the container's first process, or `visor exec`).
type CreateProcessArgs struct {
	// Filename is the program; relative names resolve from WorkingDir.
	Filename string
	Argv     []string
	Envv     []string
	// WorkingDir is an absolute path inside the sandbox ("/" if empty).
	WorkingDir string
	// Root is the process's root directory (the mount namespace root);
	// the kernel takes its own reference.
	Root vfs.VirtualDentry
	// Credentials of the process.
	Credentials *Credentials
	// Umask is the file mode creation mask (0022 if Umask is nil... use
	// 022 explicitly).
	Umask uint32
	// Limits overrides resource limits (others keep Linux's defaults).
	Limits map[int]abi.Rlimit
	// Stdio are installed as descriptors 0, 1, 2... (nil entries are
	// skipped); the kernel takes its own references.
	Stdio []*vfs.FileDescription
	// TTY, if set, becomes the new session's controlling terminal.
	TTY *vfs.TTY
}

// CreateProcess loads and starts a process with no parent in the sandbox:
// it leads a new session, and the host collects its exit with HostWait.
// The first process created is PID 1.
func (k *Kernel) CreateProcess(ctx context.Context, args CreateProcessArgs) (*ThreadGroup, error) {
	if args.Credentials == nil {
		args.Credentials = NewCredentials(0, 0, nil)
	}
	wd := args.WorkingDir
	if wd == "" {
		wd = "/"
	}
	creds := args.Credentials
	cwd, err := k.vfs.GetDentryAt(ctx, creds.VFS(), &vfs.PathOperation{Root: args.Root, Start: args.Root, Path: wd, FollowFinalSymlink: true},
		&vfs.GetDentryOptions{CheckSearchable: true})
	if err != nil {
		return nil, fmt.Errorf("working directory %q: %w", wd, err)
	}
	fs := NewFSContext(args.Root, cwd, args.Umask)
	cwd.DecRef(ctx)
	limits := defaultLimits()
	for r, l := range args.Limits {
		if r >= 0 && r < abi.RLIM_NLIMITS {
			limits[r] = l
		}
	}
	m, img, err := k.loadImage(ctx, fs, creds, limits, args.Filename, args.Argv, args.Envv)
	if err != nil {
		fs.DecRef(ctx)
		return nil, fmt.Errorf("loading %q: %w", args.Filename, err)
	}
	img.File.DecRef(ctx)
	fdt := NewFDTable()
	for i, f := range args.Stdio {
		if f != nil {
			fdt.NewFDAt(int32(i), f, false, limits[abi.RLIMIT_NOFILE].Cur)
		}
	}

	t := &Task{
		k:           k,
		regs:        abi.PtraceRegs{Rip: img.Entry, Rsp: img.StackPointer, Eflags: 0x202, OrigRax: ^uint64(0)},
		mm:          m,
		fdTable:     fdt,
		fs:          fs,
		name:        img.Name,
		interruptCh: make(chan struct{}, 1),
		done:        make(chan struct{}),
		ctx:         k.platform.NewContext(),
	}
	t.creds.Store(creds)

	k.mu.Lock()
	pid, err := k.allocPIDLocked()
	if err != nil {
		k.mu.Unlock()
		fdt.DecRef(ctx)
		fs.DecRef(ctx)
		m.DecUsers(ctx)
		return nil, err
	}
	t.tid = pid
	tg := &ThreadGroup{
		k:          k,
		pid:        pid,
		leader:     t,
		tasks:      []*Task{t},
		children:   make(map[*ThreadGroup]struct{}),
		exitSignal: abi.SIGCHLD,
		handlers:   &SignalHandlers{},
		exited:     make(chan struct{}),
		limits:     limits,
		startTime:  time.Now(),
	}
	t.tg = tg
	t.altStack = abi.SignalStack{Flags: abi.SS_DISABLE}
	k.tasks[pid] = t
	k.tgs[pid] = tg
	if pid == 1 {
		k.init = tg
	}
	k.newSessionLocked(tg)
	if args.TTY != nil {
		if old := k.ttys[args.TTY]; old != nil {
			old.tty = nil
		}
		k.attachTTYLocked(tg.pgrp.session, args.TTY)
	}
	k.running.Add(1)
	k.mu.Unlock()
	k.log.Debug("process started", "pid", pid, "argv", args.Argv)
	go t.run()
	return tg, nil
}

// Exited returns a channel closed when the process has exited (it is a
// zombie, or reaped).
func (tg *ThreadGroup) Exited() <-chan struct{} { return tg.exited }

// ExitStatus returns the wait status of an exited process.
func (tg *ThreadGroup) ExitStatus() uint32 {
	tg.k.mu.Lock()
	defer tg.k.mu.Unlock()
	return tg.exitStatus
}

// HostWait waits until a process the host created exits, reaps it and
// returns its wait status. ctx bounds the wait.
func (k *Kernel) HostWait(ctx context.Context, tg *ThreadGroup) (uint32, error) {
	select {
	case <-tg.exited:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if tg.parent == nil {
		k.reapLocked(tg)
	}
	return tg.exitStatus, nil
}

// ProcessInfo describes a process for `ps` and /proc.
type ProcessInfo struct {
	PID, PPID, PGID, SID int32
	UID, GID             uint32
	Threads              int
	State                string
	Name                 string
	Cmdline              []string
	StartTime            time.Time
	Utime, Stime         time.Duration
}

// Processes lists the live processes.
func (k *Kernel) Processes(ctx context.Context) []ProcessInfo {
	var out []ProcessInfo
	for _, tg := range k.ThreadGroups() {
		leader := tg.Leader()
		if leader == nil {
			continue
		}
		c := leader.Credentials()
		u, s, _, _ := tg.Usage()
		out = append(out, ProcessInfo{
			PID:       tg.pid,
			PPID:      tg.ParentPID(),
			PGID:      tg.ProcessGroupID(),
			SID:       tg.SessionID(),
			UID:       c.RealUID,
			GID:       c.RealGID,
			Threads:   len(tg.Tasks()),
			State:     tg.State(),
			Name:      leader.Name(),
			Cmdline:   leader.Cmdline(ctx),
			StartTime: tg.startTime,
			Utime:     u,
			Stime:     s,
		})
	}
	return out
}

// Cmdline returns the task's arguments as its address space holds them.
func (t *Task) Cmdline(ctx context.Context) []string {
	m := t.MemoryManager()
	if m == nil {
		return nil
	}
	argv, _ := m.ArgvEnv()
	n := argv.Length()
	if n == 0 || n > 1<<20 {
		return nil
	}
	buf := make([]byte, n)
	got, _ := m.CopyIn(ctx, argv.Start, buf)
	buf = buf[:got]
	var out []string
	start := 0
	for i, c := range buf {
		if c == 0 {
			out = append(out, string(buf[start:i]))
			start = i + 1
		}
	}
	return out
}

// Kill implements kill(2)'s targeting: pid > 0 a process, 0 the caller's
// process group, -1 every process but PID 1 and the caller, < -1 the
// process group -pid. sig 0 only checks. ESRCH if nothing matched.
func (t *Task) Kill(pid int32, info *abi.SigInfo) error {
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	sig := abi.Signal(info.Signo)
	var targets []*ThreadGroup
	switch {
	case pid > 0:
		tg := k.tgs[pid]
		if tg == nil || tg.zombie {
			if tg != nil && tg.zombie {
				return nil
			}
			return abi.ESRCH
		}
		targets = []*ThreadGroup{tg}
	case pid == -1:
		for _, tg := range k.tgs {
			if tg != k.init && tg != t.tg && !tg.zombie {
				targets = append(targets, tg)
			}
		}
		if len(targets) == 0 {
			return abi.ESRCH
		}
	default:
		pgid := -pid
		if pid == 0 {
			pgid = t.tg.pgrp.id
		}
		pg := k.pgrps[pgid]
		if pg == nil {
			return abi.ESRCH
		}
		for tg := range pg.members {
			targets = append(targets, tg)
		}
	}
	var firstErr error
	sent := 0
	for _, tg := range targets {
		if !t.mayKillLocked(tg, sig) {
			firstErr = abi.EPERM
			continue
		}
		sent++
		if sig == 0 {
			continue
		}
		if err := k.sendLocked(nil, tg, info, false); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	if sent > 0 {
		return nil
	}
	return firstErr
}

// mayKillLocked applies kill(2)'s permission rule.
func (t *Task) mayKillLocked(tg *ThreadGroup, sig abi.Signal) bool {
	c := t.Credentials()
	if c.HasCap(capKill) || tg.leader == nil {
		return true
	}
	tc := tg.leader.Credentials()
	if c.EffectiveUID == tc.RealUID || c.EffectiveUID == tc.SavedUID || c.RealUID == tc.RealUID || c.RealUID == tc.SavedUID {
		return true
	}
	return sig == abi.SIGCONT && tg.pgrp.session == t.tg.pgrp.session
}

// SignalAll sends sig from the host to every process.
func (k *Kernel) SignalAll(sig abi.Signal) error {
	for _, tg := range k.ThreadGroups() {
		if err := k.SendExternalSignal(tg, sig); err != nil {
			return err
		}
	}
	return nil
}

// SetPdeathSignal sets PR_SET_PDEATHSIG (recorded; the Sentry's process
// tree delivers it when the parent exits).
func (t *Task) SetPdeathSignal(sig abi.Signal) {
	t.k.mu.Lock()
	t.pdeathSignal = sig
	t.k.mu.Unlock()
}

// PdeathSignal returns PR_GET_PDEATHSIG.
func (t *Task) PdeathSignal() abi.Signal {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	return t.pdeathSignal
}

// SetSubreaper sets PR_SET_CHILD_SUBREAPER.
func (t *Task) SetSubreaper(on bool) {
	t.k.mu.Lock()
	t.tg.subreaper = on
	t.k.mu.Unlock()
}

// Subreaper returns PR_GET_CHILD_SUBREAPER.
func (t *Task) Subreaper() bool {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	return t.tg.subreaper
}

// SetNoNewPrivs sets PR_SET_NO_NEW_PRIVS.
func (t *Task) SetNoNewPrivs() {
	t.k.mu.Lock()
	t.noNewPrivs = true
	t.k.mu.Unlock()
}

// NoNewPrivs returns PR_GET_NO_NEW_PRIVS.
func (t *Task) NoNewPrivs() bool {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	return t.noNewPrivs
}

// ParentPID returns the PID of the task's parent process (getppid).
func (t *Task) ParentPID() int32 { return t.tg.ParentPID() }
