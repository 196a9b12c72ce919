//go:build integration

package boot

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a host pseudo-terminal pair (master, slave).
func openPTY(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("opening /dev/ptmx (host pseudo-terminals are required): %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return m, s
}

// TestTerminal runs an interactive shell on a host pty given as a
// terminal: it becomes the session's controlling terminal, so the shell
// has job control (background jobs, jobs, kill %n), /dev/tty opens it,
// and termios and window-size requests reach the host pty.
func TestTerminal(t *testing.T) {
	s := sandbox(t)
	master, slave := openPTY(t)
	defer master.Close()
	var out bytes.Buffer
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			mu.Lock()
			out.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	if err := unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 100}); err != nil {
		t.Fatal(err)
	}
	p, err := s.Exec(context.Background(), ProcessSpec{
		Argv:     []string{"/bin/sh", "-i"},
		Env:      []string{"PATH=/bin", "PS1=$ ", "TERM=dumb"},
		Stdio:    [3]*os.File{slave, slave, slave},
		Terminal: true,
	})
	slave.Close()
	if err != nil {
		t.Fatal(err)
	}
	script := strings.Join([]string{
		"sleep 30 &",
		"jobs",
		// SIGKILL: an interactive shell's child ignores SIGTERM until it
		// resets its signals, so a TERM sent that early is lost.
		"kill -KILL %1",
		"wait",
		"(exit 7); echo status=$?",
		"stty size",
		"stty -echo; echo x$(stty -a </dev/tty | grep -o -- '-echo ')y; stty echo",
		"exit 3",
	}, "\n") + "\n"
	if _, err := io.WriteString(master, script); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := p.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The slave is closed everywhere now: the reader sees EIO.
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
	mu.Lock()
	got := out.String()
	mu.Unlock()
	t.Logf("terminal output:\n%s", got)
	if st.ExitCode() != 3 {
		t.Errorf("exit status %v, want code 3", st)
	}
	for _, bad := range []string{"job control turned off", "can't access tty"} {
		if strings.Contains(got, bad) {
			t.Errorf("shell says %q", bad)
		}
	}
	for _, want := range []string{"Running", "Killed", "status=7", "40 100", "x-echo y"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

// terminalChildEnv makes the test binary act as a Sentry process leading
// its own session (as `visor boot` does), with a host pty slave as fd 3:
// see TestTerminalSignals.
const terminalChildEnv = "PODVISOR_TEST_TERMINAL_SENTRY"

// terminalChild boots a Sentry on dir and runs an interactive shell on the
// pty slave at fd 3; its exit code is the shell's.
func terminalChild(dir string) int {
	ctx := context.Background()
	s, err := New(ctx, Config{Hostname: "sandbox"}, Deps{Root: RootFromHostDir(dir)})
	if err != nil {
		fmt.Fprintln(os.Stderr, "boot:", err)
		return 100
	}
	defer s.Shutdown(ctx)
	slave := os.NewFile(3, "pty")
	p, err := s.Exec(ctx, ProcessSpec{
		Argv:     []string{"/bin/sh", "-i"},
		Env:      []string{"PATH=/bin", "PS1=$ ", "TERM=dumb"},
		Stdio:    [3]*os.File{slave, slave, slave},
		Terminal: true,
	})
	slave.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, "exec:", err)
		return 101
	}
	st, err := p.Wait(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wait:", err)
		return 102
	}
	return st.ShellExitCode()
}

// TestTerminalSignals: with the Sentry process leading its own session,
// the host terminal becomes its controlling terminal, and Ctrl-C typed on
// it interrupts the sandbox's foreground job, Ctrl-Z stops it (and fg
// resumes it), and a window size change reaches the foreground job as
// SIGWINCH.
func TestTerminalSignals(t *testing.T) {
	dir := rootDir(t)
	master, slave := openPTY(t)
	defer master.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), terminalChildEnv+"="+dir)
	cmd.ExtraFiles = []*os.File{slave}
	var childErr bytes.Buffer
	cmd.Stderr = &childErr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	var mu sync.Mutex
	var out bytes.Buffer
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			mu.Lock()
			out.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	// waitFor waits until the terminal shows s (after from).
	waitFor := func(s string, from int) int {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			got := out.String()
			mu.Unlock()
			if i := strings.Index(got[min(from, len(got)):], s); i >= 0 {
				return from + i + len(s)
			}
			time.Sleep(20 * time.Millisecond)
		}
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("terminal never showed %q; output:\n%s\nchild stderr:\n%s", s, out.String(), childErr.String())
		return 0
	}
	type_ := func(s string) {
		t.Helper()
		if _, err := io.WriteString(master, s); err != nil {
			t.Fatal(err)
		}
	}
	pos := waitFor("$ ", 0)
	type_("echo ready\n")
	pos = waitFor("ready\r\n", pos)
	type_("sleep 30\n")
	time.Sleep(500 * time.Millisecond) // let sleep start
	type_("\x03")
	// An interactive shell abandons the rest of the line on SIGINT: ask
	// for the status on the next one.
	pos = waitFor("^C", pos)
	type_("echo slept=$?\n")
	pos = waitFor("slept=130", pos)
	// A foreground job that waits for SIGWINCH.
	type_("sh -c 'trap \"echo got-\"\"winch; exit 0\" WINCH; echo waiting; while :; do sleep 0.1; done'\n")
	pos = waitFor("waiting\r\n", pos)
	if err := unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 50, Col: 120}); err != nil {
		t.Fatal(err)
	}
	pos = waitFor("got-winch", pos)
	type_("stty size\n")
	pos = waitFor("50 120", pos)
	// Ctrl-Z stops the foreground job; fg resumes it; Ctrl-C ends it.
	type_("sleep 30\n")
	time.Sleep(500 * time.Millisecond)
	type_("\x1a")
	pos = waitFor("Stopped", pos)
	type_("fg\n")
	pos = waitFor("sleep 30", pos)
	time.Sleep(300 * time.Millisecond)
	type_("\x03")
	pos = waitFor("^C", pos)
	type_("echo fg=$?\n")
	waitFor("fg=130", pos)
	type_("exit 5\n")
	err := cmd.Wait()
	mu.Lock()
	t.Logf("terminal output:\n%s", out.String())
	mu.Unlock()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 5 {
		t.Errorf("child: %v, want exit status 5; stderr:\n%s", err, childErr.String())
	}
}
