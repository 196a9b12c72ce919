package vfs

import (
	"context"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
)

// Limits of path resolution.
const (
	// MaxSymlinkTraversals is how many symbolic links one resolution may
	// follow before it fails with ELOOP (Linux's MAXSYMLINKS).
	MaxSymlinkTraversals = 40
	// PathMax is the longest path, with its terminating NUL (PATH_MAX).
	PathMax = 4096
	// NameMax is the longest name of one component (NAME_MAX).
	NameMax = 255
)

// PathOperation names a file for an *At operation.
type PathOperation struct {
	// Root is the resolution root, the task's root directory: absolute
	// paths start there and ".." never climbs above it.
	Root VirtualDentry
	// Start is where a relative path starts: the working directory, or
	// the directory of a dirfd.
	Start VirtualDentry
	// Path is the path as the application gave it.
	Path string
	// FollowFinalSymlink follows a symbolic link in the last component
	// (false for O_NOFOLLOW, AT_SYMLINK_NOFOLLOW, lstat, unlink, ...). A
	// trailing slash always follows.
	FollowFinalSymlink bool
	// AllowEmpty (AT_EMPTY_PATH) makes an empty Path name Start itself;
	// otherwise an empty path is ENOENT.
	AllowEmpty bool
}

// resolver walks one path operation. cur always holds a reference.
type resolver struct {
	vfs      *VirtualFilesystem
	creds    *Credentials
	root     VirtualDentry
	cur      VirtualDentry
	symlinks int
}

func (vfs *VirtualFilesystem) newResolver(creds *Credentials, pop *PathOperation) (*resolver, error) {
	if len(pop.Path) >= PathMax {
		return nil, abi.ENAMETOOLONG
	}
	if pop.Path == "" && !pop.AllowEmpty {
		return nil, abi.ENOENT
	}
	if !pop.Root.Ok() || !pop.Start.Ok() {
		return nil, abi.ENOENT
	}
	pop.Start.IncRef()
	return &resolver{vfs: vfs, creds: creds, root: pop.Root, cur: pop.Start}, nil
}

func (r *resolver) release(ctx context.Context) {
	if r.cur.Ok() {
		r.cur.DecRef(ctx)
		r.cur = VirtualDentry{}
	}
}

// take hands the current position (and its reference) to the caller.
func (r *resolver) take() VirtualDentry {
	vd := r.cur
	r.cur = VirtualDentry{}
	return vd
}

// moveTo makes vd (whose reference the resolver takes over) current.
func (r *resolver) moveTo(ctx context.Context, vd VirtualDentry) {
	old := r.cur
	r.cur = vd
	old.DecRef(ctx)
}

// checkSearch checks that cur is a directory the caller may search.
func (r *resolver) checkSearch(ctx context.Context) error {
	if !r.cur.dentry.IsDir() {
		return abi.ENOTDIR
	}
	return r.cur.dentry.inode.CheckPermissions(ctx, r.creds, MayExec)
}

// walk resolves path from cur. With wantParent it stops before the last
// component and returns its name (empty if path ends in "/", "." or ".."
// are returned as such); otherwise it resolves every component, following
// a final symbolic link if follow is set or the path ends in a slash.
// trailing reports whether the last component was followed by a slash.
func (r *resolver) walk(ctx context.Context, path string, wantParent, follow bool) (last string, trailing bool, err error) {
	for {
		if strings.HasPrefix(path, "/") {
			r.root.IncRef()
			r.moveTo(ctx, r.root)
			path = strings.TrimLeft(path, "/")
			trailing = true
		}
		if path == "" {
			// "/" alone, or AT_EMPTY_PATH: the position is the result.
			return "", trailing, nil
		}
		name, rest, _ := strings.Cut(path, "/")
		rest = strings.TrimLeft(rest, "/")
		trailing = len(name) < len(path)
		final := rest == ""
		if err := r.checkSearch(ctx); err != nil {
			return "", false, err
		}
		if len(name) > NameMax {
			return "", false, abi.ENAMETOOLONG
		}
		if final && wantParent {
			return name, trailing, nil
		}
		switch name {
		case ".":
		case "..":
			r.dotdot(ctx)
		default:
			child, err := r.cur.dentry.getChild(ctx, name)
			if err != nil {
				return "", false, err
			}
			r.cur.mount.IncRef()
			next := r.vfs.followMounts(ctx, VirtualDentry{mount: r.cur.mount, dentry: child})
			if next.dentry.ftype == unix.S_IFLNK && (!final || follow || trailing) {
				target, jumped, err := r.followSymlink(ctx, next)
				if err != nil {
					next.DecRef(ctx)
					return "", false, err
				}
				if jumped.Ok() {
					next.DecRef(ctx)
					r.moveTo(ctx, jumped)
					if final {
						if trailing && !r.cur.dentry.IsDir() {
							return "", false, abi.ENOTDIR
						}
						return "", trailing, nil
					}
					path = rest
					continue
				}
				next.DecRef(ctx)
				if target == "" {
					return "", false, abi.ENOENT
				}
				if trailing {
					target += "/"
				}
				if !final {
					target += "/" + rest
				}
				if len(target) >= PathMax {
					return "", false, abi.ENAMETOOLONG
				}
				path = target
				continue
			}
			r.moveTo(ctx, next)
		}
		if final {
			if trailing && !r.cur.dentry.IsDir() {
				return "", false, abi.ENOTDIR
			}
			return "", trailing, nil
		}
		path = rest
	}
}

// followSymlink counts a traversal of the link at vd and returns its
// target, or for a magic link the file it refers to.
func (r *resolver) followSymlink(ctx context.Context, vd VirtualDentry) (string, VirtualDentry, error) {
	r.symlinks++
	if r.symlinks > MaxSymlinkTraversals {
		return "", VirtualDentry{}, abi.ELOOP
	}
	if ml, ok := vd.dentry.inode.(MagicLinkInode); ok {
		target, err := ml.Getlink(ctx)
		return "", target, err
	}
	sl, ok := vd.dentry.inode.(SymlinkInode)
	if !ok {
		return "", VirtualDentry{}, abi.EINVAL
	}
	target, err := sl.Readlink(ctx)
	return target, VirtualDentry{}, err
}

// dotdot moves to the parent of cur, crossing mounts upwards and never
// leaving the resolution root.
func (r *resolver) dotdot(ctx context.Context) {
	vd := r.cur
	r.vfs.mountMu.RLock()
	r.vfs.renameMu.RLock()
	for {
		if vd == r.root {
			break
		}
		if vd.dentry == vd.mount.root {
			if vd.mount.parent == nil {
				break
			}
			vd = VirtualDentry{mount: vd.mount.parent, dentry: vd.mount.point}
			continue
		}
		if vd.dentry.parent == nil {
			break
		}
		vd = VirtualDentry{mount: vd.mount, dentry: vd.dentry.parent}
		break
	}
	// Both are pinned: a mount by its children, a dentry by its cached
	// children and by the mounts on it.
	vd.IncRef()
	r.vfs.renameMu.RUnlock()
	r.vfs.mountMu.RUnlock()
	r.moveTo(ctx, r.vfs.followMounts(ctx, vd))
}

// followMounts returns the root of the topmost mount on vd, or vd; the
// reference on vd moves to the result.
func (vfs *VirtualFilesystem) followMounts(ctx context.Context, vd VirtualDentry) VirtualDentry {
	if vd.dentry.mounts.Load() == 0 {
		return vd
	}
	vfs.mountMu.RLock()
	top := vd
	for {
		m, ok := vfs.mounts[mountKey{top.mount, top.dentry}]
		if !ok {
			break
		}
		top = VirtualDentry{mount: m, dentry: m.root}
	}
	if top == vd {
		vfs.mountMu.RUnlock()
		return vd
	}
	top.IncRef()
	vfs.mountMu.RUnlock()
	vd.DecRef(ctx)
	return top
}
