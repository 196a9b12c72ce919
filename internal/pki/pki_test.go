package pki_test

import (
	"crypto/x509"
	"net"
	"path/filepath"
	"testing"

	"github.com/podvisor/podvisor/internal/pki"
)

func TestEnsure(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.EnsureCA(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"), "test-ca")
	if err != nil {
		t.Fatal(err)
	}
	again, err := pki.EnsureCA(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"), "test-ca")
	if err != nil {
		t.Fatal(err)
	}
	if !again.Cert.Equal(ca.Cert) {
		t.Error("second EnsureCA made a new CA; want the existing one")
	}
	crt, key := filepath.Join(dir, "s.crt"), filepath.Join(dir, "s.key")
	spec := pki.CertSpec{CommonName: "kube-apiserver", DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true}
	steps := []struct {
		name    string
		spec    pki.CertSpec
		reissue bool
	}{
		{"first issue", spec, true},
		{"same names keep the certificate", spec, false},
		{"a new SAN reissues", pki.CertSpec{CommonName: "kube-apiserver", DNSNames: []string{"localhost", "api.example"}, IPs: spec.IPs, Server: true}, true},
	}
	var prev *x509.Certificate
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if err := pki.EnsureCert(ca, crt, key, st.spec); err != nil {
				t.Fatal(err)
			}
			c, _, err := pki.LoadCert(crt)
			if err != nil {
				t.Fatal(err)
			}
			if reissued := prev == nil || !c.Equal(prev); reissued != st.reissue {
				t.Errorf("reissued %v, want %v", reissued, st.reissue)
			}
			if _, err := c.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "localhost"}); err != nil {
				t.Errorf("certificate does not verify for localhost: %v", err)
			}
			prev = c
		})
	}
	if _, err := pki.EnsureKey(filepath.Join(dir, "sa.key")); err != nil {
		t.Fatal(err)
	}
}
