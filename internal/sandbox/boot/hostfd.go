package boot

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

// hostFile is a file description over a host descriptor the Sentry was
// given for a process's standard I/O (a pipe or terminal the host set
// up). It never opens anything on the host: the descriptor is handed in.
// Reads and writes happen only when poll(2) says they will not block, so a
// task waiting on it stays interruptible.
type hostFile struct {
	vfs.FileDefaults
	vfsfd vfs.FileDescription
	fd    int

	mu      sync.Mutex
	pollers map[*vfs.WaitEntry]chan struct{} // +checklocks:mu
	wg      sync.WaitGroup
}

// newHostFile wraps a duplicate of host descriptor fd.
func newHostFile(ctx context.Context, v *vfs.VirtualFilesystem, fd int, flags uint32) (*vfs.FileDescription, error) {
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("duplicating host descriptor %d: %w", fd, err)
	}
	f := &hostFile{fd: nfd, pollers: make(map[*vfs.WaitEntry]chan struct{})}
	vd := v.NewAnonVirtualDentry(fmt.Sprintf("host:[%d]", fd), nil)
	defer vd.DecRef(ctx)
	f.vfsfd.Init(f, flags, vd)
	return &f.vfsfd, nil
}

func (f *hostFile) poll(events int16, timeout int) int16 {
	fds := []unix.PollFd{{Fd: int32(f.fd), Events: events}}
	for {
		n, err := unix.Poll(fds, timeout)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			return 0
		}
		return fds[0].Revents
	}
}

// Release implements vfs.FileDescriptionImpl.Release.
func (f *hostFile) Release(ctx context.Context) {
	f.mu.Lock()
	for e, stop := range f.pollers {
		close(stop)
		delete(f.pollers, e)
	}
	f.mu.Unlock()
	f.wg.Wait()
	unix.Close(f.fd)
}

// Read implements vfs.FileDescriptionImpl.Read.
func (f *hostFile) Read(ctx context.Context, dst vfs.Dst, opts vfs.ReadOptions) (int64, error) {
	if f.poll(unix.POLLIN, 0) == 0 {
		return 0, abi.EAGAIN
	}
	n, err := dst.CopyOutFrom(vfs.HostReadv(f.fd, -1))
	if err == abi.EAGAIN && n > 0 {
		err = nil
	}
	return int64(n), err
}

// Write implements vfs.FileDescriptionImpl.Write.
func (f *hostFile) Write(ctx context.Context, src vfs.Src, opts vfs.WriteOptions) (int64, error) {
	var total int64
	for src.NumBytes() > 0 {
		if f.poll(unix.POLLOUT, 0) == 0 {
			if total > 0 {
				return total, abi.EAGAIN
			}
			return 0, abi.EAGAIN
		}
		n, err := src.CopyInTo(vfs.HostWritev(f.fd, -1))
		total += int64(n)
		if err != nil {
			return total, err
		}
		if n == 0 {
			break
		}
	}
	return total, nil
}

// Readiness implements vfs.FileDescriptionImpl.Readiness.
func (f *hostFile) Readiness(mask vfs.EventMask) vfs.EventMask {
	return vfs.EventMask(uint16(f.poll(int16(mask), 0))) & (mask | vfs.EventErr | vfs.EventHUp)
}

// EventRegister implements vfs.FileDescriptionImpl.EventRegister: a
// goroutine polls the host descriptor until it is ready or e is
// unregistered.
func (f *hostFile) EventRegister(e *vfs.WaitEntry) error {
	stop := make(chan struct{})
	f.mu.Lock()
	f.pollers[e] = stop
	f.mu.Unlock()
	q := &vfs.WaitQueue{}
	q.EventRegister(e)
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		defer q.EventUnregister(e)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if r := f.poll(int16(e.Mask()), 50); r != 0 {
				q.Notify(vfs.EventMask(uint16(r)))
				// Wait to be unregistered, or poll again later if
				// the waiter did not consume the readiness.
				select {
				case <-stop:
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
		}
	}()
	return nil
}

// EventUnregister implements vfs.FileDescriptionImpl.EventUnregister.
func (f *hostFile) EventUnregister(e *vfs.WaitEntry) {
	f.mu.Lock()
	stop, ok := f.pollers[e]
	delete(f.pollers, e)
	f.mu.Unlock()
	if ok {
		close(stop)
	}
}

// Ioctl implements vfs.FileDescriptionImpl.Ioctl: terminal queries are
// answered for a host terminal, so programs see a TTY when there is one.
func (f *hostFile) Ioctl(ctx context.Context, mem vfs.UserMemory, cmd uint32, arg uintptr) (uintptr, error) {
	switch cmd {
	case abi.TCGETS:
		tio, err := unix.IoctlGetTermios(f.fd, unix.TCGETS)
		if err != nil {
			return 0, abi.ENOTTY
		}
		var t abi.Termios
		t.Iflag, t.Oflag, t.Cflag, t.Lflag, t.Line = tio.Iflag, tio.Oflag, tio.Cflag, tio.Lflag, tio.Line
		copy(t.CC[:], tio.Cc[:])
		_, err = mem.CopyOut(arg, abi.AsBytes(&t))
		return 0, err
	case abi.TIOCGWINSZ:
		ws, err := unix.IoctlGetWinsize(f.fd, unix.TIOCGWINSZ)
		if err != nil {
			return 0, abi.ENOTTY
		}
		w := abi.Winsize{Row: ws.Row, Col: ws.Col, Xpixel: ws.Xpixel, Ypixel: ws.Ypixel}
		_, err = mem.CopyOut(arg, abi.AsBytes(&w))
		return 0, err
	}
	return 0, abi.ENOTTY
}
