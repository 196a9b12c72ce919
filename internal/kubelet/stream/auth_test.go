package stream

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"
)

// fakeReviewer allows users by name and knows one token.
type fakeReviewer struct {
	mu      sync.Mutex
	allowed map[string]bool // "user verb subresource"
	asked   []string
}

func (f *fakeReviewer) AuthenticateToken(ctx context.Context, token string) (User, bool, error) {
	if token == "good-token" {
		return User{Name: "system:serviceaccount:monitoring:scraper", Groups: []string{"system:serviceaccounts"}}, true, nil
	}
	return User{}, false, nil
}

func (f *fakeReviewer) Authorize(ctx context.Context, u User, a authorizationv1.ResourceAttributes) (bool, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := u.Name + " " + a.Verb + " " + a.Subresource
	f.asked = append(f.asked, k)
	if f.allowed[k] {
		return true, "", nil
	}
	return false, "no RBAC policy matched", nil
}

func TestAuth(t *testing.T) {
	rv := &fakeReviewer{allowed: map[string]bool{
		"alice get stats": true,
		"bob get proxy":   true,
		"system:serviceaccount:monitoring:scraper get metrics": true,
	}}
	ts := startTestServer(t, Config{}, Deps{Pods: execPods(), Runtime: execRuntime(), Reviewer: rv})
	other := newTestCA(t) // a CA the server does not trust
	tests := []struct {
		name      string
		cfg       *rest.Config
		method    string
		path      string
		wantCode  int
		wantAsked []string
		// wantTLSErr: the handshake itself refuses the client.
		wantTLSErr string
	}{
		{name: "anonymous", cfg: ts.restConfig(t, ""), path: "/healthz", wantCode: 401},
		{name: "untrusted CA", cfg: func() *rest.Config {
			c := ts.restConfig(t, "")
			c.CertData, c.KeyData = other.issue(t, DefaultAPIServerClient, nil, false)
			return c
		}(), path: "/healthz", wantTLSErr: "unknown certificate authority"},
		{name: "api server client", cfg: ts.restConfig(t, DefaultAPIServerClient), path: "/healthz", wantCode: 200},
		{name: "masters", cfg: ts.restConfig(t, "admin", GroupMasters), path: "/pods", wantCode: 200},
		{name: "alice may read stats", cfg: ts.restConfig(t, "alice"), path: "/stats/summary", wantCode: 200,
			wantAsked: []string{"alice get stats"}},
		{name: "alice may not read pods", cfg: ts.restConfig(t, "alice"), path: "/pods", wantCode: 403,
			wantAsked: []string{"alice get pods", "alice get proxy"}},
		{name: "bob reads pods through the proxy fallback", cfg: ts.restConfig(t, "bob"), path: "/pods", wantCode: 200,
			wantAsked: []string{"bob get pods", "bob get proxy"}},
		{name: "bob may not exec with get", cfg: ts.restConfig(t, "bob"), path: "/exec/ns/web/app?command=ls&output=1", wantCode: 403,
			wantAsked: []string{"bob create proxy"}},
		{name: "token", cfg: func() *rest.Config { c := ts.restConfig(t, ""); c.BearerToken = "good-token"; return c }(),
			path: "/metrics", wantCode: 200, wantAsked: []string{"system:serviceaccount:monitoring:scraper get metrics"}},
		{name: "bad token", cfg: func() *rest.Config { c := ts.restConfig(t, ""); c.BearerToken = "bad"; return c }(),
			path: "/metrics", wantCode: 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rv.mu.Lock()
			rv.asked = nil
			rv.mu.Unlock()
			method := tc.method
			if method == "" {
				method = "GET"
			}
			req, _ := http.NewRequest(method, ts.url+tc.path, nil)
			resp, err := httpClient(t, tc.cfg).Do(req)
			if tc.wantTLSErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantTLSErr) {
					t.Fatalf("got error %v, want %q", err, tc.wantTLSErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantCode {
				t.Errorf("got %d (%s), want %d", resp.StatusCode, body, tc.wantCode)
			}
			if tc.wantCode == 403 && !strings.Contains(string(body), "Forbidden (user=") {
				t.Errorf("403 body %s does not say who was forbidden what", body)
			}
			rv.mu.Lock()
			defer rv.mu.Unlock()
			if d := cmp.Diff(tc.wantAsked, rv.asked); d != "" {
				t.Errorf("reviews asked (-want +got):\n%s", d)
			}
		})
	}
}

func TestAPIReviewer(t *testing.T) {
	cs := fake.NewClientset()
	var sars, trs int
	cs.PrependReactor("create", "subjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		sars++
		sar := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview)
		ra := sar.Spec.ResourceAttributes
		sar.Status.Allowed = sar.Spec.User == "alice" && ra.Resource == "nodes" && ra.Subresource == "stats" && ra.Name == "node-a"
		if !sar.Status.Allowed {
			sar.Status.Reason = "denied by test"
		}
		return true, sar, nil
	})
	cs.PrependReactor("create", "tokenreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		trs++
		tr := a.(k8stesting.CreateAction).GetObject().(*authenticationv1.TokenReview)
		if tr.Spec.Token == "t1" {
			tr.Status.Authenticated = true
			tr.Status.User = authenticationv1.UserInfo{Username: "carol", Groups: []string{"g"}}
		}
		return true, tr, nil
	})
	now := time.Unix(1000, 0)
	rv := NewAPIReviewer(cs, func() time.Time { return now })
	ctx := context.Background()
	stats := authorizationv1.ResourceAttributes{Verb: "get", Resource: "nodes", Subresource: "stats", Name: "node-a"}
	proxy := authorizationv1.ResourceAttributes{Verb: "create", Resource: "nodes", Subresource: "proxy", Name: "node-a"}
	steps := []struct {
		name     string
		do       func() (bool, error)
		want     bool
		wantSARs int
		wantTRs  int
	}{
		{"alice stats", func() (bool, error) { ok, _, err := rv.Authorize(ctx, User{Name: "alice"}, stats); return ok, err }, true, 1, 0},
		{"alice stats cached", func() (bool, error) { ok, _, err := rv.Authorize(ctx, User{Name: "alice"}, stats); return ok, err }, true, 1, 0},
		{"alice proxy denied", func() (bool, error) { ok, _, err := rv.Authorize(ctx, User{Name: "alice"}, proxy); return ok, err }, false, 2, 0},
		{"denial cached", func() (bool, error) { ok, _, err := rv.Authorize(ctx, User{Name: "alice"}, proxy); return ok, err }, false, 2, 0},
		{"denial expires after 30s", func() (bool, error) {
			now = now.Add(31 * time.Second)
			ok, _, err := rv.Authorize(ctx, User{Name: "alice"}, proxy)
			return ok, err
		}, false, 3, 0},
		{"allow still cached", func() (bool, error) { ok, _, err := rv.Authorize(ctx, User{Name: "alice"}, stats); return ok, err }, true, 3, 0},
		{"token", func() (bool, error) {
			u, ok, err := rv.AuthenticateToken(ctx, "t1")
			return ok && u.Name == "carol", err
		}, true, 3, 1},
		{"token cached", func() (bool, error) { _, ok, err := rv.AuthenticateToken(ctx, "t1"); return ok, err }, true, 3, 1},
		{"unknown token", func() (bool, error) { _, ok, err := rv.AuthenticateToken(ctx, "t2"); return ok, err }, false, 3, 2},
	}
	for _, st := range steps {
		got, err := st.do()
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got != st.want || sars != st.wantSARs || trs != st.wantTRs {
			t.Errorf("%s: got %v after %d reviews and %d token reviews, want %v, %d, %d", st.name, got, sars, trs, st.want, st.wantSARs, st.wantTRs)
		}
	}
}
