package server

import (
	"context"
	"crypto/x509"
	"net/http"

	"github.com/podvisor/podvisor/internal/apiserver/authn"
	"github.com/podvisor/podvisor/internal/apiserver/authz"
)

// authentication builds the authenticator and authorizer.
//
// This is the interim pair used until the authn/authz packages' real
// authenticators and RBAC are wired in: client certificates signed by the
// cluster CA (CN is the user, O the groups) and members of system:masters
// allowed everything.
func authentication(cfg Config, c *credentials) (authn.Authenticator, authz.Authorizer, error) {
	return &certAuthenticator{roots: c.ca.Pool()}, mastersAuthorizer{}, nil
}

type certAuthenticator struct{ roots *x509.CertPool }

func (a *certAuthenticator) Authenticate(r *http.Request) (*authn.User, bool, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil, false, nil
	}
	leaf := r.TLS.PeerCertificates[0]
	inter := x509.NewCertPool()
	for _, c := range r.TLS.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: a.roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return nil, false, err
	}
	groups := append(append([]string(nil), leaf.Subject.Organization...), "system:authenticated")
	return &authn.User{Name: leaf.Subject.CommonName, Groups: groups}, true, nil
}

type mastersAuthorizer struct{}

func (mastersAuthorizer) Authorize(_ context.Context, a authz.Attributes) (authz.Decision, string, error) {
	for _, g := range a.User.Groups {
		if g == "system:masters" {
			return authz.Allow, "", nil
		}
	}
	return authz.NoOpinion, "", nil
}
