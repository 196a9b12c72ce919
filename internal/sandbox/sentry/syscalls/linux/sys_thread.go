package linux

import (
	"time"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/kernel"
)

func sysClone(t *kernel.Task, a *[6]uint64) (uint64, error) {
	// amd64: clone(flags, stack, parent_tid, child_tid, tls).
	flags := a[0]
	tid, err := t.Clone(kernel.CloneOptions{
		Flags:      flags &^ abi.CSIGNAL,
		ExitSignal: abi.Signal(flags & abi.CSIGNAL),
		Stack:      a[1],
		ParentTID:  a[2],
		ChildTID:   a[3],
		TLS:        a[4],
	})
	return uint64(tid), err
}

func sysClone3(t *kernel.Task, a *[6]uint64) (uint64, error) {
	size := a[1]
	if size < 64 || size > abi.PageSize {
		return 0, abi.EINVAL
	}
	var ca abi.CloneArgs
	buf := abi.AsBytes(&ca)
	n := size
	if n > uint64(len(buf)) {
		n = uint64(len(buf))
	}
	if err := copyInBytes(t, a[0], buf[:n]); err != nil {
		return 0, err
	}
	if ca.ExitSignal > abi.NSIG || ca.SetTID != 0 || ca.SetTIDSize != 0 || ca.Cgroup != 0 || ca.Flags>>32 != 0 {
		return 0, abi.EINVAL
	}
	stack := uint64(0)
	if ca.Stack != 0 {
		stack = ca.Stack + ca.StackSize
	}
	tid, err := t.Clone(kernel.CloneOptions{
		Flags:      ca.Flags,
		ExitSignal: abi.Signal(ca.ExitSignal),
		Stack:      stack,
		ParentTID:  ca.ParentTID,
		ChildTID:   ca.ChildTID,
		TLS:        ca.TLS,
	})
	return uint64(tid), err
}

func sysFork(t *kernel.Task, a *[6]uint64) (uint64, error) {
	tid, err := t.Clone(kernel.CloneOptions{ExitSignal: abi.SIGCHLD})
	return uint64(tid), err
}

func sysVfork(t *kernel.Task, a *[6]uint64) (uint64, error) {
	tid, err := t.Clone(kernel.CloneOptions{Flags: abi.CLONE_VM | abi.CLONE_VFORK, ExitSignal: abi.SIGCHLD})
	return uint64(tid), err
}

func execveAt(t *kernel.Task, dirfd int32, pathAddr, argvAddr, envAddr uint64, flags uint32) (uint64, error) {
	if flags&^(abi.AT_EMPTY_PATH|abi.AT_SYMLINK_NOFOLLOW) != 0 {
		return 0, abi.EINVAL
	}
	path, err := copyInPath(t, pathAddr)
	if err != nil {
		return 0, err
	}
	argv, err := copyInStringArray(t, argvAddr)
	if err != nil {
		return 0, err
	}
	envv, err := copyInStringArray(t, envAddr)
	if err != nil {
		return 0, err
	}
	if dirfd != abi.AT_FDCWD && (path == "" || path[0] != '/') {
		// execveat relative to a directory: name it through /proc so
		// the loader resolves it like any path.
		if path == "" {
			if flags&abi.AT_EMPTY_PATH == 0 {
				return 0, abi.ENOENT
			}
			path = "/proc/self/fd/" + itoa(int(dirfd))
		} else {
			path = "/proc/self/fd/" + itoa(int(dirfd)) + "/" + path
		}
	}
	if path == "" {
		return 0, abi.ENOENT
	}
	return 0, t.Execve(path, argv, envv)
}

func sysExecve(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return execveAt(t, abi.AT_FDCWD, a[0], a[1], a[2], 0)
}

func sysExecveat(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return execveAt(t, int32(a[0]), a[1], a[2], a[3], uint32(a[4]))
}

func sysExit(t *kernel.Task, a *[6]uint64) (uint64, error) {
	t.Exit(int(a[0] & 0xff))
	t.SkipSyscallReturn()
	return 0, nil
}

func sysExitGroup(t *kernel.Task, a *[6]uint64) (uint64, error) {
	t.ExitGroup(int(a[0] & 0xff))
	t.SkipSyscallReturn()
	return 0, nil
}

func waitOptions(pid int32, options uint32, t *kernel.Task) (kernel.WaitOptions, error) {
	o := kernel.WaitOptions{
		Exited:    true,
		Stopped:   options&abi.WUNTRACED != 0,
		Continued: options&abi.WCONTINUED != 0,
		NoHang:    options&abi.WNOHANG != 0,
	}
	switch {
	case pid > 0:
		o.PID = pid
	case pid == 0:
		pg, err := t.GetPGID(0)
		if err != nil {
			return o, err
		}
		o.PGID = pg
	case pid < -1:
		o.PGID = -pid
	}
	return o, nil
}

func sysWait4(t *kernel.Task, a *[6]uint64) (uint64, error) {
	pid, statusAddr, options, rusageAddr := int32(a[0]), a[1], uint32(a[2]), a[3]
	if options&^(abi.WNOHANG|abi.WUNTRACED|abi.WCONTINUED|abi.WNOTHREAD|abi.WALL|abi.WCLONE) != 0 {
		return 0, abi.EINVAL
	}
	if pid == -2147483648 {
		return 0, abi.ESRCH
	}
	o, err := waitOptions(pid, options, t)
	if err != nil {
		return 0, err
	}
	res, err := t.Wait(o)
	if err != nil || res == nil {
		return 0, err
	}
	if statusAddr != 0 {
		st := int32(res.Status)
		if err := copyOut(t, statusAddr, &st); err != nil {
			return 0, err
		}
	}
	if rusageAddr != 0 {
		ru := abi.Rusage{Utime: abi.NsecToTimeval(int64(res.Utime)), Stime: abi.NsecToTimeval(int64(res.Stime))}
		if err := copyOut(t, rusageAddr, &ru); err != nil {
			return 0, err
		}
	}
	return uint64(res.PID), nil
}

func sysWaitid(t *kernel.Task, a *[6]uint64) (uint64, error) {
	idtype, id, infoAddr, options, rusageAddr := int32(a[0]), int32(a[1]), a[2], uint32(a[3]), a[4]
	if options&^(abi.WNOHANG|abi.WSTOPPED|abi.WCONTINUED|abi.WEXITED|abi.WNOWAIT|abi.WNOTHREAD|abi.WALL|abi.WCLONE) != 0 ||
		options&(abi.WEXITED|abi.WSTOPPED|abi.WCONTINUED) == 0 {
		return 0, abi.EINVAL
	}
	o := kernel.WaitOptions{
		Exited:    options&abi.WEXITED != 0,
		Stopped:   options&abi.WSTOPPED != 0,
		Continued: options&abi.WCONTINUED != 0,
		NoHang:    options&abi.WNOHANG != 0,
		NoWait:    options&abi.WNOWAIT != 0,
	}
	switch idtype {
	case abi.P_ALL:
	case abi.P_PID:
		if id <= 0 {
			return 0, abi.EINVAL
		}
		o.PID = id
	case abi.P_PGID:
		if id < 0 {
			return 0, abi.EINVAL
		}
		o.PGID = id
		if id == 0 {
			pg, _ := t.GetPGID(0)
			o.PGID = pg
		}
	default:
		return 0, abi.EINVAL
	}
	res, err := t.Wait(o)
	if err != nil {
		return 0, err
	}
	var info abi.SigInfo
	if res != nil {
		info.Signo = int32(abi.SIGCHLD)
		info.Code = res.Code
		info.SetPID(res.PID)
		info.SetUID(res.UID)
		info.SetStatus(res.SigStatus)
	}
	if infoAddr != 0 {
		if err := copyOut(t, infoAddr, &info); err != nil {
			return 0, err
		}
	}
	if rusageAddr != 0 && res != nil {
		ru := abi.Rusage{Utime: abi.NsecToTimeval(int64(res.Utime)), Stime: abi.NsecToTimeval(int64(res.Stime))}
		if err := copyOut(t, rusageAddr, &ru); err != nil {
			return 0, err
		}
	}
	return 0, nil
}

func sysGetpid(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return uint64(t.ThreadGroup().PID()), nil
}

func sysGetppid(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return uint64(t.ParentPID()), nil
}

func sysGettid(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return uint64(t.ThreadID()), nil
}

func sysSetTidAddress(t *kernel.Task, a *[6]uint64) (uint64, error) {
	t.SetClearTID(a[0])
	return uint64(t.ThreadID()), nil
}

func sysSetRobustList(t *kernel.Task, a *[6]uint64) (uint64, error) {
	if a[1] != uint64(abi.SizeOf[abi.RobustListHead]()) {
		return 0, abi.EINVAL
	}
	t.SetRobustList(a[0])
	return 0, nil
}

func sysGetRobustList(t *kernel.Task, a *[6]uint64) (uint64, error) {
	if int32(a[0]) != 0 && int32(a[0]) != t.ThreadID() {
		target := t.Kernel().TaskWithID(int32(a[0]))
		if target == nil {
			return 0, abi.ESRCH
		}
		return 0, abi.EPERM
	}
	head := t.RobustList()
	if err := copyOut(t, a[1], &head); err != nil {
		return 0, err
	}
	size := uint64(abi.SizeOf[abi.RobustListHead]())
	return 0, copyOut(t, a[2], &size)
}

func sysFutex(t *kernel.Task, a *[6]uint64) (uint64, error) {
	addr, op, val, timeoutAddr, addr2, val3 := a[0], uint32(a[1]), uint32(a[2]), a[3], a[4], uint32(a[5])
	private := op&abi.FUTEX_PRIVATE_FLAG != 0
	cmd := op &^ (abi.FUTEX_PRIVATE_FLAG | abi.FUTEX_CLOCK_REALTIME)
	switch cmd {
	case abi.FUTEX_WAIT, abi.FUTEX_WAIT_BITSET:
		bitset := uint32(abi.FUTEX_BITSET_MATCH_ANY)
		if cmd == abi.FUTEX_WAIT_BITSET {
			bitset = val3
		}
		var deadline time.Time
		if timeoutAddr != 0 {
			var ts abi.Timespec
			if err := copyIn(t, timeoutAddr, &ts); err != nil {
				return 0, err
			}
			if !ts.Valid() {
				return 0, abi.EINVAL
			}
			if cmd == abi.FUTEX_WAIT {
				deadline = time.Now().Add(ts.Duration())
			} else {
				clock := int32(abi.CLOCK_MONOTONIC)
				if op&abi.FUTEX_CLOCK_REALTIME != 0 {
					clock = abi.CLOCK_REALTIME
				}
				d, err := t.ClockDeadline(clock, ts.Duration())
				if err != nil {
					return 0, err
				}
				deadline = d
				if !deadline.After(time.Now()) {
					return 0, abi.ETIMEDOUT
				}
			}
		}
		return 0, t.FutexWait(addr, private, val, bitset, deadline)
	case abi.FUTEX_WAKE, abi.FUTEX_WAKE_BITSET:
		bitset := uint32(abi.FUTEX_BITSET_MATCH_ANY)
		if cmd == abi.FUTEX_WAKE_BITSET {
			bitset = val3
		}
		n, err := t.FutexWake(addr, private, int(int32(val)), bitset)
		return uint64(n), err
	case abi.FUTEX_REQUEUE, abi.FUTEX_CMP_REQUEUE:
		nrequeue := int(int32(timeoutAddr))
		if int32(val) < 0 || nrequeue < 0 {
			return 0, abi.EINVAL
		}
		n, err := t.FutexRequeue(addr, addr2, private, int(val), nrequeue, cmd == abi.FUTEX_CMP_REQUEUE, val3)
		return uint64(n), err
	case abi.FUTEX_WAKE_OP:
		n, err := t.FutexWakeOp(addr, addr2, private, int(int32(val)), int(int32(timeoutAddr)), val3)
		return uint64(n), err
	}
	// Priority-inheritance futexes are not supported.
	return 0, abi.ENOSYS
}

func sysSchedYield(t *kernel.Task, a *[6]uint64) (uint64, error) { return 0, nil }

func sysSchedGetaffinity(t *kernel.Task, a *[6]uint64) (uint64, error) {
	size := a[1]
	n := t.Kernel().Config().NumCPU
	need := uint64((n + 63) / 64 * 8)
	if size < need || size&7 != 0 {
		return 0, abi.EINVAL
	}
	mask := make([]byte, need)
	for i := 0; i < n; i++ {
		mask[i/8] |= 1 << (i % 8)
	}
	if err := copyOutBytes(t, a[2], mask); err != nil {
		return 0, err
	}
	return need, nil
}

func sysSchedSetaffinity(t *kernel.Task, a *[6]uint64) (uint64, error) {
	if a[1] == 0 {
		return 0, abi.EINVAL
	}
	b := make([]byte, minU64(a[1], 1024))
	return 0, copyInBytes(t, a[2], b)
}

func minU64(a, b uint64) uint64 {
	if a < b {
		return a
	}
	return b
}

func sysGetpriority(t *kernel.Task, a *[6]uint64) (uint64, error) {
	if int32(a[0]) < abi.PRIO_PROCESS || int32(a[0]) > abi.PRIO_USER {
		return 0, abi.EINVAL
	}
	// nice 0, reported as 20 - nice.
	return 20, nil
}

func sysSetpriority(t *kernel.Task, a *[6]uint64) (uint64, error) {
	if int32(a[0]) < abi.PRIO_PROCESS || int32(a[0]) > abi.PRIO_USER {
		return 0, abi.EINVAL
	}
	return 0, nil
}

func sysSchedGetscheduler(t *kernel.Task, a *[6]uint64) (uint64, error) {
	if int32(a[0]) < 0 {
		return 0, abi.EINVAL
	}
	return abi.SCHED_NORMAL, nil
}

func sysSchedGetparam(t *kernel.Task, a *[6]uint64) (uint64, error) {
	if int32(a[0]) < 0 {
		return 0, abi.EINVAL
	}
	var prio int32
	return 0, copyOut(t, a[1], &prio)
}

func sysSchedPriorityMax(t *kernel.Task, a *[6]uint64) (uint64, error) {
	switch a[0] {
	case abi.SCHED_FIFO, abi.SCHED_RR:
		return 99, nil
	case abi.SCHED_NORMAL, abi.SCHED_BATCH, abi.SCHED_IDLE:
		return 0, nil
	}
	return 0, abi.EINVAL
}

func sysSchedPriorityMin(t *kernel.Task, a *[6]uint64) (uint64, error) {
	switch a[0] {
	case abi.SCHED_FIFO, abi.SCHED_RR:
		return 1, nil
	case abi.SCHED_NORMAL, abi.SCHED_BATCH, abi.SCHED_IDLE:
		return 0, nil
	}
	return 0, abi.EINVAL
}

func sysGetpgid(t *kernel.Task, a *[6]uint64) (uint64, error) {
	pg, err := t.GetPGID(int32(a[0]))
	return uint64(pg), err
}

func sysGetpgrp(t *kernel.Task, a *[6]uint64) (uint64, error) {
	pg, err := t.GetPGID(0)
	return uint64(pg), err
}

func sysSetpgid(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return 0, t.SetPGID(int32(a[0]), int32(a[1]))
}

func sysSetsid(t *kernel.Task, a *[6]uint64) (uint64, error) {
	sid, err := t.SetSID()
	return uint64(sid), err
}

func sysGetsid(t *kernel.Task, a *[6]uint64) (uint64, error) {
	sid, err := t.GetSID(int32(a[0]))
	return uint64(sid), err
}

func sysArchPrctl(t *kernel.Task, a *[6]uint64) (uint64, error) {
	r := t.Regs()
	switch a[0] {
	case abi.ARCH_SET_FS:
		if a[1] >= abi.TaskSize {
			return 0, abi.EPERM
		}
		r.FsBase = a[1]
		return 0, nil
	case abi.ARCH_GET_FS:
		return 0, copyOut(t, a[1], &r.FsBase)
	case abi.ARCH_SET_GS:
		if a[1] >= abi.TaskSize {
			return 0, abi.EPERM
		}
		r.GsBase = a[1]
		return 0, nil
	case abi.ARCH_GET_GS:
		return 0, copyOut(t, a[1], &r.GsBase)
	case abi.ARCH_GET_CPUID:
		return 1, nil
	case abi.ARCH_SET_CPUID:
		return 0, abi.ENODEV
	}
	return 0, abi.EINVAL
}

func sysPrctl(t *kernel.Task, a *[6]uint64) (uint64, error) {
	switch int(a[0]) {
	case abi.PR_SET_NAME:
		b := make([]byte, abi.TASK_COMM_LEN)
		n, _ := t.MemoryManager().CopyIn(t, a[1], b)
		if n == 0 {
			return 0, abi.EFAULT
		}
		name := b[:n]
		for i, c := range name {
			if c == 0 {
				name = name[:i]
				break
			}
		}
		t.SetName(string(name))
		return 0, nil
	case abi.PR_GET_NAME:
		b := make([]byte, abi.TASK_COMM_LEN)
		copy(b, t.Name())
		return 0, copyOutBytes(t, a[1], b)
	case abi.PR_SET_PDEATHSIG:
		sig := abi.Signal(a[1])
		if sig != 0 && !sig.Valid() {
			return 0, abi.EINVAL
		}
		t.SetPdeathSignal(sig)
		return 0, nil
	case abi.PR_GET_PDEATHSIG:
		sig := int32(t.PdeathSignal())
		return 0, copyOut(t, a[1], &sig)
	case abi.PR_GET_DUMPABLE:
		return 1, nil
	case abi.PR_SET_DUMPABLE:
		if a[1] > 1 {
			return 0, abi.EINVAL
		}
		return 0, nil
	case abi.PR_GET_KEEPCAPS:
		if t.Credentials().KeepCaps {
			return 1, nil
		}
		return 0, nil
	case abi.PR_SET_KEEPCAPS:
		if a[1] > 1 {
			return 0, abi.EINVAL
		}
		c := *t.Credentials()
		c.KeepCaps = a[1] == 1
		t.SetCredentials(&c)
		return 0, nil
	case abi.PR_SET_NO_NEW_PRIVS:
		if a[1] != 1 || a[2] != 0 || a[3] != 0 || a[4] != 0 {
			return 0, abi.EINVAL
		}
		t.SetNoNewPrivs()
		return 0, nil
	case abi.PR_GET_NO_NEW_PRIVS:
		if t.NoNewPrivs() {
			return 1, nil
		}
		return 0, nil
	case abi.PR_SET_CHILD_SUBREAPER:
		t.SetSubreaper(a[1] != 0)
		return 0, nil
	case abi.PR_GET_CHILD_SUBREAPER:
		v := int32(0)
		if t.Subreaper() {
			v = 1
		}
		return 0, copyOut(t, a[1], &v)
	case abi.PR_CAPBSET_READ:
		if a[1] > 40 {
			return 0, abi.EINVAL
		}
		if t.Credentials().Bounding&(1<<a[1]) != 0 {
			return 1, nil
		}
		return 0, nil
	case abi.PR_CAPBSET_DROP:
		return 0, nil
	case abi.PR_GET_SECCOMP:
		return 0, nil
	case abi.PR_SET_TIMERSLACK, abi.PR_SET_THP_DISABLE, abi.PR_SET_VMA:
		return 0, nil
	case abi.PR_GET_TIMERSLACK:
		return 50000, nil
	case abi.PR_GET_THP_DISABLE:
		return 0, nil
	case abi.PR_GET_TID_ADDRESS:
		return 0, abi.EINVAL
	}
	return 0, abi.EINVAL
}
