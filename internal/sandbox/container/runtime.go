package container

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/podvisor/podvisor/internal/sandbox/bootconfig"
	"github.com/podvisor/podvisor/internal/sandbox/cgroup"
	"github.com/podvisor/podvisor/internal/sandbox/console"
	"github.com/podvisor/podvisor/internal/sandbox/control"
)

// Config is the runtime's configuration, from the CLI's global flags.
type Config struct {
	// Root is the state root (--root), e.g. /run/visor.
	Root string
	// Binary is the visor executable started as `visor boot` and `visor
	// gofer`; os.Executable() if empty.
	Binary string
	// LogPath (--log) also receives the sandbox processes' logs; without
	// it they go to <root>/<id>/sandbox.log.
	LogPath string
	// LogFormat is "text" or "json".
	LogFormat string
	// Debug and Strace are passed to the Sentry.
	Debug, Strace bool
	// Platform is the Sentry's platform ("ptrace" if empty).
	Platform string
	// CgroupRoot is where cgroup file systems are mounted
	// (cgroup.DefaultRoot if empty).
	CgroupRoot string
	// StartTimeout bounds how long Create waits for the Sentry's
	// handshake; 30s if zero.
	StartTimeout time.Duration
}

// Runtime runs containers for one state root.
type Runtime struct {
	cfg Config
	log *slog.Logger
}

// New returns a runtime and makes sure its root exists.
func New(cfg Config, log *slog.Logger) (*Runtime, error) {
	if cfg.Root == "" {
		return nil, errors.New("runtime root is empty")
	}
	root, err := filepath.Abs(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("runtime root %s: %w", cfg.Root, err)
	}
	cfg.Root = root
	if cfg.Binary == "" {
		if cfg.Binary, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("finding the visor binary: %w", err)
		}
	}
	if cfg.LogFormat == "" {
		cfg.LogFormat = "text"
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 30 * time.Second
	}
	if err := os.MkdirAll(cfg.Root, 0o711); err != nil {
		return nil, fmt.Errorf("creating runtime root: %w", err)
	}
	return &Runtime{cfg: cfg, log: log}, nil
}

// CreateOptions are the per-container flags of `visor create` and `run`.
type CreateOptions struct {
	// Bundle is the bundle directory.
	Bundle string
	// PIDFile receives the sandbox's host PID (written atomically).
	PIDFile string
	// ConsoleSocket receives the pty master of a terminal container.
	ConsoleSocket string
	// KeepConsole keeps the pty master for the caller (foreground `run`
	// with a terminal and no console socket) instead of sending it.
	KeepConsole bool
	// Stdio is the application's stdin, stdout and stderr when it has no
	// terminal; nil entries are /dev/null.
	Stdio [3]*os.File
	// TestOnlyOpenHostFile is passed to the Sentry as
	// bootconfig.Config.TestOnlyOpenHostFile (tests of confinement only).
	TestOnlyOpenHostFile string
}

// Created is a sandbox just created by this process, which is its
// parent: Wait reaps it. Close releases what is held without waiting.
type Created struct {
	// ID and PID are the container and the sandbox's host PID.
	ID  string
	PID int
	// Console is the pty master if CreateOptions.KeepConsole was set.
	Console *os.File
	l       *launch
}

// Wait blocks until the sandbox exits and returns the container's exit
// status: what the Sentry recorded, else what the kernel says about the
// boot process (a Sentry killed by a signal).
func (r *Runtime) Wait(ctx context.Context, c *Created) (bootconfig.ExitStatus, error) {
	select {
	case <-c.l.exited:
	case <-ctx.Done():
		return bootconfig.ExitStatus{}, ctx.Err()
	}
	if s, ok := r.exitStatus(c.ID); ok {
		return s, nil
	}
	st := c.l.boot.ProcessState
	if st == nil {
		return bootconfig.ExitStatus{}, fmt.Errorf("sandbox of %s: %v", c.ID, c.l.waitErr)
	}
	ws := st.Sys().(unix.WaitStatus)
	if ws.Signaled() {
		return bootconfig.ExitStatus{Signal: int(ws.Signal())}, nil
	}
	return bootconfig.ExitStatus{Code: ws.ExitStatus()}, nil
}

// Create makes container id from a bundle: validates config.json, starts
// the gofer and the Sentry, and returns once the Sentry answers. The
// container is then "created": its process has not started.
func (r *Runtime) Create(ctx context.Context, id string, opts CreateOptions) (*Created, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	b, err := LoadBundle(opts.Bundle, id)
	if err != nil {
		return nil, err
	}
	if b.Boot.Process.Terminal && opts.ConsoleSocket == "" && !opts.KeepConsole {
		return nil, fmt.Errorf("%w: process.terminal is set: give --console-socket (or run in the foreground)", ErrBadSpec)
	}
	if !b.Boot.Process.Terminal && opts.ConsoleSocket != "" {
		return nil, fmt.Errorf("%w: --console-socket given but process.terminal is false", ErrBadSpec)
	}
	lk, err := r.lock(id, true, true)
	if err != nil {
		return nil, err
	}
	defer unlock(lk)
	dir := r.dir(id)
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("%w: %s", ErrExist, id)
		}
		return nil, fmt.Errorf("creating state directory: %w", err)
	}
	c, err := r.create(ctx, id, dir, b, &opts)
	if err != nil {
		r.cleanupFailedCreate(id, b)
		return nil, fmt.Errorf("creating container %s: %w", id, err)
	}
	return c, nil
}

func (r *Runtime) create(ctx context.Context, id, dir string, b *Bundle, opts *CreateOptions) (*Created, error) {
	st := &state{
		ID: id, Bundle: b.Dir, Rootfs: b.Rootfs, Annotations: b.Spec.Annotations,
		Created: time.Now().UTC(), Owner: owner(), Status: specs.StateCreating,
		CgroupPath: b.CgroupPath, Process: b.Boot.Process,
	}
	if h := b.Spec.Hooks; h != nil && (len(h.Poststart) > 0 || len(h.Poststop) > 0) {
		st.Hooks = &specs.Hooks{Poststart: h.Poststart, Poststop: h.Poststop}
	}
	if err := r.save(st); err != nil {
		return nil, err
	}
	cg, err := r.cgroup(b.CgroupPath)
	if err != nil {
		return nil, err
	}
	var res *specs.LinuxResources
	if b.Spec.Linux != nil {
		res = b.Spec.Linux.Resources
	}
	if err := cg.Create(res); err != nil {
		return nil, err
	}
	l, err := r.spawn(b, dir, cg, opts)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			l.kill()
			if l.master != nil {
				l.master.Close()
			}
		}
	}()
	if st.Sandbox, err = procOf(l.boot.Process.Pid); err != nil {
		return nil, err
	}
	if st.Gofer, err = procOf(l.gofer.Process.Pid); err != nil {
		return nil, err
	}
	if err := r.save(st); err != nil {
		return nil, err
	}
	if l.master != nil && opts.ConsoleSocket != "" {
		if err := console.SendMaster(opts.ConsoleSocket, l.master); err != nil {
			return nil, err
		}
		l.master.Close()
		l.master = nil
	}
	if err := r.handshake(ctx, dir, l); err != nil {
		return nil, err
	}
	spec := r.ociState(st, specs.StateCreating)
	if h := b.Spec.Hooks; h != nil {
		if err := runHooks(ctx, "createRuntime", h.CreateRuntime, spec); err != nil {
			return nil, err
		}
		if err := runHooks(ctx, "prestart", h.Prestart, spec); err != nil {
			return nil, err
		}
	}
	if opts.PIDFile != "" {
		if err := writeAtomic(absPath(opts.PIDFile), []byte(strconv.Itoa(st.Sandbox.PID)), 0o644); err != nil {
			return nil, fmt.Errorf("writing pid file: %w", err)
		}
	}
	st.Status = specs.StateCreated
	if err := r.save(st); err != nil {
		return nil, err
	}
	ok = true
	r.log.Info("container created", "container", id, "pid", st.Sandbox.PID)
	return &Created{ID: id, PID: st.Sandbox.PID, Console: l.master, l: l}, nil
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

func owner() string {
	if u, err := user.LookupId(strconv.Itoa(os.Getuid())); err == nil {
		return u.Username
	}
	return strconv.Itoa(os.Getuid())
}

func (r *Runtime) cgroup(path string) (*cgroup.Manager, error) {
	return cgroup.New(cgroup.Config{Root: r.cfg.CgroupRoot, Path: path})
}

// cleanupFailedCreate removes what a failed Create left. Precondition: the
// lock is held (and is removed here).
func (r *Runtime) cleanupFailedCreate(id string, b *Bundle) {
	if cg, err := r.cgroup(b.CgroupPath); err == nil {
		if err := cg.Destroy(); err != nil {
			r.log.Error("cgroup not removed", "container", id, "err", err)
		}
	}
	os.RemoveAll(r.dir(id))
	os.Remove(r.lockPath(id))
}

// Start starts the created container's first process.
func (r *Runtime) Start(ctx context.Context, id string) error {
	lk, err := r.lock(id, true, false)
	if err != nil {
		return err
	}
	defer unlock(lk)
	st, err := r.load(id)
	if err != nil {
		return err
	}
	if s := r.status(st); s != specs.StateCreated {
		return fmt.Errorf("%w: cannot start container %s: it is %s, not created", ErrWrongState, id, s)
	}
	cl, err := r.dial(ctx, id)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := cl.Start(ctx); err != nil {
		return fmt.Errorf("starting container %s: %w", id, err)
	}
	st.Status = specs.StateRunning
	if err := r.save(st); err != nil {
		return err
	}
	if st.Hooks != nil && len(st.Hooks.Poststart) > 0 {
		if err := runHooks(ctx, "poststart", st.Hooks.Poststart, r.ociState(st, specs.StateRunning)); err != nil {
			return err
		}
	}
	r.log.Info("container started", "container", id)
	return nil
}

func (r *Runtime) dial(ctx context.Context, id string) (*control.Client, error) {
	cl, err := control.Dial(ctx, filepath.Join(r.dir(id), controlSock))
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", id, err)
	}
	return cl, nil
}

// Info is what `visor state` and `visor list` show.
type Info struct {
	specs.State
	Rootfs  string    `json:"rootfs"`
	Created time.Time `json:"created"`
	Owner   string    `json:"owner"`
	// Exit is the container's exit status once stopped, if known.
	Exit *bootconfig.ExitStatus `json:"exit,omitempty"`
}

func (r *Runtime) ociState(st *state, status specs.ContainerState) specs.State {
	s := specs.State{Version: specs.Version, ID: st.ID, Status: status, Bundle: st.Bundle, Annotations: st.Annotations}
	if status != specs.StateStopped {
		s.Pid = st.Sandbox.PID
	}
	return s
}

// State reports the container's state.
func (r *Runtime) State(id string) (*Info, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	lk, err := r.lock(id, false, false)
	if err != nil {
		return nil, err
	}
	defer unlock(lk)
	st, err := r.load(id)
	if err != nil {
		return nil, err
	}
	status := r.status(st)
	info := &Info{State: r.ociState(st, status), Rootfs: st.Rootfs, Created: st.Created, Owner: st.Owner}
	if s, ok := r.exitStatus(id); ok {
		info.Exit = &s
	}
	return info, nil
}

// List reports every container under the root, by ID.
func (r *Runtime) List() ([]*Info, error) {
	ents, err := os.ReadDir(r.cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("reading runtime root: %w", err)
	}
	var out []*Info
	for _, e := range ents {
		if !e.IsDir() || ValidateID(e.Name()) != nil {
			continue
		}
		info, err := r.State(e.Name())
		if errors.Is(err, ErrNotExist) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, info)
	}
	return out, nil
}

// Kill sends sig to the container's first process, or to all of its
// processes.
func (r *Runtime) Kill(ctx context.Context, id string, sig unix.Signal, all bool) error {
	cl, err := r.connect(ctx, id, "send a signal to", specs.StateCreated, specs.StateRunning)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := cl.Signal(ctx, 0, all, int(sig)); err != nil {
		return fmt.Errorf("signalling container %s: %w", id, err)
	}
	return nil
}

// connect checks the container's status under a shared lock and returns a
// control client; the lock is released before the (possibly long)
// conversation.
func (r *Runtime) connect(ctx context.Context, id, what string, ok ...specs.ContainerState) (*control.Client, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	lk, err := r.lock(id, false, false)
	if err != nil {
		return nil, err
	}
	defer unlock(lk)
	st, err := r.load(id)
	if err != nil {
		return nil, err
	}
	s := r.status(st)
	allowed := false
	for _, o := range ok {
		allowed = allowed || s == o
	}
	if !allowed {
		return nil, fmt.Errorf("%w: cannot %s container %s: it is %s", ErrWrongState, what, id, s)
	}
	return r.dial(ctx, id)
}

// Delete removes a stopped (or created) container; with force it kills a
// running one first. Everything goes: processes, cgroup, state directory,
// lock file.
func (r *Runtime) Delete(ctx context.Context, id string, force bool) error {
	if err := ValidateID(id); err != nil {
		return err
	}
	lk, err := r.lock(id, true, false)
	if err != nil {
		return err
	}
	defer unlock(lk)
	st, err := r.load(id)
	if errors.Is(err, ErrNotExist) {
		// A lock file without state: a create that died early.
		os.RemoveAll(r.dir(id))
		os.Remove(r.lockPath(id))
		return err
	}
	if err != nil {
		if !force {
			return err
		}
		st = &state{ID: id}
	}
	if s := r.status(st); s == specs.StateRunning && !force {
		return fmt.Errorf("%w: cannot delete container %s: it is running (stop it first or use --force)", ErrWrongState, id)
	}
	return r.destroy(ctx, st)
}

// destroy kills and removes everything of the container. Precondition:
// the exclusive lock is held.
func (r *Runtime) destroy(ctx context.Context, st *state) error {
	for _, p := range []proc{st.Sandbox, st.Gofer} {
		if p.alive() {
			unix.Kill(p.PID, unix.SIGKILL)
		}
	}
	var errs []error
	if st.CgroupPath != "" {
		cg, err := r.cgroup(st.CgroupPath)
		if err == nil {
			err = cg.Destroy()
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	// The cgroup is empty now, so the processes are gone; make sure
	// anyway for a container whose cgroup could not be read.
	for _, p := range []proc{st.Sandbox, st.Gofer} {
		if err := waitGone(p); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(r.dir(st.ID)); err != nil {
		errs = append(errs, fmt.Errorf("removing state directory: %w", err))
	}
	if st.Hooks != nil && len(st.Hooks.Poststop) > 0 {
		// Poststop hook failures are logged, not fatal (runtime-spec).
		if err := runHooks(ctx, "poststop", st.Hooks.Poststop, r.ociState(st, specs.StateStopped)); err != nil {
			r.log.Warn("poststop hook failed", "container", st.ID, "err", err)
		}
	}
	if err := os.Remove(r.lockPath(st.ID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, fmt.Errorf("removing lock: %w", err))
	}
	if len(errs) > 0 {
		return fmt.Errorf("deleting container %s: %w", st.ID, errors.Join(errs...))
	}
	r.log.Info("container deleted", "container", st.ID)
	return nil
}

// waitGone waits until p has exited (SIGKILL was sent).
func waitGone(p proc) error {
	deadline := time.Now().Add(10 * time.Second)
	for p.alive() {
		if time.Now().After(deadline) {
			return fmt.Errorf("process %d survived SIGKILL", p.PID)
		}
		unix.Kill(p.PID, unix.SIGKILL)
		time.Sleep(2 * time.Millisecond)
	}
	return nil
}

// Close releases what a Created holds (the pty master, the reaping of its
// gofer) without waiting for the sandbox.
func (c *Created) Close() {
	if c.Console != nil {
		c.Console.Close()
	}
}
