package stream

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/rest"

	"github.com/podvisor/podvisor/internal/runtime/oci"
)

// testCA issues certificates for tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &testCA{cert: c, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// issue returns a certificate and key in PEM.
func (ca *testCA) issue(t testing.TB, cn string, orgs []string, server bool) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sn, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: sn, Subject: pkix.Name{CommonName: cn, Organization: orgs},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.DNSNames = []string{"localhost"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalPKCS8PrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd})
}

// testServer is a Server behind httptest's TLS listener.
type testServer struct {
	*Server
	ca  *testCA
	url string
}

func startTestServer(t *testing.T, cfg Config, deps Deps) *testServer {
	t.Helper()
	ca := newTestCA(t)
	cp, kp := ca.issue(t, "kubelet", nil, true)
	cert, err := tls.X509KeyPair(cp, kp)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NodeName == "" {
		cfg.NodeName = "node-a"
	}
	cfg.Certificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil }
	cfg.ClientCAs = ca.pool()
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(s.Handler())
	hs.TLS = s.TLSConfig()
	// Without SNI (an IP address) crypto/tls uses Certificates, which
	// httptest fills with its own unless set.
	hs.TLS.Certificates = []tls.Certificate{cert}
	hs.Config.ErrorLog = log.New(io.Discard, "", 0)
	hs.StartTLS()
	t.Cleanup(hs.Close)
	// What Serve runs besides the handler: the stats sampler.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.stats.run(ctx, s.cfg.StatsInterval)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return &testServer{Server: s, ca: ca, url: hs.URL}
}

// restConfig is a client identity for the server.
func (ts *testServer) restConfig(t testing.TB, cn string, orgs ...string) *rest.Config {
	cfg := &rest.Config{Host: ts.url, TLSClientConfig: rest.TLSClientConfig{CAData: ts.ca.pem}}
	if cn != "" {
		cfg.CertData, cfg.KeyData = ts.ca.issue(t, cn, orgs, false)
	}
	return cfg
}

// fakePods is a Pods over fixed data.
type fakePods struct {
	pods     []PodState
	previous map[string]ContainerRef // ns/pod/container
	waiting  map[string]bool         // ns/pod/container not started
}

func (f *fakePods) GetPod(ns, name string) (PodState, bool) {
	for _, p := range f.pods {
		if p.Pod.Namespace == ns && p.Pod.Name == name {
			return p, true
		}
	}
	return PodState{}, false
}

func (f *fakePods) ListPods() []PodState { return f.pods }

func (f *fakePods) Container(ns, name, c string, previous bool) (ContainerRef, error) {
	p, ok := f.GetPod(ns, name)
	if !ok {
		return ContainerRef{}, ErrPodNotFound
	}
	if c == "" && len(p.Containers) == 1 {
		c = p.Containers[0].Name
	}
	if f.waiting[ns+"/"+name+"/"+c] {
		return ContainerRef{}, fmt.Errorf("%w: ContainerCreating", ErrContainerNotStarted)
	}
	if previous {
		ref, ok := f.previous[ns+"/"+name+"/"+c]
		if !ok {
			return ContainerRef{}, ErrContainerNotFound
		}
		return ref, nil
	}
	for _, ref := range p.Containers {
		if ref.Name == c {
			return ref, nil
		}
	}
	return ContainerRef{}, ErrContainerNotFound
}

// fakeRuntime records calls and answers with the test's functions.
type fakeRuntime struct {
	mu     sync.Mutex
	status map[string]oci.ContainerStatus
	stats  map[string]oci.Stats
	exec   func(ctx context.Context, id string, ec oci.ExecConfig) (int, error)
	attach func(ctx context.Context, id string, stdin io.Reader, stdout, stderr io.Writer, resize <-chan oci.TermSize) error
	logs   func(ctx context.Context, id string, opts oci.LogOptions, w io.Writer) error
}

func (f *fakeRuntime) Exec(ctx context.Context, id string, ec oci.ExecConfig) (int, error) {
	return f.exec(ctx, id, ec)
}

func (f *fakeRuntime) AttachTTY(ctx context.Context, id string, stdin io.Reader, stdout, stderr io.Writer, resize <-chan oci.TermSize) error {
	return f.attach(ctx, id, stdin, stdout, stderr, resize)
}

func (f *fakeRuntime) Logs(ctx context.Context, id string, opts oci.LogOptions, w io.Writer) error {
	return f.logs(ctx, id, opts, w)
}

func (f *fakeRuntime) Status(ctx context.Context, id string) (oci.ContainerStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.status[id]
	if !ok {
		return st, oci.ErrNotFound
	}
	return st, nil
}

func (f *fakeRuntime) Stats(ctx context.Context, id string) (oci.Stats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.stats[id]
	if !ok {
		return st, oci.ErrNotFound
	}
	return st, nil
}

func metav1ObjectMeta(ns, name, uid string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(uid)}
}

type httpstreamDialer = httpstream.Dialer
type httpstreamConnection = httpstream.Connection

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
