package authn

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
	authenticationv1 "k8s.io/api/authentication/v1"
)

// staticTokens is a TokenAuthenticator over a map; tokens starting with
// "bad-" are recognised but rejected.
type staticTokens map[string]*User

func (s staticTokens) AuthenticateToken(_ context.Context, token string) (*Response, bool, error) {
	if u, ok := s[token]; ok {
		return &Response{User: u}, true, nil
	}
	if len(token) > 4 && token[:4] == "bad-" {
		return nil, false, errors.New("token " + token + " is revoked")
	}
	return nil, false, nil
}

// quietTokens accepts its tokens and ignores all others.
type quietTokens map[string]*User

func (q quietTokens) AuthenticateToken(_ context.Context, token string) (*Response, bool, error) {
	if u, ok := q[token]; ok {
		return &Response{User: u}, true, nil
	}
	return nil, false, nil
}

func request(headers map[string]string) *http.Request {
	r := httptest.NewRequest("GET", "/api", nil)
	for k, v := range headers {
		r.Header.Set(k, v)
	}
	return r
}

func TestBearerToken(t *testing.T) {
	tests := []struct {
		name, header, want string
	}{
		{"plain", "Bearer abc", "abc"},
		{"lower-case scheme", "bearer abc", "abc"},
		{"surrounding space", "  Bearer abc  ", "abc"},
		{"extra parts ignored", "Bearer abc def", "abc"},
		{"double space is no token", "Bearer  abc", ""},
		{"basic auth", "Basic YWJjOmRlZg==", ""},
		{"scheme only", "Bearer", ""},
		{"empty", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := BearerToken(request(map[string]string{"Authorization": tc.header})); got != tc.want {
				t.Errorf("BearerToken(%q) = %q, want %q", tc.header, got, tc.want)
			}
		})
	}
}

func TestUnion(t *testing.T) {
	alice := &User{Name: "alice", Groups: []string{"dev"}}
	anon := &User{Name: Anonymous, Groups: []string{AllUnauthenticated}}
	already := &User{Name: "carol", Groups: []string{AllAuthenticated, "ops"}}
	u := NewUnion(NewBearer(staticTokens{"t-alice": alice, "t-carol": already}, quietTokens{"t-anon": anon}))
	tests := []struct {
		name     string
		header   string
		wantUser *User
		wantOK   bool
		wantErr  string
	}{
		{name: "no credentials", header: "", wantOK: false},
		{name: "known token gets system:authenticated", header: "Bearer t-alice", wantOK: true,
			wantUser: &User{Name: "alice", Groups: []string{"dev", AllAuthenticated}}},
		{name: "second token authenticator", header: "Bearer t-anon", wantOK: true, wantUser: anon},
		{name: "group not added twice", header: "Bearer t-carol", wantOK: true, wantUser: already},
		{name: "unknown token", header: "Bearer nope", wantErr: "invalid bearer token"},
		{name: "rejected token explains why", header: "Bearer bad-1", wantErr: "token bad-1 is revoked"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{}
			if tc.header != "" {
				h["Authorization"] = tc.header
			}
			got, ok, err := u.Authenticate(request(h))
			if ok != tc.wantOK {
				t.Fatalf("ok = %v, want %v (err %v)", ok, tc.wantOK, err)
			}
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if diff := cmp.Diff(tc.wantUser, got); diff != "" {
				t.Errorf("user (-want +got):\n%s", diff)
			}
		})
	}
	// The authenticator's own user must not have been modified.
	if diff := cmp.Diff([]string{"dev"}, alice.Groups); diff != "" {
		t.Errorf("union modified the authenticator's user (-want +got):\n%s", diff)
	}
}

func TestSplitServiceAccountUsername(t *testing.T) {
	tests := []struct {
		in, ns, name string
		ok           bool
	}{
		{"system:serviceaccount:default:builder", "default", "builder", true},
		{"system:serviceaccount:default", "", "", false},
		{"system:serviceaccount:a:b:c", "", "", false},
		{"system:serviceaccount:Bad_NS:x", "", "", false},
		{"alice", "", "", false},
	}
	for _, tc := range tests {
		ns, name, err := SplitServiceAccountUsername(tc.in)
		if (err == nil) != tc.ok || ns != tc.ns || name != tc.name {
			t.Errorf("SplitServiceAccountUsername(%q) = %q, %q, %v; want %q, %q, ok=%v", tc.in, ns, name, err, tc.ns, tc.name, tc.ok)
		}
	}
}

func TestNodeIdentity(t *testing.T) {
	tests := []struct {
		name     string
		u        *User
		wantName string
		wantNode bool
	}{
		{"node", NodeUser("n1"), "n1", true},
		{"node name without group", &User{Name: "system:node:n1"}, "", false},
		{"group without node name", &User{Name: "kubelet", Groups: []string{NodesGroup}}, "", true},
		{"nil", nil, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, ok := NodeIdentity(tc.u)
			if n != tc.wantName || ok != tc.wantNode {
				t.Errorf("NodeIdentity = %q, %v; want %q, %v", n, ok, tc.wantName, tc.wantNode)
			}
		})
	}
}

// audienceTokens accepts "aud-token", valid for audience "api" only.
type audienceTokens struct{}

func (audienceTokens) AuthenticateToken(ctx context.Context, token string) (*Response, bool, error) {
	if token != "aud-token" {
		return nil, false, nil
	}
	auds, _ := AudiencesFrom(ctx)
	got := IntersectAudiences([]string{"api"}, auds)
	if len(got) == 0 {
		return nil, false, errors.New("token audiences [\"api\"] is invalid for the target audiences")
	}
	return &Response{User: &User{Name: "system:serviceaccount:ns:sa", Groups: []string{"system:serviceaccounts"}}, Audiences: got}, true, nil
}

func TestTokenReview(t *testing.T) {
	tokens := TokenUnion{staticTokens{"static": {Name: "alice", UID: "u1", Groups: []string{"dev"}, Extra: map[string][]string{"k": {"v"}}}}, audienceTokens{}}
	api := []string{"api"}
	tests := []struct {
		name    string
		spec    authenticationv1.TokenReviewSpec
		want    authenticationv1.TokenReviewStatus
		wantErr bool
	}{
		{name: "empty token is a bad request", spec: authenticationv1.TokenReviewSpec{}, wantErr: true},
		{name: "static token valid for API audiences", spec: authenticationv1.TokenReviewSpec{Token: "static"},
			want: authenticationv1.TokenReviewStatus{Authenticated: true, Audiences: []string{"api"},
				User: authenticationv1.UserInfo{Username: "alice", UID: "u1", Groups: []string{"dev", AllAuthenticated}, Extra: map[string]authenticationv1.ExtraValue{"k": {"v"}}}}},
		{name: "static token for another audience", spec: authenticationv1.TokenReviewSpec{Token: "static", Audiences: []string{"vault"}},
			want: authenticationv1.TokenReviewStatus{Error: `token audiences ["api"] is invalid for the target audiences ["vault"]`}},
		{name: "audience-aware token", spec: authenticationv1.TokenReviewSpec{Token: "aud-token", Audiences: []string{"other", "api"}},
			want: authenticationv1.TokenReviewStatus{Authenticated: true, Audiences: []string{"api"},
				User: authenticationv1.UserInfo{Username: "system:serviceaccount:ns:sa", Groups: []string{"system:serviceaccounts", AllAuthenticated}}}},
		{name: "audience-aware token, wrong audience", spec: authenticationv1.TokenReviewSpec{Token: "aud-token", Audiences: []string{"other"}},
			want: authenticationv1.TokenReviewStatus{Error: `token audiences ["api"] is invalid for the target audiences`}},
		{name: "unknown token", spec: authenticationv1.TokenReviewSpec{Token: "zzz"},
			want: authenticationv1.TokenReviewStatus{Error: "invalid bearer token"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := &authenticationv1.TokenReview{Spec: tc.spec}
			err := TokenReview(context.Background(), tokens, api, tr)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if diff := cmp.Diff(tc.want, tr.Status); diff != "" {
				t.Errorf("status (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSelfSubjectReview(t *testing.T) {
	ssr := &authenticationv1.SelfSubjectReview{}
	u := &User{Name: "bob", UID: "7", Groups: []string{"g", AllAuthenticated}, Extra: map[string][]string{"scopes": {"a", "b"}}}
	if err := SelfSubjectReview(u, ssr); err != nil {
		t.Fatal(err)
	}
	want := authenticationv1.UserInfo{Username: "bob", UID: "7", Groups: []string{"g", AllAuthenticated}, Extra: map[string]authenticationv1.ExtraValue{"scopes": {"a", "b"}}}
	if diff := cmp.Diff(want, ssr.Status.UserInfo); diff != "" {
		t.Errorf("userInfo (-want +got):\n%s", diff)
	}
	if err := SelfSubjectReview(nil, ssr); err == nil {
		t.Error("SelfSubjectReview(nil) succeeded, want an error")
	}
}
