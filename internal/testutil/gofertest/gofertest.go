// Package gofertest runs a real Gofer in a goroutine for tests of the
// Sentry's file systems, and hands back a connected protocol client.
// Only tests import it.
package gofertest

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/podvisor/podvisor/internal/sandbox/gofer"
	"github.com/podvisor/podvisor/internal/sandbox/protocol"
)

// Serve serves the host directory dir (read-only if asked) until the test
// ends and returns a client connected to it. The client is the caller's
// (a file system built on it closes it); Serve's cleanup waits for the
// Gofer to stop and fails the test on its error.
func Serve(t testing.TB, dir string, readOnly bool) *protocol.Client {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cs, gs, err := protocol.NewSocketPair()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- gofer.Run(ctx, gofer.Config{Mounts: []gofer.MountConfig{{HostPath: dir, ReadOnly: readOnly}}}, gs)
	}()
	conn, err := protocol.FileConn(cs)
	if err != nil {
		t.Fatal(err)
	}
	client, err := protocol.NewClient(ctx, conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// The client is closed by now (or is closed here) so the Gofer
		// sees the connection end.
		client.Close()
		if err := <-done; err != nil {
			t.Errorf("gofer: %v", err)
		}
		cancel()
	})
	return client
}

// helperPkg is the confined Gofer the integration tests run.
const helperPkg = "github.com/podvisor/podvisor/internal/sandbox/gofer/testdata/goferhelper"

// StartConfined builds the gofer's test helper (without cgo, as visor is
// built) and runs it as root in a new mount namespace, as `visor gofer`
// runs: it pivots into dir, drops capabilities, installs its seccomp
// filter and serves dir. It returns a client and the helper's one-line
// report of what it could still do after confinement ("inet=EPERM ...").
// The process is killed when the test ends.
func StartConfined(t testing.TB, dir string, readOnly bool, probe string) (*protocol.Client, string) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Fatal("a confined gofer needs root (mount namespaces, pivot_root)")
	}
	bin := filepath.Join(t.TempDir(), "goferhelper")
	build := exec.Command("go", "build", "-o", bin, helperPkg)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the gofer helper (needs the go tool): %v\n%s", err, out)
	}
	cs, gs, err := protocol.NewSocketPair()
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"-root", dir, "-probe", probe}
	if readOnly {
		args = append(args, "-ro")
	}
	cmd := exec.Command(bin, args...)
	cmd.ExtraFiles = []*os.File{gs}
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	gs.Close()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the gofer helper's report: %v; stderr:\n%s", err, stderr.String())
	}
	conn, err := protocol.FileConn(cs)
	if err != nil {
		t.Fatal(err)
	}
	c, err := protocol.NewClient(context.Background(), conn, nil)
	if err != nil {
		t.Fatalf("connecting to the gofer helper: %v; stderr:\n%s", err, stderr.String())
	}
	t.Cleanup(func() { c.Close() })
	return c, strings.TrimSpace(line)
}
