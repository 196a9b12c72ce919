package kernel

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

// FSContext is a task's root directory, working directory and umask,
// shared by tasks cloned with CLONE_FS.
type FSContext struct {
	refs atomic.Int64

	mu    sync.Mutex
	root  vfs.VirtualDentry // +checklocks:mu
	cwd   vfs.VirtualDentry // +checklocks:mu
	umask uint32            // +checklocks:mu
}

// NewFSContext returns a context with root and cwd (taking references).
func NewFSContext(root, cwd vfs.VirtualDentry, umask uint32) *FSContext {
	root.IncRef()
	cwd.IncRef()
	f := &FSContext{root: root, cwd: cwd, umask: umask & 0o777}
	f.refs.Store(1)
	return f
}

// IncRef takes a reference.
func (f *FSContext) IncRef() { f.refs.Add(1) }

// DecRef drops a reference.
func (f *FSContext) DecRef(ctx context.Context) {
	if f.refs.Add(-1) != 0 {
		return
	}
	f.mu.Lock()
	root, cwd := f.root, f.cwd
	f.root, f.cwd = vfs.VirtualDentry{}, vfs.VirtualDentry{}
	f.mu.Unlock()
	root.DecRef(ctx)
	cwd.DecRef(ctx)
}

// Fork returns a copy (clone without CLONE_FS).
func (f *FSContext) Fork() *FSContext {
	f.mu.Lock()
	defer f.mu.Unlock()
	return NewFSContext(f.root, f.cwd, f.umask)
}

// RootAndCwd returns the root and working directory, with references.
func (f *FSContext) RootAndCwd() (root, cwd vfs.VirtualDentry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.root.IncRef()
	f.cwd.IncRef()
	return f.root, f.cwd
}

// Root returns the root directory with a reference.
func (f *FSContext) Root() vfs.VirtualDentry {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.root.IncRef()
	return f.root
}

// SetCwd changes the working directory (chdir).
func (f *FSContext) SetCwd(ctx context.Context, vd vfs.VirtualDentry) {
	vd.IncRef()
	f.mu.Lock()
	old := f.cwd
	f.cwd = vd
	f.mu.Unlock()
	old.DecRef(ctx)
}

// SetRoot changes the root directory (chroot).
func (f *FSContext) SetRoot(ctx context.Context, vd vfs.VirtualDentry) {
	vd.IncRef()
	f.mu.Lock()
	old := f.root
	f.root = vd
	f.mu.Unlock()
	old.DecRef(ctx)
}

// Umask returns the umask.
func (f *FSContext) Umask() uint32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.umask
}

// SwapUmask sets the umask and returns the old one.
func (f *FSContext) SwapUmask(mask uint32) uint32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	old := f.umask
	f.umask = mask & 0o777
	return old
}
