//go:build integration

package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/podvisor/podvisor/internal/sandbox/console"
)

// recvConsole listens on a fresh console socket and returns its path and
// a channel that yields the pty master sent to it (nil on failure).
func recvConsole(t *testing.T) (string, <-chan *os.File) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "console.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() }) // a test that fails early unblocks the accept
	got := make(chan *os.File, 1)
	go func() {
		defer ln.Close()
		c, err := ln.AcceptUnix()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		f, _ := console.RecvMaster(c)
		got <- f
	}()
	return sock, got
}

// readUntil reads the pty master until out contains marker.
func readUntil(t *testing.T, master *os.File, marker string) string {
	t.Helper()
	var buf bytes.Buffer
	tmp := make([]byte, 4096)
	for !strings.Contains(buf.String(), marker) {
		master.SetReadDeadline(time.Now().Add(30 * time.Second))
		n, err := master.Read(tmp)
		if err != nil {
			t.Fatalf("reading pty: %v (got %q)", err, buf.String())
		}
		buf.Write(tmp[:n])
	}
	return strings.ReplaceAll(buf.String(), "\r\n", "\n")
}

// TestSentryTerminalIsATTY: a terminal container's stdio is a terminal
// the application recognises, as under runc: isatty and TCGETS work, `tty`
// prints /dev/pts/0, /proc/self/fd/0 links there, /dev/console is the
// same device, and TIOCGWINSZ returns the size from config.json. A
// terminal of `visor exec -t` is the next /dev/pts entry.
func TestSentryTerminalIsATTY(t *testing.T) {
	e := newSentryEnv(t)
	id := e.id("isatty")
	sock, got := recvConsole(t)
	dir := e.busyboxBundle([]string{"sh", "-c", `
		[ -t 0 ] && echo stdin-isatty
		echo "tty=$(tty)"
		echo "fd0=$(readlink /proc/self/fd/0)"
		echo "size=$(stty size)"
		stat -c "console=%t,%T,%i" /dev/console
		stat -c "pts0=%t,%T,%i" /dev/pts/0
		stat -L -c "stdin=%t,%T,%i" /proc/self/fd/0
		echo done-first
		read x; echo "got $x"
		sleep 1000`}, func(s *specs.Spec) {
		s.Process.Terminal = true
		s.Process.ConsoleSize = &specs.Box{Height: 33, Width: 111}
	})
	e.must("create", "--bundle", dir, "--console-socket", sock, id)
	master := <-got
	if master == nil {
		t.Fatal("no pty master received")
	}
	defer master.Close()
	e.must("start", id)
	out := readUntil(t, master, "done-first")
	field := func(key string) string {
		for _, l := range strings.Split(out, "\n") {
			if v, ok := strings.CutPrefix(l, key+"="); ok {
				return v
			}
		}
		return ""
	}
	if !strings.Contains(out, "stdin-isatty\n") {
		t.Errorf("[ -t 0 ] is false:\n%s", out)
	}
	for key, want := range map[string]string{"tty": "/dev/pts/0", "fd0": "/dev/pts/0", "size": "33 111"} {
		if g := field(key); g != want {
			t.Errorf("%s = %q, want %q\n%s", key, g, want, out)
		}
	}
	if c, p, s := field("console"), field("pts0"), field("stdin"); c == "" || c != p || p != s || !strings.HasPrefix(p, "88,0,") {
		t.Errorf("/dev/console %q, /dev/pts/0 %q and stdin %q should be one device 136:0 (88,0 in hex)", c, p, s)
	}
	if _, err := master.Write([]byte("typed\n")); err != nil {
		t.Fatal(err)
	}
	readUntil(t, master, "got typed")

	// exec -t gets a terminal of its own: the next index.
	sock2, got2 := recvConsole(t)
	done := make(chan result, 1)
	go func() {
		done <- e.visorCmd("exec", "-t", "--console-socket", sock2, id, "sh", "-c", "tty; ls -1 /dev/pts")
	}()
	master2 := <-got2
	if master2 == nil {
		t.Fatal("no pty master received for exec")
	}
	defer master2.Close()
	out2 := readUntil(t, master2, "ptmx")
	if !strings.HasPrefix(out2, "/dev/pts/1\n") || !strings.Contains(out2, "0\n1\nptmx") {
		t.Errorf("exec -t: tty and ls /dev/pts printed %q, want /dev/pts/1 then 0 1 ptmx", out2)
	}
	if r := <-done; r.code != 0 {
		t.Errorf("exec -t: exit %d: %s", r.code, r.stderr)
	}
	// /dev/console opens the container's terminal, from any process.
	e.must("exec", id, "sh", "-c", "echo via-console > /dev/console")
	readUntil(t, master, "via-console")
	e.must("delete", "--force", id)
}
