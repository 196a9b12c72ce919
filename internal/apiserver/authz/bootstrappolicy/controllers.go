package bootstrappolicy

import (
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
)

// ControllerRolePrefix starts the name of a controller's ClusterRole; the
// rest is the name of the kube-system service account it is bound to.
const ControllerRolePrefix = "system:controller:"

// ControllerNamespace holds the controllers' service accounts.
const ControllerNamespace = "kube-system"

// controllerRoles returns the roles of the controllers the controller
// manager runs (DESIGN.md) plus the few that support them (aggregation,
// pod GC, quota, PDB, root CA publishing, protection finalizers), with
// Kubernetes' names and rules.
func controllerRoles() []*rbacv1.ClusterRole {
	c := func(name string, rules ...rbacv1.PolicyRule) *rbacv1.ClusterRole {
		return role(ControllerRolePrefix+name, rules...)
	}
	return []*rbacv1.ClusterRole{
		c("attachdetach-controller",
			verbs("list", "watch").on("persistentvolumes", "persistentvolumeclaims").in(core),
			verbs("get", "list", "watch").on("nodes").in(core),
			verbs("patch", "update").on("nodes/status").in(core),
			verbs("list", "watch").on("pods").in(core),
			eventsRule(),
			verbs("get", "create", "delete", "list", "watch").on("volumeattachments").in(storage),
			verbs("get", "watch", "list").on("csidrivers").in(storage),
			verbs("get", "watch", "list").on("csinodes").in(storage),
		),
		c("clusterrole-aggregation-controller",
			// It must be able to write any rules into clusterroles.
			verbs("escalate", "get", "list", "watch", "update", "patch").on("clusterroles").in(rbacGroup),
		),
		c("cronjob-controller",
			verbs("get", "list", "watch", "update").on("cronjobs").in(batch),
			verbs("get", "list", "watch", "create", "update", "delete", "patch").on("jobs").in(batch),
			verbs("update").on("cronjobs/status").in(batch),
			verbs("update").on("cronjobs/finalizers").in(batch),
			verbs("list", "delete").on("pods").in(core),
			eventsRule(),
		),
		c("daemon-set-controller",
			verbs("get", "list", "watch").on("daemonsets").in(extensions, apps),
			verbs("update").on("daemonsets/status").in(extensions, apps),
			verbs("update").on("daemonsets/finalizers").in(extensions, apps),
			verbs("list", "watch").on("nodes").in(core),
			verbs("list", "watch", "create", "delete", "patch").on("pods").in(core),
			verbs("create").on("pods/binding").in(core),
			verbs("get", "list", "watch", "create", "delete", "update", "patch").on("controllerrevisions").in(apps),
			eventsRule(),
		),
		c("deployment-controller",
			// podvisor: the revision annotations are patched.
			verbs("get", "list", "watch", "update", "patch").on("deployments").in(extensions, apps),
			verbs("update").on("deployments/status").in(extensions, apps),
			verbs("update").on("deployments/finalizers").in(extensions, apps),
			verbs("get", "list", "watch", "create", "update", "patch", "delete").on("replicasets").in(apps, extensions),
			verbs("get", "list", "watch", "update").on("pods").in(core),
			eventsRule(),
		),
		c("disruption-controller",
			verbs("get", "list", "watch").on("deployments").in(extensions, apps),
			verbs("get", "list", "watch").on("replicasets").in(apps, extensions),
			verbs("get", "list", "watch").on("replicationcontrollers").in(core),
			verbs("get", "list", "watch").on("poddisruptionbudgets").in(policy),
			verbs("get", "list", "watch").on("statefulsets").in(apps),
			verbs("update").on("poddisruptionbudgets/status").in(policy),
			verbs("get").on("*/scale").in("*"),
			eventsRule(),
			verbs("patch").on("pods/status").in(core),
		),
		c("endpoint-controller",
			verbs("get", "list", "watch").on("services", "pods").in(core),
			verbs("get", "list", "create", "update", "delete").on("endpoints").in(core),
			verbs("create").on("endpoints/restricted").in(core),
			eventsRule(),
		),
		c("endpointslice-controller",
			verbs("get", "list", "watch").on("services", "pods", "nodes").in(core),
			// Owner references with blockOwnerDeletion need the
			// service's finalizers.
			verbs("update").on("services/finalizers").in(core),
			verbs("get", "list", "create", "update", "delete").on("endpointslices").in(discovery),
			eventsRule(),
		),
		c("generic-garbage-collector",
			verbs("get", "list", "watch", "patch", "update", "delete").on("*").in("*"),
			eventsRule(),
		),
		c("horizontal-pod-autoscaler",
			verbs("get", "list", "watch").on("horizontalpodautoscalers").in(autoscaling),
			verbs("update").on("horizontalpodautoscalers/status").in(autoscaling),
			verbs("get", "update").on("*/scale").in("*"),
			verbs("list").on("pods").in(core),
			verbs("list").on("pods").in(metrics),
			verbs("get", "list").on("*").in(customMetrics),
			verbs("get", "list").on("*").in(extMetrics),
			eventsRule(),
		),
		c("job-controller",
			verbs("get", "list", "watch", "update", "patch").on("jobs").in(batch),
			verbs("update").on("jobs/status").in(batch),
			verbs("update").on("jobs/finalizers").in(batch),
			verbs("list", "watch", "create", "delete", "patch").on("pods").in(core),
			eventsRule(),
		),
		c("namespace-controller",
			verbs("get", "list", "watch", "delete").on("namespaces").in(core),
			verbs("update").on("namespaces/finalize", "namespaces/status").in(core),
			verbs("get", "list", "delete", "deletecollection").on("*").in("*"),
		),
		c("node-controller",
			verbs("get", "list", "update", "delete", "patch").on("nodes").in(core),
			verbs("patch", "update").on("nodes/status").in(core),
			// Evicting pods from failed nodes.
			verbs("patch", "update").on("pods/status").in(core),
			verbs("list", "delete").on("pods").in(core),
			eventsRule(),
			verbs("get").on("pods").in(core),
		),
		c("persistent-volume-binder",
			verbs("get", "list", "watch", "update", "create", "delete").on("persistentvolumes").in(core),
			verbs("update").on("persistentvolumes/status").in(core),
			verbs("get", "list", "watch", "update").on("persistentvolumeclaims").in(core),
			verbs("update").on("persistentvolumeclaims/status").in(core),
			verbs("list", "watch", "get", "create", "delete").on("pods").in(core),
			verbs("get", "list", "watch").on("storageclasses").in(storage),
			// podvisor: the local-path StorageClass is created at start.
			verbs("create").on("storageclasses").in(storage),
			verbs("get", "create", "update", "delete").on("endpoints").in(core),
			verbs("get", "create", "delete").on("services").in(core),
			verbs("get").on("secrets").in(core),
			verbs("get", "list").on("nodes").in(core),
			verbs("watch").on("events").in(core),
			eventsRule(),
		),
		c("pod-garbage-collector",
			verbs("list", "watch", "delete").on("pods").in(core),
			verbs("get", "list").on("nodes").in(core),
			verbs("patch").on("pods/status").in(core),
		),
		c("pv-protection-controller",
			verbs("get", "list", "watch", "update").on("persistentvolumes").in(core),
			eventsRule(),
		),
		c("pvc-protection-controller",
			verbs("get", "list", "watch", "update").on("persistentvolumeclaims").in(core),
			verbs("list", "watch", "get").on("pods").in(core),
			eventsRule(),
		),
		c("replicaset-controller",
			verbs("get", "list", "watch", "update").on("replicasets").in(apps, extensions),
			verbs("update").on("replicasets/status").in(apps, extensions),
			verbs("update").on("replicasets/finalizers").in(apps, extensions),
			verbs("list", "watch", "patch", "create", "delete").on("pods").in(core),
			eventsRule(),
		),
		c("resourcequota-controller",
			// Quota may count anything, so it may list everything.
			verbs("list", "watch").on("*").in("*"),
			verbs("update").on("resourcequotas/status").in(core),
			eventsRule(),
		),
		c("root-ca-cert-publisher",
			verbs("create", "update").on("configmaps").in(core),
			eventsRule(),
		),
		c("route-controller",
			verbs("list", "watch").on("nodes").in(core),
			verbs("patch").on("nodes/status").in(core),
			// podvisor: routes are published in a Node annotation.
			verbs("patch").on("nodes").in(core),
			eventsRule(),
		),
		c("service-account-controller",
			verbs("create").on("serviceaccounts").in(core),
			eventsRule(),
		),
		c("service-controller",
			verbs("get", "list", "watch").on("services").in(core),
			verbs("patch", "update").on("services/status").in(core),
			verbs("list", "watch").on("nodes").in(core),
			// podvisor: cluster IP repair frees leaked IPAddress objects.
			verbs("list", "watch", "delete").on("ipaddresses").in(networking),
			eventsRule(),
		),
		c("statefulset-controller",
			verbs("list", "watch").on("pods").in(core),
			verbs("get", "list", "watch").on("statefulsets").in(apps),
			verbs("update").on("statefulsets/status").in(apps),
			verbs("update").on("statefulsets/finalizers").in(apps),
			verbs("get", "create", "delete", "update", "patch").on("pods").in(core),
			verbs("get", "create", "delete", "update", "patch", "list", "watch").on("controllerrevisions").in(apps),
			verbs("get", "create").on("persistentvolumeclaims").in(core),
			eventsRule(),
			verbs("update", "delete").on("persistentvolumeclaims").in(core),
		),
		c("ttl-after-finished-controller",
			verbs("get", "list", "watch", "delete").on("jobs").in(batch),
			eventsRule(),
		),
	}
}

// controllerBindings binds each controller role to its service account
// kube-system/<name>.
func controllerBindings() []*rbacv1.ClusterRoleBinding {
	var out []*rbacv1.ClusterRoleBinding
	for _, r := range controllerRoles() {
		sa := strings.TrimPrefix(r.Name, ControllerRolePrefix)
		out = append(out, binding(r.Name, serviceAccount(ControllerNamespace, sa)))
	}
	return out
}
