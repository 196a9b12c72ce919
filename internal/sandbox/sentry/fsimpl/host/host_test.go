package host_test

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/fsimpl/host"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

func errnoOf(err error) abi.Errno {
	var e abi.Errno
	if err == nil || !errors.As(err, &e) {
		return 0
	}
	return e
}

func setup(t *testing.T) (context.Context, *host.Files) {
	v := vfs.New(vfs.Config{})
	f, err := host.New(v, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Error(err)
		}
	})
	return context.Background(), f
}

func TestPipe(t *testing.T) {
	ctx, files := setup(t)
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[1])
	fd, err := files.NewFD(ctx, p[0], "")
	if err != nil {
		t.Fatal(err)
	}
	defer fd.DecRef(ctx)
	if fd.IsWritable() || !fd.IsReadable() {
		t.Errorf("access mode of a pipe's read end: readable %v writable %v", fd.IsReadable(), fd.IsWritable())
	}
	buf := make([]byte, 10)
	if _, err := fd.Read(ctx, &vfs.BytesDst{Buf: buf}, vfs.ReadOptions{}); errnoOf(err) != abi.EAGAIN {
		t.Errorf("read of an empty pipe: %v, want EAGAIN", err)
	}
	entry, ch := vfs.NewChannelEntry(vfs.EventReadable)
	fd.EventRegister(entry)
	defer fd.EventUnregister(entry)
	unix.Write(p[1], []byte("ping"))
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("no readiness notification from the host pipe")
	}
	if got := fd.Readiness(vfs.EventReadable); got&vfs.EventIn == 0 {
		t.Errorf("readiness %#x", got)
	}
	n, err := fd.Read(ctx, &vfs.BytesDst{Buf: buf}, vfs.ReadOptions{})
	if err != nil || string(buf[:n]) != "ping" {
		t.Errorf("read = %q, %v", buf[:n], err)
	}
	if _, err := fd.PRead(ctx, &vfs.BytesDst{Buf: buf}, 0, vfs.ReadOptions{}); errnoOf(err) != abi.ESPIPE {
		t.Errorf("pread of a pipe: %v, want ESPIPE", err)
	}
	st, err := fd.Stat(ctx, abi.STATX_TYPE)
	if err != nil || st.Mode&abi.S_IFMT != abi.S_IFIFO {
		t.Errorf("fstat mode %o, %v", st.Mode, err)
	}
}

func TestRegularFile(t *testing.T) {
	ctx, files := setup(t)
	path := filepath.Join(t.TempDir(), "log")
	hfd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	fd, err := files.NewFD(ctx, hfd, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fd.Write(ctx, &vfs.BytesSrc{Buf: []byte("hello world")}, vfs.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if off, err := fd.Seek(ctx, 6, abi.SEEK_SET); err != nil || off != 6 {
		t.Errorf("seek = %d, %v", off, err)
	}
	buf := make([]byte, 5)
	if n, err := fd.Read(ctx, &vfs.BytesDst{Buf: buf}, vfs.ReadOptions{}); err != nil || string(buf[:n]) != "world" {
		t.Errorf("read = %q, %v", buf[:n], err)
	}
	if err := fd.SetStat(ctx, vfs.RootCredentials(), &vfs.SetStatOptions{Mask: abi.STATX_SIZE | abi.STATX_MTIME, Size: 5, Mtime: vfs.Timespec{Sec: 1234}}); err != nil {
		t.Fatal(err)
	}
	fd.DecRef(ctx)
	fi, err := os.Stat(path)
	if err != nil || fi.Size() != 5 || fi.ModTime().Unix() != 1234 {
		t.Errorf("host file after truncate and utimes: %v, %v", fi, err)
	}
	if err := unix.Close(hfd); err != unix.EBADF {
		t.Errorf("the host descriptor was not closed with its file: %v", err)
	}
}

// mem is a fake of the caller's memory for ioctls.
type mem map[uintptr][]byte

func (m mem) CopyIn(addr uintptr, dst []byte) (int, error) {
	return copy(dst, m[addr]), nil
}

func (m mem) CopyOut(addr uintptr, src []byte) (int, error) {
	m[addr] = append([]byte(nil), src...)
	return len(src), nil
}

// task fakes the kernel's job control.
type task struct {
	context.Context
	ctty *vfs.TTY
	fg   int32
}

func (k *task) ControllingTTY() *vfs.TTY { return k.ctty }
func (k *task) SetControllingTTY(t *vfs.TTY, steal bool) error {
	k.ctty = t
	return nil
}
func (k *task) ReleaseControllingTTY(t *vfs.TTY) error { k.ctty = nil; return nil }
func (k *task) ForegroundProcessGroup(t *vfs.TTY) (int32, error) {
	if t != k.ctty {
		return 0, abi.ENOTTY
	}
	return k.fg, nil
}
func (k *task) SetForegroundProcessGroup(t *vfs.TTY, pgid int32) error {
	if t != k.ctty {
		return abi.ENOTTY
	}
	k.fg = pgid
	return nil
}
func (k *task) SessionID(t *vfs.TTY) (int32, error) { return 1, nil }

func TestTerminal(t *testing.T) {
	ctx, files := setup(t)
	master, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("opening /dev/ptmx: %v", err)
	}
	defer unix.Close(master)
	if err := unix.IoctlSetPointerInt(master, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(master, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	slave, err := unix.Open("/dev/pts/"+itoa(n), unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	ws := &unix.Winsize{Row: 24, Col: 80}
	unix.IoctlSetWinsize(master, unix.TIOCSWINSZ, ws)
	dup, _ := unix.Dup(slave)
	stdin, err := files.NewFD(ctx, slave, "")
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.DecRef(ctx)
	stdout, err := files.NewFD(ctx, dup, "")
	if err != nil {
		t.Fatal(err)
	}
	defer stdout.DecRef(ctx)
	k := &task{Context: ctx}
	m := mem{}
	if _, err := stdin.Ioctl(k, m, abi.TIOCGWINSZ, 100); err != nil {
		t.Fatal(err)
	}
	if got := binary.LittleEndian.Uint16(m[100][2:]); got != 80 {
		t.Errorf("TIOCGWINSZ columns = %d, want 80", got)
	}
	if _, err := stdin.Ioctl(k, m, abi.TCGETS, 200); err != nil || len(m[200]) == 0 {
		t.Errorf("TCGETS: %v", err)
	}
	// Job control: the two descriptors of one terminal share its TTY.
	if _, err := stdin.Ioctl(k, m, abi.TIOCSCTTY, 0); err != nil {
		t.Fatal(err)
	}
	m[300] = []byte{7, 0, 0, 0}
	if _, err := stdout.Ioctl(k, m, abi.TIOCSPGRP, 300); err != nil {
		t.Fatalf("TIOCSPGRP on the other descriptor: %v", err)
	}
	if _, err := stdin.Ioctl(k, m, abi.TIOCGPGRP, 400); err != nil || binary.LittleEndian.Uint32(m[400]) != 7 {
		t.Errorf("TIOCGPGRP = %v, %v", m[400], err)
	}
	// Output reaches the host terminal.
	if _, err := stdout.Write(ctx, &vfs.BytesSrc{Buf: []byte("hi\n")}, vfs.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	got, _ := unix.Read(master, buf)
	if string(buf[:got]) != "hi\r\n" {
		t.Errorf("master read %q", buf[:got])
	}
	// /dev/tty opens the controlling terminal again.
	ttyFD, err := k.ctty.Open(ctx, &vfs.OpenOptions{Flags: abi.O_RDWR})
	if err != nil {
		t.Fatal(err)
	}
	ttyFD.DecRef(ctx)
	// A regular file is not a terminal.
	null, err := files.NewFD(ctx, must(unix.Open(os.DevNull, unix.O_RDONLY|unix.O_CLOEXEC, 0)), "")
	if err != nil {
		t.Fatalf("/dev/null: %v", err)
	}
	if _, err := null.Ioctl(k, m, abi.TCGETS, 500); errnoOf(err) != abi.ENOTTY {
		t.Errorf("TCGETS on /dev/null: %v, want ENOTTY", err)
	}
	null.DecRef(ctx)
}

func must(fd int, err error) int {
	if err != nil {
		panic(err)
	}
	return fd
}

func itoa(n int) string {
	b := []byte{}
	for {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
		if n == 0 {
			return string(b)
		}
	}
}
