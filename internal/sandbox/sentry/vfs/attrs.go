package vfs

import (
	"context"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
)

// InodeAttrs holds the attributes every in-Sentry inode has (type, mode,
// owner, link count, times) and implements the attribute parts of Inode
// over them. File systems embed it and add what is theirs (size, data).
type InodeAttrs struct {
	vfs      *VirtualFilesystem
	devMinor uint32
	ino      uint64
	typ      uint32

	mu sync.Mutex
	// The rest is guarded by mu.
	mode                       uint32 // permission bits only
	uid, gid                   uint32
	nlink                      uint32
	atime, mtime, ctime, btime Timespec
	rdevMajor, rdevMinor       uint32
}

// Init sets the inode's identity and first attributes; mode holds the file
// type and permission bits. Times are set to now. nlink starts at 1 (2 for
// a directory).
func (a *InodeAttrs) Init(fs *Filesystem, ino uint64, mode, uid, gid uint32) {
	a.vfs = fs.vfs
	a.devMinor = fs.devMinor
	a.ino = ino
	a.typ = mode & unix.S_IFMT
	a.mode = mode &^ unix.S_IFMT
	a.uid, a.gid = uid, gid
	a.nlink = 1
	if a.typ == unix.S_IFDIR {
		a.nlink = 2
	}
	now := fs.vfs.Now()
	a.atime, a.mtime, a.ctime, a.btime = now, now, now, now
}

// SetRdev sets the device numbers of a device inode.
func (a *InodeAttrs) SetRdev(major, minor uint32) {
	a.mu.Lock()
	a.rdevMajor, a.rdevMinor = major, minor
	a.mu.Unlock()
}

// Rdev returns the device numbers of a device inode.
func (a *InodeAttrs) Rdev() (major, minor uint32) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.rdevMajor, a.rdevMinor
}

// Ino returns the inode number.
func (a *InodeAttrs) Ino() uint64 { return a.ino }

// Type implements Inode.Type.
func (a *InodeAttrs) Type() uint32 { return a.typ }

// Mode returns the type and permission bits.
func (a *InodeAttrs) Mode() uint32 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.typ | a.mode
}

// Owner returns the owning user and group.
func (a *InodeAttrs) Owner() (uid, gid uint32) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.uid, a.gid
}

// Nlink returns the link count.
func (a *InodeAttrs) Nlink() uint32 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.nlink
}

// IncLinks adds n (which may be negative) to the link count and updates
// ctime; it returns the new count.
func (a *InodeAttrs) IncLinks(n int32) uint32 {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.nlink = uint32(int32(a.nlink) + n)
	a.ctime = a.vfs.Now()
	return a.nlink
}

// Touch updates the times whose flags are set to now.
func (a *InodeAttrs) Touch(atime, mtime, ctime bool) {
	now := a.vfs.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if atime {
		a.atime = now
	}
	if mtime {
		a.mtime = now
	}
	if ctime {
		a.ctime = now
	}
}

// StatAttrs fills the attributes InodeAttrs holds; the caller adds size
// and blocks.
func (a *InodeAttrs) StatAttrs() Statx {
	a.mu.Lock()
	defer a.mu.Unlock()
	return Statx{
		Mask:      unix.STATX_TYPE | unix.STATX_MODE | unix.STATX_NLINK | unix.STATX_UID | unix.STATX_GID | unix.STATX_ATIME | unix.STATX_MTIME | unix.STATX_CTIME | unix.STATX_INO | unix.STATX_BTIME,
		Blksize:   4096,
		Nlink:     a.nlink,
		UID:       a.uid,
		GID:       a.gid,
		Mode:      a.typ | a.mode,
		Ino:       a.ino,
		Atime:     a.atime,
		Btime:     a.btime,
		Ctime:     a.ctime,
		Mtime:     a.mtime,
		RdevMajor: a.rdevMajor,
		RdevMinor: a.rdevMinor,
		DevMinor:  a.devMinor,
	}
}

// Stat implements Inode.Stat for inodes without a size.
func (a *InodeAttrs) Stat(ctx context.Context, mask uint32) (Statx, error) {
	return a.StatAttrs(), nil
}

// SetAttrs applies the mode, owner and time changes of opts and updates
// ctime; it ignores STATX_SIZE, which the embedding file system handles.
func (a *InodeAttrs) SetAttrs(opts *SetStatOptions) {
	now := a.vfs.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if opts.Mask&unix.STATX_MODE != 0 {
		a.mode = opts.Mode & 0o7777
	}
	if opts.Mask&unix.STATX_UID != 0 {
		a.uid = opts.UID
	}
	if opts.Mask&unix.STATX_GID != 0 {
		a.gid = opts.GID
	}
	if opts.Mask&unix.STATX_ATIME != 0 {
		a.atime = opts.Atime
	}
	if opts.Mask&unix.STATX_MTIME != 0 {
		a.mtime = opts.Mtime
	}
	if opts.Mask != 0 {
		a.ctime = now
	}
}

// SetStat implements Inode.SetStat for inodes without a size (a size
// change is EINVAL).
func (a *InodeAttrs) SetStat(ctx context.Context, opts *SetStatOptions) error {
	if opts.Mask&unix.STATX_SIZE != 0 {
		return abi.EINVAL
	}
	a.SetAttrs(opts)
	return nil
}

// CheckPermissions implements Inode.CheckPermissions.
func (a *InodeAttrs) CheckPermissions(ctx context.Context, creds *Credentials, ats AccessTypes) error {
	a.mu.Lock()
	mode, uid, gid := a.typ|a.mode, a.uid, a.gid
	a.mu.Unlock()
	return GenericCheckPermissions(creds, ats, mode, uid, gid)
}
