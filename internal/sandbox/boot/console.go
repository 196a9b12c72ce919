package boot

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/fsimpl/devpts"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

// hostPty is a host terminal shown in the sandbox's /dev/pts: the node
// keeps a duplicate of the host descriptor and every open of it wraps
// another duplicate. The node goes away when the last description opened
// on it is released, except the first process's terminal (the
// container's console), which stays until the Sentry shuts down.
type hostPty struct {
	s     *Sentry
	index uint32

	mu sync.Mutex
	// fd is the duplicate the node holds, -1 once it is gone.
	fd int // +checklocks:mu
	// opens counts the live descriptions opened on the node.
	opens int // +checklocks:mu
}

// open implements devpts.HostOpener.
func (p *hostPty) open(ctx context.Context, vd vfs.VirtualDentry, flags uint32) (*vfs.FileDescription, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fd < 0 {
		return nil, abi.EIO
	}
	dup, err := unix.FcntlInt(uintptr(p.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, abi.FromHost(err)
	}
	fd, err := p.s.hostFiles.NewFDAt(ctx, dup, vd, "/dev/pts/"+strconv.FormatUint(uint64(p.index), 10), p.released)
	if err != nil {
		unix.Close(dup)
		return nil, abi.EIO
	}
	p.opens++
	return fd, nil
}

// released is called as a description opened on the node is released.
func (p *hostPty) released() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.opens--
	if p.opens == 0 {
		p.removeLocked()
	}
}

// removeLocked takes the node out of /dev/pts and closes its descriptor.
// Preconditions: p.mu is held.
func (p *hostPty) removeLocked() {
	if p.fd < 0 {
		return
	}
	devpts.RemoveHostTerminal(p.s.pts, p.index)
	unix.Close(p.fd)
	p.fd = -1
}

// hostTerminalFD shows the host terminal f as /dev/pts/N in the sandbox
// (the lowest free N, as a terminal made in the container's own devpts
// gets under runc) and returns a file description opened on that node for
// the process's stdio: isatty, ttyname (`tty` prints /dev/pts/N, and
// /proc/self/fd/0 links there) and TIOCGWINSZ work as on Linux; reads,
// writes and termios go to the host terminal. With console set, the node
// is also bound on /dev/console, as runc binds the container's terminal
// there.
func (s *Sentry) hostTerminalFD(ctx context.Context, f *os.File, console bool) (*vfs.FileDescription, error) {
	if s.pts == nil {
		return nil, fmt.Errorf("no devpts instance")
	}
	dup, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("duplicating the terminal: %w", err)
	}
	p := &hostPty{s: s, fd: dup}
	idx, err := devpts.AddHostTerminal(s.pts, p.open)
	if err != nil {
		unix.Close(dup)
		return nil, err
	}
	p.index = idx
	root := s.mntns.Root()
	defer root.DecRef(ctx)
	creds := vfs.RootCredentials()
	name := "/dev/pts/" + strconv.FormatUint(uint64(idx), 10)
	fd, err := s.vfs.OpenAt(ctx, creds, specPath(root, name), &vfs.OpenOptions{Flags: abi.O_RDWR | abi.O_NOCTTY})
	if err != nil {
		p.mu.Lock()
		p.removeLocked()
		p.mu.Unlock()
		return nil, fmt.Errorf("opening %s: %w", name, err)
	}
	if console {
		// The container's terminal stays for the sandbox's life, as
		// under runc (where the pty master outlives what the process
		// closes): /dev/console and /dev/pts/N keep working after the
		// first process closed its stdio.
		p.mu.Lock()
		p.opens++
		p.mu.Unlock()
		if err := s.bindConsole(ctx, root, name); err != nil {
			s.log.Info("terminal not bound on /dev/console", "err", err)
		}
	}
	return fd, nil
}

// bindConsole binds the terminal node name on /dev/console (made as an
// empty file if missing).
func (s *Sentry) bindConsole(ctx context.Context, root vfs.VirtualDentry, name string) error {
	creds := vfs.RootCredentials()
	target := specPath(root, "/dev/console")
	if _, err := s.vfs.StatAt(ctx, creds, target, abi.STATX_TYPE); err != nil {
		f, err := s.vfs.OpenAt(ctx, creds, target, &vfs.OpenOptions{Flags: abi.O_RDONLY | abi.O_CREAT | abi.O_NOCTTY, Mode: 0o600})
		if err != nil {
			return fmt.Errorf("making /dev/console: %w", err)
		}
		f.DecRef(ctx)
	}
	if _, err := s.vfs.BindAt(ctx, creds, specPath(root, name), target, vfs.MountFlags{NoSuid: true, NoExec: true}); err != nil {
		return fmt.Errorf("binding %s on /dev/console: %w", name, err)
	}
	return nil
}

// sameFile reports whether the host files a and b are the same file (the
// pty slave given as stdin, stdout and stderr).
func sameFile(a, b *os.File) bool {
	if a == nil || b == nil {
		return false
	}
	var sa, sb unix.Stat_t
	if unix.Fstat(int(a.Fd()), &sa) != nil || unix.Fstat(int(b.Fd()), &sb) != nil {
		return false
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino
}
