package devpts

import (
	"context"
	"errors"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

// HostOpener opens a new file description of a host terminal on vd, its
// /dev/pts/N node (boot wraps a duplicate of the host descriptor with
// fsimpl/host's Files.NewFDAt).
type HostOpener func(ctx context.Context, vd vfs.VirtualDentry, flags uint32) (*vfs.FileDescription, error)

// ErrNotDevpts is returned for a file system that is not a devpts
// instance.
var ErrNotDevpts = errors.New("not a devpts file system")

// hostSlave is /dev/pts/N for a host terminal: the pty slave a terminal
// container's process gets as stdio (runc gives it the slave of a pty made
// in the container's own devpts, so it shows as /dev/pts/0 there; the
// sandbox's pty is made on the host, and this node stands for it).
type hostSlave struct {
	vfs.InodeAttrs
	index uint32
	open  HostOpener
}

// Open implements vfs.Inode.Open.
func (h *hostSlave) Open(ctx context.Context, vd vfs.VirtualDentry, opts *vfs.OpenOptions) (*vfs.FileDescription, error) {
	return h.open(ctx, vd, opts.Flags)
}

// DecRef implements vfs.Inode.DecRef.
func (h *hostSlave) DecRef(context.Context) {}

// AddHostTerminal gives a host terminal the lowest free index N of the
// devpts instance fs, so that it appears as N in its directory (a
// character device 136:N, mode 0620, group tty as Linux makes slaves);
// opening it calls open. Terminals made by ptmx skip the index until
// RemoveHostTerminal.
func AddHostTerminal(fs *vfs.Filesystem, open HostOpener) (uint32, error) {
	d, ok := fs.Impl().(*filesystem)
	if !ok {
		return 0, ErrNotDevpts
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := uint32(0); i < maxTerminals; i++ {
		if d.usedLocked(i) {
			continue
		}
		h := &hostSlave{index: i, open: open}
		h.Init(d.vfsfs, uint64(i)+3, abi.S_IFCHR|0o620, 0, 5)
		h.SetRdev(slaveMajor, i)
		d.hosts[i] = h
		return i, nil
	}
	return 0, abi.ENOSPC
}

// RemoveHostTerminal takes index out of fs again; files opened on it keep
// working.
func RemoveHostTerminal(fs *vfs.Filesystem, index uint32) {
	d, ok := fs.Impl().(*filesystem)
	if !ok {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.hosts, index)
}

// usedLocked reports whether index is taken by a terminal of either kind.
// Preconditions: fs.mu is held.
func (fs *filesystem) usedLocked(index uint32) bool {
	_, term := fs.terms[index]
	_, host := fs.hosts[index]
	return term || host
}

func (fs *filesystem) hostSlave(index uint32) *hostSlave {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.hosts[index]
}
