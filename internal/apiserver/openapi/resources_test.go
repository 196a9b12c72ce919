package openapi

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
)

// The resources of issue 2, as the apiserver is expected to describe them.
var (
	crud        = []string{VerbGet, VerbList, VerbWatch, VerbCreate, VerbUpdate, VerbPatch, VerbDelete, VerbDeleteCollection}
	statusSub   = Subresource{Name: "status", Verbs: []string{VerbGet, VerbUpdate, VerbPatch}}
	scaleSub    = Subresource{Name: "scale", Kind: schema.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"}, Verbs: []string{VerbGet, VerbUpdate, VerbPatch}}
	v1          = schema.GroupVersion{Version: "v1"}
	apps        = schema.GroupVersion{Group: "apps", Version: "v1"}
	batch       = schema.GroupVersion{Group: "batch", Version: "v1"}
	rbac        = schema.GroupVersion{Group: "rbac.authorization.k8s.io", Version: "v1"}
	testVersion = "v1.37.2"
)

func issue2Resources() []Resource {
	ns := func(gv schema.GroupVersion, kind, plural string, subs ...Subresource) Resource {
		return Resource{Kind: gv.WithKind(kind), Plural: plural, Namespaced: true, Verbs: crud, Subresources: subs}
	}
	cluster := func(gv schema.GroupVersion, kind, plural string, subs ...Subresource) Resource {
		return Resource{Kind: gv.WithKind(kind), Plural: plural, Verbs: crud, Subresources: subs}
	}
	pods := ns(v1, "Pod", "pods", statusSub,
		Subresource{Name: "binding", Kind: v1.WithKind("Binding"), Verbs: []string{VerbCreate}},
		Subresource{Name: "eviction", Kind: schema.GroupVersionKind{Group: "policy", Version: "v1", Kind: "Eviction"}, Verbs: []string{VerbCreate}},
		Subresource{Name: "log", Options: v1.WithKind("PodLogOptions"), Verbs: []string{VerbGet}},
		Subresource{Name: "exec", Options: v1.WithKind("PodExecOptions"), Verbs: []string{VerbConnect}},
		Subresource{Name: "attach", Options: v1.WithKind("PodAttachOptions"), Verbs: []string{VerbConnect}},
		Subresource{Name: "portforward", Options: v1.WithKind("PodPortForwardOptions"), Verbs: []string{VerbConnect}},
	)
	pods.DeleteReturnsObject = true
	sa := ns(v1, "ServiceAccount", "serviceaccounts",
		Subresource{Name: "token", Kind: schema.GroupVersionKind{Group: "authentication.k8s.io", Version: "v1", Kind: "TokenRequest"}, Verbs: []string{VerbCreate}})
	return []Resource{
		cluster(v1, "Namespace", "namespaces", statusSub),
		pods,
		cluster(v1, "Node", "nodes", statusSub),
		ns(v1, "Service", "services", statusSub),
		ns(v1, "Endpoints", "endpoints"),
		ns(v1, "ConfigMap", "configmaps"),
		ns(v1, "Secret", "secrets"),
		sa,
		ns(v1, "Event", "events"),
		cluster(v1, "PersistentVolume", "persistentvolumes", statusSub),
		ns(v1, "PersistentVolumeClaim", "persistentvolumeclaims", statusSub),
		ns(v1, "ResourceQuota", "resourcequotas", statusSub),
		ns(v1, "LimitRange", "limitranges"),
		ns(apps, "Deployment", "deployments", statusSub, scaleSub),
		ns(apps, "ReplicaSet", "replicasets", statusSub, scaleSub),
		ns(apps, "StatefulSet", "statefulsets", statusSub, scaleSub),
		ns(apps, "DaemonSet", "daemonsets", statusSub),
		ns(batch, "Job", "jobs", statusSub),
		ns(batch, "CronJob", "cronjobs", statusSub),
		ns(schema.GroupVersion{Group: "discovery.k8s.io", Version: "v1"}, "EndpointSlice", "endpointslices"),
		ns(schema.GroupVersion{Group: "coordination.k8s.io", Version: "v1"}, "Lease", "leases"),
		ns(rbac, "Role", "roles"),
		cluster(rbac, "ClusterRole", "clusterroles"),
		ns(rbac, "RoleBinding", "rolebindings"),
		cluster(rbac, "ClusterRoleBinding", "clusterrolebindings"),
		cluster(schema.GroupVersion{Group: "storage.k8s.io", Version: "v1"}, "StorageClass", "storageclasses"),
		cluster(schema.GroupVersion{Group: "node.k8s.io", Version: "v1"}, "RuntimeClass", "runtimeclasses"),
		ns(schema.GroupVersion{Group: "autoscaling", Version: "v2"}, "HorizontalPodAutoscaler", "horizontalpodautoscalers", statusSub),
		ns(schema.GroupVersion{Group: "policy", Version: "v1"}, "PodDisruptionBudget", "poddisruptionbudgets", statusSub),
		ns(schema.GroupVersion{Group: "events.k8s.io", Version: "v1"}, "Event", "events"),
	}
}

func testConfig() Config {
	return Config{Scheme: scheme.Scheme, Resources: issue2Resources(), Version: testVersion}
}
