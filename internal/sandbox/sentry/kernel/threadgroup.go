package kernel

import (
	"sort"
	"time"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
)

// ThreadGroup is a process: the tasks sharing a PID, signal handlers,
// group-wide pending signals, resource limits, and its place in the process
// tree.
type ThreadGroup struct {
	k   *Kernel
	pid int32

	// All fields below are guarded by k.mu.

	leader *Task
	tasks  []*Task
	// parent is the process that waits for this one; nil for processes
	// started by the host (their exit is collected by HostWait).
	parent   *ThreadGroup
	children map[*ThreadGroup]struct{}
	// exitSignal is sent to the parent at exit (clone's CSIGNAL).
	exitSignal abi.Signal

	handlers *SignalHandlers
	pending  sigPending

	pgrp *ProcessGroup

	// execed is set once the process has called execve (setpgid on it
	// from its parent then fails).
	execed bool

	// exiting is set when the whole group is exiting (exit_group, a
	// fatal signal, execve's de-thread of other threads); exitStatus is
	// then the wait status.
	exiting    bool
	exitStatus uint32
	// zombie is set once every task has exited; the process waits to be
	// reaped (wait, or HostWait for host processes).
	zombie bool
	reaped bool
	// exited is closed when the process becomes a zombie.
	exited chan struct{}

	// Job control: stopping while a group stop is in progress, stopped
	// once every task stopped; reports are consumed by wait.
	stopping       bool
	stopSig        abi.Signal
	stopped        bool
	stopReport     bool
	continueReport bool
	stoppedTasks   int

	// childWaiters are notified when a child changes state.
	childWaiters []chan struct{}

	limits [abi.RLIM_NLIMITS]abi.Rlimit

	itimerReal *realTimer

	// Accounting: CPU time of exited threads and reaped children.
	utime, stime           time.Duration
	childUtime, childStime time.Duration
	startTime              time.Time

	// subreaper is PR_SET_CHILD_SUBREAPER.
	subreaper bool
	// pdeathSignal... lives on tasks.

	// execDone, when not nil, is closed when a de-thread for execve may
	// proceed (every other task has exited).
	execWaiter chan struct{}
}

// PID returns the process ID.
func (tg *ThreadGroup) PID() int32 { return tg.pid }

// Leader returns the thread group leader (nil once the process is a
// zombie).
func (tg *ThreadGroup) Leader() *Task {
	tg.k.mu.Lock()
	defer tg.k.mu.Unlock()
	return tg.leader
}

// Tasks returns the live tasks.
func (tg *ThreadGroup) Tasks() []*Task {
	tg.k.mu.Lock()
	defer tg.k.mu.Unlock()
	return append([]*Task(nil), tg.tasks...)
}

// ParentPID returns the parent's PID (0 for host-started processes).
func (tg *ThreadGroup) ParentPID() int32 {
	tg.k.mu.Lock()
	defer tg.k.mu.Unlock()
	if tg.parent == nil {
		return 0
	}
	return tg.parent.pid
}

// ProcessGroupID returns the process group ID.
func (tg *ThreadGroup) ProcessGroupID() int32 {
	tg.k.mu.Lock()
	defer tg.k.mu.Unlock()
	return tg.pgrp.id
}

// SessionID returns the session ID.
func (tg *ThreadGroup) SessionID() int32 {
	tg.k.mu.Lock()
	defer tg.k.mu.Unlock()
	return tg.pgrp.session.id
}

// Limit returns resource limit r.
func (tg *ThreadGroup) Limit(r int) abi.Rlimit {
	tg.k.mu.Lock()
	defer tg.k.mu.Unlock()
	return tg.limits[r]
}

// SetLimit sets resource limit r, returning the old one. Raising the hard
// limit needs CAP_SYS_RESOURCE (privileged); EINVAL if cur > max.
func (tg *ThreadGroup) SetLimit(r int, lim abi.Rlimit, privileged bool) (abi.Rlimit, error) {
	tg.k.mu.Lock()
	defer tg.k.mu.Unlock()
	old := tg.limits[r]
	if lim.Cur > lim.Max {
		return old, abi.EINVAL
	}
	if lim.Max > old.Max && !privileged {
		return old, abi.EPERM
	}
	if r == abi.RLIMIT_NOFILE && lim.Max > maxNoFile {
		return old, abi.EPERM
	}
	tg.limits[r] = lim
	return old, nil
}

// maxNoFile is Linux's fs.nr_open default.
const maxNoFile = 1 << 20

// State returns a one-letter state for ps and /proc: R, S, T or Z.
func (tg *ThreadGroup) State() string {
	tg.k.mu.Lock()
	defer tg.k.mu.Unlock()
	switch {
	case tg.zombie:
		return "Z"
	case tg.stopped:
		return "T"
	}
	return "S"
}

// Usage returns the CPU time of the process (live and exited threads) and
// of its reaped children.
func (tg *ThreadGroup) Usage() (utime, stime, cutime, cstime time.Duration) {
	tg.k.mu.Lock()
	defer tg.k.mu.Unlock()
	utime, stime = tg.utime, tg.stime
	for _, t := range tg.tasks {
		u, s := t.cpuTimes()
		utime += u
		stime += s
	}
	return utime, stime, tg.childUtime, tg.childStime
}

// StartTime returns when the process was created.
func (tg *ThreadGroup) StartTime() time.Time { return tg.startTime }

// notifyParentLocked wakes the parent's waiters.
//
// Preconditions: k.mu is held.
func (tg *ThreadGroup) notifyParentLocked() {
	if tg.parent != nil {
		tg.parent.wakeChildWaitersLocked()
	}
}

func (tg *ThreadGroup) wakeChildWaitersLocked() {
	for _, ch := range tg.childWaiters {
		close(ch)
	}
	tg.childWaiters = nil
}

func defaultLimits() [abi.RLIM_NLIMITS]abi.Rlimit {
	var l [abi.RLIM_NLIMITS]abi.Rlimit
	for i := range l {
		l[i] = abi.Rlimit{Cur: abi.RLIM_INFINITY, Max: abi.RLIM_INFINITY}
	}
	l[abi.RLIMIT_STACK] = abi.Rlimit{Cur: 8 << 20, Max: abi.RLIM_INFINITY}
	l[abi.RLIMIT_CORE] = abi.Rlimit{Cur: 0, Max: abi.RLIM_INFINITY}
	l[abi.RLIMIT_NOFILE] = abi.Rlimit{Cur: 1024, Max: 1 << 20}
	l[abi.RLIMIT_MEMLOCK] = abi.Rlimit{Cur: 8 << 20, Max: 8 << 20}
	l[abi.RLIMIT_MSGQUEUE] = abi.Rlimit{Cur: 819200, Max: 819200}
	l[abi.RLIMIT_SIGPENDING] = abi.Rlimit{Cur: 63422, Max: 63422}
	l[abi.RLIMIT_NICE] = abi.Rlimit{}
	l[abi.RLIMIT_RTPRIO] = abi.Rlimit{}
	return l
}

func sortTGs(tgs []*ThreadGroup) {
	sort.Slice(tgs, func(i, j int) bool { return tgs[i].pid < tgs[j].pid })
}

// IsReaped reports whether the process is gone entirely.
func (tg *ThreadGroup) IsReaped() bool {
	tg.k.mu.Lock()
	defer tg.k.mu.Unlock()
	return tg.reaped
}

// ForegroundOfTTY returns the controlling terminal's foreground process
// group ID, or -1 if the session has no terminal.
func (tg *ThreadGroup) ForegroundOfTTY() int32 {
	tg.k.mu.Lock()
	defer tg.k.mu.Unlock()
	if tg.pgrp == nil || tg.pgrp.session.tty == nil || tg.pgrp.session.fg == nil {
		return -1
	}
	return tg.pgrp.session.fg.id
}
