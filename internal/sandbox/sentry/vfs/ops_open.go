package vfs

import (
	"context"

	"golang.org/x/sys/unix"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
)

// oTmpfile is O_TMPFILE without O_DIRECTORY (__O_TMPFILE).
const oTmpfile = unix.O_TMPFILE &^ unix.O_DIRECTORY

// OpenAt opens (and with O_CREAT maybe creates) the file pop names
// (open(2), openat(2)). The result carries one reference for the caller.
// A final symbolic link is followed unless O_NOFOLLOW is set
// (pop.FollowFinalSymlink is not used). O_TMPFILE is not supported
// (EOPNOTSUPP).
func (vfs *VirtualFilesystem) OpenAt(ctx context.Context, creds *Credentials, pop *PathOperation, opts *OpenOptions) (*FileDescription, error) {
	flags := opts.Flags
	if flags&oTmpfile != 0 {
		return nil, abi.EOPNOTSUPP
	}
	if flags&unix.O_PATH != 0 {
		flags &= unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	}
	o := *opts
	o.Flags = flags
	r, err := vfs.newResolver(creds, pop)
	if err != nil {
		return nil, err
	}
	defer r.release(ctx)
	follow := flags&unix.O_NOFOLLOW == 0
	if flags&unix.O_CREAT == 0 {
		if _, _, err := r.walk(ctx, pop.Path, false, follow); err != nil {
			return nil, err
		}
		return vfs.openResolved(ctx, creds, r.take(), &o, false)
	}
	if flags&unix.O_DIRECTORY != 0 {
		return nil, abi.EINVAL
	}
	path := pop.Path
	for {
		last, trailing, err := r.walk(ctx, path, true, false)
		if err != nil {
			return nil, err
		}
		if last == "" || last == "." || last == ".." || trailing {
			return nil, abi.EISDIR
		}
		parent := r.cur
		parent.dentry.dirMu.Lock()
		child, err := parent.dentry.lookupChildLocked(ctx, last)
		if err == abi.ENOENT {
			vd, err := vfs.createLocked(ctx, creds, parent, last, &o)
			parent.dentry.dirUnlock(ctx)
			if err != nil {
				return nil, err
			}
			// The new file is opened whatever its mode says: creat("f",
			// 0444) returns a writable descriptor.
			return vfs.openResolved(ctx, creds, vd, &o, true)
		}
		parent.dentry.dirUnlock(ctx)
		if err != nil {
			return nil, err
		}
		if flags&unix.O_EXCL != 0 {
			child.DecRef(ctx)
			return nil, abi.EEXIST
		}
		parent.mount.IncRef()
		vd := vfs.followMounts(ctx, VirtualDentry{mount: parent.mount, dentry: child})
		if vd.dentry.ftype != unix.S_IFLNK || !follow {
			return vfs.openResolved(ctx, creds, vd, &o, false)
		}
		// O_CREAT follows a final symbolic link, and creates its target
		// if that is missing.
		target, jumped, err := r.followSymlink(ctx, vd)
		vd.DecRef(ctx)
		if err != nil {
			return nil, err
		}
		if jumped.Ok() {
			return vfs.openResolved(ctx, creds, jumped, &o, false)
		}
		if target == "" {
			return nil, abi.ENOENT
		}
		path = target
	}
}

// createLocked creates the regular file name in parent and returns it
// with a reference.
// Preconditions: parent.dentry.dirMu is held.
func (vfs *VirtualFilesystem) createLocked(ctx context.Context, creds *Credentials, parent VirtualDentry, name string, opts *OpenOptions) (VirtualDentry, error) {
	if err := vfs.checkCreateLocked(ctx, creds, parent); err != nil {
		return VirtualDentry{}, err
	}
	uid, gid, _, err := newOwner(ctx, creds, parent.dentry)
	if err != nil {
		return VirtualDentry{}, err
	}
	inode, err := parent.dentry.inode.(DirInode).Create(ctx, name, &CreateOptions{Mode: opts.Mode & 0o7777, UID: uid, GID: gid, Flags: opts.Flags})
	if err != nil {
		return VirtualDentry{}, err
	}
	child := parent.dentry.insertChildLocked(inode, name)
	parent.mount.IncRef()
	return VirtualDentry{mount: parent.mount, dentry: child}, nil
}

// openResolved opens the file at vd, taking over the reference on vd.
// created skips the permission check of a file the caller just made.
func (vfs *VirtualFilesystem) openResolved(ctx context.Context, creds *Credentials, vd VirtualDentry, opts *OpenOptions, created bool) (*FileDescription, error) {
	defer vd.DecRef(ctx)
	d := vd.dentry
	flags := opts.Flags
	if flags&unix.O_PATH != 0 {
		if flags&unix.O_DIRECTORY != 0 && !d.IsDir() {
			return nil, abi.ENOTDIR
		}
		return NewFileDescription(&pathFile{}, flags, vd), nil
	}
	switch d.ftype {
	case unix.S_IFLNK:
		// Only reached with O_NOFOLLOW.
		return nil, abi.ELOOP
	case unix.S_IFDIR:
		if flags&unix.O_ACCMODE != unix.O_RDONLY || flags&(unix.O_TRUNC|unix.O_CREAT) != 0 {
			return nil, abi.EISDIR
		}
	default:
		if flags&unix.O_DIRECTORY != 0 {
			return nil, abi.ENOTDIR
		}
	}
	ats := AccessTypesForOpenFlags(flags)
	if flags&unix.O_ACCMODE == unix.O_ACCMODE {
		// Linux's special access mode 3: ioctl-only; needs read and write.
		ats = MayRead | MayWrite
	}
	if opts.FileExec {
		if d.ftype != unix.S_IFREG {
			return nil, abi.EACCES
		}
		if vd.mount.Flags().NoExec {
			return nil, abi.EACCES
		}
		ats |= MayExec
	}
	if ats&MayWrite != 0 && (d.ftype == unix.S_IFREG || d.ftype == unix.S_IFDIR) {
		if err := vd.mount.checkWritable(); err != nil {
			return nil, err
		}
	}
	if !created {
		if err := d.inode.CheckPermissions(ctx, creds, ats); err != nil {
			return nil, err
		}
	}
	if (d.ftype == unix.S_IFCHR || d.ftype == unix.S_IFBLK) && vd.mount.Flags().NoDev {
		return nil, abi.EACCES
	}
	if flags&unix.O_NOATIME != 0 {
		st, err := d.inode.Stat(ctx, unix.STATX_UID)
		if err != nil {
			return nil, err
		}
		if !CanActAsOwner(creds, st.UID) {
			return nil, abi.EPERM
		}
	}
	o := *opts
	if created || d.ftype != unix.S_IFREG {
		o.Flags &^= unix.O_TRUNC
	}
	return d.inode.Open(ctx, vd, &o)
}

// statDentry returns vd's attributes, with st_dev the file system's.
func statDentry(ctx context.Context, vd VirtualDentry, mask uint32) (Statx, error) {
	st, err := vd.dentry.inode.Stat(ctx, mask)
	if err != nil {
		return Statx{}, err
	}
	st.DevMajor, st.DevMinor = vd.dentry.fs.Dev()
	return st, nil
}

// StatAt returns the attributes of the file pop names (stat(2), lstat,
// fstatat, statx).
func (vfs *VirtualFilesystem) StatAt(ctx context.Context, creds *Credentials, pop *PathOperation, mask uint32) (Statx, error) {
	vd, err := vfs.GetDentryAt(ctx, creds, pop, nil)
	if err != nil {
		return Statx{}, err
	}
	defer vd.DecRef(ctx)
	return statDentry(ctx, vd, mask)
}

// StatFSAt returns the statistics of the file system holding the file pop
// names (statfs(2)).
func (vfs *VirtualFilesystem) StatFSAt(ctx context.Context, creds *Credentials, pop *PathOperation) (Statfs, error) {
	vd, err := vfs.GetDentryAt(ctx, creds, pop, nil)
	if err != nil {
		return Statfs{}, err
	}
	defer vd.DecRef(ctx)
	return vd.dentry.fs.impl.StatFS(ctx)
}

// ReadlinkAt returns the target of the symbolic link pop names
// (readlink(2)); EINVAL if it is not a symbolic link.
func (vfs *VirtualFilesystem) ReadlinkAt(ctx context.Context, creds *Credentials, pop *PathOperation) (string, error) {
	p := *pop
	p.FollowFinalSymlink = false
	vd, err := vfs.GetDentryAt(ctx, creds, &p, nil)
	if err != nil {
		return "", err
	}
	defer vd.DecRef(ctx)
	sl, ok := vd.dentry.inode.(SymlinkInode)
	if !ok || vd.dentry.ftype != unix.S_IFLNK {
		return "", abi.EINVAL
	}
	return sl.Readlink(ctx)
}

// AccessAt checks that creds may access the file pop names as ats says
// (access(2), faccessat: the kernel passes credentials with the real IDs).
func (vfs *VirtualFilesystem) AccessAt(ctx context.Context, creds *Credentials, pop *PathOperation, ats AccessTypes) error {
	vd, err := vfs.GetDentryAt(ctx, creds, pop, nil)
	if err != nil {
		return err
	}
	defer vd.DecRef(ctx)
	return vfs.CheckAccess(ctx, creds, vd, ats)
}

// CheckAccess checks that creds may access vd as ats says, including the
// read-only and noexec flags of its mount.
func (vfs *VirtualFilesystem) CheckAccess(ctx context.Context, creds *Credentials, vd VirtualDentry, ats AccessTypes) error {
	t := vd.dentry.ftype
	if ats&MayWrite != 0 && (t == unix.S_IFREG || t == unix.S_IFDIR || t == unix.S_IFLNK) {
		if err := vd.mount.checkWritable(); err != nil {
			return err
		}
	}
	if ats&MayExec != 0 && t == unix.S_IFREG && vd.mount.Flags().NoExec {
		return abi.EACCES
	}
	return vd.dentry.inode.CheckPermissions(ctx, creds, ats)
}

// SetStatAt changes the attributes of the file pop names (chmod, chown,
// lchown, truncate, utimensat).
func (vfs *VirtualFilesystem) SetStatAt(ctx context.Context, creds *Credentials, pop *PathOperation, opts *SetStatOptions) error {
	vd, err := vfs.GetDentryAt(ctx, creds, pop, nil)
	if err != nil {
		return err
	}
	defer vd.DecRef(ctx)
	return vfs.setStat(ctx, creds, vd, opts, false)
}

const settableStatx = unix.STATX_MODE | unix.STATX_UID | unix.STATX_GID | unix.STATX_SIZE | unix.STATX_ATIME | unix.STATX_MTIME

// setStat checks and normalises opts, then applies it to vd's inode.
// viaFD says the change comes through an open file, whose openness
// replaces the write-permission check of a truncate.
func (vfs *VirtualFilesystem) setStat(ctx context.Context, creds *Credentials, vd VirtualDentry, in *SetStatOptions, viaFD bool) error {
	opts := *in
	if opts.Mask&^settableStatx != 0 {
		return abi.EINVAL
	}
	if opts.Mask&unix.STATX_ATIME != 0 && opts.Atime.Nsec == UtimeOmit {
		opts.Mask &^= unix.STATX_ATIME
	}
	if opts.Mask&unix.STATX_MTIME != 0 && opts.Mtime.Nsec == UtimeOmit {
		opts.Mask &^= unix.STATX_MTIME
	}
	if opts.Mask == 0 {
		return nil
	}
	d := vd.dentry
	if err := vd.mount.checkWritable(); err != nil {
		return err
	}
	st, err := d.inode.Stat(ctx, unix.STATX_MODE|unix.STATX_UID|unix.STATX_GID)
	if err != nil {
		return err
	}
	if opts.Mask&unix.STATX_SIZE != 0 {
		switch {
		case d.ftype == unix.S_IFDIR:
			return abi.EISDIR
		case d.ftype != unix.S_IFREG:
			return abi.EINVAL
		case opts.Size > 1<<63-1:
			return abi.EFBIG
		}
		if !viaFD {
			if err := d.inode.CheckPermissions(ctx, creds, MayWrite); err != nil {
				return err
			}
		}
	}
	if opts.Mask&unix.STATX_MODE != 0 {
		if !CanActAsOwner(creds, st.UID) {
			return abi.EPERM
		}
		opts.Mode &= 0o7777
		gid := st.GID
		if opts.Mask&unix.STATX_GID != 0 {
			gid = opts.GID
		}
		if !creds.InGroup(gid) && !creds.HasCap(unix.CAP_FSETID) {
			opts.Mode &^= unix.S_ISGID
		}
	}
	chown := false
	if opts.Mask&unix.STATX_UID != 0 && opts.UID != st.UID {
		if !creds.HasCap(unix.CAP_CHOWN) {
			return abi.EPERM
		}
		chown = true
	}
	if opts.Mask&unix.STATX_GID != 0 && opts.GID != st.GID {
		if !creds.HasCap(unix.CAP_CHOWN) && (creds.UID != st.UID || !creds.InGroup(opts.GID)) {
			return abi.EPERM
		}
		chown = true
	}
	if chown && d.ftype != unix.S_IFDIR {
		// A change of owner drops set-user-ID, and set-group-ID if the
		// group may execute (otherwise it marks mandatory locking).
		mode := st.Mode & 0o7777
		if opts.Mask&unix.STATX_MODE != 0 {
			mode = opts.Mode
		}
		kill := uint32(unix.S_ISUID)
		if mode&unix.S_IXGRP != 0 {
			kill |= unix.S_ISGID
		}
		if mode&kill != 0 {
			opts.Mask |= unix.STATX_MODE
			opts.Mode = mode &^ kill
		}
	}
	if opts.Mask&(unix.STATX_ATIME|unix.STATX_MTIME) != 0 {
		explicit := opts.Mask&unix.STATX_ATIME != 0 && opts.Atime.Nsec != UtimeNow ||
			opts.Mask&unix.STATX_MTIME != 0 && opts.Mtime.Nsec != UtimeNow
		if !CanActAsOwner(creds, st.UID) {
			if explicit {
				return abi.EPERM
			}
			if err := d.inode.CheckPermissions(ctx, creds, MayWrite); err != nil {
				return err
			}
		}
		now := vfs.Now()
		if opts.Mask&unix.STATX_ATIME != 0 && opts.Atime.Nsec == UtimeNow {
			opts.Atime = now
		}
		if opts.Mask&unix.STATX_MTIME != 0 && opts.Mtime.Nsec == UtimeNow {
			opts.Mtime = now
		}
		for _, ts := range []Timespec{opts.Atime, opts.Mtime} {
			if ts.Nsec < 0 || ts.Nsec >= 1e9 {
				return abi.EINVAL
			}
		}
	}
	return d.inode.SetStat(ctx, &opts)
}
