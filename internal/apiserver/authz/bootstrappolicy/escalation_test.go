package bootstrappolicy_test

import (
	"context"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podvisor/podvisor/internal/apiserver/authn"
	"github.com/podvisor/podvisor/internal/apiserver/authz"
	"github.com/podvisor/podvisor/internal/apiserver/authz/rbac"
)

func TestEscalation(t *testing.T) {
	p := defaultPolicy(t,
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "a"}, RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "admin"}, Subjects: []rbacv1.Subject{user("ada")}},
	)
	// binder may bind cluster-admin without holding it.
	p.SetClusterRole(&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "binder"}, Rules: []rbacv1.PolicyRule{
		{Verbs: []string{"bind"}, APIGroups: []string{rbacv1.GroupName}, Resources: []string{"clusterroles"}, ResourceNames: []string{"cluster-admin"}},
	}})
	p.SetClusterRoleBinding(&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "binder"}, RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "binder"}, Subjects: []rbacv1.Subject{user("bea")}})
	rbacAz := rbac.New(p)
	e := &rbac.Escalation{Authorizer: authz.NewChain(nil, rbacAz), RBAC: rbacAz}
	ctx := context.Background()
	authd := func(name string, groups ...string) *authn.User {
		return &authn.User{Name: name, Groups: append(groups, authn.AllAuthenticated)}
	}
	ada, bea, root := authd("ada"), authd("bea"), authd("root", authn.SystemPrivilegedGroup)
	podRules := []rbacv1.PolicyRule{{Verbs: []string{"get", "create"}, APIGroups: []string{""}, Resources: []string{"pods"}}}
	nodeRules := []rbacv1.PolicyRule{{Verbs: []string{"get", "delete"}, APIGroups: []string{""}, Resources: []string{"nodes"}}}
	clusterAdmin := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"}
	edit := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "edit"}
	tests := []struct {
		name    string
		check   func() error
		wantErr string
	}{
		{"namespace admin creates a role it holds", func() error { return e.CheckRole(ctx, ada, "team", "r", podRules, false) }, ""},
		{"namespace admin creates a role it does not hold", func() error { return e.CheckRole(ctx, ada, "team", "r", nodeRules, false) },
			`roles.rbac.authorization.k8s.io "r" is forbidden: user "ada" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:
{APIGroups:[""], Resources:["nodes"], Verbs:["get" "delete"]}`},
		{"namespace admin's rules stop at its namespace", func() error { return e.CheckRole(ctx, ada, "other", "r", podRules, false) }, "not currently held"},
		{"namespace admin binds edit", func() error { return e.CheckBinding(ctx, ada, "team", "b", edit) }, ""},
		{"namespace admin binds cluster-admin", func() error { return e.CheckBinding(ctx, ada, "team", "b", clusterAdmin) }, "not currently held"},
		{"bind permission", func() error { return e.CheckBinding(ctx, bea, "", "b", clusterAdmin) }, ""},
		{"bind permission is per role", func() error { return e.CheckBinding(ctx, bea, "", "b", edit) }, "not currently held"},
		{"missing role", func() error {
			return e.CheckBinding(ctx, ada, "team", "b", rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "ghost"})
		}, `role.rbac.authorization.k8s.io "ghost" not found`},
		{"aggregated cluster role needs escalate", func() error { return e.CheckRole(ctx, ada, "", "agg", nil, true) }, "must have cluster-admin privileges to use the aggregationRule"},
		{"system:masters", func() error { return e.CheckRole(ctx, root, "", "anything", nodeRules, true) }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.check()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want a 403 containing %q", err, tc.wantErr)
			}
		})
	}
}
