// Package clientcert authenticates requests by their TLS client certificate:
// a certificate chain that verifies against the cluster CA pool for client
// authentication gives the user named by the leaf's Common Name, in the
// groups named by its Organizations, as Kubernetes' --client-ca-file does.
// Only the apiserver and the server wiring import it.
package clientcert

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/podvisor/podvisor/internal/apiserver/authn"
)

// Config configures an Authenticator.
type Config struct {
	// CAs is the pool of cluster CAs client certificates must chain to.
	CAs *x509.CertPool
	// Now returns the current time; time.Now if nil.
	Now func() time.Time
}

// Authenticator authenticates requests by client certificate.
type Authenticator struct {
	cas *x509.CertPool
	now func() time.Time
}

var _ authn.Authenticator = (*Authenticator)(nil)

// New returns an Authenticator for cfg.
func New(cfg Config) (*Authenticator, error) {
	if cfg.CAs == nil {
		return nil, errors.New("client certificate authenticator needs a CA pool")
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Authenticator{cas: cfg.CAs, now: now}, nil
}

// Authenticate implements authn.Authenticator.Authenticate.
//
// A request without a client certificate gives ok=false and no error. When
// the TLS stack already verified the chain (tls.Config.ClientAuth is
// VerifyClientCertIfGiven with ClientCAs set), the verified chain is reused:
// its root must still be in the CA pool and every certificate in it must be
// valid now, so a certificate that expires during a long-lived connection
// stops authenticating. Otherwise the presented chain is verified here.
func (a *Authenticator) Authenticate(r *http.Request) (*authn.User, bool, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil, false, nil
	}
	leaf := r.TLS.PeerCertificates[0]
	now := a.now()
	var chain []*x509.Certificate
	for _, c := range r.TLS.VerifiedChains {
		if a.trusted(c, now) {
			chain = c
			break
		}
	}
	if chain == nil {
		opts := x509.VerifyOptions{
			Roots:       a.cas,
			CurrentTime: now,
			KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}
		if len(r.TLS.PeerCertificates) > 1 {
			opts.Intermediates = x509.NewCertPool()
			for _, c := range r.TLS.PeerCertificates[1:] {
				opts.Intermediates.AddCert(c)
			}
		}
		chains, err := leaf.Verify(opts)
		if err != nil {
			return nil, false, fmt.Errorf("verifying certificate %s failed: %w", identifier(leaf), err)
		}
		chain = chains[0]
	}
	cn := chain[0].Subject.CommonName
	if cn == "" {
		// Kubernetes ignores certificates without a common name.
		return nil, false, nil
	}
	fp := sha256.Sum256(chain[0].Raw)
	return &authn.User{
		Name:   cn,
		Groups: append([]string(nil), chain[0].Subject.Organization...),
		Extra:  map[string][]string{authn.CredentialIDKey: {"X509SHA256=" + hex.EncodeToString(fp[:])}},
	}, true, nil
}

// trusted reports whether a chain the TLS stack verified is still good: all
// its certificates valid at now and its root in our pool.
func (a *Authenticator) trusted(chain []*x509.Certificate, now time.Time) bool {
	if len(chain) == 0 {
		return false
	}
	for _, c := range chain {
		if now.Before(c.NotBefore) || now.After(c.NotAfter) {
			return false
		}
	}
	// The chain's root must be one of our CAs, not merely chain to one:
	// verifying a certificate that is itself in the pool is a hash lookup
	// that returns the one-element chain.
	root := chain[len(chain)-1]
	chains, err := root.Verify(x509.VerifyOptions{Roots: a.cas, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	return err == nil && len(chains) > 0 && len(chains[0]) == 1 && chains[0][0].Equal(root)
}

// identifier names a certificate in error messages as Kubernetes does.
func identifier(c *x509.Certificate) string {
	return fmt.Sprintf("SN=%d, SKID=%s, AKID=%s", c.SerialNumber, colonHex(c.SubjectKeyId), colonHex(c.AuthorityKeyId))
}

func colonHex(b []byte) string {
	h := strings.ToUpper(hex.EncodeToString(b))
	var sb strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			sb.WriteByte(':')
		}
		sb.WriteString(h[i : i+2])
	}
	return sb.String()
}
