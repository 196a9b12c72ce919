package boot

import (
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

// hostTerminal is the host terminal the Sentry process adopted as its own
// controlling terminal, and the goroutine forwarding its signals.
type hostTerminal struct {
	sigs chan os.Signal
	done chan struct{}
}

// terminalSignals are what a host terminal sends its foreground process
// group (the Sentry, once it adopted the terminal): ^C, ^\, ^Z, a window
// size change, a hangup. Background-I/O stops (SIGTTIN, SIGTTOU) are
// caught only so that they cannot stop the Sentry.
var terminalSignals = []os.Signal{unix.SIGINT, unix.SIGQUIT, unix.SIGTSTP, unix.SIGWINCH, unix.SIGHUP, unix.SIGTTIN, unix.SIGTTOU}

// adoptHostTerminal makes the host terminal f the Sentry process's
// controlling terminal and forwards the signals the host line discipline
// sends for it (Ctrl-C, Ctrl-\, Ctrl-Z, SIGWINCH, SIGHUP) to the
// foreground process group of tty, its job-control view in the Sentry.
// Only the first terminal is adopted, and only if the Sentry process leads
// a session without a controlling terminal (`visor boot` runs in a session
// of its own); otherwise those characters are lost, as the host terminal
// is no one's controlling terminal.
func (s *Sentry) adoptHostTerminal(f *os.File, tty *vfs.TTY) {
	s.termMu.Lock()
	defer s.termMu.Unlock()
	if s.term != nil || s.closed {
		return
	}
	if err := unix.IoctlSetInt(int(f.Fd()), unix.TIOCSCTTY, 0); err != nil {
		s.log.Info("host terminal not adopted: Ctrl-C and window size changes will not reach the sandbox", "err", err)
		return
	}
	t := &hostTerminal{sigs: make(chan os.Signal, 16), done: make(chan struct{})}
	signal.Notify(t.sigs, terminalSignals...)
	go func() {
		defer close(t.done)
		for sig := range t.sigs {
			switch sig {
			case unix.SIGTTIN, unix.SIGTTOU:
				continue
			}
			tty.SignalForeground(abi.Signal(sig.(syscall.Signal)))
		}
	}()
	s.term = t
}

// releaseHostTerminal stops forwarding terminal signals.
func (s *Sentry) releaseHostTerminal() {
	s.termMu.Lock()
	t := s.term
	s.term = nil
	s.closed = true
	s.termMu.Unlock()
	if t != nil {
		signal.Stop(t.sigs)
		close(t.sigs)
		<-t.done
	}
}
