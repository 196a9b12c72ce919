// Package nodetest starts real node agents for integration tests: an
// agent joined to a test server (servertest) with a join token, running
// pods with real runc, namespaces and a pod network whose names (bridge,
// cgroup root, directories, pod CIDR) are unique to the test, with the
// busybox image preloaded. Only tests and benchmarks import it.
package nodetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/podvisor/podvisor/internal/agent"
	"github.com/podvisor/podvisor/internal/kubelet"
	"github.com/podvisor/podvisor/internal/kubelet/image"
	"github.com/podvisor/podvisor/internal/kubelet/image/busybox"
	"github.com/podvisor/podvisor/internal/kubelet/podnet"
	"github.com/podvisor/podvisor/internal/kubelet/podsandbox"
	"github.com/podvisor/podvisor/internal/runtime/oci"
	"github.com/podvisor/podvisor/internal/server"
	"github.com/podvisor/podvisor/internal/testutil/images"
	"github.com/podvisor/podvisor/internal/testutil/servertest"
)

// RandHex returns n random bytes in hex.
func RandHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// RandomPodCIDR returns a random 10.2XX.Y.0/24 so that parallel tests'
// bridges do not overlap.
func RandomPodCIDR() string {
	b := make([]byte, 2)
	rand.Read(b)
	return fmt.Sprintf("10.%d.%d.0/24", 220+int(b[0])%30, b[1])
}

// Prerequisites fails the test naming what is missing: root, runc,
// busybox-static, the podvisor and podvisor-shim binaries.
func Prerequisites(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("node integration tests need root")
	}
	if _, err := exec.LookPath("runc"); err != nil {
		t.Fatalf("runc not found (install the runc package): %v", err)
	}
	if _, err := os.Stat(images.BusyboxPath); err != nil {
		t.Fatalf("%s not found (install busybox-static): %v", images.BusyboxPath, err)
	}
	servertest.Binary(t)
	servertest.ShimBinary(t)
}

// Node is an agent running in the test process.
type Node struct {
	t      testing.TB
	Name   string
	Config agent.Config
	Agent  *agent.Agent
	srv    *servertest.Server
	cancel context.CancelFunc
	done   chan error
}

// Options adjust a node.
type Options struct {
	// Name is the node's name (default: random).
	Name string
	// Tune changes the agent's config before it starts.
	Tune func(*agent.Config)
}

// StartNode joins a new agent to srv with a join token and starts it; it
// is stopped and everything it made on the host is removed when the test
// ends.
func StartNode(t testing.TB, srv *servertest.Server, o Options) *Node {
	t.Helper()
	Prerequisites(t)
	suffix := RandHex(3)
	name := o.Name
	if name == "" {
		name = "node-" + suffix
	}
	tok, err := server.CreateJoinToken(context.Background(), srv.Client, server.JoinTokenOptions{TTL: time.Hour, NodeName: name})
	if err != nil {
		t.Fatalf("join token: %v", err)
	}
	dataDir := t.TempDir()
	cfg := agent.Config{
		Server: "https://" + srv.Addr(), Token: tok, NodeName: name,
		DataDir: dataDir, RunDir: filepath.Join(t.TempDir(), "run"),
		PodCIDR: RandomPodCIDR(), BridgeName: "pvt" + suffix, VethPrefix: "vt",
		CgroupRoot: "/podvisor-test-" + suffix, ShimPath: servertest.ShimBinary(t),
		NodeIP: "127.0.0.1", KubeletAddress: "127.0.0.1:0", RouteProtocol: -1,
		Kubelet: kubelet.Config{
			BackOffBase: time.Second, BackOffMax: 8 * time.Second, SyncPeriod: 5 * time.Second,
			NodeStatusPeriod: 5 * time.Second, ManifestCheckPeriod: 2 * time.Second,
		},
	}
	// The busybox image, dropped as an archive the agent imports at
	// start.
	arch := images.DockerArchive(t, images.Busybox(t), busybox.Ref)
	if err := os.MkdirAll(image.ArchiveDirIn(dataDir), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(arch)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(image.ArchiveDirIn(dataDir), "busybox.tar"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if o.Tune != nil {
		o.Tune(&cfg)
	}
	n := &Node{t: t, Name: name, Config: cfg, srv: srv}
	t.Cleanup(n.cleanup)
	n.Start()
	return n
}

// Start runs the agent (again, after Stop).
func (n *Node) Start() {
	n.t.Helper()
	a, err := agent.New(n.Config, agent.Deps{Log: servertest.Logger(n.t).With("node", n.Name)})
	if err != nil {
		n.t.Fatalf("agent: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.Agent, n.cancel, n.done = a, cancel, make(chan error, 1)
	go func() { n.done <- a.Run(ctx) }()
	select {
	case <-a.Started():
	case err := <-n.done:
		n.t.Fatalf("agent exited: %v", err)
	case <-time.After(2 * time.Minute):
		n.t.Fatalf("agent did not start within 2 minutes")
	}
	WaitNodeReady(n.t, n.srv.Client, n.Name)
}

// Stop stops the agent; its containers keep running.
func (n *Node) Stop() {
	if n.cancel == nil {
		return
	}
	n.cancel()
	if err := <-n.done; err != nil {
		n.t.Errorf("agent %s: %v", n.Name, err)
	}
	n.cancel = nil
}

// WaitNodeReady waits until the node is Ready.
func WaitNodeReady(t testing.TB, cs kubernetes.Interface, name string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		n, err := cs.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
		if err == nil {
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s not Ready: %v %+v", name, err, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// cleanup deletes the node's pods through the API (so the kubelet tears
// them down), stops the agent, and removes whatever is left on the host.
func (n *Node) cleanup() {
	ctx := context.Background()
	if n.cancel != nil {
		pods, err := n.srv.Client.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + n.Name})
		if err == nil {
			zero := int64(0)
			for _, p := range pods.Items {
				n.srv.Client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
			}
		}
		deadline := time.Now().Add(time.Minute)
		for n.Agent.Kubelet() != nil && len(n.Agent.Kubelet().ListPods()) > 0 && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		n.Stop()
	}
	n.Purge()
}

// Purge removes every container, snapshot, sandbox and network object
// the node made (the agent must be stopped).
func (n *Node) Purge() { Purge(n.Config) }

// Purge removes every container, snapshot, sandbox and network object an
// agent with cfg made (it must be stopped).
func Purge(cfg agent.Config) {
	ctx := context.Background()
	rt, err := oci.New(oci.Config{
		StateDir: filepath.Join(cfg.DataDir, "runtime"), DefaultHandler: "runc",
		Handlers: map[string]oci.Handler{"runc": {Binary: "runc", Root: filepath.Join(cfg.RunDir, "runc")}},
		ShimPath: cfg.ShimPath, ShimArgs: cfg.ShimArgs,
	}, oci.Deps{})
	if err == nil {
		cs, _ := rt.List(ctx)
		for _, c := range cs {
			rt.Remove(ctx, c.ID)
		}
	}
	if st, err := image.New(image.Config{Root: image.RootIn(cfg.DataDir)}, image.Deps{}); err == nil {
		snaps, _ := st.Snapshots()
		for _, s := range snaps {
			st.RemoveSnapshot(s.Key)
		}
	}
	if sbm, err := podsandbox.New(podsandbox.Config{Dir: filepath.Join(cfg.RunDir, "pods"), CgroupRoot: cfg.CgroupRoot}); err == nil {
		ids, _ := sbm.List()
		for _, id := range ids {
			sbm.Remove(id)
		}
	}
	// Unmount volumes (tmpfs) left in pod dirs.
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		var mps []string
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Fields(l)
			if len(f) > 4 && strings.HasPrefix(f[4], cfg.DataDir+"/") {
				mps = append(mps, f[4])
			}
		}
		for i := len(mps) - 1; i >= 0; i-- {
			exec.Command("umount", "-l", mps[i]).Run()
		}
	}
	oci.RemoveCgroup(cfg.CgroupRoot)
	if p, err := parsePrefix(cfg.PodCIDR); err == nil {
		if nw, err := podnet.New(podnet.Config{BridgeName: cfg.BridgeName, PodCIDR: p, StateDir: filepath.Join(cfg.DataDir, "net"), VethPrefix: cfg.VethPrefix}, podnet.Deps{}); err == nil {
			nw.Close()
		}
	}
}

// ContainerLog returns the log of container c of pod ns/name (current
// instance, or the previous one).
func (n *Node) ContainerLog(ns, name, c string, previous bool) (string, error) {
	k := n.Agent.Kubelet()
	ref, err := k.Container(ns, name, c, previous)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Agent.Runtime().Logs(ctx, ref.ID, oci.LogOptions{Tail: -1}, &b); err != nil {
		return "", err
	}
	return b.String(), nil
}

// WaitPod polls pod ns/name until cond holds (a deleted pod is nil) and
// returns it; on timeout the test fails with the last status.
func WaitPod(t testing.TB, cs kubernetes.Interface, ns, name, what string, timeout time.Duration, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last *corev1.Pod
	for {
		p, err := cs.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			p = nil
		case err != nil:
			t.Fatalf("getting pod %s/%s: %v", ns, name, err)
		}
		if cond(p) {
			return p
		}
		last = p
		if time.Now().After(deadline) {
			if last == nil {
				t.Fatalf("pod %s/%s: timed out waiting for %s (pod absent)", ns, name, what)
			}
			t.Fatalf("pod %s/%s: timed out waiting for %s; status: %s", ns, name, what, Describe(last))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Describe summarises a pod's status for failure messages.
func Describe(p *corev1.Pod) string {
	var b strings.Builder
	fmt.Fprintf(&b, "phase=%s reason=%q message=%q podIP=%s", p.Status.Phase, p.Status.Reason, p.Status.Message, p.Status.PodIP)
	for _, c := range p.Status.Conditions {
		fmt.Fprintf(&b, " %s=%s", c.Type, c.Status)
	}
	for _, cs := range append(append([]corev1.ContainerStatus(nil), p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		fmt.Fprintf(&b, " [%s restarts=%d ready=%v", cs.Name, cs.RestartCount, cs.Ready)
		switch s := cs.State; {
		case s.Waiting != nil:
			fmt.Fprintf(&b, " waiting %s: %s", s.Waiting.Reason, s.Waiting.Message)
		case s.Running != nil:
			fmt.Fprintf(&b, " running")
		case s.Terminated != nil:
			fmt.Fprintf(&b, " terminated %s (%d): %s", s.Terminated.Reason, s.Terminated.ExitCode, s.Terminated.Message)
		}
		b.WriteString("]")
	}
	return b.String()
}

// Running reports a Running pod whose Ready condition is True.
func Running(p *corev1.Pod) bool {
	if p == nil || p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Namespace creates a namespace with a random name.
func Namespace(t testing.TB, cs kubernetes.Interface) string {
	t.Helper()
	name := "t-" + RandHex(4)
	if _, err := cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	return name
}

var errBadPrefix = errors.New("bad prefix")

func parsePrefix(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return p, fmt.Errorf("%w: %v", errBadPrefix, err)
	}
	return p, nil
}
