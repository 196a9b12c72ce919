package bootstrappolicy

import (
	"context"
	"fmt"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podvisor/podvisor/internal/apiserver/authn"
	"github.com/podvisor/podvisor/internal/apiserver/authz"
	"github.com/podvisor/podvisor/internal/apiserver/authz/rbac"
)

// defaultPolicy loads the bootstrap policy, aggregated as the apiserver
// would store it, plus extra bindings.
func defaultPolicy(t testing.TB, roleBindings ...*rbacv1.RoleBinding) *rbac.Policy {
	t.Helper()
	roles := ClusterRoles()
	agg, err := rbac.Aggregate(roles)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*rbacv1.ClusterRole{}
	for _, r := range roles {
		byName[r.Name] = r
	}
	for _, r := range agg {
		byName[r.Name] = r
	}
	var all []*rbacv1.ClusterRole
	for _, r := range byName {
		all = append(all, r)
	}
	p := rbac.NewPolicy()
	p.Replace(nil, all, roleBindings, ClusterRoleBindings())
	return p
}

func bindRole(ns, name, role string, subjects ...rbacv1.Subject) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   subjects,
	}
}

func do(verb, group, resource, ns string) authz.Attributes {
	r, sub, _ := strings.Cut(resource, "/")
	return authz.Attributes{Verb: verb, ResourceRequest: true, APIGroup: group, Resource: r, Subresource: sub, Namespace: ns}
}

func named(a authz.Attributes, name string) authz.Attributes {
	a.Name = name
	return a
}

func get(path string) authz.Attributes { return authz.Attributes{Verb: "get", Path: path} }

func TestDefaultRoles(t *testing.T) {
	p := defaultPolicy(t,
		bindRole("team", "viewer", "view", user("vic")),
		bindRole("team", "editor", "edit", user("eve")),
		bindRole("team", "admin", "admin", user("ada")),
		bindRole("team", "sa-view", "view", serviceAccount("team", "reader")),
	)
	az := authz.NewChain(nil, rbac.New(p))
	authd := func(name string, groups ...string) *authn.User {
		return &authn.User{Name: name, Groups: append(groups, authn.AllAuthenticated)}
	}
	vic, eve, ada := authd("vic"), authd("eve"), authd("ada")
	reader := authd("system:serviceaccount:team:reader", authn.ServiceAccountGroups("team")...)
	anon := &authn.User{Name: authn.Anonymous, Groups: []string{authn.AllUnauthenticated}}
	root := authd("root", authn.SystemPrivilegedGroup)
	node := authd("system:node:n1", authn.NodesGroup)
	tests := []struct {
		u     *authn.User
		a     authz.Attributes
		allow bool
	}{
		{vic, do("list", "", "pods", "team"), true},
		{vic, do("get", "", "pods/log", "team"), true},
		{vic, do("get", "apps", "deployments", "team"), true},
		{vic, do("get", "", "secrets", "team"), false},
		{vic, do("list", "", "secrets", "team"), false},
		{vic, do("create", "", "pods", "team"), false},
		{vic, do("get", "", "pods/exec", "team"), false},
		{vic, do("list", "", "pods", "other"), false},
		{vic, do("list", "", "pods", ""), false},
		{eve, do("create", "apps", "deployments", "team"), true},
		{eve, do("patch", "apps", "deployments/scale", "team"), true},
		{eve, do("get", "", "secrets", "team"), true},
		{eve, do("create", "", "pods/exec", "team"), true},
		{eve, do("create", "batch", "cronjobs", "team"), true},
		{eve, do("create", "rbac.authorization.k8s.io", "roles", "team"), false},
		{eve, do("create", "rbac.authorization.k8s.io", "rolebindings", "team"), false},
		{eve, do("update", "", "resourcequotas", "team"), false},
		{eve, do("create", "apps", "deployments", "other"), false},
		{ada, do("create", "rbac.authorization.k8s.io", "roles", "team"), true},
		{ada, do("create", "rbac.authorization.k8s.io", "rolebindings", "team"), true},
		{ada, do("create", "authorization.k8s.io", "localsubjectaccessreviews", "team"), true},
		{ada, do("delete", "apps", "deployments", "team"), true},
		{ada, do("create", "rbac.authorization.k8s.io", "roles", "other"), false},
		{ada, do("create", "rbac.authorization.k8s.io", "clusterroles", ""), false},
		{reader, do("list", "", "pods", "team"), true},
		{reader, do("watch", "", "configmaps", "team"), true},
		{reader, do("list", "", "pods", "default"), false},
		{reader, do("get", "", "secrets", "team"), false},
		{reader, get("/.well-known/openid-configuration"), true},
		// Every authenticated user.
		{vic, get("/version"), true},
		{vic, get("/apis/apps/v1"), true},
		{vic, get("/openapi/v3"), true},
		{vic, get("/metrics"), false},
		{vic, do("create", "authorization.k8s.io", "selfsubjectaccessreviews", ""), true},
		{vic, do("create", "authorization.k8s.io", "selfsubjectrulesreviews", ""), true},
		{vic, do("create", "authentication.k8s.io", "selfsubjectreviews", ""), true},
		{vic, do("create", "authorization.k8s.io", "subjectaccessreviews", ""), false},
		// Unauthenticated.
		{anon, get("/healthz"), true},
		{anon, get("/version"), true},
		{anon, get("/api"), false},
		{anon, do("create", "authorization.k8s.io", "selfsubjectaccessreviews", ""), false},
		// system:masters, through the chain and through cluster-admin.
		{root, do("delete", "", "nodes", ""), true},
		{root, get("/anything"), true},
		// Nodes get nothing from RBAC: the node authorizer decides.
		{node, do("get", "", "secrets", "team"), false},
		{node, do("list", "", "nodes", ""), false},
		// Components.
		{authd(authn.KubeScheduler), do("create", "", "pods/binding", "team"), true},
		{authd(authn.KubeScheduler), named(do("update", "coordination.k8s.io", "leases", "kube-system"), "kube-scheduler"), true},
		{authd(authn.KubeScheduler), named(do("update", "coordination.k8s.io", "leases", "kube-system"), "kube-controller-manager"), false},
		{authd(authn.KubeScheduler), do("delete", "", "nodes", ""), false},
		{authd(authn.KubeControllerManager), do("watch", "apps", "deployments", ""), true},
		{authd(authn.KubeControllerManager), do("create", "apps", "deployments", "team"), false},
		{authd(authn.KubeProxy), do("watch", "discovery.k8s.io", "endpointslices", ""), true},
		{authd("system:serviceaccount:kube-system:replicaset-controller", authn.ServiceAccountGroups("kube-system")...), do("create", "", "pods", "team"), true},
		{authd("system:serviceaccount:kube-system:replicaset-controller", authn.ServiceAccountGroups("kube-system")...), do("create", "", "secrets", "team"), false},
		{authd("system:serviceaccount:kube-system:deployment-controller", authn.ServiceAccountGroups("kube-system")...), do("update", "apps", "deployments/status", "team"), true},
		{authd("system:serviceaccount:kube-system:kube-dns", authn.ServiceAccountGroups("kube-system")...), do("watch", "", "services", ""), true},
		{authd("system:bootstrap:abcdef", authn.BootstrapGroup), do("create", "certificates.k8s.io", "certificatesigningrequests", ""), true},
		{authd("system:bootstrap:abcdef", authn.BootstrapGroup), do("get", "", "nodes", ""), false},
	}
	for _, tc := range tests {
		name := fmt.Sprintf("%s %s %s/%s in %q %s", tc.u.Name, tc.a.Verb, tc.a.APIGroup, tc.a.Resource+"/"+tc.a.Subresource, tc.a.Namespace, tc.a.Path)
		t.Run(name, func(t *testing.T) {
			a := tc.a
			a.User = tc.u
			d, reason, err := az.Authorize(context.Background(), a)
			if err != nil {
				t.Fatal(err)
			}
			if (d == authz.Allow) != tc.allow {
				t.Errorf("decision = %v (%q), want allow=%v", d, reason, tc.allow)
			}
		})
	}
}

func TestPolicyObjects(t *testing.T) {
	roles := ClusterRoles()
	names := map[string]bool{}
	for _, r := range roles {
		if names[r.Name] {
			t.Errorf("ClusterRole %q defined twice", r.Name)
		}
		names[r.Name] = true
		if r.Labels[BootstrappingLabel] != BootstrappingValue || r.Annotations[rbacv1.AutoUpdateAnnotationKey] != "true" {
			t.Errorf("ClusterRole %q lacks the bootstrapping label or autoupdate annotation: %v %v", r.Name, r.Labels, r.Annotations)
		}
		if r.AggregationRule == nil && len(r.Rules) == 0 {
			t.Errorf("ClusterRole %q has no rules", r.Name)
		}
	}
	for _, want := range []string{"cluster-admin", "admin", "edit", "view", "system:discovery", "system:basic-user",
		"system:public-info-viewer", "system:node", "system:node-proxier", "system:kube-scheduler",
		"system:kube-controller-manager", "system:kube-dns",
		"system:controller:replicaset-controller", "system:controller:deployment-controller",
		"system:controller:statefulset-controller", "system:controller:daemon-set-controller",
		"system:controller:job-controller", "system:controller:cronjob-controller",
		"system:controller:endpoint-controller", "system:controller:endpointslice-controller",
		"system:controller:namespace-controller", "system:controller:generic-garbage-collector",
		"system:controller:service-account-controller", "system:controller:horizontal-pod-autoscaler",
		"system:controller:node-controller", "system:controller:route-controller",
		"system:controller:service-controller", "system:controller:persistent-volume-binder",
		"system:controller:attachdetach-controller", "system:controller:clusterrole-aggregation-controller"} {
		if !names[want] {
			t.Errorf("ClusterRole %q missing", want)
		}
	}
	bindings := map[string]bool{}
	for _, b := range ClusterRoleBindings() {
		if bindings[b.Name] {
			t.Errorf("ClusterRoleBinding %q defined twice", b.Name)
		}
		bindings[b.Name] = true
		if !names[b.RoleRef.Name] || b.RoleRef.Kind != "ClusterRole" || b.RoleRef.APIGroup != rbacv1.GroupName {
			t.Errorf("ClusterRoleBinding %q refers to %+v, not a default ClusterRole", b.Name, b.RoleRef)
		}
		if b.Annotations[rbacv1.AutoUpdateAnnotationKey] != "true" {
			t.Errorf("ClusterRoleBinding %q lacks the autoupdate annotation", b.Name)
		}
		if strings.HasPrefix(b.Name, ControllerRolePrefix) {
			want := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: ControllerNamespace, Name: strings.TrimPrefix(b.Name, ControllerRolePrefix)}
			if len(b.Subjects) != 1 || b.Subjects[0] != want {
				t.Errorf("controller binding %q subjects = %v, want %v", b.Name, b.Subjects, want)
			}
		}
	}
	for _, r := range roles {
		if strings.HasPrefix(r.Name, ControllerRolePrefix) && !bindings[r.Name] {
			t.Errorf("controller role %q is not bound", r.Name)
		}
	}
	// Fresh objects each call: callers may modify them.
	a := ClusterRoles()
	for _, r := range a {
		for i := range r.Rules {
			r.Rules[i].Verbs[0] = "mutated"
		}
	}
	for _, r := range ClusterRoles() {
		for _, rule := range r.Rules {
			if rule.Verbs[0] == "mutated" {
				t.Fatalf("ClusterRoles shares rule slices between calls (%s)", r.Name)
			}
		}
	}
}
