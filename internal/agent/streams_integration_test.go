//go:build integration

package agent_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podvisor/podvisor/internal/agent"
	"github.com/podvisor/podvisor/internal/kubelet"
	"github.com/podvisor/podvisor/internal/kubelet/image"
	bbimage "github.com/podvisor/podvisor/internal/kubelet/image/busybox"
	"github.com/podvisor/podvisor/internal/server"
	"github.com/podvisor/podvisor/internal/testutil/images"
	"github.com/podvisor/podvisor/internal/testutil/nodetest"
	"github.com/podvisor/podvisor/internal/testutil/servertest"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader.
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

// TestStreams runs a real podvisor server with its in-process agent and
// drives the embedded kubectl against a pod made with `kubectl run`: the
// API server reaches the agent's kubelet server through the Node's
// address and kubelet port, for logs (--tail, -f), exec (exit code, -i),
// port-forward, cp and top (stats/summary through metrics.k8s.io).
func TestStreams(t *testing.T) {
	nodetest.Prerequisites(t)
	bin := servertest.Binary(t)
	dataDir := t.TempDir()
	suffix := nodetest.RandHex(3)
	ac := agent.Config{
		NodeName: "streams-" + suffix, DataDir: server.AgentDataDir(dataDir), RunDir: filepath.Join(t.TempDir(), "run"),
		BridgeName: "pvs" + suffix, CgroupRoot: "/podvisor-test-" + suffix, PodCIDR: nodetest.RandomPodCIDR(),
		ShimPath: servertest.ShimBinary(t), NodeIP: "127.0.0.1", KubeletAddress: "127.0.0.1:0", RouteProtocol: -1,
		Kubelet: kubelet.Config{NodeStatusPeriod: 2 * time.Second},
	}
	// The busybox image, imported by the agent when it starts.
	arch := images.DockerArchive(t, images.Busybox(t), bbimage.Ref)
	if err := os.MkdirAll(image.ArchiveDirIn(ac.DataDir), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(arch)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(image.ArchiveDirIn(ac.DataDir), "busybox.tar"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	// Cleanups run last-in first-out: the host is purged after the
	// server (and its agent) stopped.
	t.Cleanup(func() { nodetest.Purge(ac) })
	ts := servertest.Start(t, server.Config{DataDir: dataDir, Agent: ac})
	cs := ts.Client
	ctx := context.Background()
	t.Cleanup(func() {
		zero := int64(0)
		cs.CoreV1().Pods("default").Delete(ctx, "web", metav1.DeleteOptions{GracePeriodSeconds: &zero})
		nodetest.WaitPod(t, cs, "default", "web", "deletion", time.Minute, func(p *corev1.Pod) bool { return p == nil })
	})
	nodetest.WaitNodeReady(t, cs, ac.NodeName)

	node, err := cs.CoreV1().Nodes().Get(ctx, ac.NodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantAddrs := []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}, {Type: corev1.NodeHostName, Address: ac.NodeName}}
	if fmt.Sprint(node.Status.Addresses) != fmt.Sprint(wantAddrs) {
		t.Errorf("node addresses %v, want %v", node.Status.Addresses, wantAddrs)
	}
	if p := node.Status.DaemonEndpoints.KubeletEndpoint.Port; p <= 0 || p == 10250 {
		t.Errorf("kubelet endpoint port %d, want the free port the agent listens on", p)
	}
	for k, v := range map[string]string{"kubernetes.io/hostname": ac.NodeName, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"} {
		if node.Labels[k] != v {
			t.Errorf("node label %s=%q, want %q", k, node.Labels[k], v)
		}
	}

	kubectl := func(args ...string) *exec.Cmd {
		cmd := exec.Command(bin, append([]string{"kubectl"}, args...)...)
		cmd.Env = append(os.Environ(), "KUBECONFIG="+ts.Kubeconfig)
		return cmd
	}
	run := func(t *testing.T, stdin string, args ...string) string {
		t.Helper()
		cmd := kubectl(args...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	// No scheduler runs here: the pod is placed with --overrides.
	run(t, "", "run", "web", "--image=busybox", `--overrides={"spec":{"nodeName":"`+ac.NodeName+`"}}`, "--",
		"sh", "-c", "mkdir -p /www && echo served-by-httpd > /www/index.html && httpd -p 8080 -h /www && "+
			"i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done")
	nodetest.WaitPod(t, cs, "default", "web", "Running", waitLong, nodetest.Running)

	t.Run("logs --tail", func(t *testing.T) {
		deadline := time.Now().Add(30 * time.Second)
		var out string
		for time.Now().Before(deadline) {
			if out = run(t, "", "logs", "web", "--tail=2"); strings.Count(out, "tick ") == 2 {
				break
			}
			time.Sleep(300 * time.Millisecond)
		}
		if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[0], "tick ") || !strings.HasPrefix(lines[1], "tick ") {
			t.Errorf("kubectl logs --tail=2: %q, want two tick lines", out)
		}
	})
	t.Run("logs -f", func(t *testing.T) {
		cmd := kubectl("logs", "-f", "web", "--tail=1")
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
		br := bufio.NewReader(stdout)
		var prev string
		for range 3 { // new lines keep arriving
			line, err := br.ReadString('\n')
			if err != nil || !strings.HasPrefix(line, "tick ") || line == prev {
				t.Fatalf("kubectl logs -f: %q (previous %q), %v", line, prev, err)
			}
			prev = line
		}
	})
	t.Run("exec", func(t *testing.T) {
		err := kubectl("exec", "web", "--", "sh", "-c", "exit 3").Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 3 {
			t.Errorf("kubectl exec sh -c 'exit 3': %v, want exit status 3", err)
		}
		if out := run(t, "piped through\n", "exec", "-i", "web", "--", "cat"); out != "piped through\n" {
			t.Errorf("kubectl exec -i cat: %q", out)
		}
		if out := run(t, "", "exec", "web", "--", "hostname"); strings.TrimSpace(out) != "web" {
			t.Errorf("kubectl exec hostname: %q, want web", out)
		}
	})
	t.Run("port-forward", func(t *testing.T) {
		cmd := kubectl("port-forward", "pod/web", ":8080")
		var stderr syncBuffer
		cmd.Stderr = &stderr
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
		line, err := bufio.NewReader(stdout).ReadString('\n')
		m := regexp.MustCompile(`127\.0\.0\.1:(\d+)`).FindStringSubmatch(line)
		if err != nil || m == nil {
			t.Fatalf("kubectl port-forward said %q, %v; stderr %s", line, err, stderr.String())
		}
		for i := range 2 { // two connections over one forward
			resp, err := http.Get("http://127.0.0.1:" + m[1] + "/index.html")
			if err != nil {
				t.Fatalf("GET %d through port-forward: %v; stderr %s", i, err, stderr.String())
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != "served-by-httpd\n" {
				t.Errorf("GET %d through kubectl port-forward: %q", i, b)
			}
		}
	})
	t.Run("cp", func(t *testing.T) {
		dir := t.TempDir()
		src := filepath.Join(dir, "in.txt")
		data := bytes.Repeat([]byte("podvisor cp\n"), 5000)
		if err := os.WriteFile(src, data, 0o644); err != nil {
			t.Fatal(err)
		}
		run(t, "", "cp", src, "default/web:/tmp/in.txt")
		if out := run(t, "", "exec", "web", "--", "wc", "-c", "/tmp/in.txt"); !strings.Contains(out, fmt.Sprint(len(data))) {
			t.Errorf("file in the container: %q, want %d bytes", out, len(data))
		}
		dst := filepath.Join(dir, "out.txt")
		run(t, "", "cp", "default/web:/tmp/in.txt", dst)
		if got, _ := os.ReadFile(dst); !bytes.Equal(got, data) {
			t.Errorf("copied back %d bytes, want the %d sent", len(got), len(data))
		}
	})
	t.Run("top", func(t *testing.T) {
		// CPU usage needs two samples of the kubelet's stats (10s apart).
		deadline := time.Now().Add(90 * time.Second)
		var out []byte
		var err error
		for time.Now().Before(deadline) {
			out, err = kubectl("top", "pod", "web").CombinedOutput()
			if err == nil && strings.Contains(string(out), "web") {
				break
			}
			time.Sleep(time.Second)
		}
		if err != nil || !regexp.MustCompile(`(?m)^web\s+\d+m\s+\d+Mi`).Match(out) {
			t.Errorf("kubectl top pod web: %v\n%s", err, out)
		}
		out, err = kubectl("top", "node").CombinedOutput()
		if err != nil || !regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(ac.NodeName)+`\s+\d+m\s+\d+%\s+\d+Mi`).Match(out) {
			t.Errorf("kubectl top node: %v\n%s", err, out)
		}
	})
}
