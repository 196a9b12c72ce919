package bootstrappolicy_test

import (
	"context"
	"net/http"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podvisor/podvisor/internal/apiserver/authn"
	"github.com/podvisor/podvisor/internal/apiserver/authn/impersonation"
	"github.com/podvisor/podvisor/internal/apiserver/authz"
	"github.com/podvisor/podvisor/internal/apiserver/authz/rbac"
)

// TestImpersonationWithDefaultPolicy: kubectl --as against the default
// roles: edit may impersonate the service accounts of its namespace,
// view may not, cluster-admin may impersonate anyone.
func TestImpersonationWithDefaultPolicy(t *testing.T) {
	p := defaultPolicy(t,
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "e"}, RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "edit"}, Subjects: []rbacv1.Subject{user("eve")}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "v"}, RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"}, Subjects: []rbacv1.Subject{user("vic")}},
	)
	az := authz.NewChain(nil, rbac.New(p))
	authd := func(name string, groups ...string) *authn.User {
		return &authn.User{Name: name, Groups: append(groups, authn.AllAuthenticated)}
	}
	tests := []struct {
		name    string
		as      *authn.User
		headers http.Header
		want    string // the impersonated user name, or "" for 403
	}{
		{"edit impersonates a service account of its namespace", authd("eve"), http.Header{"Impersonate-User": {"system:serviceaccount:team:builder"}}, "system:serviceaccount:team:builder"},
		{"edit cannot impersonate one elsewhere", authd("eve"), http.Header{"Impersonate-User": {"system:serviceaccount:kube-system:builder"}}, ""},
		{"edit cannot impersonate users", authd("eve"), http.Header{"Impersonate-User": {"alice"}}, ""},
		{"view cannot impersonate", authd("vic"), http.Header{"Impersonate-User": {"system:serviceaccount:team:builder"}}, ""},
		{"cluster admin impersonates a user and group", authd("root", authn.SystemPrivilegedGroup), http.Header{"Impersonate-User": {"alice"}, "Impersonate-Group": {"dev"}}, "alice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, err := impersonation.Impersonate(context.Background(), tc.as, tc.headers, az)
			if tc.want == "" {
				if !apierrors.IsForbidden(err) {
					t.Fatalf("Impersonate = %+v, %v; want 403", u, err)
				}
				return
			}
			if err != nil || u.Name != tc.want {
				t.Fatalf("Impersonate = %+v, %v; want %s", u, err, tc.want)
			}
		})
	}
}
