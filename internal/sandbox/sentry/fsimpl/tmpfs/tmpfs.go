// Package tmpfs is the Sentry's in-memory file system: directories,
// regular files whose pages live in the Sentry's memory file (so mm maps
// them directly, shared or copy-on-write), symbolic links, hard links,
// FIFOs, device nodes and socket files. It backs tmpfs mounts, /dev, the
// writable upper layer of an overlay, and /dev/shm. It is at the vfs
// layer; boot registers FilesystemType and devfs and overlay import it.
//
// # Lock order
//
//	filesystem.mu (all names of the file system)
//	  regularFile.ioMu (serialises writes and truncation)
//	    mm's mapping lock (a write pinning the application's memory)
//	      regularFile.mapsMu (its MappingSet)
//	        mm's active lock (taken by MappingSpace.Invalidate)
//	          regularFile.dataMu (its size and extents; Translate takes it)
//	            vfs.InodeAttrs's lock
//
// Reads and writes hold dataMu only to look up (and allocate) extents,
// never while they copy from or to application memory: faulting that
// memory in may Translate a mapping of the same file, which takes
// dataMu. A read keeps the pages it copies alive with references; a
// write needs none, since ioMu keeps truncation out.
//
// One lock, filesystem.mu, guards every directory's entries: the VFS
// caches lookups, so tmpfs's name operations are rare and short.
package tmpfs

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/fsimpl/pipe"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/memmap"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

// Name is the file system type's name.
const Name = "tmpfs"

// tmpfsMagic is statfs's f_type for tmpfs (TMPFS_MAGIC).
const tmpfsMagic = 0x01021994

// maxLinks bounds a file's hard links (EMLINK beyond).
const maxLinks = 65000

// FilesystemType makes tmpfs file systems: register it with
// vfs.VirtualFilesystem.RegisterFilesystemType to let mount(2) use it.
type FilesystemType struct {
	// MemoryFile holds regular files' pages.
	MemoryFile memmap.MemoryFile
}

// Name implements vfs.FilesystemType.Name.
func (FilesystemType) Name() string { return Name }

// Options configure a new tmpfs.
type Options struct {
	// Mode is the root directory's permission bits (01777 if zero).
	Mode uint32
	// UID and GID own the root directory.
	UID, GID uint32
	// MaxSize bounds the bytes of file data (ENOSPC beyond); 0 is no
	// limit but the memory file's.
	MaxSize uint64
	// MaxCachedDentries bounds the VFS's cache of unused dentries (see
	// vfs.FilesystemOptions); 0 keeps them all, which costs little as
	// tmpfs keeps every inode in memory anyway.
	MaxCachedDentries int
}

// ParseOptions parses mount(2) data for tmpfs: "mode=1777,uid=0,gid=0,
// size=64m" (size takes k, m, g suffixes or a percentage, which is not
// supported: EINVAL). nr_inodes and other unknown keys are EINVAL too.
func ParseOptions(data string, creds *vfs.Credentials) (Options, error) {
	opts := Options{Mode: 0o1777, UID: creds.UID, GID: creds.GID}
	for _, kv := range strings.Split(data, ",") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "mode":
			m, err := strconv.ParseUint(v, 8, 32)
			if err != nil || m > 0o7777 {
				return Options{}, abi.EINVAL
			}
			opts.Mode = uint32(m)
		case "uid", "gid":
			id, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return Options{}, abi.EINVAL
			}
			if k == "uid" {
				opts.UID = uint32(id)
			} else {
				opts.GID = uint32(id)
			}
		case "size":
			n, err := parseSize(v)
			if err != nil {
				return Options{}, err
			}
			opts.MaxSize = n
		default:
			return Options{}, abi.EINVAL
		}
	}
	return opts, nil
}

func parseSize(v string) (uint64, error) {
	mult := uint64(1)
	if v != "" {
		switch v[len(v)-1] {
		case 'k', 'K':
			mult = 1 << 10
		case 'm', 'M':
			mult = 1 << 20
		case 'g', 'G':
			mult = 1 << 30
		}
		if mult != 1 {
			v = v[:len(v)-1]
		}
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n > (1<<63)/mult {
		return 0, abi.EINVAL
	}
	return n * mult, nil
}

// GetFilesystem implements vfs.FilesystemType.GetFilesystem.
func (ft FilesystemType) GetFilesystem(ctx context.Context, vfsObj *vfs.VirtualFilesystem, creds *vfs.Credentials, source string, opts vfs.GetFilesystemOptions) (*vfs.Filesystem, *vfs.Dentry, error) {
	o, err := ParseOptions(opts.Data, creds)
	if err != nil {
		return nil, nil, err
	}
	fs, root := New(vfsObj, ft.MemoryFile, o)
	return fs, root, nil
}

// New returns a new tmpfs and its root, each with a reference for the
// caller (see vfs.FilesystemType.GetFilesystem).
func New(vfsObj *vfs.VirtualFilesystem, mf memmap.MemoryFile, opts Options) (*vfs.Filesystem, *vfs.Dentry) {
	fs := &filesystem{mf: mf, maxSize: opts.MaxSize, opts: opts}
	fs.vfsfs = vfsObj.NewFilesystem(fs, vfs.FilesystemOptions{MaxCachedDentries: opts.MaxCachedDentries})
	mode := opts.Mode
	if mode == 0 {
		mode = 0o1777
	}
	root := fs.newDirectory(mode&0o7777, opts.UID, opts.GID)
	return fs.vfsfs, fs.vfsfs.SetRoot(root)
}

// filesystem is one tmpfs instance.
type filesystem struct {
	vfsfs   *vfs.Filesystem
	mf      memmap.MemoryFile
	maxSize uint64
	opts    Options
	nextIno atomic.Uint64
	// usedPages counts allocated data pages, for statfs and MaxSize.
	usedPages atomic.Int64

	// mu guards every directory's entries and every inode's parent.
	mu sync.RWMutex
}

// Name implements vfs.FilesystemImpl.Name.
func (fs *filesystem) Name() string { return Name }

// StatFS implements vfs.FilesystemImpl.StatFS.
func (fs *filesystem) StatFS(ctx context.Context) (vfs.Statfs, error) {
	used := uint64(fs.usedPages.Load())
	st := vfs.Statfs{Type: tmpfsMagic, BlockSize: abi.PageSize, FragSize: abi.PageSize, NameLength: vfs.NameMax}
	if fs.maxSize > 0 {
		st.Blocks = fs.maxSize / abi.PageSize
		st.BlocksFree = st.Blocks - min(used, st.Blocks)
		st.BlocksAvail = st.BlocksFree
	}
	return st, nil
}

// Release implements vfs.FilesystemImpl.Release.
func (fs *filesystem) Release(ctx context.Context) {}

// MountOptions implements vfs.MountOptionsShower.
func (fs *filesystem) MountOptions() string {
	s := fmt.Sprintf("mode=%o", fs.opts.Mode)
	if fs.opts.UID != 0 {
		s += fmt.Sprintf(",uid=%d", fs.opts.UID)
	}
	if fs.opts.GID != 0 {
		s += fmt.Sprintf(",gid=%d", fs.opts.GID)
	}
	if fs.maxSize > 0 {
		s += fmt.Sprintf(",size=%dk", fs.maxSize>>10)
	}
	return s
}

// reservePages accounts n new data pages; ENOSPC beyond MaxSize.
func (fs *filesystem) reservePages(n int64) error {
	used := fs.usedPages.Add(n)
	if fs.maxSize > 0 && uint64(used)*abi.PageSize > fs.maxSize {
		fs.usedPages.Add(-n)
		return abi.ENOSPC
	}
	return nil
}

// node is what every tmpfs inode embeds.
type node struct {
	vfs.InodeAttrs
	fs *filesystem
	// refs counts the dentries holding the inode. The inode's data is
	// released when both refs and the link count are zero.
	refs atomic.Int64
}

func (n *node) init(fs *filesystem, mode, uid, gid uint32) {
	n.fs = fs
	n.Init(fs.vfsfs, fs.nextIno.Add(1), mode, uid, gid)
	n.refs.Store(1)
}

func (n *node) base() *node { return n }

// tmpInode is implemented by every tmpfs inode.
type tmpInode interface {
	vfs.Inode
	base() *node
	// release frees the inode's data when it has no link and no dentry.
	release()
}

// incRef takes a reference for a new dentry.
func (n *node) incRef() { n.refs.Add(1) }

// decRef drops a dentry's reference, releasing self if it was the last one
// of an unlinked file.
func (n *node) decRef(self tmpInode) {
	if n.refs.Add(-1) == 0 && n.Nlink() == 0 {
		self.release()
	}
}

// unlinked drops a link of self, releasing it if no dentry holds it.
func (n *node) unlinked(self tmpInode) {
	if n.IncLinks(-1) == 0 && n.refs.Load() == 0 {
		self.release()
	}
}

// Open of a node type that cannot be opened.
func (n *node) openNotSupported() (*vfs.FileDescription, error) { return nil, abi.ENXIO }

// symlink is a symbolic link.
type symlink struct {
	node
	target string
}

var _ vfs.SymlinkInode = (*symlink)(nil)

func (fs *filesystem) newSymlink(target string, uid, gid uint32) *symlink {
	s := &symlink{target: target}
	s.init(fs, abi.S_IFLNK|0o777, uid, gid)
	return s
}

// Stat implements vfs.Inode.Stat.
func (s *symlink) Stat(ctx context.Context, mask uint32) (vfs.Statx, error) {
	st := s.StatAttrs()
	st.Size = uint64(len(s.target))
	st.Mask |= abi.STATX_SIZE
	return st, nil
}

// Readlink implements vfs.SymlinkInode.Readlink.
func (s *symlink) Readlink(ctx context.Context) (string, error) { return s.target, nil }

// Open implements vfs.Inode.Open.
func (s *symlink) Open(context.Context, vfs.VirtualDentry, *vfs.OpenOptions) (*vfs.FileDescription, error) {
	return nil, abi.ELOOP
}

// DecRef implements vfs.Inode.DecRef.
func (s *symlink) DecRef(context.Context) { s.decRef(s) }

func (s *symlink) release() {}

// fifo is a named pipe.
type fifo struct {
	node
	vp *pipe.VFSPipe
}

// Open implements vfs.Inode.Open.
func (f *fifo) Open(ctx context.Context, vd vfs.VirtualDentry, opts *vfs.OpenOptions) (*vfs.FileDescription, error) {
	return f.vp.Open(ctx, vd, opts.Flags)
}

// DecRef implements vfs.Inode.DecRef.
func (f *fifo) DecRef(context.Context) { f.decRef(f) }

func (f *fifo) release() {}

// device is a character or block device node: opening it opens the device
// registered with the VFS under its numbers.
type device struct {
	node
}

// Open implements vfs.Inode.Open.
func (d *device) Open(ctx context.Context, vd vfs.VirtualDentry, opts *vfs.OpenOptions) (*vfs.FileDescription, error) {
	major, minor := d.Rdev()
	return d.fs.vfsfs.VirtualFilesystem().OpenDevice(ctx, d.Type(), major, minor, vd, opts)
}

// DecRef implements vfs.Inode.DecRef.
func (d *device) DecRef(context.Context) { d.decRef(d) }

func (d *device) release() {}

// socket is a socket file: bind(2) of a unix socket makes one, holding
// the socket's endpoint for connect(2) to find.
type socket struct {
	node
	endpoint any
}

var _ vfs.SocketInode = (*socket)(nil)

// Open implements vfs.Inode.Open.
func (s *socket) Open(context.Context, vfs.VirtualDentry, *vfs.OpenOptions) (*vfs.FileDescription, error) {
	return nil, abi.ENXIO
}

// BoundEndpoint implements vfs.SocketInode.BoundEndpoint.
func (s *socket) BoundEndpoint() any { return s.endpoint }

// DecRef implements vfs.Inode.DecRef.
func (s *socket) DecRef(context.Context) { s.decRef(s) }

func (s *socket) release() {}
