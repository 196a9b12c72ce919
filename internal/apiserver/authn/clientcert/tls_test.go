package clientcert

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestOverTLS authenticates requests over a wall TLS connection, where the
// TLS stack verifies client certificates against the same pool (the
// apiserver's set-up) and where it only requests them.
func TestOverTLS(t *testing.T) {
	year := 365 * 24 * time.Hour
	wall := time.Now()
	ca := issue(t, nil, pkix.Name{CommonName: "ca"}, true, nil, wall.Add(-year), wall.Add(year))
	other := issue(t, nil, pkix.Name{CommonName: "other"}, true, nil, wall.Add(-year), wall.Add(year))
	client := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	admin := issue(t, ca, pkix.Name{CommonName: "admin", Organization: []string{"system:masters"}}, false, client, wall.Add(-time.Hour), wall.Add(year))
	stranger := issue(t, other, pkix.Name{CommonName: "admin", Organization: []string{"system:masters"}}, false, client, wall.Add(-time.Hour), wall.Add(year))
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	a, err := New(Config{CAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok, err := a.Authenticate(r)
		switch {
		case err != nil:
			http.Error(w, err.Error(), http.StatusUnauthorized)
		case !ok:
			http.Error(w, "anonymous", http.StatusUnauthorized)
		default:
			fmt.Fprintf(w, "%s %v", u.Name, u.Groups)
		}
	})
	for _, mode := range []tls.ClientAuthType{tls.VerifyClientCertIfGiven, tls.RequestClientCert} {
		t.Run(mode.String(), func(t *testing.T) {
			srv := httptest.NewUnstartedServer(handler)
			srv.TLS = &tls.Config{ClientAuth: mode, ClientCAs: pool}
			srv.StartTLS()
			defer srv.Close()
			tests := []struct {
				name       string
				cert       *certKey
				wantStatus int
				wantBody   string
			}{
				{"cluster CA", admin, 200, "admin [system:masters]"},
				{"no certificate", nil, 401, "anonymous\n"},
			}
			if mode == tls.RequestClientCert {
				// Only requested, the foreign certificate reaches the
				// authenticator, which must refuse it.
				tests = append(tests, struct {
					name       string
					cert       *certKey
					wantStatus int
					wantBody   string
				}{"other CA", stranger, 401, ""})
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					tr := srv.Client().Transport.(*http.Transport).Clone()
					if tc.cert != nil {
						tr.TLSClientConfig.Certificates = []tls.Certificate{{Certificate: [][]byte{tc.cert.cert.Raw}, PrivateKey: tc.cert.key}}
					}
					defer tr.CloseIdleConnections()
					resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
					if err != nil {
						t.Fatal(err)
					}
					defer resp.Body.Close()
					body, _ := io.ReadAll(resp.Body)
					if resp.StatusCode != tc.wantStatus || (tc.wantBody != "" && string(body) != tc.wantBody) {
						t.Errorf("got %d %q, want %d %q", resp.StatusCode, body, tc.wantStatus, tc.wantBody)
					}
				})
			}
		})
	}
}
