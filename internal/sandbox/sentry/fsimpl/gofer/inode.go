package gofer

import (
	"context"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/protocol"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/fsimpl/pipe"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/memmap"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

// inode is one file of the tree, named by a Gofer handle. One Go type
// serves every file type; methods of another type's interface fail as
// Linux does (the VFS checks types before calling them).
type inode struct {
	fs     *filesystem
	handle protocol.Handle
	typ    uint32

	attrMu sync.Mutex
	// stat and stale are guarded by attrMu; stale asks Stat to refresh
	// the attributes from the Gofer.
	stat  protocol.Stat
	stale bool
	// target caches a symbolic link's target; guarded by attrMu.
	target string

	// hostMu guards the host descriptors: roFD is read-only, rwFD
	// read-write; -1 when not open.
	hostMu sync.Mutex
	roFD   int
	rwFD   int

	// Mappings and cached pages of a regular file (see regular.go).
	mapsMu      sync.Mutex
	mappings    memmap.MappingSet
	writableMap int
	// hadWritable is set while pages may be dirty from a writable
	// mapping that writeBack has not flushed since.
	hadWritable bool
	cacheMu     sync.Mutex
	pages       map[uint64]memmap.FileRange

	// special holds the Sentry side of FIFOs (*pipe.VFSPipe) and sockets
	// (their endpoint); guarded by attrMu.
	vpipe    *pipe.VFSPipe
	endpoint any
}

var (
	_ vfs.DirInode     = (*inode)(nil)
	_ vfs.SymlinkInode = (*inode)(nil)
	_ vfs.SocketInode  = (*inode)(nil)
	_ memmap.Mappable  = (*inode)(nil)
)

func (fs *filesystem) newInode(in protocol.Inode) *inode {
	return &inode{fs: fs, handle: in.Handle, typ: in.Stat.Mode & unix.S_IFMT, stat: in.Stat, roFD: -1, rwFD: -1}
}

// Type implements vfs.Inode.Type.
func (i *inode) Type() uint32 { return i.typ }

// attrs returns the cached attributes, refreshing them if stale: from the
// host descriptor of an open regular file (no round trip), else from the
// Gofer.
func (i *inode) attrs(ctx context.Context) (protocol.Stat, error) {
	if i.typ == unix.S_IFREG {
		i.hostMu.Lock()
		fd := i.rwFD
		if fd < 0 {
			fd = i.roFD
		}
		i.hostMu.Unlock()
		if fd >= 0 {
			var st unix.Stat_t
			if err := unix.Fstat(fd, &st); err == nil {
				i.attrMu.Lock()
				i.stat.Size = uint64(st.Size)
				i.stat.Blocks = uint64(st.Blocks)
				i.stat.Atime = protocol.Timespec{Sec: st.Atim.Sec, Nsec: st.Atim.Nsec}
				i.stat.Mtime = protocol.Timespec{Sec: st.Mtim.Sec, Nsec: st.Mtim.Nsec}
				i.stat.Ctime = protocol.Timespec{Sec: st.Ctim.Sec, Nsec: st.Ctim.Nsec}
				i.stat.Nlink = uint32(st.Nlink)
				i.stat.Mode = st.Mode
				i.stat.UID, i.stat.GID = st.Uid, st.Gid
				s := i.stat
				i.attrMu.Unlock()
				return s, nil
			}
		}
	}
	i.attrMu.Lock()
	stale := i.stale
	s := i.stat
	i.attrMu.Unlock()
	if !stale {
		return s, nil
	}
	s, err := i.fs.client.Stat(ctx, i.handle)
	if err != nil {
		return protocol.Stat{}, hostErr(err)
	}
	i.setAttrs(s)
	return s, nil
}

func (i *inode) setAttrs(s protocol.Stat) {
	i.attrMu.Lock()
	i.stat = s
	i.stale = false
	i.attrMu.Unlock()
}

// invalidate marks the attributes stale after a change made elsewhere
// (a link count, a directory's times).
func (i *inode) invalidate() {
	i.attrMu.Lock()
	i.stale = true
	i.attrMu.Unlock()
}

// Stat implements vfs.Inode.Stat.
func (i *inode) Stat(ctx context.Context, mask uint32) (vfs.Statx, error) {
	s, err := i.attrs(ctx)
	if err != nil {
		return vfs.Statx{}, err
	}
	st := vfs.Statx{
		Mask:      abi.STATX_BASIC_STATS,
		Blksize:   s.Blksize,
		Nlink:     s.Nlink,
		UID:       s.UID,
		GID:       s.GID,
		Mode:      s.Mode,
		Ino:       s.Ino,
		Size:      s.Size,
		Blocks:    s.Blocks,
		Atime:     vfs.Timespec{Sec: s.Atime.Sec, Nsec: s.Atime.Nsec},
		Mtime:     vfs.Timespec{Sec: s.Mtime.Sec, Nsec: s.Mtime.Nsec},
		Ctime:     vfs.Timespec{Sec: s.Ctime.Sec, Nsec: s.Ctime.Nsec},
		RdevMajor: unix.Major(s.Rdev),
		RdevMinor: unix.Minor(s.Rdev),
	}
	if st.Blksize == 0 {
		st.Blksize = abi.PageSize
	}
	if i.typ == unix.S_IFIFO {
		// What a pipe holds is in the Sentry.
		st.Size = 0
		if vp := i.pipeIfOpen(); vp != nil {
			st.Size = uint64(vp.Pipe().Queued())
		}
	}
	return st, nil
}

// SetStat implements vfs.Inode.SetStat.
func (i *inode) SetStat(ctx context.Context, opts *vfs.SetStatOptions) error {
	if opts.Mask&abi.STATX_SIZE != 0 {
		// Pages past the new end must go from mappings first.
		i.truncateCache(opts.Size)
	}
	s, err := i.fs.client.SetAttr(ctx, i.handle, protocol.SetAttr{
		Mask:  opts.Mask,
		Mode:  opts.Mode,
		UID:   opts.UID,
		GID:   opts.GID,
		Size:  opts.Size,
		Atime: protocol.Timespec{Sec: opts.Atime.Sec, Nsec: opts.Atime.Nsec},
		Mtime: protocol.Timespec{Sec: opts.Mtime.Sec, Nsec: opts.Mtime.Nsec},
	})
	if err != nil {
		return hostErr(err)
	}
	i.setAttrs(s)
	return nil
}

// CheckPermissions implements vfs.Inode.CheckPermissions with the cached
// mode and owner.
func (i *inode) CheckPermissions(ctx context.Context, creds *vfs.Credentials, ats vfs.AccessTypes) error {
	i.attrMu.Lock()
	mode, uid, gid := i.stat.Mode, i.stat.UID, i.stat.GID
	i.attrMu.Unlock()
	return vfs.GenericCheckPermissions(creds, ats, mode, uid, gid)
}

// Open implements vfs.Inode.Open.
func (i *inode) Open(ctx context.Context, vd vfs.VirtualDentry, opts *vfs.OpenOptions) (*vfs.FileDescription, error) {
	switch i.typ {
	case unix.S_IFREG:
		return i.openRegular(ctx, vd, opts)
	case unix.S_IFDIR:
		fd := &dirFD{inode: i}
		fd.vfsfd.Init(fd, opts.Flags, vd)
		return &fd.vfsfd, nil
	case unix.S_IFLNK:
		return nil, abi.ELOOP
	case unix.S_IFIFO:
		return i.pipe().Open(ctx, vd, opts.Flags)
	case unix.S_IFCHR, unix.S_IFBLK:
		i.attrMu.Lock()
		rdev := i.stat.Rdev
		i.attrMu.Unlock()
		return i.fs.vfsfs.VirtualFilesystem().OpenDevice(ctx, i.typ, unix.Major(rdev), unix.Minor(rdev), vd, opts)
	default:
		return nil, abi.ENXIO
	}
}

// pipe returns the Sentry pipe of a FIFO, making it on first use.
func (i *inode) pipe() *pipe.VFSPipe {
	i.attrMu.Lock()
	defer i.attrMu.Unlock()
	if i.vpipe == nil {
		i.vpipe = pipe.NewVFSPipe()
	}
	return i.vpipe
}

func (i *inode) pipeIfOpen() *pipe.VFSPipe {
	i.attrMu.Lock()
	defer i.attrMu.Unlock()
	return i.vpipe
}

// BoundEndpoint implements vfs.SocketInode.BoundEndpoint.
func (i *inode) BoundEndpoint() any {
	i.attrMu.Lock()
	defer i.attrMu.Unlock()
	return i.endpoint
}

// Readlink implements vfs.SymlinkInode.Readlink.
func (i *inode) Readlink(ctx context.Context) (string, error) {
	if i.typ != unix.S_IFLNK {
		return "", abi.EINVAL
	}
	i.attrMu.Lock()
	t := i.target
	i.attrMu.Unlock()
	if t != "" {
		return t, nil
	}
	t, err := i.fs.client.Readlink(ctx, i.handle)
	if err != nil {
		return "", hostErr(err)
	}
	i.attrMu.Lock()
	i.target = t
	i.attrMu.Unlock()
	return t, nil
}

// DecRef implements vfs.Inode.DecRef: the dentry is gone, so are the
// handle, the host descriptors and any cached pages.
func (i *inode) DecRef(ctx context.Context) {
	i.writeBack(ctx)
	i.hostMu.Lock()
	for _, fd := range []int{i.roFD, i.rwFD} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
	i.roFD, i.rwFD = -1, -1
	i.hostMu.Unlock()
	i.dropCache()
	i.fs.closeHandle(ctx, i.handle)
}
