//go:build integration

package boot

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/podvisor/podvisor/internal/testutil/busyboxroot"
)

// sandbox boots a Sentry on a busybox root for one test.
func sandbox(t *testing.T) *Sentry {
	t.Helper()
	return sandboxOn(t, rootDir(t))
}

// rootDir builds a busybox root (with the test C programs in /bin).
func rootDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := busyboxroot.Build(dir); err != nil {
		t.Fatal(err)
	}
	for _, p := range cPrograms(t) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "bin", filepath.Base(p)), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

var (
	buildOnce sync.Once
	built     []string
	builtDir  string
	buildErr  error
)

// cPrograms compiles testdata/*.c statically, and testdata/goprog (once
// per test binary).
func cPrograms(t *testing.T) []string {
	t.Helper()
	buildOnce.Do(func() {
		out, err := os.MkdirTemp("", "sentry-cprogs-")
		if err != nil {
			buildErr = err
			return
		}
		builtDir = out
		srcs, _ := filepath.Glob("testdata/*.c")
		for _, src := range srcs {
			bin := filepath.Join(out, strings.TrimSuffix(filepath.Base(src), ".c"))
			cmd := exec.Command("gcc", "-static", "-O1", "-pthread", "-o", bin, src)
			if o, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("gcc (package gcc and libc6-dev are required) %s: %v\n%s", src, err, o)
				return
			}
			built = append(built, bin)
		}
		// A static Go program (the Go runtime's threads, epoll, signals).
		bin := filepath.Join(out, "goprog")
		cmd := exec.Command("go", "build", "-o", bin, "./testdata/goprog")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if o, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build testdata/goprog: %v\n%s", err, o)
			return
		}
		built = append(built, bin)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return built
}

// sandboxOn boots a Sentry on a copy of the host directory dir.
func sandboxOn(t *testing.T, dir string) *Sentry {
	t.Helper()
	ctx := context.Background()
	// Warnings (an application thread dying on the host, for one) go to
	// the test binary's stderr.
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := New(ctx, Config{Hostname: "sandbox", MemoryFileSize: 8 << 30, Logger: logger}, Deps{Root: RootFromHostDir(dir)})
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

func TestIssueScript(t *testing.T) {
	s := sandbox(t)
	r := run(t, s, []string{"/bin/busybox", "sh", "-c", "echo hi | cat; ls -la /; wc -l /etc/passwd; (sleep 1 & wait); find / -xdev | sort | head"})
	t.Logf("stdout:\n%s\nstderr:\n%s\nstatus %#x", r.stdout, r.stderr, r.status)
	if r.status.ShellExitCode() != 0 {
		t.Errorf("exit status %#x", r.status)
	}
}

func TestShell(t *testing.T) {
	s := sandbox(t)
	for _, tc := range []struct {
		name       string
		script     string
		wantStdout string
		wantCode   int
	}{
		{"exit code", "exit 42", "", 42},
		{"false", "false", "", 1},
		{"subshell exit", "(exit 7); echo $?", "7\n", 0},
		{"trap usr1", "trap 'echo got' USR1; kill -USR1 $$; echo after", "got\nafter\n", 0},
		{"trap exit", "trap 'echo bye' EXIT; echo hi", "hi\nbye\n", 0},
		{"killed by signal", "kill -TERM $$", "", 128 + 15},
		{"child killed", "sh -c 'kill -KILL $$'; echo $?", "137\n", 0},
		{"pipeline", "seq 1 1000 | grep 7 | sort -r | head -3 | tr -d 7; echo ${PIPESTATUS:-x}", "99\n98\n99\nx\n", 0},
		{"many pipes", "echo abc | cat | cat | cat | cat | cat | cat | cat | cat | cat | cat | cat | cat | rev", "cba\n", 0},
		{"background wait", "sleep 0.2 & sleep 0.1 & wait; echo done", "done\n", 0},
		{"wait status", "sh -c 'exit 3' & wait $!; echo $?", "3\n", 0},
		{"files", "cd /tmp && echo data > f && cat f && mv f g && ls && rm g && ls | wc -l", "data\ng\n0\n", 0},
		{"mkdir tree", "mkdir -p /tmp/a/b/c && touch /tmp/a/b/c/x && find /tmp/a | sort", "/tmp/a\n/tmp/a/b\n/tmp/a/b/c\n/tmp/a/b/c/x\n", 0},
		{"symlinks", "ln -s /etc/passwd /tmp/l && readlink /tmp/l && head -1 /tmp/l", "/etc/passwd\nroot:x:0:0:root:/root:/bin/sh\n", 0},
		{"redirects", "echo a >/tmp/x; echo b >>/tmp/x; cat </tmp/x; ls /nonexistent 2>/dev/null || echo missing", "a\nb\nmissing\n", 0},
		{"here doc", "cat <<EOF\nline1\nline2\nEOF", "line1\nline2\n", 0},
		{"arithmetic and loops", "i=0; while [ $i -lt 100 ]; do i=$((i+1)); done; echo $i", "100\n", 0},
		{"uname", "uname -sr", "Linux 5.15.0-visor\n", 0},
		{"hostname", "hostname", "sandbox\n", 0},
		{"id", "id", "uid=0(root) gid=0(root)\n", 0},
		{"env", "env | grep ^HOME", "HOME=/root\n", 0},
		{"cwd", "cd /etc && pwd", "/etc\n", 0},
		{"dev null zero", "head -c 5 /dev/zero | od -An -tx1 | tr -d ' '; echo x > /dev/null", "0000000000\n", 0},
		{"stop and continue", "sleep 5 & p=$!; kill -STOP $p; kill -CONT $p; kill $p; wait $p; echo $?", "143\n", 0},
		{"nested shells", "sh -c 'sh -c \"sh -c \\\"echo deep\\\"\"'", "deep\n", 0},
		{"date", "date +%Y | grep -c 20", "1\n", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, s, []string{"/bin/sh", "-c", tc.script})
			if r.stdout != tc.wantStdout || r.status.ShellExitCode() != tc.wantCode {
				t.Errorf("%s:\nstdout %q, want %q\nexit %d, want %d\nstderr %q", tc.script, r.stdout, tc.wantStdout, r.status.ShellExitCode(), tc.wantCode, r.stderr)
			}
		})
	}
}

// native runs argv in a chroot of dir, in new PID and UTS namespaces (so
// it is PID 1, as in a fresh sandbox).
func native(t *testing.T, pristine string, argv []string, env []string) result {
	t.Helper()
	// A private copy, with the device nodes the sandbox's /dev has.
	dir := t.TempDir()
	if out, err := exec.Command("cp", "-a", pristine+"/.", dir).CombinedOutput(); err != nil {
		t.Fatalf("copying the root: %v\n%s", err, out)
	}
	for _, d := range []struct {
		name         string
		major, minor uint32
	}{{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}} {
		if err := syscall.Mknod(filepath.Join(dir, "dev", d.name), syscall.S_IFCHR|0o666, int(d.major<<8|d.minor)); err != nil {
			t.Fatalf("mknod /dev/%s (needs root): %v", d.name, err)
		}
	}
	// A devpts instance of its own on /dev/pts, as in the sandbox.
	pts := filepath.Join(dir, "dev", "pts")
	if err := os.MkdirAll(pts, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("devpts", pts, "devpts", 0, "newinstance,ptmxmode=0666"); err != nil {
		t.Fatalf("mounting devpts (needs root): %v", err)
	}
	defer syscall.Unmount(pts, syscall.MNT_DETACH)
	if err := os.Symlink("pts/ptmx", filepath.Join(dir, "dev", "ptmx")); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: dir, Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWUTS}
	err := cmd.Run()
	var st WaitStatus
	if ee, ok := err.(*exec.ExitError); ok {
		st = WaitStatus(ee.Sys().(syscall.WaitStatus))
	} else if err != nil {
		t.Fatalf("running %q natively (needs root): %v", argv, err)
	}
	return result{stdout: stdout.String(), stderr: stderr.String(), status: st}
}

var defaultEnv = []string{"PATH=/bin:/sbin:/usr/bin:/usr/sbin", "HOME=/root"}

// differential runs argv natively and in a fresh sandbox on the same root
// and requires the same stdout, stderr and exit status.
func differential(t *testing.T, dir string, argv []string) {
	t.Helper()
	want := native(t, dir, argv, defaultEnv)
	s := sandboxOn(t, dir)
	got := run(t, s, argv, defaultEnv...)
	if got.stdout != want.stdout {
		t.Errorf("%q stdout differs (-native +sandbox):\n%s", argv, cmp.Diff(strings.Split(want.stdout, "\n"), strings.Split(got.stdout, "\n")))
	}
	if got.stderr != want.stderr {
		t.Errorf("%q stderr differs:\n--- native\n%s\n--- sandbox\n%s", argv, want.stderr, got.stderr)
	}
	if got.status.ShellExitCode() != want.status.ShellExitCode() {
		t.Errorf("%q exit differs: native %d, sandbox %d", argv, want.status.ShellExitCode(), got.status.ShellExitCode())
	}
}

func TestDifferentialPrograms(t *testing.T) {
	dir := rootDir(t)
	for _, p := range []string{"files", "mem", "threads", "signals", "timeinfo", "efault", "pty", "epoll", "goprog", "bigfile"} {
		t.Run(p, func(t *testing.T) { differential(t, dir, []string{"/bin/" + p}) })
	}
}

func TestProc(t *testing.T) {
	s := sandbox(t)
	for _, tc := range []struct {
		name, script, want string
	}{
		{"self", "readlink /proc/self", "PID\n"},
		{"version", "cat /proc/version | cut -d' ' -f1-3", "Linux version 5.15.0-visor\n"},
		{"cmdline", "cat /proc/self/cmdline | tr '\\0' ' '; echo", "cat /proc/self/cmdline \n"},
		{"comm", "cat /proc/self/comm", "cat\n"},
		{"status", "grep -E '^(Name|State|Uid)' /proc/self/status", "Name:\tgrep\nState:\tS (sleeping)\nUid:\t0\t0\t0\t0\n"},
		{"stat", "cut -d' ' -f2,3 /proc/self/stat", "(cut) S\n"},
		{"fd", "ls /proc/self/fd | sort -n | head -3 | tr '\\n' ' '; echo", "0 1 2 \n"},
		{"fd link", "readlink /proc/self/fd/0", "/dev/null\n"},
		{"cwd", "cd /etc && readlink /proc/self/cwd", "/etc\n"},
		{"root", "readlink /proc/self/root; ls /proc/self/root/etc/passwd", "/\n/proc/self/root/etc/passwd\n"},
		{"root of a process stays inside", "ls /proc/$$/root/ | grep -c '^bin$'", "1\n"},
		{"exe", "readlink /proc/self/exe", "/bin/busybox\n"},
		{"maps", "grep -c busybox /proc/self/maps", "5\n"},
		{"mounts", "grep -E ' /(proc|dev) ' /proc/mounts | cut -d' ' -f2,3", "/dev tmpfs\n/proc proc\n"},
		{"meminfo", "grep -c MemTotal /proc/meminfo", "1\n"},
		{"cpuinfo", "grep -c processor /proc/cpuinfo | grep -vc '^0$'", "1\n"},
		{"uptime", "cut -d. -f1 /proc/uptime | grep -c '^[0-9]'", "1\n"},
		{"ps", "ps -o pid,comm | grep -c ' ps$'", "1\n"},
		{"thread-self", "readlink /proc/thread-self | grep -c /task/", "1\n"},
		{"escape via root", "cat /proc/self/root/../../../../etc/hostname", "sandbox\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, s, []string{"/bin/sh", "-c", tc.script})
			want := tc.want
			if strings.Contains(want, "PID") {
				// The shell execs the last command: self is its PID.
				want = ""
				if n := len(r.stdout); n > 0 {
					want = r.stdout
				}
			}
			if r.stdout != want || r.status.ShellExitCode() != 0 {
				t.Errorf("%s: stdout %q, want %q; exit %d; stderr %q", tc.script, r.stdout, want, r.status.ShellExitCode(), r.stderr)
			}
		})
	}
}

func TestDifferentialScripts(t *testing.T) {
	dir := rootDir(t)
	for _, tc := range []struct{ name, script string }{
		{"issue script", "echo hi | cat; ls -la / | grep -v -e proc -e dev | wc -l; wc -l /etc/passwd; (sleep 1 & wait); find / -xdev -path /proc -prune -o -print | grep -v -e '^/proc' -e '^/dev' | sort | head"},
		{"exit codes", "sh -c 'exit 3'; echo $?; (exit 4); echo $?; false | true; echo $?; ! true; echo $?"},
		{"traps", "trap 'echo usr1' USR1; trap 'echo usr2' USR2; kill -USR1 $$; kill -USR2 $$; trap - USR1; echo done"},
		{"signal deaths", "for s in HUP INT TERM KILL USR1 SEGV ABRT; do sh -c \"kill -$s \\$\\$\"; echo $s $?; done"},
		// The shell's "Terminated" notice races with wait (natively too):
		// only stdout and the status are compared.
		{"job control basics", "exec 2>/dev/null; sleep 3 & p=$!; kill -STOP $p; sleep 0.1; kill -CONT $p; kill -TERM $p; wait $p; echo $?"},
		{"many processes in a pipe", "seq 1 20000 | grep 1 | sed s/1/one/ | awk '{print length($0)}' | sort -n | uniq -c | sort -rn | head -3"},
		{"deep fork tree", "f() { if [ $1 -gt 0 ]; then (f $(($1-1))); else echo bottom; fi; }; f 200; echo $?"},
		{"wide fork", "for i in $(seq 1 100); do (exit $((i % 7))) & done; wait; echo all done"},
		{"10k files", "mkdir /tmp/many && cd /tmp/many && i=0; while [ $i -lt 10000 ]; do : > f$i; i=$((i+1)); done; ls | wc -l; ls -f | sort | head -3; rm -r /tmp/many; echo removed"},
		{"text tools", "cat /etc/passwd | cut -d: -f1,3 | sort -t: -k2 -n | tr a-z A-Z; md5sum /etc/group; sha256sum /etc/hosts | cut -c1-16"},
		{"file ops", "cd /tmp && mkdir -p x/y && echo 1 > x/y/a && cp -r x z && mv z/y/a z/y/b && ls -R z && rm -rf x z && ls"},
		{"dd and sizes", "dd if=/dev/zero of=/tmp/big bs=1024 count=4096 2>/dev/null; ls -l /tmp/big | awk '{print $5}'; rm /tmp/big"},
		{"tar roundtrip", "cd /tmp && mkdir t && echo hello > t/f && tar cf t.tar t && rm -r t && tar xf t.tar && cat t/f"},
		{"here strings and vars", "x=abc; y=${x#a}; echo ${#x} $y ${x%c}; set -- a b c; echo $# $2"},
		{"read loop", "printf 'a 1\\nb 2\\nc 3\\n' | while read k v; do echo $v$k; done"},
		{"printf and expr", "printf '%05d %x %s\\n' 42 255 str; expr 6 \\* 7; expr length hello"},
		{"xargs and find", "find /etc -type f | sort | xargs wc -l | tail -1"},
	} {
		t.Run(tc.name, func(t *testing.T) { differential(t, dir, []string{"/bin/sh", "-c", tc.script}) })
	}
}

// TestFuzzSyscalls runs random system calls with garbage arguments in the
// sandbox: the Sentry must survive all of them and keep running programs.
func TestFuzzSyscalls(t *testing.T) {
	s := sandbox(t)
	r := run(t, s, []string{"/bin/fuzz", "30"})
	if r.stdout != "fuzz done: 30 rounds\n" || r.status.ShellExitCode() != 0 {
		t.Fatalf("fuzzer: stdout %q stderr %q status %#x", r.stdout, r.stderr, r.status)
	}
	if r := run(t, s, []string{"/bin/echo", "still alive"}); r.stdout != "still alive\n" {
		t.Errorf("after fuzzing: %q %q", r.stdout, r.stderr)
	}
}

// TestEscapes tries to reach the host from inside: signals to host
// processes and PID 1, sockets, ptrace, path tricks, mounts.
func TestEscapes(t *testing.T) {
	dir := rootDir(t)
	// A host process the sandbox must not be able to signal, and a host
	// file it must not see.
	host := exec.Command("sleep", "60")
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	defer host.Process.Kill()
	if err := os.WriteFile(filepath.Join(filepath.Dir(dir), "hostname"), []byte("HOST SECRET\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hostMounts, _ := os.ReadFile("/proc/self/mountinfo")
	s := sandboxOn(t, dir)
	r := run(t, s, []string{"/bin/escape", fmt.Sprint(host.Process.Pid)})
	t.Logf("escape output:\n%s%s", r.stdout, r.stderr)
	for _, want := range []string{
		"kill(1, SIGKILL)                                   0 -",
		fmt.Sprintf("kill(hostpid, SIGKILL)                             -1 ESRCH"),
		"socket(AF_PACKET, SOCK_RAW, 0)                     -1 EAFNOSUPPORT",
		"socket(AF_INET, SOCK_RAW, 255)                     -1 EAFNOSUPPORT",
		"ptrace(PTRACE_ATTACH, 1, 0, 0)                     -1 EPERM",
		"via ..: sandbox",
		"via relative symlink: sandbox",
		"via /proc/self/root: sandbox",
		"after chroot, escape by ..: -1 ENOENT",
		"done",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("escape output lacks %q", want)
		}
	}
	if strings.Contains(r.stdout, "HOST SECRET") {
		t.Errorf("the sandbox read a host file:\n%s", r.stdout)
	}
	// The host process is alive, and the host's mounts are unchanged.
	if err := host.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("host process gone: %v", err)
	}
	if now, _ := os.ReadFile("/proc/self/mountinfo"); !bytes.Equal(now, hostMounts) {
		t.Errorf("host mounts changed:\nbefore:\n%s\nafter:\n%s", hostMounts, now)
	}
	// PID 1 of the sandbox (the escape program itself was PID 1 and
	// survived its own SIGKILL, since PID 1 ignores signals it does not
	// handle): the sandbox keeps working.
	if r := run(t, s, []string{"/bin/echo", "ok"}); r.stdout != "ok\n" {
		t.Errorf("sandbox after escapes: %q %q", r.stdout, r.stderr)
	}
}

// TestDynamicPrograms runs dynamically linked programs: the loader maps
// the interpreter (PT_INTERP), which maps libc through mmap of files.
func TestDynamicPrograms(t *testing.T) {
	dir := rootDir(t)
	for _, lib := range []string{"/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"} {
		b, err := os.ReadFile(lib)
		if err != nil {
			t.Fatalf("the dynamic test needs %s (package libc6): %v", lib, err)
		}
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(lib)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, lib), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, src := range []string{"files", "threads", "signals"} {
		bin := filepath.Join(dir, "bin", src+"-dyn")
		if out, err := exec.Command("gcc", "-O1", "-pthread", "-o", bin, filepath.Join("testdata", src+".c")).CombinedOutput(); err != nil {
			t.Fatalf("gcc: %v\n%s", err, out)
		}
		t.Run(src, func(t *testing.T) { differential(t, dir, []string{"/bin/" + src + "-dyn"}) })
	}
}
