package linux

import (
	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/kernel"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/memmap"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

func sysMmap(t *kernel.Task, a *[6]uint64) (uint64, error) {
	addr, length, prot, flags, fd, off := a[0], a[1], a[2], a[3], int32(a[4]), a[5]
	typ := flags & abi.MAP_TYPE
	private := typ == abi.MAP_PRIVATE
	shared := typ == abi.MAP_SHARED || typ == abi.MAP_SHARED_VALIDATE
	anon := flags&abi.MAP_ANONYMOUS != 0
	var file *vfs.FileDescription
	if !anon {
		// Like Linux, a bad descriptor is reported before bad flags.
		f, err := getFile(t, fd)
		if err != nil {
			return 0, err
		}
		defer f.DecRef(t)
		file = f
	}
	if private == shared || length == 0 || off&abi.PageMask != 0 {
		return 0, abi.EINVAL
	}
	if prot&^(abi.PROT_READ|abi.PROT_WRITE|abi.PROT_EXEC|abi.PROT_SEM|abi.PROT_GROWSDOWN|abi.PROT_GROWSUP) != 0 {
		return 0, abi.EINVAL
	}
	if flags&abi.MAP_HUGETLB != 0 {
		return 0, abi.EINVAL
	}
	opts := &memmap.MMapOpts{
		Length:    length,
		Offset:    off,
		Addr:      addr,
		Fixed:     flags&(abi.MAP_FIXED|abi.MAP_FIXED_NOREPLACE) != 0,
		Unmap:     flags&abi.MAP_FIXED != 0,
		Map32Bit:  flags&abi.MAP_32BIT != 0,
		Private:   private,
		Perms:     memmap.AccessFromProt(prot),
		MaxPerms:  memmap.AnyAccess,
		GrowsDown: flags&abi.MAP_GROWSDOWN != 0,
		Precommit: flags&abi.MAP_POPULATE != 0,
	}
	if file != nil {
		if err := file.ConfigureMMap(t, opts); err != nil {
			return 0, err
		}
	} else {
		opts.Offset = 0
	}
	m := t.MemoryManager()
	rv, err := m.MMap(t, opts)
	if err != nil && opts.MappingIdentity != nil {
		opts.MappingIdentity.DecRef(t)
	}
	return rv, err
}

func sysMunmap(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return 0, t.MemoryManager().MUnmap(t, a[0], a[1])
}

func sysMprotect(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return 0, t.MemoryManager().MProtect(a[0], a[1], a[2])
}

func sysMremap(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return t.MemoryManager().MRemap(t, a[0], a[1], a[2], a[3], a[4])
}

func sysMadvise(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return 0, t.MemoryManager().MAdvise(t, a[0], a[1], int(int32(a[2])))
}

func sysBrk(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return t.MemoryManager().Brk(t, a[0]), nil
}

func sysMsync(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return 0, t.MemoryManager().MSync(a[0], a[1], int(int32(a[2])))
}

// sysMlock accepts mlock and friends: Sentry memory is never paged out by
// the Sentry, so there is nothing to do but check the range.
func sysMlock(t *kernel.Task, a *[6]uint64) (uint64, error) {
	if !t.MemoryManager().IsMapped(abi.PageRoundDown(a[0]), a[1]+(a[0]&abi.PageMask)) {
		return 0, abi.ENOMEM
	}
	return 0, nil
}

func sysMlockall(t *kernel.Task, a *[6]uint64) (uint64, error) {
	if a[0] == 0 || a[0]&^(abi.MCL_CURRENT|abi.MCL_FUTURE|abi.MCL_ONFAULT) != 0 {
		return 0, abi.EINVAL
	}
	return 0, nil
}

func sysMunlockall(t *kernel.Task, a *[6]uint64) (uint64, error) { return 0, nil }

func sysMincore(t *kernel.Task, a *[6]uint64) (uint64, error) {
	addr, length, vec := a[0], a[1], a[2]
	if addr&abi.PageMask != 0 {
		return 0, abi.EINVAL
	}
	pages := (length + abi.PageMask) / abi.PageSize
	if !t.MemoryManager().IsMapped(addr, pages*abi.PageSize) {
		return 0, abi.ENOMEM
	}
	if pages > 1<<20 {
		return 0, abi.EINVAL
	}
	b := make([]byte, pages)
	for i := range b {
		b[i] = 1
	}
	return 0, copyOutBytes(t, vec, b)
}
