package linux

import (
	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/fsimpl/pipe"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/kernel"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

func openAt(t *kernel.Task, dirfd int32, pathAddr uint64, flags uint32, mode uint32) (uint64, error) {
	path, err := copyInPath(t, pathAddr)
	if err != nil {
		return 0, err
	}
	pop, release, err := pathOp(t, dirfd, path, true, false)
	if err != nil {
		return 0, err
	}
	defer release()
	umask := t.FSContext().Umask()
	f, err := t.Kernel().VFS().OpenAt(t, vfsCreds(t), pop, &vfs.OpenOptions{Flags: flags, Mode: mode & 0o7777 &^ umask})
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	if flags&abi.O_NOCTTY == 0 && f.Inode().Type() == abi.S_IFCHR && t.LeadsSessionWithoutTTY() {
		acquireTTY(t, f)
	}
	return newFD(t, f, flags&abi.O_CLOEXEC != 0)
}

// acquireTTY makes the terminal f, just opened by a session leader without
// a controlling terminal, the session's controlling terminal, as Linux's
// open does: through the file's own TIOCSCTTY (without stealing), so any
// terminal implementation qualifies and anything else refuses (ENOTTY,
// ignored). /dev/tty, /dev/console and a pty master (/dev/ptmx) are
// never acquired this way.
func acquireTTY(t *kernel.Task, f *vfs.FileDescription) {
	st, err := f.Inode().Stat(t, abi.STATX_TYPE)
	if err != nil || st.RdevMajor == 5 && st.RdevMinor <= 2 {
		return
	}
	f.Ioctl(t, userMemory{t}, abi.TIOCSCTTY, 0)
}

func sysOpen(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return openAt(t, abi.AT_FDCWD, a[0], uint32(a[1]), uint32(a[2]))
}

func sysOpenat(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return openAt(t, int32(a[0]), a[1], uint32(a[2]), uint32(a[3]))
}

func sysCreat(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return openAt(t, abi.AT_FDCWD, a[0], abi.O_WRONLY|abi.O_CREAT|abi.O_TRUNC, uint32(a[1]))
}

// openHow is struct open_how (openat2).
type openHow struct {
	Flags   uint64
	Mode    uint64
	Resolve uint64
}

func sysOpenat2(t *kernel.Task, a *[6]uint64) (uint64, error) {
	if a[3] < 24 || a[3] > 4096 {
		return 0, abi.EINVAL
	}
	var how openHow
	if err := copyIn(t, a[2], &how); err != nil {
		return 0, err
	}
	if how.Resolve != 0 || how.Flags>>32 != 0 || how.Mode&^0o7777 != 0 {
		return 0, abi.EINVAL
	}
	return openAt(t, int32(a[0]), a[1], uint32(how.Flags), uint32(how.Mode))
}

func sysClose(t *kernel.Task, a *[6]uint64) (uint64, error) {
	f, err := t.FDTable().Remove(int32(a[0]))
	if err != nil {
		return 0, err
	}
	f.DecRef(t)
	return 0, nil
}

func sysCloseRange(t *kernel.Task, a *[6]uint64) (uint64, error) {
	first, last, flags := uint32(a[0]), uint32(a[1]), uint32(a[2])
	const closeRangeUnshare, closeRangeCloexec = 2, 4
	if first > last || flags&^(closeRangeUnshare|closeRangeCloexec) != 0 {
		return 0, abi.EINVAL
	}
	t.FDTable().CloseRange(t, first, last, flags&closeRangeCloexec != 0)
	return 0, nil
}

func sysDup(t *kernel.Task, a *[6]uint64) (uint64, error) {
	f, err := getFile(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	return newFD(t, f, false)
}

func dup3(t *kernel.Task, oldfd, newfd int32, cloexec bool) (uint64, error) {
	f, err := getFile(t, oldfd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	old, err := t.FDTable().NewFDAt(newfd, f, cloexec, nofile(t))
	if err != nil {
		return 0, err
	}
	if old != nil {
		old.DecRef(t)
	}
	return uint64(newfd), nil
}

func sysDup2(t *kernel.Task, a *[6]uint64) (uint64, error) {
	oldfd, newfd := int32(a[0]), int32(a[1])
	if oldfd == newfd {
		f, err := getFile(t, oldfd)
		if err != nil {
			return 0, err
		}
		f.DecRef(t)
		return uint64(newfd), nil
	}
	return dup3(t, oldfd, newfd, false)
}

func sysDup3(t *kernel.Task, a *[6]uint64) (uint64, error) {
	oldfd, newfd, flags := int32(a[0]), int32(a[1]), uint32(a[2])
	if oldfd == newfd || flags&^abi.O_CLOEXEC != 0 {
		return 0, abi.EINVAL
	}
	return dup3(t, oldfd, newfd, flags&abi.O_CLOEXEC != 0)
}

func sysFcntl(t *kernel.Task, a *[6]uint64) (uint64, error) {
	fd, cmd, arg := int32(a[0]), int32(a[1]), a[2]
	fdt := t.FDTable()
	f, cloexec, err := fdt.Get(fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	switch cmd {
	case abi.F_DUPFD, abi.F_DUPFD_CLOEXEC:
		if int64(int32(arg)) < 0 {
			return 0, abi.EINVAL
		}
		if uint64(uint32(arg)) >= nofile(t) {
			return 0, abi.EINVAL
		}
		n, err := fdt.NewFD(f, int32(arg), cmd == abi.F_DUPFD_CLOEXEC, nofile(t))
		return uint64(n), err
	case abi.F_GETFD:
		if cloexec {
			return abi.FD_CLOEXEC, nil
		}
		return 0, nil
	case abi.F_SETFD:
		return 0, fdt.SetCloexec(fd, arg&abi.FD_CLOEXEC != 0)
	case abi.F_GETFL:
		return uint64(f.StatusFlags()), nil
	case abi.F_SETFL:
		f.SetStatusFlags(uint32(arg))
		return 0, nil
	case abi.F_GETLK, abi.F_OFD_GETLK:
		var lk abi.Flock
		if err := copyIn(t, arg, &lk); err != nil {
			return 0, err
		}
		// Locks are advisory and the sandbox has no other host
		// processes: nothing conflicts.
		lk.Type = abi.F_UNLCK
		return 0, copyOut(t, arg, &lk)
	case abi.F_SETLK, abi.F_SETLKW, abi.F_OFD_SETLK, abi.F_OFD_SETLKW:
		var lk abi.Flock
		if err := copyIn(t, arg, &lk); err != nil {
			return 0, err
		}
		switch lk.Type {
		case abi.F_RDLCK:
			if !f.IsReadable() {
				return 0, abi.EBADF
			}
		case abi.F_WRLCK:
			if !f.IsWritable() {
				return 0, abi.EBADF
			}
		case abi.F_UNLCK:
		default:
			return 0, abi.EINVAL
		}
		return 0, nil
	case abi.F_GETOWN, abi.F_SETOWN, abi.F_GETSIG, abi.F_SETSIG, abi.F_GETLEASE, abi.F_NOTIFY:
		return 0, nil
	case abi.F_SETLEASE:
		return 0, abi.EINVAL
	case abi.F_GETPIPE_SZ:
		if p := pipe.PipeOf(f); p != nil {
			return uint64(p.Size()), nil
		}
		return 0, abi.EBADF
	case abi.F_SETPIPE_SZ:
		if p := pipe.PipeOf(f); p != nil {
			n, err := p.SetSize(int64(int32(arg)))
			return uint64(n), err
		}
		return 0, abi.EBADF
	}
	return 0, abi.EINVAL
}

func sysGetdents64(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return getdents(t, a, true)
}

func sysGetdents(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return getdents(t, a, false)
}

// errBufferFull stops an iteration when the caller's buffer is full.
var errBufferFull = abi.EOVERFLOW

func getdents(t *kernel.Task, a *[6]uint64, is64 bool) (uint64, error) {
	f, err := getFile(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	size := int(uint32(a[2]))
	if size > 1<<20 {
		size = 1 << 20
	}
	buf := make([]byte, 0, size)
	err = f.IterDirents(t, func(d vfs.Dirent) error {
		var rec []byte
		if is64 {
			rec = abi.AppendDirent64(nil, d.Ino, d.NextOff, d.Type, d.Name)
		} else {
			// struct linux_dirent: ino, off, reclen, name, NUL, pad, type.
			n := (8 + 8 + 2 + len(d.Name) + 2 + 7) &^ 7
			rec = make([]byte, n)
			putU64(rec[0:], d.Ino)
			putU64(rec[8:], uint64(d.NextOff))
			rec[16], rec[17] = byte(n), byte(n>>8)
			copy(rec[18:], d.Name)
			rec[n-1] = d.Type
		}
		if len(buf)+len(rec) > size {
			return errBufferFull
		}
		buf = append(buf, rec...)
		return nil
	})
	if err != nil && err != errBufferFull {
		return 0, err
	}
	if err == errBufferFull && len(buf) == 0 {
		return 0, abi.EINVAL
	}
	if err := copyOutBytes(t, a[1], buf); err != nil {
		return 0, err
	}
	return uint64(len(buf)), nil
}

func putU64(b []byte, v uint64) {
	for i := 0; i < 8; i++ {
		b[i] = byte(v >> (8 * i))
	}
}

func mkdirAt(t *kernel.Task, dirfd int32, pathAddr uint64, mode uint32) (uint64, error) {
	path, err := copyInPath(t, pathAddr)
	if err != nil {
		return 0, err
	}
	pop, release, err := pathOp(t, dirfd, path, false, false)
	if err != nil {
		return 0, err
	}
	defer release()
	c := t.Credentials()
	return 0, t.Kernel().VFS().MkdirAt(t, c.VFS(), pop, &vfs.MkdirOptions{Mode: mode & 0o7777 &^ t.FSContext().Umask(), UID: c.FSUID, GID: c.FSGID})
}

func sysMkdir(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return mkdirAt(t, abi.AT_FDCWD, a[0], uint32(a[1]))
}

func sysMkdirat(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return mkdirAt(t, int32(a[0]), a[1], uint32(a[2]))
}

func mknodAt(t *kernel.Task, dirfd int32, pathAddr uint64, mode uint32, dev uint64) (uint64, error) {
	path, err := copyInPath(t, pathAddr)
	if err != nil {
		return 0, err
	}
	pop, release, err := pathOp(t, dirfd, path, false, false)
	if err != nil {
		return 0, err
	}
	defer release()
	typ := mode & abi.S_IFMT
	switch typ {
	case 0:
		typ = abi.S_IFREG
	case abi.S_IFREG, abi.S_IFIFO, abi.S_IFSOCK:
	case abi.S_IFCHR, abi.S_IFBLK:
		if !t.Credentials().HasCap(27) { // CAP_MKNOD
			return 0, abi.EPERM
		}
	default:
		return 0, abi.EINVAL
	}
	c := t.Credentials()
	return 0, t.Kernel().VFS().MknodAt(t, c.VFS(), pop, &vfs.MknodOptions{
		Mode: typ | mode&0o7777&^t.FSContext().Umask(), UID: c.FSUID, GID: c.FSGID,
		DevMajor: abi.DevMajor(dev), DevMinor: abi.DevMinor(dev),
	})
}

func sysMknod(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return mknodAt(t, abi.AT_FDCWD, a[0], uint32(a[1]), a[2])
}

func sysMknodat(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return mknodAt(t, int32(a[0]), a[1], uint32(a[2]), a[3])
}

func unlinkAt(t *kernel.Task, dirfd int32, pathAddr uint64, flags uint32) (uint64, error) {
	if flags&^abi.AT_REMOVEDIR != 0 {
		return 0, abi.EINVAL
	}
	path, err := copyInPath(t, pathAddr)
	if err != nil {
		return 0, err
	}
	pop, release, err := pathOp(t, dirfd, path, false, false)
	if err != nil {
		return 0, err
	}
	defer release()
	if flags&abi.AT_REMOVEDIR != 0 {
		return 0, t.Kernel().VFS().RmdirAt(t, vfsCreds(t), pop)
	}
	return 0, t.Kernel().VFS().UnlinkAt(t, vfsCreds(t), pop)
}

func sysUnlink(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return unlinkAt(t, abi.AT_FDCWD, a[0], 0)
}

func sysUnlinkat(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return unlinkAt(t, int32(a[0]), a[1], uint32(a[2]))
}

func sysRmdir(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return unlinkAt(t, abi.AT_FDCWD, a[0], abi.AT_REMOVEDIR)
}

func renameAt(t *kernel.Task, olddir int32, oldAddr uint64, newdir int32, newAddr uint64, flags uint32) (uint64, error) {
	if flags&^(abi.RENAME_NOREPLACE|abi.RENAME_EXCHANGE|abi.RENAME_WHITEOUT) != 0 {
		return 0, abi.EINVAL
	}
	oldPath, err := copyInPath(t, oldAddr)
	if err != nil {
		return 0, err
	}
	newPath, err := copyInPath(t, newAddr)
	if err != nil {
		return 0, err
	}
	oldPop, r1, err := pathOp(t, olddir, oldPath, false, false)
	if err != nil {
		return 0, err
	}
	defer r1()
	newPop, r2, err := pathOp(t, newdir, newPath, false, false)
	if err != nil {
		return 0, err
	}
	defer r2()
	return 0, t.Kernel().VFS().RenameAt(t, vfsCreds(t), oldPop, newPop, &vfs.RenameOptions{Flags: flags})
}

func sysRename(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return renameAt(t, abi.AT_FDCWD, a[0], abi.AT_FDCWD, a[1], 0)
}

func sysRenameat(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return renameAt(t, int32(a[0]), a[1], int32(a[2]), a[3], 0)
}

func sysRenameat2(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return renameAt(t, int32(a[0]), a[1], int32(a[2]), a[3], uint32(a[4]))
}

func linkAt(t *kernel.Task, olddir int32, oldAddr uint64, newdir int32, newAddr uint64, flags uint32) (uint64, error) {
	if flags&^(abi.AT_SYMLINK_FOLLOW|abi.AT_EMPTY_PATH) != 0 {
		return 0, abi.EINVAL
	}
	oldPath, err := copyInPath(t, oldAddr)
	if err != nil {
		return 0, err
	}
	newPath, err := copyInPath(t, newAddr)
	if err != nil {
		return 0, err
	}
	oldPop, r1, err := pathOp(t, olddir, oldPath, flags&abi.AT_SYMLINK_FOLLOW != 0, flags&abi.AT_EMPTY_PATH != 0)
	if err != nil {
		return 0, err
	}
	defer r1()
	newPop, r2, err := pathOp(t, newdir, newPath, false, false)
	if err != nil {
		return 0, err
	}
	defer r2()
	return 0, t.Kernel().VFS().LinkAt(t, vfsCreds(t), oldPop, newPop)
}

func sysLink(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return linkAt(t, abi.AT_FDCWD, a[0], abi.AT_FDCWD, a[1], 0)
}

func sysLinkat(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return linkAt(t, int32(a[0]), a[1], int32(a[2]), a[3], uint32(a[4]))
}

func symlinkAt(t *kernel.Task, targetAddr uint64, dirfd int32, pathAddr uint64) (uint64, error) {
	target, err := copyInPath(t, targetAddr)
	if err != nil {
		return 0, err
	}
	if target == "" {
		return 0, abi.ENOENT
	}
	path, err := copyInPath(t, pathAddr)
	if err != nil {
		return 0, err
	}
	pop, release, err := pathOp(t, dirfd, path, false, false)
	if err != nil {
		return 0, err
	}
	defer release()
	return 0, t.Kernel().VFS().SymlinkAt(t, vfsCreds(t), pop, target)
}

func sysSymlink(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return symlinkAt(t, a[0], abi.AT_FDCWD, a[1])
}

func sysSymlinkat(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return symlinkAt(t, a[0], int32(a[1]), a[2])
}

func readlinkAt(t *kernel.Task, dirfd int32, pathAddr, bufAddr uint64, size int64) (uint64, error) {
	if size <= 0 {
		return 0, abi.EINVAL
	}
	path, err := copyInPath(t, pathAddr)
	if err != nil {
		return 0, err
	}
	pop, release, err := pathOp(t, dirfd, path, false, path == "")
	if err != nil {
		return 0, err
	}
	defer release()
	target, err := t.Kernel().VFS().ReadlinkAt(t, vfsCreds(t), pop)
	if err != nil {
		return 0, err
	}
	b := []byte(target)
	if int64(len(b)) > size {
		b = b[:size]
	}
	if err := copyOutBytes(t, bufAddr, b); err != nil {
		return 0, err
	}
	return uint64(len(b)), nil
}

func sysReadlink(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return readlinkAt(t, abi.AT_FDCWD, a[0], a[1], int64(int32(a[2])))
}

func sysReadlinkat(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return readlinkAt(t, int32(a[0]), a[1], a[2], int64(int32(a[3])))
}

func setStatAt(t *kernel.Task, dirfd int32, pathAddr uint64, follow, allowEmpty bool, opts *vfs.SetStatOptions) (uint64, error) {
	path, err := copyInPath(t, pathAddr)
	if err != nil {
		return 0, err
	}
	if path == "" && allowEmpty && dirfd != abi.AT_FDCWD {
		f, err := getFile(t, dirfd)
		if err != nil {
			return 0, err
		}
		defer f.DecRef(t)
		return 0, f.SetStat(t, vfsCreds(t), opts)
	}
	pop, release, err := pathOp(t, dirfd, path, follow, allowEmpty)
	if err != nil {
		return 0, err
	}
	defer release()
	return 0, t.Kernel().VFS().SetStatAt(t, vfsCreds(t), pop, opts)
}

func fdSetStat(t *kernel.Task, fd int32, opts *vfs.SetStatOptions) (uint64, error) {
	f, err := getFile(t, fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	return 0, f.SetStat(t, vfsCreds(t), opts)
}

func chmodOpts(mode uint32) *vfs.SetStatOptions {
	return &vfs.SetStatOptions{Mask: abi.STATX_MODE, Mode: mode & 0o7777}
}

func sysChmod(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return setStatAt(t, abi.AT_FDCWD, a[0], true, false, chmodOpts(uint32(a[1])))
}

func sysFchmod(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return fdSetStat(t, int32(a[0]), chmodOpts(uint32(a[1])))
}

func sysFchmodat(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return setStatAt(t, int32(a[0]), a[1], true, false, chmodOpts(uint32(a[2])))
}

func chownOpts(uid, gid uint32) *vfs.SetStatOptions {
	o := &vfs.SetStatOptions{}
	if uid != ^uint32(0) {
		o.Mask |= abi.STATX_UID
		o.UID = uid
	}
	if gid != ^uint32(0) {
		o.Mask |= abi.STATX_GID
		o.GID = gid
	}
	return o
}

func sysChown(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return setStatAt(t, abi.AT_FDCWD, a[0], true, false, chownOpts(uint32(a[1]), uint32(a[2])))
}

func sysLchown(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return setStatAt(t, abi.AT_FDCWD, a[0], false, false, chownOpts(uint32(a[1]), uint32(a[2])))
}

func sysFchown(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return fdSetStat(t, int32(a[0]), chownOpts(uint32(a[1]), uint32(a[2])))
}

func sysFchownat(t *kernel.Task, a *[6]uint64) (uint64, error) {
	flags := uint32(a[4])
	if flags&^(abi.AT_SYMLINK_NOFOLLOW|abi.AT_EMPTY_PATH) != 0 {
		return 0, abi.EINVAL
	}
	return setStatAt(t, int32(a[0]), a[1], flags&abi.AT_SYMLINK_NOFOLLOW == 0, flags&abi.AT_EMPTY_PATH != 0, chownOpts(uint32(a[2]), uint32(a[3])))
}

func sysTruncate(t *kernel.Task, a *[6]uint64) (uint64, error) {
	if int64(a[1]) < 0 {
		return 0, abi.EINVAL
	}
	path, err := copyInPath(t, a[0])
	if err != nil {
		return 0, err
	}
	pop, release, err := pathOp(t, abi.AT_FDCWD, path, true, false)
	if err != nil {
		return 0, err
	}
	defer release()
	v := t.Kernel().VFS()
	// truncate(2) needs write permission, checked as an open would.
	f, err := v.OpenAt(t, vfsCreds(t), pop, &vfs.OpenOptions{Flags: abi.O_WRONLY})
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	return 0, f.SetStat(t, vfsCreds(t), &vfs.SetStatOptions{Mask: abi.STATX_SIZE, Size: a[1]})
}

func sysFtruncate(t *kernel.Task, a *[6]uint64) (uint64, error) {
	if int64(a[1]) < 0 {
		return 0, abi.EINVAL
	}
	return fdSetStat(t, int32(a[0]), &vfs.SetStatOptions{Mask: abi.STATX_SIZE, Size: a[1]})
}

func accessAt(t *kernel.Task, dirfd int32, pathAddr uint64, mode, flags uint32) (uint64, error) {
	if mode&^(abi.R_OK|abi.W_OK|abi.X_OK) != 0 || flags&^(abi.AT_EACCESS|abi.AT_SYMLINK_NOFOLLOW|abi.AT_EMPTY_PATH) != 0 {
		return 0, abi.EINVAL
	}
	path, err := copyInPath(t, pathAddr)
	if err != nil {
		return 0, err
	}
	pop, release, err := pathOp(t, dirfd, path, flags&abi.AT_SYMLINK_NOFOLLOW == 0, flags&abi.AT_EMPTY_PATH != 0)
	if err != nil {
		return 0, err
	}
	defer release()
	c := t.Credentials()
	creds := c.VFS()
	if flags&abi.AT_EACCESS == 0 {
		// access(2) checks with the real IDs.
		rc := *creds
		rc.UID, rc.GID = c.RealUID, c.RealGID
		if c.RealUID != 0 {
			rc.Caps = 0
		}
		creds = &rc
	}
	var ats vfs.AccessTypes
	if mode&abi.R_OK != 0 {
		ats |= vfs.MayRead
	}
	if mode&abi.W_OK != 0 {
		ats |= vfs.MayWrite
	}
	if mode&abi.X_OK != 0 {
		ats |= vfs.MayExec
	}
	return 0, t.Kernel().VFS().AccessAt(t, creds, pop, ats)
}

func sysAccess(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return accessAt(t, abi.AT_FDCWD, a[0], uint32(a[1]), 0)
}

func sysFaccessat(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return accessAt(t, int32(a[0]), a[1], uint32(a[2]), 0)
}

func sysFaccessat2(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return accessAt(t, int32(a[0]), a[1], uint32(a[2]), uint32(a[3]))
}

func sysChdir(t *kernel.Task, a *[6]uint64) (uint64, error) {
	path, err := copyInPath(t, a[0])
	if err != nil {
		return 0, err
	}
	pop, release, err := pathOp(t, abi.AT_FDCWD, path, true, false)
	if err != nil {
		return 0, err
	}
	defer release()
	vd, err := t.Kernel().VFS().GetDentryAt(t, vfsCreds(t), pop, &vfs.GetDentryOptions{CheckSearchable: true})
	if err != nil {
		return 0, err
	}
	defer vd.DecRef(t)
	if !vd.Dentry().IsDir() {
		return 0, abi.ENOTDIR
	}
	t.FSContext().SetCwd(t, vd)
	return 0, nil
}

func sysFchdir(t *kernel.Task, a *[6]uint64) (uint64, error) {
	f, err := getFile(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	vd := f.VirtualDentry()
	if !vd.Dentry().IsDir() {
		return 0, abi.ENOTDIR
	}
	if err := t.Kernel().VFS().CheckAccess(t, vfsCreds(t), vd, vfs.MayExec); err != nil {
		return 0, err
	}
	t.FSContext().SetCwd(t, vd)
	return 0, nil
}

func sysGetcwd(t *kernel.Task, a *[6]uint64) (uint64, error) {
	root, cwd := t.FSContext().RootAndCwd()
	defer root.DecRef(t)
	defer cwd.DecRef(t)
	s, err := t.Kernel().VFS().PathnameForGetcwd(t, root, cwd)
	if err != nil {
		return 0, err
	}
	b := append([]byte(s), 0)
	if uint64(len(b)) > a[1] {
		return 0, abi.ERANGE
	}
	if err := copyOutBytes(t, a[0], b); err != nil {
		return 0, err
	}
	return uint64(len(b)), nil
}

func sysChroot(t *kernel.Task, a *[6]uint64) (uint64, error) {
	if !t.Credentials().HasCap(18) { // CAP_SYS_CHROOT
		return 0, abi.EPERM
	}
	path, err := copyInPath(t, a[0])
	if err != nil {
		return 0, err
	}
	pop, release, err := pathOp(t, abi.AT_FDCWD, path, true, false)
	if err != nil {
		return 0, err
	}
	defer release()
	vd, err := t.Kernel().VFS().GetDentryAt(t, vfsCreds(t), pop, &vfs.GetDentryOptions{CheckSearchable: true})
	if err != nil {
		return 0, err
	}
	defer vd.DecRef(t)
	if !vd.Dentry().IsDir() {
		return 0, abi.ENOTDIR
	}
	t.FSContext().SetRoot(t, vd)
	return 0, nil
}

func sysUmask(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return uint64(t.FSContext().SwapUmask(uint32(a[0]))), nil
}

// utimes builds SetStatOptions from two timespecs (nil: both now).
func utimesOpts(ts *[2]abi.Timespec) (*vfs.SetStatOptions, error) {
	o := &vfs.SetStatOptions{Mask: abi.STATX_ATIME | abi.STATX_MTIME}
	if ts == nil {
		o.Atime = vfs.Timespec{Nsec: vfs.UtimeNow}
		o.Mtime = vfs.Timespec{Nsec: vfs.UtimeNow}
		return o, nil
	}
	for i, tsp := range []*vfs.Timespec{&o.Atime, &o.Mtime} {
		v := ts[i]
		if v.Nsec != abi.UTIME_NOW && v.Nsec != abi.UTIME_OMIT && (v.Nsec < 0 || v.Nsec >= 1e9) {
			return nil, abi.EINVAL
		}
		*tsp = vfs.Timespec{Sec: v.Sec, Nsec: v.Nsec}
	}
	return o, nil
}

func utimensat(t *kernel.Task, dirfd int32, pathAddr uint64, ts *[2]abi.Timespec, flags uint32) (uint64, error) {
	if flags&^(abi.AT_SYMLINK_NOFOLLOW|abi.AT_EMPTY_PATH) != 0 {
		return 0, abi.EINVAL
	}
	opts, err := utimesOpts(ts)
	if err != nil {
		return 0, err
	}
	if pathAddr == 0 {
		// futimens: the file itself.
		return fdSetStat(t, dirfd, opts)
	}
	return setStatAt(t, dirfd, pathAddr, flags&abi.AT_SYMLINK_NOFOLLOW == 0, flags&abi.AT_EMPTY_PATH != 0, opts)
}

func sysUtimensat(t *kernel.Task, a *[6]uint64) (uint64, error) {
	var ts *[2]abi.Timespec
	if a[2] != 0 {
		ts = new([2]abi.Timespec)
		if err := copyIn(t, a[2], ts); err != nil {
			return 0, err
		}
	}
	return utimensat(t, int32(a[0]), a[1], ts, uint32(a[3]))
}

func sysUtime(t *kernel.Task, a *[6]uint64) (uint64, error) {
	var ts *[2]abi.Timespec
	if a[1] != 0 {
		var ub [2]int64 // struct utimbuf: actime, modtime
		if err := copyIn(t, a[1], &ub); err != nil {
			return 0, err
		}
		ts = &[2]abi.Timespec{{Sec: ub[0]}, {Sec: ub[1]}}
	}
	return utimensat(t, abi.AT_FDCWD, a[0], ts, 0)
}

func timevalsToTimespecs(t *kernel.Task, addr uint64) (*[2]abi.Timespec, error) {
	if addr == 0 {
		return nil, nil
	}
	var tv [2]abi.Timeval
	if err := copyIn(t, addr, &tv); err != nil {
		return nil, err
	}
	if !tv[0].Valid() || !tv[1].Valid() {
		return nil, abi.EINVAL
	}
	return &[2]abi.Timespec{{Sec: tv[0].Sec, Nsec: tv[0].Usec * 1000}, {Sec: tv[1].Sec, Nsec: tv[1].Usec * 1000}}, nil
}

func sysUtimes(t *kernel.Task, a *[6]uint64) (uint64, error) {
	ts, err := timevalsToTimespecs(t, a[1])
	if err != nil {
		return 0, err
	}
	return utimensat(t, abi.AT_FDCWD, a[0], ts, 0)
}

func sysFutimesat(t *kernel.Task, a *[6]uint64) (uint64, error) {
	ts, err := timevalsToTimespecs(t, a[2])
	if err != nil {
		return 0, err
	}
	return utimensat(t, int32(a[0]), a[1], ts, 0)
}

func sysFsync(t *kernel.Task, a *[6]uint64) (uint64, error) {
	f, err := getFile(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	return 0, f.Fsync(t)
}

func sysSync(t *kernel.Task, a *[6]uint64) (uint64, error) { return 0, nil }

func sysStatfs(t *kernel.Task, a *[6]uint64) (uint64, error) {
	path, err := copyInPath(t, a[0])
	if err != nil {
		return 0, err
	}
	pop, release, err := pathOp(t, abi.AT_FDCWD, path, true, false)
	if err != nil {
		return 0, err
	}
	defer release()
	st, err := t.Kernel().VFS().StatFSAt(t, vfsCreds(t), pop)
	if err != nil {
		return 0, err
	}
	out := statfsOf(st)
	return 0, copyOut(t, a[1], &out)
}

func sysFstatfs(t *kernel.Task, a *[6]uint64) (uint64, error) {
	f, err := getFile(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	st, err := f.StatFS(t)
	if err != nil {
		return 0, err
	}
	out := statfsOf(st)
	return 0, copyOut(t, a[1], &out)
}

func statfsOf(st vfs.Statfs) abi.Statfs {
	return abi.Statfs{
		Type: int64(st.Type), Bsize: st.BlockSize, Blocks: st.Blocks, Bfree: st.BlocksFree, Bavail: st.BlocksAvail,
		Files: st.Files, Ffree: st.FilesFree, Namelen: int64(st.NameLength), Frsize: st.FragSize, Flags: int64(st.Flags),
	}
}

func sysFlock(t *kernel.Task, a *[6]uint64) (uint64, error) {
	f, err := getFile(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	switch int(a[1]) &^ abi.LOCK_NB {
	case abi.LOCK_SH, abi.LOCK_EX, abi.LOCK_UN:
		// Advisory locks: the sandbox is the only user of its files.
		return 0, nil
	}
	return 0, abi.EINVAL
}

func sysFallocate(t *kernel.Task, a *[6]uint64) (uint64, error) {
	f, err := getFile(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	mode, off, length := uint32(a[1]), int64(a[2]), int64(a[3])
	if off < 0 || length <= 0 {
		return 0, abi.EINVAL
	}
	if !f.IsWritable() {
		return 0, abi.EBADF
	}
	if mode != 0 {
		return 0, abi.EOPNOTSUPP
	}
	st, err := f.Stat(t, abi.STATX_SIZE)
	if err != nil {
		return 0, err
	}
	if end := off + length; end > 0 && uint64(end) > st.Size {
		return 0, f.SetStat(t, vfsCreds(t), &vfs.SetStatOptions{Mask: abi.STATX_SIZE, Size: uint64(end)})
	}
	return 0, nil
}
