// Package streams benchmarks exec round trips through the kubelet's
// streaming server (internal/kubelet/stream) against a real runc
// container: `true` run with runc exec directly (the floor), through the
// kubelet server over WebSocket (kubectl's default) and SPDY, through the
// API server's kubelet proxy (internal/apiserver/kubeletproxy) alone in
// front of it, and through a whole podvisor server (client-go's
// remotecommand, and the embedded `kubectl exec`). cmd/bench runs
// it as the "streams" suite; it needs root, runc, busybox-static and the
// podvisor and podvisor-shim binaries in the bin directory.
package streams

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/podvisor/podvisor/internal/apiserver/kubeletproxy"
	"github.com/podvisor/podvisor/internal/bench/report"
	"github.com/podvisor/podvisor/internal/kubelet"
	"github.com/podvisor/podvisor/internal/kubelet/image"
	"github.com/podvisor/podvisor/internal/kubelet/image/busybox"
	"github.com/podvisor/podvisor/internal/kubelet/podsandbox"
	"github.com/podvisor/podvisor/internal/kubelet/stream"
	"github.com/podvisor/podvisor/internal/pki"
	"github.com/podvisor/podvisor/internal/runtime/oci"
	"github.com/podvisor/podvisor/internal/server"
)

// runs per row.
const runs = 30

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// onePod is the kubelet's pod state for the benchmark's single pod.
type onePod struct{ st kubelet.PodState }

func (p onePod) GetPod(ns, name string) (kubelet.PodState, bool) {
	return p.st, ns == p.st.Pod.Namespace && name == p.st.Pod.Name
}
func (p onePod) ListPods() []kubelet.PodState { return []kubelet.PodState{p.st} }
func (p onePod) Container(ns, name, c string, previous bool) (kubelet.ContainerRef, error) {
	if _, ok := p.GetPod(ns, name); !ok {
		return kubelet.ContainerRef{}, kubelet.ErrPodNotFound
	}
	if previous || c != p.st.Containers[0].Name {
		return kubelet.ContainerRef{}, kubelet.ErrContainerNotFound
	}
	return p.st.Containers[0], nil
}

// nodeStore is the stand-in API server's view of the node.
type nodeStore struct{ node *corev1.Node }

func (n nodeStore) GetNode(ctx context.Context, name string) (*corev1.Node, error) {
	return n.node, nil
}

// Run measures and returns the suite's tables.
func Run(ctx context.Context, binDir string) ([]*report.Table, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("needs root")
	}
	runc, err := exec.LookPath("runc")
	if err != nil {
		return nil, fmt.Errorf("runc not found (install the runc package): %w", err)
	}
	shim := filepath.Join(binDir, "podvisor-shim")
	if _, err := os.Stat(shim); err != nil {
		return nil, fmt.Errorf("the podvisor-shim binary is not in the bin dir %q: %w", binDir, err)
	}
	dir, err := os.MkdirTemp("", "podvisor-bench-streams-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	cg := "/podvisor-bench-streams-" + randHex(4)
	defer oci.RemoveCgroup(cg)
	store, err := image.New(image.Config{Root: filepath.Join(dir, "images")}, image.Deps{})
	if err != nil {
		return nil, err
	}
	img, err := busybox.Build("/bin/busybox")
	if err != nil {
		return nil, err
	}
	if _, err := store.Add(ctx, img, []string{busybox.Ref}); err != nil {
		return nil, err
	}
	sbm, err := podsandbox.New(podsandbox.Config{Dir: filepath.Join(dir, "pods"), CgroupRoot: cg})
	if err != nil {
		return nil, err
	}
	rt, err := oci.New(oci.Config{
		StateDir:       filepath.Join(dir, "rt"),
		Handlers:       map[string]oci.Handler{"runc": {Binary: runc, Root: filepath.Join(dir, "runc")}},
		DefaultHandler: "runc",
		ShimPath:       shim,
	}, oci.Deps{})
	if err != nil {
		return nil, err
	}
	uid := "bench-" + randHex(4)
	sb, err := sbm.Create(uid, podsandbox.Options{Hostname: "bench"})
	if err != nil {
		return nil, err
	}
	defer sbm.Remove(uid)
	snap, err := store.Prepare("app", "busybox")
	if err != nil {
		return nil, err
	}
	defer store.RemoveSnapshot("app")
	id, err := rt.CreateContainer(ctx, sb.PodSandbox("bench", "web", ""), oci.ContainerConfig{Name: "app", Rootfs: snap.Rootfs, Args: []string{"sleep", "100000"}})
	if err != nil {
		return nil, err
	}
	defer rt.Remove(context.Background(), id)
	if err := rt.Start(ctx, id); err != nil {
		return nil, err
	}

	// A podvisor server (no agent): its CA signs the kubelet's
	// certificates, so that its kubelet client is trusted.
	full, err := startServer(ctx)
	if err != nil {
		return nil, fmt.Errorf("podvisor server: %w", err)
	}
	defer full.stop()
	ca := &certAuthority{cert: full.ca.Cert, key: full.ca.Key, pem: full.ca.CertPEM}

	// The kubelet server and, in front of it, the API server's proxy.
	kcert, err := ca.issue("bench-node", nil, true)
	if err != nil {
		return nil, err
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: "web", UID: "uid"}, Spec: corev1.PodSpec{NodeName: "bench-node"}}
	pod.Spec.Containers = []corev1.Container{{Name: "app"}}
	ks, err := stream.New(stream.Config{NodeName: "bench-node", ClientCAs: ca.pool(),
		Certificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &kcert.Certificate, nil }},
		stream.Deps{Runtime: rt, Logger: logger, Pods: onePod{kubelet.PodState{Pod: pod, UID: pod.UID, NetNS: sb.NetNS,
			Containers: []kubelet.ContainerRef{{Name: "app", ID: id, Running: true}}}}})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- ks.Serve(sctx, ln) }()
	defer func() { stop(); <-served }()
	port := ln.Addr().(*net.TCPAddr).Port
	client, err := ca.issue(stream.DefaultAPIServerClient, []string{"system:masters"}, false)
	if err != nil {
		return nil, err
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "bench-node"}, Status: corev1.NodeStatus{
		Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(port)}}}}
	kc, err := kubeletproxy.New(kubeletproxy.Config{ClientCertificate: client.Certificate, KubeletCAs: ca.pool()},
		kubeletproxy.Deps{Nodes: nodeStore{node}, Logger: logger})
	if err != nil {
		return nil, err
	}
	defer kc.Close()
	api := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kc.ServeSubresource(w, r, "pods", "exec", pod)
	}))
	api.Config.ErrorLog = log.New(io.Discard, "", 0)
	api.StartTLS()
	defer api.Close()

	kubeletCfg := &rest.Config{Host: fmt.Sprintf("https://127.0.0.1:%d", port), TLSClientConfig: rest.TLSClientConfig{
		CAData: ca.pem, CertData: client.pemCert, KeyData: client.pemKey}}
	apiCfg := &rest.Config{Host: api.URL, TLSClientConfig: rest.TLSClientConfig{Insecure: true}}

	direct, err := measure(func() error {
		code, err := rt.Exec(ctx, id, oci.ExecConfig{Args: []string{"true"}})
		if err == nil && code != 0 {
			err = fmt.Errorf("exit %d", code)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("runc exec: %w", err)
	}
	t := &report.Table{
		Title:   "Streams: exec round trip (`true` in a running runc container)",
		Columns: []string{"path", "n", "p50", "p99", "p50 over runc exec"},
	}
	t.AddRow("runtime: oci.Runtime.Exec (runc exec), the floor", len(direct), report.Ms(direct.Percentile(50)), report.Ms(direct.Percentile(99)), "")
	for _, row := range []struct {
		name, transport string
		cfg             *rest.Config
		path            string
	}{
		{"kubelet server, WebSocket v5 (client-go)", "websocket", kubeletCfg, "/exec/bench/web/app?command=true&output=1&error=1"},
		{"kubelet server, SPDY v4 (client-go)", "spdy", kubeletCfg, "/exec/bench/web/app?command=true&output=1&error=1"},
		{"API server proxy → kubelet, WebSocket v5", "websocket", apiCfg, "/api/v1/namespaces/bench/pods/web/exec?command=true&stdout=true&stderr=true"},
		{"API server proxy → kubelet, SPDY v4", "spdy", apiCfg, "/api/v1/namespaces/bench/pods/web/exec?command=true&stdout=true&stderr=true"},
	} {
		u, _ := url.Parse(row.cfg.Host + row.path)
		d, err := measure(func() error {
			var ex remotecommand.Executor
			var err error
			if row.transport == "websocket" {
				ex, err = remotecommand.NewWebSocketExecutor(row.cfg, "GET", u.String())
			} else {
				ex, err = remotecommand.NewSPDYExecutor(row.cfg, "POST", u)
			}
			if err != nil {
				return err
			}
			return ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: io.Discard, Stderr: io.Discard})
		})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", row.name, err)
		}
		over := d.Percentile(50) - direct.Percentile(50)
		t.AddRow(row.name, len(d), report.Ms(d.Percentile(50)), report.Ms(d.Percentile(99)), report.Ms(over))
	}
	// The real API server (embedded etcd, authn, authz, the proxy) in
	// front of the same kubelet, with client-go and the embedded kubectl.
	if err := full.register(ctx, port, pod); err != nil {
		return nil, fmt.Errorf("registering the node: %w", err)
	}
	for _, row := range []struct {
		name, transport string
	}{{"podvisor server → kubelet, WebSocket v5 (client-go)", "websocket"}, {"podvisor server → kubelet, SPDY v4 (client-go)", "spdy"}} {
		u, _ := url.Parse(full.cfg.Host + "/api/v1/namespaces/" + pod.Namespace + "/pods/web/exec?command=true&stdout=true&stderr=true")
		d, err := measure(func() error {
			var ex remotecommand.Executor
			var err error
			if row.transport == "websocket" {
				ex, err = remotecommand.NewWebSocketExecutor(full.cfg, "GET", u.String())
			} else {
				ex, err = remotecommand.NewSPDYExecutor(full.cfg, "POST", u)
			}
			if err != nil {
				return err
			}
			return ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: io.Discard, Stderr: io.Discard})
		})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", row.name, err)
		}
		t.AddRow(row.name, len(d), report.Ms(d.Percentile(50)), report.Ms(d.Percentile(99)), report.Ms(d.Percentile(50)-direct.Percentile(50)))
	}
	d, err := measure(func() error {
		out, err := exec.CommandContext(ctx, filepath.Join(binDir, "podvisor"), "kubectl", "--kubeconfig", full.kubeconfig,
			"-n", pod.Namespace, "exec", "web", "--", "true").CombinedOutput()
		if err != nil {
			return fmt.Errorf("kubectl exec: %v: %s", err, out)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	t.AddRow("`kubectl exec web -- true` (embedded kubectl process)", len(d), report.Ms(d.Percentile(50)), report.Ms(d.Percentile(99)), report.Ms(d.Percentile(50)-direct.Percentile(50)))
	t.Notes = []string{
		"Each client run opens a new TLS connection, upgrades it, runs `true` through runc exec and reads the exit status, as `kubectl exec pod -- true` does after its discovery requests.",
		"The \"API server proxy\" rows put internal/apiserver/kubeletproxy alone in front of the kubelet; the \"podvisor server\" rows go through the whole API server (embedded etcd, authentication, authorization, pod lookup, proxy).",
		"The kubectl row is a new kubectl process per run: its start-up and discovery (cached after the first run) are included.",
	}
	return []*report.Table{t}, nil
}

// measure runs f runs times (after one warm-up) and times each.
func measure(f func() error) (report.Durations, error) {
	if err := f(); err != nil {
		return nil, err
	}
	var d report.Durations
	for range runs {
		start := time.Now()
		if err := f(); err != nil {
			return nil, err
		}
		d = append(d, time.Since(start))
	}
	return d, nil
}

// certAuthority issues the benchmark's certificates.
type certAuthority struct {
	cert *x509.Certificate
	key  crypto.Signer
	pem  []byte
}

// issued is a certificate with its PEM forms.
type issued struct {
	tls.Certificate
	pemCert, pemKey []byte
}

func (ca *certAuthority) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

func (ca *certAuthority) issue(cn string, orgs []string, server bool) (issued, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return issued{}, err
	}
	sn, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: sn, Subject: pkix.Name{CommonName: cn, Organization: orgs},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return issued{}, err
	}
	kd, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return issued{}, err
	}
	return issued{Certificate: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		pemCert: pemBlock("CERTIFICATE", der), pemKey: pemBlock("PRIVATE KEY", kd)}, nil
}

// full is a podvisor server whose node is the benchmark's kubelet.
type full struct {
	ca         *pki.CA
	cfg        *rest.Config
	kubeconfig string
	stop       func()
}

// startServer starts a podvisor server (no agent) in a temp dir.
func startServer(ctx context.Context) (*full, error) {
	dir, err := os.MkdirTemp("", "podvisor-bench-streams-server-")
	if err != nil {
		return nil, err
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := server.Start(ctx, server.Config{DataDir: dir, BindAddress: "127.0.0.1", AdvertiseAddress: "127.0.0.1",
		DisableAgent: true, DisableScheduler: true, DisableControllerManager: true}, server.Deps{Log: logger})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	f := &full{kubeconfig: server.KubeconfigPath(dir)}
	f.stop = func() { srv.Stop(); os.RemoveAll(dir) }
	tlsDir := filepath.Join(dir, "tls")
	if f.ca, err = pki.EnsureCA(filepath.Join(tlsDir, "ca.crt"), filepath.Join(tlsDir, "ca.key"), "podvisor-ca"); err == nil {
		f.cfg, err = clientcmd.BuildConfigFromFlags("", f.kubeconfig)
	}
	if err != nil {
		f.stop()
		return nil, err
	}
	return f, nil
}

// register creates pod (running) and its node, whose kubelet listens on
// 127.0.0.1:port.
func (f *full) register(ctx context.Context, port int, pod *corev1.Pod) error {
	cs, err := kubernetes.NewForConfig(f.cfg)
	if err != nil {
		return err
	}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: pod.Namespace}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	p := pod.DeepCopy()
	p.UID = ""
	p.Spec.Containers[0].Image = "busybox"
	created, err := cs.CoreV1().Pods(pod.Namespace).Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	created.Status.Phase = corev1.PodRunning
	if _, err := cs.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		return err
	}
	node, err := cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: pod.Spec.NodeName}}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}
	node.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(port)
	_, err = cs.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
	return err
}
