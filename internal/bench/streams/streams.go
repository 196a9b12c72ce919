// Package streams benchmarks exec round trips through the kubelet's
// streaming server (internal/kubelet/stream) against a real runc
// container: `true` run with runc exec directly (the floor), through the
// kubelet server over WebSocket (kubectl's default) and SPDY, and through
// the API server's kubelet proxy (internal/apiserver/kubeletproxy) in front
// of it, with client-go's remotecommand as kubectl uses it. cmd/bench runs
// it as the "streams" suite; it needs root, runc, busybox-static and the
// podvisor binary (the shim) in the bin directory.
package streams

import (
	"context"
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
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/podvisor/podvisor/internal/apiserver/kubeletproxy"
	"github.com/podvisor/podvisor/internal/bench/report"
	"github.com/podvisor/podvisor/internal/kubelet"
	"github.com/podvisor/podvisor/internal/kubelet/image"
	"github.com/podvisor/podvisor/internal/kubelet/image/busybox"
	"github.com/podvisor/podvisor/internal/kubelet/podsandbox"
	"github.com/podvisor/podvisor/internal/kubelet/stream"
	"github.com/podvisor/podvisor/internal/runtime/oci"
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
	shim := filepath.Join(binDir, "podvisor")
	if _, err := os.Stat(shim); err != nil {
		return nil, fmt.Errorf("the podvisor binary (the shim) is not in the bin dir %q: %w", binDir, err)
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
		ShimArgs:       []string{"shim"},
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

	// The kubelet server and, in front of it, the API server's proxy.
	ca, err := newCA()
	if err != nil {
		return nil, err
	}
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
	t.Notes = []string{
		"Each client run opens a new TLS connection, upgrades it, runs `true` through runc exec and reads the exit status, as `kubectl exec pod -- true` does after its discovery requests.",
		"The API server rows put internal/apiserver/kubeletproxy (the upgrade-aware proxy the API server uses) in front of the kubelet, without the rest of the API server's pipeline.",
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
	key  *ecdsa.PrivateKey
	pem  []byte
}

// issued is a certificate with its PEM forms.
type issued struct {
	tls.Certificate
	pemCert, pemKey []byte
}

func newCA() (*certAuthority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench-ca"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &certAuthority{cert: c, key: key, pem: pemBlock("CERTIFICATE", der)}, nil
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
