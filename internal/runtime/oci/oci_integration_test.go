//go:build integration

package oci_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/podvisor/podvisor/internal/kubelet/image"
	"github.com/podvisor/podvisor/internal/kubelet/image/busybox"
	"github.com/podvisor/podvisor/internal/kubelet/podnet"
	"github.com/podvisor/podvisor/internal/kubelet/podsandbox"
	"github.com/podvisor/podvisor/internal/runtime/oci"
	"github.com/podvisor/podvisor/internal/testutil/images"
)

// The test binary doubles as the shim (PODVISOR_TEST_SHIM=1) and as a
// stand-in agent (PODVISOR_TEST_AGENT=<json>) that creates one container
// and then blocks until killed.
func TestMain(m *testing.M) {
	if os.Getenv("PODVISOR_TEST_SHIM") == "1" {
		os.Exit(oci.RunShim(os.Args[1:], os.Stderr))
	}
	if spec := os.Getenv("PODVISOR_TEST_AGENT"); spec != "" {
		os.Exit(fakeAgent(spec))
	}
	os.Exit(m.Run())
}

// agentSpec is what the stand-in agent is told to run.
type agentSpec struct {
	Config  oci.Config
	Sandbox oci.PodSandbox
	Cont    oci.ContainerConfig
}

func fakeAgent(specJSON string) int {
	var s agentSpec
	if err := json.Unmarshal([]byte(specJSON), &s); err != nil {
		fmt.Println("error", err)
		return 1
	}
	rt, err := oci.New(s.Config, oci.Deps{})
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	ctx := context.Background()
	id, err := rt.CreateContainer(ctx, s.Sandbox, s.Cont)
	if err == nil {
		err = rt.Start(ctx, id)
	}
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	fmt.Println("id", id)
	select {} // until killed
}

// env is one test's node: image store with busybox, sandbox manager and
// runtime, all in temp dirs.
type env struct {
	t       *testing.T
	store   *image.Store
	sbm     *podsandbox.Manager
	rt      *oci.Runtime
	cfg     oci.Config
	cgroups string
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func newEnv(t *testing.T) *env {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("integration tests need root")
	}
	runc, err := exec.LookPath("runc")
	if err != nil {
		t.Fatalf("runc not found (install the runc package): %v", err)
	}
	dir := t.TempDir()
	store, err := image.New(image.Config{Root: filepath.Join(dir, "images")}, image.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Add(context.Background(), images.Busybox(t), []string{busybox.Ref}); err != nil {
		t.Fatalf("storing busybox: %v", err)
	}
	cg := "/podvisor-test-" + randHex(4)
	sbm, err := podsandbox.New(podsandbox.Config{Dir: filepath.Join(dir, "pods"), CgroupRoot: cg})
	if err != nil {
		t.Fatal(err)
	}
	cfg := oci.Config{
		StateDir:       filepath.Join(dir, "rt"),
		Handlers:       map[string]oci.Handler{"runc": {Binary: runc, Root: filepath.Join(dir, "runc")}},
		DefaultHandler: "runc",
		ShimPath:       os.Args[0],
		ShimEnv:        []string{"PODVISOR_TEST_SHIM=1"},
	}
	rt, err := oci.New(cfg, oci.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: store, sbm: sbm, rt: rt, cfg: cfg, cgroups: cg}
	t.Cleanup(func() { oci.RemoveCgroup(cg) })
	return e
}

// pod creates a sandbox that is removed at cleanup (after its containers,
// cleanups run last-in first-out).
func (e *env) pod() oci.PodSandbox {
	e.t.Helper()
	id := randHex(8)
	sb, err := e.sbm.Create(id, podsandbox.Options{Hostname: "pod-" + id[:6]})
	if err != nil {
		e.t.Fatalf("creating sandbox: %v", err)
	}
	e.t.Cleanup(func() {
		if err := e.sbm.Remove(id); err != nil {
			e.t.Errorf("removing sandbox: %v", err)
		}
	})
	return sb.PodSandbox("default", "pod-"+id[:6], "")
}

// create makes a container of busybox with args in sb; it is removed at
// cleanup with its snapshot.
func (e *env) create(sb oci.PodSandbox, name string, mod func(*oci.ContainerConfig), args ...string) string {
	e.t.Helper()
	key := sb.ID + "-" + name + "-" + randHex(3)
	snap, err := e.store.Prepare(key, "busybox")
	if err != nil {
		e.t.Fatalf("preparing rootfs: %v", err)
	}
	e.t.Cleanup(func() {
		if err := e.store.RemoveSnapshot(key); err != nil {
			e.t.Errorf("removing snapshot: %v", err)
		}
	})
	cfg := oci.ContainerConfig{Name: name, Rootfs: snap.Rootfs, Args: args, TerminationMessagePath: "/dev/termination-log"}
	if mod != nil {
		mod(&cfg)
	}
	id, err := e.rt.CreateContainer(context.Background(), sb, cfg)
	if err != nil {
		e.t.Fatalf("creating container %s: %v", name, err)
	}
	e.t.Cleanup(func() {
		if err := e.rt.Remove(context.Background(), id); err != nil {
			e.t.Errorf("removing container %s: %v", name, err)
		}
	})
	return id
}

func (e *env) run(sb oci.PodSandbox, name string, mod func(*oci.ContainerConfig), args ...string) string {
	e.t.Helper()
	id := e.create(sb, name, mod, args...)
	if err := e.rt.Start(context.Background(), id); err != nil {
		e.t.Fatalf("starting %s: %v", name, err)
	}
	return id
}

// waitState polls Status until want (bounded by a generous deadline: a
// stuck container fails the test rather than hanging it).
func (e *env) waitState(id string, want oci.State) oci.ContainerStatus {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, err := e.rt.Status(context.Background(), id)
		if err != nil {
			e.t.Fatalf("status: %v", err)
		}
		if st.State == want {
			return st
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("container %s is %s, want %s", id, st.State, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *env) logs(id string) string {
	e.t.Helper()
	var b bytes.Buffer
	if err := e.rt.Logs(context.Background(), id, oci.LogOptions{Tail: -1}, &b); err != nil {
		e.t.Fatalf("logs: %v", err)
	}
	return b.String()
}

func TestExitCodesAndLogs(t *testing.T) {
	e := newEnv(t)
	sb := e.pod()
	tests := []struct {
		name     string
		script   string
		code     int
		reason   string
		message  string
		logLines []string
	}{
		{"completes", "echo hello; echo warn >&2", 0, oci.ReasonCompleted, "", []string{"stdout F hello", "stderr F warn"}},
		{"crashes", "echo dying; exit 3", 3, oci.ReasonError, "", []string{"stdout F dying"}},
		{"termination message", "echo bye > /dev/termination-log; exit 1", 1, oci.ReasonError, "bye\n", nil},
		{"not found command", "exec /nonexistent", 127, oci.ReasonError, "", []string{"stderr F sh: exec: line 0: /nonexistent: not found"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := e.run(sb, strings.ReplaceAll(tc.name, " ", "-"), nil, "sh", "-c", tc.script)
			st := e.waitState(id, oci.StateExited)
			if st.ExitCode != tc.code || st.Reason != tc.reason || st.Message != tc.message {
				t.Errorf("got exit %d reason %q message %q, want %d %q %q", st.ExitCode, st.Reason, st.Message, tc.code, tc.reason, tc.message)
			}
			if st.StartedAt.IsZero() || st.FinishedAt.Before(st.StartedAt) {
				t.Errorf("times: started %v finished %v", st.StartedAt, st.FinishedAt)
			}
			raw, err := os.ReadFile(st.LogPath)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range tc.logLines {
				if !strings.Contains(string(raw), want) {
					t.Errorf("log %q lacks %q", raw, want)
				}
			}
			for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
				if line == "" {
					continue
				}
				if _, err := oci.ParseLogRecord([]byte(line)); err != nil {
					t.Errorf("log line %q is not CRI format: %v", line, err)
				}
			}
		})
	}
}

func TestOOMKilled(t *testing.T) {
	e := newEnv(t)
	sb := e.pod()
	id := e.run(sb, "hog", func(c *oci.ContainerConfig) { c.Resources.MemoryLimitBytes = 16 << 20 },
		"sh", "-c", "x=aaaaaaaa; while true; do x=$x$x; done")
	st := e.waitState(id, oci.StateExited)
	if st.Reason != oci.ReasonOOMKilled || st.ExitCode != 137 {
		t.Errorf("got exit %d reason %q, want 137 OOMKilled", st.ExitCode, st.Reason)
	}
}

func TestStopGracefully(t *testing.T) {
	e := newEnv(t)
	sb := e.pod()
	tests := []struct {
		name   string
		script string
		grace  time.Duration
		code   int
		log    string
	}{
		// A trap runs and exits on SIGTERM.
		{"handles sigterm", `trap "echo got-term; exit 7" TERM; echo ready; while true; do sleep 0.1; done`, 30 * time.Second, 7, "got-term"},
		// PID 1 without a handler ignores SIGTERM: SIGKILL after grace.
		{"ignores sigterm", `echo ready; while true; do sleep 0.1; done`, time.Second, 137, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := e.run(sb, strings.ReplaceAll(tc.name, " ", "-"), nil, "sh", "-c", tc.script)
			e.waitState(id, oci.StateRunning)
			for !strings.Contains(e.logs(id), "ready") {
				time.Sleep(20 * time.Millisecond)
			}
			if err := e.rt.Stop(context.Background(), id, tc.grace); err != nil {
				t.Fatalf("stop: %v", err)
			}
			st, err := e.rt.Status(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if st.State != oci.StateExited || st.ExitCode != tc.code {
				t.Errorf("got %s exit %d, want exited %d", st.State, st.ExitCode, tc.code)
			}
			if tc.log != "" && !strings.Contains(e.logs(id), tc.log) {
				t.Errorf("log lacks %q: %q", tc.log, e.logs(id))
			}
			// Stopping again is a no-op.
			if err := e.rt.Stop(context.Background(), id, time.Second); err != nil {
				t.Errorf("second stop: %v", err)
			}
		})
	}
}

func TestExecAndStats(t *testing.T) {
	e := newEnv(t)
	sb := e.pod()
	id := e.run(sb, "sleeper", func(c *oci.ContainerConfig) { c.Env = []string{"GREETING=hi"} }, "sleep", "1000")
	e.waitState(id, oci.StateRunning)
	ctx := context.Background()
	tests := []struct {
		name    string
		ec      oci.ExecConfig
		code    int
		out     string
		wantErr error
	}{
		{"echo", oci.ExecConfig{Args: []string{"echo", "hello"}}, 0, "hello\n", nil},
		{"inherits env", oci.ExecConfig{Args: []string{"sh", "-c", "echo $GREETING $EXTRA"}, Env: []string{"EXTRA=there"}}, 0, "hi there\n", nil},
		{"exit code", oci.ExecConfig{Args: []string{"sh", "-c", "exit 5"}}, 5, "", nil},
		{"stdin", oci.ExecConfig{Args: []string{"cat"}, Stdin: strings.NewReader("piped\n")}, 0, "piped\n", nil},
		{"missing command", oci.ExecConfig{Args: []string{"/no/such/cmd"}}, 255, "", oci.ErrExecStart},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			tc.ec.Stdout = &out
			code, err := e.rt.Exec(ctx, id, tc.ec)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("got error %v, want %v", err, tc.wantErr)
			}
			if code != tc.code || out.String() != tc.out {
				t.Errorf("got code %d output %q, want %d %q", code, out.String(), tc.code, tc.out)
			}
		})
	}
	t.Run("tty", func(t *testing.T) {
		var out bytes.Buffer
		resize := make(chan oci.TermSize, 1)
		resize <- oci.TermSize{Width: 123, Height: 45}
		code, err := e.rt.Exec(ctx, id, oci.ExecConfig{Args: []string{"sh", "-c", "sleep 0.5; tty; stty size"}, TTY: true, Stdout: &out, Resize: resize})
		if err != nil || code != 0 {
			t.Fatalf("tty exec: code %d err %v", code, err)
		}
		if !strings.Contains(out.String(), "/dev/pts/") || !strings.Contains(out.String(), "45 123") {
			t.Errorf("tty exec output %q, want a /dev/pts name and size 45 123", out.String())
		}
	})
	t.Run("stats", func(t *testing.T) {
		if _, err := e.rt.Exec(ctx, id, oci.ExecConfig{Args: []string{"sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done"}}); err != nil {
			t.Fatal(err)
		}
		st, err := e.rt.Stats(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if st.CPUUsageNanos == 0 || st.MemoryUsageBytes == 0 || st.Pids == 0 {
			t.Errorf("stats %+v: want cpu, memory and pids above zero", st)
		}
	})
}

func TestAttach(t *testing.T) {
	e := newEnv(t)
	sb := e.pod()
	id := e.run(sb, "cat", func(c *oci.ContainerConfig) { c.Stdin = true }, "sh", "-c", "while read l; do echo got:$l; done; echo eof")
	e.waitState(id, oci.StateRunning)
	pr, pw := io.Pipe()
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- e.rt.Attach(context.Background(), id, pr, &out, &out) }()
	pw.Write([]byte("one\n"))
	for !strings.Contains(out.String(), "got:one") {
		time.Sleep(20 * time.Millisecond)
	}
	pw.Close() // closes the container's stdin
	if err := <-done; err != nil {
		t.Fatalf("attach: %v", err)
	}
	st := e.waitState(id, oci.StateExited)
	if st.ExitCode != 0 || !strings.Contains(out.String(), "eof") {
		t.Errorf("exit %d, attached output %q", st.ExitCode, out.String())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestPodContainersShareNetwork(t *testing.T) {
	e := newEnv(t)
	sb := e.pod()
	e.run(sb, "server", nil, "sh", "-c", "mkdir -p /www && echo pong > /www/index.html && exec httpd -f -p 8080 -h /www")
	client := e.run(sb, "client", nil, "sh", "-c",
		"for i in $(seq 1 100); do wget -q -O - http://127.0.0.1:8080/ && exit 0; sleep 0.1; done; exit 1")
	st := e.waitState(client, oci.StateExited)
	if st.ExitCode != 0 || !strings.Contains(e.logs(client), "pong") {
		t.Errorf("client exit %d, log %q: want 0 and pong from the other container", st.ExitCode, e.logs(client))
	}
	// Same UTS namespace: both see the pod's hostname.
	host := e.run(sb, "hostname", nil, "hostname")
	e.waitState(host, oci.StateExited)
	if got := strings.TrimSpace(e.logs(host)); got != sb.Hostname {
		t.Errorf("hostname %q, want %q", got, sb.Hostname)
	}
}

func TestShimSurvivesAgentKill(t *testing.T) {
	e := newEnv(t)
	sb := e.pod()
	key := sb.ID + "-ticker"
	snap, err := e.store.Prepare(key, "busybox")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.store.RemoveSnapshot(key) })
	spec, _ := json.Marshal(agentSpec{Config: e.cfg, Sandbox: sb, Cont: oci.ContainerConfig{
		Name: "ticker", Rootfs: snap.Rootfs,
		Args: []string{"sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done"},
	}})
	agent := exec.Command(os.Args[0])
	agent.Env = append(os.Environ(), "PODVISOR_TEST_AGENT="+string(spec))
	stdout, _ := agent.StdoutPipe()
	agent.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	line := make([]byte, 256)
	n, _ := stdout.Read(line)
	fields := strings.Fields(string(line[:n]))
	if len(fields) != 2 || fields[0] != "id" {
		agent.Process.Kill()
		agent.Wait()
		t.Fatalf("agent said %q", line[:n])
	}
	id := fields[1]
	t.Cleanup(func() { e.rt.Remove(context.Background(), id) })
	// kill -9 the agent (and its process group, as a crash would not
	// spare it): the shim is in its own session.
	syscall.Kill(-agent.Process.Pid, syscall.SIGKILL)
	agent.Wait()

	// A new runtime on the same state dir re-adopts the container.
	rt2, err := oci.New(e.cfg, oci.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	list, err := rt2.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var found *oci.ContainerStatus
	for i := range list {
		if list[i].ID == id {
			found = &list[i]
		}
	}
	if found == nil || found.State != oci.StateRunning || found.Name != "ticker" || found.PodID != sb.ID {
		t.Fatalf("after agent kill, List = %+v, want %s running", list, id)
	}
	countTicks := func() int {
		var b bytes.Buffer
		rt2.Logs(context.Background(), id, oci.LogOptions{Tail: -1}, &b)
		return strings.Count(b.String(), "tick")
	}
	before := countTicks()
	deadline := time.Now().Add(30 * time.Second)
	for countTicks() <= before+3 {
		if time.Now().After(deadline) {
			t.Fatalf("log stopped growing after the agent was killed (%d ticks)", before)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := rt2.Stop(context.Background(), id, time.Second); err != nil {
		t.Fatalf("stop after re-adoption: %v", err)
	}
	st, _ := rt2.Status(context.Background(), id)
	if st.State != oci.StateExited || st.ExitCode != 137 {
		t.Errorf("after stop: %s exit %d, want exited 137", st.State, st.ExitCode)
	}
	if err := rt2.Remove(context.Background(), id); err != nil {
		t.Fatalf("remove after re-adoption: %v", err)
	}
	if _, err := rt2.Status(context.Background(), id); !errors.Is(err, oci.ErrNotFound) {
		t.Errorf("status after remove: %v, want ErrNotFound", err)
	}
}

func TestCreateErrors(t *testing.T) {
	e := newEnv(t)
	sb := e.pod()
	snap, err := e.store.Prepare(sb.ID+"-bad", "busybox")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.store.RemoveSnapshot(sb.ID + "-bad") })
	tests := []struct {
		name string
		cfg  oci.ContainerConfig
		want string
	}{
		{"no command", oci.ContainerConfig{Name: "x", Rootfs: snap.Rootfs}, "has no command"},
		{"missing binary", oci.ContainerConfig{Name: "x", Rootfs: snap.Rootfs, Args: []string{"/does/not/exist"}}, "no such file"},
		{"bad user cwd", oci.ContainerConfig{Name: "x", Rootfs: snap.Rootfs, Args: []string{"true"}, WorkingDir: "rel"}, "not absolute"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, err := e.rt.CreateContainer(context.Background(), sb, tc.cfg)
			if err == nil {
				e.rt.Remove(context.Background(), id)
				// runc reports a missing binary at start, not create.
				t.Fatalf("created %s, want error containing %q", id, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
	list, _ := e.rt.List(context.Background())
	if len(list) != 0 {
		t.Errorf("failed creates left containers behind: %+v", list)
	}
}

// netPod is a pod sandbox wired to a test bridge, with its hosts and
// resolv.conf files.
func (e *env) netPod(n *podnet.Network, ports []podnet.PortMapping) (oci.PodSandbox, podnet.Result, func(*oci.ContainerConfig)) {
	e.t.Helper()
	sb := e.pod()
	res, err := n.Setup(sb.ID, sb.NetNSPath, ports)
	if err != nil {
		e.t.Fatalf("pod network: %v", err)
	}
	e.t.Cleanup(func() {
		if err := n.Teardown(sb.ID, sb.NetNSPath); err != nil {
			e.t.Errorf("network teardown: %v", err)
		}
	})
	dir := e.t.TempDir()
	hosts, resolv := filepath.Join(dir, "hosts"), filepath.Join(dir, "resolv.conf")
	os.WriteFile(hosts, podnet.HostsFile(podnet.HostsConfig{PodIP: res.IP.String(), Hostname: sb.Hostname}), 0o644)
	os.WriteFile(resolv, podnet.ResolvConf(podnet.ClusterDNS(netip.MustParseAddr("10.96.0.10"), "default", "cluster.local")), 0o644)
	return sb, res, func(c *oci.ContainerConfig) { c.EtcHosts, c.ResolvConf = hosts, resolv }
}

func TestPodsOnBridge(t *testing.T) {
	e := newEnv(t)
	b := make([]byte, 3)
	rand.Read(b)
	n, err := podnet.New(podnet.Config{
		BridgeName: "pvo" + hex.EncodeToString(b), PodCIDR: netip.MustParsePrefix(fmt.Sprintf("10.214.%d.0/24", b[0])),
		StateDir: t.TempDir(), VethPrefix: "pvo",
	}, podnet.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Init(); err != nil {
		t.Fatalf("network init: %v", err)
	}
	t.Cleanup(func() { n.Close() })
	hostPort := 21000 + int(b[1])<<2 | int(b[2]&3)
	sbA, resA, filesA := e.netPod(n, []podnet.PortMapping{{HostPort: uint16(hostPort), ContainerPort: 80}})
	sbB, resB, filesB := e.netPod(n, nil)
	e.run(sbA, "web", filesA, "sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www")
	client := e.run(sbB, "client", filesB, "sh", "-c",
		"cat /etc/hosts /etc/resolv.conf; for i in $(seq 1 100); do wget -q -O - http://"+resA.IP.String()+"/ && exit 0; sleep 0.1; done; exit 1")
	st := e.waitState(client, oci.StateExited)
	logs := e.logs(client)
	if st.ExitCode != 0 || !strings.Contains(logs, sbA.Hostname) {
		t.Errorf("pod B fetching pod A by IP: exit %d, log %q", st.ExitCode, logs)
	}
	for _, want := range []string{resB.IP.String() + "\t" + sbB.Hostname, "nameserver 10.96.0.10", "search default.svc.cluster.local"} {
		if !strings.Contains(logs, want) {
			t.Errorf("client log lacks %q: %q", want, logs)
		}
	}
	// The host reaches the pod by IP, and through the hostPort.
	for _, url := range []string{"http://" + resA.IP.String() + "/", fmt.Sprintf("http://%s:%d/", resA.Gateway, hostPort)} {
		var body []byte
		for i := 0; i < 100; i++ {
			resp, err := http.Get(url)
			if err == nil {
				body, _ = io.ReadAll(resp.Body)
				resp.Body.Close()
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if strings.TrimSpace(string(body)) != sbA.Hostname {
			t.Errorf("host GET %s: %q, want %q", url, body, sbA.Hostname)
		}
	}
}

func TestLogsFollowEndsWithContainer(t *testing.T) {
	e := newEnv(t)
	sb := e.pod()
	id := e.run(sb, "counter", nil, "sh", "-c", "for i in 1 2 3 4 5; do echo n$i; sleep 0.2; done")
	var out bytes.Buffer
	if err := e.rt.Logs(context.Background(), id, oci.LogOptions{Tail: -1, Follow: true}, &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != "n1\nn2\nn3\nn4\nn5\n" {
		t.Errorf("followed %q", out.String())
	}
}

func TestRemoveCreatedAndRunning(t *testing.T) {
	e := newEnv(t)
	sb := e.pod()
	ctx := context.Background()
	created := e.create(sb, "never-started", nil, "sleep", "1000")
	if st, err := e.rt.Status(ctx, created); err != nil || st.State != oci.StateCreated || st.Pid == 0 {
		t.Fatalf("status of a created container: %+v %v", st, err)
	}
	running := e.run(sb, "running", nil, "sleep", "1000")
	e.waitState(running, oci.StateRunning)
	for _, id := range []string{created, running} {
		if err := e.rt.Remove(ctx, id); err != nil {
			t.Fatalf("remove %s: %v", id, err)
		}
		if _, err := e.rt.Status(ctx, id); !errors.Is(err, oci.ErrNotFound) {
			t.Errorf("status after remove: %v, want ErrNotFound", err)
		}
		if _, err := os.Stat(filepath.Join(e.cfg.StateDir, "containers", id)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("state dir left: %v", err)
		}
	}
	// Unknown and malformed ids.
	for _, id := range []string{"0123456789abcdef01234567", "../../etc", ""} {
		if _, err := e.rt.Status(ctx, id); !errors.Is(err, oci.ErrNotFound) {
			t.Errorf("status %q: %v, want ErrNotFound", id, err)
		}
		if err := e.rt.Remove(ctx, id); err != nil {
			t.Errorf("remove %q: %v", id, err)
		}
		if _, err := e.rt.Exec(ctx, id, oci.ExecConfig{Args: []string{"true"}}); !errors.Is(err, oci.ErrNotFound) {
			t.Errorf("exec %q: %v, want ErrNotFound", id, err)
		}
	}
}

func TestTTYContainer(t *testing.T) {
	e := newEnv(t)
	sb := e.pod()
	id := e.run(sb, "tty", func(c *oci.ContainerConfig) { c.TTY = true }, "sh", "-c", "tty; read x; stty size; echo got:$x")
	e.waitState(id, oci.StateRunning)
	pr, pw := io.Pipe()
	var out syncBuffer
	resize := make(chan oci.TermSize, 1)
	resize <- oci.TermSize{Width: 100, Height: 30}
	done := make(chan error, 1)
	go func() { done <- e.rt.AttachTTY(context.Background(), id, pr, &out, &out, resize) }()
	pw.Write([]byte("hello\n"))
	if err := <-done; err != nil {
		t.Fatalf("attach: %v", err)
	}
	pw.Close()
	st := e.waitState(id, oci.StateExited)
	if st.ExitCode != 0 || !strings.Contains(out.String(), "30 100") || !strings.Contains(out.String(), "got:hello") {
		t.Errorf("exit %d, attached output %q: want the size 30 100 and got:hello", st.ExitCode, out.String())
	}
	// The terminal's output is logged as stdout.
	if logs := e.logs(id); !strings.Contains(logs, "/dev/pts/0") || !strings.Contains(logs, "got:hello") {
		t.Errorf("log %q lacks the terminal's output", logs)
	}
}

// TestStatusAfterStartCutShort: an agent that dies after `runc start` ran
// but before it recorded the start leaves a running container whose
// record says it was being started; Status must ask the runtime and say
// running, not take the live init for a created container.
func TestStatusAfterStartCutShort(t *testing.T) {
	e := newEnv(t)
	sb := e.pod()
	ctx := context.Background()
	id := e.create(sb, "cut-short", nil, "sleep", "1000")
	if st, err := e.rt.Status(ctx, id); err != nil || st.State != oci.StateCreated {
		t.Fatalf("status of a created container: %+v %v", st, err)
	}
	// What Start records before it runs the runtime, then the runtime's
	// start, and no record of it (the agent died).
	metaPath := filepath.Join(e.cfg.StateDir, "containers", id, "meta.json")
	b, err := os.ReadFile(metaPath)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m["starting"] = true
	if b, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(metaPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	h := e.cfg.Handlers["runc"]
	if out, err := exec.Command(h.Binary, "--root", h.Root, "start", id).CombinedOutput(); err != nil {
		t.Fatalf("runc start: %v: %s", err, out)
	}
	if st, err := e.rt.Status(ctx, id); err != nil || st.State != oci.StateRunning || st.Pid == 0 {
		t.Errorf("status after a start the agent did not record: %+v %v, want running", st, err)
	}
}
