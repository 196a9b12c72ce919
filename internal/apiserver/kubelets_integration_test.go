//go:build integration

package apiserver_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"

	"github.com/podvisor/podvisor/internal/kubelet"
	"github.com/podvisor/podvisor/internal/kubelet/stream"
	"github.com/podvisor/podvisor/internal/pki"
	"github.com/podvisor/podvisor/internal/runtime/oci"
	"github.com/podvisor/podvisor/internal/server"
	"github.com/podvisor/podvisor/internal/testutil/servertest"
)

// fakeKubeletPods is one pod's state as a kubelet would report it.
type fakeKubeletPods struct{ st kubelet.PodState }

func (p fakeKubeletPods) GetPod(ns, name string) (kubelet.PodState, bool) {
	return p.st, ns == p.st.Pod.Namespace && name == p.st.Pod.Name
}
func (p fakeKubeletPods) ListPods() []kubelet.PodState { return []kubelet.PodState{p.st} }
func (p fakeKubeletPods) Container(ns, name, c string, previous bool) (kubelet.ContainerRef, error) {
	if _, ok := p.GetPod(ns, name); !ok {
		return kubelet.ContainerRef{}, kubelet.ErrPodNotFound
	}
	if c != "app" || previous {
		return kubelet.ContainerRef{}, kubelet.ErrContainerNotFound
	}
	return p.st.Containers[0], nil
}

// fakeRuntime: exec exits with the number in its first argument after
// echoing stdin; logs are fixed; CPU grows with every stats call.
type fakeRuntime struct{ cpu uint64 }

func (r *fakeRuntime) Exec(ctx context.Context, id string, ec oci.ExecConfig) (int, error) {
	if ec.Stdin != nil && ec.Stdout != nil {
		io.Copy(ec.Stdout, ec.Stdin)
	}
	var code int
	_, err := fmt.Sscan(ec.Args[0], &code)
	return code, err
}
func (r *fakeRuntime) AttachTTY(ctx context.Context, id string, stdin io.Reader, stdout, stderr io.Writer, resize <-chan oci.TermSize) error {
	return nil
}
func (r *fakeRuntime) Logs(ctx context.Context, id string, o oci.LogOptions, w io.Writer) error {
	_, err := io.WriteString(w, "hello from the kubelet\n")
	return err
}
func (r *fakeRuntime) Status(ctx context.Context, id string) (oci.ContainerStatus, error) {
	return oci.ContainerStatus{ID: id, State: oci.StateRunning}, nil
}
func (r *fakeRuntime) Stats(ctx context.Context, id string) (oci.Stats, error) {
	r.cpu += 1e8
	return oci.Stats{Timestamp: time.Now(), CPUUsageNanos: r.cpu, MemoryWorkingSetBytes: 32 << 20}, nil
}

// TestKubeletSubresources runs a real server and a kubelet server (a fake
// runtime behind it, trusting the cluster CA) registered as a Node, and
// checks pods/log, pods/exec (client-go and kubectl, exit codes) and the
// metrics API (`kubectl top`).
func TestKubeletSubresources(t *testing.T) {
	ts := servertest.Start(t, server.Config{})
	ctx := context.Background()
	namespace := ns(t, ts.Client)
	tlsDir := filepath.Join(ts.DataDir, "tls")
	ca, err := pki.EnsureCA(filepath.Join(tlsDir, "ca.crt"), filepath.Join(tlsDir, "ca.key"), "podvisor-ca")
	if err != nil {
		t.Fatal(err)
	}
	kdir := t.TempDir()
	if err := pki.EnsureCert(ca, filepath.Join(kdir, "kubelet.crt"), filepath.Join(kdir, "kubelet.key"),
		pki.CertSpec{CommonName: "node-k", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true}); err != nil {
		t.Fatal(err)
	}
	kcert, err := tls.LoadX509KeyPair(filepath.Join(kdir, "kubelet.crt"), filepath.Join(kdir, "kubelet.key"))
	if err != nil {
		t.Fatal(err)
	}
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: namespace, Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{NodeName: "node-k", Containers: []corev1.Container{{Name: "app", Image: "busybox"}}}}
	p, err = ts.Client.CoreV1().Pods(namespace).Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ks, err := stream.New(stream.Config{NodeName: "node-k", ClientCAs: ca.Pool(), StatsInterval: 100 * time.Millisecond,
		Certificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &kcert, nil }},
		stream.Deps{Runtime: &fakeRuntime{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Pods: fakeKubeletPods{kubelet.PodState{Pod: p, UID: p.UID, NetNS: "/proc/self/ns/net",
				Containers: []kubelet.ContainerRef{{Name: "app", ID: "c1", Running: true}}}}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- ks.Serve(sctx, ln) }()
	t.Cleanup(func() { stop(); <-served })
	node, err := ts.Client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-k"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ts.Client.CoreV1().Nodes().Delete(context.Background(), "node-k", metav1.DeleteOptions{}) })
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}
	node.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(ln.Addr().(*net.TCPAddr).Port)
	node.Status.Capacity = corev1.ResourceList{corev1.ResourceCPU: resourceQty("2"), corev1.ResourceMemory: resourceQty("4Gi")}
	node.Status.Allocatable = node.Status.Capacity
	if _, err := ts.Client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	t.Run("log", func(t *testing.T) {
		b, err := ts.Client.CoreV1().Pods(namespace).GetLogs("web", &corev1.PodLogOptions{}).DoRaw(ctx)
		if err != nil || string(b) != "hello from the kubelet\n" {
			t.Errorf("pods/log: %q, %v", b, err)
		}
	})
	t.Run("exec", func(t *testing.T) {
		for _, tr := range []string{"websocket", "spdy"} {
			req := ts.Client.CoreV1().RESTClient().Post().Resource("pods").Namespace(namespace).Name("web").SubResource("exec").
				VersionedParams(&corev1.PodExecOptions{Command: []string{"5"}, Stdin: true, Stdout: true}, scheme.ParameterCodec)
			var ex remotecommand.Executor
			if tr == "websocket" {
				ex, err = remotecommand.NewWebSocketExecutor(ts.RESTConfig, "GET", req.URL().String())
			} else {
				ex, err = remotecommand.NewSPDYExecutor(ts.RESTConfig, "POST", req.URL())
			}
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: strings.NewReader("x\n"), Stdout: &out})
			var ce utilexec.CodeExitError
			if !errors.As(err, &ce) || ce.Code != 5 || out.String() != "x\n" {
				t.Errorf("%s exec: %v, output %q; want exit 5 and x", tr, err, out.String())
			}
		}
	})
	t.Run("metrics", func(t *testing.T) {
		mc := metricsclient.NewForConfigOrDie(ts.RESTConfig)
		eventually(t, "pod metrics", func() error {
			pm, err := mc.MetricsV1beta1().PodMetricses(namespace).Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if len(pm.Containers) != 1 || pm.Containers[0].Usage.Memory().Value() != 32<<20 {
				return fmt.Errorf("pod metrics %+v", pm)
			}
			return nil
		})
		nm, err := mc.MetricsV1beta1().NodeMetricses().Get(ctx, "node-k", metav1.GetOptions{})
		if err != nil || nm.Usage.Memory().IsZero() {
			t.Errorf("node metrics %+v, %v", nm, err)
		}
	})
	t.Run("kubectl", func(t *testing.T) {
		k := kubectlRunner{t: t, bin: servertest.Binary(t), kubeconfig: ts.Kubeconfig}
		if out := k.run("", "-n", namespace, "logs", "web"); out != "hello from the kubelet\n" {
			t.Errorf("kubectl logs: %q", out)
		}
		cmd := k.cmd("", "-n", namespace, "exec", "web", "--", "7")
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 7 {
			t.Errorf("kubectl exec exit: %v, want exit status 7", err)
		}
		if out := k.run("", "top", "node", "node-k"); !strings.Contains(out, "node-k") || !strings.Contains(out, "MEMORY") {
			t.Errorf("kubectl top node:\n%s", out)
		}
		if out := k.run("", "-n", namespace, "top", "pod", "--containers"); !strings.Contains(out, "web") || !strings.Contains(out, "32Mi") {
			t.Errorf("kubectl top pod --containers:\n%s", out)
		}
	})
}

func resourceQty(s string) resource.Quantity { return resource.MustParse(s) }
