package vfs

import (
	"context"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
)

// Inode is one file of a file system: the contract every file system
// implements. VirtualFilesystem calls it with the checks of the VFS already
// made (permissions, read-only mounts, existence of names). Methods may be
// called concurrently; the file system synchronises its own state.
type Inode interface {
	// Type returns the file type (unix.S_IFREG, S_IFDIR, S_IFLNK, S_IFIFO,
	// S_IFCHR, S_IFBLK or S_IFSOCK). It never changes.
	Type() uint32

	// Stat returns the inode's attributes. mask (unix.STATX_* bits) says
	// which fields the caller needs; others may be filled too, and the
	// returned Mask says which are valid.
	Stat(ctx context.Context, mask uint32) (Statx, error)

	// SetStat changes attributes as opts says. Preconditions: the VFS has
	// checked the caller's permission and normalised opts (see
	// SetStatOptions); a size change is for a regular file. The inode
	// updates ctime (and mtime for a size change) itself.
	SetStat(ctx context.Context, opts *SetStatOptions) error

	// CheckPermissions returns nil if creds may access the inode as ats
	// says, else EACCES (or EPERM). Most file systems call
	// GenericCheckPermissions with the inode's mode and owner.
	CheckPermissions(ctx context.Context, creds *Credentials, ats AccessTypes) error

	// Open returns a new file description for the inode reached at vd.
	// The returned FileDescription was initialised with Init(impl, flags,
	// vd) and so holds its own reference on vd. Preconditions: permissions,
	// O_DIRECTORY and the mount's flags were checked; for a regular file
	// opened with O_TRUNC, the inode truncates it (after the VFS checked
	// write permission). Device inodes return the device's file (see
	// VirtualFilesystem.OpenDevice).
	Open(ctx context.Context, vd VirtualDentry, opts *OpenOptions) (*FileDescription, error)

	// DecRef drops the reference a dentry held: Lookup, Create, Mkdir,
	// Mknod, Symlink and Link return an inode with one reference for the
	// dentry the VFS makes of it, and the VFS calls DecRef when that dentry
	// is destroyed (evicted from the cache, or unlinked and unused).
	DecRef(ctx context.Context)
}

// DirInode is an Inode of type S_IFDIR. Every mutating method is called
// with the directory's Dentry.dirMu held, so names in one directory change
// one at a time; the VFS has already checked that the name is absent
// (creating) or present (removing), is not "." or "..", and is at most
// NAME_MAX bytes.
type DirInode interface {
	Inode

	// Lookup returns the child called name, with a reference for a new
	// dentry, or ENOENT.
	Lookup(ctx context.Context, name string) (Inode, error)

	// Create makes a regular file called name.
	Create(ctx context.Context, name string, opts *CreateOptions) (Inode, error)

	// Mkdir makes a directory called name.
	Mkdir(ctx context.Context, name string, opts *MkdirOptions) (Inode, error)

	// Mknod makes a special file (fifo, device, socket) or regular file.
	Mknod(ctx context.Context, name string, opts *MknodOptions) (Inode, error)

	// Symlink makes a symbolic link called name.
	Symlink(ctx context.Context, name string, opts *SymlinkOptions) (Inode, error)

	// Link makes name a new hard link to target, an inode of the same file
	// system that is not a directory. It returns the inode to cache for
	// the new name (target itself, or a new inode for the same file), with
	// a reference for the new dentry.
	Link(ctx context.Context, name string, target Inode) (Inode, error)

	// Unlink removes the non-directory child called name, which is child.
	Unlink(ctx context.Context, name string, child Inode) error

	// Rmdir removes the directory child called name, which is child; it
	// returns ENOTEMPTY unless child is empty. The child's dirMu is held
	// too.
	Rmdir(ctx context.Context, name string, child Inode) error

	// Rename moves renamed (called oldName in this directory) to newName in
	// newDir, a directory of the same file system, replacing replaced (nil
	// if newName is absent). flags holds RENAME_NOREPLACE or
	// RENAME_EXCHANGE (then replaced is not nil and the two swap).
	// Preconditions: the VFS's renameMu is held for writing and both
	// directories' dirMu are held, so Rename must not use VFS paths or
	// dentries other than fixed ones (roots, anonymous files); the VFS
	// checked that a directory is not moved below itself.
	Rename(ctx context.Context, oldName string, renamed Inode, newDir DirInode, newName string, replaced Inode, flags uint32) error
}

// DirRevalidator is implemented by directories whose children can change
// behind the VFS's back (a /proc pid directory, a shared host directory).
// Before a cached child is used, the VFS asks Revalidate; false drops the
// cached dentry (holders keep theirs, now disconnected) and Lookup is
// called again.
type DirRevalidator interface {
	Revalidate(ctx context.Context, name string, child Inode) bool
}

// SymlinkInode is an Inode of type S_IFLNK.
type SymlinkInode interface {
	Inode
	// Readlink returns the link's target.
	Readlink(ctx context.Context) (string, error)
}

// MagicLinkInode is a symbolic link that refers to a file rather than a
// path, like /proc/self/fd/N, /proc/self/cwd, /proc/self/exe: path
// resolution jumps to the returned VirtualDentry (the caller drops its
// reference). readlink(2) still returns Readlink's text.
type MagicLinkInode interface {
	SymlinkInode
	// Getlink returns the file the link refers to, with a reference.
	Getlink(ctx context.Context) (VirtualDentry, error)
}

// SocketInode is an Inode of type S_IFSOCK: connect(2) of a unix socket
// finds the listening socket's endpoint through it.
type SocketInode interface {
	Inode
	// BoundEndpoint returns the endpoint given at creation
	// (MknodOptions.Endpoint), or nil if no socket is bound to the file.
	BoundEndpoint() any
}

// ReadOnlyDir is embedded by directories whose names cannot be changed by
// the application (procfs, sysfs): every mutating DirInode method returns
// EPERM.
type ReadOnlyDir struct{}

// Create implements DirInode.Create.
func (ReadOnlyDir) Create(context.Context, string, *CreateOptions) (Inode, error) {
	return nil, abi.EPERM
}

// Mkdir implements DirInode.Mkdir.
func (ReadOnlyDir) Mkdir(context.Context, string, *MkdirOptions) (Inode, error) {
	return nil, abi.EPERM
}

// Mknod implements DirInode.Mknod.
func (ReadOnlyDir) Mknod(context.Context, string, *MknodOptions) (Inode, error) {
	return nil, abi.EPERM
}

// Symlink implements DirInode.Symlink.
func (ReadOnlyDir) Symlink(context.Context, string, *SymlinkOptions) (Inode, error) {
	return nil, abi.EPERM
}

// Link implements DirInode.Link.
func (ReadOnlyDir) Link(context.Context, string, Inode) (Inode, error) {
	return nil, abi.EPERM
}

// Unlink implements DirInode.Unlink.
func (ReadOnlyDir) Unlink(context.Context, string, Inode) error { return abi.EPERM }

// Rmdir implements DirInode.Rmdir.
func (ReadOnlyDir) Rmdir(context.Context, string, Inode) error { return abi.EPERM }

// Rename implements DirInode.Rename.
func (ReadOnlyDir) Rename(context.Context, string, Inode, DirInode, string, Inode, uint32) error {
	return abi.EPERM
}
