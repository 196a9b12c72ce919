package vfs

import (
	"context"
	"sync"
)

// NewBytesFD returns a read-only file description over data, opened at vd
// with flags: what synthetic files (/proc, /sys) give their readers, a
// snapshot taken at open so that every read of it is consistent. data is
// not copied and must not change.
func NewBytesFD(data []byte, flags uint32, vd VirtualDentry) *FileDescription {
	fd := &bytesFD{data: data}
	fd.vfsfd.Init(fd, flags, vd)
	return &fd.vfsfd
}

// bytesFD reads a byte snapshot.
type bytesFD struct {
	FileDefaults
	vfsfd FileDescription
	data  []byte

	mu  sync.Mutex
	off int64 // +checklocks:mu
}

// Read implements FileDescriptionImpl.Read.
func (fd *bytesFD) Read(ctx context.Context, dst Dst, opts ReadOptions) (int64, error) {
	fd.mu.Lock()
	defer fd.mu.Unlock()
	n, err := fd.readAt(dst, fd.off)
	fd.off += n
	return n, err
}

// PRead implements FileDescriptionImpl.PRead.
func (fd *bytesFD) PRead(ctx context.Context, dst Dst, off int64, opts ReadOptions) (int64, error) {
	return fd.readAt(dst, off)
}

func (fd *bytesFD) readAt(dst Dst, off int64) (int64, error) {
	if off >= int64(len(fd.data)) {
		return 0, nil
	}
	n, err := dst.CopyOut(fd.data[off:])
	return int64(n), err
}

// Seek implements FileDescriptionImpl.Seek.
func (fd *bytesFD) Seek(ctx context.Context, offset int64, whence int32) (int64, error) {
	fd.mu.Lock()
	defer fd.mu.Unlock()
	n, err := SeekOffset(fd.off, int64(len(fd.data)), offset, whence)
	if err == nil {
		fd.off = n
	}
	return n, err
}
