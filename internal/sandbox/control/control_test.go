package control

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/podvisor/podvisor/internal/sandbox/bootconfig"
)

// fakeHandler is a Handler for tests: a tiny process table.
type fakeHandler struct {
	mu      sync.Mutex
	started bool
	nextPID int32
	signals []SignalRequest
	// exits holds a channel per pid, closed with status when it exits.
	exits map[int32]chan bootconfig.ExitStatus
	// waiting is closed when a Wait call blocks (for the hang-up test).
	waiting chan struct{}
	// cancelled receives ctx.Err() of a Wait that was cancelled.
	cancelled chan error
}

func newFakeHandler() *fakeHandler {
	return &fakeHandler{nextPID: 2, exits: map[int32]chan bootconfig.ExitStatus{1: make(chan bootconfig.ExitStatus, 1)},
		waiting: make(chan struct{}), cancelled: make(chan error, 1)}
}

func (h *fakeHandler) Start(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.started {
		return fmt.Errorf("start: %w: already started", ErrState)
	}
	h.started = true
	return nil
}

// Exec "runs" the process by writing its args to stdout and its exit code
// to the pid's channel: code = len(args).
func (h *fakeHandler) Exec(ctx context.Context, p bootconfig.Process, stdio [3]*os.File) (int32, error) {
	defer func() {
		for _, f := range stdio {
			f.Close()
		}
	}()
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.started {
		return 0, fmt.Errorf("exec: %w: not started", ErrState)
	}
	in, err := io.ReadAll(stdio[0])
	if err != nil {
		return 0, err
	}
	fmt.Fprintf(stdio[1], "%s|%s", strings.Join(p.Args, " "), in)
	fmt.Fprintf(stdio[2], "terminal=%v", p.Terminal)
	pid := h.nextPID
	h.nextPID++
	ch := make(chan bootconfig.ExitStatus, 1)
	ch <- bootconfig.ExitStatus{Code: len(p.Args)}
	h.exits[pid] = ch
	return pid, nil
}

func (h *fakeHandler) Signal(ctx context.Context, req SignalRequest) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	pid := req.PID
	if pid == 0 {
		pid = 1
	}
	if _, ok := h.exits[pid]; !ok && !req.All {
		return fmt.Errorf("signal pid %d: %w", req.PID, ErrNoProcess)
	}
	h.signals = append(h.signals, req)
	if req.Signal == int(unix.SIGKILL) && pid == 1 {
		h.exits[1] <- bootconfig.ExitStatus{Signal: int(unix.SIGKILL)}
	}
	return nil
}

func (h *fakeHandler) Wait(ctx context.Context, pid int32) (bootconfig.ExitStatus, error) {
	if pid == 0 {
		pid = 1
	}
	h.mu.Lock()
	ch, ok := h.exits[pid]
	h.mu.Unlock()
	if !ok {
		return bootconfig.ExitStatus{}, fmt.Errorf("wait pid %d: %w", pid, ErrNoProcess)
	}
	select {
	case st := <-ch:
		ch <- st // stays waitable
		return st, nil
	default:
	}
	close(h.waiting)
	select {
	case st := <-ch:
		ch <- st
		return st, nil
	case <-ctx.Done():
		h.cancelled <- ctx.Err()
		return bootconfig.ExitStatus{}, ctx.Err()
	}
}

func (h *fakeHandler) Processes(ctx context.Context) ([]Process, error) {
	return []Process{{PID: 1, State: "S", TTY: "?", Cmd: "/bin/sh"}}, nil
}

func (h *fakeHandler) Events(ctx context.Context) (Events, error) {
	return Events{ENOSYS: []SyscallCount{{Nr: 425, Name: "io_uring_setup", Count: 3}}, Stats: SandboxStats{Processes: 1, Threads: 1}}, nil
}

var _ Handler = (*fakeHandler)(nil)

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// serve starts a server for h on a socket in a temp dir (with a path
// longer than sun_path, to exercise shortPath) and returns its path.
func serve(t *testing.T, h Handler) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), strings.Repeat("d", 100))
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "control.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- NewServer(h, testLogger(t), "fake").Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return path
}

func dial(t *testing.T, path string) *Client {
	t.Helper()
	cl, err := Dial(context.Background(), path)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

func TestHandshake(t *testing.T) {
	cl := dial(t, serve(t, newFakeHandler()))
	if diff := cmp.Diff(Hello{Version: Version, Peer: "fake"}, cl.Peer()); diff != "" {
		t.Errorf("peer hello (-want +got):\n%s", diff)
	}
}

func TestRequests(t *testing.T) {
	h := newFakeHandler()
	cl := dial(t, serve(t, h))
	ctx := context.Background()

	tests := []struct {
		name    string
		call    func() (any, error)
		want    any
		wantErr error
	}{
		{"exec before start", func() (any, error) {
			return cl.Exec(ctx, bootconfig.Process{Args: []string{"x"}}, devNulls(t))
		}, nil, ErrState},
		{"start", func() (any, error) { return nil, cl.Start(ctx) }, nil, nil},
		{"start twice", func() (any, error) { return nil, cl.Start(ctx) }, nil, ErrState},
		{"signal init", func() (any, error) { return nil, cl.Signal(ctx, 0, false, int(unix.SIGTERM)) }, nil, nil},
		{"signal all", func() (any, error) { return nil, cl.Signal(ctx, 0, true, int(unix.SIGHUP)) }, nil, nil},
		{"signal missing pid", func() (any, error) { return nil, cl.Signal(ctx, 99, false, int(unix.SIGTERM)) }, nil, ErrNoProcess},
		{"signal out of range", func() (any, error) { return nil, cl.Signal(ctx, 0, false, 65) }, nil, ErrInvalid},
		{"signal zero", func() (any, error) { return nil, cl.Signal(ctx, 0, false, 0) }, nil, ErrInvalid},
		{"wait missing pid", func() (any, error) { return cl.Wait(ctx, 42) }, nil, ErrNoProcess},
		{"wait negative pid", func() (any, error) { return cl.Wait(ctx, -1) }, nil, ErrInvalid},
		{"processes", func() (any, error) { return cl.Processes(ctx) },
			[]Process{{PID: 1, State: "S", TTY: "?", Cmd: "/bin/sh"}}, nil},
		{"events", func() (any, error) { return cl.Events(ctx) },
			&Events{ENOSYS: []SyscallCount{{Nr: 425, Name: "io_uring_setup", Count: 3}}, Stats: SandboxStats{Processes: 1, Threads: 1}}, nil},
		{"exec empty args", func() (any, error) { return cl.Exec(ctx, bootconfig.Process{}, devNulls(t)) }, nil, ErrInvalid},
		{"exec wrong fd count", func() (any, error) {
			return cl.Exec(ctx, bootconfig.Process{Args: []string{"x"}}, devNulls(t)[:2])
		}, nil, ErrInvalid},
		{"kill init then wait", func() (any, error) {
			if err := cl.Signal(ctx, 0, false, int(unix.SIGKILL)); err != nil {
				return nil, err
			}
			return cl.Wait(ctx, 0)
		}, bootconfig.ExitStatus{Signal: int(unix.SIGKILL)}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.call()
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("got error %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v", err)
			}
			if tc.want != nil {
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("result (-want +got):\n%s", diff)
				}
			}
		})
	}
	wantSignals := []SignalRequest{{Signal: int(unix.SIGTERM)}, {All: true, Signal: int(unix.SIGHUP)}, {Signal: int(unix.SIGKILL)}}
	h.mu.Lock()
	defer h.mu.Unlock()
	if diff := cmp.Diff(wantSignals, h.signals); diff != "" {
		t.Errorf("signals delivered (-want +got):\n%s", diff)
	}
}

func devNulls(t *testing.T) []*os.File {
	t.Helper()
	var fs []*os.File
	for i := 0; i < 3; i++ {
		f, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		fs = append(fs, f)
	}
	return fs
}

// TestExecPassesStdio checks that descriptors reach the handler: the fake
// process echoes its args and stdin to the stdout pipe we passed.
func TestExecPassesStdio(t *testing.T) {
	tests := []struct {
		name       string
		terminal   bool
		wantStdout string
		wantStderr string
	}{
		{"pipes", false, "echo a b|input", "terminal=false"},
		{"terminal single fd", true, "echo a b|", "terminal=true"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newFakeHandler()
			cl := dial(t, serve(t, h))
			ctx := context.Background()
			if err := cl.Start(ctx); err != nil {
				t.Fatal(err)
			}
			var send, local []*os.File
			var outR, errR *os.File
			if tc.terminal {
				// One socket stands in for the pty slave: reads see EOF
				// once we shut our side, writes come back to us.
				fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
				if err != nil {
					t.Fatal(err)
				}
				ours, theirs := os.NewFile(uintptr(fds[0]), "ours"), os.NewFile(uintptr(fds[1]), "theirs")
				unix.Shutdown(fds[0], unix.SHUT_WR)
				send, local = []*os.File{theirs}, []*os.File{ours}
				outR, errR = ours, nil
			} else {
				inR, inW := pipe(t)
				inW.WriteString("input")
				inW.Close()
				var outW, errW *os.File
				outR, outW = pipe(t)
				errR, errW = pipe(t)
				send = []*os.File{inR, outW, errW}
				local = []*os.File{outR, errR}
			}
			pid, err := cl.Exec(ctx, bootconfig.Process{Args: []string{"echo", "a", "b"}, Terminal: tc.terminal}, send)
			if err != nil {
				t.Fatalf("Exec: %v", err)
			}
			for _, f := range send {
				f.Close()
			}
			if pid != 2 {
				t.Errorf("got pid %d, want 2", pid)
			}
			got, err := io.ReadAll(outR)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.wantStdout
			if tc.terminal {
				want += tc.wantStderr
			} else {
				gotErr, _ := io.ReadAll(errR)
				if string(gotErr) != tc.wantStderr {
					t.Errorf("stderr: got %q, want %q", gotErr, tc.wantStderr)
				}
			}
			if string(got) != want {
				t.Errorf("stdout: got %q, want %q", got, want)
			}
			for _, f := range local {
				f.Close()
			}
			st, err := cl.Wait(ctx, pid)
			if err != nil {
				t.Fatal(err)
			}
			if st.Code != 3 {
				t.Errorf("got exit %v, want code 3", st)
			}
		})
	}
}

func pipe(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

// TestHangUpCancelsWait: a client that drops while Wait blocks must not
// leave the handler blocked.
func TestHangUpCancelsWait(t *testing.T) {
	h := newFakeHandler()
	cl := dial(t, serve(t, h))
	errc := make(chan error, 1)
	go func() {
		_, err := cl.Wait(context.Background(), 0)
		errc <- err
	}()
	<-h.waiting
	cl.Close()
	if err := <-h.cancelled; !errors.Is(err, context.Canceled) {
		t.Errorf("handler ctx ended with %v, want context.Canceled", err)
	}
	if err := <-errc; err == nil {
		t.Error("Wait on a closed client returned no error")
	}
}

// TestClientContextCancel: a cancelled ctx unblocks the client call and the
// server sees the hang-up.
func TestClientContextCancel(t *testing.T) {
	h := newFakeHandler()
	cl := dial(t, serve(t, h))
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := cl.Wait(ctx, 0)
		errc <- err
	}()
	<-h.waiting
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("Wait: got %v, want context.Canceled", err)
	}
	if _, err := cl.Processes(context.Background()); err == nil {
		t.Error("client still usable after a cancelled call")
	}
	cl.Close()
	if err := <-h.cancelled; !errors.Is(err, context.Canceled) {
		t.Errorf("handler ctx ended with %v, want context.Canceled", err)
	}
}

// rawConn returns a connected socket pair with a server on one end.
func rawConn(t *testing.T, h Handler) *net.UnixConn {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int) *net.UnixConn {
		f := os.NewFile(uintptr(fd), "sock")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		return c.(*net.UnixConn)
	}
	srv, cli := conn(fds[0]), conn(fds[1])
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		NewServer(h, testLogger(t), "fake").ServeConn(ctx, srv)
	}()
	t.Cleanup(func() {
		cli.Close()
		cancel()
		<-done
	})
	return cli
}

func rawFrame(payload string) []byte {
	b := make([]byte, 4+len(payload))
	binary.BigEndian.PutUint32(b, uint32(len(payload)))
	copy(b[4:], payload)
	return b
}

// readAllFrames reads responses until the server hangs up.
func readAllFrames(t *testing.T, c *net.UnixConn) []Response {
	t.Helper()
	var out []Response
	for {
		f, err := readFrame(c)
		if err != nil {
			return out
		}
		var r Response
		if err := jsonUnmarshalStrict(f.payload, &r); err != nil {
			t.Fatalf("server sent undecodable response %q: %v", f.payload, err)
		}
		out = append(out, r)
	}
}

func TestGarbage(t *testing.T) {
	hello := `{"op":"hello","hello":{"version":1}}`
	tests := []struct {
		name  string
		input []byte
		// wantCodes are the error codes of the responses, "" for success.
		wantCodes []string
	}{
		{"no hello", rawFrame(`{"op":"start"}`), []string{CodeProtocol}},
		{"wrong version", rawFrame(`{"op":"hello","hello":{"version":99}}`), []string{CodeProtocol}},
		{"bad json first", rawFrame(`{{{`), []string{CodeProtocol}},
		{"zero length", []byte{0, 0, 0, 0}, []string{CodeProtocol}},
		{"huge length", []byte{0xff, 0xff, 0xff, 0xff}, []string{CodeProtocol}},
		{"short payload", append([]byte{0, 0, 0, 9}, "abc"...), []string{CodeProtocol}},
		{"bad json after hello keeps connection", append(append(rawFrame(hello), rawFrame(`nope`)...), rawFrame(`{"op":"processes"}`)...),
			[]string{"", CodeProtocol, ""}},
		{"unknown op", append(rawFrame(hello), rawFrame(`{"op":"format-disk"}`)...), []string{"", CodeProtocol}},
		{"op without payload", append(rawFrame(hello), rawFrame(`{"op":"wait"}`)...), []string{"", CodeProtocol}},
		{"hello twice", append(rawFrame(hello), rawFrame(hello)...), []string{"", CodeProtocol}},
		{"wrong types", append(rawFrame(hello), rawFrame(`{"op":"signal","signal":{"pid":"one"}}`)...), []string{"", CodeProtocol}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := rawConn(t, newFakeHandler())
			if _, err := c.Write(tc.input); err != nil {
				t.Fatal(err)
			}
			c.CloseWrite()
			var got []string
			for _, r := range readAllFrames(t, c) {
				code := ""
				if r.Error != nil {
					code = r.Error.Code
				}
				got = append(got, code)
			}
			if diff := cmp.Diff(tc.wantCodes, got); diff != "" {
				t.Errorf("response codes (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDescriptorsOnWrongRequest: descriptors sent with a request that takes
// none are refused (and closed: the pipe's write end sees no reader).
func TestDescriptorsOnWrongRequest(t *testing.T) {
	c := rawConn(t, newFakeHandler())
	if err := writeFrame(c, &Request{Op: OpHello, Hello: &Hello{Version: Version}}, nil); err != nil {
		t.Fatal(err)
	}
	r, w := pipe(t)
	if err := writeFrame(c, &Request{Op: OpProcesses}, []*os.File{r}); err != nil {
		t.Fatal(err)
	}
	r.Close()
	c.CloseWrite()
	resps := readAllFrames(t, c)
	if len(resps) != 2 || resps[1].Error == nil || resps[1].Error.Code != CodeProtocol {
		t.Fatalf("got responses %+v, want hello then a protocol error", resps)
	}
	// Every read end is closed now, so writing fails with EPIPE.
	if _, err := w.Write([]byte("x")); !errors.Is(err, unix.EPIPE) {
		t.Errorf("write to pipe: got %v, want EPIPE (server leaked the descriptor)", err)
	}
}

// TestTooManyDescriptors: more than MaxFDs descriptors end the connection
// and none leak.
func TestTooManyDescriptors(t *testing.T) {
	c := rawConn(t, newFakeHandler())
	r, w := pipe(t)
	fds := []int{int(r.Fd()), int(r.Fd()), int(r.Fd()), int(r.Fd()), int(r.Fd())}
	if _, _, err := c.WriteMsgUnix(rawFrame(`{"op":"hello","hello":{"version":1}}`), unix.UnixRights(fds...), nil); err != nil {
		t.Fatal(err)
	}
	r.Close()
	c.CloseWrite()
	resps := readAllFrames(t, c)
	if len(resps) != 1 || resps[0].Error == nil || resps[0].Error.Code != CodeProtocol {
		t.Fatalf("got responses %+v, want one protocol error", resps)
	}
	if _, err := w.Write([]byte("x")); !errors.Is(err, unix.EPIPE) {
		t.Errorf("write to pipe: got %v, want EPIPE (server leaked a descriptor)", err)
	}
}

func TestServeStopsOnCancel(t *testing.T) {
	h := newFakeHandler()
	dir := t.TempDir()
	ln, err := Listen(filepath.Join(dir, "c.sock"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- NewServer(h, testLogger(t), "fake").Serve(ctx, ln) }()
	cl, err := Dial(context.Background(), filepath.Join(dir, "c.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	errc := make(chan error, 1)
	go func() { _, err := cl.Wait(context.Background(), 0); errc <- err }()
	<-h.waiting
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve returned %v, want nil", err)
	}
	if err := <-errc; err == nil {
		t.Error("Wait survived server shutdown")
	}
	if _, err := os.Stat(filepath.Join(dir, "c.sock")); err != nil {
		t.Errorf("socket file removed by Serve: %v", err)
	}
}

func TestDialMissing(t *testing.T) {
	_, err := Dial(context.Background(), filepath.Join(t.TempDir(), "none.sock"))
	if err == nil || !strings.Contains(err.Error(), "connecting to sandbox") {
		t.Errorf("got %v, want a connect error", err)
	}
}
