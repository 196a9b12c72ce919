package vfs

import (
	"context"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
)

// Dentry is a name in the VFS's tree: it binds a name in a parent
// directory to an Inode. Dentries are created and destroyed by the VFS;
// file systems see them only as the parents of their inodes.
type Dentry struct {
	// id orders dentries for locking.
	id    uint64
	fs    *Filesystem
	inode Inode
	ftype uint32
	refs  atomic.Int64
	// mounts counts the mounts whose mount point is this dentry.
	mounts atomic.Int32
	// dead is set when the name was unlinked, removed or replaced.
	dead atomic.Bool
	// fixed marks a dentry that never has a parent and is never renamed:
	// a file system's root or an anonymous file. Reading its parent and
	// name, and destroying it, need no lock, so file systems may use such
	// dentries while the VFS holds renameMu (overlay's layer listings).
	fixed bool

	// parent and name are guarded by the VirtualFilesystem's renameMu.
	// parent is nil for a file system root and an anonymous dentry.
	parent *Dentry
	name   string

	// dirMu serialises changes of the names in this directory.
	dirMu sync.Mutex
	// children is guarded by dirMu; it caches looked-up names.
	children map[string]*Dentry
	// negative is guarded by dirMu: names known to be absent, for file
	// systems with FilesystemOptions.NegativeDentries.
	negative map[string]struct{}
	// cached (the parent's children holds this dentry) and destroyed are
	// guarded by the parent's dirMu.
	cached    bool
	destroyed bool
	// stale is guarded by dirMu: children dropped by revalidation that
	// dirUnlock destroys.
	stale []*Dentry

	// LRU links, guarded by fs.cacheMu.
	lruPrev, lruNext *Dentry
	onLRU            bool
}

func (fs *Filesystem) newDentry(inode Inode, parent *Dentry, name string) *Dentry {
	return &Dentry{id: fs.vfs.nextDentryID.Add(1), fs: fs, inode: inode, ftype: inode.Type(), parent: parent, name: name}
}

// Inode returns the dentry's inode.
func (d *Dentry) Inode() Inode { return d.inode }

// Filesystem returns the dentry's file system.
func (d *Dentry) Filesystem() *Filesystem { return d.fs }

// Type returns the file type of the dentry's inode (S_IF* bits).
func (d *Dentry) Type() uint32 { return d.ftype }

// IsDir reports whether the dentry is a directory.
func (d *Dentry) IsDir() bool { return d.ftype == unix.S_IFDIR }

// IsDead reports whether the dentry's name was removed.
func (d *Dentry) IsDead() bool { return d.dead.Load() }

// Name returns the dentry's current name in its parent ("" for a root).
func (d *Dentry) Name() string {
	if d.fixed {
		return d.name
	}
	d.fs.vfs.renameMu.RLock()
	defer d.fs.vfs.renameMu.RUnlock()
	return d.name
}

// ParentInode returns the inode of the dentry's parent within its file
// system, or the dentry's own inode for a root (as ".." of a root is
// itself). Directory listings use it for "..".
func (d *Dentry) ParentInode() Inode {
	if d.fixed {
		return d.inode
	}
	d.fs.vfs.renameMu.RLock()
	defer d.fs.vfs.renameMu.RUnlock()
	if d.parent == nil {
		return d.inode
	}
	return d.parent.inode
}

// IncRef takes a reference on d. The caller must already hold one (a new
// reference comes only from an existing one or from the VFS).
func (d *Dentry) IncRef() {
	if d.refs.Add(1) <= 1 {
		panic("vfs: Dentry.IncRef without a reference")
	}
}

// DecRef drops a reference. Preconditions: no VFS lock is held.
func (d *Dentry) DecRef(ctx context.Context) {
	switch n := d.refs.Add(-1); {
	case n > 0:
		return
	case n < 0:
		panic("vfs: Dentry.DecRef below zero")
	}
	d.fs.tryDestroy(ctx, d, false)
}

// reviveLocked takes a reference on a cached child found in its parent's
// children, taking it off the LRU if it had none.
// Preconditions: the parent's dirMu is held.
func (d *Dentry) reviveLocked() {
	if d.refs.Add(1) == 1 {
		d.fs.cacheMu.Lock()
		if d.onLRU {
			d.fs.lruRemoveLocked(d)
		}
		d.fs.cacheMu.Unlock()
	}
}

// insertChildLocked caches a new child dentry for inode (which carries a
// reference for it) under name and returns it with one reference.
// Preconditions: d.dirMu is held; name is not cached.
func (d *Dentry) insertChildLocked(inode Inode, name string) *Dentry {
	c := d.fs.newDentry(inode, d, name)
	c.refs.Store(1)
	c.cached = true
	if d.children == nil {
		d.children = make(map[string]*Dentry)
	}
	d.children[name] = c
	delete(d.negative, name)
	// The child pins its parent.
	d.refs.Add(1)
	return c
}

// removeChildLocked drops c (called name) from d's cache and marks it dead.
// Preconditions: d.dirMu is held.
func (d *Dentry) removeChildLocked(name string, c *Dentry) {
	if c.cached && d.children[name] == c {
		delete(d.children, name)
		c.cached = false
	}
	c.dead.Store(true)
}

// lookupChildLocked returns the child called name with a reference,
// from the cache or from the file system.
// Preconditions: d.dirMu is held; d is a directory.
func (d *Dentry) lookupChildLocked(ctx context.Context, name string) (*Dentry, error) {
	if c, ok := d.children[name]; ok {
		rv, isRV := d.inode.(DirRevalidator)
		if !isRV || rv.Revalidate(ctx, name, c.inode) {
			c.reviveLocked()
			return c, nil
		}
		// Disconnect the stale child; its holders keep it. One nobody
		// holds is destroyed when d.dirMu is released (dirUnlock).
		delete(d.children, name)
		c.cached = false
		if c.refs.Load() == 0 && !c.destroyed {
			c.destroyed = true
			d.fs.cacheMu.Lock()
			if c.onLRU {
				d.fs.lruRemoveLocked(c)
			}
			d.fs.cacheMu.Unlock()
			d.stale = append(d.stale, c)
		}
	}
	if d.dead.Load() {
		return nil, abi.ENOENT
	}
	if _, ok := d.negative[name]; ok {
		return nil, abi.ENOENT
	}
	dir, ok := d.inode.(DirInode)
	if !ok {
		return nil, abi.ENOTDIR
	}
	inode, err := dir.Lookup(ctx, name)
	if err == abi.ENOENT && d.fs.negative {
		d.addNegativeLocked(name)
	}
	if err != nil {
		return nil, err
	}
	return d.insertChildLocked(inode, name), nil
}

// maxNegative bounds a directory's negative entries; past it they are
// forgotten all at once.
const maxNegative = 256

// addNegativeLocked remembers that name is absent.
// Preconditions: d.dirMu is held.
func (d *Dentry) addNegativeLocked(name string) {
	if d.negative == nil || len(d.negative) >= maxNegative {
		d.negative = make(map[string]struct{})
	}
	d.negative[name] = struct{}{}
}

// getChild is lookupChildLocked with the locking done.
func (d *Dentry) getChild(ctx context.Context, name string) (*Dentry, error) {
	d.dirMu.Lock()
	c, err := d.lookupChildLocked(ctx, name)
	d.dirUnlock(ctx)
	return c, err
}

// dirUnlock releases d.dirMu, then destroys the stale children found
// while it was held.
func (d *Dentry) dirUnlock(ctx context.Context) {
	stale := d.stale
	d.stale = nil
	d.dirMu.Unlock()
	for _, c := range stale {
		c.inode.DecRef(ctx)
		d.DecRef(ctx)
	}
}

// VirtualDentry is a dentry as reached through a mount: the unit of path
// resolution results, working directories and open files.
type VirtualDentry struct {
	mount  *Mount
	dentry *Dentry
}

// MakeVirtualDentry returns a VirtualDentry for d in mnt, without taking
// references.
func MakeVirtualDentry(mnt *Mount, d *Dentry) VirtualDentry {
	return VirtualDentry{mount: mnt, dentry: d}
}

// Ok reports whether vd is set.
func (vd VirtualDentry) Ok() bool { return vd.dentry != nil }

// Mount returns vd's mount.
func (vd VirtualDentry) Mount() *Mount { return vd.mount }

// Dentry returns vd's dentry.
func (vd VirtualDentry) Dentry() *Dentry { return vd.dentry }

// IncRef takes a reference on vd's mount and dentry.
func (vd VirtualDentry) IncRef() {
	vd.mount.IncRef()
	vd.dentry.IncRef()
}

// DecRef drops a reference on vd's mount and dentry.
func (vd VirtualDentry) DecRef(ctx context.Context) {
	vd.dentry.DecRef(ctx)
	vd.mount.DecRef(ctx)
}
