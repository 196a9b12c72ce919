package clientcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/podvisor/podvisor/internal/apiserver/authn"
)

var now = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

type certKey struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

var serial int64

// issue creates a certificate for subject signed by parent (self-signed if
// parent is nil), valid in [notBefore, notAfter].
func issue(t testing.TB, parent *certKey, subject pkix.Name, isCA bool, usage []x509.ExtKeyUsage, notBefore, notAfter time.Time) *certKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               subject,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           usage,
		BasicConstraintsValid: true,
		IsCA:                  isCA,
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &certKey{cert: c, key: key}
}

func TestAuthenticate(t *testing.T) {
	year := 365 * 24 * time.Hour
	client := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	server := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	ca := issue(t, nil, pkix.Name{CommonName: "podvisor-ca"}, true, nil, now.Add(-year), now.Add(10*year))
	other := issue(t, nil, pkix.Name{CommonName: "other-ca"}, true, nil, now.Add(-year), now.Add(10*year))
	inter := issue(t, ca, pkix.Name{CommonName: "intermediate"}, true, nil, now.Add(-year), now.Add(year))
	admin := issue(t, ca, pkix.Name{CommonName: "admin", Organization: []string{"system:masters"}}, false, client, now.Add(-time.Hour), now.Add(year))
	node := issue(t, inter, pkix.Name{CommonName: "system:node:n1", Organization: []string{"system:nodes"}}, false, client, now.Add(-time.Hour), now.Add(year))
	foreign := issue(t, other, pkix.Name{CommonName: "admin", Organization: []string{"system:masters"}}, false, client, now.Add(-time.Hour), now.Add(year))
	expired := issue(t, ca, pkix.Name{CommonName: "old"}, false, client, now.Add(-2*year), now.Add(-time.Hour))
	future := issue(t, ca, pkix.Name{CommonName: "soon"}, false, client, now.Add(time.Hour), now.Add(year))
	serverOnly := issue(t, ca, pkix.Name{CommonName: "web"}, false, server, now.Add(-time.Hour), now.Add(year))
	noCN := issue(t, ca, pkix.Name{Organization: []string{"g"}}, false, client, now.Add(-time.Hour), now.Add(year))

	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	a, err := New(Config{CAs: pool, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		peers    []*certKey
		verified [][]*certKey // what the TLS stack verified, if anything
		wantUser *authn.User
		wantErr  string
	}{
		{name: "no TLS client certificate"},
		{name: "admin", peers: []*certKey{admin},
			wantUser: &authn.User{Name: "admin", Groups: []string{"system:masters"}}},
		{name: "through an intermediate", peers: []*certKey{node, inter},
			wantUser: &authn.User{Name: "system:node:n1", Groups: []string{"system:nodes"}}},
		{name: "intermediate not sent", peers: []*certKey{node}, wantErr: "unknown authority"},
		{name: "signed by another CA", peers: []*certKey{foreign}, wantErr: "certificate signed by unknown authority"},
		{name: "expired", peers: []*certKey{expired}, wantErr: "expired"},
		{name: "not yet valid", peers: []*certKey{future}, wantErr: "not yet valid"},
		{name: "server-only usage", peers: []*certKey{serverOnly}, wantErr: "incompatible key usage"},
		{name: "no common name", peers: []*certKey{noCN}},
		{name: "verified by TLS", peers: []*certKey{node, inter}, verified: [][]*certKey{{node, inter, ca}},
			wantUser: &authn.User{Name: "system:node:n1", Groups: []string{"system:nodes"}}},
		{name: "verified by TLS against a root we do not trust", peers: []*certKey{foreign}, verified: [][]*certKey{{foreign, other}},
			wantErr: "certificate signed by unknown authority"},
		{name: "verified by TLS at handshake, expired since", peers: []*certKey{expired}, verified: [][]*certKey{{expired, ca}},
			wantErr: "expired"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/api", nil)
			if tc.peers != nil {
				r.TLS = &tls.ConnectionState{}
				for _, p := range tc.peers {
					r.TLS.PeerCertificates = append(r.TLS.PeerCertificates, p.cert)
				}
				for _, chain := range tc.verified {
					var c []*x509.Certificate
					for _, p := range chain {
						c = append(c, p.cert)
					}
					r.TLS.VerifiedChains = append(r.TLS.VerifiedChains, c)
				}
			}
			u, ok, err := a.Authenticate(r)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || ok {
					t.Fatalf("Authenticate = %v, %v, %v; want error containing %q", u, ok, err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), "verifying certificate SN=") {
					t.Errorf("error %q does not name the certificate", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if ok != (tc.wantUser != nil) {
				t.Fatalf("ok = %v, want %v", ok, tc.wantUser != nil)
			}
			if diff := cmp.Diff(tc.wantUser, u, cmpopts.IgnoreFields(authn.User{}, "Extra")); diff != "" {
				t.Errorf("user (-want +got):\n%s", diff)
			}
			if u != nil && !strings.HasPrefix(u.Extra[authn.CredentialIDKey][0], "X509SHA256=") {
				t.Errorf("credential id = %v, want X509SHA256=...", u.Extra)
			}
		})
	}
}

func TestNewNeedsPool(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("New without a CA pool succeeded")
	}
}
