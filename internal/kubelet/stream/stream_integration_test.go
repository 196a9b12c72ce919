//go:build integration

package stream

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
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
	statsv1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/podvisor/podvisor/internal/kubelet/image"
	"github.com/podvisor/podvisor/internal/kubelet/image/busybox"
	"github.com/podvisor/podvisor/internal/kubelet/podsandbox"
	"github.com/podvisor/podvisor/internal/runtime/oci"
	"github.com/podvisor/podvisor/internal/testutil/images"
)

// The test binary doubles as the containers' shim.
func TestMain(m *testing.M) {
	if os.Getenv("PODVISOR_TEST_SHIM") == "1" {
		os.Exit(oci.RunShim(os.Args[1:], os.Stderr))
	}
	os.Exit(m.Run())
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// node is a real node without a kubelet: busybox, runc, one pod sandbox,
// and a Pods that the test fills as the kubelet would.
type node struct {
	t     *testing.T
	store *image.Store
	rt    *oci.Runtime
	sb    *podsandbox.Sandbox
	psb   oci.PodSandbox
	dir   string

	mu  sync.Mutex
	pod PodState
	prv map[string]ContainerRef
}

func newNode(t *testing.T) *node {
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
	cg := "/podvisor-stream-test-" + randHex(4)
	t.Cleanup(func() { oci.RemoveCgroup(cg) })
	sbm, err := podsandbox.New(podsandbox.Config{Dir: filepath.Join(dir, "pods"), CgroupRoot: cg})
	if err != nil {
		t.Fatal(err)
	}
	rt, err := oci.New(oci.Config{
		StateDir:       filepath.Join(dir, "rt"),
		Handlers:       map[string]oci.Handler{"runc": {Binary: runc, Root: filepath.Join(dir, "runc")}},
		DefaultHandler: "runc",
		ShimPath:       os.Args[0],
		ShimEnv:        []string{"PODVISOR_TEST_SHIM=1"},
	}, oci.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	uid := "uid-" + randHex(6)
	sb, err := sbm.Create(uid, podsandbox.Options{Hostname: "web"})
	if err != nil {
		t.Fatalf("creating sandbox: %v", err)
	}
	t.Cleanup(func() {
		if err := sbm.Remove(uid); err != nil {
			t.Errorf("removing sandbox: %v", err)
		}
	})
	n := &node{t: t, store: store, rt: rt, sb: sb, psb: sb.PodSandbox("ns", "web", ""), dir: dir, prv: map[string]ContainerRef{}}
	n.pod = PodState{Pod: &corev1.Pod{}, UID: "uid", NetNS: sb.NetNS}
	n.pod.Pod.Namespace, n.pod.Pod.Name, n.pod.Pod.UID = "ns", "web", "uid"
	n.pod.UID = n.pod.Pod.UID
	return n
}

// run starts a busybox container in the pod and records it as the
// current instance of name (the one before becomes the previous).
func (n *node) run(name string, mod func(*oci.ContainerConfig), args ...string) string {
	n.t.Helper()
	key := name + "-" + randHex(3)
	snap, err := n.store.Prepare(key, "busybox")
	if err != nil {
		n.t.Fatalf("preparing rootfs: %v", err)
	}
	n.t.Cleanup(func() { n.store.RemoveSnapshot(key) })
	cfg := oci.ContainerConfig{Name: name, Rootfs: snap.Rootfs, Args: args,
		Log: oci.LogConfig{Path: filepath.Join(n.dir, key+".log")}}
	if mod != nil {
		mod(&cfg)
	}
	ctx := context.Background()
	id, err := n.rt.CreateContainer(ctx, n.psb, cfg)
	if err != nil {
		n.t.Fatalf("creating %s: %v", name, err)
	}
	n.t.Cleanup(func() { n.rt.Remove(context.Background(), id) })
	if err := n.rt.Start(ctx, id); err != nil {
		n.t.Fatalf("starting %s: %v", name, err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	ref := ContainerRef{Name: name, ID: id, Running: true, StartedAt: time.Now(), Stdin: cfg.Stdin, TTY: cfg.TTY}
	for i, c := range n.pod.Containers {
		if c.Name == name {
			c.Running = false
			n.prv[name] = c
			ref.Attempt = c.Attempt + 1
			n.pod.Containers[i] = ref
			return id
		}
	}
	n.pod.Containers = append(n.pod.Containers, ref)
	return id
}

func (n *node) waitExit(id string) oci.ContainerStatus {
	n.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		st, err := n.rt.Status(context.Background(), id)
		if err != nil {
			n.t.Fatal(err)
		}
		if st.State == oci.StateExited {
			return st
		}
		time.Sleep(20 * time.Millisecond)
	}
	n.t.Fatalf("container %s did not exit", id)
	return oci.ContainerStatus{}
}

func (n *node) GetPod(ns, name string) (PodState, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if ns != "ns" || name != "web" {
		return PodState{}, false
	}
	p := n.pod
	p.Containers = append([]ContainerRef(nil), n.pod.Containers...)
	return p, true
}

func (n *node) ListPods() []PodState {
	p, _ := n.GetPod("ns", "web")
	return []PodState{p}
}

func (n *node) Container(ns, name, c string, previous bool) (ContainerRef, error) {
	p, ok := n.GetPod(ns, name)
	if !ok {
		return ContainerRef{}, ErrPodNotFound
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if previous {
		if ref, ok := n.prv[c]; ok {
			return ref, nil
		}
		return ContainerRef{}, ErrContainerNotFound
	}
	for _, ref := range p.Containers {
		if ref.Name == c {
			return ref, nil
		}
	}
	return ContainerRef{}, ErrContainerNotFound
}

func TestRealContainers(t *testing.T) {
	n := newNode(t)
	// A crashing first instance and a chatty second one of "app".
	first := n.run("app", nil, "sh", "-c", "echo crash-1; exit 3")
	n.waitExit(first)
	n.run("app", nil, "sh", "-c", "echo start; i=0; while true; do echo line $i; i=$((i+1)); sleep 0.1; done")
	n.run("httpd", nil, "sh", "-c", "mkdir -p /www && echo hello-from-pod > /www/index.html && exec httpd -f -p 8080 -h /www")
	n.run("cat", func(c *oci.ContainerConfig) { c.Stdin = true }, "sh", "-c", "while read l; do echo got:$l; done; echo eof")
	n.run("term", func(c *oci.ContainerConfig) { c.Stdin, c.TTY = true, true }, "sh", "-c", "read x; stty size; echo term:$x")
	ts := startTestServer(t, Config{StatsInterval: 200 * time.Millisecond}, Deps{Pods: n, Runtime: n.rt})
	cfg := ts.restConfig(t, DefaultAPIServerClient)
	hc := httpClient(t, cfg)
	ctx := context.Background()
	get := func(t *testing.T, path string) string {
		t.Helper()
		resp, err := hc.Get(ts.url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		return string(b)
	}

	t.Run("logs", func(t *testing.T) {
		if got := get(t, "/containerLogs/ns/web/app?previous=true"); got != "crash-1\n" {
			t.Errorf("previous log %q, want crash-1", got)
		}
		// Wait for a few lines, then tail and since.
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(get(t, "/containerLogs/ns/web/app"), "line 5") && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		all := get(t, "/containerLogs/ns/web/app")
		if !strings.HasPrefix(all, "start\nline 0\n") {
			t.Errorf("log starts %q, want start, line 0", all[:min(len(all), 40)])
		}
		tail := get(t, "/containerLogs/ns/web/app?tailLines=2&timestamps=true")
		if lines := strings.Split(strings.TrimSpace(tail), "\n"); len(lines) != 2 || !strings.Contains(lines[0], "Z line ") {
			t.Errorf("tail of 2 with timestamps: %q", tail)
		}
		if got := get(t, "/containerLogs/ns/web/app?sinceTime=2100-01-01T00:00:00Z"); got != "" {
			t.Errorf("log since the future: %q, want nothing", got)
		}
		if got := get(t, "/containerLogs/ns/web/app?limitBytes=6"); got != "start\n" {
			t.Errorf("log limited to 6 bytes: %q", got)
		}
		// Follow: lines keep coming on an open response.
		fctx, cancel := context.WithCancel(ctx)
		defer cancel()
		req, _ := http.NewRequestWithContext(fctx, "GET", ts.url+"/containerLogs/ns/web/app?follow=true&tailLines=0", nil)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		buf := make([]byte, 0, 256)
		for !bytes.Contains(buf, []byte("line")) {
			tmp := make([]byte, 64)
			k, err := resp.Body.Read(tmp)
			if err != nil {
				t.Fatalf("following: %v after %q", err, buf)
			}
			buf = append(buf, tmp[:k]...)
		}
	})

	t.Run("exec", func(t *testing.T) {
		for _, tr := range transports {
			for _, tc := range []struct {
				cmd      string
				stdin    string
				want     string
				wantCode int
			}{
				{cmd: url.Values{"command": {"sh", "-c", "echo out; echo err 1>&2; exit 7"}}.Encode(), want: "out\n", wantCode: 7},
				{cmd: "command=cat", stdin: "through stdin\n", want: "through stdin\n"},
				{cmd: "command=true"},
			} {
				t.Run(tr+"/"+tc.cmd, func(t *testing.T) {
					ex := executor(t, cfg, tr, ts.url+"/exec/ns/web/app?output=1&error=1&input=1&"+tc.cmd)
					var out, errb bytes.Buffer
					err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: strings.NewReader(tc.stdin), Stdout: &out, Stderr: &errb})
					code := 0
					var ce utilexec.CodeExitError
					if errors.As(err, &ce) {
						code = ce.Code
					} else if err != nil {
						t.Fatal(err)
					}
					if code != tc.wantCode || out.String() != tc.want {
						t.Errorf("got code %d stdout %q stderr %q, want %d %q", code, out.String(), errb.String(), tc.wantCode, tc.want)
					}
				})
			}
			t.Run(tr+"/tty", func(t *testing.T) {
				ex := executor(t, cfg, tr, ts.url+"/exec/ns/web/app?output=1&input=1&tty=1&"+url.Values{"command": {"sh", "-c", "sleep 0.3; tty; stty size"}}.Encode())
				var out bytes.Buffer
				err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: strings.NewReader(""), Stdout: &out, Tty: true,
					TerminalSizeQueue: &fixedSizes{size: remotecommand.TerminalSize{Width: 123, Height: 45}}})
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(out.String(), "/dev/pts/") || !strings.Contains(out.String(), "45 123") {
					t.Errorf("tty exec printed %q, want a pty name and 45 123", out.String())
				}
			})
		}
	})

	t.Run("attach", func(t *testing.T) {
		ex := executor(t, cfg, "websocket", ts.url+"/attach/ns/web/cat?input=1&output=1&error=1")
		pr, pw := io.Pipe()
		var out syncBuffer
		done := make(chan error, 1)
		go func() {
			done <- ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: pr, Stdout: &out, Stderr: &out})
		}()
		// Attach sees output from now on: keep writing until a reply comes.
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(out.String(), "got:one") && time.Now().Before(deadline) {
			pw.Write([]byte("one\n"))
			time.Sleep(100 * time.Millisecond)
		}
		pw.Close() // the container's stdin ends, and so does the container
		if err := <-done; err != nil {
			t.Fatalf("attach: %v", err)
		}
		if !strings.Contains(out.String(), "got:one") || !strings.Contains(out.String(), "eof") {
			t.Errorf("attached output %q", out.String())
		}

		tex := executor(t, cfg, "spdy", ts.url+"/attach/ns/web/term?input=1&output=1&tty=1")
		var tout syncBuffer
		// Stdin stays open until the reply comes, as a user's terminal
		// does: ending it at once may hang up the pty before `stty size`
		// asks it for the size.
		tpr, tpw := io.Pipe()
		go func() {
			tpw.Write([]byte("typed\n"))
			deadline := time.Now().Add(30 * time.Second)
			for !strings.Contains(tout.String(), "term:typed") && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			tpw.Close()
		}()
		err := tex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: tpr, Stdout: &tout, Tty: true,
			TerminalSizeQueue: &fixedSizes{size: remotecommand.TerminalSize{Width: 90, Height: 20}}})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(tout.String(), "20 90") || !strings.Contains(tout.String(), "term:typed") {
			t.Errorf("tty attach output %q, want 20 90 and term:typed", tout.String())
		}
	})

	t.Run("portforward", func(t *testing.T) {
		u := mustURL(t, ts.url+"/portForward/ns/web")
		for _, tr := range transports {
			t.Run(tr, func(t *testing.T) {
				fw, stop := forwarder(t, cfg, tr, u, []string{"0:8080"})
				defer stop()
				ports, err := fw.GetPorts()
				if err != nil {
					t.Fatal(err)
				}
				resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/index.html", ports[0].Local))
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(b) != "hello-from-pod\n" {
					t.Errorf("GET through port-forward: %q", b)
				}
			})
		}
	})

	t.Run("stats", func(t *testing.T) {
		// The sampler needs two rounds for a rate.
		var sum statsv1.Summary
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			sum = statsv1.Summary{}
			if err := json.Unmarshal([]byte(get(t, "/stats/summary")), &sum); err != nil {
				t.Fatal(err)
			}
			if len(sum.Pods) == 1 && sum.Pods[0].CPU != nil && sum.Pods[0].CPU.UsageNanoCores != nil && sum.Node.CPU.UsageNanoCores != nil {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if sum.Node.Memory == nil || *sum.Node.Memory.WorkingSetBytes == 0 || *sum.Node.CPU.UsageCoreNanoSeconds == 0 {
			t.Errorf("node stats %+v", sum.Node)
		}
		if len(sum.Pods) != 1 {
			t.Fatalf("got %d pods", len(sum.Pods))
		}
		p := sum.Pods[0]
		if p.CPU == nil || p.CPU.UsageNanoCores == nil || *p.CPU.UsageCoreNanoSeconds == 0 || p.Memory == nil || *p.Memory.WorkingSetBytes == 0 {
			t.Errorf("pod stats cpu %+v memory %+v", p.CPU, p.Memory)
		}
		names := map[string]bool{}
		for _, c := range p.Containers {
			names[c.Name] = true
			if c.Logs == nil || c.Logs.UsedBytes == nil {
				t.Errorf("container %s has no log usage", c.Name)
			}
		}
		if !names["app"] || !names["httpd"] {
			t.Errorf("containers in stats: %v", names)
		}
		if m := get(t, "/metrics/resource"); !strings.Contains(m, `container_cpu_usage_seconds_total{container="app",namespace="ns",pod="web"}`) {
			t.Errorf("resource metrics lack app's cpu:\n%s", m)
		}
	})
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

// What the external kubectl test (package stream_test) uses of the test
// node: it imports internal/server, which imports the agent, which
// imports this package, so it cannot be an internal test.
type (
	// TestNode is a node for the external test.
	TestNode = node
	// SyncBuffer is syncBuffer for the external test.
	SyncBuffer = syncBuffer
)

// NewTestNode is newNode.
func NewTestNode(t *testing.T) *TestNode { return newNode(t) }

// Run is run.
func (n *node) Run(name string, mod func(*oci.ContainerConfig), args ...string) string {
	return n.run(name, mod, args...)
}

// SetPod makes p the node's pod, as the kubelet would after the API
// created it.
func (n *node) SetPod(p *corev1.Pod) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.pod.Pod, n.pod.UID = p, p.UID
}

// Runtime is the node's runtime.
func (n *node) Runtime() *oci.Runtime { return n.rt }
