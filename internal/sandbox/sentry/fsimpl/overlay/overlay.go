// Package overlay is a union of a writable tmpfs upper layer over one
// read-only lower layer (the Gofer-backed root file system): what a
// read-only rootfs with a writable overlay is in config.json. Reads come
// from the upper layer if a name is there, else from the lower; the first
// change to a lower file copies it up (data, mode, owner, times) after its
// parent directories. Removing a lower name leaves a whiteout (a 0:0
// character device in the upper layer); a directory made over a whiteout
// is opaque (it hides the lower directory's names).
//
// Not supported: renaming a directory that has lower contents (EXDEV, as
// overlayfs without redirect_dir; mv falls back to copying), RENAME_EXCHANGE
// (EINVAL), hard links that survive copy-up (a copied-up link is a new
// file), more than one lower layer. It is at the vfs layer; boot calls New.
//
// Lock order: filesystem.copyMu, then the layers' locks.
package overlay

import (
	"context"
	"errors"
	"sync"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/fsimpl/tmpfs"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/memmap"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

// Name is the file system type's name in /proc/mounts.
const Name = "overlay"

// DefaultMaxCachedDentries bounds the overlay's dentry cache (each cached
// name may hold a lower layer's handle).
const DefaultMaxCachedDentries = 1000

// readerAt is what copy-up needs of a lower regular file.
type readerAt interface {
	ReadAt(ctx context.Context, p []byte, off int64) (int, error)
}

// writerAt is what copy-up needs of an upper regular file.
type writerAt interface {
	WriteAt(ctx context.Context, p []byte, off int64) (int, error)
}

type filesystem struct {
	vfsfs *vfs.Filesystem
	// lowerFS and lowerRoot keep the lower layer alive.
	lowerFS   *vfs.Filesystem
	lowerRoot *vfs.Dentry
	upperFS   *vfs.Filesystem
	upperRoot *vfs.Dentry

	// copyMu serialises copy-ups and guards opaque.
	copyMu sync.Mutex
	// opaque marks upper directories that hide the lower layer.
	opaque map[vfs.Inode]bool
}

// New returns an overlay of a new tmpfs (pages from mf, at most maxSize
// bytes if not zero) over the lower layer's tree at lowerRoot, taking over
// the caller's references on lowerFS and lowerRoot. The result carries a
// reference on the file system and its root for the caller.
func New(ctx context.Context, vfsObj *vfs.VirtualFilesystem, mf memmap.MemoryFile, maxSize uint64, lowerFS *vfs.Filesystem, lowerRoot *vfs.Dentry) (*vfs.Filesystem, *vfs.Dentry, error) {
	if lowerRoot.Type() != abi.S_IFDIR {
		lowerRoot.DecRef(ctx)
		lowerFS.DecRef(ctx)
		return nil, nil, errors.New("overlay: the lower layer's root is not a directory")
	}
	st, err := lowerRoot.Inode().Stat(ctx, abi.STATX_MODE|abi.STATX_UID|abi.STATX_GID)
	if err != nil {
		lowerRoot.DecRef(ctx)
		lowerFS.DecRef(ctx)
		return nil, nil, err
	}
	upperFS, upperRoot := tmpfs.New(vfsObj, mf, tmpfs.Options{Mode: st.Mode & 0o7777, UID: st.UID, GID: st.GID, MaxSize: maxSize})
	fs := &filesystem{lowerFS: lowerFS, lowerRoot: lowerRoot, upperFS: upperFS, upperRoot: upperRoot, opaque: make(map[vfs.Inode]bool)}
	fs.vfsfs = vfsObj.NewFilesystem(fs, vfs.FilesystemOptions{MaxCachedDentries: DefaultMaxCachedDentries, NegativeDentries: true})
	root := &inode{fs: fs, typ: abi.S_IFDIR, upper: upperRoot.Inode(), lower: lowerRoot.Inode()}
	// The root's layers are held by the dentries above, not by the inode.
	root.borrowed = true
	return fs.vfsfs, fs.vfsfs.SetRoot(root), nil
}

// Name implements vfs.FilesystemImpl.Name.
func (fs *filesystem) Name() string { return Name }

// StatFS implements vfs.FilesystemImpl.StatFS: the upper layer's, as that
// is where writes go.
func (fs *filesystem) StatFS(ctx context.Context) (vfs.Statfs, error) {
	st, err := fs.upperFS.Impl().StatFS(ctx)
	st.Type = 0x794c7630 // OVERLAYFS_SUPER_MAGIC
	return st, err
}

// Release implements vfs.FilesystemImpl.Release.
func (fs *filesystem) Release(ctx context.Context) {
	fs.upperRoot.DecRef(ctx)
	fs.upperFS.DecRef(ctx)
	fs.lowerRoot.DecRef(ctx)
	fs.lowerFS.DecRef(ctx)
}

// isWhiteout reports whether an upper inode marks a removed lower name.
func isWhiteout(ctx context.Context, i vfs.Inode) bool {
	if i.Type() != abi.S_IFCHR {
		return false
	}
	st, err := i.Stat(ctx, abi.STATX_TYPE)
	return err == nil && st.RdevMajor == 0 && st.RdevMinor == 0
}

// inode is a name of the union: its upper and lower inodes, either of
// which may be nil (not both). Each holds a reference released by DecRef.
type inode struct {
	fs  *filesystem
	typ uint32

	mu sync.Mutex
	// upper, lower, parent and name are guarded by mu (upper is set once,
	// by copy-up, under fs.copyMu too). parent and name are the inode's
	// latest place, for copy-up.
	upper, lower vfs.Inode
	parent       *inode
	name         string
	// borrowed is set for the root, whose layers the file system holds.
	borrowed bool
}

var (
	_ vfs.DirInode     = (*inode)(nil)
	_ vfs.SymlinkInode = (*inode)(nil)
	_ vfs.SocketInode  = (*inode)(nil)
)

func (i *inode) layers() (upper, lower vfs.Inode) {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.upper, i.lower
}

// top returns the inode that answers for the name: upper if present.
func (i *inode) top() vfs.Inode {
	u, l := i.layers()
	if u != nil {
		return u
	}
	return l
}

// Type implements vfs.Inode.Type.
func (i *inode) Type() uint32 { return i.typ }

// Stat implements vfs.Inode.Stat.
func (i *inode) Stat(ctx context.Context, mask uint32) (vfs.Statx, error) {
	return i.top().Stat(ctx, mask)
}

// SetStat implements vfs.Inode.SetStat: the file is copied up first.
func (i *inode) SetStat(ctx context.Context, opts *vfs.SetStatOptions) error {
	if err := i.copyUp(ctx); err != nil {
		return err
	}
	u, _ := i.layers()
	return u.SetStat(ctx, opts)
}

// CheckPermissions implements vfs.Inode.CheckPermissions.
func (i *inode) CheckPermissions(ctx context.Context, creds *vfs.Credentials, ats vfs.AccessTypes) error {
	return i.top().CheckPermissions(ctx, creds, ats)
}

// Open implements vfs.Inode.Open: opening a lower file for writing copies
// it up first.
func (i *inode) Open(ctx context.Context, vd vfs.VirtualDentry, opts *vfs.OpenOptions) (*vfs.FileDescription, error) {
	if i.typ == abi.S_IFDIR {
		fd := &dirFD{inode: i}
		fd.vfsfd.Init(fd, opts.Flags, vd)
		return &fd.vfsfd, nil
	}
	if i.typ == abi.S_IFREG && (opts.Flags&abi.O_ACCMODE != abi.O_RDONLY || opts.Flags&abi.O_TRUNC != 0) {
		if err := i.copyUp(ctx); err != nil {
			return nil, err
		}
	}
	return i.top().Open(ctx, vd, opts)
}

// Readlink implements vfs.SymlinkInode.Readlink.
func (i *inode) Readlink(ctx context.Context) (string, error) {
	sl, ok := i.top().(vfs.SymlinkInode)
	if !ok {
		return "", abi.EINVAL
	}
	return sl.Readlink(ctx)
}

// BoundEndpoint implements vfs.SocketInode.BoundEndpoint.
func (i *inode) BoundEndpoint() any {
	if s, ok := i.top().(vfs.SocketInode); ok {
		return s.BoundEndpoint()
	}
	return nil
}

// DecRef implements vfs.Inode.DecRef.
func (i *inode) DecRef(ctx context.Context) {
	u, l := i.layers()
	if i.borrowed {
		return
	}
	if u != nil {
		u.DecRef(ctx)
	}
	if l != nil {
		l.DecRef(ctx)
	}
}

// isOpaque reports whether the upper directory u hides the lower layer.
func (fs *filesystem) isOpaque(u vfs.Inode) bool {
	fs.copyMu.Lock()
	defer fs.copyMu.Unlock()
	return u != nil && fs.opaque[u]
}

// copyChunk is the size of one copy-up read.
const copyChunk = 64 << 10

// copyUp gives i an upper inode, copying its parents up first.
func (i *inode) copyUp(ctx context.Context) error {
	if u, _ := i.layers(); u != nil {
		return nil
	}
	i.mu.Lock()
	parent := i.parent
	i.mu.Unlock()
	if parent == nil {
		return abi.EIO // only the root has no parent, and it has an upper
	}
	if err := parent.copyUp(ctx); err != nil {
		return err
	}
	fs := i.fs
	fs.copyMu.Lock()
	defer fs.copyMu.Unlock()
	i.mu.Lock()
	if i.upper != nil {
		i.mu.Unlock()
		return nil
	}
	lower, name := i.lower, i.name
	i.mu.Unlock()
	pu, _ := parent.layers()
	dir := pu.(vfs.DirInode)
	st, err := lower.Stat(ctx, abi.STATX_BASIC_STATS)
	if err != nil {
		return err
	}
	perm := st.Mode & 0o7777
	var upper vfs.Inode
	switch i.typ {
	case abi.S_IFDIR:
		upper, err = dir.Mkdir(ctx, name, &vfs.MkdirOptions{Mode: perm, UID: st.UID, GID: st.GID})
	case abi.S_IFREG:
		upper, err = dir.Create(ctx, name, &vfs.CreateOptions{Mode: perm, UID: st.UID, GID: st.GID})
		if err == nil {
			err = copyData(ctx, lower, upper, st.Size)
		}
	case abi.S_IFLNK:
		var target string
		if target, err = lower.(vfs.SymlinkInode).Readlink(ctx); err == nil {
			upper, err = dir.Symlink(ctx, name, &vfs.SymlinkOptions{Target: target, UID: st.UID, GID: st.GID})
		}
	default:
		upper, err = dir.Mknod(ctx, name, &vfs.MknodOptions{Mode: st.Mode, UID: st.UID, GID: st.GID, DevMajor: st.RdevMajor, DevMinor: st.RdevMinor})
	}
	if err != nil {
		if upper != nil {
			dir.Unlink(ctx, name, upper)
			upper.DecRef(ctx)
		}
		return err
	}
	times := &vfs.SetStatOptions{Mask: abi.STATX_ATIME | abi.STATX_MTIME, Atime: st.Atime, Mtime: st.Mtime}
	if i.typ != abi.S_IFLNK {
		upper.SetStat(ctx, times)
	}
	i.mu.Lock()
	i.upper = upper
	i.mu.Unlock()
	return nil
}

// copyData copies size bytes of a regular file's data from lower to upper.
func copyData(ctx context.Context, lower, upper vfs.Inode, size uint64) error {
	r, ok := lower.(readerAt)
	w, ok2 := upper.(writerAt)
	if !ok || !ok2 {
		return abi.EXDEV
	}
	buf := make([]byte, copyChunk)
	for off := int64(0); off < int64(size); {
		n, err := r.ReadAt(ctx, buf, off)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
		if _, err := w.WriteAt(ctx, buf[:n], off); err != nil {
			return err
		}
		off += int64(n)
	}
	return nil
}
