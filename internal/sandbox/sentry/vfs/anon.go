package vfs

import (
	"context"

	"golang.org/x/sys/unix"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
)

// anonFilesystem holds anonymous files: pipes, eventfds, sockets, epoll.
type anonFilesystem struct{}

func (anonFilesystem) Name() string { return "anon_inodefs" }

func (anonFilesystem) StatFS(context.Context) (Statfs, error) {
	return Statfs{Type: 0x09041934, BlockSize: 4096, NameLength: 255}, nil
}

func (anonFilesystem) Release(context.Context) {}

// anonInode is the inode of an anonymous file that has none of its own.
type anonInode struct {
	typ  uint32
	mode uint32
	ino  uint64
	name string
}

func (i *anonInode) Type() uint32 { return i.typ }

func (i *anonInode) Stat(ctx context.Context, mask uint32) (Statx, error) {
	return Statx{
		Mask:    unix.STATX_TYPE | unix.STATX_MODE | unix.STATX_NLINK | unix.STATX_UID | unix.STATX_GID | unix.STATX_INO,
		Blksize: 4096,
		Nlink:   1,
		Mode:    i.typ | i.mode,
		Ino:     i.ino,
	}, nil
}

func (i *anonInode) SetStat(context.Context, *SetStatOptions) error { return abi.EPERM }

func (i *anonInode) CheckPermissions(ctx context.Context, creds *Credentials, ats AccessTypes) error {
	return GenericCheckPermissions(creds, ats, i.typ|i.mode, 0, 0)
}

func (i *anonInode) Open(context.Context, VirtualDentry, *OpenOptions) (*FileDescription, error) {
	return nil, abi.ENXIO
}

func (i *anonInode) DecRef(context.Context) {}

// NewAnonInodeNumber returns a new inode number for an anonymous file.
func (vfs *VirtualFilesystem) NewAnonInodeNumber() uint64 {
	return vfs.nextAnonIno.Add(1) + 1
}

// AnonFilesystem returns the file system of anonymous files, for inodes
// that embed InodeAttrs.
func (vfs *VirtualFilesystem) AnonFilesystem() *Filesystem { return vfs.anonMount.fs }

// NewAnonVirtualDentry returns a dentry for an anonymous file, with one
// reference. name is what /proc/self/fd shows ("pipe:[12]",
// "anon_inode:[eventfd]"). inode may be nil: then a plain inode (mode
// 0600, owned by root) stands in.
func (vfs *VirtualFilesystem) NewAnonVirtualDentry(name string, inode Inode) VirtualDentry {
	if inode == nil {
		inode = &anonInode{typ: 0, mode: 0o600, ino: vfs.NewAnonInodeNumber(), name: name}
	}
	d := vfs.anonMount.fs.newDentry(inode, nil, name)
	d.fixed = true
	d.refs.Store(1)
	vfs.anonMount.IncRef()
	return VirtualDentry{mount: vfs.anonMount, dentry: d}
}

// IsAnonymous reports whether vd is an anonymous file's dentry.
func (vd VirtualDentry) IsAnonymous() bool {
	return vd.mount != nil && vd.mount.fs == vd.mount.vfs.anonMount.fs
}
