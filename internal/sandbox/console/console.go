// Package console makes the terminals of `terminal: true` containers and
// `visor exec --tty`: a pty pair on the host whose slave becomes the
// application's stdin, stdout and stderr inside the sandbox (the Sentry
// treats it as a host tty) and whose master goes either to the caller's
// --console-socket (as runc sends it: one SCM_RIGHTS message) or, for a
// foreground `visor run`/`exec` without a socket, is copied to and from the
// CLI's own terminal.
//
// Only the host side (cmd/visor, internal/sandbox/container) imports it.
package console

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Size is a terminal's size in characters.
type Size struct {
	Rows, Cols uint16
}

// OpenPty creates a pty pair. Both ends are close-on-exec; the slave is
// not the caller's controlling terminal.
func OpenPty() (master, slave *os.File, err error) {
	mfd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("opening /dev/ptmx: %w", err)
	}
	master = os.NewFile(uintptr(mfd), "/dev/ptmx")
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("unlocking pty: %w", err)
	}
	// TIOCGPTPEER opens the slave through the master, immune to a
	// different /dev/pts being mounted at the path.
	sfd, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(mfd), unix.TIOCGPTPEER, uintptr(unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC))
	if errno != 0 {
		n, err := unix.IoctlGetInt(mfd, unix.TIOCGPTN)
		if err != nil {
			master.Close()
			return nil, nil, fmt.Errorf("pty number: %w", err)
		}
		fd, err := unix.Open("/dev/pts/"+strconv.Itoa(n), unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
		if err != nil {
			master.Close()
			return nil, nil, fmt.Errorf("opening pty slave: %w", err)
		}
		sfd = uintptr(fd)
	}
	n, _ := unix.IoctlGetInt(mfd, unix.TIOCGPTN)
	return master, os.NewFile(sfd, "/dev/pts/"+strconv.Itoa(n)), nil
}

// SetSize sets a tty's window size.
func SetSize(f *os.File, s Size) error {
	ws := &unix.Winsize{Row: s.Rows, Col: s.Cols}
	if err := unix.IoctlSetWinsize(int(f.Fd()), unix.TIOCSWINSZ, ws); err != nil {
		return fmt.Errorf("setting terminal size: %w", err)
	}
	return nil
}

// GetSize reads a tty's window size.
func GetSize(f *os.File) (Size, error) {
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return Size{}, fmt.Errorf("reading terminal size: %w", err)
	}
	return Size{Rows: ws.Row, Cols: ws.Col}, nil
}

// IsTerminal reports whether f is a tty.
func IsTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// SendMaster connects to the AF_UNIX socket at path and sends master as
// runc does: one message whose data is the master's name and whose
// SCM_RIGHTS carries the descriptor. containerd and other runc callers
// receive it unchanged.
func SendMaster(path string, master *os.File) error {
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return fmt.Errorf("connecting to console socket %s: %w", path, err)
	}
	defer c.Close()
	name := master.Name()
	if _, _, err := c.WriteMsgUnix([]byte(name), unix.UnixRights(int(master.Fd())), nil); err != nil {
		return fmt.Errorf("sending pty master to console socket %s: %w", path, err)
	}
	return nil
}

// RecvMaster receives one descriptor sent by SendMaster (or runc) on c.
func RecvMaster(c *net.UnixConn) (*os.File, error) {
	name := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := c.ReadMsgUnix(name, oob)
	if err != nil {
		return nil, fmt.Errorf("receiving pty master: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return nil, fmt.Errorf("receiving pty master: %w", err)
	}
	for _, m := range msgs {
		fds, err := unix.ParseUnixRights(&m)
		if err != nil || len(fds) == 0 {
			continue
		}
		for _, extra := range fds[1:] {
			unix.Close(extra)
		}
		return os.NewFile(uintptr(fds[0]), string(name[:n])), nil
	}
	return nil, errors.New("receiving pty master: no descriptor in message")
}

// MakeRaw puts the terminal f in raw mode and returns a function that
// restores its previous mode.
func MakeRaw(f *os.File) (restore func() error, err error) {
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, fmt.Errorf("reading terminal mode: %w", err)
	}
	raw := *old
	// cfmakeraw(3).
	raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	raw.Oflag &^= unix.OPOST
	raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	raw.Cflag &^= unix.CSIZE | unix.PARENB
	raw.Cflag |= unix.CS8
	raw.Cc[unix.VMIN] = 1
	raw.Cc[unix.VTIME] = 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &raw); err != nil {
		return nil, fmt.Errorf("setting raw mode: %w", err)
	}
	return func() error { return unix.IoctlSetTermios(fd, unix.TCSETS, old) }, nil
}

// Proxy copies in to master and master to out until the master side ends
// (the application closed its last slave descriptor, which reads as EIO)
// or ctx is done. Both copies have finished when it returns. To be able to
// stop a blocked read, it reads through non-blocking duplicates of in and
// master; in's blocking mode is restored before Proxy returns, so the
// user's shell gets its terminal back as it was.
func Proxy(ctx context.Context, master, in *os.File, out io.Writer) error {
	m, restoreM, err := pollable(master)
	if err != nil {
		return err
	}
	defer restoreM()
	i, restoreI, err := pollable(in)
	if err != nil {
		return err
	}
	defer restoreI()

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		io.Copy(m, i) // ends on EOF, a write error or the deadline below
	}()
	stop := context.AfterFunc(ctx, func() { m.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	_, err = io.Copy(out, m)
	i.SetReadDeadline(time.Unix(1, 0))
	wg.Wait()
	if errors.Is(err, unix.EIO) || errors.Is(err, os.ErrDeadlineExceeded) {
		err = nil
	}
	return err
}

// pollable returns a non-blocking duplicate of f that the runtime poller
// can interrupt, and a function that restores f's blocking mode (the file
// description is shared) and closes the duplicate.
func pollable(f *os.File) (*os.File, func(), error) {
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("duplicating %s: %w", f.Name(), err)
	}
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		unix.Close(fd)
		return nil, nil, fmt.Errorf("reading flags of %s: %w", f.Name(), err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, nil, fmt.Errorf("making %s non-blocking: %w", f.Name(), err)
	}
	d := os.NewFile(uintptr(fd), f.Name())
	return d, func() {
		unix.FcntlInt(uintptr(fd), unix.F_SETFL, flags)
		d.Close()
	}, nil
}
