package overlay

import (
	"context"
	"sync"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

// lookupLayers finds name in the directory i: its upper inode (nil if
// absent or whited out) and the lower one it merges with (nil if absent,
// hidden or not mergeable). whiteout reports an upper whiteout.
func (i *inode) lookupLayers(ctx context.Context, name string) (up, low vfs.Inode, whiteout bool, err error) {
	u, l := i.layers()
	if u != nil {
		up, err = u.(vfs.DirInode).Lookup(ctx, name)
		switch {
		case err == abi.ENOENT:
			up, err = nil, nil
		case err != nil:
			return nil, nil, false, err
		case isWhiteout(ctx, up):
			up.DecRef(ctx)
			return nil, nil, true, nil
		}
	}
	if l == nil || i.fs.isOpaque(u) || (up != nil && (up.Type() != abi.S_IFDIR || i.fs.isOpaque(up))) {
		return up, nil, false, nil
	}
	low, err = l.(vfs.DirInode).Lookup(ctx, name)
	switch {
	case err == abi.ENOENT:
		low, err = nil, nil
	case err != nil:
		if up != nil {
			up.DecRef(ctx)
		}
		return nil, nil, false, err
	case up != nil && low.Type() != abi.S_IFDIR:
		// An upper directory over a lower file: nothing to merge.
		low.DecRef(ctx)
		low = nil
	}
	return up, low, false, nil
}

// Lookup implements vfs.DirInode.Lookup.
func (i *inode) Lookup(ctx context.Context, name string) (vfs.Inode, error) {
	up, low, _, err := i.lookupLayers(ctx, name)
	if err != nil {
		return nil, err
	}
	if up == nil && low == nil {
		return nil, abi.ENOENT
	}
	c := &inode{fs: i.fs, upper: up, lower: low, parent: i, name: name}
	if up != nil {
		c.typ = up.Type()
	} else {
		c.typ = low.Type()
	}
	return c, nil
}

// prepareCreate copies i up and clears a whiteout at name, reporting
// whether there was one (a new directory there must then be opaque).
func (i *inode) prepareCreate(ctx context.Context, name string) (vfs.DirInode, bool, error) {
	if err := i.copyUp(ctx); err != nil {
		return nil, false, err
	}
	u, _ := i.layers()
	dir := u.(vfs.DirInode)
	c, err := dir.Lookup(ctx, name)
	if err == abi.ENOENT {
		return dir, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer c.DecRef(ctx)
	if !isWhiteout(ctx, c) {
		return nil, false, abi.EEXIST
	}
	if err := dir.Unlink(ctx, name, c); err != nil {
		return nil, false, err
	}
	return dir, true, nil
}

// newChild wraps an upper inode just made in i.
func (i *inode) newChild(upper vfs.Inode, name string) *inode {
	return &inode{fs: i.fs, typ: upper.Type(), upper: upper, parent: i, name: name}
}

// Create implements vfs.DirInode.Create.
func (i *inode) Create(ctx context.Context, name string, opts *vfs.CreateOptions) (vfs.Inode, error) {
	dir, _, err := i.prepareCreate(ctx, name)
	if err != nil {
		return nil, err
	}
	u, err := dir.Create(ctx, name, opts)
	if err != nil {
		return nil, err
	}
	return i.newChild(u, name), nil
}

// Mkdir implements vfs.DirInode.Mkdir.
func (i *inode) Mkdir(ctx context.Context, name string, opts *vfs.MkdirOptions) (vfs.Inode, error) {
	dir, wasWhiteout, err := i.prepareCreate(ctx, name)
	if err != nil {
		return nil, err
	}
	u, err := dir.Mkdir(ctx, name, opts)
	if err != nil {
		return nil, err
	}
	if wasWhiteout {
		i.fs.copyMu.Lock()
		i.fs.opaque[u] = true
		i.fs.copyMu.Unlock()
	}
	return i.newChild(u, name), nil
}

// Mknod implements vfs.DirInode.Mknod.
func (i *inode) Mknod(ctx context.Context, name string, opts *vfs.MknodOptions) (vfs.Inode, error) {
	dir, _, err := i.prepareCreate(ctx, name)
	if err != nil {
		return nil, err
	}
	u, err := dir.Mknod(ctx, name, opts)
	if err != nil {
		return nil, err
	}
	return i.newChild(u, name), nil
}

// Symlink implements vfs.DirInode.Symlink.
func (i *inode) Symlink(ctx context.Context, name string, opts *vfs.SymlinkOptions) (vfs.Inode, error) {
	dir, _, err := i.prepareCreate(ctx, name)
	if err != nil {
		return nil, err
	}
	u, err := dir.Symlink(ctx, name, opts)
	if err != nil {
		return nil, err
	}
	return i.newChild(u, name), nil
}

// Link implements vfs.DirInode.Link: the target is copied up and linked
// in the upper layer.
func (i *inode) Link(ctx context.Context, name string, target vfs.Inode) (vfs.Inode, error) {
	t, ok := target.(*inode)
	if !ok || t.fs != i.fs {
		return nil, abi.EXDEV
	}
	if err := t.copyUp(ctx); err != nil {
		return nil, err
	}
	dir, _, err := i.prepareCreate(ctx, name)
	if err != nil {
		return nil, err
	}
	tu, _ := t.layers()
	u, err := dir.Link(ctx, name, tu)
	if err != nil {
		return nil, err
	}
	return i.newChild(u, name), nil
}

// whiteout makes name in i's upper directory hide the lower layer's.
func (i *inode) whiteout(ctx context.Context, dir vfs.DirInode, name string) error {
	w, err := dir.Mknod(ctx, name, &vfs.MknodOptions{Mode: abi.S_IFCHR})
	if err != nil {
		return err
	}
	w.DecRef(ctx)
	return nil
}

// lowerHas reports whether the lower layer shows name in i.
func (i *inode) lowerHas(ctx context.Context, name string) (bool, error) {
	u, l := i.layers()
	if l == nil || i.fs.isOpaque(u) {
		return false, nil
	}
	c, err := l.(vfs.DirInode).Lookup(ctx, name)
	if err == abi.ENOENT {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	c.DecRef(ctx)
	return true, nil
}

// remove removes child (called name): from the upper layer, and with a
// whiteout if the lower layer has the name.
func (i *inode) remove(ctx context.Context, name string, child vfs.Inode, rmdir bool) error {
	c, ok := child.(*inode)
	if !ok {
		return abi.EINVAL
	}
	if rmdir {
		empty, err := c.isEmpty(ctx)
		if err != nil {
			return err
		}
		if !empty {
			return abi.ENOTEMPTY
		}
	}
	if err := i.copyUp(ctx); err != nil {
		return err
	}
	u, _ := i.layers()
	dir := u.(vfs.DirInode)
	inLower, err := i.lowerHas(ctx, name)
	if err != nil {
		return err
	}
	if cu, _ := c.layers(); cu != nil {
		if rmdir {
			// The upper directory may hold whiteouts only: clear them.
			if err := clearWhiteouts(ctx, i.fs, cu); err != nil {
				return err
			}
			err = dir.Rmdir(ctx, name, cu)
			i.fs.copyMu.Lock()
			delete(i.fs.opaque, cu)
			i.fs.copyMu.Unlock()
		} else {
			err = dir.Unlink(ctx, name, cu)
		}
		if err != nil {
			return err
		}
	}
	if inLower {
		return i.whiteout(ctx, dir, name)
	}
	return nil
}

// Unlink implements vfs.DirInode.Unlink.
func (i *inode) Unlink(ctx context.Context, name string, child vfs.Inode) error {
	return i.remove(ctx, name, child, false)
}

// Rmdir implements vfs.DirInode.Rmdir.
func (i *inode) Rmdir(ctx context.Context, name string, child vfs.Inode) error {
	return i.remove(ctx, name, child, true)
}

// Rename implements vfs.DirInode.Rename.
func (i *inode) Rename(ctx context.Context, oldName string, renamed vfs.Inode, newDir vfs.DirInode, newName string, replaced vfs.Inode, flags uint32) error {
	if flags&abi.RENAME_EXCHANGE != 0 {
		return abi.EINVAL
	}
	r, ok := renamed.(*inode)
	nd, ok2 := newDir.(*inode)
	if !ok || !ok2 {
		return abi.EXDEV
	}
	if r.typ == abi.S_IFDIR {
		if _, l := r.layers(); l != nil {
			return abi.EXDEV
		}
	}
	var rep *inode
	if replaced != nil {
		rep = replaced.(*inode)
		if rep.typ == abi.S_IFDIR {
			empty, err := rep.isEmpty(ctx)
			if err != nil {
				return err
			}
			if !empty {
				return abi.ENOTEMPTY
			}
		}
	}
	if err := r.copyUp(ctx); err != nil {
		return err
	}
	if err := i.copyUp(ctx); err != nil {
		return err
	}
	if err := nd.copyUp(ctx); err != nil {
		return err
	}
	ou, _ := i.layers()
	nu, _ := nd.layers()
	odir, ndir := ou.(vfs.DirInode), nu.(vfs.DirInode)
	// What the new name hides in the upper layer goes first: a whiteout,
	// or a replaced directory's leftover whiteouts.
	var upperReplaced vfs.Inode
	if c, err := ndir.Lookup(ctx, newName); err == nil {
		if isWhiteout(ctx, c) {
			if err := ndir.Unlink(ctx, newName, c); err != nil {
				c.DecRef(ctx)
				return err
			}
			c.DecRef(ctx)
		} else {
			if c.Type() == abi.S_IFDIR {
				if err := clearWhiteouts(ctx, i.fs, c); err != nil {
					c.DecRef(ctx)
					return err
				}
			}
			upperReplaced = c
			defer c.DecRef(ctx)
		}
	} else if err != abi.ENOENT {
		return err
	}
	newInLower, err := nd.lowerHas(ctx, newName)
	if err != nil {
		return err
	}
	oldInLower, err := i.lowerHas(ctx, oldName)
	if err != nil {
		return err
	}
	ru, _ := r.layers()
	if err := odir.Rename(ctx, oldName, ru, ndir, newName, upperReplaced, flags); err != nil {
		return err
	}
	if r.typ == abi.S_IFDIR && newInLower {
		// The moved directory must hide the lower one it lands on.
		i.fs.copyMu.Lock()
		i.fs.opaque[ru] = true
		i.fs.copyMu.Unlock()
	}
	r.mu.Lock()
	r.parent, r.name = nd, newName
	r.mu.Unlock()
	if oldInLower {
		return i.whiteout(ctx, odir, oldName)
	}
	return nil
}

// clearWhiteouts removes the whiteouts of an upper directory about to go.
func clearWhiteouts(ctx context.Context, fs *filesystem, u vfs.Inode) error {
	names, err := listNames(ctx, fs, u)
	if err != nil {
		return err
	}
	dir := u.(vfs.DirInode)
	for _, n := range names {
		c, err := dir.Lookup(ctx, n)
		if err != nil {
			continue
		}
		if isWhiteout(ctx, c) {
			dir.Unlink(ctx, n, c)
		}
		c.DecRef(ctx)
	}
	return nil
}

// listNames lists a layer directory's names ("." and ".." left out).
func listNames(ctx context.Context, fs *filesystem, dir vfs.Inode) ([]string, error) {
	ents, err := listLayer(ctx, fs, dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name)
	}
	return names, nil
}

// listLayer returns a layer directory's entries, "." and ".." left out.
// Layers are mounted nowhere, so the directory is opened on a stand-in
// anonymous dentry.
func listLayer(ctx context.Context, fs *filesystem, dir vfs.Inode) ([]vfs.Dirent, error) {
	vd := fs.vfsfs.VirtualFilesystem().NewAnonVirtualDentry("overlay-layer", nil)
	defer vd.DecRef(ctx)
	fd, err := dir.Open(ctx, vd, &vfs.OpenOptions{Flags: abi.O_RDONLY | abi.O_DIRECTORY})
	if err != nil {
		return nil, err
	}
	defer fd.DecRef(ctx)
	var out []vfs.Dirent
	err = fd.IterDirents(ctx, func(d vfs.Dirent) error {
		if d.Name != "." && d.Name != ".." {
			out = append(out, d)
		}
		return nil
	})
	return out, err
}

// isEmpty reports whether the union directory i has no names.
func (i *inode) isEmpty(ctx context.Context) (bool, error) {
	ents, err := i.merged(ctx)
	return len(ents) == 0, err
}

// merged lists the union directory i: upper names but whiteouts, then
// lower names the upper layer neither has nor hides.
func (i *inode) merged(ctx context.Context) ([]vfs.Dirent, error) {
	u, l := i.layers()
	seen := map[string]bool{}
	var out []vfs.Dirent
	if u != nil {
		ents, err := listLayer(ctx, i.fs, u)
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			seen[e.Name] = true
			if e.Type == abi.DT_CHR {
				if c, err := u.(vfs.DirInode).Lookup(ctx, e.Name); err == nil {
					wo := isWhiteout(ctx, c)
					c.DecRef(ctx)
					if wo {
						continue
					}
				}
			}
			out = append(out, e)
		}
	}
	if l != nil && !i.fs.isOpaque(u) {
		ents, err := listLayer(ctx, i.fs, l)
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			if !seen[e.Name] {
				out = append(out, e)
			}
		}
	}
	return out, nil
}

// dirFD is an open union directory. Its listing is taken when read from
// the start, and offsets index it.
type dirFD struct {
	vfsfd vfs.FileDescription
	vfs.DirectoryFileDefaults
	inode *inode

	mu sync.Mutex
	// off and ents are guarded by mu.
	off  int64
	ents []vfs.Dirent
}

// IterDirents implements vfs.FileDescriptionImpl.IterDirents.
func (fd *dirFD) IterDirents(ctx context.Context, cb vfs.IterDirentsCallback) error {
	fd.mu.Lock()
	defer fd.mu.Unlock()
	if fd.off == 0 || fd.ents == nil {
		ents, err := fd.inode.merged(ctx)
		if err != nil {
			return err
		}
		st, err := fd.inode.Stat(ctx, abi.STATX_INO)
		if err != nil {
			return err
		}
		pst, err := fd.vfsfd.Dentry().ParentInode().Stat(ctx, abi.STATX_INO)
		if err != nil {
			return err
		}
		fd.ents = append([]vfs.Dirent{{Name: ".", Type: abi.DT_DIR, Ino: st.Ino}, {Name: "..", Type: abi.DT_DIR, Ino: pst.Ino}}, ents...)
	}
	for ; fd.off < int64(len(fd.ents)); fd.off++ {
		e := fd.ents[fd.off]
		e.NextOff = fd.off + 1
		if err := cb(e); err != nil {
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
