//go:build integration

package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/podvisor/podvisor/internal/testutil/busyboxroot"
)

// These tests run the real visor binary end to end: `visor boot` is the
// Sentry on the ptrace platform, `visor gofer` serves the bundle's rootfs,
// and busybox runs inside.

// newSentryEnv is an env whose boot and gofer are visor itself.
func newSentryEnv(t *testing.T) *env {
	e := newEnv(t)
	e.standin = ""
	return e
}

// busyboxBundle is a bundle whose rootfs holds the OS's static busybox,
// running args.
func (e *env) busyboxBundle(args []string, edit func(*specs.Spec)) string {
	e.t.Helper()
	dir := e.bundle(args, func(s *specs.Spec) {
		s.Process.Env = []string{"PATH=/bin:/usr/bin:/sbin", "HOME=/root"}
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "mode=755"}},
			specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev"}},
		)
		if edit != nil {
			edit(s)
		}
	})
	if _, err := busyboxroot.Build(filepath.Join(dir, "rootfs")); err != nil {
		e.t.Fatal(err)
	}
	return dir
}

// doScript is the example workload.
const doScript = `echo hi | cat; ls -la /; wc -l /etc/passwd; (sleep 1 & wait); find / -xdev | sort | head`

func TestSentryDo(t *testing.T) {
	e := newSentryEnv(t)
	rootfs := t.TempDir()
	if _, err := busyboxroot.Build(rootfs); err != nil {
		t.Fatal(err)
	}
	r := e.visorCmd("do", "--rootfs", rootfs, "--", "/bin/busybox", "sh", "-c", doScript)
	if r.code != 0 {
		t.Fatalf("visor do: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	// The same script natively, in a chroot of the same tree.
	native, err := exec.Command("chroot", rootfs, "/bin/busybox", "sh", "-c", "wc -l /etc/passwd; find / -xdev | sort | head").Output()
	if err != nil {
		t.Fatalf("native run in a chroot: %v", err)
	}
	lines := strings.Split(r.stdout, "\n")
	if lines[0] != "hi" {
		t.Errorf("first line %q, want hi", lines[0])
	}
	for _, want := range []string{"etc", "bin", "proc", "dev"} {
		if !strings.Contains(r.stdout, " "+want+"\n") {
			t.Errorf("ls -la / lacks %s:\n%s", want, r.stdout)
		}
	}
	if !strings.HasSuffix(r.stdout, string(native)) {
		t.Errorf("sandboxed output ends\n%s\nnative output is\n%s", r.stdout, native)
	}
	// The overlay kept the sandbox's writes away from the host tree.
	r = e.visorCmd("do", "--rootfs", rootfs, "--", "/bin/sh", "-c", "echo x > /etc/written && cat /etc/written")
	if r.code != 0 || r.stdout != "x\n" {
		t.Errorf("write in the overlay: exit %d, %q, %s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(rootfs, "etc/written")); !os.IsNotExist(err) {
		t.Errorf("visor do wrote to the host tree: %v", err)
	}
}

func TestSentryRunExitCodes(t *testing.T) {
	e := newSentryEnv(t)
	tests := []struct {
		name   string
		script string
		want   int
		stdout string
	}{
		{name: "success", script: "echo ok", want: 0, stdout: "ok\n"},
		{name: "exit3", script: "exit 3", want: 3},
		{name: "killed", script: "sleep 100 & kill -9 $!; wait $!", want: 137},
		{name: "pipeline", script: "seq 1 1000 | sort -rn | head -1", want: 0, stdout: "1000\n"},
		{name: "hostname", script: "hostname; uname -n", want: 0, stdout: "sandboxed\nsandboxed\n"},
		{name: "df", script: "df / >/dev/null && echo df-ok", want: 0, stdout: "df-ok\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.visorCmd("run", "--bundle", e.busyboxBundle([]string{"sh", "-c", tc.script}, nil), e.id(tc.name))
			if r.code != tc.want || r.stdout != tc.stdout {
				t.Errorf("exit %d, stdout %q; want %d, %q (stderr %q)", r.code, r.stdout, tc.want, tc.stdout, r.stderr)
			}
		})
	}
}

func TestSentryLifecycle(t *testing.T) {
	e := newSentryEnv(t)
	id := e.id("life")
	dir := e.busyboxBundle([]string{"sh", "-c", `trap "echo got TERM; exit 7" TERM; echo started > /tmp/started; while true; do sleep 1; done`}, nil)
	e.must("create", "--bundle", dir, id)
	status := func() string {
		var st struct{ Status string }
		if err := json.Unmarshal([]byte(e.must("state", id)), &st); err != nil {
			t.Fatal(err)
		}
		return st.Status
	}
	if s := status(); s != "created" {
		t.Fatalf("status after create %q, want created", s)
	}
	e.must("start", id)
	if s := status(); s != "running" {
		t.Fatalf("status after start %q, want running", s)
	}
	// exec waits for the shell to have written its mark.
	out := e.must("exec", id, "sh", "-c", "while [ ! -e /tmp/started ]; do sleep 0.1; done; cat /tmp/started; echo pid $$")
	if !strings.HasPrefix(out, "started\npid ") || strings.HasSuffix(out, "pid 1\n") {
		t.Errorf("exec output %q", out)
	}
	if r := e.visorCmd("exec", id, "sh", "-c", "exit 5"); r.code != 5 {
		t.Errorf("exec exit code %d, want 5", r.code)
	}
	ps := e.must("ps", id)
	if !strings.Contains(ps, "sh -c trap") {
		t.Errorf("ps lacks the first process:\n%s", ps)
	}
	if list := e.must("list"); !strings.Contains(list, id) || !strings.Contains(list, "running") {
		t.Errorf("list:\n%s", list)
	}
	e.must("kill", id, "TERM")
	deadline := time.Now().Add(30 * time.Second)
	for status() != "stopped" {
		if time.Now().After(deadline) {
			t.Fatal("container still running 30s after SIGTERM")
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.must("delete", id)
	if r := e.visorCmd("state", id); r.code == 0 {
		t.Errorf("state after delete succeeded: %s", r.stdout)
	}

	// delete --force of a running container.
	id2 := e.id("force")
	dir2 := e.busyboxBundle([]string{"sleep", "1000"}, nil)
	e.must("run", "--detach", "--bundle", dir2, id2)
	var st struct{ Pid int }
	json.Unmarshal([]byte(e.must("state", id2)), &st)
	if r := e.visorCmd("delete", id2); r.code == 0 {
		t.Error("delete of a running container succeeded without --force")
	}
	e.must("delete", "--force", id2)
	assertGone(t, e, id2, st.Pid, "/sys/fs/cgroup/pids/visor-it-"+e.suffix+"/"+filepath.Base(dir2))
}

// TestSentryConsole: a terminal container's shell reads from and writes
// to the pty whose master went to the console socket.
func TestSentryConsole(t *testing.T) {
	e := newSentryEnv(t)
	id := e.id("tty")
	sock, got := recvConsole(t)
	dir := e.busyboxBundle([]string{"sh", "-c", `[ -t 0 ] && echo stdin-is-a-tty; read x; echo "got $x"; sleep 1000`}, func(s *specs.Spec) {
		s.Process.Terminal = true
		s.Process.ConsoleSize = &specs.Box{Height: 30, Width: 100}
	})
	e.must("create", "--bundle", dir, "--console-socket", sock, id)
	master := <-got
	if master == nil {
		t.Fatal("no pty master received")
	}
	defer master.Close()
	e.must("start", id)
	if _, err := master.Write([]byte("abc\n")); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tmp := make([]byte, 4096)
	for !strings.Contains(buf.String(), "got abc") {
		master.SetReadDeadline(time.Now().Add(30 * time.Second))
		n, err := master.Read(tmp)
		if err != nil {
			t.Fatalf("reading pty: %v (got %q)", err, buf.String())
		}
		buf.Write(tmp[:n])
	}
	if !strings.Contains(buf.String(), "stdin-is-a-tty") {
		t.Errorf("terminal output %q: stdin is not a tty", buf.String())
	}

	// exec --tty with its own console socket and a size from --process.
	sock2, got2 := recvConsole(t)
	proc := filepath.Join(t.TempDir(), "process.json")
	pj, _ := json.Marshal(specs.Process{Terminal: true, Args: []string{"sh", "-c", "stty size; sleep 1"}, Cwd: "/", Env: []string{"PATH=/bin"}, ConsoleSize: &specs.Box{Height: 25, Width: 81}})
	os.WriteFile(proc, pj, 0o644)
	execDone := make(chan result, 1)
	go func() { execDone <- e.visorCmd("exec", "--console-socket", sock2, "--process", proc, id) }()
	master2 := <-got2
	if master2 == nil {
		t.Fatal("no pty master received for exec")
	}
	defer master2.Close()
	buf.Reset()
	for !strings.Contains(buf.String(), "\n") {
		master2.SetReadDeadline(time.Now().Add(30 * time.Second))
		n, err := master2.Read(tmp)
		if err != nil {
			t.Fatalf("reading exec pty: %v (got %q)", err, buf.String())
		}
		buf.Write(tmp[:n])
	}
	if strings.TrimSpace(buf.String()) != "25 81" {
		t.Errorf("exec terminal size %q, want 25 81", buf.String())
	}
	if r := <-execDone; r.code != 0 {
		t.Errorf("exec --tty: exit %d: %s", r.code, r.stderr)
	}
	e.must("delete", "--force", id)
}

// escapeC tries, from inside the sandbox, what only the host kernel could
// grant: kill a host process, open raw sockets, ptrace, mount, and
// create a file by an absolute host path.
const escapeC = `
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#define T(expr) do { errno = 0; long r_ = (long)(expr); printf("%s = %ld %s\n", #expr, r_, r_ < 0 ? strerrorname_np(errno) : "ok"); } while (0)
int main(int argc, char **argv) {
	int hostpid = atoi(argv[1]);
	T(syscall(SYS_kill, hostpid, SIGKILL));
	T(syscall(SYS_ptrace, PTRACE_ATTACH, hostpid, 0, 0));
	T(syscall(SYS_socket, AF_PACKET, SOCK_RAW, 0));
	T(syscall(SYS_socket, AF_INET, SOCK_RAW, 255));
	T(syscall(SYS_mount, "/", argv[2], "none", MS_BIND, 0));
	T(syscall(SYS_open, argv[3], O_WRONLY | O_CREAT, 0644));
	return 0;
}
`

func TestSentryEscape(t *testing.T) {
	e := newSentryEnv(t)
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Fatalf("gcc is needed to build the escape program: %v", err)
	}
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret")
	if err := os.WriteFile(secret, []byte("HOST SECRET\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "escape.c")
	os.WriteFile(src, []byte(escapeC), 0o644)
	prog := filepath.Join(t.TempDir(), "escape")
	if out, err := exec.Command(gcc, "-static", "-O2", "-o", prog, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc -static: %v\n%s", err, out)
	}
	host := exec.Command("sleep", "1000")
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { host.Process.Kill(); host.Wait() }()
	created := filepath.Join(outside, "created-by-sandbox")

	dir := e.busyboxBundle([]string{"sh", "-c", `
		cat /abs /rel /etc/../../../../..` + secret + ` /proc/self/root` + secret + ` /proc/1/root/../..` + secret + ` 2>&1
		/bin/escape ` + strconv.Itoa(host.Process.Pid) + ` ` + outside + ` ` + created + `
	`}, nil)
	rootfs := filepath.Join(dir, "rootfs")
	b, _ := os.ReadFile(prog)
	os.WriteFile(filepath.Join(rootfs, "bin/escape"), b, 0o755)
	os.Symlink(secret, filepath.Join(rootfs, "abs"))
	os.Symlink("../../../../../../../.."+secret, filepath.Join(rootfs, "rel"))

	r := e.visorCmd("run", "--bundle", dir, e.id("escape"))
	t.Logf("escape attempts:\n%s%s", r.stdout, r.stderr)
	if strings.Contains(r.stdout, "HOST SECRET") {
		t.Error("the sandbox read a host file outside its rootfs")
	}
	if n := strings.Count(r.stdout, "No such file or directory"); n != 5 {
		t.Errorf("%d of 5 escape paths ended in ENOENT", n)
	}
	for _, call := range []string{"SYS_kill", "SYS_ptrace", "SYS_socket, AF_PACKET", "SYS_socket, AF_INET", "SYS_mount", "SYS_open"} {
		line := ""
		for _, l := range strings.Split(r.stdout, "\n") {
			if strings.Contains(l, call) {
				line = l
			}
		}
		if call == "SYS_open" || call == "SYS_mount" {
			// Inside the sandbox these act on the sandbox's own tree
			// (or fail); the host must not see them.
			continue
		}
		if !strings.Contains(line, "= -1 ") {
			t.Errorf("%s did not fail: %q", call, line)
		}
	}
	if err := syscallKill0(host.Process.Pid); err != nil {
		t.Errorf("the host process died: %v", err)
	}
	if _, err := os.Stat(created); !os.IsNotExist(err) {
		t.Errorf("the sandbox created %s on the host: %v", created, err)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 1 {
		t.Errorf("the host directory changed: %v", ents)
	}
}

// syscallKill0 reports whether pid exists (kill with signal 0).
func syscallKill0(pid int) error { return unix.Kill(pid, 0) }

// TestSentryMounts: bind mounts of host directories and files reach the
// sandbox through the Gofer (writable or not, as config.json says); tmpfs
// and a read-only root behave as on Linux.
func TestSentryMounts(t *testing.T) {
	e := newSentryEnv(t)
	data, ro := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(data, "in"), []byte("from the host\n"), 0o644)
	os.WriteFile(filepath.Join(ro, "file"), []byte("read-only file\n"), 0o644)
	dir := e.busyboxBundle([]string{"sh", "-c", `
		cat /data/in; echo written > /data/out
		cat /etc/motd; echo x > /etc/motd || echo motd-ro
		echo y > /root/f || echo root-ro
		echo z > /tmp/f && cat /tmp/f
	`}, func(s *specs.Spec) {
		s.Root.Readonly = true
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: "/data", Source: data, Options: []string{"rbind", "rw"}},
			specs.Mount{Destination: "/etc/motd", Source: filepath.Join(ro, "file"), Options: []string{"bind", "ro"}},
		)
	})
	r := e.visorCmd("run", "--bundle", dir, e.id("mounts"))
	want := "from the host\nread-only file\n" +
		"sh: can't create /etc/motd: Read-only file system\nmotd-ro\n" +
		"sh: can't create /root/f: Read-only file system\nroot-ro\nz\n"
	got := r.stdout + r.stderr
	for _, line := range strings.Split(strings.TrimSpace(want), "\n") {
		if !strings.Contains(got, line+"\n") {
			t.Errorf("output lacks %q:\n%s", line, got)
		}
	}
	if b, err := os.ReadFile(filepath.Join(data, "out")); err != nil || string(b) != "written\n" {
		t.Errorf("host sees /data/out = %q, %v; want written", b, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "rootfs", "root", "f")); !os.IsNotExist(err) {
		t.Errorf("a write reached the read-only rootfs: %v", err)
	}
}
