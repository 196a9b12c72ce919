// Package boot builds one Sentry: memory file, platform, virtual file
// system with its root and /dev and /proc, kernel and system call table,
// and exposes what the host side of visor needs: start the first process,
// run more processes in the running sandbox, signal and wait for them, list
// them, read the ENOSYS counts, and confine the Sentry with seccomp. It is
// the only package that wires the Sentry's layers together; cmd/visor's
// `boot` command and tests use it.
package boot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/fsimpl/devfs"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/fsimpl/devpts"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/fsimpl/host"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/fsimpl/tmpfs"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/kernel"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/memmap"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/mm/pgalloc"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/platform"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/platform/platforms"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/syscalls/linux"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

// RootFunc builds the sandbox's root file system on v. It returns the file
// system and its root dentry, each with a reference the Sentry takes over.
// Tests use a tmpfs filled from a host directory (RootFromHostDir); the
// Gofer-backed root plugs in here.
type RootFunc func(ctx context.Context, v *vfs.VirtualFilesystem, mf memmap.MemoryFile) (*vfs.Filesystem, *vfs.Dentry, error)

// Config holds a Sentry's settings.
type Config struct {
	// Platform names the platform ("ptrace", the default).
	Platform string
	// MemoryFileSize bounds application memory (default 64 GiB of
	// address space, committed on use).
	MemoryFileSize uint64
	// TotalMemory is what sysinfo and /proc/meminfo report (default: the
	// memory file size).
	TotalMemory uint64
	// NumCPU is the CPU count shown to applications (default: the host's).
	NumCPU int
	// Hostname is the sandbox's UTS hostname.
	Hostname string
	// Strace logs every system call (Debug level).
	Strace bool
	// ReadOnlyRoot mounts the root read-only.
	ReadOnlyRoot bool
	// Logger receives the Sentry's messages.
	Logger *slog.Logger
}

// Deps are a Sentry's collaborators.
type Deps struct {
	// Root builds the root file system.
	Root RootFunc
}

// Sentry is one running user-space kernel.
type Sentry struct {
	log      *slog.Logger
	mf       *pgalloc.MemoryFile
	platform platform.Platform
	vfs      *vfs.VirtualFilesystem
	mntns    *vfs.MountNamespace
	table    *linux.Table
	kernel   *kernel.Kernel
	// hostFiles wraps the host descriptors given as stdio.
	hostFiles *host.Files
	// pts is the devpts instance mounted on /dev/pts, where host
	// terminals given as stdio appear (hostTerminalFD).
	pts *vfs.Filesystem

	termMu sync.Mutex
	// term is the adopted host terminal (see adoptHostTerminal).
	term *hostTerminal // +checklocks:termMu
	// closed is set once Shutdown began: no terminal is adopted then.
	closed bool // +checklocks:termMu
}

// New builds a Sentry. Nothing runs until Start.
func New(ctx context.Context, cfg Config, deps Deps) (s *Sentry, err error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if deps.Root == nil {
		return nil, errors.New("boot: no root file system given")
	}
	s = &Sentry{log: log}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	s.mf, err = pgalloc.New(pgalloc.Config{Size: cfg.MemoryFileSize})
	if err != nil {
		return nil, err
	}
	s.platform, err = platforms.New(cfg.Platform, platforms.Config{MemoryFD: s.mf.FD(), MemoryFile: s.mf, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("starting the %q platform: %w", cfg.Platform, err)
	}
	s.vfs = vfs.New(vfs.Config{Logger: log})
	if err := s.vfs.RegisterFilesystemType(tmpfs.FilesystemType{MemoryFile: s.mf}); err != nil {
		return nil, err
	}
	if err := s.vfs.RegisterFilesystemType(devpts.FilesystemType{}); err != nil {
		return nil, err
	}
	s.hostFiles, err = host.New(s.vfs, log)
	if err != nil {
		return nil, err
	}
	memfds := tmpfs.NewMemfdFS(s.vfs, s.mf)
	if err := devfs.RegisterDevices(s.vfs, devfs.Deps{Memfds: memfds}); err != nil {
		return nil, fmt.Errorf("registering devices: %w", err)
	}
	rootFS, rootD, err := deps.Root(ctx, s.vfs, s.mf)
	if err != nil {
		return nil, fmt.Errorf("building the root file system: %w", err)
	}
	s.mntns = s.vfs.NewMountNamespaceFrom(rootFS, rootD, "none", vfs.MountFlags{ReadOnly: cfg.ReadOnlyRoot})
	if err := s.mountSystem(ctx); err != nil {
		return nil, err
	}
	s.table = linux.New(linux.Config{Strace: cfg.Strace, Logger: log}, linux.Deps{Memfds: memfds})
	s.kernel, err = kernel.New(kernel.Config{
		Hostname:    cfg.Hostname,
		TotalMemory: cfg.TotalMemory,
		NumCPU:      cfg.NumCPU,
		Logger:      log,
	}, kernel.Deps{
		Platform:   s.platform,
		MemoryFile: s.mf,
		VFS:        s.vfs,
		Syscalls:   s.table,
	})
	if err != nil {
		return nil, err
	}
	if err := s.mountProc(ctx); err != nil {
		return nil, err
	}
	log.Info("sentry ready", "platform", s.platform.Name())
	return s, nil
}

// mountSystem mounts /dev with /dev/pts and /dev/shm (and creates /dev if the root lacks it and is
// writable).
func (s *Sentry) mountSystem(ctx context.Context) error {
	root := s.mntns.Root()
	defer root.DecRef(ctx)
	creds := vfs.RootCredentials()
	pop := func(p string) *vfs.PathOperation {
		return &vfs.PathOperation{Root: root, Start: root, Path: p, FollowFinalSymlink: true}
	}
	for _, dir := range []string{"/dev", "/proc", "/tmp"} {
		err := s.vfs.MkdirAt(ctx, creds, pop(dir), &vfs.MkdirOptions{Mode: 0o755})
		if err != nil && err != abi.EEXIST && err != abi.EROFS {
			return fmt.Errorf("creating %s: %w", dir, err)
		}
	}
	devFS, devRoot, err := devfs.New(ctx, s.vfs, s.mf)
	if err != nil {
		return fmt.Errorf("building /dev: %w", err)
	}
	if _, err := s.vfs.ConnectMountAt(ctx, creds, devFS, devRoot, "devtmpfs", pop("/dev"), vfs.MountFlags{NoSuid: true}); err != nil {
		return fmt.Errorf("mounting /dev: %w", err)
	}
	pts, ptsRoot := devpts.New(s.vfs)
	s.pts = pts
	if _, err := s.vfs.ConnectMountAt(ctx, creds, pts, ptsRoot, "devpts", pop("/dev/pts"), vfs.MountFlags{NoSuid: true, NoExec: true}); err != nil {
		return fmt.Errorf("mounting /dev/pts: %w", err)
	}
	shm, shmRoot := tmpfs.New(s.vfs, s.mf, tmpfs.Options{Mode: 0o1777})
	if _, err := s.vfs.ConnectMountAt(ctx, creds, shm, shmRoot, "shm", pop("/dev/shm"), vfs.MountFlags{NoSuid: true, NoDev: true}); err != nil {
		return fmt.Errorf("mounting /dev/shm: %w", err)
	}
	return nil
}

// Kernel returns the Sentry's kernel (for tests and /proc wiring).
func (s *Sentry) Kernel() *kernel.Kernel { return s.kernel }

// VFS returns the Sentry's virtual file system.
func (s *Sentry) VFS() *vfs.VirtualFilesystem { return s.vfs }

// Root returns the root of the sandbox's mount namespace, with a
// reference.
func (s *Sentry) Root() vfs.VirtualDentry { return s.mntns.Root() }

// ProcessSpec describes a process to run in the sandbox.
type ProcessSpec struct {
	// Argv[0] is the program path unless Filename is set.
	Argv     []string
	Filename string
	Env      []string
	// Cwd is an absolute path in the sandbox ("/" if empty).
	Cwd string
	// UID, GID and AdditionalGIDs are the process's identity.
	UID, GID       uint32
	AdditionalGIDs []uint32
	// Umask (022 if zero; set UmaskSet for an explicit 0).
	Umask    uint32
	UmaskSet bool
	// Rlimits override resource limits (RLIMIT_* -> limit).
	Rlimits map[int]abi.Rlimit
	// Stdio are host descriptors for fds 0, 1, 2 (nil: /dev/null). The
	// Sentry uses duplicates; the caller keeps and closes its files. Host
	// pipes, sockets and terminals are switched to non-blocking mode
	// (fsimpl/host).
	Stdio [3]*os.File
	// Terminal says Stdio[0] is a host terminal (a pty slave) that
	// becomes the controlling terminal of the process's new session, so
	// a shell on it gets job control. The first such terminal also
	// becomes the Sentry process's own controlling terminal if it can
	// (it leads a session without one), and the signals the host sends
	// for it (Ctrl-C, Ctrl-\, Ctrl-Z, SIGWINCH, SIGHUP) go to the
	// terminal's foreground process group in the sandbox.
	Terminal bool
}

// Process is a process the host started in the sandbox.
type Process struct {
	s  *Sentry
	tg *kernel.ThreadGroup
}

// PID returns the process's PID inside the sandbox.
func (p *Process) PID() int32 { return p.tg.PID() }

// Wait waits for the process to exit and returns its wait status (exit
// code << 8, or the signal number for a kill, as waitpid reports).
func (p *Process) Wait(ctx context.Context) (WaitStatus, error) {
	st, err := p.s.kernel.HostWait(ctx, p.tg)
	return WaitStatus(st), err
}

// Signal sends sig to the process from the host.
func (p *Process) Signal(sig abi.Signal) error { return p.s.kernel.SendExternalSignal(p.tg, sig) }

// WaitStatus is a wait(2) status word.
type WaitStatus uint32

// Exited reports whether the process exited normally.
func (w WaitStatus) Exited() bool { return w&0x7f == 0 }

// ExitCode returns the exit code of an exited process.
func (w WaitStatus) ExitCode() int { return int(w>>8) & 0xff }

// Signaled reports whether the process was killed by a signal.
func (w WaitStatus) Signaled() bool { return w&0x7f != 0 && w&0x7f != 0x7f }

// Signal returns the signal that killed the process.
func (w WaitStatus) Signal() abi.Signal { return abi.Signal(w & 0x7f) }

// ShellExitCode is the code a shell reports: the exit code, or 128 plus
// the signal number.
func (w WaitStatus) ShellExitCode() int {
	if w.Signaled() {
		return 128 + int(w.Signal())
	}
	return w.ExitCode()
}

// Start runs the sandbox's first process (PID 1). A terminal it is given
// is also bound on /dev/console.
func (s *Sentry) Start(ctx context.Context, spec ProcessSpec) (*Process, error) {
	return s.exec(ctx, spec, true)
}

// Exec runs another process in the running sandbox (`visor exec`).
func (s *Sentry) Exec(ctx context.Context, spec ProcessSpec) (*Process, error) {
	return s.exec(ctx, spec, false)
}

func (s *Sentry) exec(ctx context.Context, spec ProcessSpec, console bool) (*Process, error) {
	if len(spec.Argv) == 0 && spec.Filename == "" {
		return nil, errors.New("no program to run")
	}
	filename := spec.Filename
	if filename == "" {
		var err error
		if filename, err = s.FindProgram(ctx, spec.Argv[0], spec.Env, spec.Cwd); err != nil {
			return nil, err
		}
	}
	var stdio []*vfs.FileDescription
	defer func() {
		for _, f := range stdio {
			if f != nil {
				f.DecRef(ctx)
			}
		}
	}()
	var term *vfs.FileDescription
	if spec.Terminal && spec.Stdio[0] != nil {
		// The terminal appears as /dev/pts/N and the process's stdio are
		// opened there (one description for all three, as runc dups the
		// slave), so ttyname(3) finds it; the first process's terminal
		// is also bound on /dev/console, as runc does.
		var err error
		if term, err = s.hostTerminalFD(ctx, spec.Stdio[0], console); err != nil {
			s.log.Info("host terminal not shown in /dev/pts: ttyname will not find it", "err", err)
			term = nil
		}
	}
	for i, f := range spec.Stdio {
		var fd *vfs.FileDescription
		var err error
		switch {
		case term != nil && (i == 0 || sameFile(f, spec.Stdio[0])):
			fd = term
			if i > 0 {
				fd.IncRef()
			}
		case f == nil:
			fd, err = s.openDevNull(ctx)
		default:
			fd, err = s.hostFile(ctx, f)
		}
		if err != nil {
			return nil, fmt.Errorf("setting up fd %d: %w", len(stdio), err)
		}
		stdio = append(stdio, fd)
	}
	var tty *vfs.TTY
	if spec.Terminal {
		if t, ok := stdio[0].Impl().(interface{ TTY() *vfs.TTY }); ok {
			tty = t.TTY()
		}
		if tty == nil {
			return nil, errors.New("terminal requested but stdin is not a host terminal")
		}
	}
	umask := spec.Umask
	if !spec.UmaskSet && umask == 0 {
		umask = 0o022
	}
	root := s.mntns.Root()
	defer root.DecRef(ctx)
	tg, err := s.kernel.CreateProcess(ctx, kernel.CreateProcessArgs{
		Filename:    filename,
		Argv:        spec.Argv,
		Envv:        spec.Env,
		WorkingDir:  spec.Cwd,
		Root:        root,
		Credentials: kernel.NewCredentials(spec.UID, spec.GID, spec.AdditionalGIDs),
		Umask:       umask,
		Limits:      spec.Rlimits,
		Stdio:       stdio,
		TTY:         tty,
	})
	if err != nil {
		return nil, err
	}
	if tty != nil {
		s.adoptHostTerminal(spec.Stdio[0], tty)
	}
	return &Process{s: s, tg: tg}, nil
}

// defaultPath is searched for a program name without a slash when the
// environment has no PATH (runc's default).
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// ProgramError says why a process's program cannot be run. Its message is
// runc's (Go's exec.LookPath): `exec: "name": executable file not found in
// $PATH`, `exec: "/bin/x": stat /bin/x: no such file or directory`,
// `exec: "/bin": permission denied`.
type ProgramError struct {
	// Name is the program as the process spec gave it.
	Name string
	// Err is the cause: ErrNotInPath, a *StatError, or abi.EACCES.
	Err error
}

// Error implements error.
func (e *ProgramError) Error() string { return fmt.Sprintf("exec: %q: %v", e.Name, e.Err) }

// Unwrap returns the cause.
func (e *ProgramError) Unwrap() error { return e.Err }

// ErrNotInPath is a ProgramError's cause for a name without a slash that
// no directory of PATH holds as an executable file.
var ErrNotInPath = errors.New("executable file not found in $PATH")

// StatError is a ProgramError's cause when the program's path does not
// resolve in the sandbox.
type StatError struct {
	Path string
	Err  error
}

// Error implements error.
func (e *StatError) Error() string { return fmt.Sprintf("stat %s: %v", e.Path, e.Err) }

// Unwrap returns the errno.
func (e *StatError) Unwrap() error { return e.Err }

// FindProgram resolves a process's program as runc does before it runs
// it: a name without a slash is searched in env's PATH (runc's default
// PATH if unset), the first regular file with an execute bit wins; a path
// with a slash is taken as it is (relative to cwd) and must be a regular
// file with an execute bit. The walk happens in the sandbox's tree. The
// error is a *ProgramError.
func (s *Sentry) FindProgram(ctx context.Context, name string, env []string, cwd string) (string, error) {
	root := s.mntns.Root()
	defer root.DecRef(ctx)
	stat := func(p string) (vfs.Statx, error) {
		if !path.IsAbs(p) {
			p = path.Join("/", cwd, p)
		}
		return s.vfs.StatAt(ctx, vfs.RootCredentials(), &vfs.PathOperation{Root: root, Start: root, Path: p, FollowFinalSymlink: true}, abi.STATX_TYPE|abi.STATX_MODE)
	}
	executable := func(st vfs.Statx) bool { return st.Mode&abi.S_IFMT == abi.S_IFREG && st.Mode&0o111 != 0 }
	if name == "" {
		return "", &ProgramError{Name: name, Err: ErrNotInPath}
	}
	if strings.Contains(name, "/") {
		st, err := stat(name)
		if err != nil {
			return "", &ProgramError{Name: name, Err: &StatError{Path: name, Err: err}}
		}
		if !executable(st) {
			return "", &ProgramError{Name: name, Err: abi.EACCES}
		}
		return name, nil
	}
	pathVar := defaultPath
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathVar = v
		}
	}
	for _, dir := range strings.Split(pathVar, ":") {
		if !strings.HasPrefix(dir, "/") {
			continue
		}
		p := path.Join(dir, name)
		if st, err := stat(p); err == nil && executable(st) {
			return p, nil
		}
	}
	return "", &ProgramError{Name: name, Err: ErrNotInPath}
}

// hostFile wraps a duplicate of the host descriptor of f.
func (s *Sentry) hostFile(ctx context.Context, f *os.File) (*vfs.FileDescription, error) {
	dup, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	fd, err := s.hostFiles.NewFD(ctx, dup, "")
	if err != nil {
		unix.Close(dup)
		return nil, err
	}
	return fd, nil
}

func (s *Sentry) openDevNull(ctx context.Context) (*vfs.FileDescription, error) {
	root := s.mntns.Root()
	defer root.DecRef(ctx)
	return s.vfs.OpenAt(ctx, vfs.RootCredentials(), &vfs.PathOperation{Root: root, Start: root, Path: "/dev/null", FollowFinalSymlink: true},
		&vfs.OpenOptions{Flags: abi.O_RDWR})
}

// SignalAll sends sig from the host to every process in the sandbox.
func (s *Sentry) SignalAll(sig abi.Signal) error { return s.kernel.SignalAll(sig) }

// SignalProcess sends sig from the host to process pid.
func (s *Sentry) SignalProcess(pid int32, sig abi.Signal) error {
	tg := s.kernel.ThreadGroupWithID(pid)
	if tg == nil {
		return abi.ESRCH
	}
	return s.kernel.SendExternalSignal(tg, sig)
}

// Processes lists the sandbox's processes (for `visor ps`).
func (s *Sentry) Processes(ctx context.Context) []kernel.ProcessInfo { return s.kernel.Processes(ctx) }

// Events returns the unimplemented system calls the application made, with
// counts (for `visor events`).
func (s *Sentry) Events() []linux.ENOSYSCount { return s.table.ENOSYSCounts() }

// Shutdown kills every process, waits for them and releases the Sentry's
// host resources.
func (s *Sentry) Shutdown(ctx context.Context) {
	s.releaseHostTerminal()
	s.kernel.KillAll()
	s.close()
}

func (s *Sentry) close() {
	if s.mntns != nil {
		s.mntns.DecRef(context.Background())
		s.mntns = nil
	}
	if s.hostFiles != nil {
		s.hostFiles.Close()
		s.hostFiles = nil
	}
	if s.platform != nil {
		s.platform.Close()
		s.platform = nil
	}
	if s.mf != nil {
		s.mf.Close()
		s.mf = nil
	}
}
