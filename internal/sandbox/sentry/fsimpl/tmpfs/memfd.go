package tmpfs

import (
	"context"
	"strings"
	"sync"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/memmap"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

// MemfdFS makes files that live in memory but in no directory: the files
// of memfd_create(2) and the memory of shared mappings of /dev/zero. The
// kernel makes one per Sentry.
type MemfdFS struct {
	vfs  *vfs.VirtualFilesystem
	ns   *vfs.MountNamespace
	root vfs.VirtualDentry
	mu   sync.Mutex
}

// NewMemfdFS returns a MemfdFS whose files' pages come from mf.
func NewMemfdFS(vfsObj *vfs.VirtualFilesystem, mf memmap.MemoryFile) *MemfdFS {
	fs, root := New(vfsObj, mf, Options{Mode: 0o1777})
	ns := vfsObj.NewMountNamespaceFrom(fs, root, "memfd", vfs.MountFlags{})
	return &MemfdFS{vfs: vfsObj, ns: ns, root: ns.Root()}
}

// New returns an open, empty regular file called "memfd:"+name, already
// unlinked, of the given size, opened with flags (O_RDWR for memfd_create).
// name may not hold '/' (EINVAL).
func (m *MemfdFS) New(ctx context.Context, creds *vfs.Credentials, name string, size uint64, flags uint32) (*vfs.FileDescription, error) {
	if strings.Contains(name, "/") {
		return nil, abi.EINVAL
	}
	pop := &vfs.PathOperation{Root: m.root, Start: m.root, Path: "memfd:" + name}
	// The name exists only between create and unlink: serialise them so
	// two memfds of one name do not collide.
	m.mu.Lock()
	fd, err := m.vfs.OpenAt(ctx, creds, pop, &vfs.OpenOptions{Flags: flags | abi.O_CREAT | abi.O_EXCL, Mode: 0o777})
	if err == nil {
		err = m.vfs.UnlinkAt(ctx, vfs.RootCredentials(), pop)
		if err != nil {
			fd.DecRef(ctx)
		}
	}
	m.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if size > 0 {
		if err := fd.Inode().SetStat(ctx, &vfs.SetStatOptions{Mask: abi.STATX_SIZE, Size: size}); err != nil {
			fd.DecRef(ctx)
			return nil, err
		}
	}
	return fd, nil
}
