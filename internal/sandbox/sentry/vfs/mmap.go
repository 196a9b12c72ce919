package vfs

import (
	"context"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/memmap"
)

// MMapper is implemented by FileDescriptionImpls of files that can be
// mapped (regular files of tmpfs and the Gofer-backed file system,
// /dev/zero). Others fail mmap(2) with ENODEV.
type MMapper interface {
	// ConfigureMMap sets opts.Mappable and opts.MappingIdentity (with a
	// reference) for a mapping of the file, usually via GenericConfigureMMap.
	ConfigureMMap(ctx context.Context, opts *memmap.MMapOpts) error
}

// ConfigureMMap prepares a mapping of the file (mmap(2)): see
// memmap.MMapOpts. It returns ENODEV for files that cannot be mapped and
// EACCES when the file's access mode does not allow the mapping.
func (fd *FileDescription) ConfigureMMap(ctx context.Context, opts *memmap.MMapOpts) error {
	if fd.IsPath() {
		return abi.EBADF
	}
	m, ok := fd.impl.(MMapper)
	if !ok {
		return abi.ENODEV
	}
	return m.ConfigureMMap(ctx, opts)
}

// GenericConfigureMMap checks opts against fd's access mode and the
// mount's noexec flag, then makes m the mapping's Mappable and fd its
// identity.
func GenericConfigureMMap(fd *FileDescription, m memmap.Mappable, opts *memmap.MMapOpts) error {
	if !fd.IsReadable() {
		return abi.EACCES
	}
	if !opts.Private && !fd.IsWritable() {
		if opts.Perms.CanWrite() {
			return abi.EACCES
		}
		opts.MaxPerms &^= memmap.Write
	}
	if fd.vd.mount.Flags().NoExec {
		if opts.Perms.CanExecute() {
			return abi.EPERM
		}
		opts.MaxPerms &^= memmap.Execute
	}
	fd.IncRef()
	opts.Mappable = m
	opts.MappingIdentity = fd
	return nil
}

// MappedName implements memmap.MappingIdentity.MappedName: the file's path
// from the root of its mount namespace.
func (fd *FileDescription) MappedName(ctx context.Context) string {
	vfs := fd.vd.mount.vfs
	vfs.mountMu.RLock()
	ns := fd.vd.mount.ns
	vfs.mountMu.RUnlock()
	if ns == nil {
		return vfs.PathnameWithDeleted(ctx, fd.vd, fd.vd)
	}
	root := VirtualDentry{mount: ns.root, dentry: ns.root.root}
	return vfs.PathnameWithDeleted(ctx, root, fd.vd)
}

// DeviceID implements memmap.MappingIdentity.DeviceID.
func (fd *FileDescription) DeviceID() uint64 {
	major, minor := fd.vd.dentry.fs.Dev()
	return abi.MakeDev(major, minor)
}

// InodeID implements memmap.MappingIdentity.InodeID.
func (fd *FileDescription) InodeID() uint64 {
	st, err := fd.vd.dentry.inode.Stat(context.Background(), 0)
	if err != nil {
		return 0
	}
	return st.Ino
}

var _ memmap.MappingIdentity = (*FileDescription)(nil)
