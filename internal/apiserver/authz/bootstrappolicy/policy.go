package bootstrappolicy

import (
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podvisor/podvisor/internal/apiserver/authn"
)

// Labels and annotations of bootstrap objects.
const (
	// BootstrappingLabel marks the default policy's objects.
	BootstrappingLabel = "kubernetes.io/bootstrapping"
	// BootstrappingValue is BootstrappingLabel's value.
	BootstrappingValue = "rbac-defaults"

	// Aggregation labels: a ClusterRole carrying one has its rules added to
	// admin, edit or view.
	AggregateToAdmin = "rbac.authorization.k8s.io/aggregate-to-admin"
	AggregateToEdit  = "rbac.authorization.k8s.io/aggregate-to-edit"
	AggregateToView  = "rbac.authorization.k8s.io/aggregate-to-view"
)

func meta(name string, labels map[string]string) metav1.ObjectMeta {
	l := map[string]string{BootstrappingLabel: BootstrappingValue}
	for k, v := range labels {
		l[k] = v
	}
	return metav1.ObjectMeta{
		Name:        name,
		Labels:      l,
		Annotations: map[string]string{rbacv1.AutoUpdateAnnotationKey: "true"},
	}
}

func role(name string, rules ...rbacv1.PolicyRule) *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{ObjectMeta: meta(name, nil), Rules: rules}
}

// aggregated returns a ClusterRole whose rules come from the ClusterRoles
// carrying label=true.
func aggregated(name, label string, labels map[string]string) *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{
		ObjectMeta: meta(name, labels),
		AggregationRule: &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{
			{MatchLabels: map[string]string{label: "true"}},
		}},
	}
}

// ClusterRoles returns the default ClusterRoles (controller roles
// included), freshly allocated.
func ClusterRoles() []*rbacv1.ClusterRole {
	roles := []*rbacv1.ClusterRole{
		// Can do anything.
		role("cluster-admin",
			verbs("*").on("*").in("*"),
			verbs("*").urls("*"),
		),
		// Health and API discovery.
		role("system:discovery",
			verbs("get").urls("/livez", "/readyz", "/healthz", "/version", "/version/",
				"/openapi", "/openapi/*", "/api", "/api/*", "/apis", "/apis/*"),
		),
		role("system:monitoring",
			verbs("get").urls("/metrics", "/metrics/slis", "/livez", "/readyz", "/healthz",
				"/livez/*", "/readyz/*", "/healthz/*"),
		),
		// What every user may learn about itself.
		role("system:basic-user",
			verbs("create").on("selfsubjectaccessreviews", "selfsubjectrulesreviews").in(authzGroup),
			verbs("create").on("selfsubjectreviews").in(authnGroup),
		),
		role("system:public-info-viewer",
			verbs("get").urls("/livez", "/readyz", "/healthz", "/version", "/version/"),
		),

		// The user-facing roles, filled by aggregation.
		aggregated("admin", AggregateToAdmin, nil),
		aggregated("edit", AggregateToEdit, map[string]string{AggregateToAdmin: "true"}),
		aggregated("view", AggregateToView, map[string]string{AggregateToEdit: "true"}),
		{
			ObjectMeta: meta("system:aggregate-to-admin", map[string]string{AggregateToAdmin: "true"}),
			Rules: []rbacv1.PolicyRule{
				verbs("create").on("localsubjectaccessreviews").in(authzGroup),
				verbs(readWrite...).on("roles", "rolebindings").in(rbacGroup),
			},
		},
		{
			ObjectMeta: meta("system:aggregate-to-edit", map[string]string{AggregateToEdit: "true"}),
			Rules: []rbacv1.PolicyRule{
				// Read on escalating resources.
				verbs(read...).on("pods/attach", "pods/proxy", "pods/exec", "pods/portforward", "secrets", "services/proxy").in(core),
				verbs("impersonate").on("serviceaccounts").in(core),
				verbs(write...).on("pods", "pods/attach", "pods/proxy", "pods/exec", "pods/portforward").in(core),
				verbs("create").on("pods/eviction").in(core),
				verbs(write...).on("replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts",
					"services", "services/proxy", "persistentvolumeclaims", "configmaps", "secrets", "events").in(core),
				verbs("create").on("serviceaccounts/token").in(core),
				verbs(write...).on("statefulsets", "statefulsets/scale", "daemonsets",
					"deployments", "deployments/scale", "deployments/rollback",
					"replicasets", "replicasets/scale").in(apps),
				verbs(write...).on("horizontalpodautoscalers").in(autoscaling),
				verbs(write...).on("jobs", "cronjobs").in(batch),
				verbs(write...).on("daemonsets", "deployments", "deployments/scale", "deployments/rollback", "ingresses",
					"replicasets", "replicasets/scale", "replicationcontrollers/scale", "networkpolicies").in(extensions),
				verbs(write...).on("poddisruptionbudgets").in(policy),
				verbs(write...).on("networkpolicies", "ingresses").in(networking),
				verbs(readWrite...).on("leases").in(coordination),
			},
		},
		{
			ObjectMeta: meta("system:aggregate-to-view", map[string]string{AggregateToView: "true"}),
			Rules: []rbacv1.PolicyRule{
				verbs(read...).on("pods", "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts",
					"services", "services/status", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status", "configmaps").in(core),
				verbs(read...).on("limitranges", "resourcequotas", "bindings", "events",
					"pods/status", "resourcequotas/status", "namespaces/status", "replicationcontrollers/status", "pods/log").in(core),
				// Reading namespaces at namespace scope means reading this
				// namespace: a hint of which namespaces one may use.
				verbs(read...).on("namespaces").in(core),
				verbs(read...).on("endpointslices").in(discovery),
				verbs(read...).on("controllerrevisions",
					"statefulsets", "statefulsets/status", "statefulsets/scale",
					"daemonsets", "daemonsets/status",
					"deployments", "deployments/status", "deployments/scale",
					"replicasets", "replicasets/status", "replicasets/scale").in(apps),
				verbs(read...).on("horizontalpodautoscalers", "horizontalpodautoscalers/status").in(autoscaling),
				verbs(read...).on("jobs", "cronjobs", "cronjobs/status", "jobs/status").in(batch),
				verbs(read...).on("daemonsets", "daemonsets/status", "deployments", "deployments/scale", "deployments/status",
					"ingresses", "ingresses/status", "replicasets", "replicasets/scale", "replicasets/status", "replicationcontrollers/scale",
					"networkpolicies").in(extensions),
				verbs(read...).on("poddisruptionbudgets", "poddisruptionbudgets/status").in(policy),
				verbs(read...).on("networkpolicies", "ingresses", "ingresses/status").in(networking),
			},
		},

		// Components.
		role("system:node", NodeRules()...),
		role("system:node-proxier",
			verbs("list", "watch").on("services", "endpoints").in(core),
			verbs("get", "list", "watch").on("nodes").in(core),
			eventsRule(),
			verbs("list", "watch").on("endpointslices").in(discovery),
		),
		role("system:kubelet-api-admin",
			verbs("get", "list", "watch").on("nodes").in(core),
			verbs("proxy").on("nodes").in(core),
			verbs("*").on("nodes/proxy", "nodes/metrics", "nodes/spec", "nodes/stats", "nodes/log").in(core),
		),
		role("system:node-bootstrapper",
			verbs("create", "get", "list", "watch").on("certificatesigningrequests").in(certificates),
		),
		role("system:auth-delegator",
			verbs("create").on("tokenreviews").in(authnGroup),
			verbs("create").on("subjectaccessreviews").in(authzGroup),
		),
		role("system:kube-controller-manager",
			eventsRule(),
			// Leader election.
			verbs("create").on("leases").in(coordination),
			verbs("get", "update").on("leases").named("kube-controller-manager").in(coordination),
			verbs("create").on("endpoints").in(core),
			verbs("get", "update").on("endpoints").named("kube-controller-manager").in(core),
			// Creating the controllers' own identities.
			verbs("create").on("secrets", "serviceaccounts").in(core),
			verbs("delete").on("secrets").in(core),
			verbs("get").on("namespaces", "secrets", "serviceaccounts", "configmaps").in(core),
			verbs("update").on("secrets", "serviceaccounts").in(core),
			verbs("create").on("tokenreviews").in(authnGroup),
			verbs("create").on("subjectaccessreviews").in(authzGroup),
			// Shared informers.
			verbs("list", "watch").on("*").in("*"),
			verbs("create").on("serviceaccounts/token").in(core),
		),
		role("system:kube-scheduler",
			eventsRule(),
			// Leader election.
			verbs("create").on("leases").in(coordination),
			verbs("get", "update").on("leases").named("kube-scheduler").in(coordination),
			verbs("create").on("endpoints").in(core),
			verbs("get", "update").on("endpoints").named("kube-scheduler").in(core),
			verbs(read...).on("nodes").in(core),
			verbs("get", "list", "watch", "delete").on("pods").in(core),
			verbs("create").on("pods/binding", "bindings").in(core),
			verbs("patch", "update").on("pods/status").in(core),
			// What selects pods.
			verbs(read...).on("services", "replicationcontrollers").in(core),
			verbs(read...).on("replicasets").in(apps, extensions),
			verbs(read...).on("statefulsets").in(apps),
			// What pods use.
			verbs(read...).on("poddisruptionbudgets").in(policy),
			verbs(read...).on("persistentvolumeclaims", "persistentvolumes").in(core),
			verbs("create").on("tokenreviews").in(authnGroup),
			verbs("create").on("subjectaccessreviews").in(authzGroup),
			verbs(read...).on("csinodes").in(storage),
			verbs(read...).on("namespaces").in(core),
			verbs(read...).on("csidrivers").in(storage),
			verbs(read...).on("csistoragecapacities").in(storage),
		),
		role("system:volume-scheduler",
			verbs(readUpdate...).on("persistentvolumes").in(core),
			verbs(read...).on("storageclasses").in(storage),
			verbs(readUpdate...).on("persistentvolumeclaims").in(core),
		),
		role("system:kube-dns",
			verbs("list", "watch").on("endpoints", "services").in(core),
		),
		role("system:persistent-volume-provisioner",
			verbs("get", "list", "watch", "create", "delete").on("persistentvolumes").in(core),
			verbs("get", "list", "watch", "update").on("persistentvolumeclaims").in(core),
			verbs(read...).on("storageclasses").in(storage),
			verbs("watch").on("events").in(core),
			eventsRule(),
		),
		role("system:service-account-issuer-discovery",
			verbs("get").urls("/.well-known/openid-configuration", "/openid/v1/jwks"),
		),
	}
	return append(roles, controllerRoles()...)
}

func binding(roleName string, subjects ...rbacv1.Subject) *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{
		ObjectMeta: meta(roleName, nil),
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: roleName},
		Subjects:   subjects,
	}
}

func group(name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: name}
}

func user(name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: name}
}

func serviceAccount(namespace, name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: namespace, Name: name}
}

// ClusterRoleBindings returns the default ClusterRoleBindings (controller
// bindings included), freshly allocated.
//
// As in Kubernetes, the system:node binding has no subjects: nodes get the
// system:node rules from the node authorizer, which also confines them to
// their own pods' objects. Binding system:nodes to system:node would let
// every node read every secret.
func ClusterRoleBindings() []*rbacv1.ClusterRoleBinding {
	bs := []*rbacv1.ClusterRoleBinding{
		binding("cluster-admin", group(authn.SystemPrivilegedGroup)),
		binding("system:monitoring", group("system:monitoring")),
		binding("system:discovery", group(authn.AllAuthenticated)),
		binding("system:basic-user", group(authn.AllAuthenticated)),
		binding("system:public-info-viewer", group(authn.AllAuthenticated), group(authn.AllUnauthenticated)),
		binding("system:node-proxier", user(authn.KubeProxy)),
		binding("system:kube-controller-manager", user(authn.KubeControllerManager)),
		binding("system:kube-dns", serviceAccount("kube-system", "kube-dns")),
		binding("system:kube-scheduler", user(authn.KubeScheduler)),
		binding("system:volume-scheduler", user(authn.KubeScheduler)),
		binding("system:node"),
		binding("system:service-account-issuer-discovery", group(authn.AllServiceAccountsGroup)),
		// Join tokens may request node client certificates, as kubeadm
		// sets up.
		binding("system:node-bootstrapper", group(authn.BootstrapGroup)),
	}
	return append(bs, controllerBindings()...)
}
