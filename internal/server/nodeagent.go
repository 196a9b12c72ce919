package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/podvisor/podvisor/internal/agent"
	"github.com/podvisor/podvisor/internal/apiserver/authn/bootstrap"
	"github.com/podvisor/podvisor/internal/nodejoin"
	"github.com/podvisor/podvisor/internal/pki"
)

// AgentDataDir is where the in-process agent keeps its data.
func AgentDataDir(dataDir string) string { return filepath.Join(dataDir, "agent") }

// DefaultAgentPodCIDR is the in-process agent's pod CIDR when none is
// given: the first node CIDR of the default cluster CIDR (the node
// controller honours a CIDR a node registers with).
const DefaultAgentPodCIDR = "10.42.0.0/24"

// loopback returns an admin client of this server.
func (s *Server) loopback(creds *credentials, port int) (kubernetes.Interface, error) {
	host := s.cfg.BindAddress
	if host == "0.0.0.0" || host == "::" || host == "" {
		host = "127.0.0.1"
	}
	return kubernetes.NewForConfig(&rest.Config{
		Host: "https://" + net.JoinHostPort(host, fmt.Sprint(port)),
		TLSClientConfig: rest.TLSClientConfig{
			CAData: creds.ca.CertPEM, CertData: creds.adminCert, KeyData: creds.adminKey,
		},
	})
}

// withNodeJoin serves the node join endpoints (internal/nodejoin) in
// front of the API server.
func (s *Server) withNodeJoin(next http.Handler, creds *credentials, port int) http.Handler {
	var once sync.Once
	var h http.Handler
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !nodejoin.Handles(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		once.Do(func() {
			client, err := s.loopback(creds, port)
			if err != nil {
				s.log.Error("node join: loopback client", "err", err)
				h = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
					http.Error(w, "node join is unavailable", http.StatusServiceUnavailable)
				})
				return
			}
			h = &nodejoin.Handler{CACert: creds.ca.Cert, CAKey: creds.ca.Key, CAPEM: creds.ca.CertPEM, Client: client, Log: s.log}
		})
		h.ServeHTTP(w, r)
	})
}

// startAgent runs the agent in-process with a node client certificate
// this server signs, until ctx ends.
func (s *Server) startAgent(ctx context.Context, creds *credentials) error {
	ac := s.cfg.Agent
	if ac.DataDir == "" {
		ac.DataDir = AgentDataDir(s.cfg.DataDir)
	}
	if ac.NodeName == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("agent node name: %w", err)
		}
		ac.NodeName = strings.ToLower(h)
	}
	if ac.PodCIDR == "" {
		ac.PodCIDR = DefaultAgentPodCIDR
	}
	dir := filepath.Join(ac.DataDir, "pki")
	files := nodejoin.In(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating agent credentials dir: %w", err)
	}
	if err := pki.EnsureCert(creds.ca, files.ClientCert, files.ClientKey, pki.CertSpec{
		CommonName: nodejoin.NodeUserPrefix + ac.NodeName, Organizations: []string{nodejoin.NodesGroup}, Client: true,
	}); err != nil {
		return fmt.Errorf("agent client certificate: %w", err)
	}
	ips := []net.IP{net.IPv4(127, 0, 0, 1)}
	if ip := net.ParseIP(ac.NodeIP); ip != nil {
		ips = append(ips, ip)
	} else {
		ips = append(ips, advertiseAddress(s.cfg))
	}
	if err := pki.EnsureCert(creds.ca, files.ServingCert, files.ServingKey, pki.CertSpec{
		CommonName: nodejoin.NodeUserPrefix + ac.NodeName, Organizations: []string{nodejoin.NodesGroup},
		DNSNames: []string{ac.NodeName, "localhost"}, IPs: ips, Server: true,
	}); err != nil {
		return fmt.Errorf("agent serving certificate: %w", err)
	}
	if err := os.WriteFile(files.CA, creds.ca.CertPEM, 0o644); err != nil {
		return fmt.Errorf("writing agent CA: %w", err)
	}
	rc := &rest.Config{
		Host:            "https://" + s.addr,
		TLSClientConfig: rest.TLSClientConfig{CAFile: files.CA, CertFile: files.ClientCert, KeyFile: files.ClientKey},
	}
	a, err := agent.New(ac, agent.Deps{Log: s.log.With("component", "agent"), RESTConfig: rc, Credentials: files})
	if err != nil {
		return err
	}
	s.agent = a
	s.clients.Add(1)
	go func() {
		defer s.clients.Done()
		if err := a.Run(ctx); err != nil && ctx.Err() == nil {
			s.errCh <- fmt.Errorf("agent: %w", err)
		}
	}()
	return nil
}

// Agent returns the in-process agent (nil with DisableAgent).
func (s *Server) Agent() *agent.Agent { return s.agent }

// JoinTokenOptions describe a join token.
type JoinTokenOptions struct {
	// TTL is how long the token works; 0 is forever.
	TTL time.Duration
	// NodeName, if set, binds the token to that node.
	NodeName string
	// Description is kept with the token.
	Description string
}

// CreateJoinToken creates a join token (a bootstrap-token Secret in
// kube-system) with an admin client and returns it.
func CreateJoinToken(ctx context.Context, client kubernetes.Interface, o JoinTokenOptions) (string, error) {
	tok, id, secret, err := bootstrap.GenerateToken()
	if err != nil {
		return "", err
	}
	so := bootstrap.SecretOptions{ID: id, Secret: secret, NodeName: o.NodeName, Description: o.Description}
	if o.TTL > 0 {
		so.Expiration = time.Now().Add(o.TTL)
	}
	sec, err := bootstrap.NewSecret(so)
	if err != nil {
		return "", err
	}
	if _, err := client.CoreV1().Secrets(sec.Namespace).Create(ctx, sec, metav1.CreateOptions{}); err != nil {
		return "", fmt.Errorf("creating the join token: %w", err)
	}
	return tok, nil
}
