package kernel

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

// FDTable maps file descriptors to file descriptions, shared by tasks
// cloned with CLONE_FILES.
type FDTable struct {
	refs atomic.Int64

	mu sync.Mutex
	// fds is indexed by descriptor; nil entries are free.
	fds []fdEntry // +checklocks:mu
	// free is a hint: no descriptor below it is free.
	free int // +checklocks:mu
	// count is the number of open descriptors.
	count int // +checklocks:mu
}

type fdEntry struct {
	file    *vfs.FileDescription
	cloexec bool
}

// NewFDTable returns an empty table with one reference.
func NewFDTable() *FDTable {
	t := &FDTable{}
	t.refs.Store(1)
	return t
}

// IncRef takes a reference.
func (f *FDTable) IncRef() { f.refs.Add(1) }

// DecRef drops a reference; the last one closes every descriptor.
func (f *FDTable) DecRef(ctx context.Context) {
	if f.refs.Add(-1) != 0 {
		return
	}
	f.mu.Lock()
	fds := f.fds
	f.fds, f.free, f.count = nil, 0, 0
	f.mu.Unlock()
	for _, e := range fds {
		if e.file != nil {
			e.file.DecRef(ctx)
		}
	}
}

// Fork returns a copy of the table (fork without CLONE_FILES).
func (f *FDTable) Fork(ctx context.Context) *FDTable {
	n := NewFDTable()
	f.mu.Lock()
	defer f.mu.Unlock()
	n.fds = make([]fdEntry, len(f.fds))
	copy(n.fds, f.fds)
	for _, e := range n.fds {
		if e.file != nil {
			e.file.IncRef()
		}
	}
	n.free, n.count = f.free, f.count
	return n
}

// Get returns the file at fd with a reference, and its close-on-exec
// flag; EBADF if fd is not open.
func (f *FDTable) Get(fd int32) (*vfs.FileDescription, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fd < 0 || int(fd) >= len(f.fds) || f.fds[fd].file == nil {
		return nil, false, abi.EBADF
	}
	e := f.fds[fd]
	e.file.IncRef()
	return e.file, e.cloexec, nil
}

// NewFD installs file at the lowest free descriptor >= min, below limit
// (RLIMIT_NOFILE), taking a reference. EMFILE if none is free.
func (f *FDTable) NewFD(file *vfs.FileDescription, min int32, cloexec bool, limit uint64) (int32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	start := int(min)
	if start < f.free {
		start = f.free
	}
	fd := start
	for fd < len(f.fds) && f.fds[fd].file != nil {
		fd++
	}
	if uint64(fd) >= limit || fd > maxNoFile {
		return -1, abi.EMFILE
	}
	f.setLocked(fd, file, cloexec)
	if int(min) <= f.free {
		f.free = fd + 1
	}
	return int32(fd), nil
}

// NewFDAt installs file at fd (dup2/dup3), replacing and returning what
// was there (the caller drops that reference after unlocking). EBADF if fd
// is out of range of limit.
func (f *FDTable) NewFDAt(fd int32, file *vfs.FileDescription, cloexec bool, limit uint64) (*vfs.FileDescription, error) {
	if fd < 0 || uint64(fd) >= limit || int(fd) > maxNoFile {
		return nil, abi.EBADF
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var old *vfs.FileDescription
	if int(fd) < len(f.fds) {
		old = f.fds[fd].file
		if old != nil {
			f.count--
		}
	}
	f.setLocked(int(fd), file, cloexec)
	return old, nil
}

func (f *FDTable) setLocked(fd int, file *vfs.FileDescription, cloexec bool) {
	for fd >= len(f.fds) {
		f.fds = append(f.fds, fdEntry{})
	}
	file.IncRef()
	f.fds[fd] = fdEntry{file: file, cloexec: cloexec}
	f.count++
}

// Remove closes fd and returns its file for the caller to DecRef; EBADF
// if it is not open.
func (f *FDTable) Remove(fd int32) (*vfs.FileDescription, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fd < 0 || int(fd) >= len(f.fds) || f.fds[fd].file == nil {
		return nil, abi.EBADF
	}
	file := f.fds[fd].file
	f.fds[fd] = fdEntry{}
	f.count--
	if int(fd) < f.free {
		f.free = int(fd)
	}
	return file, nil
}

// SetCloexec sets fd's close-on-exec flag.
func (f *FDTable) SetCloexec(fd int32, cloexec bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fd < 0 || int(fd) >= len(f.fds) || f.fds[fd].file == nil {
		return abi.EBADF
	}
	f.fds[fd].cloexec = cloexec
	return nil
}

// CloseOnExec closes every close-on-exec descriptor (execve).
func (f *FDTable) CloseOnExec(ctx context.Context) {
	var closed []*vfs.FileDescription
	f.mu.Lock()
	for i, e := range f.fds {
		if e.file != nil && e.cloexec {
			closed = append(closed, e.file)
			f.fds[i] = fdEntry{}
			f.count--
			if i < f.free {
				f.free = i
			}
		}
	}
	f.mu.Unlock()
	for _, file := range closed {
		file.DecRef(ctx)
	}
}

// CloseRange closes descriptors first..last (close_range); with cloexec
// it only marks them close-on-exec.
func (f *FDTable) CloseRange(ctx context.Context, first, last uint32, cloexec bool) {
	var closed []*vfs.FileDescription
	f.mu.Lock()
	for i := int(first); i < len(f.fds) && uint32(i) <= last; i++ {
		e := &f.fds[i]
		if e.file == nil {
			continue
		}
		if cloexec {
			e.cloexec = true
			continue
		}
		closed = append(closed, e.file)
		*e = fdEntry{}
		f.count--
		if i < f.free {
			f.free = i
		}
	}
	f.mu.Unlock()
	for _, file := range closed {
		file.DecRef(ctx)
	}
}

// FDs returns the open descriptors in order (for /proc/[pid]/fd).
func (f *FDTable) FDs() []int32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []int32
	for i, e := range f.fds {
		if e.file != nil {
			out = append(out, int32(i))
		}
	}
	return out
}

// Count returns the number of open descriptors.
func (f *FDTable) Count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.count
}
