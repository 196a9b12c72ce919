package linux

import (
	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/kernel"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

func statOf(st vfs.Statx) abi.Stat {
	return abi.Stat{
		Dev:     abi.MakeDev(st.DevMajor, st.DevMinor),
		Ino:     st.Ino,
		Nlink:   uint64(st.Nlink),
		Mode:    st.Mode,
		UID:     st.UID,
		GID:     st.GID,
		Rdev:    abi.MakeDev(st.RdevMajor, st.RdevMinor),
		Size:    int64(st.Size),
		Blksize: int64(st.Blksize),
		Blocks:  int64(st.Blocks),
		ATime:   abi.Timespec{Sec: st.Atime.Sec, Nsec: st.Atime.Nsec},
		MTime:   abi.Timespec{Sec: st.Mtime.Sec, Nsec: st.Mtime.Nsec},
		CTime:   abi.Timespec{Sec: st.Ctime.Sec, Nsec: st.Ctime.Nsec},
	}
}

// statAt stats dirfd/path; an empty path with AT_EMPTY_PATH stats dirfd.
func statAt(t *kernel.Task, dirfd int32, pathAddr uint64, flags uint32, mask uint32) (vfs.Statx, error) {
	path, err := copyInPath(t, pathAddr)
	if err != nil {
		return vfs.Statx{}, err
	}
	if path == "" && flags&abi.AT_EMPTY_PATH != 0 {
		if dirfd == abi.AT_FDCWD {
			_, cwd := t.FSContext().RootAndCwd()
			defer cwd.DecRef(t)
			root := t.FSContext().Root()
			defer root.DecRef(t)
			return t.Kernel().VFS().StatAt(t, vfsCreds(t), &vfs.PathOperation{Root: root, Start: cwd, AllowEmpty: true}, mask)
		}
		f, err := getFile(t, dirfd)
		if err != nil {
			return vfs.Statx{}, err
		}
		defer f.DecRef(t)
		return f.Stat(t, mask)
	}
	pop, release, err := pathOp(t, dirfd, path, flags&abi.AT_SYMLINK_NOFOLLOW == 0, false)
	if err != nil {
		return vfs.Statx{}, err
	}
	defer release()
	return t.Kernel().VFS().StatAt(t, vfsCreds(t), pop, mask)
}

func sysStat(t *kernel.Task, a *[6]uint64) (uint64, error) {
	st, err := statAt(t, abi.AT_FDCWD, a[0], 0, vfs.StatxBasic)
	if err != nil {
		return 0, err
	}
	out := statOf(st)
	return 0, copyOut(t, a[1], &out)
}

func sysLstat(t *kernel.Task, a *[6]uint64) (uint64, error) {
	st, err := statAt(t, abi.AT_FDCWD, a[0], abi.AT_SYMLINK_NOFOLLOW, vfs.StatxBasic)
	if err != nil {
		return 0, err
	}
	out := statOf(st)
	return 0, copyOut(t, a[1], &out)
}

func sysFstat(t *kernel.Task, a *[6]uint64) (uint64, error) {
	f, err := getFile(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	st, err := f.Stat(t, vfs.StatxBasic)
	if err != nil {
		return 0, err
	}
	out := statOf(st)
	return 0, copyOut(t, a[1], &out)
}

func sysNewfstatat(t *kernel.Task, a *[6]uint64) (uint64, error) {
	flags := uint32(a[3])
	if flags&^(abi.AT_SYMLINK_NOFOLLOW|abi.AT_EMPTY_PATH|abi.AT_NO_AUTOMOUNT) != 0 {
		return 0, abi.EINVAL
	}
	st, err := statAt(t, int32(a[0]), a[1], flags, vfs.StatxBasic)
	if err != nil {
		return 0, err
	}
	out := statOf(st)
	return 0, copyOut(t, a[2], &out)
}

func sysStatx(t *kernel.Task, a *[6]uint64) (uint64, error) {
	flags, mask := uint32(a[2]), uint32(a[3])
	if flags&^(abi.AT_SYMLINK_NOFOLLOW|abi.AT_EMPTY_PATH|abi.AT_NO_AUTOMOUNT|abi.AT_STATX_SYNC_TYPE) != 0 ||
		flags&abi.AT_STATX_SYNC_TYPE == abi.AT_STATX_SYNC_TYPE || mask&abi.STATX__RESERVED != 0 {
		return 0, abi.EINVAL
	}
	st, err := statAt(t, int32(a[0]), a[1], flags, mask)
	if err != nil {
		return 0, err
	}
	out := abi.Statx{
		Mask:           st.Mask,
		Blksize:        st.Blksize,
		Attributes:     st.Attributes,
		Nlink:          st.Nlink,
		UID:            st.UID,
		GID:            st.GID,
		Mode:           uint16(st.Mode),
		Ino:            st.Ino,
		Size:           st.Size,
		Blocks:         st.Blocks,
		AttributesMask: st.AttributesMask,
		Atime:          abi.StatxTimestamp{Sec: st.Atime.Sec, Nsec: uint32(st.Atime.Nsec)},
		Btime:          abi.StatxTimestamp{Sec: st.Btime.Sec, Nsec: uint32(st.Btime.Nsec)},
		Ctime:          abi.StatxTimestamp{Sec: st.Ctime.Sec, Nsec: uint32(st.Ctime.Nsec)},
		Mtime:          abi.StatxTimestamp{Sec: st.Mtime.Sec, Nsec: uint32(st.Mtime.Nsec)},
		RdevMajor:      st.RdevMajor,
		RdevMinor:      st.RdevMinor,
		DevMajor:       st.DevMajor,
		DevMinor:       st.DevMinor,
	}
	return 0, copyOut(t, a[4], &out)
}
