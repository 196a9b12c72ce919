// Package bootstrappolicy holds the default RBAC policy Kubernetes ships —
// the ClusterRoles (cluster-admin, admin, edit, view, system:*), the roles
// of the controllers podvisor runs (system:controller:*) and their
// ClusterRoleBindings — as objects the apiserver creates on start-up, and
// the reconciliation that adds what is missing to existing objects without
// removing what an administrator added.
//
// Every object carries the label kubernetes.io/bootstrapping=rbac-defaults
// and the annotation rbac.authorization.kubernetes.io/autoupdate=true; an
// administrator who sets autoupdate to "false" keeps their edits.
//
// Only the apiserver, the server wiring and the node authorizer (for the
// system:node rules) import it.
package bootstrappolicy

import (
	"slices"

	rbacv1 "k8s.io/api/rbac/v1"
)

// API groups named by the policy.
const (
	core          = ""
	apps          = "apps"
	authnGroup    = "authentication.k8s.io"
	authzGroup    = "authorization.k8s.io"
	autoscaling   = "autoscaling"
	batch         = "batch"
	certificates  = "certificates.k8s.io"
	coordination  = "coordination.k8s.io"
	discovery     = "discovery.k8s.io"
	events        = "events.k8s.io"
	extensions    = "extensions"
	networking    = "networking.k8s.io"
	nodeGroup     = "node.k8s.io"
	policy        = "policy"
	rbacGroup     = "rbac.authorization.k8s.io"
	storage       = "storage.k8s.io"
	metrics       = "metrics.k8s.io"
	customMetrics = "custom.metrics.k8s.io"
	extMetrics    = "external.metrics.k8s.io"
)

// Verb sets.
var (
	read       = []string{"get", "list", "watch"}
	write      = []string{"create", "update", "patch", "delete", "deletecollection"}
	readWrite  = []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
	readUpdate = []string{"get", "list", "watch", "update", "patch"}
)

// ruleSpec builds a PolicyRule; each call site reads as "verbs on
// resources in groups".
type ruleSpec struct{ r rbacv1.PolicyRule }

// verbs starts a rule; it copies v, so that shared verb sets are never
// aliased by the returned objects.
func verbs(v ...string) *ruleSpec { return &ruleSpec{r: rbacv1.PolicyRule{Verbs: slices.Clone(v)}} }

func (s *ruleSpec) on(resources ...string) *ruleSpec {
	s.r.Resources = resources
	return s
}

func (s *ruleSpec) in(groups ...string) rbacv1.PolicyRule {
	if len(groups) == 0 {
		groups = []string{core}
	}
	s.r.APIGroups = groups
	return s.r
}

func (s *ruleSpec) named(names ...string) *ruleSpec {
	s.r.ResourceNames = names
	return s
}

func (s *ruleSpec) urls(urls ...string) rbacv1.PolicyRule {
	s.r.NonResourceURLs = urls
	return s.r
}

// eventsRule lets a component record events in both event APIs.
func eventsRule() rbacv1.PolicyRule {
	return verbs("create", "update", "patch").on("events").in(core, events)
}

// NodeRules are the rules of the system:node ClusterRole. Kubernetes no
// longer binds that role to system:nodes; the node authorizer applies these
// rules itself to every node for the resources it does not restrict by the
// node's pods (secrets, configmaps, volumes, service accounts, pods, nodes,
// leases are restricted there).
//
// podvisor adds list/watch of endpoints and endpointslices: its agent runs
// the service proxy with the node's identity (Kubernetes gives kube-proxy a
// separate identity, system:node-proxier).
func NodeRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		// API access checks; these creates do not mutate.
		verbs("create").on("tokenreviews").in(authnGroup),
		verbs("create").on("subjectaccessreviews", "localsubjectaccessreviews").in(authzGroup),
		// Service environment variables and the proxy.
		verbs(read...).on("services").in(core),
		// Registering and updating the node.
		verbs("create", "get", "list", "watch").on("nodes").in(core),
		verbs("update", "patch").on("nodes/status").in(core),
		verbs("update", "patch").on("nodes").in(core),
		verbs("create", "update", "patch").on("events").in(core),
		// Pods: reading, mirror pods, status, eviction.
		verbs(read...).on("pods").in(core),
		verbs("create", "delete").on("pods").in(core),
		verbs("update", "patch").on("pods/status").in(core),
		verbs("create").on("pods/eviction").in(core),
		// Volumes and environment of its pods.
		verbs("get", "list", "watch").on("secrets", "configmaps").in(core),
		verbs("get").on("persistentvolumeclaims", "persistentvolumes").in(core),
		verbs("get").on("endpoints").in(core),
		verbs("create", "get", "list", "watch").on("certificatesigningrequests").in(certificates),
		verbs("get", "list", "watch").on("clustertrustbundles").in(certificates),
		verbs("get", "create", "update", "patch", "delete").on("leases").in(coordination),
		verbs("get").on("volumeattachments").in(storage),
		verbs("create").on("serviceaccounts/token").in(core),
		verbs("get", "update", "patch").on("persistentvolumeclaims/status").in(core),
		verbs("get", "watch", "list").on("csidrivers").in(storage),
		verbs("get", "create", "update", "patch", "delete").on("csinodes").in(storage),
		verbs("get", "list", "watch").on("runtimeclasses").in(nodeGroup),
		// podvisor: the agent's service proxy.
		verbs("list", "watch").on("endpoints").in(core),
		verbs("list", "watch").on("endpointslices").in(discovery),
	}
}
