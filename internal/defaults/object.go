package defaults

import (
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	nodev1 "k8s.io/api/node/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Object applies the defaults of obj's type, or of each item of a list,
// and reports whether it knows the type. Types Kubernetes gives no
// defaults (ServiceAccount, Event, Lease, Role, ClusterRole, RuntimeClass,
// PodDisruptionBudget, Scale, Eviction, Binding, the access and token
// reviews) are known and left as they are. Like every function here it is
// idempotent.
func Object(obj runtime.Object) bool {
	switch o := obj.(type) {
	case *corev1.Pod:
		Pod(o)
	case *corev1.PodList:
		each(o.Items, Pod)
	case *corev1.PodTemplate:
		PodTemplate(o)
	case *corev1.PodTemplateList:
		each(o.Items, PodTemplate)
	case *corev1.Service:
		Service(o)
	case *corev1.ServiceList:
		each(o.Items, Service)
	case *corev1.Namespace:
		Namespace(o)
	case *corev1.NamespaceList:
		each(o.Items, Namespace)
	case *corev1.Node:
		Node(o)
	case *corev1.NodeList:
		each(o.Items, Node)
	case *corev1.Secret:
		Secret(o)
	case *corev1.SecretList:
		each(o.Items, Secret)
	case *corev1.ConfigMap:
		ConfigMap(o)
	case *corev1.ConfigMapList:
		each(o.Items, ConfigMap)
	case *corev1.Endpoints:
		Endpoints(o)
	case *corev1.EndpointsList:
		each(o.Items, Endpoints)
	case *corev1.PersistentVolume:
		PersistentVolume(o)
	case *corev1.PersistentVolumeList:
		each(o.Items, PersistentVolume)
	case *corev1.PersistentVolumeClaim:
		PersistentVolumeClaim(o)
	case *corev1.PersistentVolumeClaimList:
		each(o.Items, PersistentVolumeClaim)
	case *corev1.ResourceQuota:
		ResourceQuota(o)
	case *corev1.ResourceQuotaList:
		each(o.Items, ResourceQuota)
	case *corev1.LimitRange:
		LimitRange(o)
	case *corev1.LimitRangeList:
		each(o.Items, LimitRange)
	case *appsv1.Deployment:
		Deployment(o)
	case *appsv1.DeploymentList:
		each(o.Items, Deployment)
	case *appsv1.ReplicaSet:
		ReplicaSet(o)
	case *appsv1.ReplicaSetList:
		each(o.Items, ReplicaSet)
	case *appsv1.StatefulSet:
		StatefulSet(o)
	case *appsv1.StatefulSetList:
		each(o.Items, StatefulSet)
	case *appsv1.DaemonSet:
		DaemonSet(o)
	case *appsv1.DaemonSetList:
		each(o.Items, DaemonSet)
	case *batchv1.Job:
		Job(o)
	case *batchv1.JobList:
		each(o.Items, Job)
	case *batchv1.CronJob:
		CronJob(o)
	case *batchv1.CronJobList:
		each(o.Items, CronJob)
	case *autoscalingv2.HorizontalPodAutoscaler:
		HorizontalPodAutoscaler(o)
	case *autoscalingv2.HorizontalPodAutoscalerList:
		each(o.Items, HorizontalPodAutoscaler)
	case *storagev1.StorageClass:
		StorageClass(o)
	case *storagev1.StorageClassList:
		each(o.Items, StorageClass)
	case *discoveryv1.EndpointSlice:
		EndpointSlice(o)
	case *discoveryv1.EndpointSliceList:
		each(o.Items, EndpointSlice)
	case *rbacv1.RoleBinding:
		RoleBinding(o)
	case *rbacv1.RoleBindingList:
		each(o.Items, RoleBinding)
	case *rbacv1.ClusterRoleBinding:
		ClusterRoleBinding(o)
	case *rbacv1.ClusterRoleBindingList:
		each(o.Items, ClusterRoleBinding)
	case *corev1.ServiceAccount, *corev1.ServiceAccountList, *corev1.Event, *corev1.EventList,
		*corev1.Binding, *eventsv1.Event, *eventsv1.EventList, *coordinationv1.Lease, *coordinationv1.LeaseList,
		*rbacv1.Role, *rbacv1.RoleList, *rbacv1.ClusterRole, *rbacv1.ClusterRoleList,
		*nodev1.RuntimeClass, *nodev1.RuntimeClassList, *policyv1.PodDisruptionBudget, *policyv1.PodDisruptionBudgetList,
		*policyv1.Eviction, *autoscalingv1.Scale, *authorizationv1.SubjectAccessReview,
		*authorizationv1.SelfSubjectAccessReview, *authorizationv1.LocalSubjectAccessReview,
		*authorizationv1.SelfSubjectRulesReview, *authenticationv1.TokenReview, *authenticationv1.SelfSubjectReview:
	default:
		return false
	}
	return true
}

// each applies f to every item of a list in place.
func each[T any](items []T, f func(*T)) {
	for i := range items {
		f(&items[i])
	}
}
