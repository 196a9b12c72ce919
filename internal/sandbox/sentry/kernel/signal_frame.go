package kernel

import (
	"encoding/binary"
	"time"
	"unsafe"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
)

// Offsets inside struct rt_sigframe.
var (
	frameUCOffset   = uint64(unsafe.Offsetof(abi.RtSigframe{}.UC))
	frameInfoOffset = uint64(unsafe.Offsetof(abi.RtSigframe{}.Info))
)

// redZone is the area below the stack pointer the amd64 ABI lets leaf
// functions use; signal frames go below it.
const redZone = 128

// setupFrame builds a signal frame for sig on the application stack (or
// the alternate stack) and points the registers at the handler, as Linux's
// x86-64 setup_rt_frame does: the FPU state (64-byte aligned XSAVE image
// ending with FP_XSTATE_MAGIC2), then struct rt_sigframe whose first word
// is the return address (sa_restorer) so the handler's RSP is 8 mod 16.
func (t *Task) setupFrame(sig abi.Signal, info *abi.SigInfo, act *abi.SigAction, oldMask abi.SignalSet, alt abi.SignalStack) error {
	if act.Flags&abi.SA_RESTORER == 0 || act.Restorer == 0 {
		// amd64 has no kernel-provided return trampoline.
		return abi.EFAULT
	}
	m := t.MemoryManager()
	sp := t.regs.Rsp
	onAlt := alt.Flags&abi.SS_DISABLE == 0 && alt.Contains(sp)
	if act.Flags&abi.SA_ONSTACK != 0 && alt.Flags&abi.SS_DISABLE == 0 && !onAlt {
		sp = alt.Sp + alt.Size
		onAlt = true
	} else {
		sp -= redZone
	}
	fp, err := t.ctx.FPState()
	if err != nil {
		return abi.EFAULT
	}
	ensureFPSwBytes(fp)
	fpAddr := (sp - uint64(len(fp)) - abi.FP_XSTATE_MAGIC2_SIZE) &^ 63
	frameAddr := ((fpAddr - uint64(unsafe.Sizeof(abi.RtSigframe{}))) &^ 15) - 8
	if frameAddr > sp {
		return abi.EFAULT
	}
	fpImage := make([]byte, len(fp)+abi.FP_XSTATE_MAGIC2_SIZE)
	copy(fpImage, fp)
	binary.LittleEndian.PutUint32(fpImage[len(fp):], abi.FP_XSTATE_MAGIC2)
	if _, err := m.CopyOut(t, fpAddr, fpImage); err != nil {
		return abi.EFAULT
	}
	r := &t.regs
	frame := abi.RtSigframe{
		Pretcode: act.Restorer,
		UC: abi.UContext{
			Flags: abi.UC_FP_XSTATE | abi.UC_SIGCONTEXT_SS | abi.UC_STRICT_RESTORE_SS,
			Stack: abi.SignalStack{Sp: alt.Sp, Flags: alt.Flags, Size: alt.Size},
			MContext: abi.SigContext{
				R8: r.R8, R9: r.R9, R10: r.R10, R11: r.R11, R12: r.R12, R13: r.R13, R14: r.R14, R15: r.R15,
				Rdi: r.Rdi, Rsi: r.Rsi, Rbp: r.Rbp, Rbx: r.Rbx, Rdx: r.Rdx, Rax: r.Rax, Rcx: r.Rcx,
				Rsp: r.Rsp, Rip: r.Rip, Eflags: r.Eflags,
				Cs: abi.UserCS, Ss: abi.UserSS,
				Oldmask: uint64(oldMask),
				Fpstate: fpAddr,
			},
			Sigmask: oldMask,
		},
		Info: *info,
	}
	if onAlt {
		frame.UC.Stack.Flags |= abi.SS_ONSTACK
	}
	switch sig {
	case abi.SIGSEGV, abi.SIGBUS:
		frame.UC.MContext.Cr2 = info.Addr()
		frame.UC.MContext.Trapno = 14
	}
	if _, err := m.CopyOut(t, frameAddr, abi.AsBytes(&frame)); err != nil {
		return abi.EFAULT
	}
	r.Rip = act.Handler
	r.Rsp = frameAddr
	r.Rdi = uint64(sig)
	r.Rsi = frameAddr + frameInfoOffset
	r.Rdx = frameAddr + frameUCOffset
	r.Rax = 0
	r.Eflags &^= abi.EflagsDF | abi.EflagsRF | abi.EflagsTF
	r.OrigRax = ^uint64(0)
	// The handler starts with a clean FPU, as on Linux.
	t.ctx.SetFPState(t.k.initFP)
	return nil
}

// ensureFPSwBytes fills the software-reserved bytes of an FXSAVE image
// (Linux puts them in every signal frame) if the platform left them empty.
func ensureFPSwBytes(fp []byte) {
	sw := fp[abi.FPSwBytesOffset:]
	if binary.LittleEndian.Uint32(sw) == abi.FP_XSTATE_MAGIC1 {
		return
	}
	binary.LittleEndian.PutUint32(sw[0:], abi.FP_XSTATE_MAGIC1)
	binary.LittleEndian.PutUint32(sw[4:], uint32(len(fp)+abi.FP_XSTATE_MAGIC2_SIZE))
	binary.LittleEndian.PutUint64(sw[8:], binary.LittleEndian.Uint64(fp[512:]))
	binary.LittleEndian.PutUint32(sw[16:], uint32(len(fp)))
}

// SignalReturn implements rt_sigreturn: it restores the registers, mask,
// alternate stack and FPU state from the frame the handler returned
// through. A bad frame kills the process with SIGSEGV.
func (t *Task) SignalReturn() error {
	t.SkipSyscallReturn()
	m := t.MemoryManager()
	frameAddr := t.regs.Rsp - 8
	var frame abi.RtSigframe
	if _, err := m.CopyIn(t, frameAddr, abi.AsBytes(&frame)); err != nil {
		t.killGroup(abi.SIGSEGV)
		return nil
	}
	mc := &frame.UC.MContext
	r := &t.regs
	r.R8, r.R9, r.R10, r.R11, r.R12, r.R13, r.R14, r.R15 = mc.R8, mc.R9, mc.R10, mc.R11, mc.R12, mc.R13, mc.R14, mc.R15
	r.Rdi, r.Rsi, r.Rbp, r.Rbx, r.Rdx, r.Rax, r.Rcx = mc.Rdi, mc.Rsi, mc.Rbp, mc.Rbx, mc.Rdx, mc.Rax, mc.Rcx
	r.Rsp, r.Rip = mc.Rsp, mc.Rip
	r.Eflags = r.Eflags&^abi.EflagsRestorable | mc.Eflags&abi.EflagsRestorable
	r.OrigRax = ^uint64(0)
	if mc.Fpstate != 0 {
		fp := make([]byte, len(t.k.initFP))
		if _, err := m.CopyIn(t, mc.Fpstate, fp); err != nil || t.ctx.SetFPState(fp) != nil {
			t.killGroup(abi.SIGSEGV)
			return nil
		}
	} else {
		t.ctx.SetFPState(t.k.initFP)
	}
	k := t.k
	k.mu.Lock()
	t.sigMask = frame.UC.Sigmask &^ abi.UnblockableSignals
	// Like Linux's restore_altstack: only when not running on the
	// alternate stack (a handler returning from it cannot change it).
	if frame.UC.Stack.Flags&abi.SS_DISABLE == 0 && !t.altStack.Contains(frameAddr) {
		if frame.UC.Stack.Size >= abi.MINSIGSTKSZ {
			t.altStack = abi.SignalStack{Sp: frame.UC.Stack.Sp, Size: frame.UC.Stack.Size, Flags: frame.UC.Stack.Flags &^ abi.SS_ONSTACK}
		}
	}
	if t.deliverableLocked() != 0 {
		t.sigCheck.Store(true)
	}
	k.mu.Unlock()
	return nil
}

// SigAction implements rt_sigaction for the task's process: it returns the
// old action and installs act if not nil.
func (t *Task) SigAction(sig abi.Signal, act *abi.SigAction) (abi.SigAction, error) {
	if !sig.Valid() {
		return abi.SigAction{}, abi.EINVAL
	}
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	old := t.tg.handlers.actions[sig]
	if act == nil {
		return old, nil
	}
	if sig == abi.SIGKILL || sig == abi.SIGSTOP {
		return old, abi.EINVAL
	}
	a := *act
	a.Mask &^= abi.UnblockableSignals
	t.tg.handlers.actions[sig] = a
	// A signal now ignored is discarded from every queue.
	if t.tg.isIgnoredLocked(sig) {
		t.tg.pending.discard(sig.Mask())
		for _, o := range t.tg.tasks {
			o.pending.discard(sig.Mask())
		}
	}
	return old, nil
}

// SigMask returns the task's blocked set.
func (t *Task) SigMask() abi.SignalSet {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	return t.sigMask
}

// SetSigMask replaces the blocked set (SIGKILL and SIGSTOP stay
// unblocked).
func (t *Task) SetSigMask(mask abi.SignalSet) {
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	t.sigMask = mask &^ abi.UnblockableSignals
	if t.deliverableLocked() != 0 {
		t.sigCheck.Store(true)
	}
}

// SigSuspend implements rt_sigsuspend: mask is the blocked set until a
// handler runs; the call then returns EINTR and the handler's frame
// restores the old mask.
func (t *Task) SigSuspend(mask abi.SignalSet) error {
	k := t.k
	k.mu.Lock()
	t.savedMask = t.sigMask
	t.hasSavedMask = true
	t.sigMask = mask &^ abi.UnblockableSignals
	if t.deliverableLocked() != 0 {
		// A signal that was blocked until now is pending: wake at once.
		t.sigCheck.Store(true)
	}
	k.mu.Unlock()
	for {
		if err := t.Block(nil); err != nil {
			return abi.ERESTARTNOHAND
		}
	}
}

// SigPending returns the pending signals the task has blocked.
func (t *Task) SigPending() abi.SignalSet {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	return (t.pending.set | t.tg.pending.set) & t.sigMask
}

// SigTimedWait implements rt_sigtimedwait: it takes a pending signal of
// set (which the caller has blocked) or waits for one until the deadline
// (zero: forever). EAGAIN on timeout.
func (t *Task) SigTimedWait(set abi.SignalSet, deadline time.Time) (abi.SigInfo, error) {
	k := t.k
	set &^= abi.UnblockableSignals
	for {
		k.mu.Lock()
		if sig := pick((t.pending.set | t.tg.pending.set) & set); sig != 0 {
			var info abi.SigInfo
			if t.pending.set&sig.Mask() != 0 {
				info = t.pending.take(sig)
			} else {
				info = t.tg.pending.take(sig)
			}
			t.sigWaitSet = 0
			k.mu.Unlock()
			return info, nil
		}
		t.sigWaitSet = set
		k.mu.Unlock()
		timedOut, err := t.BlockWithDeadline(nil, deadline)
		k.mu.Lock()
		t.sigWaitSet = 0
		k.mu.Unlock()
		if timedOut {
			return abi.SigInfo{}, abi.EAGAIN
		}
		if err != nil {
			// Either a signal of set arrived (loop takes it) or
			// another signal must be handled.
			k.mu.Lock()
			ours := (t.pending.set|t.tg.pending.set)&set != 0
			k.mu.Unlock()
			if !ours {
				return abi.SigInfo{}, abi.EINTR
			}
		}
	}
}

// SigAltStack implements sigaltstack: it returns the old stack and
// installs ss if not nil.
func (t *Task) SigAltStack(ss *abi.SignalStack) (abi.SignalStack, error) {
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	old := t.altStack
	onStack := old.Flags&abi.SS_DISABLE == 0 && old.Contains(t.regs.Rsp)
	if onStack {
		old.Flags |= abi.SS_ONSTACK
	}
	if old.Flags&abi.SS_DISABLE != 0 {
		old = abi.SignalStack{Flags: abi.SS_DISABLE}
	}
	if ss == nil {
		return old, nil
	}
	if onStack {
		return old, abi.EPERM
	}
	mode := ss.Flags &^ abi.SS_AUTODISARM
	switch mode {
	case abi.SS_DISABLE:
		t.altStack = abi.SignalStack{Flags: abi.SS_DISABLE}
	case 0, abi.SS_ONSTACK:
		if ss.Size < abi.MINSIGSTKSZ {
			return old, abi.ENOMEM
		}
		t.altStack = abi.SignalStack{Sp: ss.Sp, Size: ss.Size, Flags: ss.Flags & abi.SS_AUTODISARM}
	default:
		return old, abi.EINVAL
	}
	return old, nil
}

// SetTemporarySigMask blocks mask for the duration of a wait (ppoll,
// pselect6, epoll_pwait): a handler run for a signal that ends the wait
// gets the original mask back through its frame; otherwise
// RestoreTemporarySigMask puts it back.
func (t *Task) SetTemporarySigMask(mask abi.SignalSet) {
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	t.savedMask = t.sigMask
	t.hasSavedMask = true
	t.sigMask = mask &^ abi.UnblockableSignals
	if t.deliverableLocked() != 0 {
		t.sigCheck.Store(true)
	}
}

// RestoreTemporarySigMask undoes SetTemporarySigMask when the wait ended
// without a signal to handle.
func (t *Task) RestoreTemporarySigMask() {
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if t.hasSavedMask {
		t.sigMask = t.savedMask
		t.hasSavedMask = false
		if t.deliverableLocked() != 0 {
			t.sigCheck.Store(true)
		}
	}
}

// SignalState returns the task's pending (own and process-wide), blocked,
// ignored and caught signal sets, for /proc/[pid]/status.
func (t *Task) SignalState() (pending, shared, blocked, ignored, caught abi.SignalSet) {
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	pending, shared, blocked = t.pending.set, t.tg.pending.set, t.sigMask
	for s := abi.Signal(1); s < abi.NSIG; s++ {
		switch t.tg.handlers.actions[s].Handler {
		case abi.SIG_DFL:
		case abi.SIG_IGN:
			ignored |= s.Mask()
		default:
			caught |= s.Mask()
		}
	}
	return
}
