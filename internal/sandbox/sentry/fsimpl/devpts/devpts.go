// Package devpts is the pseudo-terminal file system mounted on /dev/pts:
// opening its ptmx makes a new terminal and returns its master; the slave
// appears as /dev/pts/N until the master is closed. The line discipline
// (Terminal) turns ^C into SIGINT for the foreground process group through
// the kernel's job control (vfs.TTY). It is at the vfs layer; boot
// registers FilesystemType.
package devpts

import (
	"context"
	"sort"
	"strconv"
	"sync"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

// Name is the file system type's name.
const Name = "devpts"

// Device numbers of /dev/pts/ptmx and the slaves.
const (
	ptmxMajor  = 5
	ptmxMinor  = 2
	slaveMajor = 136
)

// devptsMagic is statfs's f_type (DEVPTS_SUPER_MAGIC).
const devptsMagic = 0x1cd1

// maxTerminals bounds the terminals of one instance (ENOSPC beyond).
const maxTerminals = 4096

func ptsName(index uint32) string { return "/dev/pts/" + strconv.FormatUint(uint64(index), 10) }

// FilesystemType makes devpts instances; each mount is a new instance with
// its own numbering (like Linux's newinstance).
type FilesystemType struct{}

// Name implements vfs.FilesystemType.Name.
func (FilesystemType) Name() string { return Name }

// GetFilesystem implements vfs.FilesystemType.GetFilesystem. Mount data
// (gid=, mode=, ptmxmode=, newinstance) is accepted and ignored.
func (FilesystemType) GetFilesystem(ctx context.Context, vfsObj *vfs.VirtualFilesystem, creds *vfs.Credentials, source string, opts vfs.GetFilesystemOptions) (*vfs.Filesystem, *vfs.Dentry, error) {
	fs, root := New(vfsObj)
	return fs, root, nil
}

// New returns a new devpts instance and its root, each with a reference.
func New(vfsObj *vfs.VirtualFilesystem) (*vfs.Filesystem, *vfs.Dentry) {
	fs := &filesystem{terms: make(map[uint32]*Terminal), hosts: make(map[uint32]*hostSlave)}
	fs.vfsfs = vfsObj.NewFilesystem(fs, vfs.FilesystemOptions{})
	r := &rootDir{fs: fs}
	r.Init(fs.vfsfs, 1, abi.S_IFDIR|0o755, 0, 0)
	fs.ptmx = &ptmxInode{fs: fs}
	fs.ptmx.Init(fs.vfsfs, 2, abi.S_IFCHR|0o666, 0, 0)
	fs.ptmx.SetRdev(ptmxMajor, ptmxMinor)
	return fs.vfsfs, fs.vfsfs.SetRoot(r)
}

type filesystem struct {
	vfsfs *vfs.Filesystem
	ptmx  *ptmxInode

	mu sync.Mutex
	// terms is guarded by mu: the terminals whose master is open.
	terms map[uint32]*Terminal
	// hosts is guarded by mu: host terminals shown here
	// (AddHostTerminal).
	hosts map[uint32]*hostSlave
}

// Name implements vfs.FilesystemImpl.Name.
func (fs *filesystem) Name() string { return Name }

// StatFS implements vfs.FilesystemImpl.StatFS.
func (fs *filesystem) StatFS(context.Context) (vfs.Statfs, error) {
	return vfs.Statfs{Type: devptsMagic, BlockSize: abi.PageSize, NameLength: vfs.NameMax}, nil
}

// Release implements vfs.FilesystemImpl.Release.
func (fs *filesystem) Release(context.Context) {}

// newTerminal allocates the lowest free index.
func (fs *filesystem) newTerminal() (*Terminal, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for i := uint32(0); i < maxTerminals; i++ {
		if !fs.usedLocked(i) {
			t := newTerminal(fs, i)
			fs.terms[i] = t
			return t, nil
		}
	}
	return nil, abi.ENOSPC
}

func (fs *filesystem) terminal(index uint32) *Terminal {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.terms[index]
}

func (fs *filesystem) removeTerminal(t *Terminal) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.terms[t.index] == t {
		delete(fs.terms, t.index)
	}
}

// rootDir lists ptmx and the live slaves.
type rootDir struct {
	vfs.InodeAttrs
	vfs.ReadOnlyDir
	fs *filesystem
}

var (
	_ vfs.DirInode       = (*rootDir)(nil)
	_ vfs.DirRevalidator = (*rootDir)(nil)
)

// Lookup implements vfs.DirInode.Lookup.
func (r *rootDir) Lookup(ctx context.Context, name string) (vfs.Inode, error) {
	if name == "ptmx" {
		return r.fs.ptmx, nil
	}
	n, err := strconv.ParseUint(name, 10, 32)
	if err != nil || strconv.FormatUint(n, 10) != name {
		return nil, abi.ENOENT
	}
	if h := r.fs.hostSlave(uint32(n)); h != nil {
		return h, nil
	}
	t := r.fs.terminal(uint32(n))
	if t == nil {
		return nil, abi.ENOENT
	}
	s := &slaveInode{term: t}
	s.Init(r.fs.vfsfs, uint64(n)+3, abi.S_IFCHR|0o620, 0, 5)
	s.SetRdev(slaveMajor, uint32(n))
	return s, nil
}

// Revalidate implements vfs.DirRevalidator: a slave's name goes with its
// terminal.
func (r *rootDir) Revalidate(ctx context.Context, name string, child vfs.Inode) bool {
	if h, ok := child.(*hostSlave); ok {
		return r.fs.hostSlave(h.index) == h
	}
	s, ok := child.(*slaveInode)
	if !ok {
		return true
	}
	return r.fs.terminal(s.term.index) == s.term
}

// Open implements vfs.Inode.Open.
func (r *rootDir) Open(ctx context.Context, vd vfs.VirtualDentry, opts *vfs.OpenOptions) (*vfs.FileDescription, error) {
	fd := &rootFD{dir: r}
	fd.vfsfd.Init(fd, opts.Flags, vd)
	return &fd.vfsfd, nil
}

// DecRef implements vfs.Inode.DecRef.
func (r *rootDir) DecRef(context.Context) {}

// rootFD lists /dev/pts.
type rootFD struct {
	vfsfd vfs.FileDescription
	vfs.DirectoryFileDefaults
	dir *rootDir

	mu sync.Mutex
	// off is guarded by mu: 0 ".", 1 "..", 2 "ptmx", 3+N pts N.
	off int64
}

// IterDirents implements vfs.FileDescriptionImpl.IterDirents.
func (fd *rootFD) IterDirents(ctx context.Context, cb vfs.IterDirentsCallback) error {
	fd.mu.Lock()
	defer fd.mu.Unlock()
	fixed := []vfs.Dirent{
		{Name: ".", Type: abi.DT_DIR, Ino: 1, NextOff: 1},
		{Name: "..", Type: abi.DT_DIR, Ino: 1, NextOff: 2},
		{Name: "ptmx", Type: abi.DT_CHR, Ino: 2, NextOff: 3},
	}
	for ; fd.off < 3; fd.off++ {
		if err := cb(fixed[fd.off]); err != nil {
			return err
		}
	}
	fs := fd.dir.fs
	fs.mu.Lock()
	idx := make([]uint32, 0, len(fs.terms)+len(fs.hosts))
	for i := range fs.terms {
		idx = append(idx, i)
	}
	for i := range fs.hosts {
		idx = append(idx, i)
	}
	fs.mu.Unlock()
	sort.Slice(idx, func(a, b int) bool { return idx[a] < idx[b] })
	for _, i := range idx {
		off := int64(i) + 3
		if off < fd.off {
			continue
		}
		name := strconv.FormatUint(uint64(i), 10)
		if err := cb(vfs.Dirent{Name: name, Type: abi.DT_CHR, Ino: uint64(i) + 3, NextOff: off + 1}); err != nil {
			return err
		}
		fd.off = off + 1
	}
	return nil
}

// Seek implements vfs.FileDescriptionImpl.Seek.
func (fd *rootFD) Seek(ctx context.Context, offset int64, whence int32) (int64, error) {
	fd.mu.Lock()
	defer fd.mu.Unlock()
	off, err := vfs.DirSeekOffset(fd.off, offset, whence)
	if err != nil {
		return 0, err
	}
	fd.off = off
	return off, nil
}

// ptmxInode is /dev/pts/ptmx: opening it makes a terminal.
type ptmxInode struct {
	vfs.InodeAttrs
	fs *filesystem
}

// Open implements vfs.Inode.Open.
func (p *ptmxInode) Open(ctx context.Context, vd vfs.VirtualDentry, opts *vfs.OpenOptions) (*vfs.FileDescription, error) {
	t, err := p.fs.newTerminal()
	if err != nil {
		return nil, err
	}
	return t.openMaster(vd, opts.Flags), nil
}

// DecRef implements vfs.Inode.DecRef.
func (p *ptmxInode) DecRef(context.Context) {}

// slaveInode is /dev/pts/N.
type slaveInode struct {
	vfs.InodeAttrs
	term *Terminal
}

// Open implements vfs.Inode.Open.
func (s *slaveInode) Open(ctx context.Context, vd vfs.VirtualDentry, opts *vfs.OpenOptions) (*vfs.FileDescription, error) {
	return s.term.openSlave(ctx, vd, opts.Flags)
}

// DecRef implements vfs.Inode.DecRef.
func (s *slaveInode) DecRef(context.Context) {}
