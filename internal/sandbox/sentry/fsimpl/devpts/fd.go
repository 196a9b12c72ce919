package devpts

import (
	"context"
	"encoding/binary"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

// masterFD is the master side of a terminal.
type masterFD struct {
	vfsfd vfs.FileDescription
	vfs.FileDefaults
	t *Terminal
}

// slaveFD is the slave side of a terminal.
type slaveFD struct {
	vfsfd vfs.FileDescription
	vfs.FileDefaults
	t *Terminal
}

func (t *Terminal) openMaster(vd vfs.VirtualDentry, flags uint32) *vfs.FileDescription {
	t.mu.Lock()
	t.masters++
	t.mu.Unlock()
	fd := &masterFD{t: t}
	fd.vfsfd.Init(fd, flags, vd)
	return &fd.vfsfd
}

func (t *Terminal) openSlave(ctx context.Context, vd vfs.VirtualDentry, flags uint32) (*vfs.FileDescription, error) {
	t.mu.Lock()
	if t.locked || t.masters == 0 {
		t.mu.Unlock()
		return nil, abi.EIO
	}
	t.slaves++
	t.slaveOpened = true
	if !t.slaveVD.Ok() {
		vd.IncRef()
		t.slaveVD = vd
	}
	t.mu.Unlock()
	fd := &slaveFD{t: t}
	fd.vfsfd.Init(fd, flags, vd)
	return &fd.vfsfd, nil
}

// Release implements vfs.FileDescriptionImpl.Release: the last master
// hangs the terminal up.
func (fd *masterFD) Release(ctx context.Context) {
	t := fd.t
	t.mu.Lock()
	t.masters--
	hangup := t.masters == 0
	var vd vfs.VirtualDentry
	if hangup && t.slaves == 0 {
		vd, t.slaveVD = t.slaveVD, vfs.VirtualDentry{}
	}
	t.mu.Unlock()
	if !hangup {
		return
	}
	t.fs.removeTerminal(t)
	t.slaveQ.Notify(vfs.EventHUp | vfs.EventReadable)
	t.tty.SignalForeground(abi.SIGHUP)
	t.tty.SignalForeground(abi.SIGCONT)
	if vd.Ok() {
		vd.DecRef(ctx)
	}
}

// Release implements vfs.FileDescriptionImpl.Release.
func (fd *slaveFD) Release(ctx context.Context) {
	t := fd.t
	t.mu.Lock()
	t.slaves--
	var vd vfs.VirtualDentry
	if t.slaves == 0 && t.masters == 0 {
		vd, t.slaveVD = t.slaveVD, vfs.VirtualDentry{}
	}
	t.mu.Unlock()
	t.masterQ.Notify(vfs.EventHUp | vfs.EventReadable)
	if vd.Ok() {
		vd.DecRef(ctx)
	}
}

// Read implements vfs.FileDescriptionImpl.Read: processed output.
func (fd *masterFD) Read(ctx context.Context, dst vfs.Dst, opts vfs.ReadOptions) (int64, error) {
	t := fd.t
	t.mu.Lock()
	if len(t.out) == 0 {
		hup := t.slaveOpened && t.slaves == 0
		t.mu.Unlock()
		if hup {
			return 0, abi.EIO
		}
		return 0, abi.EAGAIN
	}
	n, err := dst.CopyOut(t.out)
	t.out = t.out[n:]
	t.mu.Unlock()
	if n > 0 {
		t.slaveQ.Notify(vfs.EventWritable)
		return int64(n), nil
	}
	return 0, err
}

// Write implements vfs.FileDescriptionImpl.Write: typed input, through
// the line discipline.
func (fd *masterFD) Write(ctx context.Context, src vfs.Src, opts vfs.WriteOptions) (int64, error) {
	t := fd.t
	return t.write(src, func() (int64, error) {
		return int64(maxInput - len(t.in) - len(t.edit)), nil
	}, t.inputLocked)
}

// write moves src into the terminal in pieces: room returns how many
// bytes may go in now (0: would block) or an error, process takes them.
// Both run with t.mu held.
func (t *Terminal) write(src vfs.Src, room func() (int64, error), process func([]byte, *pending) int) (int64, error) {
	var done int64
	for src.NumBytes() > 0 {
		t.mu.Lock()
		avail, err := room()
		if err == nil && avail <= 0 {
			err = abi.EAGAIN
		}
		if err != nil {
			t.mu.Unlock()
			return done, err
		}
		buf := make([]byte, min(avail, src.NumBytes(), 4096))
		n, err := src.CopyIn(buf)
		var p pending
		process(buf[:n], &p)
		t.mu.Unlock()
		t.finish(&p)
		done += int64(n)
		if err != nil {
			if done > 0 {
				return done, nil
			}
			return 0, err
		}
	}
	return done, nil
}

// Readiness implements vfs.FileDescriptionImpl.Readiness.
func (fd *masterFD) Readiness(mask vfs.EventMask) vfs.EventMask {
	t := fd.t
	t.mu.Lock()
	defer t.mu.Unlock()
	var r vfs.EventMask
	if len(t.out) > 0 {
		r |= vfs.EventReadable
	}
	if t.slaveOpened && t.slaves == 0 {
		r |= vfs.EventHUp | vfs.EventReadable
	}
	if len(t.in)+len(t.edit) < maxInput {
		r |= vfs.EventWritable
	}
	return r & (mask | vfs.EventErr | vfs.EventHUp)
}

// EventRegister implements vfs.FileDescriptionImpl.EventRegister.
func (fd *masterFD) EventRegister(e *vfs.WaitEntry) error {
	fd.t.masterQ.EventRegister(e)
	return nil
}

// EventUnregister implements vfs.FileDescriptionImpl.EventUnregister.
func (fd *masterFD) EventUnregister(e *vfs.WaitEntry) { fd.t.masterQ.EventUnregister(e) }

// Ioctl implements vfs.FileDescriptionImpl.Ioctl.
func (fd *masterFD) Ioctl(ctx context.Context, mem vfs.UserMemory, cmd uint32, arg uintptr) (uintptr, error) {
	t := fd.t
	switch cmd {
	case abi.TIOCGPTN:
		return 0, putU32(mem, arg, t.index)
	case abi.TIOCSPTLCK:
		v, err := getU32(mem, arg)
		if err != nil {
			return 0, err
		}
		t.mu.Lock()
		t.locked = v != 0
		t.mu.Unlock()
		return 0, nil
	case abi.TIOCGPTLCK:
		t.mu.Lock()
		locked := t.locked
		t.mu.Unlock()
		var v uint32
		if locked {
			v = 1
		}
		return 0, putU32(mem, arg, v)
	case abi.FIONREAD:
		t.mu.Lock()
		n := len(t.out)
		t.mu.Unlock()
		return 0, putU32(mem, arg, uint32(n))
	}
	return t.commonIoctl(ctx, mem, cmd, arg)
}

// Read implements vfs.FileDescriptionImpl.Read: a line in canonical mode,
// what is there otherwise; 0 at end of file and after a hangup.
func (fd *slaveFD) Read(ctx context.Context, dst vfs.Dst, opts vfs.ReadOptions) (int64, error) {
	t := fd.t
	t.mu.Lock()
	n, eof := t.readableLocked()
	if eof {
		t.consumeLocked(0)
		t.mu.Unlock()
		return 0, nil
	}
	if n == 0 {
		hup := t.masters == 0
		t.mu.Unlock()
		if hup {
			return 0, nil
		}
		return 0, abi.EAGAIN
	}
	c, err := dst.CopyOut(t.in[:n])
	t.consumeLocked(c)
	t.mu.Unlock()
	if c > 0 {
		t.masterQ.Notify(vfs.EventWritable)
		return int64(c), nil
	}
	return 0, err
}

// Write implements vfs.FileDescriptionImpl.Write: output, processed.
func (fd *slaveFD) Write(ctx context.Context, src vfs.Src, opts vfs.WriteOptions) (int64, error) {
	t := fd.t
	return t.write(src, func() (int64, error) {
		if t.masters == 0 {
			return 0, abi.EIO
		}
		// Each byte may become two (NL to CR NL).
		return int64(maxOutput-len(t.out)) / 2, nil
	}, t.outputLocked)
}

// Readiness implements vfs.FileDescriptionImpl.Readiness.
func (fd *slaveFD) Readiness(mask vfs.EventMask) vfs.EventMask {
	t := fd.t
	t.mu.Lock()
	defer t.mu.Unlock()
	var r vfs.EventMask
	if n, eof := t.readableLocked(); n > 0 || eof {
		r |= vfs.EventReadable
	}
	if t.masters == 0 {
		r |= vfs.EventHUp | vfs.EventReadable
	} else if len(t.out) < maxOutput-1 {
		r |= vfs.EventWritable
	}
	return r & (mask | vfs.EventErr | vfs.EventHUp)
}

// EventRegister implements vfs.FileDescriptionImpl.EventRegister.
func (fd *slaveFD) EventRegister(e *vfs.WaitEntry) error {
	fd.t.slaveQ.EventRegister(e)
	return nil
}

// EventUnregister implements vfs.FileDescriptionImpl.EventUnregister.
func (fd *slaveFD) EventUnregister(e *vfs.WaitEntry) { fd.t.slaveQ.EventUnregister(e) }

// Ioctl implements vfs.FileDescriptionImpl.Ioctl.
func (fd *slaveFD) Ioctl(ctx context.Context, mem vfs.UserMemory, cmd uint32, arg uintptr) (uintptr, error) {
	t := fd.t
	if handled, err := vfs.JobControlIoctl(ctx, mem, t.tty, cmd, arg); handled {
		return 0, err
	}
	if cmd == abi.FIONREAD {
		t.mu.Lock()
		n, _ := t.readableLocked()
		t.mu.Unlock()
		return 0, putU32(mem, arg, uint32(n))
	}
	return t.commonIoctl(ctx, mem, cmd, arg)
}

// commonIoctl handles the ioctls both sides share: termios, window size,
// flushing.
func (t *Terminal) commonIoctl(ctx context.Context, mem vfs.UserMemory, cmd uint32, arg uintptr) (uintptr, error) {
	switch cmd {
	case abi.TCGETS:
		t.mu.Lock()
		tio := t.termios
		t.mu.Unlock()
		_, err := mem.CopyOut(arg, abi.AsBytes(&tio))
		return 0, err
	case abi.TCSETS, abi.TCSETSW, abi.TCSETSF:
		var tio abi.Termios
		if _, err := mem.CopyIn(arg, abi.AsBytes(&tio)); err != nil {
			return 0, err
		}
		var p pending
		t.mu.Lock()
		if cmd == abi.TCSETSF {
			t.flushLocked(0, &p)
		}
		t.setTermiosLocked(tio, &p)
		t.mu.Unlock()
		t.finish(&p)
		return 0, nil
	case abi.TIOCGWINSZ:
		t.mu.Lock()
		ws := t.winsize
		t.mu.Unlock()
		_, err := mem.CopyOut(arg, abi.AsBytes(&ws))
		return 0, err
	case abi.TIOCSWINSZ:
		var ws abi.Winsize
		if _, err := mem.CopyIn(arg, abi.AsBytes(&ws)); err != nil {
			return 0, err
		}
		t.mu.Lock()
		changed := ws != t.winsize
		t.winsize = ws
		t.mu.Unlock()
		if changed {
			t.tty.SignalForeground(abi.SIGWINCH)
		}
		return 0, nil
	case abi.TCFLSH:
		var p pending
		t.mu.Lock()
		err := t.flushLocked(arg, &p)
		t.mu.Unlock()
		t.finish(&p)
		return 0, err
	case abi.TCSBRK, abi.TCXONC:
		return 0, nil
	}
	return 0, abi.ENOTTY
}

func putU32(mem vfs.UserMemory, addr uintptr, v uint32) error {
	_, err := mem.CopyOut(addr, binary.LittleEndian.AppendUint32(nil, v))
	return err
}

func getU32(mem vfs.UserMemory, addr uintptr) (uint32, error) {
	var b [4]byte
	if _, err := mem.CopyIn(addr, b[:]); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b[:]), nil
}
