//go:build integration

package boot

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/podvisor/podvisor/internal/sandbox/seccomp"
)

// confinedChildEnv makes the test binary act as a confined Sentry (see
// TestMain): seccomp filters cannot be removed, so confinement is tested
// in a child process.
const confinedChildEnv = "PODVISOR_TEST_CONFINED_SENTRY"

func TestMain(m *testing.M) {
	if dir := os.Getenv(confinedChildEnv); dir != "" {
		os.Exit(confinedChild(dir, os.Getenv(confinedChildEnv+"_TRAP") != ""))
	}
	if dir := os.Getenv(terminalChildEnv); dir != "" {
		os.Exit(terminalChild(dir))
	}
	code := m.Run()
	if builtDir != "" {
		os.RemoveAll(builtDir)
	}
	os.Exit(code)
}

// confinedChild boots a Sentry on dir, confines it, runs a workload in
// it, then tries to open a host file, which must be refused.
func confinedChild(dir string, trap bool) int {
	ctx := context.Background()
	s, err := New(ctx, Config{Hostname: "sandbox"}, Deps{Root: RootFromHostDir(dir)})
	if err != nil {
		fmt.Println("boot:", err)
		return 1
	}
	opts := ConfineOptions{}
	if trap {
		opts.DefaultAction = seccomp.Trap
	}
	if err := s.Confine(opts); err != nil {
		fmt.Println("confine:", err)
		return 1
	}
	for _, argv := range [][]string{
		{"/bin/sh", "-c", "echo hi | cat; ls -la / >/dev/null; wc -l /etc/passwd; (sleep 1 & wait); find / -xdev | sort | head -3; cat /proc/self/status >/dev/null"},
		{"/bin/files"}, {"/bin/mem"}, {"/bin/threads"}, {"/bin/signals"}, {"/bin/timeinfo"}, {"/bin/efault"},
	} {
		p, err := s.Exec(ctx, ProcessSpec{Argv: argv, Env: defaultEnv, Stdio: [3]*os.File{nil, os.Stdout, os.Stdout}})
		if err != nil {
			fmt.Println("exec:", err)
			return 1
		}
		st, err := p.Wait(ctx)
		fmt.Printf("%s exited %d %v\n", argv[0], st.ShellExitCode(), err)
	}
	// The test-only escape attempt: the Sentry itself opens a host file.
	_, err = os.Open("/etc/hostname")
	fmt.Println("host open after confinement:", err)
	s.Shutdown(ctx)
	return 0
}

func TestConfinedSentry(t *testing.T) {
	dir := rootDir(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), confinedChildEnv+"="+dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	t.Logf("confined Sentry output:\n%s", out.String())
	if err != nil {
		t.Fatalf("confined Sentry failed: %v (a SIGSYS means the allow-list misses a call the Sentry makes)", err)
	}
	for _, want := range []string{
		"hi\n",
		"/bin/sh exited 0", "/bin/files exited 0", "/bin/mem exited 0", "/bin/threads exited 0",
		"/bin/signals exited 0", "/bin/timeinfo exited 0", "/bin/efault exited 0",
		"host open after confinement: open /etc/hostname: operation not permitted",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("confined Sentry output lacks %q", want)
		}
	}
}
