package bootstrappolicy_test

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/podvisor/podvisor/internal/apiserver/authn"
	"github.com/podvisor/podvisor/internal/apiserver/authz"
	"github.com/podvisor/podvisor/internal/apiserver/authz/bootstrappolicy"
	"github.com/podvisor/podvisor/internal/apiserver/authz/node"
	"github.com/podvisor/podvisor/internal/apiserver/authz/rbac"
)

func user(n string) rbacv1.Subject  { return rbacv1.Subject{Kind: rbacv1.UserKind, Name: n} }
func group(n string) rbacv1.Subject { return rbacv1.Subject{Kind: rbacv1.GroupKind, Name: n} }
func serviceAccount(ns, n string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: n}
}

func do(verb, group, resource, ns string) authz.Attributes {
	return authz.Attributes{Verb: verb, ResourceRequest: true, APIGroup: group, Resource: resource, Namespace: ns}
}

func named(a authz.Attributes, name string) authz.Attributes {
	a.Name = name
	return a
}

func get(path string) authz.Attributes { return authz.Attributes{Verb: "get", Path: path} }

// defaultPolicy is the bootstrap policy as the apiserver stores it
// (aggregated), with extra role bindings.
func defaultPolicy(tb testing.TB, rbs ...*rbacv1.RoleBinding) *rbac.Policy {
	roles := bootstrappolicy.ClusterRoles()
	agg, err := rbac.Aggregate(roles)
	if err != nil {
		tb.Fatal(err)
	}
	p := rbac.NewPolicy()
	p.Replace(nil, roles, rbs, bootstrappolicy.ClusterRoleBindings())
	for _, r := range agg {
		p.SetClusterRole(r)
	}
	return p
}

// realisticChain returns the apiserver's authorizer chain over the bootstrap
// policy plus 200 bindings: 100 RoleBindings (20 namespaces, users and
// service accounts bound to view, edit or admin) and 100
// ClusterRoleBindings (users and groups bound to view or a custom role),
// and a node graph of 500 pods on 10 nodes.
func realisticChain(tb testing.TB) authz.Authorizer {
	var rbs []*rbacv1.RoleBinding
	roles := []string{"view", "edit", "admin"}
	for i := range 100 {
		ns := fmt.Sprintf("ns-%d", i%20)
		subj := user(fmt.Sprintf("user-%d", i))
		if i%2 == 1 {
			subj = serviceAccount(ns, fmt.Sprintf("sa-%d", i))
		}
		rbs = append(rbs, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("rb-%d", i)},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: roles[i%3]},
			Subjects:   []rbacv1.Subject{subj},
		})
	}
	p := defaultPolicy(tb, rbs...)
	p.SetClusterRole(&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "custom"}, Rules: []rbacv1.PolicyRule{
		{Verbs: []string{"get", "list"}, APIGroups: []string{"example.com"}, Resources: []string{"widgets"}},
	}})
	for i := range 100 {
		subj := user(fmt.Sprintf("cluster-user-%d", i))
		if i%2 == 1 {
			subj = group(fmt.Sprintf("team-%d", i))
		}
		p.SetClusterRoleBinding(&rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("crb-%d", i)},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: []string{"view", "custom"}[i%2]},
			Subjects:   []rbacv1.Subject{subj},
		})
	}
	g := node.NewGraph()
	for i := range 500 {
		g.SetPod(&corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: fmt.Sprintf("ns-%d", i%20), Name: fmt.Sprintf("pod-%d", i)},
			Spec: corev1.PodSpec{NodeName: fmt.Sprintf("node-%d", i%10), Volumes: []corev1.Volume{
				{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: fmt.Sprintf("secret-%d", i)}}},
			}},
		})
	}
	return authz.NewChain(node.New(g), rbac.New(p))
}

func benchCases() []struct {
	name  string
	a     authz.Attributes
	allow bool
} {
	authd := func(name string, groups ...string) *authn.User {
		return &authn.User{Name: name, Groups: append(groups, authn.AllAuthenticated)}
	}
	with := func(u *authn.User, a authz.Attributes) authz.Attributes { a.User = u; return a }
	saNS := "ns-3" // sa-3 is bound to view in ns-3 by rb-3
	podsOnNode := do("watch", "", "pods", "")
	podsOnNode.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", "node-1")
	return []struct {
		name  string
		a     authz.Attributes
		allow bool
	}{
		{"sa-rolebinding-allow", with(authd("system:serviceaccount:ns-3:sa-3", authn.ServiceAccountGroups(saNS)...), named(do("get", "", "pods", saNS), "pod-3")), true},
		{"user-rolebinding-allow", with(authd("user-4"), do("create", "apps", "deployments", "ns-4")), true},
		{"user-deny", with(authd("user-4", "team-2"), do("delete", "", "nodes", "")), false},
		{"controller-clusterbinding-allow", with(authd("system:serviceaccount:kube-system:replicaset-controller", authn.ServiceAccountGroups("kube-system")...), do("create", "", "pods", "ns-1")), true},
		{"discovery-path-allow", with(authd("user-9"), get("/apis/apps/v1")), true},
		{"masters-allow", with(authd("admin", authn.SystemPrivilegedGroup), do("delete", "", "nodes", "")), true},
		{"node-secret-allow", with(authn.NodeUser("node-1"), named(do("get", "", "secrets", "ns-1"), "secret-1")), true},
		{"node-watch-pods-allow", with(authn.NodeUser("node-1"), podsOnNode), true},
		{"node-secret-deny", with(authn.NodeUser("node-1"), named(do("get", "", "secrets", "ns-2"), "secret-2")), false},
	}
}

// TestBenchCases keeps the benchmark honest: each case decides as claimed.
func TestBenchCases(t *testing.T) {
	az := realisticChain(t)
	for _, c := range benchCases() {
		d, reason, err := az.Authorize(context.Background(), c.a)
		if err != nil || (d == authz.Allow) != c.allow {
			t.Errorf("%s: %v %q %v, want allow=%v", c.name, d, reason, err, c.allow)
		}
	}
}

func BenchmarkAuthorize(b *testing.B) {
	az := realisticChain(b)
	ctx := context.Background()
	for _, c := range benchCases() {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				az.Authorize(ctx, c.a)
			}
		})
	}
	b.Run("parallel-mix", func(b *testing.B) {
		cases := benchCases()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				az.Authorize(ctx, cases[i%len(cases)].a)
				i++
			}
		})
	})
}
