package linux

import (
	"io"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/kernel"
)

func putUTS(dst *[abi.UTSLen]byte, s string) {
	if len(s) > abi.UTSLen-1 {
		s = s[:abi.UTSLen-1]
	}
	copy(dst[:], s)
}

func sysUname(t *kernel.Task, a *[6]uint64) (uint64, error) {
	var u abi.Utsname
	host, domain := t.Kernel().UTSNames()
	putUTS(&u.Sysname, kernel.Sysname)
	putUTS(&u.Nodename, host)
	putUTS(&u.Release, kernel.Release)
	putUTS(&u.Version, kernel.Version)
	putUTS(&u.Machine, kernel.Machine)
	putUTS(&u.Domainname, domain)
	return 0, copyOut(t, a[0], &u)
}

func setUTSName(t *kernel.Task, a *[6]uint64, set func(string)) (uint64, error) {
	if !t.Credentials().HasCap(21) { // CAP_SYS_ADMIN
		return 0, abi.EPERM
	}
	n := int64(a[1])
	if n < 0 || n > abi.UTSLen-1 {
		return 0, abi.EINVAL
	}
	b := make([]byte, n)
	if err := copyInBytes(t, a[0], b); err != nil {
		return 0, err
	}
	set(string(b))
	return 0, nil
}

func sysSethostname(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return setUTSName(t, a, t.Kernel().SetHostname)
}

func sysSetdomainname(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return setUTSName(t, a, t.Kernel().SetDomainname)
}

func sysSysinfo(t *kernel.Task, a *[6]uint64) (uint64, error) {
	k := t.Kernel()
	total := k.Config().TotalMemory
	used := k.MemoryFile().UsedBytes()
	free := uint64(0)
	if used < total {
		free = total - used
	}
	si := abi.Sysinfo{
		Uptime:   int64(k.Monotonic().Seconds()),
		Totalram: total,
		Freeram:  free,
		Procs:    uint16(k.NumTasks()),
		MemUnit:  1,
	}
	return 0, copyOut(t, a[0], &si)
}

func sysGetrandom(t *kernel.Task, a *[6]uint64) (uint64, error) {
	buf, n, flags := a[0], a[1], uint32(a[2])
	if flags&^(abi.GRND_NONBLOCK|abi.GRND_RANDOM|abi.GRND_INSECURE) != 0 ||
		flags&(abi.GRND_RANDOM|abi.GRND_INSECURE) == abi.GRND_RANDOM|abi.GRND_INSECURE {
		return 0, abi.EINVAL
	}
	if n > 1<<25 {
		n = 1 << 25
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(t.Kernel().Random(), b); err != nil {
		return 0, abi.EIO
	}
	c, err := t.MemoryManager().CopyOut(t, buf, b)
	if err != nil && c == 0 {
		return 0, abi.EFAULT
	}
	return uint64(c), nil
}

func sysGetrlimit(t *kernel.Task, a *[6]uint64) (uint64, error) {
	r := int(a[0])
	if r < 0 || r >= abi.RLIM_NLIMITS {
		return 0, abi.EINVAL
	}
	lim := t.ThreadGroup().Limit(r)
	return 0, copyOut(t, a[1], &lim)
}

func sysSetrlimit(t *kernel.Task, a *[6]uint64) (uint64, error) {
	r := int(a[0])
	if r < 0 || r >= abi.RLIM_NLIMITS {
		return 0, abi.EINVAL
	}
	var lim abi.Rlimit
	if err := copyIn(t, a[1], &lim); err != nil {
		return 0, err
	}
	_, err := t.ThreadGroup().SetLimit(r, lim, t.Credentials().HasCap(24))
	return 0, err
}

func sysPrlimit64(t *kernel.Task, a *[6]uint64) (uint64, error) {
	pid, r, newAddr, oldAddr := int32(a[0]), int(a[1]), a[2], a[3]
	if r < 0 || r >= abi.RLIM_NLIMITS {
		return 0, abi.EINVAL
	}
	tg := t.ThreadGroup()
	if pid != 0 && pid != tg.PID() {
		tg = t.Kernel().ThreadGroupWithID(pid)
		if tg == nil {
			return 0, abi.ESRCH
		}
	}
	var old abi.Rlimit
	if newAddr != 0 {
		var lim abi.Rlimit
		if err := copyIn(t, newAddr, &lim); err != nil {
			return 0, err
		}
		o, err := tg.SetLimit(r, lim, t.Credentials().HasCap(24))
		if err != nil {
			return 0, err
		}
		old = o
	} else {
		old = tg.Limit(r)
	}
	if oldAddr != 0 {
		return 0, copyOut(t, oldAddr, &old)
	}
	return 0, nil
}

func sysGetcpu(t *kernel.Task, a *[6]uint64) (uint64, error) {
	var zero uint32
	for _, addr := range []uint64{a[0], a[1]} {
		if addr != 0 {
			if err := copyOut(t, addr, &zero); err != nil {
				return 0, err
			}
		}
	}
	return 0, nil
}

// sysRseq refuses restartable sequences. Every static glibc registers one
// at start-up and falls back cleanly on ENOSYS, so the refusal is the
// intended answer, not a gap: it is not counted among the unimplemented
// calls reported to the host (those counts should show only real gaps).
// Supporting rseq would need the Sentry to rewrite the cpu_id field and
// abort critical sections on every preemption, which it does not model.
func sysRseq(*kernel.Task, *[6]uint64) (uint64, error) {
	return 0, abi.ENOSYS
}
