package nodejoin

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// testCA makes a CA.
func testCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func bootstrapSecret(id, secret, node string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "bootstrap-token-" + id, Namespace: "kube-system"}, Type: "bootstrap.kubernetes.io/token",
		Data: map[string][]byte{"token-id": []byte(id), "token-secret": []byte(secret), "usage-bootstrap-authentication": []byte("true")}}
	if node != "" {
		s.Data["podvisor.io-node-name"] = []byte(node)
	}
	return s
}

// setup starts a TLS server with the join Handler over a fake API that
// knows tokens abcdef.0123456789abcdef (node n1) and ghijkl.0123456789abcdef
// (any node).
func setup(t *testing.T) (*httptest.Server, []byte) {
	caCert, caKey, caPEM := testCA(t)
	cs := fake.NewClientset(bootstrapSecret("abcdef", "0123456789abcdef", "n1"), bootstrapSecret("ghijkl", "0123456789abcdef", ""))
	cs.PrependReactor("create", "tokenreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		tr := a.(k8stesting.CreateAction).GetObject().(*authenticationv1.TokenReview).DeepCopy()
		switch tr.Spec.Token {
		case "abcdef.0123456789abcdef":
			tr.Status = authenticationv1.TokenReviewStatus{Authenticated: true, User: authenticationv1.UserInfo{Username: "system:node:n1", Groups: []string{"system:nodes"}}}
		case "ghijkl.0123456789abcdef":
			tr.Status = authenticationv1.TokenReviewStatus{Authenticated: true, User: authenticationv1.UserInfo{Username: "system:bootstrap:ghijkl", Groups: []string{"system:bootstrappers"}}}
		}
		return true, tr, nil
	})
	h := &Handler{CACert: caCert, CAKey: caKey, CAPEM: caPEM, Client: cs}
	srv := httptest.NewUnstartedServer(h)
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	skey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "server"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}, caCert, skey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	srv.TLS = &tls.Config{ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: pool,
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: skey}}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, caPEM
}

func TestJoin(t *testing.T) {
	srv, caPEM := setup(t)
	ctx := context.Background()
	dir := t.TempDir()
	o := JoinOptions{Server: srv.URL, Token: "abcdef.0123456789abcdef", NodeName: "n1", Dir: dir, IPs: []net.IP{net.ParseIP("10.0.0.7")}, DNSNames: []string{"n1"}}
	c, err := Ensure(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := tls.LoadX509KeyPair(c.ClientCert, c.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(kp.Certificate[0])
	if cert.Subject.CommonName != "system:node:n1" || cert.Subject.Organization[0] != "system:nodes" {
		t.Errorf("client certificate subject %v", cert.Subject)
	}
	sp, _ := tls.LoadX509KeyPair(c.ServingCert, c.ServingKey)
	scert, _ := x509.ParseCertificate(sp.Certificate[0])
	if len(scert.IPAddresses) != 1 || !scert.IPAddresses[0].Equal(net.ParseIP("10.0.0.7")) || scert.DNSNames[0] != "n1" {
		t.Errorf("serving SANs %v %v", scert.IPAddresses, scert.DNSNames)
	}
	if got, _ := readFile(c.CA); got != string(caPEM) {
		t.Errorf("CA not stored")
	}
	// Valid credentials are kept: no token needed.
	o.Token = ""
	if _, err := Ensure(ctx, o); err != nil {
		t.Errorf("second start without a token: %v", err)
	}
	// Asking for a new SAN renews with the client certificate.
	o.IPs = append(o.IPs, net.ParseIP("10.0.0.8"))
	if _, err := Ensure(ctx, o); err != nil {
		t.Errorf("renewal with the client certificate: %v", err)
	}
}

func TestJoinRefusals(t *testing.T) {
	srv, _ := setup(t)
	ctx := context.Background()
	tests := []struct {
		name, token, node, want string
	}{
		{name: "wrong secret", token: "abcdef.fffffffffffffff0", node: "n1", want: "signature does not match"},
		{name: "unknown token", token: "zzzzzz.0123456789abcdef", node: "n1", want: "unknown or expired join token"},
		{name: "token of another node", token: "abcdef.0123456789abcdef", node: "n2", want: `this token or certificate is node "n1"'s, not "n2"'s`},
		{name: "malformed token", token: "nope", node: "n1", want: "join token"},
		{name: "bad node name", token: "ghijkl.0123456789abcdef", node: "Bad_Name", want: "node name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Ensure(ctx, JoinOptions{Server: srv.URL, Token: tc.token, NodeName: tc.node, Dir: t.TempDir()})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := Ensure(ctx, JoinOptions{Server: srv.URL, Token: "ghijkl.0123456789abcdef", NodeName: "any-name", Dir: t.TempDir()}); err != nil {
		t.Errorf("an unbound token joins any name: %v", err)
	}
	if _, err := Ensure(ctx, JoinOptions{Server: srv.URL, NodeName: "n1", Dir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "no join token") {
		t.Errorf("no token, no credentials: %v", err)
	}
}

func readFile(p string) (string, error) {
	b, err := os.ReadFile(p)
	return string(b), err
}
