package impersonation

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/podvisor/podvisor/internal/apiserver/authn"
	"github.com/podvisor/podvisor/internal/apiserver/authz"
)

// grants is a fake authorizer allowing "impersonate" of the listed
// "resource/name" (or "resource/sub/name", "ns/resource/name") strings.
type grants map[string]bool

func (g grants) Authorize(_ context.Context, a authz.Attributes) (authz.Decision, string, error) {
	if a.Verb != "impersonate" || !a.ResourceRequest {
		return authz.NoOpinion, "", nil
	}
	key := a.Resource + "/" + a.Name
	if a.Subresource != "" {
		key = a.Resource + "/" + a.Subresource + "/" + a.Name
	}
	if a.Namespace != "" {
		key = a.Namespace + "/" + key
	}
	if g[key] {
		return authz.Allow, "", nil
	}
	return authz.NoOpinion, "no rule for " + key, nil
}

func TestImpersonate(t *testing.T) {
	bob := &authn.User{Name: "bob", Groups: []string{"dev", authn.AllAuthenticated}}
	az := grants{
		"users/alice": true, "groups/ops": true, "groups/system:authenticated": true,
		"groups/system:unauthenticated": true, "users/system:anonymous": true,
		"uids/1234": true, "userextras/scopes/view": true, "userextras/scopes/edit": true,
		"apps/serviceaccounts/builder": true,
	}
	tests := []struct {
		name       string
		headers    http.Header
		want       *authn.User
		wantStatus int32
		wantMsg    string
	}{
		{name: "no headers: the requester", headers: http.Header{}, want: bob},
		{name: "user", headers: http.Header{"Impersonate-User": {"alice"}},
			want: &authn.User{Name: "alice", Groups: []string{authn.AllAuthenticated}}},
		{name: "user with groups, uid and extras", headers: http.Header{
			"Impersonate-User": {"alice"}, "Impersonate-Group": {"ops"}, "Impersonate-Uid": {"1234"},
			"Impersonate-Extra-Scopes": {"view", "edit"}},
			want: &authn.User{Name: "alice", UID: "1234", Groups: []string{"ops", authn.AllAuthenticated},
				Extra: map[string][]string{"scopes": {"view", "edit"}}}},
		{name: "explicit system:authenticated is not doubled", headers: http.Header{
			"Impersonate-User": {"alice"}, "Impersonate-Group": {"system:authenticated"}},
			want: &authn.User{Name: "alice", Groups: []string{authn.AllAuthenticated}}},
		{name: "service account gets its groups", headers: http.Header{"Impersonate-User": {"system:serviceaccount:apps:builder"}},
			want: &authn.User{Name: "system:serviceaccount:apps:builder", Groups: []string{"system:serviceaccounts", "system:serviceaccounts:apps", authn.AllAuthenticated}}},
		{name: "anonymous", headers: http.Header{"Impersonate-User": {"system:anonymous"}},
			want: &authn.User{Name: "system:anonymous", Groups: []string{authn.AllUnauthenticated}}},
		{name: "user not allowed", headers: http.Header{"Impersonate-User": {"root"}}, wantStatus: 403,
			wantMsg: `users "root" is forbidden: User "bob" cannot impersonate resource "users" in API group "" at the cluster scope: no rule for users/root`},
		{name: "group not allowed", headers: http.Header{"Impersonate-User": {"alice"}, "Impersonate-Group": {"system:masters"}}, wantStatus: 403,
			wantMsg: `groups "system:masters" is forbidden: User "bob" cannot impersonate resource "groups" in API group "" at the cluster scope`},
		{name: "service account elsewhere not allowed", headers: http.Header{"Impersonate-User": {"system:serviceaccount:kube-system:admin"}}, wantStatus: 403,
			wantMsg: `serviceaccounts "admin" is forbidden: User "bob" cannot impersonate resource "serviceaccounts" in API group "" in the namespace "kube-system"`},
		{name: "extra value not allowed", headers: http.Header{"Impersonate-User": {"alice"}, "Impersonate-Extra-Scopes": {"admin"}}, wantStatus: 403,
			wantMsg: `userextras.authentication.k8s.io "admin" is forbidden: User "bob" cannot impersonate resource "userextras/scopes" in API group "authentication.k8s.io" at the cluster scope`},
		{name: "uid not allowed", headers: http.Header{"Impersonate-User": {"alice"}, "Impersonate-Uid": {"0"}}, wantStatus: 403,
			wantMsg: `uids.authentication.k8s.io "0" is forbidden: User "bob" cannot impersonate resource "uids" in API group "authentication.k8s.io" at the cluster scope`},
		{name: "group without user", headers: http.Header{"Impersonate-Group": {"ops"}}, wantStatus: 400,
			wantMsg: "without impersonating a user"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Impersonate(context.Background(), bob, tc.headers, az)
			if tc.wantStatus != 0 {
				if err == nil {
					t.Fatalf("Impersonate = %+v, want a %d error", got, tc.wantStatus)
				}
				se, ok := err.(*apierrors.StatusError)
				if !ok || se.Status().Code != tc.wantStatus || !strings.Contains(se.Status().Message, tc.wantMsg) {
					t.Fatalf("error = %v (%T), want %d containing %q", err, err, tc.wantStatus, tc.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("user (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRemoveHeaders(t *testing.T) {
	h := http.Header{"Impersonate-User": {"a"}, "Impersonate-Group": {"g"}, "Impersonate-Uid": {"1"}, "Impersonate-Extra-X": {"y"}, "Accept": {"*/*"}}
	if !Requested(h) {
		t.Fatal("Requested = false, want true")
	}
	RemoveHeaders(h)
	if Requested(h) || h.Get("Accept") != "*/*" {
		t.Errorf("after RemoveHeaders: %v", h)
	}
}
