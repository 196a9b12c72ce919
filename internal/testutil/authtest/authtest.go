// Package authtest builds realistic authorization set-ups for benchmarks:
// the bootstrap RBAC policy with a couple of hundred bindings and a node
// graph, behind the apiserver's authorizer chain. Only tests and
// benchmarks (internal/bench) import it.
package authtest

import (
	"fmt"

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

// DefaultPolicy returns the bootstrap policy as the apiserver stores it
// (aggregated), with extra role bindings.
func DefaultPolicy(rbs ...*rbacv1.RoleBinding) (*rbac.Policy, error) {
	roles := bootstrappolicy.ClusterRoles()
	agg, err := rbac.Aggregate(roles)
	if err != nil {
		return nil, fmt.Errorf("aggregating the default roles: %w", err)
	}
	p := rbac.NewPolicy()
	p.Replace(nil, roles, rbs, bootstrappolicy.ClusterRoleBindings())
	for _, r := range agg {
		p.SetClusterRole(r)
	}
	return p, nil
}

// Bindings is the number of bindings RealisticChain adds to the bootstrap
// policy.
const Bindings = 200

// RealisticChain returns the apiserver's authorizer chain (system:masters,
// node, RBAC) over the bootstrap policy plus 200 bindings — 100
// RoleBindings (20 namespaces; users and service accounts bound to view,
// edit or admin) and 100 ClusterRoleBindings (users and groups bound to
// view or a custom role) — and a node graph of 500 pods on 10 nodes.
func RealisticChain() (authz.Authorizer, error) {
	var rbs []*rbacv1.RoleBinding
	roles := []string{"view", "edit", "admin"}
	for i := range Bindings / 2 {
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
	p, err := DefaultPolicy(rbs...)
	if err != nil {
		return nil, err
	}
	p.SetClusterRole(&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "custom"}, Rules: []rbacv1.PolicyRule{
		{Verbs: []string{"get", "list"}, APIGroups: []string{"example.com"}, Resources: []string{"widgets"}},
	}})
	for i := range Bindings / 2 {
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
	return authz.NewChain(node.New(g), rbac.New(p)), nil
}

// Case is one request to authorize against RealisticChain.
type Case struct {
	Name  string
	Attrs authz.Attributes
	// Allow is the decision RealisticChain must reach.
	Allow bool
}

func res(u *authn.User, verb, group, resource, ns, name string) authz.Attributes {
	return authz.Attributes{User: u, Verb: verb, ResourceRequest: true, APIGroup: group, Resource: resource, Namespace: ns, Name: name}
}

// Cases returns typical requests: allowed through role bindings, cluster
// role bindings, system:masters and the node authorizer, and denied ones.
func Cases() []Case {
	authd := func(name string, groups ...string) *authn.User {
		return &authn.User{Name: name, Groups: append(groups, authn.AllAuthenticated)}
	}
	watchOwnPods := res(authn.NodeUser("node-1"), "watch", "", "pods", "", "")
	watchOwnPods.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", "node-1")
	return []Case{
		// sa-3 is bound to view in ns-3 by rb-3.
		{"sa-rolebinding-allow", res(authd("system:serviceaccount:ns-3:sa-3", authn.ServiceAccountGroups("ns-3")...), "get", "", "pods", "ns-3", "pod-3"), true},
		{"user-rolebinding-allow", res(authd("user-4"), "create", "apps", "deployments", "ns-4", ""), true},
		{"user-deny", res(authd("user-4", "team-2"), "delete", "", "nodes", "", ""), false},
		{"controller-clusterbinding-allow", res(authd("system:serviceaccount:kube-system:replicaset-controller", authn.ServiceAccountGroups("kube-system")...), "create", "", "pods", "ns-1", ""), true},
		{"discovery-path-allow", authz.Attributes{User: authd("user-9"), Verb: "get", Path: "/apis/apps/v1"}, true},
		{"masters-allow", res(authd("admin", authn.SystemPrivilegedGroup), "delete", "", "nodes", "", ""), true},
		{"node-secret-allow", res(authn.NodeUser("node-1"), "get", "", "secrets", "ns-1", "secret-1"), true},
		{"node-watch-pods-allow", watchOwnPods, true},
		{"node-secret-deny", res(authn.NodeUser("node-1"), "get", "", "secrets", "ns-2", "secret-2"), false},
	}
}
