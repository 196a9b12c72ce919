package vfs

import (
	"context"
	"sync"
	"sync/atomic"
)

// FilesystemImpl is the file-system-wide part of a file system.
type FilesystemImpl interface {
	// Name returns the file system type as /proc/mounts shows it ("tmpfs").
	Name() string
	// StatFS returns the file system's statistics (statfs(2)).
	StatFS(ctx context.Context) (Statfs, error)
	// Release is called once, when the last mount of the file system is
	// gone and every dentry was destroyed.
	Release(ctx context.Context)
}

// MountOptionsShower is implemented by file systems that show mount
// options in /proc/mounts beyond the mount flags ("size=64m,mode=755").
type MountOptionsShower interface {
	MountOptions() string
}

// FilesystemType makes file systems of one type: the argument of
// mount(2)'s fstype, registered with VirtualFilesystem.RegisterFilesystemType.
type FilesystemType interface {
	// Name returns the type's name ("tmpfs").
	Name() string
	// GetFilesystem returns a file system with one reference and its root
	// dentry with one reference, both for the caller (usually a new
	// mount). source and opts are mount(2)'s source and data.
	GetFilesystem(ctx context.Context, vfsObj *VirtualFilesystem, creds *Credentials, source string, opts GetFilesystemOptions) (*Filesystem, *Dentry, error)
}

// GetFilesystemOptions is what a FilesystemType gets besides the source.
type GetFilesystemOptions struct {
	// Data is mount(2)'s data argument, typically "key=value,...".
	Data string
	// InternalData is set by the Sentry itself (never by an application):
	// a Gofer client, an overlay's layers.
	InternalData any
}

// FilesystemOptions tunes a new Filesystem.
type FilesystemOptions struct {
	// MaxCachedDentries bounds how many unreferenced dentries stay cached;
	// beyond it the least recently used are evicted (their Inode's DecRef
	// is called). 0 keeps every dentry cached.
	MaxCachedDentries int
	// NegativeDentries caches names a lookup did not find, so repeated
	// misses (a shell searching $PATH) cost no call into the file system.
	// Only for file systems whose names change through the VFS alone.
	NegativeDentries bool
}

// Filesystem is one file system instance, mounted zero or more times.
type Filesystem struct {
	vfs       *VirtualFilesystem
	impl      FilesystemImpl
	devMinor  uint32
	maxCached int
	negative  bool
	refs      atomic.Int64
	// root is set by SetRoot, before the file system is used.
	root *Dentry

	cacheMu sync.Mutex
	// lruHead (most recent) and lruTail, lruLen are guarded by cacheMu.
	lruHead, lruTail *Dentry
	lruLen           int
	// releasing is guarded by cacheMu: set when the last reference is
	// dropped, so every cached dentry is evicted.
	releasing bool
}

// NewFilesystem returns a new file system instance with one reference,
// implemented by impl. The file system must call SetRoot before returning
// it from GetFilesystem.
func (vfs *VirtualFilesystem) NewFilesystem(impl FilesystemImpl, opts FilesystemOptions) *Filesystem {
	fs := &Filesystem{
		vfs:       vfs,
		impl:      impl,
		devMinor:  vfs.allocDevMinor(),
		maxCached: opts.MaxCachedDentries,
		negative:  opts.NegativeDentries,
	}
	fs.refs.Store(1)
	return fs
}

// SetRoot makes inode (which carries a reference for the dentry) the
// file system's root and returns the root dentry with one reference for
// the caller; the file system holds another until it is released.
func (fs *Filesystem) SetRoot(inode Inode) *Dentry {
	d := fs.newDentry(inode, nil, "")
	d.fixed = true
	d.refs.Store(2)
	fs.root = d
	return d
}

// Impl returns the file system's implementation.
func (fs *Filesystem) Impl() FilesystemImpl { return fs.impl }

// VirtualFilesystem returns the VFS fs belongs to.
func (fs *Filesystem) VirtualFilesystem() *VirtualFilesystem { return fs.vfs }

// Root returns the root dentry, without a reference.
func (fs *Filesystem) Root() *Dentry { return fs.root }

// Dev returns the device number (major 0, an anonymous minor) that
// st_dev shows for the file system's files.
func (fs *Filesystem) Dev() (major, minor uint32) { return 0, fs.devMinor }

// CachedDentries returns how many unused dentries the file system's cache
// holds (for metrics and tests).
func (fs *Filesystem) CachedDentries() int {
	fs.cacheMu.Lock()
	defer fs.cacheMu.Unlock()
	return fs.lruLen
}

// IncRef takes a reference on fs.
func (fs *Filesystem) IncRef() {
	if fs.refs.Add(1) <= 1 {
		panic("vfs: Filesystem.IncRef on a released file system")
	}
}

// DecRef drops a reference; the last one evicts every cached dentry,
// drops the root and releases the implementation.
func (fs *Filesystem) DecRef(ctx context.Context) {
	switch n := fs.refs.Add(-1); {
	case n > 0:
		return
	case n < 0:
		panic("vfs: Filesystem.DecRef below zero")
	}
	fs.cacheMu.Lock()
	fs.releasing = true
	fs.cacheMu.Unlock()
	fs.evict(ctx)
	if fs.root != nil {
		fs.root.DecRef(ctx)
	}
	fs.impl.Release(ctx)
}

// lruPushLocked puts d at the front of the LRU.
// Preconditions: fs.cacheMu is held.
func (fs *Filesystem) lruPushLocked(d *Dentry) {
	if d.onLRU {
		fs.lruRemoveLocked(d)
	}
	d.onLRU = true
	d.lruPrev, d.lruNext = nil, fs.lruHead
	if fs.lruHead != nil {
		fs.lruHead.lruPrev = d
	} else {
		fs.lruTail = d
	}
	fs.lruHead = d
	fs.lruLen++
}

// lruRemoveLocked takes d off the LRU.
// Preconditions: fs.cacheMu is held; d is on the LRU.
func (fs *Filesystem) lruRemoveLocked(d *Dentry) {
	if d.lruPrev != nil {
		d.lruPrev.lruNext = d.lruNext
	} else {
		fs.lruHead = d.lruNext
	}
	if d.lruNext != nil {
		d.lruNext.lruPrev = d.lruPrev
	} else {
		fs.lruTail = d.lruPrev
	}
	d.lruPrev, d.lruNext, d.onLRU = nil, nil, false
	fs.lruLen--
}

// overCacheLimitLocked reports whether the LRU must shrink.
// Preconditions: fs.cacheMu is held.
func (fs *Filesystem) overCacheLimitLocked() bool {
	if fs.lruLen == 0 {
		return false
	}
	return fs.releasing || (fs.maxCached > 0 && fs.lruLen > fs.maxCached)
}

// evict destroys least recently used unreferenced dentries until the
// cache is within its limit.
func (fs *Filesystem) evict(ctx context.Context) {
	for {
		fs.cacheMu.Lock()
		if !fs.overCacheLimitLocked() {
			fs.cacheMu.Unlock()
			return
		}
		victim := fs.lruTail
		fs.lruRemoveLocked(victim)
		fs.cacheMu.Unlock()
		fs.tryDestroy(ctx, victim, true)
	}
}

// tryDestroy destroys d if it has no references; if evict is false, it
// instead caches d while its parent still names it.
func (fs *Filesystem) tryDestroy(ctx context.Context, d *Dentry, evict bool) {
	if d.fixed {
		// A file system root (released only by its file system) or an
		// anonymous dentry: nothing can look it up again, so its count
		// reaches zero once.
		d.inode.DecRef(ctx)
		return
	}
	fs.vfs.renameMu.RLock()
	p := d.parent
	p.dirMu.Lock()
	if d.refs.Load() != 0 || d.destroyed {
		p.dirMu.Unlock()
		fs.vfs.renameMu.RUnlock()
		return
	}
	if d.cached && !evict {
		fs.cacheMu.Lock()
		fs.lruPushLocked(d)
		over := fs.overCacheLimitLocked()
		fs.cacheMu.Unlock()
		p.dirMu.Unlock()
		fs.vfs.renameMu.RUnlock()
		if over {
			fs.evict(ctx)
		}
		return
	}
	if d.cached {
		delete(p.children, d.name)
		d.cached = false
	}
	d.destroyed = true
	fs.cacheMu.Lock()
	if d.onLRU {
		fs.lruRemoveLocked(d)
	}
	fs.cacheMu.Unlock()
	p.dirMu.Unlock()
	fs.vfs.renameMu.RUnlock()
	d.inode.DecRef(ctx)
	p.DecRef(ctx)
}
