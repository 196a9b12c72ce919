package kernel

import (
	"github.com/podvisor/podvisor/internal/sandbox/abi"
)

// SignalHandlers is the table of signal actions, shared by the threads of a
// process (and by processes cloned with CLONE_SIGHAND). Guarded by
// Kernel.mu.
type SignalHandlers struct {
	actions [abi.NSIG]abi.SigAction
}

func (h *SignalHandlers) copy() *SignalHandlers {
	c := *h
	return &c
}

// sigPending is a set of pending signals: standard signals are pending
// once, real-time signals queue.
type sigPending struct {
	set   abi.SignalSet
	infos [abi.NSIG][]abi.SigInfo
}

// enqueue adds info; a standard signal already pending is dropped.
func (p *sigPending) enqueue(info *abi.SigInfo) {
	sig := abi.Signal(info.Signo)
	if sig < abi.SIGRTMIN && p.set&sig.Mask() != 0 {
		return
	}
	p.set |= sig.Mask()
	p.infos[sig] = append(p.infos[sig], *info)
}

// take removes and returns one instance of sig.
func (p *sigPending) take(sig abi.Signal) abi.SigInfo {
	q := p.infos[sig]
	info := q[0]
	if len(q) == 1 {
		p.infos[sig] = nil
		p.set &^= sig.Mask()
	} else {
		p.infos[sig] = q[1:]
	}
	return info
}

// discard removes every instance of the signals in set.
func (p *sigPending) discard(set abi.SignalSet) {
	for s := abi.Signal(1); s < abi.NSIG; s++ {
		if set&s.Mask() != 0 && p.set&s.Mask() != 0 {
			p.infos[s] = nil
		}
	}
	p.set &^= set
}

// synchronousSignals are delivered before others, as Linux does.
const synchronousSignals = abi.SignalSet(1<<(abi.SIGSEGV-1) | 1<<(abi.SIGBUS-1) | 1<<(abi.SIGILL-1) |
	1<<(abi.SIGTRAP-1) | 1<<(abi.SIGFPE-1) | 1<<(abi.SIGSYS-1))

// pick returns the signal of set to deliver first, or 0.
func pick(set abi.SignalSet) abi.Signal {
	if set == 0 {
		return 0
	}
	if s := set & synchronousSignals; s != 0 {
		set = s
	}
	for sig := abi.Signal(1); sig < abi.NSIG; sig++ {
		if set&sig.Mask() != 0 {
			return sig
		}
	}
	return 0
}

// Default actions.
type defaultAction int

const (
	actTerm defaultAction = iota
	actCore
	actIgnore
	actStop
	actCont
)

func defaultActionOf(sig abi.Signal) defaultAction {
	switch sig {
	case abi.SIGQUIT, abi.SIGILL, abi.SIGTRAP, abi.SIGABRT, abi.SIGBUS, abi.SIGFPE,
		abi.SIGSEGV, abi.SIGXCPU, abi.SIGXFSZ, abi.SIGSYS:
		return actCore
	case abi.SIGCHLD, abi.SIGURG, abi.SIGWINCH:
		return actIgnore
	case abi.SIGSTOP, abi.SIGTSTP, abi.SIGTTIN, abi.SIGTTOU:
		return actStop
	case abi.SIGCONT:
		return actCont
	}
	return actTerm
}

const stopSignals = abi.SignalSet(1<<(abi.SIGSTOP-1) | 1<<(abi.SIGTSTP-1) | 1<<(abi.SIGTTIN-1) | 1<<(abi.SIGTTOU-1))

// isIgnoredLocked reports whether sig would be discarded by tg on
// delivery: SIG_IGN, or SIG_DFL with an ignore default.
//
// Preconditions: k.mu is held.
func (tg *ThreadGroup) isIgnoredLocked(sig abi.Signal) bool {
	act := tg.handlers.actions[sig]
	if act.Handler == abi.SIG_IGN {
		return true
	}
	return act.Handler == abi.SIG_DFL && defaultActionOf(sig) == actIgnore
}

// deliverableLocked returns the pending signals t may take now.
//
// Preconditions: k.mu is held.
func (t *Task) deliverableLocked() abi.SignalSet {
	return (t.pending.set | t.tg.pending.set) &^ (t.sigMask &^ abi.UnblockableSignals)
}

// SendSignal sends a signal from this task to process tg (kill).
func (t *Task) SendSignal(tg *ThreadGroup, info *abi.SigInfo) error {
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.sendLocked(nil, tg, info, false)
}

// SendThreadSignal sends a signal to one thread (tgkill).
func (t *Task) SendThreadSignal(target *Task, info *abi.SigInfo) error {
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.sendLocked(target, target.tg, info, false)
}

// SendExternalSignal sends sig from outside the sandbox (the host's kill)
// to process tg. Unlike signals from inside, it reaches PID 1 even
// without a handler.
func (k *Kernel) SendExternalSignal(tg *ThreadGroup, sig abi.Signal) error {
	if !sig.Valid() {
		return abi.EINVAL
	}
	info := abi.SigInfo{Signo: int32(sig), Code: abi.SI_USER}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.sendLocked(nil, tg, &info, true)
}

// sendLocked queues info for target (a thread) or, if target is nil, for
// process tg. external marks signals from the host.
//
// Preconditions: k.mu is held.
func (k *Kernel) sendLocked(target *Task, tg *ThreadGroup, info *abi.SigInfo, external bool) error {
	sig := abi.Signal(info.Signo)
	if !sig.Valid() {
		return abi.EINVAL
	}
	if tg.exiting || tg.zombie {
		return nil
	}
	// PID 1 only gets signals it handles, unless they come from the host.
	if tg == k.init && !external && tg.handlers.actions[sig].Handler == abi.SIG_DFL {
		return nil
	}
	switch {
	case sig == abi.SIGKILL:
		k.killGroupLocked(tg, abi.SIGKILL)
		return nil
	case sig == abi.SIGCONT:
		tg.pending.discard(stopSignals)
		for _, t := range tg.tasks {
			t.pending.discard(stopSignals)
		}
		if tg.stopping || tg.stopped {
			wasStopped := tg.stopped
			tg.stopping, tg.stopped = false, false
			k.stopCond.Broadcast()
			if wasStopped {
				tg.continueReport = true
				tg.stopReport = false
				k.notifyParentStateLocked(tg, abi.CLD_CONTINUED, int32(abi.SIGCONT))
			}
		}
	case stopSignals&sig.Mask() != 0:
		contMask := abi.SIGCONT.Mask()
		tg.pending.discard(contMask)
		for _, t := range tg.tasks {
			t.pending.discard(contMask)
		}
	}
	// Discard what would be ignored anyway, unless blocked (it may be
	// unblocked after the action changes).
	blockedBy := func(t *Task) bool { return t.sigMask&sig.Mask() != 0 }
	if tg.isIgnoredLocked(sig) {
		if target != nil && !blockedBy(target) {
			return nil
		}
		if target == nil && (tg.leader == nil || !blockedBy(tg.leader)) {
			return nil
		}
	}
	if target != nil {
		target.pending.enqueue(info)
		if !blockedBy(target) || target.sigWaitingLocked(sig) {
			target.interrupt()
		}
		return nil
	}
	tg.pending.enqueue(info)
	// Wake one thread that can take it.
	for _, t := range tg.tasks {
		if t.sigWaitingLocked(sig) {
			t.interrupt()
			return nil
		}
	}
	if tg.leader != nil && !tg.leader.exiting && !blockedBy(tg.leader) {
		tg.leader.interrupt()
		return nil
	}
	for _, t := range tg.tasks {
		if !t.exiting && !blockedBy(t) {
			t.interrupt()
			return nil
		}
	}
	return nil
}

// killGroupLocked makes process tg exit as killed by sig.
//
// Preconditions: k.mu is held.
func (k *Kernel) killGroupLocked(tg *ThreadGroup, sig abi.Signal) {
	if tg.exiting || tg.zombie {
		return
	}
	tg.exiting = true
	tg.exitStatus = abi.SignaledStatus(sig, defaultActionOf(sig) == actCore && tg.limits[abi.RLIMIT_CORE].Cur > 0)
	for _, t := range tg.tasks {
		t.interrupt()
		t.markDone()
	}
	k.stopCond.Broadcast()
}

// exitGroupLocked makes process tg exit with the given wait status
// (exit_group).
//
// Preconditions: k.mu is held.
func (k *Kernel) exitGroupLocked(tg *ThreadGroup, status uint32) {
	if tg.exiting {
		return
	}
	tg.exiting = true
	tg.exitStatus = status
	for _, t := range tg.tasks {
		t.interrupt()
		t.markDone()
	}
	k.stopCond.Broadcast()
}

// killGroup kills the task's process with sig.
func (t *Task) killGroup(sig abi.Signal) {
	t.k.mu.Lock()
	t.k.killGroupLocked(t.tg, sig)
	t.k.mu.Unlock()
}

// markDone closes the task's Done channel.
func (t *Task) markDone() {
	t.doneOnce.Do(func() { close(t.done) })
}

// forceSignal delivers a signal the application caused (a fault): if it
// is blocked or ignored, the default action applies, as Linux's
// force_sig does.
func (t *Task) forceSignal(info *abi.SigInfo) {
	k := t.k
	sig := abi.Signal(info.Signo)
	k.mu.Lock()
	defer k.mu.Unlock()
	act := &t.tg.handlers.actions[sig]
	if t.sigMask&sig.Mask() != 0 || act.Handler == abi.SIG_IGN {
		t.sigMask &^= sig.Mask()
		*act = abi.SigAction{}
	}
	t.pending.enqueue(info)
	t.sigCheck.Store(true)
}

// sigWaitingLocked reports whether t waits in sigtimedwait for sig.
func (t *Task) sigWaitingLocked(sig abi.Signal) bool {
	return t.sigWaitSet&sig.Mask() != 0
}

// notifyParentStateLocked tells tg's parent that tg stopped or continued
// (SIGCHLD unless the parent asked SA_NOCLDSTOP; waiters wake).
//
// Preconditions: k.mu is held.
func (k *Kernel) notifyParentStateLocked(tg *ThreadGroup, code int32, status int32) {
	p := tg.parent
	if p == nil {
		return
	}
	p.wakeChildWaitersLocked()
	act := p.handlers.actions[abi.SIGCHLD]
	if act.Flags&abi.SA_NOCLDSTOP != 0 {
		return
	}
	info := abi.SigInfo{Signo: int32(abi.SIGCHLD), Code: code}
	info.SetPID(tg.pid)
	if tg.leader != nil {
		info.SetUID(tg.leader.Credentials().RealUID)
	}
	info.SetStatus(status)
	k.sendLocked(nil, p, &info, false)
}

// handleSignals is called by the task goroutine before it runs application
// code: it takes part in group stops, delivers pending signals (running
// default actions or setting up handler frames) and resolves an
// interrupted system call's restart. It returns true if the task must exit.
func (t *Task) handleSignals() bool {
	k := t.k
	k.mu.Lock()
	t.sigCheck.Store(false)
	handled := false
	for {
		if t.exiting || t.tg.exiting {
			k.mu.Unlock()
			return true
		}
		tg := t.tg
		if tg.stopping && !t.stopped {
			t.stopped = true
			tg.stoppedTasks++
			if tg.stoppedTasks >= len(tg.tasks) && !tg.stopped {
				tg.stopped = true
				tg.stopReport = true
				tg.continueReport = false
				k.notifyParentStateLocked(tg, abi.CLD_STOPPED, int32(tg.stopSig))
			}
			for tg.stopping && !t.exiting && !tg.exiting {
				k.stopCond.Wait()
			}
			t.stopped = false
			tg.stoppedTasks--
			continue
		}
		deliverable := t.deliverableLocked()
		sig := pick(deliverable)
		if sig == 0 {
			break
		}
		var info abi.SigInfo
		if t.pending.set&sig.Mask() != 0 {
			info = t.pending.take(sig)
		} else {
			info = tg.pending.take(sig)
		}
		act := tg.handlers.actions[sig]
		if act.Handler == abi.SIG_IGN {
			continue
		}
		if act.Handler == abi.SIG_DFL {
			switch defaultActionOf(sig) {
			case actIgnore, actCont:
				continue
			case actStop:
				if sig != abi.SIGSTOP && tg.pgrp.isOrphanedLocked() {
					continue
				}
				if !tg.stopping {
					tg.stopping = true
					tg.stopSig = sig
					for _, o := range tg.tasks {
						if o != t {
							o.interrupt()
						}
					}
				}
				continue
			default:
				k.killGroupLocked(tg, sig)
				continue
			}
		}
		// Run the handler.
		oldMask := t.sigMask
		if t.hasSavedMask {
			oldMask = t.savedMask
			t.hasSavedMask = false
		}
		alt := t.altStack
		newMask := t.sigMask | act.Mask
		if act.Flags&abi.SA_NODEFER == 0 {
			newMask |= sig.Mask()
		}
		if act.Flags&abi.SA_RESETHAND != 0 {
			tg.handlers.actions[sig] = abi.SigAction{}
		}
		k.mu.Unlock()
		t.resolveRestart(&act)
		err := t.setupFrame(sig, &info, &act, oldMask, alt)
		k.mu.Lock()
		if err != nil {
			// The frame could not be written: the process dies of
			// SIGSEGV, as on Linux.
			k.killGroupLocked(tg, abi.SIGSEGV)
			continue
		}
		t.sigMask = newMask &^ abi.UnblockableSignals
		if alt.Flags&abi.SS_AUTODISARM != 0 && act.Flags&abi.SA_ONSTACK != 0 {
			t.altStack = abi.SignalStack{Flags: abi.SS_DISABLE}
		}
		handled = true
	}
	if t.hasSavedMask {
		// No handler ran: the call restarts with the original mask.
		t.sigMask = t.savedMask
		t.hasSavedMask = false
		if t.deliverableLocked() != 0 {
			t.sigCheck.Store(true)
		}
	}
	k.mu.Unlock()
	if !handled {
		t.resolveRestart(nil)
	}
	return false
}

// resolveRestart finishes a system call interrupted with a restart code:
// act is the handler about to run, or nil if none runs.
func (t *Task) resolveRestart(act *abi.SigAction) {
	errno := t.restartErrno
	if errno == 0 {
		return
	}
	t.restartErrno = 0
	restart := false
	switch errno {
	case abi.ERESTARTSYS:
		restart = act == nil || act.Flags&abi.SA_RESTART != 0
	case abi.ERESTARTNOINTR:
		restart = true
	case abi.ERESTARTNOHAND, abi.ERESTARTRestartBlock:
		restart = act == nil
	}
	if !restart {
		t.regs.Rax = negErrno(abi.EINTR)
		t.restartBlock = nil
		return
	}
	if errno == abi.ERESTARTRestartBlock {
		t.regs.Rax = abi.SYS_RESTART_SYSCALL
	} else {
		t.regs.Rax = t.regs.OrigRax
	}
	t.regs.Rip -= 2
}

// RestartSyscall runs the restart block an interrupted call left
// (restart_syscall(2)); EINTR if there is none.
func (t *Task) RestartSyscall() (uint64, error) {
	f := t.restartBlock
	t.restartBlock = nil
	if f == nil {
		return 0, abi.EINTR
	}
	return f(t)
}

// SetRestartBlock records how restart_syscall resumes the current call,
// which then returns ERESTART_RESTARTBLOCK.
func (t *Task) SetRestartBlock(f func(t *Task) (uint64, error)) { t.restartBlock = f }
