//go:build integration

package boot

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/podvisor/podvisor/internal/sandbox/bootconfig"
	"github.com/podvisor/podvisor/internal/sandbox/control"
)

// TestController drives a Sentry through the control protocol as `visor`
// does: start, exec, ps, events, kill, wait.
func TestController(t *testing.T) {
	s := sandbox(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	outR, outW, _ := os.Pipe()
	defer outR.Close()
	first := bootconfig.Process{Args: []string{"/bin/sh", "-c", "echo started; sleep 30"}, Env: defaultEnv, Cwd: "/"}
	ctrl := NewController(s, first, [3]*os.File{nil, outW, outW})

	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int) *net.UnixConn {
		f := os.NewFile(uintptr(fd), "control")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		return c.(*net.UnixConn)
	}
	srvConn, cliConn := conn(fds[0]), conn(fds[1])
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		control.NewServer(ctrl, slog.New(slog.DiscardHandler), "sentry").ServeConn(ctx, srvConn)
	}()
	defer wg.Wait()
	cl, err := control.NewClient(ctx, cliConn)
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	defer cl.Close()

	if _, err := cl.Exec(ctx, bootconfig.Process{Args: []string{"/bin/true"}}, nil); err == nil {
		t.Errorf("exec before start succeeded")
	}
	if err := cl.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	line := make([]byte, 8)
	if _, err := io.ReadFull(outR, line); err != nil || string(line) != "started\n" {
		t.Fatalf("first process output %q, %v", line, err)
	}
	er, ew, _ := os.Pipe()
	null, _ := os.Open(os.DevNull)
	pid, err := cl.Exec(ctx, bootconfig.Process{Args: []string{"/bin/sh", "-c", "echo exec; exit 3"}, Env: defaultEnv, Cwd: "/tmp"}, []*os.File{null, ew, ew})
	ew.Close()
	null.Close()
	if err != nil {
		t.Fatalf("Exec: %v", err)
	}
	st, err := cl.Wait(ctx, pid)
	if err != nil || st.Code != 3 {
		t.Errorf("Wait(exec) = %+v, %v; want code 3", st, err)
	}
	b, _ := io.ReadAll(er)
	if string(b) != "exec\n" {
		t.Errorf("exec output %q", b)
	}
	ps, err := cl.Processes(ctx)
	if err != nil {
		t.Fatalf("Processes: %v", err)
	}
	var cmds []string
	for _, p := range ps {
		cmds = append(cmds, p.Cmd)
	}
	if !strings.Contains(strings.Join(cmds, "|"), "sleep 30") {
		t.Errorf("ps lacks the first process' child: %q", cmds)
	}
	ev, err := cl.Events(ctx)
	if err != nil || ev.Stats.Syscalls == 0 || ev.Stats.Processes == 0 {
		t.Errorf("Events = %+v, %v", ev, err)
	}
	if err := cl.Signal(ctx, 0, true, int(syscall.SIGKILL)); err != nil {
		t.Fatalf("Signal: %v", err)
	}
	st, err = cl.Wait(ctx, 0)
	if err != nil || st.Signal != int(syscall.SIGKILL) {
		t.Errorf("Wait(first) after kill --all = %+v, %v; want SIGKILL", st, err)
	}
	cancel()
}
