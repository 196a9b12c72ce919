// Package proc is /proc: the kernel's state as files, generated when they
// are opened. It provides self and thread-self, a directory per process
// (stat, status, cmdline, comm, environ, maps, mounts, cgroup, limits, statm, fd/,
// exe, cwd, root, task/) and the system files meminfo, cpuinfo, mounts,
// uptime, version, loadavg, stat and filesystems.
//
// Everything comes from the Sentry: /proc/[pid]/root and cwd lead to the
// process's root and working directory in the sandbox's own mount tree,
// never to a host path. It sits above the kernel (it shows kernel state)
// and below the system calls; boot mounts it.
package proc

import (
	"context"
	"sync/atomic"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/kernel"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

// Name is the file system type.
const Name = "proc"

// FilesystemType makes /proc file systems.
type FilesystemType struct {
	Kernel *kernel.Kernel
}

// Name implements vfs.FilesystemType.Name.
func (FilesystemType) Name() string { return Name }

// GetFilesystem implements vfs.FilesystemType.GetFilesystem.
func (ft FilesystemType) GetFilesystem(ctx context.Context, v *vfs.VirtualFilesystem, creds *vfs.Credentials, source string, opts vfs.GetFilesystemOptions) (*vfs.Filesystem, *vfs.Dentry, error) {
	fs, root := New(v, ft.Kernel)
	return fs, root, nil
}

// New returns a new /proc and its root, each with a reference for the
// caller.
func New(v *vfs.VirtualFilesystem, k *kernel.Kernel) (*vfs.Filesystem, *vfs.Dentry) {
	fs := &filesystem{k: k}
	fs.vfsfs = v.NewFilesystem(fs, vfs.FilesystemOptions{MaxCachedDentries: 1000})
	root := &rootDir{}
	root.init(fs, abi.S_IFDIR|0o555, 0, 0)
	return fs.vfsfs, fs.vfsfs.SetRoot(root)
}

type filesystem struct {
	k       *kernel.Kernel
	vfsfs   *vfs.Filesystem
	nextIno atomic.Uint64
}

// Name implements vfs.FilesystemImpl.Name.
func (fs *filesystem) Name() string { return Name }

// StatFS implements vfs.FilesystemImpl.StatFS.
func (fs *filesystem) StatFS(ctx context.Context) (vfs.Statfs, error) {
	return vfs.Statfs{Type: abi.PROC_SUPER_MAGIC, BlockSize: abi.PageSize, NameLength: abi.NAME_MAX, FragSize: abi.PageSize}, nil
}

// Release implements vfs.FilesystemImpl.Release.
func (fs *filesystem) Release(ctx context.Context) {}

// inode is the common part of every /proc inode.
type inode struct {
	vfs.InodeAttrs
	fs *filesystem
}

func (i *inode) init(fs *filesystem, mode, uid, gid uint32) {
	i.fs = fs
	i.Init(fs.vfsfs, fs.nextIno.Add(1), mode, uid, gid)
}

// DecRef implements vfs.Inode.DecRef: /proc inodes hold nothing.
func (i *inode) DecRef(context.Context) {}

// SetStat implements vfs.Inode.SetStat: /proc files keep their
// attributes.
func (i *inode) SetStat(context.Context, *vfs.SetStatOptions) error { return abi.EPERM }

// taskOf returns the task making a call, if ctx is one.
func taskOf(ctx context.Context) *kernel.Task {
	t, _ := ctx.(*kernel.Task)
	return t
}
