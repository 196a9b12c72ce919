// Package host wraps host file descriptors donated to the Sentry — the
// container's stdio (pipes, files, a terminal), descriptors passed in by
// the host side — as vfs file descriptions. Reads and writes go to the
// host descriptor; pipes, sockets and terminals are made non-blocking and
// their readiness comes from an epoll notifier, so the kernel waits for
// them like for its own files. A terminal's termios and window-size
// ioctls pass through to the host terminal; its job control (controlling
// terminal, foreground process group) lives in the Sentry (vfs.TTY).
//
// It is at the vfs layer; boot makes one Files per Sentry.
package host

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

// Files makes file descriptions of host descriptors and watches their
// readiness. Close stops its notifier goroutine.
type Files struct {
	vfs      *vfs.VirtualFilesystem
	logger   *slog.Logger
	notifier *notifier

	mu sync.Mutex
	// ttys is guarded by mu: one vfs.TTY per host terminal, so stdin,
	// stdout and stderr on one terminal share its job control.
	ttys map[devIno]*vfs.TTY
}

type devIno struct{ dev, ino uint64 }

// New returns a Files with its notifier running.
func New(vfsObj *vfs.VirtualFilesystem, logger *slog.Logger) (*Files, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	n, err := newNotifier(logger)
	if err != nil {
		return nil, err
	}
	return &Files{vfs: vfsObj, logger: logger, notifier: n, ttys: make(map[devIno]*vfs.TTY)}, nil
}

// Close stops the notifier and waits for its goroutine.
func (f *Files) Close() error { return f.notifier.close() }

// NewFD returns a file description of hostFD, which the Sentry owns from
// now on (it is closed with the file description). Its access mode and
// status flags are the host descriptor's. name is what /proc/self/fd
// shows ("" picks "pipe:[ino]", "socket:[ino]" or "host:[ino]"; a
// terminal defaults to "/dev/console"). Pipes, sockets and terminals are
// switched to non-blocking mode on the host.
func (f *Files) NewFD(ctx context.Context, hostFD int, name string) (*vfs.FileDescription, error) {
	return f.newFD(ctx, hostFD, name, nil, nil)
}

// NewFDAt is NewFD for a host descriptor that stands for a node of the
// sandbox's tree, vd (a host terminal shown as /dev/pts/N): the file
// description is opened on vd, so fstat reports vd's inode and
// /proc/self/fd vd's path, as if the application had opened that node.
// Reads, writes and terminal ioctls still go to the host descriptor.
// onRelease, if not nil, runs once the description is released (after
// hostFD is closed). The terminal's job control (vfs.TTY) is named after
// vd's file name.
func (f *Files) NewFDAt(ctx context.Context, hostFD int, vd vfs.VirtualDentry, name string, onRelease func()) (*vfs.FileDescription, error) {
	return f.newFD(ctx, hostFD, name, &vd, onRelease)
}

func (f *Files) newFD(ctx context.Context, hostFD int, name string, at *vfs.VirtualDentry, onRelease func()) (*vfs.FileDescription, error) {
	fl, err := unix.FcntlInt(uintptr(hostFD), unix.F_GETFL, 0)
	if err != nil {
		return nil, fmt.Errorf("host fd %d: %w", hostFD, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(hostFD, &st); err != nil {
		return nil, fmt.Errorf("host fd %d: %w", hostFD, err)
	}
	typ := st.Mode & unix.S_IFMT
	fd := &fileFD{host: hostFD, typ: typ, files: f, onRelease: onRelease}
	switch typ {
	case unix.S_IFIFO, unix.S_IFSOCK, unix.S_IFCHR:
		if err := unix.SetNonblock(hostFD, true); err != nil {
			return nil, fmt.Errorf("host fd %d: making it non-blocking: %w", hostFD, err)
		}
		if err := f.notifier.add(hostFD, &fd.queue); err != nil {
			// Some character devices (/dev/null) cannot be polled: they
			// are always ready.
			fd.alwaysReady = true
		} else {
			fd.watched = true
		}
	default:
		fd.alwaysReady = true
	}
	if typ == unix.S_IFCHR {
		if _, err := unix.IoctlGetTermios(hostFD, unix.TCGETS); err == nil {
			fd.tty = f.ttyFor(ctx, devIno{st.Dev, st.Ino}, hostFD, name)
		}
	}
	if name == "" {
		name = fmt.Sprintf("host:[%d]", st.Ino)
		switch typ {
		case unix.S_IFIFO:
			name = fmt.Sprintf("pipe:[%d]", st.Ino)
		case unix.S_IFSOCK:
			name = fmt.Sprintf("socket:[%d]", st.Ino)
		}
	}
	if at != nil {
		fd.vfsfd.Init(fd, uint32(fl)&^unix.O_NONBLOCK, *at)
		return &fd.vfsfd, nil
	}
	ino := &inode{host: hostFD}
	vd := f.vfs.NewAnonVirtualDentry(name, ino)
	defer vd.DecRef(ctx)
	fd.vfsfd.Init(fd, uint32(fl)&^unix.O_NONBLOCK, vd)
	return &fd.vfsfd, nil
}

// ttyFor returns the vfs.TTY of the host terminal k.
func (f *Files) ttyFor(ctx context.Context, k devIno, hostFD int, name string) *vfs.TTY {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t, ok := f.ttys[k]; ok {
		return t
	}
	if name == "" {
		name = "/dev/console"
	}
	// /dev/tty on this terminal opens a new description of a duplicate of
	// the host descriptor.
	t := vfs.NewTTY(name, func(ctx context.Context, opts *vfs.OpenOptions) (*vfs.FileDescription, error) {
		dup, err := unix.FcntlInt(uintptr(hostFD), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return nil, abi.FromHost(err)
		}
		fd, err := f.NewFD(ctx, dup, name)
		if err != nil {
			unix.Close(dup)
			return nil, abi.EIO
		}
		return fd, nil
	})
	f.ttys[k] = t
	return t
}

// inode is what fstat of a host file reports: the host's attributes,
// with the Sentry's device number.
type inode struct {
	host int
}

// Type implements vfs.Inode.Type.
func (i *inode) Type() uint32 {
	var st unix.Stat_t
	if unix.Fstat(i.host, &st) != nil {
		return unix.S_IFREG
	}
	return st.Mode & unix.S_IFMT
}

// Stat implements vfs.Inode.Stat.
func (i *inode) Stat(ctx context.Context, mask uint32) (vfs.Statx, error) {
	var st unix.Stat_t
	if err := unix.Fstat(i.host, &st); err != nil {
		return vfs.Statx{}, abi.FromHost(err)
	}
	return vfs.Statx{
		Mask:      abi.STATX_BASIC_STATS,
		Blksize:   uint32(st.Blksize),
		Nlink:     uint32(st.Nlink),
		UID:       st.Uid,
		GID:       st.Gid,
		Mode:      st.Mode,
		Ino:       st.Ino,
		Size:      uint64(st.Size),
		Blocks:    uint64(st.Blocks),
		Atime:     vfs.Timespec{Sec: st.Atim.Sec, Nsec: st.Atim.Nsec},
		Mtime:     vfs.Timespec{Sec: st.Mtim.Sec, Nsec: st.Mtim.Nsec},
		Ctime:     vfs.Timespec{Sec: st.Ctim.Sec, Nsec: st.Ctim.Nsec},
		RdevMajor: unix.Major(st.Rdev),
		RdevMinor: unix.Minor(st.Rdev),
	}, nil
}

// SetStat implements vfs.Inode.SetStat: changes apply to the host file
// (fchmod, fchown, ftruncate, futimens).
func (i *inode) SetStat(ctx context.Context, opts *vfs.SetStatOptions) error {
	if opts.Mask&(abi.STATX_UID|abi.STATX_GID) != 0 {
		uid, gid := -1, -1
		if opts.Mask&abi.STATX_UID != 0 {
			uid = int(opts.UID)
		}
		if opts.Mask&abi.STATX_GID != 0 {
			gid = int(opts.GID)
		}
		if err := unix.Fchown(i.host, uid, gid); err != nil {
			return abi.FromHost(err)
		}
	}
	if opts.Mask&abi.STATX_MODE != 0 {
		if err := unix.Fchmod(i.host, opts.Mode); err != nil {
			return abi.FromHost(err)
		}
	}
	if opts.Mask&abi.STATX_SIZE != 0 {
		if err := unix.Ftruncate(i.host, int64(opts.Size)); err != nil {
			return abi.FromHost(err)
		}
	}
	if opts.Mask&(abi.STATX_ATIME|abi.STATX_MTIME) != 0 {
		ts := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, {Nsec: unix.UTIME_OMIT}}
		if opts.Mask&abi.STATX_ATIME != 0 {
			ts[0] = unix.Timespec{Sec: opts.Atime.Sec, Nsec: opts.Atime.Nsec}
		}
		if opts.Mask&abi.STATX_MTIME != 0 {
			ts[1] = unix.Timespec{Sec: opts.Mtime.Sec, Nsec: opts.Mtime.Nsec}
		}
		if err := futimens(i.host, ts); err != nil {
			return abi.FromHost(err)
		}
	}
	return nil
}

// CheckPermissions implements vfs.Inode.CheckPermissions: a donated
// descriptor was opened by the host; its access mode is what limits it.
func (i *inode) CheckPermissions(context.Context, *vfs.Credentials, vfs.AccessTypes) error {
	return nil
}

// Open implements vfs.Inode.Open: reopening a donated descriptor through
// /proc/self/fd gives a new description of a duplicate.
func (i *inode) Open(ctx context.Context, vd vfs.VirtualDentry, opts *vfs.OpenOptions) (*vfs.FileDescription, error) {
	return nil, abi.ENXIO
}

// DecRef implements vfs.Inode.DecRef.
func (i *inode) DecRef(context.Context) {}
