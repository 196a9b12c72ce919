package rbac

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podvisor/podvisor/internal/apiserver/authn"
	"github.com/podvisor/podvisor/internal/apiserver/authz"
)

func clusterRole(name string, rules ...rbacv1.PolicyRule) *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}
}

func nsRole(ns, name string, rules ...rbacv1.PolicyRule) *rbacv1.Role {
	return &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Rules: rules}
}

func crb(name, role string, subjects ...rbacv1.Subject) *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name}, RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role}, Subjects: subjects}
}

func rb(ns, name, kind, role string, subjects ...rbacv1.Subject) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: kind, Name: role}, Subjects: subjects}
}

func userSubject(n string) rbacv1.Subject  { return rbacv1.Subject{Kind: rbacv1.UserKind, Name: n} }
func groupSubject(n string) rbacv1.Subject { return rbacv1.Subject{Kind: rbacv1.GroupKind, Name: n} }
func saSubject(ns, n string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: n}
}

func rule(verbs, groups, resources []string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: verbs, APIGroups: groups, Resources: resources}
}

func s(v ...string) []string { return v }

func testPolicy() *Policy {
	p := NewPolicy()
	p.SetClusterRole(clusterRole("pod-reader", rule(s("get", "list", "watch"), s(""), s("pods"))))
	p.SetClusterRole(clusterRole("deployer", rule(s("*"), s("apps"), s("deployments", "deployments/scale"))))
	p.SetClusterRole(clusterRole("health", rbacv1.PolicyRule{Verbs: s("get"), NonResourceURLs: s("/healthz", "/readyz")}))
	p.SetRole(nsRole("team-a", "cm-editor", rule(s("get", "update"), s(""), s("configmaps"))))
	p.SetClusterRoleBinding(crb("alice-reads-pods", "pod-reader", userSubject("alice")))
	p.SetClusterRoleBinding(crb("ops-deploy", "deployer", groupSubject("ops")))
	p.SetClusterRoleBinding(crb("all-health", "health", groupSubject(authn.AllAuthenticated)))
	// A service account subject without namespace in a cluster binding
	// never matches.
	p.SetClusterRoleBinding(crb("broken-sa", "deployer", rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: "builder"}))
	p.SetRoleBinding(rb("team-a", "bob-cm", "Role", "cm-editor", userSubject("bob")))
	// The service account's namespace defaults to the binding's.
	p.SetRoleBinding(rb("team-a", "builder-pods", "ClusterRole", "pod-reader", rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: "builder"}))
	p.SetRoleBinding(rb("team-b", "ci-deploy", "ClusterRole", "deployer", saSubject("ci", "runner")))
	p.SetRoleBinding(rb("team-a", "dangling", "Role", "does-not-exist", userSubject("carol")))
	p.SetClusterRoleBinding(crb("dangling-cluster", "nope", userSubject("carol")))
	return p
}

func TestAuthorize(t *testing.T) {
	alice := &authn.User{Name: "alice", Groups: s(authn.AllAuthenticated)}
	bob := &authn.User{Name: "bob", Groups: s("ops", authn.AllAuthenticated)}
	carol := &authn.User{Name: "carol"}
	builder := &authn.User{Name: "system:serviceaccount:team-a:builder", Groups: authn.ServiceAccountGroups("team-a")}
	runner := &authn.User{Name: "system:serviceaccount:ci:runner", Groups: authn.ServiceAccountGroups("ci")}
	az := New(testPolicy())
	tests := []struct {
		name       string
		a          authz.Attributes
		want       authz.Decision
		wantReason string
	}{
		{"user binding, any namespace", with(alice, res("list", "", "pods", "", "team-z", "")), authz.Allow,
			`RBAC: allowed by ClusterRoleBinding "alice-reads-pods" of ClusterRole "pod-reader" to User "alice"`},
		{"user binding, cluster-wide list", with(alice, res("list", "", "pods", "", "", "")), authz.Allow,
			`RBAC: allowed by ClusterRoleBinding "alice-reads-pods" of ClusterRole "pod-reader" to User "alice"`},
		{"user binding, wrong verb", with(alice, res("delete", "", "pods", "", "team-a", "p")), authz.NoOpinion, ""},
		{"group binding", with(bob, res("patch", "apps", "deployments", "scale", "x", "d")), authz.Allow,
			`RBAC: allowed by ClusterRoleBinding "ops-deploy" of ClusterRole "deployer" to Group "ops"`},
		{"group binding, resource outside the role", with(bob, res("get", "apps", "deployments", "status", "x", "d")), authz.NoOpinion, ""},
		{"role binding in its namespace", with(bob, res("update", "", "configmaps", "", "team-a", "c")), authz.Allow,
			`RBAC: allowed by RoleBinding "bob-cm/team-a" of Role "cm-editor" to User "bob"`},
		{"role binding elsewhere", with(bob, res("update", "", "configmaps", "", "team-b", "c")), authz.NoOpinion, ""},
		{"role binding does not grant cluster scope", with(bob, res("get", "", "configmaps", "", "", "c")), authz.NoOpinion, ""},
		{"service account defaulted to binding namespace", with(builder, res("watch", "", "pods", "", "team-a", "")), authz.Allow,
			`RBAC: allowed by RoleBinding "builder-pods/team-a" of ClusterRole "pod-reader" to ServiceAccount "builder/team-a"`},
		{"service account, other namespace", with(builder, res("watch", "", "pods", "", "team-b", "")), authz.NoOpinion, ""},
		{"namespaceless SA subject in cluster binding never matches", with(&authn.User{Name: "system:serviceaccount::builder"}, res("get", "apps", "deployments", "", "x", "d")), authz.NoOpinion, ""},
		{"service account from another namespace in a role binding", with(runner, res("create", "apps", "deployments", "", "team-b", "")), authz.Allow,
			`RBAC: allowed by RoleBinding "ci-deploy/team-b" of ClusterRole "deployer" to ServiceAccount "runner/ci"`},
		{"non-resource URL via group", with(alice, nonRes("get", "/healthz")), authz.Allow,
			`RBAC: allowed by ClusterRoleBinding "all-health" of ClusterRole "health" to Group "system:authenticated"`},
		{"non-resource URL not granted", with(alice, nonRes("get", "/metrics")), authz.NoOpinion, ""},
		{"missing roles are reported", with(carol, res("get", "", "pods", "", "team-a", "p")), authz.NoOpinion,
			`RBAC: [clusterrole.rbac.authorization.k8s.io "nope" not found, role.rbac.authorization.k8s.io "does-not-exist" not found]`},
		{"no user", res("get", "", "pods", "", "team-a", "p"), authz.NoOpinion, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, reason, err := az.Authorize(context.Background(), tc.a)
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if d != tc.want || reason != tc.wantReason {
				t.Errorf("Authorize = %v, %q; want %v, %q", d, reason, tc.want, tc.wantReason)
			}
		})
	}
}

func with(u *authn.User, a authz.Attributes) authz.Attributes {
	a.User = u
	return a
}

func TestPolicyUpdates(t *testing.T) {
	p := testPolicy()
	az := New(p)
	alice := &authn.User{Name: "alice"}
	dave := &authn.User{Name: "dave", Groups: s("qa")}
	listPods := res("list", "", "pods", "", "team-a", "")
	check := func(step string, u *authn.User, want authz.Decision) {
		t.Helper()
		if d, _, _ := az.Authorize(context.Background(), with(u, listPods)); d != want {
			t.Errorf("%s: %s list pods = %v, want %v", step, u.Name, d, want)
		}
	}
	check("initially", alice, authz.Allow)
	check("initially", dave, authz.NoOpinion)

	// Rebinding to another subject moves the grant.
	p.SetClusterRoleBinding(crb("alice-reads-pods", "pod-reader", groupSubject("qa")))
	check("after rebinding", alice, authz.NoOpinion)
	check("after rebinding", dave, authz.Allow)

	// Changing the role's rules takes effect without touching bindings.
	p.SetClusterRole(clusterRole("pod-reader", rule(s("get"), s(""), s("pods"))))
	check("after narrowing the role", dave, authz.NoOpinion)
	p.SetClusterRole(clusterRole("pod-reader", rule(s("list"), s(""), s("pods"))))
	check("after widening the role", dave, authz.Allow)

	p.DeleteClusterRoleBinding("alice-reads-pods")
	check("after deleting the binding", dave, authz.NoOpinion)
	p.DeleteClusterRoleBinding("alice-reads-pods") // deleting twice is fine

	p.SetRoleBinding(rb("team-a", "dave", "Role", "lister", userSubject("dave")))
	check("binding to a missing role", dave, authz.NoOpinion)
	p.SetRole(nsRole("team-a", "lister", rule(s("list"), s(""), s("pods"))))
	check("role created", dave, authz.Allow)
	p.DeleteRole("team-a", "lister")
	check("role deleted", dave, authz.NoOpinion)
	p.SetRole(nsRole("team-a", "lister", rule(s("list"), s(""), s("pods"))))
	p.DeleteRoleBinding("team-a", "dave")
	check("role binding deleted", dave, authz.NoOpinion)

	p.Replace(nil, []*rbacv1.ClusterRole{clusterRole("pod-reader", rule(s("list"), s(""), s("pods")))}, nil,
		[]*rbacv1.ClusterRoleBinding{crb("x", "pod-reader", userSubject("dave"))})
	check("after Replace", dave, authz.Allow)
	check("after Replace", alice, authz.NoOpinion)
	if n := len(p.ClusterRoles()); n != 1 {
		t.Errorf("ClusterRoles after Replace = %d, want 1", n)
	}
}

func TestRulesFor(t *testing.T) {
	az := New(testPolicy())
	bob := &authn.User{Name: "bob", Groups: s("ops", authn.AllAuthenticated)}
	res, nonRes, incomplete, err := az.RulesFor(context.Background(), bob, "team-a")
	if err != nil || incomplete {
		t.Fatalf("RulesFor: incomplete=%v err=%v", incomplete, err)
	}
	wantRes := []authorizationv1.ResourceRule{
		{Verbs: s("*"), APIGroups: s("apps"), Resources: s("deployments", "deployments/scale")},
		{Verbs: s("get", "update"), APIGroups: s(""), Resources: s("configmaps")},
	}
	wantNonRes := []authorizationv1.NonResourceRule{{Verbs: s("get"), NonResourceURLs: s("/healthz", "/readyz")}}
	if diff := cmp.Diff(wantRes, res); diff != "" {
		t.Errorf("resource rules (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantNonRes, nonRes); diff != "" {
		t.Errorf("non-resource rules (-want +got):\n%s", diff)
	}
	// A binding naming the user twice (by name and group) counts once.
	p := NewPolicy()
	p.SetClusterRole(clusterRole("r", rule(s("get"), s(""), s("pods"))))
	p.SetClusterRoleBinding(crb("b", "r", userSubject("bob"), groupSubject("ops")))
	res, _, _, _ = New(p).RulesFor(context.Background(), bob, "")
	if len(res) != 1 {
		t.Errorf("RulesFor with a doubly-matching binding = %v, want one rule", res)
	}
	_, _, _, err = az.RulesFor(context.Background(), &authn.User{Name: "carol"}, "team-a")
	if err == nil {
		t.Error("RulesFor with dangling bindings: no error, want the missing roles")
	}
}
