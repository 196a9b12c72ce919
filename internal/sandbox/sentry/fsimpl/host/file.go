package host

import (
	"context"

	"golang.org/x/sys/unix"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

// fileFD is an open host descriptor.
type fileFD struct {
	vfsfd vfs.FileDescription
	vfs.FileDefaults
	files *Files
	host  int
	typ   uint32
	// tty is set for terminals.
	tty *vfs.TTY
	// queue is notified of the host descriptor's readiness when watched.
	queue       vfs.WaitQueue
	watched     bool
	alwaysReady bool
	// onRelease runs after Release closed host (see Files.NewFDAt).
	onRelease func()
}

// Release implements vfs.FileDescriptionImpl.Release.
func (fd *fileFD) Release(context.Context) {
	if fd.watched {
		fd.files.notifier.remove(fd.host)
	}
	unix.Close(fd.host)
	if fd.onRelease != nil {
		fd.onRelease()
	}
}

func (fd *fileFD) seekable() bool { return fd.typ == unix.S_IFREG || fd.typ == unix.S_IFBLK }

// Read implements vfs.FileDescriptionImpl.Read.
func (fd *fileFD) Read(ctx context.Context, dst vfs.Dst, opts vfs.ReadOptions) (int64, error) {
	n, err := dst.CopyOutFrom(vfs.HostReadv(fd.host, -1))
	return int64(n), err
}

// PRead implements vfs.FileDescriptionImpl.PRead.
func (fd *fileFD) PRead(ctx context.Context, dst vfs.Dst, offset int64, opts vfs.ReadOptions) (int64, error) {
	if !fd.seekable() {
		return 0, abi.ESPIPE
	}
	n, err := dst.CopyOutFrom(vfs.HostReadv(fd.host, offset))
	return int64(n), err
}

// Write implements vfs.FileDescriptionImpl.Write.
func (fd *fileFD) Write(ctx context.Context, src vfs.Src, opts vfs.WriteOptions) (int64, error) {
	n, err := src.CopyInTo(vfs.HostWritev(fd.host, -1))
	return int64(n), err
}

// PWrite implements vfs.FileDescriptionImpl.PWrite.
func (fd *fileFD) PWrite(ctx context.Context, src vfs.Src, offset int64, opts vfs.WriteOptions) (int64, error) {
	if !fd.seekable() {
		return 0, abi.ESPIPE
	}
	n, err := src.CopyInTo(vfs.HostWritev(fd.host, offset))
	return int64(n), err
}

// Seek implements vfs.FileDescriptionImpl.Seek: the host keeps the offset.
func (fd *fileFD) Seek(ctx context.Context, offset int64, whence int32) (int64, error) {
	if !fd.seekable() {
		return 0, abi.ESPIPE
	}
	off, err := unix.Seek(fd.host, offset, int(whence))
	return off, abi.FromHost(err)
}

// Fsync implements vfs.FileDescriptionImpl.Fsync.
func (fd *fileFD) Fsync(ctx context.Context) error {
	if err := unix.Fsync(fd.host); err != nil && err != unix.EINVAL {
		return abi.FromHost(err)
	}
	return nil
}

// Readiness implements vfs.FileDescriptionImpl.Readiness by polling the
// host descriptor.
func (fd *fileFD) Readiness(mask vfs.EventMask) vfs.EventMask {
	if fd.alwaysReady {
		return mask & vfs.AlwaysReady
	}
	pfd := []unix.PollFd{{Fd: int32(fd.host), Events: int16(mask)}}
	if n, err := unix.Poll(pfd, 0); err != nil || n == 0 {
		return 0
	}
	return vfs.EventMask(uint16(pfd[0].Revents)) & (mask | vfs.EventErr | vfs.EventHUp)
}

// EventRegister implements vfs.FileDescriptionImpl.EventRegister.
func (fd *fileFD) EventRegister(e *vfs.WaitEntry) error {
	fd.queue.EventRegister(e)
	return nil
}

// EventUnregister implements vfs.FileDescriptionImpl.EventUnregister.
func (fd *fileFD) EventUnregister(e *vfs.WaitEntry) { fd.queue.EventUnregister(e) }

// Ioctl implements vfs.FileDescriptionImpl.Ioctl: job control in the
// Sentry; termios, window size and FIONREAD on the host.
func (fd *fileFD) Ioctl(ctx context.Context, mem vfs.UserMemory, cmd uint32, arg uintptr) (uintptr, error) {
	if fd.tty != nil {
		if handled, err := vfs.JobControlIoctl(ctx, mem, fd.tty, cmd, arg); handled {
			return 0, err
		}
	}
	var size int
	in, out := false, false
	switch cmd {
	case abi.FIONREAD:
		size, out = 4, true
	case abi.TCGETS:
		if fd.tty == nil {
			return 0, abi.ENOTTY
		}
		size, out = termiosSize, true
	case abi.TCSETS, abi.TCSETSW, abi.TCSETSF:
		if fd.tty == nil {
			return 0, abi.ENOTTY
		}
		size, in = termiosSize, true
	case abi.TIOCGWINSZ:
		if fd.tty == nil {
			return 0, abi.ENOTTY
		}
		size, out = winsizeSize, true
	case abi.TIOCSWINSZ:
		if fd.tty == nil {
			return 0, abi.ENOTTY
		}
		size, in = winsizeSize, true
	case abi.TCFLSH, abi.TCSBRK, abi.TCXONC:
		if fd.tty == nil {
			return 0, abi.ENOTTY
		}
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd.host), uintptr(cmd), arg)
		if errno != 0 {
			return 0, abi.FromHost(errno)
		}
		return 0, nil
	default:
		return 0, abi.ENOTTY
	}
	buf := make([]byte, size)
	if in {
		if _, err := mem.CopyIn(arg, buf); err != nil {
			return 0, err
		}
	}
	if err := ioctlPtr(fd.host, cmd, buf); err != nil {
		return 0, abi.FromHost(err)
	}
	if cmd == abi.TIOCSWINSZ {
		fd.tty.SignalForeground(abi.SIGWINCH)
	}
	if out {
		if _, err := mem.CopyOut(arg, buf); err != nil {
			return 0, err
		}
	}
	return 0, nil
}

// Sizes of the kernel's struct termios and struct winsize.
const (
	termiosSize = 4*4 + 1 + abi.NCCS
	winsizeSize = 8
)
