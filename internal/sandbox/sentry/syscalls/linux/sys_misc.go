package linux

import (
	"strings"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/kernel"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

// sysMount mounts file systems the Sentry implements (tmpfs, proc, ...)
// inside the sandbox's own mount tree, and bind mounts within it. Nothing
// reaches the host's mounts.
func sysMount(t *kernel.Task, a *[6]uint64) (uint64, error) {
	if !t.Credentials().HasCap(21) {
		return 0, abi.EPERM
	}
	var source, fstype, data string
	var err error
	if a[0] != 0 {
		if source, err = copyInPath(t, a[0]); err != nil {
			return 0, err
		}
	}
	target, err := copyInPath(t, a[1])
	if err != nil {
		return 0, err
	}
	if a[2] != 0 {
		if fstype, err = copyInPath(t, a[2]); err != nil {
			return 0, err
		}
	}
	flags := a[3]
	if a[4] != 0 {
		s, err := t.MemoryManager().CopyInString(t, a[4], abi.PageSize-1)
		if err != nil && err != abi.ENAMETOOLONG {
			return 0, efault(err)
		}
		data = s
	}
	pop, release, err := pathOp(t, abi.AT_FDCWD, target, true, false)
	if err != nil {
		return 0, err
	}
	defer release()
	v := t.Kernel().VFS()
	mflags := vfs.MountFlagsFromLinux(flags)
	switch {
	case flags&abi.MS_REMOUNT != 0:
		return 0, v.RemountAt(t, vfsCreds(t), pop, mflags)
	case flags&abi.MS_BIND != 0:
		srcPop, r2, err := pathOp(t, abi.AT_FDCWD, source, true, false)
		if err != nil {
			return 0, err
		}
		defer r2()
		_, err = v.BindAt(t, vfsCreds(t), srcPop, pop, mflags)
		return 0, err
	case flags&(1<<18|1<<19|1<<17|1<<20) != 0: // MS_SHARED/PRIVATE/SLAVE/UNBINDABLE
		return 0, nil
	}
	_, err = v.MountAt(t, vfsCreds(t), source, pop, fstype, &vfs.MountOptions{
		Flags:                mflags,
		GetFilesystemOptions: vfs.GetFilesystemOptions{Data: data},
	})
	return 0, err
}

func sysUmount2(t *kernel.Task, a *[6]uint64) (uint64, error) {
	if !t.Credentials().HasCap(21) {
		return 0, abi.EPERM
	}
	if a[1]&^(abi.MNT_FORCE|abi.MNT_DETACH|abi.UMOUNT_NOFOLLOW|4) != 0 {
		return 0, abi.EINVAL
	}
	target, err := copyInPath(t, a[0])
	if err != nil {
		return 0, err
	}
	pop, release, err := pathOp(t, abi.AT_FDCWD, target, a[1]&abi.UMOUNT_NOFOLLOW == 0, false)
	if err != nil {
		return 0, err
	}
	defer release()
	return 0, t.Kernel().VFS().UmountAt(t, vfsCreds(t), pop)
}

func (tb *Table) sysMemfdCreate(t *kernel.Task, a *[6]uint64) (uint64, error) {
	name, err := t.MemoryManager().CopyInString(t, a[0], 249)
	if err != nil {
		if err == abi.ENAMETOOLONG {
			return 0, abi.EINVAL
		}
		return 0, efault(err)
	}
	flags := uint32(a[1])
	const mfdCloexec, mfdAllowSealing, mfdHugetlb, mfdNoexecSeal, mfdExec = 1, 2, 4, 8, 0x10
	if flags&^(mfdCloexec|mfdAllowSealing|mfdNoexecSeal|mfdExec) != 0 {
		return 0, abi.EINVAL
	}
	if tb.memfds == nil {
		return 0, abi.ENOSYS
	}
	f, err := tb.memfds.New(t, vfsCreds(t), "memfd:"+strings.ReplaceAll(name, "/", "_"), 0, abi.O_RDWR)
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	return newFD(t, f, flags&mfdCloexec != 0)
}

// sysSocket: networking is not part of this Sentry yet; every family is
// refused, raw and packet sockets included, so nothing reaches the host.
func sysSocket(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return 0, abi.EAFNOSUPPORT
}

// sysPtrace: tracing other processes is not offered; the host never sees
// the request either way.
func sysPtrace(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return 0, abi.EPERM
}
