package agent

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/podvisor/podvisor/internal/kubelet/podnet"
)

// DefaultKubeletAddress is where the kubelet's HTTPS server listens
// unless Config.KubeletAddress says otherwise.
const DefaultKubeletAddress = "0.0.0.0:10250"

// listenKubelet opens the kubelet server's listener; its port is the one
// the Node publishes in daemonEndpoints (port 0 picks a free one).
func listenKubelet(addr string) (net.Listener, int, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, 0, fmt.Errorf("kubelet server on %s (another kubelet running? see --kubelet-address): %w", addr, err)
	}
	return ln, ln.Addr().(*net.TCPAddr).Port, nil
}

// servingCert returns the kubelet's serving certificate from its files,
// reloading them when they change (a renewal rewrites them).
type servingCert struct {
	certFile, keyFile string

	mu sync.Mutex
	// +checklocks:mu
	cert *tls.Certificate
	// +checklocks:mu
	modTime time.Time
}

func newServingCert(certFile, keyFile string) (*servingCert, error) {
	if certFile == "" || keyFile == "" {
		return nil, errors.New("no kubelet serving certificate (the join gives one)")
	}
	s := &servingCert{certFile: certFile, keyFile: keyFile}
	if _, err := s.get(nil); err != nil {
		return nil, err
	}
	return s, nil
}

// get implements tls.Config.GetCertificate.
func (s *servingCert) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	st, err := os.Stat(s.certFile)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if s.cert != nil {
			return s.cert, nil
		}
		return nil, fmt.Errorf("kubelet serving certificate: %w", err)
	}
	if s.cert != nil && st.ModTime().Equal(s.modTime) {
		return s.cert, nil
	}
	c, err := tls.LoadX509KeyPair(s.certFile, s.keyFile)
	if err != nil {
		if s.cert != nil {
			return s.cert, nil // half-written renewal: keep the old one
		}
		return nil, fmt.Errorf("loading the kubelet serving certificate: %w", err)
	}
	s.cert, s.modTime = &c, st.ModTime()
	return s.cert, nil
}

// clientCAs reads the cluster CA that client certificates are checked
// against.
func clientCAs(caFile string) (*x509.CertPool, error) {
	b, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("reading the cluster CA: %w", err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("cluster CA %s: no PEM certificate", caFile)
	}
	return p, nil
}

// podNetworks gives the stats server the pod network, which the kubelet
// creates only once the node has a pod CIDR.
type podNetworks struct {
	mu sync.Mutex
	// +checklocks:mu
	n *podnet.Network
}

func (p *podNetworks) set(n *podnet.Network) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n = n
}

// Stats implements stream.Network.Stats.
func (p *podNetworks) Stats(podID string) (podnet.NetStats, error) {
	p.mu.Lock()
	n := p.n
	p.mu.Unlock()
	if n == nil {
		return podnet.NetStats{}, errors.New("the pod network is not set up yet")
	}
	return n.Stats(podID)
}
