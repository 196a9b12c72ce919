package abi

// open(2) flags (amd64 values).
const (
	O_RDONLY    = 0x0
	O_WRONLY    = 0x1
	O_RDWR      = 0x2
	O_ACCMODE   = 0x3
	O_CREAT     = 0x40
	O_EXCL      = 0x80
	O_NOCTTY    = 0x100
	O_TRUNC     = 0x200
	O_APPEND    = 0x400
	O_NONBLOCK  = 0x800
	O_DSYNC     = 0x1000
	O_ASYNC     = 0x2000
	O_DIRECT    = 0x4000
	O_LARGEFILE = 0x8000
	O_DIRECTORY = 0x10000
	O_NOFOLLOW  = 0x20000
	O_NOATIME   = 0x40000
	O_CLOEXEC   = 0x80000
	O_SYNC      = 0x101000
	O_PATH      = 0x200000
	O_TMPFILE   = 0x410000
	O_NDELAY    = O_NONBLOCK
)

// File type and permission bits of a mode (st_mode).
const (
	S_IFMT   = 0o170000
	S_IFSOCK = 0o140000
	S_IFLNK  = 0o120000
	S_IFREG  = 0o100000
	S_IFBLK  = 0o060000
	S_IFDIR  = 0o040000
	S_IFCHR  = 0o020000
	S_IFIFO  = 0o010000
	S_ISUID  = 0o4000
	S_ISGID  = 0o2000
	S_ISVTX  = 0o1000
	S_IRWXU  = 0o700
	S_IRUSR  = 0o400
	S_IWUSR  = 0o200
	S_IXUSR  = 0o100
	S_IRWXG  = 0o70
	S_IRWXO  = 0o7
	// PermMask is every permission bit a chmod may set.
	PermMask = 0o7777
)

// Directory entry types (d_type of dirent64).
const (
	DT_UNKNOWN = 0
	DT_FIFO    = 1
	DT_CHR     = 2
	DT_DIR     = 4
	DT_BLK     = 6
	DT_REG     = 8
	DT_LNK     = 10
	DT_SOCK    = 12
	DT_WHT     = 14
)

// DirentType returns the d_type for a file mode.
func DirentType(mode uint32) uint8 {
	switch mode & S_IFMT {
	case S_IFSOCK:
		return DT_SOCK
	case S_IFLNK:
		return DT_LNK
	case S_IFREG:
		return DT_REG
	case S_IFBLK:
		return DT_BLK
	case S_IFDIR:
		return DT_DIR
	case S_IFCHR:
		return DT_CHR
	case S_IFIFO:
		return DT_FIFO
	}
	return DT_UNKNOWN
}

// *at(2) flags and the AT_FDCWD directory.
const (
	AT_FDCWD            = -100
	AT_SYMLINK_NOFOLLOW = 0x100
	AT_EACCESS          = 0x200
	AT_REMOVEDIR        = 0x200
	AT_SYMLINK_FOLLOW   = 0x400
	AT_NO_AUTOMOUNT     = 0x800
	AT_EMPTY_PATH       = 0x1000
	AT_STATX_SYNC_TYPE  = 0x6000
)

// access(2) modes.
const (
	F_OK = 0
	X_OK = 1
	W_OK = 2
	R_OK = 4
)

// fcntl(2) commands and flags.
const (
	F_DUPFD         = 0
	F_GETFD         = 1
	F_SETFD         = 2
	F_GETFL         = 3
	F_SETFL         = 4
	F_GETLK         = 5
	F_SETLK         = 6
	F_SETLKW        = 7
	F_SETOWN        = 8
	F_GETOWN        = 9
	F_SETSIG        = 10
	F_GETSIG        = 11
	F_SETOWN_EX     = 15
	F_GETOWN_EX     = 16
	F_OFD_GETLK     = 36
	F_OFD_SETLK     = 37
	F_OFD_SETLKW    = 38
	F_SETLEASE      = 1024
	F_GETLEASE      = 1025
	F_NOTIFY        = 1026
	F_DUPFD_CLOEXEC = 1030
	F_SETPIPE_SZ    = 1031
	F_GETPIPE_SZ    = 1032
	F_ADD_SEALS     = 1033
	F_GET_SEALS     = 1034
	FD_CLOEXEC      = 1
	F_RDLCK         = 0
	F_WRLCK         = 1
	F_UNLCK         = 2
)

// Flock is struct flock, the argument of F_GETLK/F_SETLK.
type Flock struct {
	Type   int16
	Whence int16
	_      [4]byte
	Start  int64
	Len    int64
	PID    int32
	_      [4]byte
}

// lseek(2) whence values.
const (
	SEEK_SET  = 0
	SEEK_CUR  = 1
	SEEK_END  = 2
	SEEK_DATA = 3
	SEEK_HOLE = 4
)

// utimensat(2) special nanosecond values.
const (
	UTIME_NOW  = (1 << 30) - 1
	UTIME_OMIT = (1 << 30) - 2
)

// renameat2(2) flags.
const (
	RENAME_NOREPLACE = 1
	RENAME_EXCHANGE  = 2
	RENAME_WHITEOUT  = 4
)

// Stat is struct stat as stat(2) and fstat(2) return it on amd64.
type Stat struct {
	Dev     uint64
	Ino     uint64
	Nlink   uint64
	Mode    uint32
	UID     uint32
	GID     uint32
	_       int32
	Rdev    uint64
	Size    int64
	Blksize int64
	Blocks  int64
	ATime   Timespec
	MTime   Timespec
	CTime   Timespec
	_       [3]int64
}

// statx(2) mask bits.
const (
	STATX_TYPE        = 0x1
	STATX_MODE        = 0x2
	STATX_NLINK       = 0x4
	STATX_UID         = 0x8
	STATX_GID         = 0x10
	STATX_ATIME       = 0x20
	STATX_MTIME       = 0x40
	STATX_CTIME       = 0x80
	STATX_INO         = 0x100
	STATX_SIZE        = 0x200
	STATX_BLOCKS      = 0x400
	STATX_BASIC_STATS = 0x7ff
	STATX_BTIME       = 0x800
	STATX_MNT_ID      = 0x1000
	STATX__RESERVED   = 0x80000000
)

// StatxTimestamp is struct statx_timestamp.
type StatxTimestamp struct {
	Sec  int64
	Nsec uint32
	_    int32
}

// Statx is struct statx, filled by statx(2).
type Statx struct {
	Mask           uint32
	Blksize        uint32
	Attributes     uint64
	Nlink          uint32
	UID            uint32
	GID            uint32
	Mode           uint16
	_              uint16
	Ino            uint64
	Size           uint64
	Blocks         uint64
	AttributesMask uint64
	Atime          StatxTimestamp
	Btime          StatxTimestamp
	Ctime          StatxTimestamp
	Mtime          StatxTimestamp
	RdevMajor      uint32
	RdevMinor      uint32
	DevMajor       uint32
	DevMinor       uint32
	MntID          uint64
	DioMemAlign    uint32
	DioOffsetAlign uint32
	_              [12]uint64
}

// Statfs is struct statfs as statfs(2) returns it on amd64.
type Statfs struct {
	Type    int64
	Bsize   int64
	Blocks  uint64
	Bfree   uint64
	Bavail  uint64
	Files   uint64
	Ffree   uint64
	Fsid    [2]int32
	Namelen int64
	Frsize  int64
	Flags   int64
	Spare   [4]int64
}

// File system magic numbers (statfs f_type).
const (
	TMPFS_MAGIC           = 0x01021994
	PROC_SUPER_MAGIC      = 0x9fa0
	DEVPTS_SUPER_MAGIC    = 0x1cd1
	PIPEFS_MAGIC          = 0x50495045
	SYSFS_MAGIC           = 0x62656572
	CGROUP2_SUPER_MAGIC   = 0x63677270
	SOCKFS_MAGIC          = 0x534f434b
	ANON_INODE_FS_MAGIC   = 0x09041934
	V9FS_MAGIC            = 0x01021997
	OVERLAYFS_SUPER_MAGIC = 0x794c7630
)

// Dirent64Header is the fixed part of struct linux_dirent64; the
// NUL-terminated name follows and the record is padded to 8 bytes.
type Dirent64Header struct {
	Ino    uint64
	Off    int64
	Reclen uint16
	Type   uint8
}

// Dirent64Size returns the record length of a dirent64 holding name.
func Dirent64Size(name string) int {
	// 19 bytes of header, the name and its NUL, rounded up to 8.
	return (19 + len(name) + 1 + 7) &^ 7
}

// AppendDirent64 appends one linux_dirent64 record to buf and returns it.
func AppendDirent64(buf []byte, ino uint64, off int64, typ uint8, name string) []byte {
	n := Dirent64Size(name)
	start := len(buf)
	buf = append(buf, make([]byte, n)...)
	rec := buf[start:]
	putUint64(rec[0:], ino)
	putUint64(rec[8:], uint64(off))
	rec[16] = byte(n)
	rec[17] = byte(n >> 8)
	rec[18] = typ
	copy(rec[19:], name)
	return buf
}

func putUint64(b []byte, v uint64) {
	for i := 0; i < 8; i++ {
		b[i] = byte(v >> (8 * i))
	}
}

// Iovec is struct iovec.
type Iovec struct {
	Base uint64
	Len  uint64
}

// Maximum number of iovecs per call and of symlinks followed per walk.
const (
	UIO_MAXIOV  = 1024
	MAXSYMLINKS = 40
	// PATH_MAX is the longest path a system call accepts, with its NUL.
	PATH_MAX = 4096
	// NAME_MAX is the longest file name component.
	NAME_MAX = 255
)

// poll(2) events.
const (
	POLLIN     = 0x1
	POLLPRI    = 0x2
	POLLOUT    = 0x4
	POLLERR    = 0x8
	POLLHUP    = 0x10
	POLLNVAL   = 0x20
	POLLRDNORM = 0x40
	POLLRDBAND = 0x80
	POLLWRNORM = 0x100
	POLLWRBAND = 0x200
	POLLMSG    = 0x400
	POLLRDHUP  = 0x2000
)

// PollFD is struct pollfd.
type PollFD struct {
	FD      int32
	Events  int16
	Revents int16
}

// FD_SETSIZE is the number of descriptors an fd_set holds.
const FD_SETSIZE = 1024

// flock(2) operations.
const (
	LOCK_SH = 1
	LOCK_EX = 2
	LOCK_NB = 4
	LOCK_UN = 8
)

// Mount flags (statfs f_flags, mount(2)).
const (
	MS_RDONLY       = 0x1
	MS_NOSUID       = 0x2
	MS_NODEV        = 0x4
	MS_NOEXEC       = 0x8
	MS_REMOUNT      = 0x20
	MS_NOATIME      = 0x400
	MS_NODIRATIME   = 0x800
	MS_BIND         = 0x1000
	MS_REC          = 0x4000
	MS_RELATIME     = 0x200000
	ST_RDONLY       = 0x1
	ST_NOSUID       = 0x2
	MNT_FORCE       = 0x1
	MNT_DETACH      = 0x2
	UMOUNT_NOFOLLOW = 0x8
)

// Device numbers: Linux packs major and minor into one dev_t.

// MakeDev returns the dev_t for major and minor.
func MakeDev(major, minor uint32) uint64 {
	return uint64(minor&0xff) | uint64(major&0xfff)<<8 | uint64(minor&^0xff)<<12 | uint64(major&^0xfff)<<32
}

// DevMajor returns the major number of dev.
func DevMajor(dev uint64) uint32 { return uint32((dev>>8)&0xfff) | uint32(dev>>32)&^0xfff }

// DevMinor returns the minor number of dev.
func DevMinor(dev uint64) uint32 { return uint32(dev&0xff) | uint32(dev>>12)&^0xff }
