package proc

import (
	"context"
	"strconv"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

// generator produces a file's contents when it is opened.
type generator func(ctx context.Context) ([]byte, error)

// file is a generated read-only file.
type file struct {
	inode
	gen generator
}

func (fs *filesystem) newFile(mode, uid, gid uint32, gen generator) *file {
	f := &file{gen: gen}
	f.init(fs, abi.S_IFREG|mode, uid, gid)
	return f
}

// Open implements vfs.Inode.Open: the contents are generated now, so reads
// see one consistent snapshot.
func (f *file) Open(ctx context.Context, vd vfs.VirtualDentry, opts *vfs.OpenOptions) (*vfs.FileDescription, error) {
	if opts.Flags&abi.O_ACCMODE != abi.O_RDONLY {
		return nil, abi.EACCES
	}
	data, err := f.gen(ctx)
	if err != nil {
		return nil, err
	}
	return vfs.NewBytesFD(data, opts.Flags, vd), nil
}

// symlink is a link whose target is computed for the reader.
type symlink struct {
	inode
	target func(ctx context.Context) (string, error)
}

var _ vfs.SymlinkInode = (*symlink)(nil)

func (fs *filesystem) newSymlink(target func(ctx context.Context) (string, error)) *symlink {
	s := &symlink{target: target}
	s.init(fs, abi.S_IFLNK|0o777, 0, 0)
	return s
}

// Readlink implements vfs.SymlinkInode.Readlink.
func (s *symlink) Readlink(ctx context.Context) (string, error) { return s.target(ctx) }

// Open implements vfs.Inode.Open.
func (s *symlink) Open(context.Context, vfs.VirtualDentry, *vfs.OpenOptions) (*vfs.FileDescription, error) {
	return nil, abi.ELOOP
}

// magicLink is /proc/[pid]/{cwd,root,exe} and fd/N: a link to a file in
// the Sentry, never a host path.
type magicLink struct {
	inode
	get func(ctx context.Context) (vfs.VirtualDentry, error)
}

var _ vfs.MagicLinkInode = (*magicLink)(nil)

func (fs *filesystem) newMagicLink(pd *pidDir, which string) *magicLink {
	uid, gid := pd.UIDGID()
	l := &magicLink{get: func(ctx context.Context) (vfs.VirtualDentry, error) {
		t := pd.subject()
		if t == nil {
			return vfs.VirtualDentry{}, abi.ENOENT
		}
		switch which {
		case "exe":
			m := t.MemoryManager()
			if m == nil {
				return vfs.VirtualDentry{}, abi.ENOENT
			}
			id := m.Executable()
			if id == nil {
				return vfs.VirtualDentry{}, abi.ENOENT
			}
			defer id.DecRef(ctx)
			f, ok := id.(*vfs.FileDescription)
			if !ok {
				return vfs.VirtualDentry{}, abi.ENOENT
			}
			vd := f.VirtualDentry()
			vd.IncRef()
			return vd, nil
		case "cwd", "root":
			fsc := t.FSContext()
			if fsc == nil {
				return vfs.VirtualDentry{}, abi.ENOENT
			}
			root, cwd := fsc.RootAndCwd()
			if which == "cwd" {
				root.DecRef(ctx)
				return cwd, nil
			}
			cwd.DecRef(ctx)
			return root, nil
		}
		return vfs.VirtualDentry{}, abi.ENOENT
	}}
	l.init(fs, abi.S_IFLNK|0o777, uid, gid)
	return l
}

func (fs *filesystem) newFDLink(pd *pidDir, fd int32) *magicLink {
	uid, gid := pd.UIDGID()
	l := &magicLink{get: func(ctx context.Context) (vfs.VirtualDentry, error) {
		t := pd.subject()
		if t == nil || t.FDTable() == nil {
			return vfs.VirtualDentry{}, abi.ENOENT
		}
		f, _, err := t.FDTable().Get(fd)
		if err != nil {
			return vfs.VirtualDentry{}, abi.ENOENT
		}
		defer f.DecRef(ctx)
		vd := f.VirtualDentry()
		vd.IncRef()
		return vd, nil
	}}
	l.init(fs, abi.S_IFLNK|0o700, uid, gid)
	return l
}

// Getlink implements vfs.MagicLinkInode.Getlink.
func (l *magicLink) Getlink(ctx context.Context) (vfs.VirtualDentry, error) { return l.get(ctx) }

// Readlink implements vfs.SymlinkInode.Readlink: the file's path as the
// reader sees it from its root.
func (l *magicLink) Readlink(ctx context.Context) (string, error) {
	vd, err := l.get(ctx)
	if err != nil {
		return "", err
	}
	defer vd.DecRef(ctx)
	v := l.fs.vfsfs.VirtualFilesystem()
	if t := taskOf(ctx); t != nil && t.FSContext() != nil {
		root := t.FSContext().Root()
		defer root.DecRef(ctx)
		return v.PathnameWithDeleted(ctx, root, vd), nil
	}
	return v.PathnameWithDeleted(ctx, vd, vd), nil
}

// Open implements vfs.Inode.Open (path resolution follows the link before
// opening, so this is only reached with O_PATH|O_NOFOLLOW semantics).
func (l *magicLink) Open(context.Context, vfs.VirtualDentry, *vfs.OpenOptions) (*vfs.FileDescription, error) {
	return nil, abi.ELOOP
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
