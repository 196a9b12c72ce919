package linux

import (
	"errors"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/kernel"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/mm"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

// efault turns a memory fault into EFAULT; other errors pass.
func efault(err error) error {
	if err == nil {
		return nil
	}
	var f *mm.Fault
	if errors.As(err, &f) {
		return abi.EFAULT
	}
	return err
}

// copyIn reads a struct from application memory.
func copyIn[T any](t *kernel.Task, addr uint64, v *T) error {
	if _, err := t.MemoryManager().CopyIn(t, addr, abi.AsBytes(v)); err != nil {
		return abi.EFAULT
	}
	return nil
}

// copyOut writes a struct to application memory.
func copyOut[T any](t *kernel.Task, addr uint64, v *T) error {
	if _, err := t.MemoryManager().CopyOut(t, addr, abi.AsBytes(v)); err != nil {
		return abi.EFAULT
	}
	return nil
}

// copyOutBytes writes b to application memory.
func copyOutBytes(t *kernel.Task, addr uint64, b []byte) error {
	if _, err := t.MemoryManager().CopyOut(t, addr, b); err != nil {
		return abi.EFAULT
	}
	return nil
}

// copyInBytes reads len(b) bytes from application memory.
func copyInBytes(t *kernel.Task, addr uint64, b []byte) error {
	if _, err := t.MemoryManager().CopyIn(t, addr, b); err != nil {
		return abi.EFAULT
	}
	return nil
}

// copyInPath reads a path argument: ENAMETOOLONG beyond PATH_MAX, EFAULT
// for a bad pointer.
func copyInPath(t *kernel.Task, addr uint64) (string, error) {
	s, err := t.MemoryManager().CopyInString(t, addr, abi.PATH_MAX-1)
	if err != nil {
		return "", efault(err)
	}
	return s, nil
}

// copyInStringArray reads a NULL-terminated array of string pointers
// (execve's argv and envp).
func copyInStringArray(t *kernel.Task, addr uint64) ([]string, error) {
	if addr == 0 {
		return nil, nil
	}
	m := t.MemoryManager()
	var out []string
	total := 0
	for i := 0; ; i++ {
		if i >= 1<<16 {
			return nil, abi.E2BIG
		}
		var p uint64
		if err := copyIn(t, addr+uint64(i)*8, &p); err != nil {
			return nil, err
		}
		if p == 0 {
			return out, nil
		}
		s, err := m.CopyInString(t, p, abi.MAX_ARG_STRLEN-1)
		if err != nil {
			if err == abi.ENAMETOOLONG {
				return nil, abi.E2BIG
			}
			return nil, efault(err)
		}
		total += len(s) + 1
		if total > 32<<20 {
			return nil, abi.E2BIG
		}
		out = append(out, s)
	}
}

// userMemory gives vfs (ioctls) access to the task's memory.
type userMemory struct{ t *kernel.Task }

// CopyIn implements vfs.UserMemory.CopyIn.
func (u userMemory) CopyIn(addr uintptr, dst []byte) (int, error) {
	n, err := u.t.MemoryManager().CopyIn(u.t, uint64(addr), dst)
	return n, efault(err)
}

// CopyOut implements vfs.UserMemory.CopyOut.
func (u userMemory) CopyOut(addr uintptr, src []byte) (int, error) {
	n, err := u.t.MemoryManager().CopyOut(u.t, uint64(addr), src)
	return n, efault(err)
}

var _ vfs.UserMemory = userMemory{}

// getFile returns the file at fd with a reference.
func getFile(t *kernel.Task, fd int32) (*vfs.FileDescription, error) {
	f, _, err := t.FDTable().Get(fd)
	return f, err
}

// nofile returns RLIMIT_NOFILE's soft limit.
func nofile(t *kernel.Task) uint64 {
	return t.ThreadGroup().Limit(abi.RLIMIT_NOFILE).Cur
}

// newFD installs file at the lowest free descriptor.
func newFD(t *kernel.Task, file *vfs.FileDescription, cloexec bool) (uint64, error) {
	fd, err := t.FDTable().NewFD(file, 0, cloexec, nofile(t))
	if err != nil {
		return 0, err
	}
	return uint64(fd), nil
}

// pathOp builds the path operation for a *at call: relative paths start
// at dirfd (or the working directory for AT_FDCWD). The release function
// drops the references it took.
func pathOp(t *kernel.Task, dirfd int32, path string, follow, allowEmpty bool) (*vfs.PathOperation, func(), error) {
	root, cwd := t.FSContext().RootAndCwd()
	start := cwd
	if (path == "" || path[0] != '/') && dirfd != abi.AT_FDCWD {
		f, err := getFile(t, dirfd)
		if err != nil {
			root.DecRef(t)
			cwd.DecRef(t)
			return nil, nil, err
		}
		start = f.VirtualDentry()
		start.IncRef()
		f.DecRef(t)
		cwd.DecRef(t)
		if path != "" && !start.Dentry().IsDir() {
			root.DecRef(t)
			start.DecRef(t)
			return nil, nil, abi.ENOTDIR
		}
	}
	pop := &vfs.PathOperation{Root: root, Start: start, Path: path, FollowFinalSymlink: follow, AllowEmpty: allowEmpty}
	return pop, func() {
		root.DecRef(t)
		start.DecRef(t)
	}, nil
}

// vfsCreds returns the task's credentials for file operations.
func vfsCreds(t *kernel.Task) *vfs.Credentials { return t.Credentials().VFS() }
