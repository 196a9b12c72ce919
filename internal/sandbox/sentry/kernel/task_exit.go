package kernel

import (
	"time"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
)

// Exit ends the calling thread with code (exit(2)); the process ends when
// its last thread does.
func (t *Task) Exit(code int) {
	k := t.k
	k.mu.Lock()
	t.exiting = true
	t.exitCode = code
	t.markDone()
	k.mu.Unlock()
	t.sigCheck.Store(true)
}

// ExitGroup ends the process with code (exit_group(2)).
func (t *Task) ExitGroup(code int) {
	k := t.k
	k.mu.Lock()
	k.exitGroupLocked(t.tg, abi.ExitedStatus(code))
	k.mu.Unlock()
	t.sigCheck.Store(true)
}

// exitTask runs on the task goroutine when it leaves its loop: it
// releases the task's resources and removes it from its process, which
// becomes a zombie when its last task is gone.
func (t *Task) exitTask() {
	k := t.k
	t.markDone()
	t.clearChildTID()
	t.exitRobustList()
	t.ctx.Release()
	t.mu.Lock()
	m, fdt, fs := t.mm, t.fdTable, t.fs
	t.mm, t.fdTable, t.fs = nil, nil, nil
	t.mu.Unlock()
	if fdt != nil {
		fdt.DecRef(t)
	}
	if fs != nil {
		fs.DecRef(t)
	}
	if m != nil {
		m.DecUsers(t)
	}

	k.mu.Lock()
	defer k.mu.Unlock()
	tg := t.tg
	if t.vforkDone != nil {
		close(t.vforkDone)
		t.vforkDone = nil
	}
	u, s := t.cpuTimes()
	tg.utime += u
	tg.stime += s
	for i, o := range tg.tasks {
		if o == t {
			tg.tasks = append(tg.tasks[:i], tg.tasks[i+1:]...)
			break
		}
	}
	if t == tg.leader && len(tg.tasks) > 0 {
		// The leader's TID stays taken until the whole group ends.
		t.zombieLeader = true
	} else if k.tasks[t.tid] == t {
		delete(k.tasks, t.tid)
	}
	if tg.stopping && tg.stoppedTasks >= len(tg.tasks) && len(tg.tasks) > 0 && !tg.stopped {
		tg.stopped = true
		tg.stopReport = true
		k.notifyParentStateLocked(tg, abi.CLD_STOPPED, int32(tg.stopSig))
	}
	if tg.execWaiter != nil && len(tg.tasks) <= 1 {
		close(tg.execWaiter)
		tg.execWaiter = nil
	}
	if len(tg.tasks) == 0 {
		status := tg.exitStatus
		if !tg.exiting {
			status = abi.ExitedStatus(t.exitCode)
			tg.exiting = true
			tg.exitStatus = status
		}
		k.processExitedLocked(tg)
	}
	k.stopCond.Broadcast()
}

// clearChildTID implements CLONE_CHILD_CLEARTID / set_tid_address at exit:
// zero the word and wake one futex waiter on it.
func (t *Task) clearChildTID() {
	t.k.mu.Lock()
	addr := t.clearTID
	t.clearTID = 0
	t.k.mu.Unlock()
	m := t.MemoryManager()
	if addr == 0 || m == nil {
		return
	}
	var zero [4]byte
	if _, err := m.CopyOut(t, addr, zero[:]); err != nil {
		return
	}
	t.k.futexes.wake(t, m, addr, false, 1, abi.FUTEX_BITSET_MATCH_ANY)
}

// processExitedLocked turns tg into a zombie: children go to the reaper,
// the parent is told (SIGCHLD, wait), and an exiting PID 1 takes every
// other process with it.
//
// Preconditions: k.mu is held; tg has no tasks left.
func (k *Kernel) processExitedLocked(tg *ThreadGroup) {
	tg.zombie = true
	close(tg.exited)
	if tg.itimerReal != nil {
		tg.itimerReal.stop()
	}
	if tg.leader != nil && k.tasks[tg.pid] == tg.leader {
		delete(k.tasks, tg.pid)
	}
	tg.leader = nil

	// Reparent children.
	reaper := k.reaperForLocked(tg)
	for c := range tg.children {
		delete(tg.children, c)
		c.parent = reaper
		if reaper != nil {
			reaper.children[c] = struct{}{}
			if c.zombie {
				reaper.wakeChildWaitersLocked()
				if reaper.autoReapsLocked() {
					k.reapLocked(c)
				}
			}
		} else if c.zombie {
			// No one will wait for it.
			k.reapLocked(c)
		}
	}

	if tg == k.init {
		for _, o := range k.tgs {
			if o != tg {
				k.killGroupLocked(o, abi.SIGKILL)
			}
		}
	}

	p := tg.parent
	if p == nil {
		return // the host reaps it (HostWait)
	}
	if tg.exitSignal.Valid() {
		info := abi.SigInfo{Signo: int32(tg.exitSignal)}
		st := tg.exitStatus
		switch {
		case st&0x7f == 0:
			info.Code = abi.CLD_EXITED
			info.SetStatus(int32(st >> 8 & 0xff))
		case st&0x80 != 0:
			info.Code = abi.CLD_DUMPED
			info.SetStatus(int32(st & 0x7f))
		default:
			info.Code = abi.CLD_KILLED
			info.SetStatus(int32(st & 0x7f))
		}
		info.SetPID(tg.pid)
		info.SetUtime(int64(tg.utime / (time.Second / abi.CLK_TCK)))
		info.SetStime(int64(tg.stime / (time.Second / abi.CLK_TCK)))
		k.sendLocked(nil, p, &info, false)
	}
	p.wakeChildWaitersLocked()
	if tg.exitSignal == abi.SIGCHLD && p.autoReapsLocked() {
		k.reapLocked(tg)
	}
}

// autoReapsLocked reports whether tg's children are reaped without wait
// (SIGCHLD ignored or SA_NOCLDWAIT).
func (tg *ThreadGroup) autoReapsLocked() bool {
	act := tg.handlers.actions[abi.SIGCHLD]
	return act.Handler == abi.SIG_IGN || act.Flags&abi.SA_NOCLDWAIT != 0
}

// reaperForLocked returns the process that adopts tg's children: the
// nearest subreaper ancestor, else PID 1 (nil if PID 1 is gone or is tg).
func (k *Kernel) reaperForLocked(tg *ThreadGroup) *ThreadGroup {
	for p := tg.parent; p != nil; p = p.parent {
		if p.subreaper && !p.exiting {
			return p
		}
	}
	if k.init != nil && k.init != tg && !k.init.exiting {
		return k.init
	}
	return nil
}

// reapLocked releases zombie tg: its PID, its place in its parent and
// process group; its CPU time goes to the parent.
func (k *Kernel) reapLocked(tg *ThreadGroup) {
	if tg.reaped {
		return
	}
	tg.reaped = true
	if p := tg.parent; p != nil {
		delete(p.children, tg)
		p.childUtime += tg.utime + tg.childUtime
		p.childStime += tg.stime + tg.childStime
	}
	delete(k.tgs, tg.pid)
	if tg.pgrp != nil {
		k.leavePgrpLocked(tg)
	}
}

// WaitOptions select what Wait reports.
type WaitOptions struct {
	// Which children: PID > 0 a child, PGID > 0 a process group,
	// otherwise any child.
	PID, PGID int32
	// Events: exits, stops (WUNTRACED), continues (WCONTINUED).
	Exited, Stopped, Continued bool
	// NoHang returns at once if nothing is ready (nil result).
	NoHang bool
	// NoWait leaves the child waitable (WNOWAIT).
	NoWait bool
}

// WaitResult is one child's state change.
type WaitResult struct {
	PID int32
	UID uint32
	// Status is the wait4 status word.
	Status uint32
	// Code and SigStatus are waitid's si_code and si_status.
	Code      int32
	SigStatus int32
	// Usage is the child's CPU time (when it exited).
	Utime, Stime time.Duration
}

// Wait waits for a child state change as opts select (wait4, waitid). It
// returns ECHILD if no child matches, nil and no error for NoHang with
// nothing ready, ERESTARTSYS if interrupted.
func (t *Task) Wait(opts WaitOptions) (*WaitResult, error) {
	k := t.k
	for {
		k.mu.Lock()
		res, any := t.waitOnceLocked(opts)
		if res != nil {
			k.mu.Unlock()
			return res, nil
		}
		if !any {
			k.mu.Unlock()
			return nil, abi.ECHILD
		}
		if opts.NoHang {
			k.mu.Unlock()
			return nil, nil
		}
		ch := make(chan struct{})
		t.tg.childWaiters = append(t.tg.childWaiters, ch)
		k.mu.Unlock()
		if err := t.Block(ch); err != nil {
			return nil, err
		}
	}
}

// waitOnceLocked looks for a reportable child; any says whether some
// child matches at all.
func (t *Task) waitOnceLocked(opts WaitOptions) (*WaitResult, bool) {
	any := false
	for c := range t.tg.children {
		switch {
		case opts.PID > 0 && c.pid != opts.PID:
			continue
		case opts.PGID > 0 && (c.pgrp == nil || c.pgrp.id != opts.PGID):
			continue
		}
		any = true
		uid := uint32(0)
		if c.leader != nil {
			uid = c.leader.Credentials().RealUID
		}
		if opts.Exited && c.zombie {
			res := &WaitResult{PID: c.pid, UID: uid, Status: c.exitStatus, Utime: c.utime + c.childUtime, Stime: c.stime + c.childStime}
			switch st := c.exitStatus; {
			case st&0x7f == 0:
				res.Code, res.SigStatus = abi.CLD_EXITED, int32(st>>8&0xff)
			case st&0x80 != 0:
				res.Code, res.SigStatus = abi.CLD_DUMPED, int32(st&0x7f)
			default:
				res.Code, res.SigStatus = abi.CLD_KILLED, int32(st&0x7f)
			}
			if !opts.NoWait {
				t.k.reapLocked(c)
			}
			return res, true
		}
		if opts.Stopped && c.stopReport && c.stopped {
			if !opts.NoWait {
				c.stopReport = false
			}
			return &WaitResult{PID: c.pid, UID: uid, Status: abi.StoppedStatus(c.stopSig), Code: abi.CLD_STOPPED, SigStatus: int32(c.stopSig)}, true
		}
		if opts.Continued && c.continueReport {
			if !opts.NoWait {
				c.continueReport = false
			}
			return &WaitResult{PID: c.pid, UID: uid, Status: abi.ContinuedStatus, Code: abi.CLD_CONTINUED, SigStatus: int32(abi.SIGCONT)}, true
		}
	}
	return nil, any
}
