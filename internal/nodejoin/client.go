package nodejoin

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Files in a node's credentials directory.
const (
	CAFile          = "ca.crt"
	ClientCertFile  = "client.crt"
	ClientKeyFile   = "client.key"
	ServingCertFile = "kubelet.crt"
	ServingKeyFile  = "kubelet.key"
)

// renewBefore: certificates this close to their end are renewed.
const renewBefore = 30 * 24 * time.Hour

// Credentials are a node's files (paths).
type Credentials struct {
	CA, ClientCert, ClientKey, ServingCert, ServingKey string
}

// In returns the credential paths in dir.
func In(dir string) Credentials {
	return Credentials{
		CA: filepath.Join(dir, CAFile), ClientCert: filepath.Join(dir, ClientCertFile), ClientKey: filepath.Join(dir, ClientKeyFile),
		ServingCert: filepath.Join(dir, ServingCertFile), ServingKey: filepath.Join(dir, ServingKeyFile),
	}
}

// JoinOptions say how to join.
type JoinOptions struct {
	// Server is the API server's URL (https://host:port).
	Server string
	// Token is the join token "<id>.<secret>"; it may be empty when the
	// directory holds valid credentials.
	Token string
	// NodeName is this node.
	NodeName string
	// Dir holds the credentials.
	Dir string
	// DNSNames and IPs go in the serving certificate.
	DNSNames []string
	IPs      []net.IP
	// Timeout bounds each request; 0 is 30s.
	Timeout time.Duration
}

// valid reports whether the credentials in dir are for node, signed by
// their CA, cover the wanted serving names and last long enough.
func valid(c Credentials, o JoinOptions) error {
	caPEM, err := os.ReadFile(c.CA)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return errors.New("bad CA file")
	}
	check := func(certFile, keyFile string, usage x509.ExtKeyUsage) (*x509.Certificate, error) {
		kp, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		cert, err := x509.ParseCertificate(kp.Certificate[0])
		if err != nil {
			return nil, err
		}
		if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			return nil, err
		}
		if cert.Subject.CommonName != NodeUserPrefix+o.NodeName {
			return nil, fmt.Errorf("certificate is for %q", cert.Subject.CommonName)
		}
		if time.Until(cert.NotAfter) < renewBefore {
			return nil, errors.New("certificate expires soon")
		}
		return cert, nil
	}
	if _, err := check(c.ClientCert, c.ClientKey, x509.ExtKeyUsageClientAuth); err != nil {
		return fmt.Errorf("client certificate: %w", err)
	}
	sc, err := check(c.ServingCert, c.ServingKey, x509.ExtKeyUsageServerAuth)
	if err != nil {
		return fmt.Errorf("serving certificate: %w", err)
	}
	for _, d := range o.DNSNames {
		if !slices.Contains(sc.DNSNames, d) {
			return fmt.Errorf("serving certificate lacks %s", d)
		}
	}
	for _, ip := range o.IPs {
		if !slices.ContainsFunc(sc.IPAddresses, ip.Equal) {
			return fmt.Errorf("serving certificate lacks %s", ip)
		}
	}
	return nil
}

// Ensure returns the node's credentials in o.Dir, joining the cluster
// first when they are missing, not this node's, expiring within 30 days
// or not covering the serving names asked for. Joining needs o.Token,
// or a still valid client certificate (renewal).
func Ensure(ctx context.Context, o JoinOptions) (Credentials, error) {
	c := In(o.Dir)
	err := valid(c, o)
	if err == nil {
		return c, nil
	}
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return c, fmt.Errorf("creating credentials dir: %w", err)
	}
	u, perr := url.Parse(o.Server)
	if perr != nil || u.Scheme != "https" || u.Host == "" {
		return c, fmt.Errorf("server %q: want https://host:port", o.Server)
	}
	var caPEM []byte
	var auth func(*http.Request)
	var clientCert []tls.Certificate
	switch {
	case o.Token != "":
		id, secret, ok := strings.Cut(o.Token, ".")
		if !ok || len(id) != 6 || len(secret) != 16 {
			return c, errors.New(`join token: want "<6 characters>.<16 characters>" (podvisor token create)`)
		}
		caPEM, err = fetchCA(ctx, o, id, secret)
		if err != nil {
			return c, err
		}
		auth = func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+o.Token) }
	default:
		// Renewal with the current certificate, if it still works.
		kp, kerr := tls.LoadX509KeyPair(c.ClientCert, c.ClientKey)
		ca, cerr := os.ReadFile(c.CA)
		if kerr != nil || cerr != nil {
			return c, fmt.Errorf("no valid node credentials in %s (%v) and no join token given", o.Dir, err)
		}
		caPEM, clientCert = ca, []tls.Certificate{kp}
		auth = func(*http.Request) {}
	}
	clientKey, clientCSR, err := newCSR(o.NodeName, nil, nil)
	if err != nil {
		return c, err
	}
	servingKey, servingCSR, err := newCSR(o.NodeName, o.DNSNames, o.IPs)
	if err != nil {
		return c, err
	}
	body, _ := json.Marshal(CredentialsRequest{NodeName: o.NodeName, ClientCSR: string(clientCSR), ServingCSR: string(servingCSR)})
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return c, errors.New("the server's CA is not a PEM certificate")
	}
	hc := &http.Client{Timeout: o.Timeout, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: clientCert, MinVersion: tls.VersionTLS12}}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(o.Server, "/")+PathCredentials, bytes.NewReader(body))
	if err != nil {
		return c, err
	}
	req.Header.Set("Content-Type", "application/json")
	auth(req)
	resp, err := hc.Do(req)
	if err != nil {
		return c, fmt.Errorf("requesting node credentials: %w", err)
	}
	defer resp.Body.Close()
	var out CredentialsResponse
	if err := decode(resp, &out); err != nil {
		return c, fmt.Errorf("requesting node credentials: %w", err)
	}
	files := map[string][]byte{
		c.CA: caPEM, c.ClientKey: clientKey, c.ClientCert: []byte(out.ClientCert),
		c.ServingKey: servingKey, c.ServingCert: []byte(out.ServingCert),
	}
	for p, data := range files {
		if err := writeFile(p, data); err != nil {
			return c, err
		}
	}
	if err := valid(c, o); err != nil {
		return c, fmt.Errorf("the issued credentials do not check out: %w", err)
	}
	return c, nil
}

// fetchCA gets the cluster CA without trusting the server yet, and
// checks it against the token's secret.
func fetchCA(ctx context.Context, o JoinOptions, id, secret string) ([]byte, error) {
	hc := &http.Client{Timeout: o.Timeout, Transport: &http.Transport{
		// The CA is not known yet; the HMAC below authenticates it.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12},
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(o.Server, "/")+PathCA+"?token-id="+url.QueryEscape(id), nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching the cluster CA: %w", err)
	}
	defer resp.Body.Close()
	var out CAResponse
	if err := decode(resp, &out); err != nil {
		return nil, fmt.Errorf("fetching the cluster CA: %w", err)
	}
	if !Verify(secret, []byte(out.CA), out.Signature) {
		return nil, errors.New("the cluster CA's signature does not match the join token: wrong token or not the right server")
	}
	return []byte(out.CA), nil
}

func decode(resp *http.Response, v any) error {
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s: %s", resp.Status, e.Error)
		}
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return json.Unmarshal(b, v)
}

// newCSR makes a P-256 key and a certificate request for it.
func newCSR(node string, dns []string, ips []net.IP) (keyPEM, csrPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:  pkix.Name{CommonName: NodeUserPrefix + node, Organization: []string{NodesGroup}},
		DNSNames: dns, IPAddresses: ips,
	}, key)
	if err != nil {
		return nil, nil, fmt.Errorf("creating certificate request: %w", err)
	}
	kd, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

func writeFile(p string, data []byte) error {
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	return nil
}
