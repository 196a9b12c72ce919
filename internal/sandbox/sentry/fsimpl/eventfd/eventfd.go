// Package eventfd implements eventfd(2) files: a 64-bit counter that
// write adds to and read takes (all of it, or one with EFD_SEMAPHORE),
// readable while non-zero and writable while below its maximum. It is at
// the vfs layer; the kernel's eventfd2 system call uses New.
package eventfd

import (
	"context"
	"encoding/binary"
	"sync"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

// Flags of eventfd2(2) this package reads (EFD_CLOEXEC is the FD table's;
// EFD_NONBLOCK is O_NONBLOCK).
const (
	// Semaphore makes each read take 1 instead of the whole count.
	Semaphore = 1
	// NonBlock is EFD_NONBLOCK.
	NonBlock = abi.O_NONBLOCK
)

// maxCount is the largest value the counter holds.
const maxCount = ^uint64(0) - 1

type eventFD struct {
	vfsfd vfs.FileDescription
	vfs.FileDefaults
	queue     vfs.WaitQueue
	semaphore bool

	mu sync.Mutex
	// count is guarded by mu.
	count uint64
}

// New returns an eventfd file with the initial count and eventfd2's
// flags (Semaphore, NonBlock).
func New(ctx context.Context, vfsObj *vfs.VirtualFilesystem, initial uint32, flags uint32) *vfs.FileDescription {
	fd := &eventFD{count: uint64(initial), semaphore: flags&Semaphore != 0}
	vd := vfsObj.NewAnonVirtualDentry("anon_inode:[eventfd]", nil)
	defer vd.DecRef(ctx)
	fd.vfsfd.Init(fd, abi.O_RDWR|flags&NonBlock, vd)
	return &fd.vfsfd
}

// Read implements vfs.FileDescriptionImpl.Read: an 8-byte count, EAGAIN
// while the counter is 0.
func (fd *eventFD) Read(ctx context.Context, dst vfs.Dst, opts vfs.ReadOptions) (int64, error) {
	if dst.NumBytes() < 8 {
		return 0, abi.EINVAL
	}
	fd.mu.Lock()
	if fd.count == 0 {
		fd.mu.Unlock()
		return 0, abi.EAGAIN
	}
	v := fd.count
	if fd.semaphore {
		v = 1
	}
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	if _, err := dst.CopyOut(b[:]); err != nil {
		fd.mu.Unlock()
		return 0, err
	}
	fd.count -= v
	fd.mu.Unlock()
	fd.queue.Notify(vfs.EventWritable)
	return 8, nil
}

// Write implements vfs.FileDescriptionImpl.Write: adds an 8-byte value,
// EAGAIN if the counter would pass its maximum, EINVAL for 2^64-1.
func (fd *eventFD) Write(ctx context.Context, src vfs.Src, opts vfs.WriteOptions) (int64, error) {
	if src.NumBytes() < 8 {
		return 0, abi.EINVAL
	}
	var b [8]byte
	if _, err := src.CopyIn(b[:]); err != nil {
		return 0, err
	}
	v := binary.LittleEndian.Uint64(b[:])
	if v == ^uint64(0) {
		return 0, abi.EINVAL
	}
	fd.mu.Lock()
	if v > maxCount-fd.count {
		fd.mu.Unlock()
		return 0, abi.EAGAIN
	}
	fd.count += v
	fd.mu.Unlock()
	if v > 0 {
		fd.queue.Notify(vfs.EventReadable)
	}
	return 8, nil
}

// Readiness implements vfs.FileDescriptionImpl.Readiness.
func (fd *eventFD) Readiness(mask vfs.EventMask) vfs.EventMask {
	fd.mu.Lock()
	defer fd.mu.Unlock()
	var r vfs.EventMask
	if fd.count > 0 {
		r |= vfs.EventReadable
	}
	if fd.count < maxCount {
		r |= vfs.EventWritable
	}
	return r & mask
}

// EventRegister implements vfs.FileDescriptionImpl.EventRegister.
func (fd *eventFD) EventRegister(e *vfs.WaitEntry) error {
	fd.queue.EventRegister(e)
	return nil
}

// EventUnregister implements vfs.FileDescriptionImpl.EventUnregister.
func (fd *eventFD) EventUnregister(e *vfs.WaitEntry) { fd.queue.EventUnregister(e) }
