// Package server wires `podvisor server` together from a Config (values)
// and Deps (collaborators): the data dir and its PKI, etcd (an embedded
// member or an external cluster), the API server and its HTTPS listener,
// the compactor, and the admin kubeconfig. Only cmd/podvisor, tests and
// benchmarks import it.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/podvisor/podvisor/internal/agent"
	"github.com/podvisor/podvisor/internal/apiserver"
	"github.com/podvisor/podvisor/internal/apiserver/authn/serviceaccount"
	"github.com/podvisor/podvisor/internal/apiserver/codec"
	"github.com/podvisor/podvisor/internal/controller/manager"
	"github.com/podvisor/podvisor/internal/pki"
	"github.com/podvisor/podvisor/internal/registry"
	"github.com/podvisor/podvisor/internal/storage"
	"github.com/podvisor/podvisor/internal/storage/embedded"
	"github.com/podvisor/podvisor/internal/storage/etcdlog"
)

// Config is `podvisor server`'s configuration.
type Config struct {
	// DataDir holds etcd's data, the PKI and admin.kubeconfig.
	DataDir string
	// BindAddress and Port are where HTTPS is served; Port 0 picks a free
	// port (tests).
	BindAddress string
	Port        int
	// TLSSANs are extra names and addresses for the serving certificate.
	TLSSANs []string
	// EtcdServers, if set, are the client URLs of an external etcd
	// cluster used instead of the embedded member.
	EtcdServers []string
	// ServiceCIDR and NodePortRange ("30000-32767") for Services.
	ServiceCIDR   string
	NodePortRange string
	// TokenFile is a static token file (token,user,uid,"groups").
	TokenFile string
	// DisableAgent: do not run the local agent.
	DisableAgent bool
	// Agent configures the local agent (data in <DataDir>/agent, node
	// name the host name by default).
	Agent agent.Config
	// CompactionInterval is how often etcd history is compacted; 0
	// means 5 minutes.
	CompactionInterval time.Duration
	// AdvertiseAddress is the address other nodes and pods reach this
	// server on; empty picks the host's first global address.
	AdvertiseAddress string
	// DisableControllerManager: do not run the controller manager.
	DisableControllerManager bool
	// ControllerManager configures it (controllers, node CIDRs, pools);
	// RootCA is filled in from the cluster CA.
	ControllerManager manager.Config
}

// Deps are the server's collaborators.
type Deps struct {
	Log *slog.Logger
}

// Server is a running `podvisor server`.
type Server struct {
	cfg  Config
	log  *slog.Logger
	etcd *embedded.Etcd
	cli  *clientv3.Client
	api  *apiserver.Server
	http *http.Server
	ln   net.Listener
	addr string

	agent  *agent.Agent
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// The in-process API clients (controller manager, agent) run on
	// clientCtx and are stopped, and waited for in clients, before the
	// HTTPS server shuts down, so they can still say goodbye: release
	// their Leases.
	clientCancel context.CancelFunc
	clients      sync.WaitGroup
	errCh        chan error
	stopOnce     sync.Once
}

// Paths of the files in the data dir.
func (c Config) path(parts ...string) string {
	return filepath.Join(append([]string{c.DataDir}, parts...)...)
}

// KubeconfigPath returns where the admin kubeconfig of a data dir is.
func KubeconfigPath(dataDir string) string { return filepath.Join(dataDir, "admin.kubeconfig") }

func (c *Config) setDefaults() {
	if c.DataDir == "" {
		c.DataDir = "/var/lib/podvisor"
	}
	if c.BindAddress == "" {
		c.BindAddress = "0.0.0.0"
	}
	if c.ServiceCIDR == "" {
		c.ServiceCIDR = "10.43.0.0/16"
	}
	if c.NodePortRange == "" {
		c.NodePortRange = "30000-32767"
	}
	if c.CompactionInterval == 0 {
		c.CompactionInterval = 5 * time.Minute
	}
}

// ParsePortRange parses "30000-32767" into base and size.
func ParsePortRange(s string) (base, size int, err error) {
	lo, hi, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, fmt.Errorf("port range %q: want LOW-HIGH", s)
	}
	l, err1 := strconv.Atoi(strings.TrimSpace(lo))
	h, err2 := strconv.Atoi(strings.TrimSpace(hi))
	if err1 != nil || err2 != nil || l < 1 || h > 65535 || h < l {
		return 0, 0, fmt.Errorf("port range %q: want LOW-HIGH with 1 <= LOW <= HIGH <= 65535", s)
	}
	return l, h - l + 1, nil
}

// Start starts everything and returns once the API server serves.
func Start(ctx context.Context, cfg Config, deps Deps) (*Server, error) {
	cfg.setDefaults()
	if deps.Log == nil {
		return nil, errors.New("server: Deps.Log is required")
	}
	_, cidr, err := net.ParseCIDR(cfg.ServiceCIDR)
	if err != nil {
		return nil, fmt.Errorf("--service-cidr: %w", err)
	}
	npBase, npSize, err := ParsePortRange(cfg.NodePortRange)
	if err != nil {
		return nil, fmt.Errorf("--service-node-port-range: %w", err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data dir: %w", err)
	}
	s := &Server{cfg: cfg, log: deps.Log, errCh: make(chan error, 4)}
	ok := false
	defer func() {
		if !ok {
			s.Stop()
		}
	}()

	s.ln, err = net.Listen("tcp", net.JoinHostPort(cfg.BindAddress, strconv.Itoa(cfg.Port)))
	if err != nil {
		return nil, fmt.Errorf("listening: %w", err)
	}
	port := s.ln.Addr().(*net.TCPAddr).Port
	advertise := advertiseAddress(cfg)

	creds, err := ensurePKI(cfg, cidr, advertise)
	if err != nil {
		return nil, err
	}

	if len(cfg.EtcdServers) > 0 {
		s.cli, err = clientv3.New(clientv3.Config{Endpoints: cfg.EtcdServers, DialTimeout: 10 * time.Second,
			Logger: etcdlog.New(deps.Log), MaxCallSendMsgSize: 4 << 20, MaxCallRecvMsgSize: 0})
		if err != nil {
			return nil, fmt.Errorf("connecting to etcd %v: %w", cfg.EtcdServers, err)
		}
		sctx, c := context.WithTimeout(ctx, 30*time.Second)
		_, err = s.cli.Status(sctx, cfg.EtcdServers[0])
		c()
		if err != nil {
			return nil, fmt.Errorf("reaching etcd %v: %w", cfg.EtcdServers, err)
		}
	} else {
		s.etcd, err = embedded.Start(embedded.Config{Dir: cfg.path("etcd")}, deps.Log)
		if err != nil {
			return nil, err
		}
		s.cli = s.etcd.Client()
	}
	scheme, err := registry.NewScheme()
	if err != nil {
		return nil, err
	}
	st := storage.New(storage.Config{Codec: codec.New(scheme).Storage(), SerializableReads: s.etcd != nil}, s.cli, deps.Log)

	saKey, err := serviceaccount.LoadOrGenerateKey(filepath.Join(creds.dir, "sa.key"))
	if err != nil {
		return nil, fmt.Errorf("service-account key: %w", err)
	}
	s.api, err = apiserver.New(apiserver.Config{
		ServiceCIDR: cidr, NodePortBase: npBase, NodePortSize: npSize,
		AdvertiseAddress: advertise, SecurePort: port,
		ExternalHost: net.JoinHostPort(advertise.String(), strconv.Itoa(port)),
		Auth:         apiserver.AuthConfig{ClientCAs: creds.ca.Pool(), ServiceAccountKey: saKey, TokenFile: cfg.TokenFile},
		// Kubelets' serving certificates are not verified (Kubernetes'
		// default without --kubelet-certificate-authority): agents may
		// serve self-signed ones.
		Kubelet: &apiserver.KubeletConfig{ClientCertificate: creds.kubeletClient},
	}, apiserver.Deps{
		Storage: st, Log: deps.Log,
		Healthy: func(ctx context.Context) error {
			_, err := st.CurrentRevision(ctx)
			return err
		},
	})
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	if err := s.api.Start(runCtx, 2*time.Minute); err != nil {
		return nil, err
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		storage.RunCompactor(runCtx, s.cli, cfg.CompactionInterval, deps.Log)
	}()

	s.http = &http.Server{
		Handler: s.withNodeJoin(s.api, creds, port),
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{creds.serving},
			ClientAuth:   tls.VerifyClientCertIfGiven,
			ClientCAs:    creds.ca.Pool(),
			MinVersion:   tls.VersionTLS12,
			NextProtos:   []string{"h2", "http/1.1"},
		},
		ReadHeaderTimeout: 30 * time.Second,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          slog.NewLogLogger(deps.Log.Handler(), slog.LevelDebug),
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.http.ServeTLS(s.ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.errCh <- fmt.Errorf("serving HTTPS: %w", err)
		}
	}()
	if s.etcd != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			select {
			case err := <-s.etcd.Err():
				if err != nil {
					s.errCh <- fmt.Errorf("etcd: %w", err)
				}
			case <-runCtx.Done():
			}
		}()
	}
	host := cfg.BindAddress
	if host == "0.0.0.0" || host == "::" || host == "" {
		host = "127.0.0.1"
	}
	s.addr = net.JoinHostPort(host, strconv.Itoa(port))
	if err := writeKubeconfig(KubeconfigPath(cfg.DataDir), "https://"+s.addr, creds); err != nil {
		return nil, err
	}
	clientCtx, clientCancel := context.WithCancel(runCtx)
	s.clientCancel = clientCancel
	if !cfg.DisableControllerManager {
		if err := s.startControllerManager(clientCtx, cfg, creds); err != nil {
			return nil, err
		}
	}
	if !cfg.DisableAgent {
		if err := s.startAgent(clientCtx, creds); err != nil {
			return nil, err
		}
	}
	deps.Log.Info("podvisor server ready", "address", "https://"+s.addr, "kubeconfig", KubeconfigPath(cfg.DataDir),
		"etcd", etcdDescription(cfg), "agent", !cfg.DisableAgent, "controller-manager", !cfg.DisableControllerManager)
	deps.Log.Info("to join a node: podvisor token create, then podvisor agent --server https://" +
		net.JoinHostPort(advertise.String(), strconv.Itoa(port)) + " --token TOKEN")
	ok = true
	return s, nil
}

func etcdDescription(cfg Config) string {
	if len(cfg.EtcdServers) > 0 {
		return strings.Join(cfg.EtcdServers, ",")
	}
	return "embedded in " + cfg.path("etcd")
}

// Addr returns host:port of the HTTPS listener.
func (s *Server) Addr() string { return s.addr }

// Err reports a fatal error of a running server.
func (s *Server) Err() <-chan error { return s.errCh }

// Stop shuts everything down and waits. It may be called more than once.
func (s *Server) Stop() { s.stopOnce.Do(s.stop) }

func (s *Server) stop() {
	if s.clientCancel != nil {
		s.clientCancel()
	}
	s.clients.Wait()
	if s.http != nil {
		ctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.http.Shutdown(ctx); err != nil {
			s.http.Close()
		}
		c()
	} else if s.ln != nil {
		s.ln.Close()
	}
	if s.api != nil {
		s.api.Stop()
	}
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	if s.etcd != nil {
		s.etcd.Close()
	} else if s.cli != nil {
		s.cli.Close()
	}
}

// Run starts the server and serves until ctx ends or it fails.
func Run(ctx context.Context, cfg Config, deps Deps) error {
	s, err := Start(ctx, cfg, deps)
	if err != nil {
		return err
	}
	defer s.Stop()
	select {
	case <-ctx.Done():
		deps.Log.Info("podvisor server stopping")
		return nil
	case err := <-s.errCh:
		return err
	}
}

// advertiseAddress picks the address pods and nodes reach the server on.
func advertiseAddress(cfg Config) net.IP {
	if ip := net.ParseIP(cfg.AdvertiseAddress); ip != nil {
		return ip
	}
	if ip := net.ParseIP(cfg.BindAddress); ip != nil && !ip.IsUnspecified() {
		return ip
	}
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && n.IP.IsGlobalUnicast() {
				return n.IP.To4()
			}
		}
	}
	return net.IPv4(127, 0, 0, 1).To4()
}

// credentials are the loaded PKI.
type credentials struct {
	ca      *pki.CA
	serving tls.Certificate
	// kubeletClient is the API server's client certificate for kubelets
	// (pods/log, exec, attach, portforward, nodes/proxy, stats).
	kubeletClient tls.Certificate
	adminCert     []byte
	adminKey      []byte
	dir           string
}

// ensurePKI creates or loads the CA, serving and admin certificates and
// the service-account key under DataDir/tls.
func ensurePKI(cfg Config, cidr *net.IPNet, advertise net.IP) (*credentials, error) {
	dir := cfg.path("tls")
	ca, err := pki.EnsureCA(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"), "podvisor-ca")
	if err != nil {
		return nil, err
	}
	first := make(net.IP, len(cidr.IP))
	copy(first, cidr.IP)
	first[len(first)-1]++
	dns := []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}
	if h, err := os.Hostname(); err == nil && h != "" {
		dns = append(dns, h)
	}
	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback, first, advertise}
	for _, san := range cfg.TLSSANs {
		if ip := net.ParseIP(san); ip != nil {
			ips = append(ips, ip)
		} else if san != "" {
			dns = append(dns, san)
		}
	}
	if err := pki.EnsureCert(ca, filepath.Join(dir, "serving.crt"), filepath.Join(dir, "serving.key"), pki.CertSpec{
		CommonName: "kube-apiserver", DNSNames: dns, IPs: ips, Server: true,
	}); err != nil {
		return nil, fmt.Errorf("serving certificate: %w", err)
	}
	if err := pki.EnsureCert(ca, filepath.Join(dir, "admin.crt"), filepath.Join(dir, "admin.key"), pki.CertSpec{
		CommonName: "admin", Organizations: []string{"system:masters"}, Client: true,
	}); err != nil {
		return nil, fmt.Errorf("admin certificate: %w", err)
	}
	serving, err := tls.LoadX509KeyPair(filepath.Join(dir, "serving.crt"), filepath.Join(dir, "serving.key"))
	if err != nil {
		return nil, fmt.Errorf("loading serving certificate: %w", err)
	}
	if err := pki.EnsureCert(ca, filepath.Join(dir, "apiserver-kubelet-client.crt"), filepath.Join(dir, "apiserver-kubelet-client.key"), pki.CertSpec{
		CommonName: "podvisor-apiserver-kubelet-client", Organizations: []string{"system:masters"}, Client: true,
	}); err != nil {
		return nil, fmt.Errorf("kubelet client certificate: %w", err)
	}
	kubeletClient, err := tls.LoadX509KeyPair(filepath.Join(dir, "apiserver-kubelet-client.crt"), filepath.Join(dir, "apiserver-kubelet-client.key"))
	if err != nil {
		return nil, fmt.Errorf("loading kubelet client certificate: %w", err)
	}
	adminCert, err := os.ReadFile(filepath.Join(dir, "admin.crt"))
	if err != nil {
		return nil, err
	}
	adminKey, err := os.ReadFile(filepath.Join(dir, "admin.key"))
	if err != nil {
		return nil, err
	}
	return &credentials{ca: ca, serving: serving, kubeletClient: kubeletClient, adminCert: adminCert, adminKey: adminKey, dir: dir}, nil
}

// writeKubeconfig writes the admin kubeconfig.
func writeKubeconfig(path, server string, c *credentials) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["podvisor"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: c.ca.CertPEM}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: c.adminCert, ClientKeyData: c.adminKey}
	kc.Contexts["podvisor"] = &clientcmdapi.Context{Cluster: "podvisor", AuthInfo: "admin", Namespace: "default"}
	kc.CurrentContext = "podvisor"
	data, err := clientcmd.Write(*kc)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("writing kubeconfig: %w", err)
	}
	return os.Rename(tmp, path)
}
