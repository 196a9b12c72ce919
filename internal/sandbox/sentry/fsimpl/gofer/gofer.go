// Package gofer is the Sentry's file system backed by a Gofer: the
// container's root file system and its bind mounts. Names are looked up,
// created and removed through a protocol.Client; file data is read and
// written directly on host descriptors the Gofer donates, with no round
// trip per read. The VFS's dentry cache holds one Gofer handle per cached
// name, evicted in LRU order beyond Options.MaxCachedDentries.
//
// The Sentry is assumed to be the only writer of the tree (as gVisor's
// default "exclusive" mode): names found and not found, and attributes,
// are cached; attributes are refreshed from the host descriptor of an
// open file, or after the Sentry's own changes. Options.Shared turns the
// caching of absent names off for trees the host also writes.
//
// # Memory mappings
//
// A mapped file's pages are cached in the memory file, filled from the
// host on first touch. Private mappings copy-on-write those pages (mm's
// job). Shared mappings map them directly; while a file has cached pages,
// read(2) and write(2) go through them (writes also reach the host), so
// the Sentry's own I/O and mappings agree. Pages written through shared
// writable mappings reach the host on fsync/msync (Fsync), when the last
// writable mapping goes away, and when the file's last descriptor closes.
// Other processes on the host do not see them before that; changes made
// on the host behind the Sentry's back are not seen by cached pages.
//
// FIFOs are pipes in the Sentry (package pipe), sockets hold their
// endpoint in the Sentry; both also exist as files on the host. Device
// nodes in the tree open the Sentry's devices. It is at the vfs layer;
// boot calls New.
//
// Lock order: inode.mapsMu, then mm's active lock, then inode.hostMu (held
// by appends), then inode.cacheMu, then inode.attrMu.
package gofer

import (
	"context"
	"errors"
	"sync"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/protocol"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/memmap"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

// Name is the file system's type name in /proc/mounts.
const Name = "9p"

// DefaultMaxCachedDentries is the dentry cache bound used when Options
// leaves it zero.
const DefaultMaxCachedDentries = 1000

// Options configure a Gofer-backed file system.
type Options struct {
	// Client is the connection to the Gofer serving the tree. The file
	// system owns it and closes it when released.
	Client *protocol.Client
	// MemoryFile holds the pages of mapped files.
	MemoryFile memmap.MemoryFile
	// MaxCachedDentries bounds unused cached names (and so the Gofer
	// handles held); DefaultMaxCachedDentries if zero.
	MaxCachedDentries int
	// Shared marks a tree others change too (a volume the host also
	// writes): names not found are looked up again each time instead of
	// being remembered as absent. Attributes and found names are still
	// cached.
	Shared bool
}

// filesystem is one Gofer-backed tree.
type filesystem struct {
	vfsfs  *vfs.Filesystem
	client *protocol.Client
	mf     memmap.MemoryFile

	closeMu sync.Mutex
	// toClose is guarded by closeMu: handles of destroyed inodes, closed
	// in batches.
	toClose []protocol.Handle
}

// closeBatch is how many handles are released per Close message.
const closeBatch = 64

// New attaches to the Gofer's tree and returns the file system and its
// root, each with a reference for the caller (to mount it, as the root of
// a mount namespace or with ConnectMountAt).
func New(ctx context.Context, vfsObj *vfs.VirtualFilesystem, opts Options) (*vfs.Filesystem, *vfs.Dentry, error) {
	if opts.Client == nil || opts.MemoryFile == nil {
		return nil, nil, errors.New("gofer file system: a client and a memory file are required")
	}
	root, err := opts.Client.Attach(ctx)
	if err != nil {
		return nil, nil, hostErr(err)
	}
	max := opts.MaxCachedDentries
	if max == 0 {
		max = DefaultMaxCachedDentries
	}
	fs := &filesystem{client: opts.Client, mf: opts.MemoryFile}
	fs.vfsfs = vfsObj.NewFilesystem(fs, vfs.FilesystemOptions{MaxCachedDentries: max, NegativeDentries: !opts.Shared})
	rootInode := fs.newInode(root)
	return fs.vfsfs, fs.vfsfs.SetRoot(rootInode), nil
}

// Name implements vfs.FilesystemImpl.Name.
func (fs *filesystem) Name() string { return Name }

// StatFS implements vfs.FilesystemImpl.StatFS.
func (fs *filesystem) StatFS(ctx context.Context) (vfs.Statfs, error) {
	root := fs.vfsfs.Root().Inode().(*inode)
	s, err := fs.client.StatFS(ctx, root.handle)
	if err != nil {
		return vfs.Statfs{}, hostErr(err)
	}
	return vfs.Statfs{
		Type: s.Type, BlockSize: int64(s.Bsize), Blocks: s.Blocks, BlocksFree: s.Bfree, BlocksAvail: s.Bavail,
		Files: s.Files, FilesFree: s.Ffree, NameLength: s.Namelen, FragSize: int64(s.Frsize),
	}, nil
}

// Release implements vfs.FilesystemImpl.Release.
func (fs *filesystem) Release(ctx context.Context) {
	fs.flushClose(ctx)
	fs.client.Close()
}

// closeHandle queues h to be released by the Gofer.
func (fs *filesystem) closeHandle(ctx context.Context, h protocol.Handle) {
	fs.closeMu.Lock()
	fs.toClose = append(fs.toClose, h)
	full := len(fs.toClose) >= closeBatch
	fs.closeMu.Unlock()
	if full {
		fs.flushClose(ctx)
	}
}

func (fs *filesystem) flushClose(ctx context.Context) {
	fs.closeMu.Lock()
	hs := fs.toClose
	fs.toClose = nil
	fs.closeMu.Unlock()
	if len(hs) > 0 {
		// A failure means the connection is gone, and the handles with it.
		fs.client.CloseHandles(context.WithoutCancel(ctx), hs...)
	}
}

// hostErr translates an error from the Gofer connection to an errno: a
// host errno keeps its number, a broken connection is EIO.
func hostErr(err error) error {
	if err == nil {
		return nil
	}
	return abi.FromHost(err)
}
