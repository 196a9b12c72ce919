//go:build integration

package boot

import (
	"bytes"
	"context"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/podvisor/podvisor/internal/testutil/busyboxroot"
)

// sandbox boots a Sentry on a busybox root for one test.
func sandbox(t *testing.T) *Sentry {
	t.Helper()
	dir := t.TempDir()
	if _, err := busyboxroot.Build(dir); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s, err := New(ctx, Config{Hostname: "sandbox", MemoryFileSize: 8 << 30}, Deps{Root: RootFromHostDir(dir)})
	if err != nil {
		t.Fatalf("boot.New: %v", err)
	}
	t.Cleanup(func() { s.Shutdown(ctx) })
	return s
}

// result is what a process printed and how it ended.
type result struct {
	stdout, stderr string
	status         WaitStatus
}

// run runs argv in s and collects its output.
func run(t *testing.T, s *Sentry, argv []string, env ...string) result {
	t.Helper()
	if env == nil {
		env = []string{"PATH=/bin:/sbin:/usr/bin:/usr/sbin", "HOME=/root"}
	}
	outR, outW, _ := os.Pipe()
	errR, errW, _ := os.Pipe()
	var wg sync.WaitGroup
	var stdout, stderr bytes.Buffer
	wg.Add(2)
	go func() { defer wg.Done(); io.Copy(&stdout, outR) }()
	go func() { defer wg.Done(); io.Copy(&stderr, errR) }()
	p, err := s.Exec(context.Background(), ProcessSpec{Argv: argv, Env: env, Stdio: [3]*os.File{nil, outW, errW}})
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		t.Fatalf("Exec(%q): %v", argv, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := p.Wait(ctx)
	if err != nil {
		t.Fatalf("Wait(%q): %v", argv, err)
	}
	wg.Wait()
	outR.Close()
	errR.Close()
	return result{stdout: stdout.String(), stderr: stderr.String(), status: st}
}

func TestEcho(t *testing.T) {
	s := sandbox(t)
	r := run(t, s, []string{"/bin/busybox", "echo", "hi"})
	if r.stdout != "hi\n" || r.status.ShellExitCode() != 0 {
		t.Errorf("echo hi: stdout %q stderr %q status %#x", r.stdout, r.stderr, r.status)
	}
}
