package kubeletproxy_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimepkg "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/client-go/util/exec"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"

	"github.com/podvisor/podvisor/internal/apiserver/kubeletproxy"
	"github.com/podvisor/podvisor/internal/apiserver/metricsapi"
	"github.com/podvisor/podvisor/internal/kubelet"
	"github.com/podvisor/podvisor/internal/kubelet/stream"
	"github.com/podvisor/podvisor/internal/runtime/oci"
)

// ca issues test certificates.
type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newCA(t *testing.T) *ca {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "cluster-ca"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &ca{cert: c, key: key}
}

func (c *ca) issue(t *testing.T, cn string, orgs []string, server bool) tls.Certificate {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sn, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: sn, Subject: pkix.Name{CommonName: cn, Organization: orgs},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, key.Public(), c.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func (c *ca) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.cert)
	return p
}

// pods is the kubelet's pod state for one pod with one container.
type pods struct{ pod *corev1.Pod }

func (p pods) state() kubelet.PodState {
	return kubelet.PodState{Pod: p.pod, UID: p.pod.UID, NetNS: "/proc/self/ns/net",
		Containers: []kubelet.ContainerRef{{Name: "app", ID: "c1", Running: true, Stdin: true}}}
}

func (p pods) GetPod(ns, name string) (kubelet.PodState, bool) {
	return p.state(), ns == p.pod.Namespace && name == p.pod.Name
}
func (p pods) ListPods() []kubelet.PodState { return []kubelet.PodState{p.state()} }
func (p pods) Container(ns, name, c string, previous bool) (kubelet.ContainerRef, error) {
	if ns != p.pod.Namespace || name != p.pod.Name {
		return kubelet.ContainerRef{}, kubelet.ErrPodNotFound
	}
	if c != "app" || previous {
		return kubelet.ContainerRef{}, kubelet.ErrContainerNotFound
	}
	return p.state().Containers[0], nil
}

// runtime answers exec with the command's first argument as exit code,
// printing its stdin; logs are two lines; stats grow with every call.
type runtime struct{ cpu uint64 }

func (r *runtime) Exec(ctx context.Context, id string, ec oci.ExecConfig) (int, error) {
	if ec.Stdin != nil {
		io.Copy(ec.Stdout, ec.Stdin)
	}
	return strconv.Atoi(ec.Args[0])
}
func (r *runtime) AttachTTY(ctx context.Context, id string, stdin io.Reader, stdout, stderr io.Writer, resize <-chan oci.TermSize) error {
	io.WriteString(stdout, "attached\n")
	return nil
}
func (r *runtime) Logs(ctx context.Context, id string, o oci.LogOptions, w io.Writer) error {
	io.WriteString(w, "one\ntwo\n")
	return nil
}
func (r *runtime) Status(ctx context.Context, id string) (oci.ContainerStatus, error) {
	return oci.ContainerStatus{ID: id, State: oci.StateRunning}, nil
}
func (r *runtime) Stats(ctx context.Context, id string) (oci.Stats, error) {
	r.cpu += 5e8 // half a core-second per sample
	return oci.Stats{Timestamp: time.Now(), CPUUsageNanos: r.cpu, MemoryWorkingSetBytes: 64 << 20, MemoryUsageBytes: 80 << 20}, nil
}

// nodes is the API's node and pod store.
type nodes struct {
	node *corev1.Node
	pod  *corev1.Pod
}

func (n nodes) GetNode(ctx context.Context, name string) (*corev1.Node, error) {
	if name != n.node.Name {
		return nil, fmt.Errorf("node %s not found", name)
	}
	return n.node, nil
}
func (n nodes) ListNodes(ctx context.Context) ([]*corev1.Node, error) {
	return []*corev1.Node{n.node}, nil
}
func (n nodes) ListPods(ctx context.Context, ns string) ([]*corev1.Pod, error) {
	return []*corev1.Pod{n.pod}, nil
}

// TestThroughAPIServer runs a kubelet server and, in front of it, a
// stand-in API server that does what the real one does for these paths:
// looks the pod up and calls ServeSubresource, and mounts the metrics API.
// client-go then uses them as kubectl does.
func TestThroughAPIServer(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	cluster := newCA(t)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: "uid-1", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "app"}}}}

	// The kubelet.
	kcert := cluster.issue(t, "n1", nil, true)
	ks, err := stream.New(stream.Config{NodeName: "n1", ClientCAs: cluster.pool(), StatsInterval: 50 * time.Millisecond,
		Certificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &kcert, nil }},
		stream.Deps{Pods: pods{pod}, Runtime: &runtime{}, Logger: logger, Dial: echoDial(t)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- ks.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-served })
	port := ln.Addr().(*net.TCPAddr).Port
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Status: corev1.NodeStatus{
		Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(port)}},
	}}
	store := nodes{node: node, pod: pod}

	// The API server's side.
	kc, err := kubeletproxy.New(kubeletproxy.Config{
		ClientCertificate: cluster.issue(t, stream.DefaultAPIServerClient, []string{"system:masters"}, false),
		KubeletCAs:        cluster.pool(),
	}, kubeletproxy.Deps{Nodes: store, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	metrics, err := metricsapi.New(metricsapi.Config{CacheTTL: time.Millisecond}, metricsapi.Deps{Summaries: kc, Lister: store, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/apis/metrics.k8s.io/", metrics)
	mux.HandleFunc("/api/v1/namespaces/ns/pods/web/{sub}", func(w http.ResponseWriter, r *http.Request) {
		kc.ServeSubresource(w, r, "pods", r.PathValue("sub"), pod)
	})
	mux.HandleFunc("/api/v1/nodes/n1/proxy/", func(w http.ResponseWriter, r *http.Request) {
		kc.ServeSubresource(w, r, "nodes", "proxy", node)
	})
	api := httptest.NewUnstartedServer(mux)
	api.Config.ErrorLog = log.New(io.Discard, "", 0)
	api.StartTLS()
	defer api.Close()
	cfg := &rest.Config{Host: api.URL, TLSClientConfig: rest.TLSClientConfig{Insecure: true}}
	cs := kubernetes.NewForConfigOrDie(cfg)

	t.Run("logs", func(t *testing.T) {
		b, err := cs.CoreV1().Pods("ns").GetLogs("web", &corev1.PodLogOptions{TailLines: ptr(int64(1))}).DoRaw(ctx)
		if err != nil || string(b) != "one\ntwo\n" {
			t.Errorf("logs: %q, %v", b, err)
		}
	})
	t.Run("exec", func(t *testing.T) {
		for _, tr := range []string{"websocket", "spdy"} {
			for _, code := range []int{0, 3} {
				req := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace("ns").Name("web").SubResource("exec").
					VersionedParams(&corev1.PodExecOptions{Command: []string{strconv.Itoa(code)}, Stdin: true, Stdout: true}, parameterCodec())
				var ex remotecommand.Executor
				if tr == "websocket" {
					ex, err = remotecommand.NewWebSocketExecutor(cfg, "GET", req.URL().String())
				} else {
					ex, err = remotecommand.NewSPDYExecutor(cfg, "POST", req.URL())
				}
				if err != nil {
					t.Fatal(err)
				}
				var out bytes.Buffer
				err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: strings.NewReader("in\n"), Stdout: &out})
				got := 0
				var ce exec.CodeExitError
				if errors.As(err, &ce) {
					got = ce.Code
				} else if err != nil {
					t.Fatalf("%s exec: %v", tr, err)
				}
				if got != code || out.String() != "in\n" {
					t.Errorf("%s exec: code %d output %q, want %d %q", tr, got, out.String(), code, "in\n")
				}
			}
		}
	})
	t.Run("portforward", func(t *testing.T) {
		u := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace("ns").Name("web").SubResource("portforward").URL()
		for _, tr := range []string{"websocket", "spdy"} {
			var d httpstream.Dialer
			if tr == "websocket" {
				d, err = portforward.NewSPDYOverWebsocketDialer(u, cfg)
			} else {
				rt, up, _ := spdy.RoundTripperFor(cfg)
				d = spdy.NewDialer(up, &http.Client{Transport: rt}, "POST", u)
			}
			if err != nil {
				t.Fatal(err)
			}
			stop, ready := make(chan struct{}), make(chan struct{})
			fw, err := portforward.NewOnAddresses(d, []string{"127.0.0.1"}, []string{"0:7"}, stop, ready, io.Discard, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- fw.ForwardPorts() }()
			select {
			case <-ready:
			case err := <-done:
				t.Fatalf("%s port-forward: %v", tr, err)
			}
			ports, _ := fw.GetPorts()
			c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", ports[0].Local))
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(c, "ping")
			c.(*net.TCPConn).CloseWrite()
			got, _ := io.ReadAll(c)
			c.Close()
			close(stop)
			<-done
			if string(got) != "port 7: ping" {
				t.Errorf("%s port-forward answered %q", tr, got)
			}
		}
	})
	t.Run("nodes/proxy", func(t *testing.T) {
		b, err := cs.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes/n1/proxy/pods").DoRaw(ctx)
		if err != nil || !strings.Contains(string(b), `"name":"web"`) {
			t.Errorf("nodes/proxy/pods: %s, %v", b, err)
		}
	})
	t.Run("metrics", func(t *testing.T) {
		mc := metricsclient.NewForConfigOrDie(cfg)
		deadline := time.Now().Add(30 * time.Second)
		for {
			nm, err1 := mc.MetricsV1beta1().NodeMetricses().List(ctx, metav1.ListOptions{})
			pm, err2 := mc.MetricsV1beta1().PodMetricses("ns").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
			if err1 == nil && err2 == nil && len(nm.Items) == 1 && len(pm.Items) == 1 {
				c := pm.Items[0].Containers[0]
				if c.Name != "app" || c.Usage.Memory().Value() != 64<<20 || c.Usage.Cpu().MilliValue() == 0 {
					t.Errorf("pod metrics %+v", pm.Items[0])
				}
				if nm.Items[0].Name != "n1" || nm.Items[0].Usage.Memory().Value() == 0 {
					t.Errorf("node metrics %+v", nm.Items[0])
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no metrics after 30s: %v %v %v %v", nm, err1, pm, err2)
			}
			time.Sleep(50 * time.Millisecond)
		}
		none, err := mc.MetricsV1beta1().PodMetricses("ns").List(ctx, metav1.ListOptions{LabelSelector: "app=other"})
		if err != nil || len(none.Items) != 0 {
			t.Errorf("selector app=other: %v, %v", none, err)
		}
	})
}

func ptr[T any](v T) *T { return &v }

// echoDial stands for dialling into the pod: a TCP server that answers
// "port N: " and what it read until the client's half-close.
func echoDial(t *testing.T) func(ctx context.Context, netns string, port int32) (net.Conn, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			in, _ := io.ReadAll(c)
			fmt.Fprintf(c, "port %s", in)
			c.Close()
		}
	}()
	return func(ctx context.Context, netns string, port int32) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", ln.Addr().String())
		if err == nil {
			fmt.Fprintf(c, "%d: ", port)
		}
		return c, err
	}
}

func parameterCodec() runtimepkg.ParameterCodec { return scheme.ParameterCodec }
