package devpts_test

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/fsimpl/devpts"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

var creds = vfs.RootCredentials()

func errnoOf(err error) abi.Errno {
	var e abi.Errno
	if err == nil || !errors.As(err, &e) {
		return 0
	}
	return e
}

// mem fakes the caller's memory for ioctls.
type mem map[uintptr][]byte

func (m mem) CopyIn(addr uintptr, dst []byte) (int, error) { return copy(dst, m[addr]), nil }
func (m mem) CopyOut(addr uintptr, src []byte) (int, error) {
	m[addr] = append([]byte(nil), src...)
	return len(src), nil
}

// session fakes the kernel's session controlling the terminal.
type session struct {
	mu      sync.Mutex
	signals []abi.Signal
}

func (s *session) SignalForeground(sig abi.Signal) {
	s.mu.Lock()
	s.signals = append(s.signals, sig)
	s.mu.Unlock()
}

func (s *session) got() []abi.Signal {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]abi.Signal(nil), s.signals...)
}

// task fakes the kernel's job control for TIOCSCTTY.
type task struct {
	context.Context
	sess *session
	ctty *vfs.TTY
}

func (k *task) ControllingTTY() *vfs.TTY { return k.ctty }
func (k *task) SetControllingTTY(t *vfs.TTY, steal bool) error {
	k.ctty = t
	t.SetController(k.sess)
	return nil
}
func (k *task) ReleaseControllingTTY(t *vfs.TTY) error                 { return nil }
func (k *task) ForegroundProcessGroup(t *vfs.TTY) (int32, error)       { return 1, nil }
func (k *task) SetForegroundProcessGroup(t *vfs.TTY, pgid int32) error { return nil }
func (k *task) SessionID(t *vfs.TTY) (int32, error)                    { return 1, nil }

type pty struct {
	master, slave *vfs.FileDescription
	sess          *session
	k             *task
	name          string
}

func setup(t *testing.T) (context.Context, *vfs.VirtualFilesystem, vfs.VirtualDentry, *pty) {
	t.Helper()
	ctx := context.Background()
	v := vfs.New(vfs.Config{})
	fs, root := devpts.New(v)
	ns := v.NewMountNamespaceFrom(fs, root, "devpts", vfs.MountFlags{})
	rd := ns.Root()
	t.Cleanup(func() { rd.DecRef(ctx); ns.DecRef(ctx) })
	master, err := v.OpenAt(ctx, creds, &vfs.PathOperation{Root: rd, Start: rd, Path: "ptmx"}, &vfs.OpenOptions{Flags: abi.O_RDWR})
	if err != nil {
		t.Fatal(err)
	}
	m := mem{}
	if _, err := master.Ioctl(ctx, m, abi.TIOCGPTN, 1); err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint32(m[1])
	name := itoa(n)
	if _, err := v.OpenAt(ctx, creds, &vfs.PathOperation{Root: rd, Start: rd, Path: name}, &vfs.OpenOptions{Flags: abi.O_RDWR}); errnoOf(err) != abi.EIO {
		t.Errorf("opening a locked slave: %v, want EIO", err)
	}
	m[2] = []byte{0, 0, 0, 0}
	if _, err := master.Ioctl(ctx, m, abi.TIOCSPTLCK, 2); err != nil {
		t.Fatal(err)
	}
	slave, err := v.OpenAt(ctx, creds, &vfs.PathOperation{Root: rd, Start: rd, Path: name}, &vfs.OpenOptions{Flags: abi.O_RDWR})
	if err != nil {
		t.Fatal(err)
	}
	p := &pty{master: master, slave: slave, sess: &session{}, name: name}
	p.k = &task{Context: ctx, sess: p.sess}
	if _, err := slave.Ioctl(p.k, m, abi.TIOCSCTTY, 0); err != nil {
		t.Fatal(err)
	}
	return ctx, v, rd, p
}

func itoa(n uint32) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func write(t *testing.T, fd *vfs.FileDescription, s string) {
	t.Helper()
	if _, err := fd.Write(context.Background(), &vfs.BytesSrc{Buf: []byte(s)}, vfs.WriteOptions{}); err != nil {
		t.Fatalf("write %q: %v", s, err)
	}
}

func read(fd *vfs.FileDescription) (string, error) {
	buf := make([]byte, 1024)
	n, err := fd.Read(context.Background(), &vfs.BytesDst{Buf: buf}, vfs.ReadOptions{})
	return string(buf[:n]), err
}

func TestCanonicalMode(t *testing.T) {
	_, _, _, p := setup(t)
	// Typing with an erase: the slave reads the edited line, the master
	// sees the echo.
	write(t, p.master, "lx\x7fs -la\r")
	if got, err := read(p.slave); got != "ls -la\n" || err != nil {
		t.Errorf("slave read %q, %v", got, err)
	}
	if got, _ := read(p.master); got != "lx\b \bs -la\r\n" {
		t.Errorf("echo %q", got)
	}
	// An incomplete line is not readable yet.
	write(t, p.master, "partial")
	if _, err := read(p.slave); errnoOf(err) != abi.EAGAIN {
		t.Errorf("read of an unfinished line: %v, want EAGAIN", err)
	}
	// ^U kills it; ^W erases a word; ^D ends the line without a newline.
	write(t, p.master, "\x15two words\x17end\x04")
	if got, _ := read(p.slave); got != "two end" {
		t.Errorf("after kill and word erase: %q", got)
	}
	// ^D on an empty line is end of file.
	write(t, p.master, "\x04")
	if got, err := read(p.slave); got != "" || err != nil {
		t.Errorf("end of file = %q, %v", got, err)
	}
	read(p.master)
	// Output gets NL → CR NL.
	write(t, p.slave, "out\n")
	if got, _ := read(p.master); got != "out\r\n" {
		t.Errorf("output %q", got)
	}
}

func TestSignals(t *testing.T) {
	ctx, _, _, p := setup(t)
	write(t, p.master, "half\x03")
	if diff := cmp.Diff([]abi.Signal{abi.SIGINT}, p.sess.got()); diff != "" {
		t.Errorf("signals (-want +got):\n%s", diff)
	}
	write(t, p.master, "\r")
	if got, _ := read(p.slave); got != "\n" {
		t.Errorf("^C did not flush the line: %q", got)
	}
	if got, _ := read(p.master); got != "half^C\r\n" {
		t.Errorf("echo %q", got)
	}
	write(t, p.master, "\x1a\x1c")
	if got, _ := read(p.master); got != "^Z^\\" {
		t.Errorf("echo of ^Z ^\\: %q", got)
	}
	if diff := cmp.Diff([]abi.Signal{abi.SIGINT, abi.SIGTSTP, abi.SIGQUIT}, p.sess.got()); diff != "" {
		t.Errorf("signals (-want +got):\n%s", diff)
	}
	// A window size change signals SIGWINCH.
	m := mem{}
	ws := abi.Winsize{Row: 50, Col: 132}
	m[1] = append([]byte(nil), abi.AsBytes(&ws)...)
	if _, err := p.master.Ioctl(ctx, m, abi.TIOCSWINSZ, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := p.slave.Ioctl(ctx, m, abi.TIOCGWINSZ, 2); err != nil || binary.LittleEndian.Uint16(m[2][2:]) != 132 {
		t.Errorf("TIOCGWINSZ = %v, %v", m[2], err)
	}
	if s := p.sess.got(); s[len(s)-1] != abi.SIGWINCH {
		t.Errorf("last signal %v, want SIGWINCH", s[len(s)-1])
	}
	// /dev/tty reopens the controlling terminal.
	tty, err := p.k.ctty.Open(ctx, &vfs.OpenOptions{Flags: abi.O_RDWR})
	if err != nil {
		t.Fatal(err)
	}
	write(t, tty, "via tty")
	tty.DecRef(ctx)
	if got, _ := read(p.master); got != "via tty" {
		t.Errorf("master read %q", got)
	}
}

func TestRawMode(t *testing.T) {
	ctx, _, _, p := setup(t)
	m := mem{}
	if _, err := p.slave.Ioctl(ctx, m, abi.TCGETS, 1); err != nil {
		t.Fatal(err)
	}
	var tio abi.Termios
	copy(abi.AsBytes(&tio), m[1])
	if tio.Lflag&abi.ICANON == 0 {
		t.Fatal("a new terminal is not in canonical mode")
	}
	write(t, p.master, "pending")
	tio.Lflag &^= abi.ICANON | abi.ECHO | abi.ISIG
	tio.Oflag &^= abi.OPOST
	m[2] = append([]byte(nil), abi.AsBytes(&tio)...)
	if _, err := p.slave.Ioctl(ctx, m, abi.TCSETS, 2); err != nil {
		t.Fatal(err)
	}
	// The half-typed line becomes readable; raw bytes pass unchanged.
	if got, _ := read(p.slave); got != "pending" {
		t.Errorf("after leaving canonical mode: %q", got)
	}
	read(p.master)
	write(t, p.master, "\x03x")
	if got, _ := read(p.slave); got != "\x03x" {
		t.Errorf("raw read %q", got)
	}
	if len(p.sess.got()) != 0 {
		t.Errorf("signals in raw mode: %v", p.sess.got())
	}
	write(t, p.slave, "a\nb")
	if got, _ := read(p.master); got != "a\nb" {
		t.Errorf("output without OPOST: %q", got)
	}
	if got, _ := read(p.master); got != "" {
		t.Errorf("echo without ECHO: %q", got)
	}
}

func TestHangup(t *testing.T) {
	ctx, v, rd, p := setup(t)
	var names []string
	dir, _ := v.OpenAt(ctx, creds, &vfs.PathOperation{Root: rd, Start: rd, Path: "/"}, &vfs.OpenOptions{Flags: abi.O_RDONLY})
	dir.IterDirents(ctx, func(d vfs.Dirent) error { names = append(names, d.Name); return nil })
	dir.DecRef(ctx)
	if diff := cmp.Diff([]string{".", "..", "ptmx", p.name}, names); diff != "" {
		t.Errorf("/dev/pts (-want +got):\n%s", diff)
	}
	p.master.DecRef(ctx)
	if got, err := read(p.slave); got != "" || err != nil {
		t.Errorf("slave read after hangup = %q, %v; want end of file", got, err)
	}
	if _, err := p.slave.Write(ctx, &vfs.BytesSrc{Buf: []byte("x")}, vfs.WriteOptions{}); errnoOf(err) != abi.EIO {
		t.Errorf("slave write after hangup: %v, want EIO", err)
	}
	if s := p.sess.got(); len(s) == 0 || s[0] != abi.SIGHUP {
		t.Errorf("signals at hangup: %v, want SIGHUP first", s)
	}
	if _, err := v.StatAt(ctx, creds, &vfs.PathOperation{Root: rd, Start: rd, Path: p.name}, abi.STATX_TYPE); errnoOf(err) != abi.ENOENT {
		t.Errorf("the slave's name after hangup: %v, want ENOENT", err)
	}
	p.slave.DecRef(ctx)
}
