// Package auth is the `make bench` suite for authentication and
// authorization: the per-request cost of the apiserver's authorizer chain
// on a realistic policy, and of authenticating by client certificate and
// by service-account token. Only cmd/bench imports it.
package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net/http/httptest"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podvisor/podvisor/internal/apiserver/authn"
	"github.com/podvisor/podvisor/internal/apiserver/authn/clientcert"
	"github.com/podvisor/podvisor/internal/apiserver/authn/serviceaccount"
	"github.com/podvisor/podvisor/internal/apiserver/authz"
	"github.com/podvisor/podvisor/internal/bench/report"
	"github.com/podvisor/podvisor/internal/testutil/authtest"
)

// Run measures and returns the suite's tables. binDir is unused: the suite
// runs in process.
func Run(ctx context.Context, _ string) ([]*report.Table, error) {
	authzTable, err := authorization(ctx)
	if err != nil {
		return nil, err
	}
	authnTable, err := authentication(ctx)
	if err != nil {
		return nil, err
	}
	return []*report.Table{authzTable, authnTable}, nil
}

func row(t *report.Table, name string, r testing.BenchmarkResult) {
	t.AddRow(name, fmt.Sprintf("%.0f ns", float64(r.T.Nanoseconds())/float64(r.N)), r.AllocsPerOp())
}

func authorization(ctx context.Context) (*report.Table, error) {
	az, err := authtest.RealisticChain()
	if err != nil {
		return nil, err
	}
	t := &report.Table{
		Title:   "Authorization per request (bootstrap policy + 200 bindings)",
		Columns: []string{"request", "time/op", "allocs/op"},
		Notes: []string{
			fmt.Sprintf("Authorizer chain system:masters → Node → RBAC over Kubernetes' default policy plus %d bindings and a 500-pod node graph; one goroutine.", authtest.Bindings),
		},
	}
	for _, c := range authtest.Cases() {
		d, _, err := az.Authorize(ctx, c.Attrs)
		if err != nil || (d == authz.Allow) != c.Allow {
			return nil, fmt.Errorf("case %s decided %v (%v), want allow=%v", c.Name, d, err, c.Allow)
		}
		a := c.Attrs
		row(t, c.Name, testing.Benchmark(func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				az.Authorize(ctx, a)
			}
		}))
	}
	return t, nil
}

// objects is the service-account token authenticator's view of the
// cluster: one service account, pod and node.
type objects struct {
	sa   *corev1.ServiceAccount
	pod  *corev1.Pod
	node *corev1.Node
}

var errNotFound = errors.New("not found")

func (o *objects) GetServiceAccount(ns, name string) (*corev1.ServiceAccount, error) {
	if ns == o.sa.Namespace && name == o.sa.Name {
		return o.sa, nil
	}
	return nil, errNotFound
}

func (o *objects) GetPod(ns, name string) (*corev1.Pod, error) {
	if ns == o.pod.Namespace && name == o.pod.Name {
		return o.pod, nil
	}
	return nil, errNotFound
}

func (o *objects) GetSecret(string, string) (*corev1.Secret, error) { return nil, errNotFound }

func (o *objects) GetNode(name string) (*corev1.Node, error) {
	if name == o.node.Name {
		return o.node, nil
	}
	return nil, errNotFound
}

func authentication(ctx context.Context) (*report.Table, error) {
	t := &report.Table{
		Title:   "Authentication per request",
		Columns: []string{"credential", "time/op", "allocs/op"},
		Notes: []string{
			"Client certificate: ECDSA P-256 chain verified by the authenticator, or reused from the TLS handshake (the apiserver's set-up).",
			"Service-account token: pod-bound JWT, signature + claims + bound-object checks; cached = authn.CachedTokens hit.",
		},
	}
	certRows, err := certificates()
	if err != nil {
		return nil, err
	}
	for _, r := range certRows {
		row(t, r.name, r.result)
	}
	objs := &objects{
		sa:   &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "builder", UID: "sa-1"}},
		pod:  &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "web-0", UID: "pod-1"}},
		node: &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", UID: "node-1"}},
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	rs, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	const issuer = "https://kubernetes.default.svc.cluster.local"
	for _, k := range []struct {
		name string
		key  crypto.Signer
	}{{"ES256", ec}, {"RS256", rs}} {
		iss, err := serviceaccount.NewIssuer(serviceaccount.IssuerConfig{Issuer: issuer, Key: k.key})
		if err != nil {
			return nil, err
		}
		tok, _, err := iss.Issue(serviceaccount.Request{ServiceAccount: objs.sa, Audiences: []string{issuer}, Pod: objs.pod, Node: objs.node})
		if err != nil {
			return nil, err
		}
		sa, err := serviceaccount.NewAuthenticator(serviceaccount.AuthenticatorConfig{Issuers: []string{issuer}, Keys: []crypto.PublicKey{iss.PublicKey()}, APIAudiences: []string{issuer}, Getter: objs})
		if err != nil {
			return nil, err
		}
		cached := authn.NewCachedTokens(sa, 10*time.Second, 1024, nil)
		for _, v := range []struct {
			name string
			a    authn.TokenAuthenticator
		}{{"service-account token " + k.name, sa}, {"service-account token " + k.name + ", cached", cached}} {
			if _, ok, err := v.a.AuthenticateToken(ctx, tok); !ok || err != nil {
				return nil, fmt.Errorf("%s: token not authenticated: %v", v.name, err)
			}
			a := v.a
			row(t, v.name, testing.Benchmark(func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					a.AuthenticateToken(ctx, tok)
				}
			}))
		}
		issueResult := testing.Benchmark(func(b *testing.B) {
			for b.Loop() {
				iss.Issue(serviceaccount.Request{ServiceAccount: objs.sa, Audiences: []string{issuer}, Pod: objs.pod})
			}
		})
		row(t, "issue token "+k.name+" (TokenRequest)", issueResult)
	}
	return t, nil
}

type namedResult struct {
	name   string
	result testing.BenchmarkResult
}

func certificates() ([]namedResult, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "admin", Organization: []string{"system:masters"}}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	a, err := clientcert.New(clientcert.Config{CAs: pool})
	if err != nil {
		return nil, err
	}
	var out []namedResult
	for _, v := range []struct {
		name     string
		verified [][]*x509.Certificate
	}{{"client certificate, verified here", nil}, {"client certificate, verified by TLS", [][]*x509.Certificate{{leaf, ca}}}} {
		r := httptest.NewRequest("GET", "/api", nil)
		r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}, VerifiedChains: v.verified}
		if _, ok, err := a.Authenticate(r); !ok || err != nil {
			return nil, fmt.Errorf("%s: not authenticated: %v", v.name, err)
		}
		out = append(out, namedResult{v.name, testing.Benchmark(func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				a.Authenticate(r)
			}
		})})
	}
	return out, nil
}
