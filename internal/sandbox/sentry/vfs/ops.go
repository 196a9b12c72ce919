package vfs

import (
	"context"

	"golang.org/x/sys/unix"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
)

// GetDentryAt resolves pop and returns the file it names, with a
// reference (chdir, chroot, mount targets, execve's file).
func (vfs *VirtualFilesystem) GetDentryAt(ctx context.Context, creds *Credentials, pop *PathOperation, opts *GetDentryOptions) (VirtualDentry, error) {
	r, err := vfs.newResolver(creds, pop)
	if err != nil {
		return VirtualDentry{}, err
	}
	defer r.release(ctx)
	if _, _, err := r.walk(ctx, pop.Path, false, pop.FollowFinalSymlink); err != nil {
		return VirtualDentry{}, err
	}
	if opts != nil && opts.CheckSearchable {
		if err := r.checkSearch(ctx); err != nil {
			return VirtualDentry{}, err
		}
	}
	return r.take(), nil
}

// resolveParent resolves all but the last component of pop. It returns
// the resolver (positioned at the parent directory, which the caller must
// release), the last name ("" if the path names "/" or the start itself)
// and whether a slash followed it.
func (vfs *VirtualFilesystem) resolveParent(ctx context.Context, creds *Credentials, pop *PathOperation) (*resolver, string, bool, error) {
	r, err := vfs.newResolver(creds, pop)
	if err != nil {
		return nil, "", false, err
	}
	last, trailing, err := r.walk(ctx, pop.Path, true, false)
	if err != nil {
		r.release(ctx)
		return nil, "", false, err
	}
	return r, last, trailing, nil
}

// checkDirWrite checks that creds may add or remove names in the
// directory parent.
func checkDirWrite(ctx context.Context, creds *Credentials, parent VirtualDentry) error {
	if !parent.dentry.IsDir() {
		return abi.ENOTDIR
	}
	return parent.dentry.inode.CheckPermissions(ctx, creds, MayWrite|MayExec)
}

// newOwner returns the owner of a new file in parent: the caller's fsuid,
// and the parent's group if it is set-group-ID (then a new directory is
// set-group-ID too), else the caller's fsgid.
func newOwner(ctx context.Context, creds *Credentials, parent *Dentry) (uid, gid uint32, setgid bool, err error) {
	st, err := parent.inode.Stat(ctx, unix.STATX_MODE|unix.STATX_GID)
	if err != nil {
		return 0, 0, false, err
	}
	if st.Mode&unix.S_ISGID != 0 {
		return creds.UID, st.GID, true, nil
	}
	return creds.UID, creds.GID, false, nil
}

// checkSticky enforces the sticky bit of dir: only the owner of child or
// of dir (or CAP_FOWNER) may remove or rename child.
func checkSticky(ctx context.Context, creds *Credentials, dir, child *Dentry) error {
	st, err := dir.inode.Stat(ctx, unix.STATX_MODE|unix.STATX_UID)
	if err != nil {
		return err
	}
	if st.Mode&unix.S_ISVTX == 0 || CanActAsOwner(creds, st.UID) {
		return nil
	}
	cst, err := child.inode.Stat(ctx, unix.STATX_UID)
	if err != nil {
		return err
	}
	if cst.UID == creds.UID {
		return nil
	}
	return abi.EPERM
}

// createAt implements the operations that add a name: it resolves the
// parent, checks the name is absent and that the caller may write the
// directory, then calls create with the parent's dirMu held and caches the
// new dentry. isDir allows a trailing slash (mkdir).
func (vfs *VirtualFilesystem) createAt(ctx context.Context, creds *Credentials, pop *PathOperation, isDir bool, create func(parent VirtualDentry, dir DirInode, name string, uid, gid uint32, setgid bool) (Inode, error)) error {
	r, last, trailing, err := vfs.resolveParent(ctx, creds, pop)
	if err != nil {
		return err
	}
	defer r.release(ctx)
	if last == "" || last == "." || last == ".." {
		return abi.EEXIST
	}
	parent := r.cur
	parent.dentry.dirMu.Lock()
	child, err := parent.dentry.lookupChildLocked(ctx, last)
	switch {
	case err == nil:
		parent.dentry.dirUnlock(ctx)
		child.DecRef(ctx)
		return abi.EEXIST
	case err != abi.ENOENT:
		parent.dentry.dirUnlock(ctx)
		return err
	case trailing && !isDir:
		parent.dentry.dirUnlock(ctx)
		return abi.ENOENT
	}
	if err := vfs.checkCreateLocked(ctx, creds, parent); err != nil {
		parent.dentry.dirUnlock(ctx)
		return err
	}
	uid, gid, setgid, err := newOwner(ctx, creds, parent.dentry)
	if err != nil {
		parent.dentry.dirUnlock(ctx)
		return err
	}
	inode, err := create(parent, parent.dentry.inode.(DirInode), last, uid, gid, setgid)
	if err != nil {
		parent.dentry.dirUnlock(ctx)
		return err
	}
	child = parent.dentry.insertChildLocked(inode, last)
	parent.dentry.dirUnlock(ctx)
	child.DecRef(ctx)
	return nil
}

// checkCreateLocked checks that a name may be added to parent.
// Preconditions: parent.dentry.dirMu is held.
func (vfs *VirtualFilesystem) checkCreateLocked(ctx context.Context, creds *Credentials, parent VirtualDentry) error {
	if parent.dentry.IsDead() {
		return abi.ENOENT
	}
	if err := checkDirWrite(ctx, creds, parent); err != nil {
		return err
	}
	return parent.mount.checkWritable()
}

// MkdirAt makes a directory (mkdir(2)). opts.Mode has the umask applied.
func (vfs *VirtualFilesystem) MkdirAt(ctx context.Context, creds *Credentials, pop *PathOperation, opts *MkdirOptions) error {
	return vfs.createAt(ctx, creds, pop, true, func(_ VirtualDentry, dir DirInode, name string, uid, gid uint32, setgid bool) (Inode, error) {
		o := MkdirOptions{Mode: opts.Mode & 0o7777, UID: uid, GID: gid}
		if setgid {
			o.Mode |= unix.S_ISGID
		}
		return dir.Mkdir(ctx, name, &o)
	})
}

// MknodAt makes a special file or regular file (mknod(2)). Creating a
// device needs CAP_MKNOD; opts.Mode's type must be S_IFREG, S_IFIFO,
// S_IFCHR, S_IFBLK or S_IFSOCK (S_IFREG if zero).
func (vfs *VirtualFilesystem) MknodAt(ctx context.Context, creds *Credentials, pop *PathOperation, opts *MknodOptions) error {
	typ := opts.Mode & unix.S_IFMT
	switch typ {
	case 0:
		typ = unix.S_IFREG
	case unix.S_IFREG, unix.S_IFIFO, unix.S_IFSOCK:
	case unix.S_IFCHR, unix.S_IFBLK:
		if !creds.HasCap(unix.CAP_MKNOD) {
			return abi.EPERM
		}
	case unix.S_IFDIR:
		return abi.EPERM
	default:
		return abi.EINVAL
	}
	return vfs.createAt(ctx, creds, pop, false, func(_ VirtualDentry, dir DirInode, name string, uid, gid uint32, _ bool) (Inode, error) {
		o := MknodOptions{Mode: typ | opts.Mode&0o7777, UID: uid, GID: gid, DevMajor: opts.DevMajor, DevMinor: opts.DevMinor}
		return dir.Mknod(ctx, name, &o)
	})
}

// SymlinkAt makes a symbolic link to target (symlink(2)).
func (vfs *VirtualFilesystem) SymlinkAt(ctx context.Context, creds *Credentials, pop *PathOperation, target string) error {
	if target == "" {
		return abi.ENOENT
	}
	if len(target) >= PathMax {
		return abi.ENAMETOOLONG
	}
	return vfs.createAt(ctx, creds, pop, false, func(_ VirtualDentry, dir DirInode, name string, uid, gid uint32, _ bool) (Inode, error) {
		return dir.Symlink(ctx, name, &SymlinkOptions{Target: target, UID: uid, GID: gid})
	})
}

// LinkAt makes newpop a new name of the file oldpop names (link(2),
// linkat(2); AT_SYMLINK_FOLLOW is oldpop.FollowFinalSymlink).
func (vfs *VirtualFilesystem) LinkAt(ctx context.Context, creds *Credentials, oldpop, newpop *PathOperation) error {
	old, err := vfs.GetDentryAt(ctx, creds, oldpop, nil)
	if err != nil {
		return err
	}
	defer old.DecRef(ctx)
	if old.dentry.IsDir() {
		return abi.EPERM
	}
	return vfs.createAt(ctx, creds, newpop, false, func(parent VirtualDentry, dir DirInode, name string, _, _ uint32, _ bool) (Inode, error) {
		if parent.mount != old.mount {
			return nil, abi.EXDEV
		}
		if old.dentry.IsDead() {
			return nil, abi.ENOENT
		}
		return dir.Link(ctx, name, old.dentry.inode)
	})
}

// UnlinkAt removes a name that is not a directory (unlink(2)).
func (vfs *VirtualFilesystem) UnlinkAt(ctx context.Context, creds *Credentials, pop *PathOperation) error {
	return vfs.removeAt(ctx, creds, pop, false)
}

// RmdirAt removes an empty directory (rmdir(2)).
func (vfs *VirtualFilesystem) RmdirAt(ctx context.Context, creds *Credentials, pop *PathOperation) error {
	return vfs.removeAt(ctx, creds, pop, true)
}

func (vfs *VirtualFilesystem) removeAt(ctx context.Context, creds *Credentials, pop *PathOperation, rmdir bool) error {
	r, last, trailing, err := vfs.resolveParent(ctx, creds, pop)
	if err != nil {
		return err
	}
	defer r.release(ctx)
	parent := r.cur
	switch {
	case last == "" && rmdir:
		return abi.EBUSY
	case last == "" || last == "." || last == "..":
		if !rmdir {
			return abi.EISDIR
		}
		if last == "." {
			return abi.EINVAL
		}
		return abi.ENOTEMPTY
	}
	if err := parent.mount.checkWritable(); err != nil {
		return err
	}
	parent.dentry.dirMu.Lock()
	child, err := parent.dentry.lookupChildLocked(ctx, last)
	if err != nil {
		parent.dentry.dirUnlock(ctx)
		return err
	}
	err = vfs.removeChildLocked(ctx, creds, parent, last, child, rmdir, trailing)
	parent.dentry.dirUnlock(ctx)
	child.DecRef(ctx)
	return err
}

// removeChildLocked removes child (called name) from parent.
// Preconditions: parent.dentry.dirMu is held.
func (vfs *VirtualFilesystem) removeChildLocked(ctx context.Context, creds *Credentials, parent VirtualDentry, name string, child *Dentry, rmdir, trailing bool) error {
	switch {
	case rmdir && !child.IsDir():
		return abi.ENOTDIR
	case !rmdir && child.IsDir():
		return abi.EISDIR
	case !rmdir && trailing:
		return abi.ENOTDIR
	}
	if err := checkDirWrite(ctx, creds, parent); err != nil {
		return err
	}
	if err := checkSticky(ctx, creds, parent.dentry, child); err != nil {
		return err
	}
	if child.mounts.Load() != 0 {
		return abi.EBUSY
	}
	dir := parent.dentry.inode.(DirInode)
	if !rmdir {
		if err := dir.Unlink(ctx, name, child.inode); err != nil {
			return err
		}
		parent.dentry.removeChildLocked(name, child)
		return nil
	}
	// No lookup happens in child meanwhile: a plain unlock will do.
	child.dirMu.Lock()
	defer child.dirMu.Unlock()
	if err := dir.Rmdir(ctx, name, child.inode); err != nil {
		return err
	}
	parent.dentry.removeChildLocked(name, child)
	return nil
}

// RenameAt renames oldpop to newpop (rename(2), renameat2(2)).
func (vfs *VirtualFilesystem) RenameAt(ctx context.Context, creds *Credentials, oldpop, newpop *PathOperation, opts *RenameOptions) error {
	flags := opts.Flags
	if flags&^(unix.RENAME_NOREPLACE|unix.RENAME_EXCHANGE) != 0 ||
		flags&unix.RENAME_NOREPLACE != 0 && flags&unix.RENAME_EXCHANGE != 0 {
		return abi.EINVAL
	}
	oldr, oldName, oldTrailing, err := vfs.resolveParent(ctx, creds, oldpop)
	if err != nil {
		return err
	}
	defer oldr.release(ctx)
	newr, newName, newTrailing, err := vfs.resolveParent(ctx, creds, newpop)
	if err != nil {
		return err
	}
	defer newr.release(ctx)
	if oldName == "" || oldName == "." || oldName == ".." {
		return abi.EBUSY
	}
	if newName == "" || newName == "." || newName == ".." {
		if flags&unix.RENAME_NOREPLACE != 0 {
			return abi.EEXIST
		}
		return abi.EBUSY
	}
	oldParent, newParent := oldr.cur, newr.cur
	if oldParent.mount != newParent.mount {
		return abi.EXDEV
	}
	if err := oldParent.mount.checkWritable(); err != nil {
		return err
	}

	vfs.renameMu.Lock()
	var toDrop []*Dentry
	var stale []staleChild
	err = vfs.renameLocked(ctx, creds, oldParent, oldName, oldTrailing, newParent, newName, newTrailing, flags, &toDrop, &stale)
	vfs.renameMu.Unlock()
	for _, s := range stale {
		s.child.inode.DecRef(ctx)
		s.parent.DecRef(ctx)
	}
	for _, d := range toDrop {
		d.DecRef(ctx)
	}
	return err
}

// staleChild is a child dropped by revalidation while its parent's dirMu
// was held, to destroy once the locks are released.
type staleChild struct {
	parent, child *Dentry
}

// renameLocked does RenameAt's work. References to drop once renameMu is
// released are appended to toDrop.
// Preconditions: vfs.renameMu is held for writing.
func (vfs *VirtualFilesystem) renameLocked(ctx context.Context, creds *Credentials, oldParent VirtualDentry, oldName string, oldTrailing bool, newParent VirtualDentry, newName string, newTrailing bool, flags uint32, toDrop *[]*Dentry, stale *[]staleChild) error {
	op, np := oldParent.dentry, newParent.dentry
	if !op.IsDir() || !np.IsDir() {
		return abi.ENOTDIR
	}
	lockDirs(op, np)
	defer unlockDirs(op, np, stale)

	renamed, err := op.lookupChildLocked(ctx, oldName)
	if err != nil {
		return err
	}
	*toDrop = append(*toDrop, renamed)
	replaced, err := np.lookupChildLocked(ctx, newName)
	switch {
	case err == nil:
		*toDrop = append(*toDrop, replaced)
	case err == abi.ENOENT:
		replaced = nil
		if flags&unix.RENAME_EXCHANGE != 0 {
			return abi.ENOENT
		}
		if np.IsDead() {
			return abi.ENOENT
		}
	default:
		return err
	}
	if (oldTrailing || newTrailing) && !renamed.IsDir() {
		return abi.ENOTDIR
	}
	if flags&unix.RENAME_EXCHANGE != 0 && newTrailing && !replaced.IsDir() {
		return abi.ENOTDIR
	}
	if replaced == renamed || (replaced != nil && replaced.inode == renamed.inode) {
		return nil
	}
	if err := checkDirWrite(ctx, creds, oldParent); err != nil {
		return err
	}
	if err := checkSticky(ctx, creds, op, renamed); err != nil {
		return err
	}
	if op != np {
		if err := checkDirWrite(ctx, creds, newParent); err != nil {
			return err
		}
	}
	if replaced != nil {
		if err := checkSticky(ctx, creds, np, replaced); err != nil {
			return err
		}
	}
	if replaced != nil && flags&unix.RENAME_NOREPLACE != 0 {
		return abi.EEXIST
	}
	if renamed.mounts.Load() != 0 || (replaced != nil && replaced.mounts.Load() != 0) {
		return abi.EBUSY
	}
	// A directory may not move below itself; in an exchange, neither.
	if renamed.IsDir() && isAncestorLocked(renamed, np) {
		return abi.EINVAL
	}
	if replaced != nil && flags&unix.RENAME_EXCHANGE != 0 && replaced.IsDir() && isAncestorLocked(replaced, op) {
		return abi.EINVAL
	}
	if replaced != nil && flags&unix.RENAME_EXCHANGE == 0 {
		switch {
		case renamed.IsDir() && !replaced.IsDir():
			return abi.ENOTDIR
		case !renamed.IsDir() && replaced.IsDir():
			return abi.EISDIR
		}
	}
	// Moving a directory to another parent rewrites its "..": it must be
	// writable.
	if op != np && renamed.IsDir() {
		if err := renamed.inode.CheckPermissions(ctx, creds, MayWrite); err != nil {
			return err
		}
	}
	if flags&unix.RENAME_EXCHANGE != 0 && op != np && replaced.IsDir() {
		if err := replaced.inode.CheckPermissions(ctx, creds, MayWrite); err != nil {
			return err
		}
	}

	var replacedInode Inode
	if replaced != nil {
		replacedInode = replaced.inode
		if replaced.IsDir() && flags&unix.RENAME_EXCHANGE == 0 {
			// No lookup happens in replaced meanwhile, so it gains no
			// stale children: a plain unlock will do.
			replaced.dirMu.Lock()
			defer replaced.dirMu.Unlock()
		}
	}
	if err := op.inode.(DirInode).Rename(ctx, oldName, renamed.inode, np.inode.(DirInode), newName, replacedInode, flags); err != nil {
		return err
	}

	// Update the cache to match.
	delete(op.children, oldName)
	if replaced != nil {
		delete(np.children, newName)
		if flags&unix.RENAME_EXCHANGE != 0 {
			replaced.parent, replaced.name = op, oldName
			op.children[oldName] = replaced
			delete(op.negative, oldName)
		} else {
			// The replaced dentry keeps its pin on np until it is
			// destroyed.
			replaced.cached = false
			replaced.dead.Store(true)
		}
	}
	renamed.parent, renamed.name = np, newName
	if np.children == nil {
		np.children = make(map[string]*Dentry)
	}
	np.children[newName] = renamed
	delete(np.negative, newName)
	if op != np {
		// Pins move with the children.
		np.refs.Add(1)
		*toDrop = append(*toDrop, op)
		if replaced != nil && flags&unix.RENAME_EXCHANGE != 0 {
			op.refs.Add(1)
			*toDrop = append(*toDrop, np)
		}
	}
	return nil
}

// isAncestorLocked reports whether a is d or one of d's ancestors.
// Preconditions: vfs.renameMu is held.
func isAncestorLocked(a, d *Dentry) bool {
	for ; d != nil; d = d.parent {
		if d == a {
			return true
		}
	}
	return false
}

// lockDirs locks a and b (which may be the same), in lock order: by
// depth, then by creation.
// Preconditions: vfs.renameMu is held for writing.
func lockDirs(a, b *Dentry) {
	if a == b {
		a.dirMu.Lock()
		return
	}
	if lessDentry(b, a) {
		a, b = b, a
	}
	a.dirMu.Lock()
	b.dirMu.Lock()
}

// unlockDirs undoes lockDirs, handing the stale children found meanwhile
// to the caller, which destroys them after renameMu is released.
func unlockDirs(a, b *Dentry, stale *[]staleChild) {
	for _, d := range []*Dentry{a, b} {
		for _, c := range d.stale {
			*stale = append(*stale, staleChild{parent: d, child: c})
		}
		d.stale = nil
		d.dirMu.Unlock()
		if a == b {
			break
		}
	}
}

func depth(d *Dentry) int {
	n := 0
	for ; d.parent != nil; d = d.parent {
		n++
	}
	return n
}

// lessDentry orders dentries for locking: shallower first (an ancestor
// before its descendants), then older first.
func lessDentry(a, b *Dentry) bool {
	da, db := depth(a), depth(b)
	if da != db {
		return da < db
	}
	return a.id < b.id
}
