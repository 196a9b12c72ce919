package vfs

import (
	"context"
	"encoding/binary"
	"sync"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
)

// TTY is a terminal as job control sees it: the slave side of a pty
// (devpts) or the host terminal given to the container (fsimpl/host). The
// kernel keeps which session controls it and that session's foreground
// process group; the terminal only needs a way to signal that group.
type TTY struct {
	// Name is the terminal's path ("/dev/pts/0", "/dev/console").
	Name string
	open func(ctx context.Context, opts *OpenOptions) (*FileDescription, error)

	mu sync.Mutex
	// controller is guarded by mu.
	controller TTYController
}

// NewTTY returns a terminal called name; open opens a new file of it (for
// /dev/tty).
func NewTTY(name string, open func(ctx context.Context, opts *OpenOptions) (*FileDescription, error)) *TTY {
	return &TTY{Name: name, open: open}
}

// Open opens a new file description of the terminal (open("/dev/tty")).
func (t *TTY) Open(ctx context.Context, opts *OpenOptions) (*FileDescription, error) {
	return t.open(ctx, opts)
}

// TTYController is the kernel's session that has a TTY as its controlling
// terminal.
type TTYController interface {
	// SignalForeground sends sig to the session's foreground process
	// group: the line discipline calls it for ^C (SIGINT), ^\ (SIGQUIT),
	// ^Z (SIGTSTP) and window size changes (SIGWINCH). It must not block.
	SignalForeground(sig abi.Signal)
}

// SetController records the session controlling t (nil: none). The kernel
// calls it when TIOCSCTTY succeeds and when the session lets go.
func (t *TTY) SetController(c TTYController) {
	t.mu.Lock()
	t.controller = c
	t.mu.Unlock()
}

// SignalForeground signals t's foreground process group, if a session
// controls t.
func (t *TTY) SignalForeground(sig abi.Signal) {
	t.mu.Lock()
	c := t.controller
	t.mu.Unlock()
	if c != nil {
		c.SignalForeground(sig)
	}
}

// TaskTTY is implemented by the context of the kernel's task for terminal
// ioctls and /dev/tty. Its methods apply Linux's job-control rules, with
// the kernel's sessions and process groups.
type TaskTTY interface {
	// ControllingTTY returns the controlling terminal of the task's
	// session, or nil.
	ControllingTTY() *TTY
	// SetControllingTTY makes t the controlling terminal of the task's
	// session (TIOCSCTTY); steal (arg 1, with CAP_SYS_ADMIN) takes it from
	// another session. EPERM unless the task leads a session without one.
	SetControllingTTY(t *TTY, steal bool) error
	// ReleaseControllingTTY drops t as the session's controlling terminal
	// (TIOCNOTTY); ENOTTY if it is not.
	ReleaseControllingTTY(t *TTY) error
	// ForegroundProcessGroup returns the foreground process group of t's
	// session (TIOCGPGRP); ENOTTY if t is not the task's terminal.
	ForegroundProcessGroup(t *TTY) (int32, error)
	// SetForegroundProcessGroup sets it (TIOCSPGRP); ENOTTY if t is not the
	// task's terminal, EPERM if pgid is not in the task's session, EINVAL
	// if pgid is negative.
	SetForegroundProcessGroup(t *TTY, pgid int32) error
	// SessionID returns the ID of the session t controls (TIOCGSID).
	SessionID(t *TTY) (int32, error)
}

// JobControlIoctl handles the job-control ioctls of terminal t
// (TIOCSCTTY, TIOCNOTTY, TIOCGPGRP, TIOCSPGRP, TIOCGSID) through ctx's
// TaskTTY. handled is false for any other request.
func JobControlIoctl(ctx context.Context, mem UserMemory, t *TTY, cmd uint32, arg uintptr) (handled bool, err error) {
	switch cmd {
	case abi.TIOCSCTTY, abi.TIOCNOTTY, abi.TIOCGPGRP, abi.TIOCSPGRP, abi.TIOCGSID:
	default:
		return false, nil
	}
	task, ok := ctx.(TaskTTY)
	if !ok {
		return true, abi.ENOTTY
	}
	switch cmd {
	case abi.TIOCSCTTY:
		return true, task.SetControllingTTY(t, arg == 1)
	case abi.TIOCNOTTY:
		return true, task.ReleaseControllingTTY(t)
	case abi.TIOCGPGRP, abi.TIOCGSID:
		var id int32
		var err error
		if cmd == abi.TIOCGPGRP {
			id, err = task.ForegroundProcessGroup(t)
		} else {
			id, err = task.SessionID(t)
		}
		if err != nil {
			return true, err
		}
		b := binary.LittleEndian.AppendUint32(nil, uint32(id))
		_, err = mem.CopyOut(arg, b)
		return true, err
	default: // TIOCSPGRP
		var b [4]byte
		if _, err := mem.CopyIn(arg, b[:]); err != nil {
			return true, err
		}
		return true, task.SetForegroundProcessGroup(t, int32(binary.LittleEndian.Uint32(b[:])))
	}
}
