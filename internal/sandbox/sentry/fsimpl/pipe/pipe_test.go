package pipe_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/fsimpl/pipe"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/fsimpl/tmpfs"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
	"github.com/podvisor/podvisor/internal/testutil/memfile"
)

var creds = vfs.RootCredentials()

func errnoOf(err error) abi.Errno {
	var e abi.Errno
	if err == nil || !errors.As(err, &e) {
		return 0
	}
	return e
}

func write(fd *vfs.FileDescription, b []byte) (int64, error) {
	return fd.Write(context.Background(), &vfs.BytesSrc{Buf: b}, vfs.WriteOptions{})
}

func read(fd *vfs.FileDescription, n int) ([]byte, error) {
	buf := make([]byte, n)
	got, err := fd.Read(context.Background(), &vfs.BytesDst{Buf: buf}, vfs.ReadOptions{})
	return buf[:got], err
}

func TestPipe(t *testing.T) {
	ctx := context.Background()
	v := vfs.New(vfs.Config{})
	r, w := pipe.NewConnectedPipeFDs(ctx, v, creds, 0)

	if _, err := read(r, 10); errnoOf(err) != abi.EAGAIN {
		t.Errorf("read of an empty pipe: got %v, want EAGAIN", err)
	}
	if got := r.Readiness(vfs.EventReadable); got != 0 {
		t.Errorf("empty pipe readiness %#x", got)
	}
	entry, ch := vfs.NewChannelEntry(vfs.EventReadable)
	if err := r.EventRegister(entry); err != nil {
		t.Fatal(err)
	}
	if n, err := write(w, []byte("hello")); n != 5 || err != nil {
		t.Fatalf("write = %d, %v", n, err)
	}
	select {
	case <-ch:
	default:
		t.Error("a write did not notify the reader")
	}
	r.EventUnregister(entry)
	if got, err := read(r, 3); string(got) != "hel" || err != nil {
		t.Errorf("read = %q, %v", got, err)
	}
	st, _ := r.Stat(ctx, abi.STATX_SIZE|abi.STATX_TYPE)
	if st.Mode&abi.S_IFMT != abi.S_IFIFO || st.Size != 2 {
		t.Errorf("fstat: mode %o size %d", st.Mode, st.Size)
	}
	if name := v.PathnameWithDeleted(ctx, r.VirtualDentry(), r.VirtualDentry()); !bytes.HasPrefix([]byte(name), []byte("pipe:[")) {
		t.Errorf("pipe's name %q", name)
	}

	// Fill the pipe: a write of PIPE_BUF bytes is all or nothing.
	big := make([]byte, pipe.DefaultSize)
	n, err := write(w, big)
	if n != pipe.DefaultSize-2 || errnoOf(err) != abi.EAGAIN {
		t.Errorf("filling write = %d, %v; want %d, EAGAIN", n, err, pipe.DefaultSize-2)
	}
	if _, err := read(r, 100); err != nil {
		t.Fatal(err)
	}
	if n, err := write(w, make([]byte, pipe.PipeBuf)); n != 0 || errnoOf(err) != abi.EAGAIN {
		t.Errorf("atomic write into 100 free bytes = %d, %v; want 0, EAGAIN", n, err)
	}
	if n, err := write(w, make([]byte, 50)); n != 50 || err != nil {
		t.Errorf("small write = %d, %v", n, err)
	}
	if w.Readiness(vfs.EventWritable) != 0 {
		t.Error("a nearly full pipe reports writable")
	}

	// Last writer gone: data, then EOF and HUP.
	w.DecRef(ctx)
	total := 0
	for {
		b, err := read(r, 1<<20)
		if err != nil {
			t.Fatalf("read after close of the writer: %v", err)
		}
		if len(b) == 0 {
			break
		}
		total += len(b)
	}
	if total != pipe.DefaultSize-100+50-0 {
		t.Errorf("drained %d bytes", total)
	}
	if got := r.Readiness(vfs.EventReadable); got&vfs.EventHUp == 0 {
		t.Errorf("readiness after the writer closed = %#x, want HUP", got)
	}
	r.DecRef(ctx)
}

func TestPipeEPIPE(t *testing.T) {
	ctx := context.Background()
	v := vfs.New(vfs.Config{})
	r, w := pipe.NewConnectedPipeFDs(ctx, v, creds, abi.O_NONBLOCK)
	defer w.DecRef(ctx)
	if w.StatusFlags()&abi.O_NONBLOCK == 0 {
		t.Error("O_NONBLOCK not set on the write end")
	}
	r.DecRef(ctx)
	if _, err := write(w, []byte("x")); errnoOf(err) != abi.EPIPE {
		t.Errorf("write without a reader: got %v, want EPIPE", err)
	}
	if got := w.Readiness(vfs.EventWritable); got&vfs.EventErr == 0 {
		t.Errorf("readiness without a reader = %#x, want ERR", got)
	}
}

// TestFIFO covers named pipes on tmpfs: open rules and a reader and a
// writer meeting.
func TestFIFO(t *testing.T) {
	ctx := context.Background()
	mf := memfile.New(t, 1<<20)
	v := vfs.New(vfs.Config{})
	fs, root := tmpfs.New(v, mf, tmpfs.Options{})
	ns := v.NewMountNamespaceFrom(fs, root, "none", vfs.MountFlags{})
	rd := ns.Root()
	defer rd.DecRef(ctx)
	pop := &vfs.PathOperation{Root: rd, Start: rd, Path: "/fifo", FollowFinalSymlink: true}
	if err := v.MknodAt(ctx, creds, pop, &vfs.MknodOptions{Mode: abi.S_IFIFO | 0o644}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.OpenAt(ctx, creds, pop, &vfs.OpenOptions{Flags: abi.O_WRONLY | abi.O_NONBLOCK}); errnoOf(err) != abi.ENXIO {
		t.Errorf("non-blocking write open without a reader: got %v, want ENXIO", err)
	}
	// A blocking open waits for the other side; a cancelled wait is EINTR.
	cctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	_, err := v.OpenAt(cctx, creds, pop, &vfs.OpenOptions{Flags: abi.O_RDONLY})
	cancel()
	if errnoOf(err) != abi.EINTR {
		t.Errorf("interrupted open: got %v, want EINTR", err)
	}
	type result struct {
		fd  *vfs.FileDescription
		err error
	}
	readerCh := make(chan result)
	go func() {
		fd, err := v.OpenAt(ctx, creds, pop, &vfs.OpenOptions{Flags: abi.O_RDONLY})
		readerCh <- result{fd, err}
	}()
	w, err := v.OpenAt(ctx, creds, pop, &vfs.OpenOptions{Flags: abi.O_WRONLY})
	if err != nil {
		t.Fatalf("write open: %v", err)
	}
	res := <-readerCh
	if res.err != nil {
		t.Fatalf("read open: %v", res.err)
	}
	r := res.fd
	if _, err := write(w, []byte("through the fifo")); err != nil {
		t.Fatal(err)
	}
	w.DecRef(ctx)
	if got, err := read(r, 100); string(got) != "through the fifo" || err != nil {
		t.Errorf("read = %q, %v", got, err)
	}
	if got, err := read(r, 100); len(got) != 0 || err != nil {
		t.Errorf("read at EOF = %q, %v", got, err)
	}
	r.DecRef(ctx)
	// O_RDWR never waits.
	rw, err := v.OpenAt(ctx, creds, pop, &vfs.OpenOptions{Flags: abi.O_RDWR})
	if err != nil {
		t.Fatal(err)
	}
	rw.DecRef(ctx)
}

func TestSetSize(t *testing.T) {
	ctx := context.Background()
	v := vfs.New(vfs.Config{})
	r, w := pipe.NewConnectedPipeFDs(ctx, v, creds, 0)
	defer r.DecRef(ctx)
	defer w.DecRef(ctx)
	p := pipe.PipeOf(r)
	if _, err := write(w, make([]byte, 10000)); err != nil {
		t.Fatal(err)
	}
	if _, err := p.SetSize(4096); errnoOf(err) != abi.EBUSY {
		t.Errorf("shrinking below the queued bytes: got %v, want EBUSY", err)
	}
	if n, err := p.SetSize(100000); n != 102400 || err != nil {
		t.Errorf("SetSize(100000) = %d, %v; want 102400", n, err)
	}
	if got, _ := read(r, 20000); len(got) != 10000 {
		t.Errorf("read %d bytes after a resize, want 10000", len(got))
	}
}
