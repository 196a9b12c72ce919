//go:build integration

package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/podvisor/podvisor/internal/sandbox/console"
)

// These tests run the real visor CLI with a stand-in for `visor boot` and
// `visor gofer` (testdata/standin): real namespaces, cgroups, descriptors,
// control protocol, state files and console sockets; fake programs inside.

var bins struct {
	once           sync.Once
	dir            string
	visor, standin string
	err            error
}

// TestMain removes the binaries built for the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if bins.dir != "" {
		os.RemoveAll(bins.dir)
	}
	os.Exit(code)
}

func binaries(t *testing.T) (visor, standin string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("visor integration tests need root (namespaces, cgroups)")
	}
	bins.once.Do(func() {
		dir, err := os.MkdirTemp("", "visor-it-")
		if err != nil {
			bins.err = err
			return
		}
		bins.dir = dir
		build := func(out string, args ...string) {
			if bins.err != nil {
				return
			}
			cmd := exec.Command("go", append([]string{"build", "-o", out}, args...)...)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if b, err := cmd.CombinedOutput(); err != nil {
				bins.err = fmt.Errorf("go build %v: %v\n%s", args, err, b)
			}
		}
		bins.visor = filepath.Join(dir, "visor")
		if d := os.Getenv("PODVISOR_BIN_DIR"); d != "" {
			if _, err := os.Stat(filepath.Join(d, "visor")); err == nil {
				bins.visor = filepath.Join(d, "visor")
			}
		}
		if bins.visor == filepath.Join(dir, "visor") {
			build(bins.visor, ".")
		}
		bins.standin = filepath.Join(dir, "standin")
		build(bins.standin, "-tags", "integration", "./testdata/standin")
	})
	if bins.err != nil {
		t.Fatalf("building binaries: %v", bins.err)
	}
	return bins.visor, bins.standin
}

// env is one test's visor: its own root and unique container IDs.
type env struct {
	t       *testing.T
	root    string
	visor   string
	standin string
	suffix  string
}

func newEnv(t *testing.T) *env {
	v, s := binaries(t)
	var b [4]byte
	rand.Read(b[:])
	e := &env{t: t, root: t.TempDir(), visor: v, standin: s, suffix: hex.EncodeToString(b[:])}
	t.Cleanup(func() {
		// Whatever a failed test left running goes.
		ents, _ := os.ReadDir(e.root)
		for _, ent := range ents {
			if ent.IsDir() {
				e.visorCmd("delete", "--force", ent.Name())
			}
		}
	})
	return e
}

func (e *env) id(name string) string { return name + "-" + e.suffix }

type result struct {
	stdout, stderr string
	code           int
}

func (e *env) visorCmd(args ...string) result {
	return e.visorIn(nil, args...)
}

func (e *env) visorIn(stdin []byte, args ...string) result {
	global := []string{"--root", e.root}
	if e.standin != "" {
		global = append(global, "--sandbox-binary", e.standin)
	}
	cmd := exec.Command(e.visor, append(global, args...)...)
	// Files, not pipes: a created sandbox keeps the CLI's stdio as the
	// application's (as runc's container does), so a pipe would never see
	// EOF while it lives.
	out, errf := e.tempFile(), e.tempFile()
	defer out.Close()
	defer errf.Close()
	cmd.Stdout, cmd.Stderr = out, errf
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("running visor %v: %v", args, err)
	}
	ob, _ := os.ReadFile(out.Name())
	eb, _ := os.ReadFile(errf.Name())
	return result{string(ob), string(eb), code}
}

func (e *env) tempFile() *os.File {
	f, err := os.CreateTemp(e.t.TempDir(), "out")
	if err != nil {
		e.t.Fatal(err)
	}
	return f
}

func (e *env) must(args ...string) string {
	e.t.Helper()
	r := e.visorCmd(args...)
	if r.code != 0 {
		e.t.Fatalf("visor %v: exit %d: %s", args, r.code, r.stderr)
	}
	return r.stdout
}

// bundle writes a bundle whose process runs the stand-in program args.
func (e *env) bundle(args []string, edit func(*specs.Spec)) string {
	e.t.Helper()
	dir := e.t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "rootfs", "etc"), 0o755); err != nil {
		e.t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "rootfs", "etc", "hostname"), []byte("x\n"), 0o644)
	spec := &specs.Spec{
		Version:  specs.Version,
		Process:  &specs.Process{Args: args, Cwd: "/", Env: []string{"PATH=/bin"}},
		Root:     &specs.Root{Path: "rootfs"},
		Hostname: "sandboxed",
		Mounts:   []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc"}},
		Linux: &specs.Linux{
			Namespaces:  []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace}, {Type: specs.MountNamespace}},
			CgroupsPath: "/visor-it-" + e.suffix + "/" + filepath.Base(dir),
		},
	}
	if edit != nil {
		edit(spec)
	}
	b, err := json.Marshal(spec)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		for _, c := range []string{"cpu", "cpuacct", "cpuset", "memory", "pids", "freezer", "unified", ""} {
			os.Remove(filepath.Join("/sys/fs/cgroup", c, "visor-it-"+e.suffix))
		}
	})
	return dir
}

type report struct {
	PID        int               `json:"pid"`
	NS         map[string]string `json:"ns"`
	Effective  uint64            `json:"effective"`
	Permitted  uint64            `json:"permitted"`
	Bounding   uint64            `json:"bounding"`
	NoNewPrivs int               `json:"noNewPrivs"`
	Root       []string          `json:"root"`
	Cgroup     string            `json:"cgroup"`
	Hostname   string            `json:"hostname"`
	Ptrace     string            `json:"ptrace"`
	StdinTTY   bool              `json:"stdinTTY"`
	Gofer      struct {
		PID          int               `json:"pid"`
		NS           map[string]string `json:"ns"`
		RootReadable bool              `json:"rootReadable"`
		Sockets      int               `json:"sockets"`
	} `json:"gofer"`
}

func hostNS(t *testing.T) map[string]string {
	out := map[string]string{}
	for _, n := range []string{"pid", "mnt", "ipc", "uts", "net"} {
		l, err := os.Readlink("/proc/self/ns/" + n)
		if err != nil {
			t.Fatal(err)
		}
		out[n] = l
	}
	return out
}

// TestSandboxIsolation checks the process model: boot is PID 1 of new
// pid, mount, ipc, uts and net namespaces, sees an empty root, holds no
// capabilities, has no_new_privs, sits in the container's cgroup, and can
// still ptrace a child it starts (what the ptrace platform needs); the
// gofer has its own namespaces and reaches the rootfs; they talk over the
// socket pair.
func TestSandboxIsolation(t *testing.T) {
	e := newEnv(t)
	dir := e.bundle([]string{"report"}, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Source: t.TempDir(), Options: []string{"rbind", "ro"}})
	})
	out := e.must("run", "--bundle", dir, e.id("iso"))
	var r report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("decoding report %q: %v", out, err)
	}
	host := hostNS(t)
	if r.PID != 1 {
		t.Errorf("boot is pid %d in its namespace, want 1", r.PID)
	}
	for _, n := range []string{"pid", "mnt", "ipc", "uts", "net"} {
		if r.NS[n] == host[n] {
			t.Errorf("boot shares the host's %s namespace %s", n, host[n])
		}
	}
	for _, n := range []string{"pid", "mnt", "ipc", "uts", "net"} {
		if r.Gofer.NS[n] == host[n] || r.Gofer.NS[n] == r.NS[n] {
			t.Errorf("gofer %s namespace %s is the host's or boot's", n, r.Gofer.NS[n])
		}
	}
	if r.Effective != 0 || r.Permitted != 0 || r.Bounding != 0 {
		t.Errorf("boot capabilities eff=%#x perm=%#x bnd=%#x, want none", r.Effective, r.Permitted, r.Bounding)
	}
	if r.NoNewPrivs != 1 {
		t.Error("boot lacks no_new_privs")
	}
	if strings.Join(r.Root, ",") != "proc" {
		t.Errorf("boot's root holds %v, want only the proc mount point", r.Root)
	}
	if r.Ptrace != "ok" {
		t.Errorf("ptrace of a child without capabilities: %s", r.Ptrace)
	}
	if !strings.Contains(r.Cgroup, "memory:/visor-it-"+e.suffix+"/") || !strings.Contains(r.Cgroup, "pids:/visor-it-"+e.suffix+"/") {
		t.Errorf("boot is not in the container's cgroup:\n%s", r.Cgroup)
	}
	if r.Hostname != "sandboxed" {
		t.Errorf("hostname %q, want sandboxed", r.Hostname)
	}
	if !r.Gofer.RootReadable || r.Gofer.Sockets != 2 || r.Gofer.PID != 1 {
		t.Errorf("gofer: readable=%v sockets=%d pid=%d; want true, 2 (root + bind), 1", r.Gofer.RootReadable, r.Gofer.Sockets, r.Gofer.PID)
	}
	if ents, _ := os.ReadDir(e.root); len(ents) != 0 {
		t.Errorf("run left %d entries in the root", len(ents))
	}
}

// TestJoinNetworkNamespace: a network namespace path in config.json is
// where boot runs.
func TestJoinNetworkNamespace(t *testing.T) {
	e := newEnv(t)
	name := "visor-it-" + e.suffix
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add (iproute2 needed): %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	nsPath := "/var/run/netns/" + name
	dir := e.bundle([]string{"report"}, func(s *specs.Spec) {
		s.Linux.Namespaces[1].Path = nsPath
	})
	var r report
	if err := json.Unmarshal([]byte(e.must("run", "--bundle", dir, e.id("net"))), &r); err != nil {
		t.Fatal(err)
	}
	var st syscallStat
	want := fmt.Sprintf("net:[%d]", st.ino(t, nsPath))
	if r.NS["net"] != want {
		t.Errorf("boot's network namespace %s, want %s", r.NS["net"], want)
	}
}

func TestLifecycle(t *testing.T) {
	e := newEnv(t)
	id := e.id("life")
	dir := e.bundle([]string{"sleep"}, func(s *specs.Spec) {
		s.Annotations = map[string]string{"team": "sandbox"}
		lim := int64(64 << 20)
		pids := int64(50)
		s.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &lim}, Pids: &specs.LinuxPids{Limit: &pids}}
	})
	pidFile := filepath.Join(t.TempDir(), "pid")
	e.must("create", "--bundle", dir, "--pid-file", pidFile, id)

	state := func() map[string]any {
		var m map[string]any
		if err := json.Unmarshal([]byte(e.must("state", id)), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	st := state()
	pidb, _ := os.ReadFile(pidFile)
	if st["status"] != "created" || fmt.Sprint(st["pid"]) != string(pidb) || st["bundle"] != dir || st["ociVersion"] != specs.Version {
		t.Errorf("state after create: %v (pid file %q)", st, pidb)
	}
	if st["annotations"].(map[string]any)["team"] != "sandbox" {
		t.Errorf("annotations lost: %v", st["annotations"])
	}
	cgDir := "/sys/fs/cgroup/memory/visor-it-" + e.suffix + "/" + filepath.Base(dir)
	if b, err := os.ReadFile(cgDir + "/memory.limit_in_bytes"); err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(64<<20) {
		t.Errorf("memory limit: %q, %v", b, err)
	}
	if r := e.visorCmd("create", "--bundle", dir, id); r.code != 1 || !strings.Contains(r.stderr, "already exists") {
		t.Errorf("second create: exit %d, %q; want 1, already exists", r.code, r.stderr)
	}
	if r := e.visorCmd("exec", id, "echo", "hi"); r.code != 1 || !strings.Contains(r.stderr, "it is created") {
		t.Errorf("exec before start: exit %d, %q", r.code, r.stderr)
	}
	e.must("start", id)
	if st := state(); st["status"] != "running" {
		t.Errorf("status after start: %v", st["status"])
	}
	if r := e.visorCmd("start", id); r.code != 1 || !strings.Contains(r.stderr, "it is running, not created") {
		t.Errorf("second start: exit %d, %q", r.code, r.stderr)
	}
	// exec: output and exit codes propagate.
	if out := e.must("exec", id, "echo", "hello", "there"); out != "hello there\n" {
		t.Errorf("exec echo: %q", out)
	}
	if r := e.visorIn([]byte("piped\n"), "exec", id, "cat"); r.code != 0 || r.stdout != "piped\n" {
		t.Errorf("exec cat: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := e.visorCmd("exec", id, "exit", "7"); r.code != 7 {
		t.Errorf("exec exit 7: got %d", r.code)
	}
	if r := e.visorCmd("exec", id, "nonesuch"); r.code != 127 || !strings.Contains(r.stderr, "nonesuch: not found") {
		t.Errorf("exec nonesuch: %d %q", r.code, r.stderr)
	}
	if out := e.must("ps", "--format", "json", id); strings.TrimSpace(out) != "[1]" {
		t.Errorf("ps json: %q", out)
	}
	if out := e.must("ps", id); !strings.Contains(out, "PID") || !strings.Contains(out, "sleep") {
		t.Errorf("ps table: %q", out)
	}
	var ev struct {
		Type string `json:"type"`
		Data struct {
			Cgroup struct{ Pids, PidsLimit, MemoryLimitBytes uint64 }
			Sentry struct {
				ENOSYS []struct {
					Name  string
					Count uint64
				}
			}
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(e.must("events", "--stats", id)), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != "stats" || ev.Data.Cgroup.Pids < 2 || ev.Data.Cgroup.PidsLimit != 50 || ev.Data.Cgroup.MemoryLimitBytes != 64<<20 ||
		len(ev.Data.Sentry.ENOSYS) != 1 || ev.Data.Sentry.ENOSYS[0].Name != "standin_syscall" {
		t.Errorf("events: %+v", ev)
	}
	if out := e.must("list", "--format", "json"); !strings.Contains(out, `"id": "`+id+`"`) {
		t.Errorf("list json: %s", out)
	}
	if r := e.visorCmd("delete", id); r.code != 1 || !strings.Contains(r.stderr, "it is running") {
		t.Errorf("delete running: exit %d, %q", r.code, r.stderr)
	}
	e.must("kill", id, "TERM")
	// The sandbox records the status and exits; state sees it.
	deadline := time.Now().Add(10 * time.Second)
	for state()["status"] != "stopped" {
		if time.Now().After(deadline) {
			t.Fatal("container did not stop after SIGTERM")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if ex := state()["exit"].(map[string]any); ex["signal"] != float64(15) {
		t.Errorf("exit status %v, want signal 15", ex)
	}
	if r := e.visorCmd("kill", id, "KILL"); r.code != 1 || !strings.Contains(r.stderr, "it is stopped") {
		t.Errorf("kill stopped: exit %d, %q", r.code, r.stderr)
	}
	sandboxPID, _ := strconv.Atoi(string(pidb))
	e.must("delete", id)
	assertGone(t, e, id, sandboxPID, cgDir)
}

// assertGone checks that nothing of a container is left: state, lock,
// cgroup, processes.
func assertGone(t *testing.T, e *env, id string, pid int, cgDir string) {
	t.Helper()
	if r := e.visorCmd("state", id); r.code != 1 || !strings.Contains(r.stderr, "does not exist") {
		t.Errorf("state after delete: exit %d, %q", r.code, r.stderr)
	}
	if ents, _ := os.ReadDir(e.root); len(ents) != 0 {
		var names []string
		for _, x := range ents {
			names = append(names, x.Name())
		}
		t.Errorf("root still holds %v", names)
	}
	if _, err := os.Stat(cgDir); !os.IsNotExist(err) {
		t.Errorf("cgroup %s still exists", cgDir)
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && !strings.Contains(string(b), ") Z") {
		t.Errorf("sandbox process %d still alive: %s", pid, b)
	}
}

func TestRunExitCodes(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"success", []string{"echo", "ok"}, 0},
		{"exit 3", []string{"exit", "3"}, 3},
		{"not found", []string{"nonesuch"}, 127},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.visorCmd("run", "--bundle", e.bundle(tc.args, nil), e.id(strings.ReplaceAll(tc.name, " ", "")))
			if r.code != tc.want {
				t.Errorf("exit %d, want %d (stderr %q)", r.code, tc.want, r.stderr)
			}
		})
	}
}

func TestCLIErrors(t *testing.T) {
	e := newEnv(t)
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, "config.json"), []byte(`{"ociVersion":"1.0.0","process":{"args":["x"],"cwd":"relative"},"root":{"path":"rootfs"}}`), 0o644)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing bundle", []string{"create", "--bundle", "/no/such/bundle", "x"}, "bundle directory /no/such/bundle does not exist"},
		{"bad config", []string{"create", "--bundle", bad, "x"}, `process.cwd: "relative" is not absolute`},
		{"bad id", []string{"create", "--bundle", bad, "a/b"}, "invalid container id"},
		{"not found", []string{"state", "nope"}, "container does not exist: nope"},
		{"start missing", []string{"start", "nope"}, "container does not exist"},
		{"bad signal", []string{"kill", "nope", "SIGFOO"}, `unknown signal "SIGFOO"`},
		{"no id", []string{"state"}, "needs exactly one container ID"},
		{"terminal without socket", []string{"create", "--bundle", e.bundle([]string{"x"}, func(s *specs.Spec) { s.Process.Terminal = true }), "t"}, "give --console-socket"},
		{"bad log format", []string{"--log-format", "xml", "list"}, `--log-format "xml"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.visorCmd(tc.args...)
			if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want 1 and %q", r.code, r.stderr, tc.want)
			}
		})
	}
}

// TestConcurrentCLI: racing CLIs on one ID are serialised (exactly one
// create wins, every delete after it sees a consistent state), and
// different IDs proceed side by side.
func TestConcurrentCLI(t *testing.T) {
	e := newEnv(t)
	dir := e.bundle([]string{"sleep"}, nil)
	id := e.id("race")
	const n = 6
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = e.visorCmd("create", "--bundle", dir, id)
		}()
	}
	wg.Wait()
	wins := 0
	for _, r := range results {
		switch {
		case r.code == 0:
			wins++
		case !strings.Contains(r.stderr, "already exists"):
			t.Errorf("losing create: exit %d, %q", r.code, r.stderr)
		}
	}
	if wins != 1 {
		t.Fatalf("%d creates won, want 1", wins)
	}
	// Concurrent starts: one wins, the rest see "running".
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = e.visorCmd("start", id)
		}()
	}
	wg.Wait()
	wins = 0
	for _, r := range results {
		if r.code == 0 {
			wins++
		} else if !strings.Contains(r.stderr, "it is running") {
			t.Errorf("losing start: %q", r.stderr)
		}
	}
	if wins != 1 {
		t.Errorf("%d starts won, want 1", wins)
	}
	// Concurrent force deletes: one deletes, the others find nothing.
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = e.visorCmd("delete", "--force", id)
		}()
	}
	wg.Wait()
	wins = 0
	for _, r := range results {
		if r.code == 0 {
			wins++
		} else if !strings.Contains(r.stderr, "does not exist") {
			t.Errorf("losing delete: %q", r.stderr)
		}
	}
	if wins != 1 {
		t.Errorf("%d deletes won, want 1", wins)
	}
	if ents, _ := os.ReadDir(e.root); len(ents) != 0 {
		t.Errorf("root not empty after concurrent deletes: %d entries", len(ents))
	}
}

func TestDeleteForce(t *testing.T) {
	e := newEnv(t)
	id := e.id("force")
	dir := e.bundle([]string{"sleep"}, nil)
	e.must("run", "--detach", "--bundle", dir, id)
	var st struct{ Pid int }
	json.Unmarshal([]byte(e.must("state", id)), &st)
	e.must("delete", "--force", id)
	assertGone(t, e, id, st.Pid, "/sys/fs/cgroup/pids/visor-it-"+e.suffix+"/"+filepath.Base(dir))
}

// TestKillCreated: a signal to a created container ends it, as with runc.
func TestKillCreated(t *testing.T) {
	e := newEnv(t)
	id := e.id("killc")
	e.must("create", "--bundle", e.bundle([]string{"sleep"}, nil), id)
	e.must("kill", id, "9")
	deadline := time.Now().Add(10 * time.Second)
	for {
		var st struct{ Status string }
		json.Unmarshal([]byte(e.must("state", id)), &st)
		if st.Status == "stopped" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("created container still %s after SIGKILL", st.Status)
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.must("delete", id)
}

// TestConsoleSocket: a terminal container sends its pty master to the
// console socket; the application's stdio is the slave.
func TestConsoleSocket(t *testing.T) {
	e := newEnv(t)
	id := e.id("tty")
	sock, got := recvConsole(t)
	dir := e.bundle([]string{"report"}, func(s *specs.Spec) {
		s.Process.Terminal = true
		s.Process.ConsoleSize = &specs.Box{Height: 40, Width: 120}
	})
	e.must("create", "--bundle", dir, "--console-socket", sock, id)
	master := <-got
	if master == nil {
		t.Fatal("no pty master received")
	}
	defer master.Close()
	if sz, err := console.GetSize(master); err != nil || sz != (console.Size{Rows: 40, Cols: 120}) {
		t.Errorf("console size %+v, %v; want 40x120", sz, err)
	}
	e.must("start", id)
	var buf bytes.Buffer
	tmp := make([]byte, 4096)
	for !bytes.Contains(buf.Bytes(), []byte("}")) || !json.Valid(bytes.TrimSpace(buf.Bytes())) {
		n, err := master.Read(tmp)
		if err != nil {
			t.Fatalf("reading pty: %v (got %q)", err, buf.String())
		}
		buf.Write(tmp[:n])
	}
	var r report
	if err := json.Unmarshal(bytes.TrimSpace(buf.Bytes()), &r); err != nil {
		t.Fatalf("report over the pty: %v: %q", err, buf.String())
	}
	if !r.StdinTTY {
		t.Error("the application's stdin is not a tty")
	}
	e.must("delete", "--force", id)
}
