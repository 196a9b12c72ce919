package clientcert

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkAuthenticate measures authenticating a request by its client
// certificate, verifying the chain here or reusing the TLS stack's.
func BenchmarkAuthenticate(b *testing.B) {
	year := 365 * 24 * time.Hour
	ca := issue(b, nil, pkix.Name{CommonName: "ca"}, true, nil, now.Add(-year), now.Add(year))
	admin := issue(b, ca, pkix.Name{CommonName: "admin", Organization: []string{"system:masters"}}, false, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, now.Add(-time.Hour), now.Add(year))
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	a, err := New(Config{CAs: pool, Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		verified [][]*x509.Certificate
	}{
		{"verify", nil},
		{"tls-verified", [][]*x509.Certificate{{admin.cert, ca.cert}}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r := httptest.NewRequest("GET", "/api", nil)
			r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{admin.cert}, VerifiedChains: tc.verified}
			b.ReportAllocs()
			for b.Loop() {
				if _, ok, err := a.Authenticate(r); !ok || err != nil {
					b.Fatal(ok, err)
				}
			}
		})
	}
}
