// Package sysfs is the sandbox's /sys and its cgroup file system: small,
// read-only trees of fixed files built once from the sandbox's
// configuration, never from the host's /sys.
//
// /sys (NewSys) holds what runtimes read to size themselves:
// devices/system/cpu/{online,possible,present} and one cpuN directory per
// CPU the Sentry reports (glibc's get_nprocs and get_nprocs_conf, nproc,
// the JVM), an empty kernel/ and the usual top-level directories, and
// fs/cgroup as the mount point for the cgroup file system.
//
// The cgroup file system (NewCgroup) is a cgroup v2 ("cgroup2") view of
// the sandbox's own cgroup, whatever the host uses: the host side enforces
// config.json's linux.resources on the sandbox's host cgroup (v1 or v2),
// and the application reads the same limits here as memory.max, cpu.max,
// cpu.weight, pids.max and cpuset.cpus.effective, as inside a cgroup
// namespace on a v2 host. Nothing can be written.
//
// It is at the vfs layer (it imports only vfs and abi); boot mounts it.
package sysfs

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

// Names of the file system types, as /proc/mounts shows them.
const (
	SysName    = "sysfs"
	CgroupName = "cgroup2"
)

// node describes one entry of a tree: a directory (children, possibly
// none) or a regular file (data).
type node struct {
	dir      bool
	data     string
	children map[string]*node
}

func dirNode(children map[string]*node) *node {
	if children == nil {
		children = map[string]*node{}
	}
	return &node{dir: true, children: children}
}

func fileNode(data string) *node { return &node{data: data} }

// filesystem is one mounted tree.
type filesystem struct {
	vfsfs   *vfs.Filesystem
	name    string
	magic   uint64
	nextIno atomic.Uint64
}

// Name implements vfs.FilesystemImpl.Name.
func (fs *filesystem) Name() string { return fs.name }

// StatFS implements vfs.FilesystemImpl.StatFS.
func (fs *filesystem) StatFS(context.Context) (vfs.Statfs, error) {
	return vfs.Statfs{Type: fs.magic, BlockSize: abi.PageSize, NameLength: vfs.NameMax, FragSize: abi.PageSize}, nil
}

// Release implements vfs.FilesystemImpl.Release.
func (fs *filesystem) Release(context.Context) {}

// newTree makes a file system of the given name and magic from root,
// returning it and its root dentry, each with a reference for the caller.
func newTree(v *vfs.VirtualFilesystem, name string, magic uint64, root *node) (*vfs.Filesystem, *vfs.Dentry) {
	fs := &filesystem{name: name, magic: magic}
	fs.vfsfs = v.NewFilesystem(fs, vfs.FilesystemOptions{})
	return fs.vfsfs, fs.vfsfs.SetRoot(fs.inode(root))
}

// inode makes the inode of n. Directories make their children's inodes
// when looked up; every lookup of a name returns the same inode.
func (fs *filesystem) inode(n *node) vfs.Inode {
	if n.dir {
		d := &dirInode{fs: fs, node: n, kids: map[string]vfs.Inode{}}
		// Linux's sysfs and cgroup directories are 0755 and refuse new
		// names whatever the mode says.
		d.Init(fs.vfsfs, fs.nextIno.Add(1), abi.S_IFDIR|0o755, 0, 0)
		return d
	}
	f := &fileInode{data: []byte(n.data)}
	f.Init(fs.vfsfs, fs.nextIno.Add(1), abi.S_IFREG|0o444, 0, 0)
	return f
}

// dirInode is a directory of a tree.
type dirInode struct {
	vfs.InodeAttrs
	vfs.ReadOnlyDir
	fs   *filesystem
	node *node

	mu sync.Mutex
	// kids caches the children's inodes, so their attributes and inode
	// numbers stay the same.
	kids map[string]vfs.Inode // +checklocks:mu
}

var _ vfs.DirInode = (*dirInode)(nil)

// Lookup implements vfs.DirInode.Lookup.
func (d *dirInode) Lookup(ctx context.Context, name string) (vfs.Inode, error) {
	n, ok := d.node.children[name]
	if !ok {
		return nil, abi.ENOENT
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	in, ok := d.kids[name]
	if !ok {
		in = d.fs.inode(n)
		d.kids[name] = in
	}
	return in, nil
}

// SetStat implements vfs.Inode.SetStat: the tree is fixed.
func (d *dirInode) SetStat(context.Context, *vfs.SetStatOptions) error { return abi.EPERM }

// Open implements vfs.Inode.Open.
func (d *dirInode) Open(ctx context.Context, vd vfs.VirtualDentry, opts *vfs.OpenOptions) (*vfs.FileDescription, error) {
	if opts.Flags&abi.O_ACCMODE != abi.O_RDONLY {
		return nil, abi.EISDIR
	}
	names := make([]string, 0, len(d.node.children))
	for name := range d.node.children {
		names = append(names, name)
	}
	sort.Strings(names)
	fd := &dirFD{dir: d, names: names}
	fd.vfsfd.Init(fd, opts.Flags, vd)
	return &fd.vfsfd, nil
}

// DecRef implements vfs.Inode.DecRef: inodes hold nothing.
func (d *dirInode) DecRef(context.Context) {}

// dirFD lists a directory: ".", "..", then the children by name.
type dirFD struct {
	vfs.DirectoryFileDefaults
	vfsfd vfs.FileDescription
	dir   *dirInode
	names []string

	mu  sync.Mutex
	off int64 // +checklocks:mu
}

// IterDirents implements vfs.FileDescriptionImpl.IterDirents.
func (fd *dirFD) IterDirents(ctx context.Context, cb vfs.IterDirentsCallback) error {
	fd.mu.Lock()
	defer fd.mu.Unlock()
	for ; fd.off < int64(len(fd.names))+2; fd.off++ {
		var de vfs.Dirent
		switch fd.off {
		case 0:
			de = vfs.Dirent{Name: ".", Type: abi.DT_DIR, Ino: fd.dir.Ino()}
		case 1:
			de = vfs.Dirent{Name: "..", Type: abi.DT_DIR, Ino: fd.dir.Ino()}
		default:
			name := fd.names[fd.off-2]
			in, err := fd.dir.Lookup(ctx, name)
			if err != nil {
				return err
			}
			de = vfs.Dirent{Name: name, Type: abi.DirentType(in.Type()), Ino: in.(interface{ Ino() uint64 }).Ino()}
		}
		de.NextOff = fd.off + 1
		if err := cb(de); err != nil {
			return err
		}
	}
	return nil
}

// Seek implements vfs.FileDescriptionImpl.Seek.
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

// fileInode is a fixed read-only file.
type fileInode struct {
	vfs.InodeAttrs
	data []byte
}

// SetStat implements vfs.Inode.SetStat: the tree is fixed.
func (f *fileInode) SetStat(context.Context, *vfs.SetStatOptions) error { return abi.EPERM }

// Open implements vfs.Inode.Open.
func (f *fileInode) Open(ctx context.Context, vd vfs.VirtualDentry, opts *vfs.OpenOptions) (*vfs.FileDescription, error) {
	if opts.Flags&abi.O_ACCMODE != abi.O_RDONLY {
		return nil, abi.EACCES
	}
	return vfs.NewBytesFD(f.data, opts.Flags, vd), nil
}

// DecRef implements vfs.Inode.DecRef.
func (f *fileInode) DecRef(context.Context) {}
