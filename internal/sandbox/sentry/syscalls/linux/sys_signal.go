package linux

import (
	"time"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/kernel"
)

func sysRtSigaction(t *kernel.Task, a *[6]uint64) (uint64, error) {
	sig, actAddr, oldAddr, size := abi.Signal(a[0]), a[1], a[2], a[3]
	if size != abi.SignalSetSize {
		return 0, abi.EINVAL
	}
	var act *abi.SigAction
	if actAddr != 0 {
		act = new(abi.SigAction)
		if err := copyIn(t, actAddr, act); err != nil {
			return 0, err
		}
	}
	old, err := t.SigAction(sig, act)
	if err != nil {
		return 0, err
	}
	if oldAddr != 0 {
		return 0, copyOut(t, oldAddr, &old)
	}
	return 0, nil
}

func sysRtSigprocmask(t *kernel.Task, a *[6]uint64) (uint64, error) {
	how, setAddr, oldAddr, size := int32(a[0]), a[1], a[2], a[3]
	if size != abi.SignalSetSize {
		return 0, abi.EINVAL
	}
	old := t.SigMask()
	if setAddr != 0 {
		var set abi.SignalSet
		if err := copyIn(t, setAddr, &set); err != nil {
			return 0, err
		}
		var n abi.SignalSet
		switch how {
		case abi.SIG_BLOCK:
			n = old | set
		case abi.SIG_UNBLOCK:
			n = old &^ set
		case abi.SIG_SETMASK:
			n = set
		default:
			return 0, abi.EINVAL
		}
		t.SetSigMask(n)
	}
	if oldAddr != 0 {
		return 0, copyOut(t, oldAddr, &old)
	}
	return 0, nil
}

func sysRtSigreturn(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return 0, t.SignalReturn()
}

func sysSigaltstack(t *kernel.Task, a *[6]uint64) (uint64, error) {
	var ss *abi.SignalStack
	if a[0] != 0 {
		ss = new(abi.SignalStack)
		if err := copyIn(t, a[0], ss); err != nil {
			return 0, err
		}
	}
	old, err := t.SigAltStack(ss)
	if err != nil {
		return 0, err
	}
	if a[1] != 0 {
		return 0, copyOut(t, a[1], &old)
	}
	return 0, nil
}

func userSigInfo(t *kernel.Task, sig abi.Signal, code int32) *abi.SigInfo {
	info := &abi.SigInfo{Signo: int32(sig), Code: code}
	info.SetPID(t.ThreadGroup().PID())
	info.SetUID(t.Credentials().RealUID)
	return info
}

func sysKill(t *kernel.Task, a *[6]uint64) (uint64, error) {
	pid, sig := int32(a[0]), abi.Signal(a[1])
	if sig != 0 && !sig.Valid() {
		return 0, abi.EINVAL
	}
	if pid == -2147483648 {
		return 0, abi.ESRCH
	}
	return 0, t.Kill(pid, userSigInfo(t, sig, abi.SI_USER))
}

func tgkill(t *kernel.Task, tgid, tid int32, sig abi.Signal) error {
	if (sig != 0 && !sig.Valid()) || tid <= 0 {
		return abi.EINVAL
	}
	target := t.Kernel().TaskWithID(tid)
	if target == nil || (tgid > 0 && target.ThreadGroup().PID() != tgid) {
		return abi.ESRCH
	}
	if sig == 0 {
		return nil
	}
	return t.SendThreadSignal(target, userSigInfo(t, sig, abi.SI_TKILL))
}

func sysTgkill(t *kernel.Task, a *[6]uint64) (uint64, error) {
	if int32(a[0]) <= 0 {
		return 0, abi.EINVAL
	}
	return 0, tgkill(t, int32(a[0]), int32(a[1]), abi.Signal(a[2]))
}

func sysTkill(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return 0, tgkill(t, 0, int32(a[0]), abi.Signal(a[1]))
}

func sysRtSigqueueinfo(t *kernel.Task, a *[6]uint64) (uint64, error) {
	pid, sig := int32(a[0]), abi.Signal(a[1])
	var info abi.SigInfo
	if err := copyIn(t, a[2], &info); err != nil {
		return 0, err
	}
	if !sig.Valid() {
		return 0, abi.EINVAL
	}
	// Only the kernel may claim a non-negative si_code (or SI_TKILL),
	// unless a process signals itself.
	if (info.Code >= 0 || info.Code == abi.SI_TKILL) && pid != t.ThreadGroup().PID() {
		return 0, abi.EPERM
	}
	info.Signo = int32(sig)
	tg := t.Kernel().ThreadGroupWithID(pid)
	if tg == nil {
		return 0, abi.ESRCH
	}
	return 0, t.SendSignal(tg, &info)
}

func sysRtTgsigqueueinfo(t *kernel.Task, a *[6]uint64) (uint64, error) {
	tgid, tid, sig := int32(a[0]), int32(a[1]), abi.Signal(a[2])
	var info abi.SigInfo
	if err := copyIn(t, a[3], &info); err != nil {
		return 0, err
	}
	if !sig.Valid() {
		return 0, abi.EINVAL
	}
	if (info.Code >= 0 || info.Code == abi.SI_TKILL) && tgid != t.ThreadGroup().PID() {
		return 0, abi.EPERM
	}
	target := t.Kernel().TaskWithID(tid)
	if target == nil || target.ThreadGroup().PID() != tgid {
		return 0, abi.ESRCH
	}
	info.Signo = int32(sig)
	return 0, t.SendThreadSignal(target, &info)
}

func sysRtSigsuspend(t *kernel.Task, a *[6]uint64) (uint64, error) {
	if a[1] != abi.SignalSetSize {
		return 0, abi.EINVAL
	}
	var mask abi.SignalSet
	if err := copyIn(t, a[0], &mask); err != nil {
		return 0, err
	}
	return 0, t.SigSuspend(mask)
}

func sysPause(t *kernel.Task, a *[6]uint64) (uint64, error) {
	t.Block(nil)
	return 0, abi.ERESTARTNOHAND
}

func sysRtSigpending(t *kernel.Task, a *[6]uint64) (uint64, error) {
	if a[1] != abi.SignalSetSize {
		return 0, abi.EINVAL
	}
	set := t.SigPending()
	return 0, copyOut(t, a[0], &set)
}

func sysRtSigtimedwait(t *kernel.Task, a *[6]uint64) (uint64, error) {
	if a[3] != abi.SignalSetSize {
		return 0, abi.EINVAL
	}
	var set abi.SignalSet
	if err := copyIn(t, a[0], &set); err != nil {
		return 0, err
	}
	var deadline time.Time
	if a[2] != 0 {
		var ts abi.Timespec
		if err := copyIn(t, a[2], &ts); err != nil {
			return 0, err
		}
		if !ts.Valid() {
			return 0, abi.EINVAL
		}
		deadline = time.Now().Add(ts.Duration())
	}
	info, err := t.SigTimedWait(set, deadline)
	if err != nil {
		return 0, err
	}
	if a[1] != 0 {
		if err := copyOut(t, a[1], &info); err != nil {
			return 0, err
		}
	}
	return uint64(info.Signo), nil
}

func sysAlarm(t *kernel.Task, a *[6]uint64) (uint64, error) {
	old, _, err := t.SetITimer(abi.ITIMER_REAL, time.Duration(uint32(a[0]))*time.Second, 0)
	if err != nil {
		return 0, err
	}
	secs := uint64((old + time.Second/2) / time.Second)
	if old > 0 && secs == 0 {
		secs = 1
	}
	return secs, nil
}

func sysGetitimer(t *kernel.Task, a *[6]uint64) (uint64, error) {
	v, i, err := t.ITimer(int32(a[0]))
	if err != nil {
		return 0, err
	}
	it := abi.Itimerval{Value: abi.NsecToTimeval(int64(v)), Interval: abi.NsecToTimeval(int64(i))}
	return 0, copyOut(t, a[1], &it)
}

func sysSetitimer(t *kernel.Task, a *[6]uint64) (uint64, error) {
	var it abi.Itimerval
	if a[1] != 0 {
		if err := copyIn(t, a[1], &it); err != nil {
			return 0, err
		}
		if !it.Value.Valid() || !it.Interval.Valid() {
			return 0, abi.EINVAL
		}
	}
	v, i, err := t.SetITimer(int32(a[0]), it.Value.Duration(), it.Interval.Duration())
	if err != nil {
		return 0, err
	}
	if a[2] != 0 {
		old := abi.Itimerval{Value: abi.NsecToTimeval(int64(v)), Interval: abi.NsecToTimeval(int64(i))}
		return 0, copyOut(t, a[2], &old)
	}
	return 0, nil
}
