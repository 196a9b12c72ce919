package devpts

import (
	"context"
	"sync"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

// Queue limits, in bytes.
const (
	// maxInput bounds input waiting for the slave (and a canonical line).
	maxInput = 64 << 10
	// maxCanonLine is the longest line canonical mode edits (MAX_CANON-1).
	maxCanonLine = 4095
	// maxOutput bounds output waiting for the master.
	maxOutput = 64 << 10
)

// Terminal is one pseudo-terminal: the line discipline between its master
// (the terminal emulator side) and its slave (the application's terminal).
// It implements canonical mode (erase, kill, word erase, end of file),
// echo, signal characters (^C SIGINT, ^\ SIGQUIT, ^Z SIGTSTP), CR/NL input
// mapping and NL→CRNL output mapping. Flow control (^S/^Q), VMIN/VTIME
// timing and background-process checks (SIGTTIN/SIGTTOU) are not done:
// non-canonical reads return what is there.
type Terminal struct {
	index uint32
	fs    *filesystem
	tty   *vfs.TTY

	masterQ vfs.WaitQueue
	slaveQ  vfs.WaitQueue

	mu sync.Mutex
	// The rest is guarded by mu.
	termios abi.Termios
	winsize abi.Winsize
	locked  bool
	// edit is the canonical line being edited.
	edit []byte
	// in holds bytes the slave can read; lineEnds marks, in canonical
	// mode, where completed lines end (a repeated end is an end of file).
	in       []byte
	lineEnds []int
	// out holds bytes the master can read.
	out []byte

	masters, slaves int
	slaveOpened     bool
	// slaveVD is where the slave was first opened, for /dev/tty.
	slaveVD vfs.VirtualDentry
}

func newTerminal(fs *filesystem, index uint32) *Terminal {
	t := &Terminal{index: index, fs: fs, termios: abi.DefaultTermios(), locked: true}
	t.tty = vfs.NewTTY(ptsName(index), t.openSlaveForTTY)
	return t
}

// TTY returns the terminal's slave side as job control sees it.
func (t *Terminal) TTY() *vfs.TTY { return t.tty }

// openSlaveForTTY opens the slave again, for /dev/tty.
func (t *Terminal) openSlaveForTTY(ctx context.Context, opts *vfs.OpenOptions) (*vfs.FileDescription, error) {
	t.mu.Lock()
	vd := t.slaveVD
	if vd.Ok() {
		vd.IncRef()
	}
	t.mu.Unlock()
	if !vd.Ok() {
		return nil, abi.EIO
	}
	defer vd.DecRef(ctx)
	return t.openSlave(ctx, vd, opts.Flags)
}

// pending collects what to do once t.mu is released.
type pending struct {
	signals      []abi.Signal
	notifyMaster vfs.EventMask
	notifySlave  vfs.EventMask
}

func (t *Terminal) finish(p *pending) {
	for _, s := range p.signals {
		t.tty.SignalForeground(s)
	}
	if p.notifyMaster != 0 {
		t.masterQ.Notify(p.notifyMaster)
	}
	if p.notifySlave != 0 {
		t.slaveQ.Notify(p.notifySlave)
	}
}

// outputLocked puts b on the master's queue through output processing;
// it stops when the queue is full and returns how many bytes of b it took.
// Preconditions: t.mu is held.
func (t *Terminal) outputLocked(b []byte, p *pending) int {
	opost := t.termios.Oflag&abi.OPOST != 0
	n := 0
	for _, c := range b {
		var seq []byte
		switch {
		case opost && c == '\n' && t.termios.Oflag&abi.ONLCR != 0:
			seq = []byte{'\r', '\n'}
		case opost && c == '\r' && t.termios.Oflag&abi.OCRNL != 0:
			seq = []byte{'\n'}
		default:
			seq = []byte{c}
		}
		if len(t.out)+len(seq) > maxOutput {
			break
		}
		t.out = append(t.out, seq...)
		n++
	}
	if n > 0 {
		p.notifyMaster |= vfs.EventReadable
	}
	return n
}

// echoLocked echoes c as input processing does.
// Preconditions: t.mu is held.
func (t *Terminal) echoLocked(c byte, p *pending) {
	lf := t.termios.Lflag
	if lf&abi.ECHO == 0 {
		if c == '\n' && lf&abi.ECHONL != 0 && lf&abi.ICANON != 0 {
			t.outputLocked([]byte{c}, p)
		}
		return
	}
	if lf&abi.ECHOCTL != 0 && (c < 0x20 && c != '\t' && c != '\n' || c == 0x7f) {
		t.outputLocked([]byte{'^', c ^ 0x40}, p)
		return
	}
	t.outputLocked([]byte{c}, p)
}

// eraseLocked removes the last character of the line being edited, and
// echoes its erasure.
// Preconditions: t.mu is held.
func (t *Terminal) eraseLocked(p *pending) bool {
	if len(t.edit) == 0 {
		return false
	}
	n := 1
	if t.termios.Iflag&abi.IUTF8 != 0 {
		// Back over UTF-8 continuation bytes to the rune's start.
		for n < len(t.edit) && t.edit[len(t.edit)-n]&0xc0 == 0x80 {
			n++
		}
	}
	t.edit = t.edit[:len(t.edit)-n]
	if t.termios.Lflag&abi.ECHO != 0 && t.termios.Lflag&abi.ECHOE != 0 {
		t.outputLocked([]byte("\b \b"), p)
	}
	return true
}

// commitLineLocked ends the line being edited, making it readable.
// Preconditions: t.mu is held.
func (t *Terminal) commitLineLocked(p *pending) {
	t.in = append(t.in, t.edit...)
	t.edit = t.edit[:0]
	t.lineEnds = append(t.lineEnds, len(t.in))
	p.notifySlave |= vfs.EventReadable
}

// inputLocked runs the line discipline over bytes the master wrote and
// returns how many it took (fewer when the input queue is full).
// Preconditions: t.mu is held.
func (t *Terminal) inputLocked(b []byte, p *pending) int {
	tio := &t.termios
	canon := tio.Lflag&abi.ICANON != 0
	for i, c := range b {
		if len(t.in)+len(t.edit) >= maxInput {
			return i
		}
		if tio.Iflag&abi.ISTRIP != 0 {
			c &= 0x7f
		}
		switch {
		case c == '\r' && tio.Iflag&abi.IGNCR != 0:
			continue
		case c == '\r' && tio.Iflag&abi.ICRNL != 0:
			c = '\n'
		case c == '\n' && tio.Iflag&abi.INLCR != 0:
			c = '\r'
		}
		if tio.Lflag&abi.ISIG != 0 {
			var sig abi.Signal
			switch c {
			case tio.CC[abi.VINTR]:
				sig = abi.SIGINT
			case tio.CC[abi.VQUIT]:
				sig = abi.SIGQUIT
			case tio.CC[abi.VSUSP]:
				sig = abi.SIGTSTP
			}
			if sig != 0 && c != 0 {
				if tio.Lflag&abi.NOFLSH == 0 {
					t.edit, t.in, t.lineEnds = t.edit[:0], t.in[:0], t.lineEnds[:0]
				}
				t.echoLocked(c, p)
				p.signals = append(p.signals, sig)
				continue
			}
		}
		if !canon {
			t.in = append(t.in, c)
			p.notifySlave |= vfs.EventReadable
			t.echoLocked(c, p)
			continue
		}
		iexten := tio.Lflag&abi.IEXTEN != 0
		switch {
		case c == 0:
		case c == tio.CC[abi.VERASE]:
			t.eraseLocked(p)
			continue
		case iexten && c == tio.CC[abi.VWERASE]:
			for len(t.edit) > 0 && t.edit[len(t.edit)-1] == ' ' {
				t.eraseLocked(p)
			}
			for len(t.edit) > 0 && t.edit[len(t.edit)-1] != ' ' {
				t.eraseLocked(p)
			}
			continue
		case c == tio.CC[abi.VKILL]:
			if tio.Lflag&abi.ECHOKE != 0 && tio.Lflag&abi.ECHOE != 0 {
				for t.eraseLocked(p) {
				}
			} else {
				t.edit = t.edit[:0]
				t.echoLocked(c, p)
				if tio.Lflag&abi.ECHOK != 0 {
					t.outputLocked([]byte{'\n'}, p)
				}
			}
			continue
		case c == tio.CC[abi.VEOF]:
			// The line so far becomes readable; alone, it is an end of
			// file.
			t.commitLineLocked(p)
			continue
		}
		if c == '\n' || (c != 0 && (c == tio.CC[abi.VEOL] || c == tio.CC[abi.VEOL2])) {
			t.edit = append(t.edit, c)
			t.echoLocked(c, p)
			t.commitLineLocked(p)
			continue
		}
		if len(t.edit) >= maxCanonLine {
			continue // the line is full: drop, as Linux does
		}
		t.edit = append(t.edit, c)
		t.echoLocked(c, p)
	}
	return len(b)
}

// readableLocked returns how many bytes a slave read may take now, and
// whether a canonical end of file is next.
// Preconditions: t.mu is held.
func (t *Terminal) readableLocked() (n int, eof bool) {
	if t.termios.Lflag&abi.ICANON == 0 {
		return len(t.in), false
	}
	if len(t.lineEnds) == 0 {
		return 0, false
	}
	return t.lineEnds[0], t.lineEnds[0] == 0
}

// consumeLocked drops n bytes from the input; a canonical read never
// crosses a line's end, so at most the first line ends.
// Preconditions: t.mu is held.
func (t *Terminal) consumeLocked(n int) {
	t.in = t.in[n:]
	if len(t.lineEnds) > 0 && t.lineEnds[0] == n {
		t.lineEnds = t.lineEnds[1:]
	}
	for i := range t.lineEnds {
		t.lineEnds[i] -= n
	}
	if len(t.in) == 0 {
		t.in = nil
	}
}

// setTermiosLocked changes the settings; leaving canonical mode makes the
// line being edited readable.
// Preconditions: t.mu is held.
func (t *Terminal) setTermiosLocked(tio abi.Termios, p *pending) {
	wasCanon := t.termios.Lflag&abi.ICANON != 0
	t.termios = tio
	if wasCanon && tio.Lflag&abi.ICANON == 0 {
		t.in = append(t.in, t.edit...)
		t.edit = t.edit[:0]
		t.lineEnds = t.lineEnds[:0]
		if len(t.in) > 0 {
			p.notifySlave |= vfs.EventReadable
		}
	}
	if !wasCanon && tio.Lflag&abi.ICANON != 0 && len(t.in) > 0 {
		// What was typed raw counts as one line.
		t.lineEnds = append(t.lineEnds[:0], len(t.in))
	}
}

// flushLocked discards input (which 0 or 2) and output (1 or 2), as
// TCFLSH's argument says.
// Preconditions: t.mu is held.
func (t *Terminal) flushLocked(which uintptr, p *pending) error {
	switch which {
	case 0, 1, 2:
	default:
		return abi.EINVAL
	}
	if which != 1 {
		t.edit, t.in, t.lineEnds = t.edit[:0], nil, nil
		p.notifyMaster |= vfs.EventWritable
	}
	if which != 0 {
		t.out = nil
		p.notifySlave |= vfs.EventWritable
	}
	return nil
}
