package vfs

import (
	"time"

	"golang.org/x/sys/unix"
)

// Timespec is a point in time as Linux stores it in inodes.
type Timespec struct {
	Sec  int64
	Nsec int64
}

// TimespecFromTime converts t.
func TimespecFromTime(t time.Time) Timespec {
	return Timespec{Sec: t.Unix(), Nsec: int64(t.Nanosecond())}
}

// Special Timespec.Nsec values in SetStatOptions, as utimensat(2) takes them.
const (
	UtimeNow  = (1 << 30) - 1 // UTIME_NOW
	UtimeOmit = (1 << 30) - 2 // UTIME_OMIT
)

// Statx is a file's attributes, as statx(2) reports them; the kernel
// converts it to struct stat or struct statx. Mask says which fields are
// valid (unix.STATX_* bits).
type Statx struct {
	Mask           uint32
	Blksize        uint32
	Attributes     uint64
	Nlink          uint32
	UID            uint32
	GID            uint32
	Mode           uint32 // type and permission bits
	Ino            uint64
	Size           uint64
	Blocks         uint64 // in 512-byte units
	AttributesMask uint64
	Atime          Timespec
	Btime          Timespec
	Ctime          Timespec
	Mtime          Timespec
	RdevMajor      uint32
	RdevMinor      uint32
	DevMajor       uint32
	DevMinor       uint32
}

// StatxBasic is the mask of the fields struct stat holds.
const StatxBasic = unix.STATX_BASIC_STATS

// SetStatOptions describes a change of attributes (chmod, chown,
// truncate, utimensat). Mask says which fields to change: unix.STATX_MODE,
// STATX_UID, STATX_GID, STATX_SIZE, STATX_ATIME, STATX_MTIME.
//
// VirtualFilesystem normalises it before a file system sees it: UtimeNow
// is replaced by the current time, UtimeOmit clears the mask bit, and Mode
// holds permission bits only (07777).
type SetStatOptions struct {
	Mask  uint32
	Mode  uint32
	UID   uint32
	GID   uint32
	Size  uint64
	Atime Timespec
	Mtime Timespec
}

// Statfs is a file system's statistics, as statfs(2) reports them.
type Statfs struct {
	Type        uint64
	BlockSize   int64
	Blocks      uint64
	BlocksFree  uint64
	BlocksAvail uint64
	Files       uint64
	FilesFree   uint64
	NameLength  uint64
	FragSize    int64
	Flags       uint64
}

// Dirent is one directory entry, as getdents64 reports it.
type Dirent struct {
	Name string
	// Type is a DT_* value (unix.DT_REG, ...).
	Type uint8
	Ino  uint64
	// NextOff is the directory offset after this entry: seeking there
	// resumes the listing with the next entry.
	NextOff int64
}

// IterDirentsCallback receives directory entries. It returns an error (the
// caller's buffer is full, say) to stop the iteration before this entry: the
// file's offset then stays at this entry, and IterDirents returns the error.
type IterDirentsCallback func(Dirent) error

// DirentType returns the DT_* value of a file type (S_IF* bits).
func DirentType(mode uint32) uint8 {
	return uint8((mode & unix.S_IFMT) >> 12)
}

// ReadOptions holds preadv2(2)'s flags (RWF_*); file systems may ignore them.
type ReadOptions struct {
	Flags uint32
}

// RWFAppend is pwritev2(2)'s RWF_APPEND flag.
const RWFAppend = 0x10

// WriteOptions holds pwritev2(2)'s flags (RWF_*); file systems may ignore
// them, except that RWF_APPEND appends like O_APPEND.
type WriteOptions struct {
	Flags uint32
}

// OpenOptions describes an open(2).
type OpenOptions struct {
	// Flags are open(2)'s flags. O_CLOEXEC belongs to the FD table and is
	// ignored here.
	Flags uint32
	// Mode is the permission bits of a file O_CREAT creates, with the
	// umask already applied by the caller.
	Mode uint32
	// FileExec asks for a file to execute (execve, uselib): it must be a
	// regular file the caller may execute, on a mount without noexec.
	FileExec bool
}

// CreateOptions describes a new regular file (DirInode.Create).
type CreateOptions struct {
	// Mode holds permission bits (the umask applied).
	Mode uint32
	// UID and GID own the new file.
	UID, GID uint32
	// Flags are the open(2) flags of the open that creates the file.
	Flags uint32
}

// MkdirOptions describes a new directory.
type MkdirOptions struct {
	// Mode holds permission bits (the umask applied by the caller); the
	// set-group-ID bit may be added for a set-group-ID parent.
	Mode     uint32
	UID, GID uint32
}

// MknodOptions describes a new special file or regular file.
type MknodOptions struct {
	// Mode holds the file type (S_IFREG, S_IFIFO, S_IFCHR, S_IFBLK,
	// S_IFSOCK) and permission bits (the umask applied).
	Mode               uint32
	UID, GID           uint32
	DevMajor, DevMinor uint32
	// Endpoint is the bound socket of an S_IFSOCK file made by bind(2) of
	// a unix socket; the file system keeps it for SocketInode.
	Endpoint any
}

// SymlinkOptions describes a new symbolic link.
type SymlinkOptions struct {
	Target   string
	UID, GID uint32
}

// RenameOptions holds renameat2(2)'s flags: unix.RENAME_NOREPLACE and
// unix.RENAME_EXCHANGE are supported, RENAME_WHITEOUT is not (EINVAL).
type RenameOptions struct {
	Flags uint32
}

// GetDentryOptions tunes GetDentryAt.
type GetDentryOptions struct {
	// CheckSearchable requires a directory the caller may search (chdir).
	CheckSearchable bool
}
