package serviceaccount

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/podvisor/podvisor/internal/apiserver/authn"
)

const issuerName = "https://kubernetes.default.svc.cluster.local"

// objects is a fake Getter.
type objects struct {
	sas     map[string]*corev1.ServiceAccount
	pods    map[string]*corev1.Pod
	secrets map[string]*corev1.Secret
	nodes   map[string]*corev1.Node
}

var errNotFound = errors.New("not found")

func (o *objects) GetServiceAccount(ns, name string) (*corev1.ServiceAccount, error) {
	if x, ok := o.sas[ns+"/"+name]; ok {
		return x, nil
	}
	return nil, errNotFound
}

func (o *objects) GetPod(ns, name string) (*corev1.Pod, error) {
	if x, ok := o.pods[ns+"/"+name]; ok {
		return x, nil
	}
	return nil, errNotFound
}

func (o *objects) GetSecret(ns, name string) (*corev1.Secret, error) {
	if x, ok := o.secrets[ns+"/"+name]; ok {
		return x, nil
	}
	return nil, errNotFound
}

func (o *objects) GetNode(name string) (*corev1.Node, error) {
	if x, ok := o.nodes[name]; ok {
		return x, nil
	}
	return nil, errNotFound
}

func om(ns, name, uid string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(uid)}
}

func newObjects() *objects {
	return &objects{
		sas:     map[string]*corev1.ServiceAccount{"apps/builder": {ObjectMeta: om("apps", "builder", "sa-1")}},
		pods:    map[string]*corev1.Pod{"apps/web-0": {ObjectMeta: om("apps", "web-0", "pod-1")}},
		secrets: map[string]*corev1.Secret{"apps/tok": {ObjectMeta: om("apps", "tok", "sec-1")}},
		nodes:   map[string]*corev1.Node{"n1": {ObjectMeta: om("", "n1", "node-1")}},
	}
}

// clock is a settable time source.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func keys(t testing.TB) map[string]crypto.Signer {
	t.Helper()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]crypto.Signer{"ES256": ec, "RS256": rs}
}

func TestIssueAndAuthenticate(t *testing.T) {
	for alg, key := range keys(t) {
		t.Run(alg, func(t *testing.T) {
			testIssueAndAuthenticate(t, key, alg)
		})
	}
}

func testIssueAndAuthenticate(t *testing.T, key crypto.Signer, alg string) {
	start := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	clk := &clock{t: start}
	iss, err := NewIssuer(IssuerConfig{Issuer: issuerName, Key: key, Now: clk.now, MaxExpiration: 48 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherIss, err := NewIssuer(IssuerConfig{Issuer: issuerName, Key: otherKey, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	foreignIss, err := NewIssuer(IssuerConfig{Issuer: "https://elsewhere", Key: key, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}

	objs := newObjects()
	sa := objs.sas["apps/builder"]
	pod := objs.pods["apps/web-0"]
	secret := objs.secrets["apps/tok"]
	node := objs.nodes["n1"]
	api := []string{issuerName}

	saGroups := []string{"system:serviceaccounts", "system:serviceaccounts:apps"}
	tests := []struct {
		name    string
		issuer  *Issuer
		req     Request
		tamper  func(string) string
		advance time.Duration
		ctxAuds []string
		mutate  func(*objects)
		// wantUser nil with wantErr "" means "not ours" (ok=false, no error).
		wantUser *authn.User
		wantAuds []string
		wantErr  string
	}{
		{name: "plain token", issuer: iss, req: Request{ServiceAccount: sa, Audiences: api},
			wantUser: &authn.User{Name: "system:serviceaccount:apps:builder", UID: "sa-1", Groups: saGroups}, wantAuds: api},
		{name: "bound to a pod on a node", issuer: iss, req: Request{ServiceAccount: sa, Audiences: api, Pod: pod, Node: node},
			wantUser: &authn.User{Name: "system:serviceaccount:apps:builder", UID: "sa-1", Groups: saGroups, Extra: map[string][]string{
				authn.PodNameKey: {"web-0"}, authn.PodUIDKey: {"pod-1"}, authn.NodeNameKey: {"n1"}, authn.NodeUIDKey: {"node-1"}}},
			wantAuds: api},
		{name: "bound to a secret", issuer: iss, req: Request{ServiceAccount: sa, Audiences: api, Secret: secret},
			wantUser: &authn.User{Name: "system:serviceaccount:apps:builder", UID: "sa-1", Groups: saGroups}, wantAuds: api},
		{name: "bound to a node", issuer: iss, req: Request{ServiceAccount: sa, Audiences: api, Node: node},
			wantUser: &authn.User{Name: "system:serviceaccount:apps:builder", UID: "sa-1", Groups: saGroups, Extra: map[string][]string{
				authn.NodeNameKey: {"n1"}, authn.NodeUIDKey: {"node-1"}}},
			wantAuds: api},
		{name: "requested audience", issuer: iss, req: Request{ServiceAccount: sa, Audiences: []string{"vault", "nats"}}, ctxAuds: []string{"nats"},
			wantUser: &authn.User{Name: "system:serviceaccount:apps:builder", UID: "sa-1", Groups: saGroups}, wantAuds: []string{"nats"}},
		{name: "wrong audience", issuer: iss, req: Request{ServiceAccount: sa, Audiences: []string{"vault"}},
			wantErr: `token audiences ["vault"] is invalid for the target audiences ["` + issuerName + `"]`},
		{name: "expired", issuer: iss, req: Request{ServiceAccount: sa, Audiences: api, Expiration: time.Hour}, advance: time.Hour + 2*time.Minute,
			wantErr: "service account token has expired"},
		{name: "within the expiry leeway", issuer: iss, req: Request{ServiceAccount: sa, Audiences: api, Expiration: time.Hour}, advance: time.Hour + 30*time.Second,
			wantUser: &authn.User{Name: "system:serviceaccount:apps:builder", UID: "sa-1", Groups: saGroups}, wantAuds: api},
		{name: "not valid yet", issuer: iss, req: Request{ServiceAccount: sa, Audiences: api}, advance: -10 * time.Minute,
			wantErr: "service account token is not valid yet"},
		{name: "tampered payload", issuer: iss, req: Request{ServiceAccount: sa, Audiences: api}, tamper: tamperSubject,
			wantErr: "signature is invalid"},
		{name: "signed by another key", issuer: otherIss, req: Request{ServiceAccount: sa, Audiences: api},
			wantErr: "signature is invalid"},
		{name: "other issuer is not ours", issuer: foreignIss, req: Request{ServiceAccount: sa, Audiences: api}},
		{name: "not a JWT", tamper: func(string) string { return "abcdef.0123456789abcdef" }},
		{name: "service account deleted", issuer: iss, req: Request{ServiceAccount: sa, Audiences: api},
			mutate: func(o *objects) { delete(o.sas, "apps/builder") }, wantErr: "service account apps/builder has been deleted"},
		{name: "service account recreated", issuer: iss, req: Request{ServiceAccount: sa, Audiences: api},
			mutate: func(o *objects) {
				o.sas["apps/builder"] = &corev1.ServiceAccount{ObjectMeta: om("apps", "builder", "sa-2")}
			},
			wantErr: "service account UID (sa-2) does not match claim (sa-1)"},
		{name: "service account being deleted", issuer: iss, req: Request{ServiceAccount: sa, Audiences: api},
			mutate: func(o *objects) {
				c := o.sas["apps/builder"].DeepCopy()
				c.DeletionTimestamp = &metav1.Time{Time: start.Add(-5 * time.Minute)}
				o.sas["apps/builder"] = c
			}, wantErr: "service account apps/builder has been deleted"},
		{name: "bound pod deleted", issuer: iss, req: Request{ServiceAccount: sa, Audiences: api, Pod: pod},
			mutate: func(o *objects) { delete(o.pods, "apps/web-0") }, wantErr: "service account token has been invalidated"},
		{name: "bound pod replaced", issuer: iss, req: Request{ServiceAccount: sa, Audiences: api, Pod: pod},
			mutate:  func(o *objects) { o.pods["apps/web-0"] = &corev1.Pod{ObjectMeta: om("apps", "web-0", "pod-2")} },
			wantErr: "pod UID (pod-2) does not match service account pod ref claim (pod-1)"},
		{name: "bound secret deleted", issuer: iss, req: Request{ServiceAccount: sa, Audiences: api, Secret: secret},
			mutate: func(o *objects) { delete(o.secrets, "apps/tok") }, wantErr: "service account token has been invalidated"},
		{name: "bound node deleted", issuer: iss, req: Request{ServiceAccount: sa, Audiences: api, Node: node},
			mutate: func(o *objects) { delete(o.nodes, "n1") }, wantErr: "service account token has been invalidated"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk.t = start
			var tok string
			if tc.issuer != nil {
				var exp time.Time
				tok, exp, err = tc.issuer.Issue(tc.req)
				if err != nil {
					t.Fatalf("Issue: %v", err)
				}
				wantExp := tc.req.Expiration
				if wantExp == 0 {
					wantExp = DefaultExpiration
				}
				if !exp.Equal(start.Add(wantExp)) {
					t.Errorf("expiry = %v, want %v", exp, start.Add(wantExp))
				}
			}
			if tc.tamper != nil {
				tok = tc.tamper(tok)
			}
			objs := newObjects()
			if tc.mutate != nil {
				tc.mutate(objs)
			}
			a, err := NewAuthenticator(AuthenticatorConfig{Issuers: []string{issuerName}, Keys: []crypto.PublicKey{iss.PublicKey()}, APIAudiences: api, Getter: objs, Now: clk.now})
			if err != nil {
				t.Fatal(err)
			}
			clk.t = start.Add(tc.advance)
			ctx := context.Background()
			if tc.ctxAuds != nil {
				ctx = authn.WithAudiences(ctx, tc.ctxAuds)
			}
			resp, ok, err := a.AuthenticateToken(ctx, tok)
			if tc.wantErr != "" {
				if ok || err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("AuthenticateToken = %v, %v; want error containing %q", ok, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if ok != (tc.wantUser != nil) {
				t.Fatalf("ok = %v, want %v", ok, tc.wantUser != nil)
			}
			if !ok {
				return
			}
			jti := resp.User.Extra[authn.CredentialIDKey]
			if len(jti) != 1 || !strings.HasPrefix(jti[0], "JTI=") {
				t.Errorf("credential id = %v, want JTI=<uuid>", jti)
			}
			delete(resp.User.Extra, authn.CredentialIDKey)
			if len(resp.User.Extra) == 0 {
				resp.User.Extra = nil
			}
			if diff := cmp.Diff(tc.wantUser, resp.User); diff != "" {
				t.Errorf("user (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantAuds, resp.Audiences); diff != "" {
				t.Errorf("audiences (-want +got):\n%s", diff)
			}
		})
	}
}

// tamperSubject rewrites the payload's subject, keeping the signature.
func tamperSubject(tok string) string {
	parts := strings.Split(tok, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	payload = []byte(strings.Replace(string(payload), "apps:builder", "apps:admin0", 1))
	parts[1] = base64.RawURLEncoding.EncodeToString(payload)
	return strings.Join(parts, ".")
}

func TestClaims(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	iss, err := NewIssuer(IssuerConfig{Issuer: issuerName, Key: key, Now: func() time.Time { return start }})
	if err != nil {
		t.Fatal(err)
	}
	objs := newObjects()
	tok, _, err := iss.Issue(Request{ServiceAccount: objs.sas["apps/builder"], Audiences: []string{"a", "b"}, Pod: objs.pods["apps/web-0"], Node: objs.nodes["n1"], Expiration: 2 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	header, _ := base64.RawURLEncoding.DecodeString(parts[0])
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var h map[string]any
	if err := json.Unmarshal(header, &h); err != nil {
		t.Fatal(err)
	}
	kid, _ := KeyID(key.Public())
	if diff := cmp.Diff(map[string]any{"alg": "ES256", "kid": kid, "typ": "JWT"}, h); diff != "" {
		t.Errorf("header (-want +got):\n%s", diff)
	}
	var c map[string]any
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	if c["jti"] == nil || len(c["jti"].(string)) != 36 {
		t.Errorf("jti = %v, want a UUID", c["jti"])
	}
	delete(c, "jti")
	want := map[string]any{
		"iss": issuerName,
		"sub": "system:serviceaccount:apps:builder",
		"aud": []any{"a", "b"},
		"iat": float64(start.Unix()),
		"nbf": float64(start.Unix()),
		"exp": float64(start.Add(2 * time.Hour).Unix()),
		"kubernetes.io": map[string]any{
			"namespace":      "apps",
			"serviceaccount": map[string]any{"name": "builder", "uid": "sa-1"},
			"pod":            map[string]any{"name": "web-0", "uid": "pod-1"},
			"node":           map[string]any{"name": "n1", "uid": "node-1"},
		},
	}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}
}

func TestIssueErrors(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := NewIssuer(IssuerConfig{Issuer: issuerName, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	objs := newObjects()
	sa := objs.sas["apps/builder"]
	otherNSPod := &corev1.Pod{ObjectMeta: om("other", "p", "u")}
	tests := []struct {
		name string
		req  Request
		want string
	}{
		{"no service account", Request{Audiences: []string{"a"}}, "needs a service account"},
		{"no audience", Request{ServiceAccount: sa}, "at least one audience"},
		{"too short", Request{ServiceAccount: sa, Audiences: []string{"a"}, Expiration: time.Minute}, "shorter than the minimum"},
		{"secret and pod", Request{ServiceAccount: sa, Audiences: []string{"a"}, Secret: objs.secrets["apps/tok"], Pod: objs.pods["apps/web-0"]}, "one object type"},
		{"pod in another namespace", Request{ServiceAccount: sa, Audiences: []string{"a"}, Pod: otherNSPod}, "not in the service account's namespace"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := iss.Issue(tc.req); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Issue error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestKeys(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sub", "sa.key")
	k1, err := LoadOrGenerateKey(p)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %v, want 0600", st.Mode().Perm())
	}
	k2, err := LoadOrGenerateKey(p)
	if err != nil {
		t.Fatal(err)
	}
	if !k1.Public().(*ecdsa.PublicKey).Equal(k2.Public()) {
		t.Error("LoadOrGenerateKey generated a new key instead of loading the existing one")
	}
	bad := filepath.Join(dir, "bad.key")
	if err := os.WriteFile(bad, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrGenerateKey(bad); err == nil {
		t.Error("LoadOrGenerateKey accepted a file without a key")
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewIssuer(IssuerConfig{Issuer: issuerName, Key: small}); err == nil || !strings.Contains(err.Error(), "too small") {
		t.Errorf("NewIssuer with a 1024-bit RSA key: err = %v, want too small", err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewIssuer(IssuerConfig{Issuer: issuerName, Key: p384}); err == nil {
		t.Error("NewIssuer accepted a P-384 key")
	}
}

func TestJWKS(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := NewIssuer(IssuerConfig{Issuer: issuerName, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	b, err := iss.JWKS()
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 1 || set.Keys[0]["alg"] != "ES256" || set.Keys[0]["use"] != "sig" || set.Keys[0]["d"] != nil {
		t.Errorf("JWKS = %s, want one public ES256 signing key", b)
	}
}
