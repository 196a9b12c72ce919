package kernel

import (
	"encoding/binary"
	"time"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
)

// CloneOptions are clone(2)'s arguments.
type CloneOptions struct {
	Flags      uint64
	ExitSignal abi.Signal
	Stack      uint64
	ParentTID  uint64
	ChildTID   uint64
	TLS        uint64
}

// unsupportedCloneFlags are namespaces and features the Sentry does not
// offer to applications.
const unsupportedCloneFlags = abi.CLONE_NEWNS | abi.CLONE_NEWCGROUP | abi.CLONE_NEWUTS | abi.CLONE_NEWIPC |
	abi.CLONE_NEWUSER | abi.CLONE_NEWPID | abi.CLONE_NEWNET | abi.CLONE_PIDFD

// Clone creates a new task (fork, vfork, clone, clone3) and returns its
// thread ID.
func (t *Task) Clone(opts CloneOptions) (int32, error) {
	f := opts.Flags
	switch {
	case f&abi.CLONE_SIGHAND != 0 && f&abi.CLONE_VM == 0,
		f&abi.CLONE_THREAD != 0 && f&abi.CLONE_SIGHAND == 0,
		f&abi.CLONE_FS != 0 && f&abi.CLONE_NEWNS != 0,
		f&abi.CLONE_THREAD != 0 && opts.ExitSignal != 0 && opts.ExitSignal != abi.SIGCHLD && false:
		return 0, abi.EINVAL
	case f&unsupportedCloneFlags != 0:
		return 0, abi.EPERM
	}
	if opts.ExitSignal != 0 && !opts.ExitSignal.Valid() {
		return 0, abi.EINVAL
	}
	k := t.k

	// Resources, shared or copied.
	t.mu.Lock()
	m, fdt, fs := t.mm, t.fdTable, t.fs
	name := t.name
	t.mu.Unlock()
	if f&abi.CLONE_VM != 0 {
		if !m.IncUsers() {
			return 0, abi.EINTR
		}
	} else {
		nm, err := m.Fork(t)
		if err != nil {
			return 0, abi.ENOMEM
		}
		m = nm
	}
	if f&abi.CLONE_FILES != 0 {
		fdt.IncRef()
	} else {
		fdt = fdt.Fork(t)
	}
	if f&abi.CLONE_FS != 0 {
		fs.IncRef()
	} else {
		fs = fs.Fork()
	}
	undo := func() {
		fdt.DecRef(t)
		fs.DecRef(t)
		m.DecUsers(t)
	}
	fp, err := t.ctx.FPState()
	if err != nil {
		undo()
		return 0, abi.EAGAIN
	}

	child := &Task{
		k:           k,
		regs:        t.regs,
		initialFP:   fp,
		mm:          m,
		fdTable:     fdt,
		fs:          fs,
		name:        name,
		interruptCh: make(chan struct{}, 1),
		done:        make(chan struct{}),
		ctx:         k.platform.NewContext(),
	}
	child.creds.Store(t.Credentials())
	child.regs.Rax = 0
	if opts.Stack != 0 {
		child.regs.Rsp = opts.Stack
	}
	if f&abi.CLONE_SETTLS != 0 {
		if opts.TLS >= abi.TaskSize {
			undo()
			return 0, abi.EPERM
		}
		child.regs.FsBase = opts.TLS
	}
	if f&abi.CLONE_CHILD_CLEARTID != 0 {
		child.clearTID = opts.ChildTID
	}

	k.mu.Lock()
	if t.tg.exiting || t.exiting {
		k.mu.Unlock()
		undo()
		return 0, abi.EINTR
	}
	tid, err := k.allocPIDLocked()
	if err != nil {
		k.mu.Unlock()
		undo()
		return 0, err
	}
	child.tid = tid
	child.sigMask = t.sigMask
	child.altStack = t.altStack
	if f&abi.CLONE_VM != 0 && f&abi.CLONE_VFORK == 0 {
		child.altStack = abi.SignalStack{Flags: abi.SS_DISABLE}
	}
	child.noNewPrivs = t.noNewPrivs
	if f&abi.CLONE_THREAD != 0 {
		child.tg = t.tg
		t.tg.tasks = append(t.tg.tasks, child)
	} else {
		parent := t.tg
		if f&abi.CLONE_PARENT != 0 {
			parent = t.tg.parent
		}
		handlers := t.tg.handlers
		if f&abi.CLONE_SIGHAND == 0 {
			handlers = handlers.copy()
		}
		tg := &ThreadGroup{
			k:          k,
			pid:        tid,
			leader:     child,
			tasks:      []*Task{child},
			parent:     parent,
			children:   make(map[*ThreadGroup]struct{}),
			exitSignal: opts.ExitSignal,
			handlers:   handlers,
			exited:     make(chan struct{}),
			limits:     t.tg.limits,
			startTime:  time.Now(),
		}
		if parent != nil {
			parent.children[tg] = struct{}{}
		}
		k.joinPgrpLocked(tg, t.tg.pgrp)
		k.tgs[tid] = tg
		child.tg = tg
	}
	k.tasks[tid] = child
	if f&abi.CLONE_VFORK != 0 {
		child.vforkDone = make(chan struct{})
	}
	vforkDone := child.vforkDone
	k.mu.Unlock()

	var tidBytes [4]byte
	binary.LittleEndian.PutUint32(tidBytes[:], uint32(tid))
	if f&abi.CLONE_PARENT_SETTID != 0 {
		t.MemoryManager().CopyOut(t, opts.ParentTID, tidBytes[:])
	}
	if f&abi.CLONE_CHILD_SETTID != 0 {
		m.CopyOut(t, opts.ChildTID, tidBytes[:])
	}

	k.running.Add(1)
	go child.run()

	if vforkDone != nil {
		// The parent sleeps until the child execs or exits; only its
		// death ends the wait early.
		for {
			select {
			case <-vforkDone:
				return tid, nil
			case <-t.done:
				return tid, nil
			case <-t.interruptCh:
			}
		}
	}
	return tid, nil
}
