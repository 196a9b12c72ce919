package tmpfs

import (
	"context"
	"sync"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/fsimpl/pipe"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

// dirent is one name in a directory. cookie orders the listing: it is the
// entry's directory offset, stable while the entry exists.
type dirent struct {
	name       string
	inode      tmpInode
	cookie     int64
	prev, next *dirent
}

// directory is a directory: an ordered set of names.
type directory struct {
	node
	// The rest is guarded by fs.mu.
	entries    map[string]*dirent
	head, tail *dirent
	nextCookie int64
}

var _ vfs.DirInode = (*directory)(nil)

// firstCookie is the offset of the first entry after "." (0) and ".." (1).
const firstCookie = 2

func (fs *filesystem) newDirectory(mode, uid, gid uint32) *directory {
	d := &directory{entries: make(map[string]*dirent), nextCookie: firstCookie}
	d.init(fs, abi.S_IFDIR|mode, uid, gid)
	return d
}

// insertLocked adds name → inode.
// Preconditions: fs.mu is held for writing; name is absent.
func (d *directory) insertLocked(name string, inode tmpInode) {
	e := &dirent{name: name, inode: inode, cookie: d.nextCookie, prev: d.tail}
	d.nextCookie++
	if d.tail != nil {
		d.tail.next = e
	} else {
		d.head = e
	}
	d.tail = e
	d.entries[name] = e
	d.Touch(false, true, true)
}

// removeLocked deletes name.
// Preconditions: fs.mu is held for writing; name is present.
func (d *directory) removeLocked(name string) {
	e := d.entries[name]
	delete(d.entries, name)
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		d.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		d.tail = e.prev
	}
	d.Touch(false, true, true)
}

// Stat implements vfs.Inode.Stat.
func (d *directory) Stat(ctx context.Context, mask uint32) (vfs.Statx, error) {
	st := d.StatAttrs()
	st.Size = abi.PageSize
	st.Blocks = 8
	st.Mask |= abi.STATX_SIZE | abi.STATX_BLOCKS
	return st, nil
}

// DecRef implements vfs.Inode.DecRef.
func (d *directory) DecRef(context.Context) { d.decRef(d) }

func (d *directory) release() {}

// Lookup implements vfs.DirInode.Lookup.
func (d *directory) Lookup(ctx context.Context, name string) (vfs.Inode, error) {
	d.fs.mu.RLock()
	defer d.fs.mu.RUnlock()
	e, ok := d.entries[name]
	if !ok {
		return nil, abi.ENOENT
	}
	e.inode.base().incRef()
	return e.inode, nil
}

// add inserts a new inode (holding the reference for the caller's dentry)
// unless name exists.
func (d *directory) add(name string, inode tmpInode) (vfs.Inode, error) {
	d.fs.mu.Lock()
	defer d.fs.mu.Unlock()
	if _, ok := d.entries[name]; ok {
		return nil, abi.EEXIST
	}
	if d.Nlink() == 0 {
		return nil, abi.ENOENT
	}
	d.insertLocked(name, inode)
	if inode.Type() == abi.S_IFDIR {
		d.IncLinks(1)
	}
	return inode, nil
}

// Create implements vfs.DirInode.Create.
func (d *directory) Create(ctx context.Context, name string, opts *vfs.CreateOptions) (vfs.Inode, error) {
	return d.add(name, d.fs.newRegularFile(opts.Mode, opts.UID, opts.GID))
}

// Mkdir implements vfs.DirInode.Mkdir.
func (d *directory) Mkdir(ctx context.Context, name string, opts *vfs.MkdirOptions) (vfs.Inode, error) {
	return d.add(name, d.fs.newDirectory(opts.Mode, opts.UID, opts.GID))
}

// Mknod implements vfs.DirInode.Mknod.
func (d *directory) Mknod(ctx context.Context, name string, opts *vfs.MknodOptions) (vfs.Inode, error) {
	inode, err := d.fs.newSpecial(opts)
	if err != nil {
		return nil, err
	}
	return d.add(name, inode)
}

// newSpecial makes the inode mknod asks for.
func (fs *filesystem) newSpecial(opts *vfs.MknodOptions) (tmpInode, error) {
	perm := opts.Mode & 0o7777
	switch opts.Mode & abi.S_IFMT {
	case abi.S_IFREG:
		return fs.newRegularFile(perm, opts.UID, opts.GID), nil
	case abi.S_IFIFO:
		f := &fifo{vp: pipe.NewVFSPipe()}
		f.init(fs, abi.S_IFIFO|perm, opts.UID, opts.GID)
		return f, nil
	case abi.S_IFCHR, abi.S_IFBLK:
		dv := &device{}
		dv.init(fs, opts.Mode&abi.S_IFMT|perm, opts.UID, opts.GID)
		dv.SetRdev(opts.DevMajor, opts.DevMinor)
		return dv, nil
	case abi.S_IFSOCK:
		s := &socket{endpoint: opts.Endpoint}
		s.init(fs, abi.S_IFSOCK|perm, opts.UID, opts.GID)
		return s, nil
	default:
		return nil, abi.EINVAL
	}
}

// Symlink implements vfs.DirInode.Symlink.
func (d *directory) Symlink(ctx context.Context, name string, opts *vfs.SymlinkOptions) (vfs.Inode, error) {
	return d.add(name, d.fs.newSymlink(opts.Target, opts.UID, opts.GID))
}

// Link implements vfs.DirInode.Link.
func (d *directory) Link(ctx context.Context, name string, target vfs.Inode) (vfs.Inode, error) {
	t, ok := target.(tmpInode)
	if !ok || t.base().fs != d.fs {
		return nil, abi.EXDEV
	}
	if t.Type() == abi.S_IFDIR {
		return nil, abi.EPERM
	}
	d.fs.mu.Lock()
	defer d.fs.mu.Unlock()
	if _, ok := d.entries[name]; ok {
		return nil, abi.EEXIST
	}
	switch n := t.base().Nlink(); {
	case n == 0:
		return nil, abi.ENOENT
	case n >= maxLinks:
		return nil, abi.EMLINK
	}
	t.base().IncLinks(1)
	t.base().incRef()
	d.insertLocked(name, t)
	return t, nil
}

// Unlink implements vfs.DirInode.Unlink.
func (d *directory) Unlink(ctx context.Context, name string, child vfs.Inode) error {
	d.fs.mu.Lock()
	e, ok := d.entries[name]
	if !ok {
		d.fs.mu.Unlock()
		return abi.ENOENT
	}
	if e.inode.Type() == abi.S_IFDIR {
		d.fs.mu.Unlock()
		return abi.EISDIR
	}
	d.removeLocked(name)
	d.fs.mu.Unlock()
	e.inode.base().unlinked(e.inode)
	return nil
}

// Rmdir implements vfs.DirInode.Rmdir.
func (d *directory) Rmdir(ctx context.Context, name string, child vfs.Inode) error {
	d.fs.mu.Lock()
	e, ok := d.entries[name]
	if !ok {
		d.fs.mu.Unlock()
		return abi.ENOENT
	}
	c, ok := e.inode.(*directory)
	if !ok {
		d.fs.mu.Unlock()
		return abi.ENOTDIR
	}
	if len(c.entries) != 0 {
		d.fs.mu.Unlock()
		return abi.ENOTEMPTY
	}
	d.removeLocked(name)
	d.IncLinks(-1)
	d.fs.mu.Unlock()
	// A removed directory has no links: its own "." goes with it.
	c.IncLinks(-1)
	c.unlinked(c)
	return nil
}

// Rename implements vfs.DirInode.Rename.
func (d *directory) Rename(ctx context.Context, oldName string, renamed vfs.Inode, newDir vfs.DirInode, newName string, replaced vfs.Inode, flags uint32) error {
	nd, ok := newDir.(*directory)
	if !ok || nd.fs != d.fs {
		return abi.EXDEV
	}
	fs := d.fs
	fs.mu.Lock()
	oe, ok := d.entries[oldName]
	if !ok {
		fs.mu.Unlock()
		return abi.ENOENT
	}
	ne := nd.entries[newName]
	if flags&abi.RENAME_EXCHANGE != 0 {
		if ne == nil {
			fs.mu.Unlock()
			return abi.ENOENT
		}
		oi, ni := oe.inode, ne.inode
		oe.inode, ne.inode = ni, oi
		if d != nd {
			oDir, nDir := oi.Type() == abi.S_IFDIR, ni.Type() == abi.S_IFDIR
			if oDir && !nDir {
				d.IncLinks(-1)
				nd.IncLinks(1)
			} else if nDir && !oDir {
				d.IncLinks(1)
				nd.IncLinks(-1)
			}
		}
		d.Touch(false, true, true)
		nd.Touch(false, true, true)
		oi.base().Touch(false, false, true)
		ni.base().Touch(false, false, true)
		fs.mu.Unlock()
		return nil
	}
	var victim tmpInode
	if ne != nil {
		if ne.inode.Type() == abi.S_IFDIR {
			if oe.inode.Type() != abi.S_IFDIR {
				fs.mu.Unlock()
				return abi.EISDIR
			}
			if len(ne.inode.(*directory).entries) != 0 {
				fs.mu.Unlock()
				return abi.ENOTEMPTY
			}
		} else if oe.inode.Type() == abi.S_IFDIR {
			fs.mu.Unlock()
			return abi.ENOTDIR
		}
		victim = ne.inode
		nd.removeLocked(newName)
		if victim.Type() == abi.S_IFDIR {
			nd.IncLinks(-1)
		}
	}
	moved := oe.inode
	d.removeLocked(oldName)
	nd.insertLocked(newName, moved)
	if moved.Type() == abi.S_IFDIR && d != nd {
		d.IncLinks(-1)
		nd.IncLinks(1)
	}
	moved.base().Touch(false, false, true)
	fs.mu.Unlock()
	if victim != nil {
		if victim.Type() == abi.S_IFDIR {
			victim.base().IncLinks(-1)
		}
		victim.base().unlinked(victim)
	}
	return nil
}

// Open implements vfs.Inode.Open.
func (d *directory) Open(ctx context.Context, vd vfs.VirtualDentry, opts *vfs.OpenOptions) (*vfs.FileDescription, error) {
	fd := &dirFD{dir: d}
	fd.vfsfd.Init(fd, opts.Flags, vd)
	return &fd.vfsfd, nil
}

// dirFD is an open directory.
type dirFD struct {
	vfsfd vfs.FileDescription
	vfs.DirectoryFileDefaults
	dir *directory

	mu sync.Mutex
	// off is guarded by mu: the cookie of the next entry to list.
	off int64
}

// IterDirents implements vfs.FileDescriptionImpl.IterDirents.
func (fd *dirFD) IterDirents(ctx context.Context, cb vfs.IterDirentsCallback) error {
	fd.mu.Lock()
	defer fd.mu.Unlock()
	if fd.off == 0 {
		if err := cb(vfs.Dirent{Name: ".", Type: abi.DT_DIR, Ino: fd.dir.Ino(), NextOff: 1}); err != nil {
			return err
		}
		fd.off = 1
	}
	if fd.off == 1 {
		st, err := fd.vfsfd.Dentry().ParentInode().Stat(ctx, abi.STATX_INO)
		if err != nil {
			return err
		}
		if err := cb(vfs.Dirent{Name: "..", Type: abi.DT_DIR, Ino: st.Ino, NextOff: firstCookie}); err != nil {
			return err
		}
		fd.off = firstCookie
	}
	fs := fd.dir.fs
	fs.mu.RLock()
	defer fs.mu.RUnlock()
	for e := fd.dir.head; e != nil; e = e.next {
		if e.cookie < fd.off {
			continue
		}
		if err := cb(vfs.Dirent{Name: e.name, Type: vfs.DirentType(e.inode.Type()), Ino: e.inode.base().Ino(), NextOff: e.cookie + 1}); err != nil {
			return err
		}
		fd.off = e.cookie + 1
	}
	return nil
}

// Seek implements vfs.FileDescriptionImpl.Seek: directory offsets are
// cookies, so only SEEK_SET to an offset IterDirents returned (or 0) and
// SEEK_CUR are meaningful.
func (fd *dirFD) Seek(ctx context.Context, offset int64, whence int32) (int64, error) {
	fd.mu.Lock()
	defer fd.mu.Unlock()
	off, err := vfs.DirSeekOffset(fd.off, offset, whence)
	if err != nil {
		return 0, err
	}
	fd.off = off
	return off, nil
}
