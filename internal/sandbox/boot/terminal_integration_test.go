//go:build integration

package boot

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a host pseudo-terminal pair (master, slave).
func openPTY(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no host ptys: %v", err)
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
