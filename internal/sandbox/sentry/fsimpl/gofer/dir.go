package gofer

import (
	"context"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/protocol"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

// Lookup implements vfs.DirInode.Lookup.
func (i *inode) Lookup(ctx context.Context, name string) (vfs.Inode, error) {
	if i.typ != unix.S_IFDIR {
		return nil, abi.ENOTDIR
	}
	ins, err := i.fs.client.Walk(ctx, i.handle, []string{name})
	if err != nil {
		return nil, hostErr(err)
	}
	if len(ins) != 1 {
		// A walk of one name returns one inode or an error.
		for _, in := range ins {
			i.fs.closeHandle(ctx, in.Handle)
		}
		return nil, abi.EIO
	}
	return i.fs.newInode(ins[0]), nil
}

// Create implements vfs.DirInode.Create. The new file's host descriptor
// (read-write) is kept for the open that follows.
func (i *inode) Create(ctx context.Context, name string, opts *vfs.CreateOptions) (vfs.Inode, error) {
	in, fd, err := i.fs.client.Create(ctx, i.handle, name, unix.O_RDWR, opts.Mode, opts.UID, opts.GID)
	if err != nil {
		return nil, hostErr(err)
	}
	i.invalidate()
	c := i.fs.newInode(in)
	c.rwFD = fd
	return c, nil
}

// Mkdir implements vfs.DirInode.Mkdir.
func (i *inode) Mkdir(ctx context.Context, name string, opts *vfs.MkdirOptions) (vfs.Inode, error) {
	in, err := i.fs.client.Mkdir(ctx, i.handle, name, opts.Mode, opts.UID, opts.GID)
	if err != nil {
		return nil, hostErr(err)
	}
	i.invalidate()
	return i.fs.newInode(in), nil
}

// Mknod implements vfs.DirInode.Mknod: regular files, FIFOs and sockets
// (whose endpoint the inode keeps); device nodes cannot be made on the
// host (EPERM).
func (i *inode) Mknod(ctx context.Context, name string, opts *vfs.MknodOptions) (vfs.Inode, error) {
	in, err := i.fs.client.Mknod(ctx, i.handle, name, opts.Mode, unix.Mkdev(opts.DevMajor, opts.DevMinor), opts.UID, opts.GID)
	if err != nil {
		return nil, hostErr(err)
	}
	i.invalidate()
	c := i.fs.newInode(in)
	c.endpoint = opts.Endpoint
	return c, nil
}

// Symlink implements vfs.DirInode.Symlink.
func (i *inode) Symlink(ctx context.Context, name string, opts *vfs.SymlinkOptions) (vfs.Inode, error) {
	in, err := i.fs.client.Symlink(ctx, i.handle, name, opts.Target, opts.UID, opts.GID)
	if err != nil {
		return nil, hostErr(err)
	}
	i.invalidate()
	c := i.fs.newInode(in)
	c.target = opts.Target
	return c, nil
}

// Link implements vfs.DirInode.Link.
func (i *inode) Link(ctx context.Context, name string, target vfs.Inode) (vfs.Inode, error) {
	t, ok := target.(*inode)
	if !ok || t.fs != i.fs {
		return nil, abi.EXDEV
	}
	in, err := i.fs.client.Link(ctx, i.handle, name, t.handle)
	if err != nil {
		return nil, hostErr(err)
	}
	i.invalidate()
	t.invalidate()
	return i.fs.newInode(in), nil
}

// Unlink implements vfs.DirInode.Unlink.
func (i *inode) Unlink(ctx context.Context, name string, child vfs.Inode) error {
	if err := i.fs.client.Unlink(ctx, i.handle, name, 0); err != nil {
		return hostErr(err)
	}
	i.invalidate()
	if c, ok := child.(*inode); ok {
		c.invalidate()
	}
	return nil
}

// Rmdir implements vfs.DirInode.Rmdir.
func (i *inode) Rmdir(ctx context.Context, name string, child vfs.Inode) error {
	if err := i.fs.client.Unlink(ctx, i.handle, name, unix.AT_REMOVEDIR); err != nil {
		return hostErr(err)
	}
	i.invalidate()
	return nil
}

// Rename implements vfs.DirInode.Rename.
func (i *inode) Rename(ctx context.Context, oldName string, renamed vfs.Inode, newDir vfs.DirInode, newName string, replaced vfs.Inode, flags uint32) error {
	nd, ok := newDir.(*inode)
	if !ok || nd.fs != i.fs {
		return abi.EXDEV
	}
	if err := i.fs.client.Rename(ctx, i.handle, oldName, nd.handle, newName, flags); err != nil {
		return hostErr(err)
	}
	i.invalidate()
	nd.invalidate()
	for _, x := range []vfs.Inode{renamed, replaced} {
		if c, ok := x.(*inode); ok {
			c.invalidate()
		}
	}
	return nil
}

// dirFD is an open directory. Its offset is the host's cookie of the next
// entry (0: the start).
type dirFD struct {
	vfsfd vfs.FileDescription
	vfs.DirectoryFileDefaults
	inode *inode

	mu sync.Mutex
	// off is guarded by mu.
	off int64
}

// direntBatch is how many bytes of entries one Getdents asks for.
const direntBatch = 32 << 10

// IterDirents implements vfs.FileDescriptionImpl.IterDirents.
func (fd *dirFD) IterDirents(ctx context.Context, cb vfs.IterDirentsCallback) error {
	fd.mu.Lock()
	defer fd.mu.Unlock()
	var dotdotIno uint64
	for {
		ents, err := fd.inode.fs.client.Getdents(ctx, fd.inode.handle, fd.off, direntBatch)
		if err != nil {
			return hostErr(err)
		}
		if len(ents) == 0 {
			return nil
		}
		for _, e := range ents {
			ino := e.Ino
			switch {
			case e.Name == ".":
				ino = fd.inode.ino()
			case e.Name == "..":
				if dotdotIno == 0 {
					st, err := fd.vfsfd.Dentry().ParentInode().Stat(ctx, abi.STATX_INO)
					if err != nil {
						return err
					}
					dotdotIno = st.Ino
				}
				ino = dotdotIno
			case !protocol.ValidName(e.Name):
				// Never hand the application a name with a slash in it.
				fd.off = e.Off
				continue
			}
			if err := cb(vfs.Dirent{Name: e.Name, Type: e.Type, Ino: ino, NextOff: e.Off}); err != nil {
				return err
			}
			fd.off = e.Off
		}
	}
}

// Seek implements vfs.FileDescriptionImpl.Seek: SEEK_SET to 0 or to an
// offset IterDirents reported, and SEEK_CUR by 0 (telldir).
func (fd *dirFD) Seek(ctx context.Context, offset int64, whence int32) (int64, error) {
	fd.mu.Lock()
	defer fd.mu.Unlock()
	switch {
	case whence == abi.SEEK_SET && offset >= 0:
		fd.off = offset
	case whence == abi.SEEK_CUR && offset == 0:
	default:
		return 0, abi.EINVAL
	}
	return fd.off, nil
}

// Fsync implements vfs.FileDescriptionImpl.Fsync: directories are synced
// by the host when their files are.
func (fd *dirFD) Fsync(ctx context.Context) error { return nil }
