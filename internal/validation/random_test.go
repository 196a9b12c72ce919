package validation_test

import (
	"fmt"
	"math/rand"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
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
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/randfill"

	"github.com/podvisor/podvisor/internal/defaults"
	"github.com/podvisor/podvisor/internal/validation"
)

// TestRandomObjectsNeverPanic fills objects of every type with random
// values (nil pointers, empty and odd strings, negative numbers) and runs
// defaulting, create, update and status validation on them: bad input must
// come back as errors, never as a panic. The seed is fixed so a failure
// reproduces.
func TestRandomObjectsNeverPanic(t *testing.T) {
	newObjects := []func() runtime.Object{
		func() runtime.Object { return &corev1.Pod{} },
		func() runtime.Object { return &corev1.Service{} },
		func() runtime.Object { return &corev1.Namespace{} },
		func() runtime.Object { return &corev1.Node{} },
		func() runtime.Object { return &corev1.ConfigMap{} },
		func() runtime.Object { return &corev1.Secret{} },
		func() runtime.Object { return &corev1.ServiceAccount{} },
		func() runtime.Object { return &corev1.Endpoints{} },
		func() runtime.Object { return &corev1.Event{} },
		func() runtime.Object { return &corev1.PersistentVolume{} },
		func() runtime.Object { return &corev1.PersistentVolumeClaim{} },
		func() runtime.Object { return &corev1.ResourceQuota{} },
		func() runtime.Object { return &corev1.LimitRange{} },
		func() runtime.Object { return &appsv1.Deployment{} },
		func() runtime.Object { return &appsv1.ReplicaSet{} },
		func() runtime.Object { return &appsv1.StatefulSet{} },
		func() runtime.Object { return &appsv1.DaemonSet{} },
		func() runtime.Object { return &batchv1.Job{} },
		func() runtime.Object { return &batchv1.CronJob{} },
		func() runtime.Object { return &discoveryv1.EndpointSlice{} },
		func() runtime.Object { return &coordinationv1.Lease{} },
		func() runtime.Object { return &rbacv1.Role{} },
		func() runtime.Object { return &rbacv1.ClusterRole{} },
		func() runtime.Object { return &rbacv1.RoleBinding{} },
		func() runtime.Object { return &rbacv1.ClusterRoleBinding{} },
		func() runtime.Object { return &storagev1.StorageClass{} },
		func() runtime.Object { return &nodev1.RuntimeClass{} },
		func() runtime.Object { return &autoscalingv2.HorizontalPodAutoscaler{} },
		func() runtime.Object { return &policyv1.PodDisruptionBudget{} },
		func() runtime.Object { return &eventsv1.Event{} },
	}
	filler := randfill.NewWithSeed(1).NilChance(0.3).NumElements(0, 3).MaxDepth(12).Funcs(
		// Quantities and int-or-strings as a decoder could produce them.
		func(q *resource.Quantity, c randfill.Continue) {
			values := []string{"0", "1", "-1", "100m", "1Gi", "1.5", "1e3", "4Mi", "0.0001"}
			*q = resource.MustParse(values[c.Intn(len(values))])
		},
		func(v *intstr.IntOrString, c randfill.Continue) {
			if c.Bool() {
				*v = intstr.FromInt32(int32(c.Intn(70000)) - 10)
				return
			}
			values := []string{"", "http", "25%", "150%", "-1%", "x%", "Bad_Name"}
			*v = intstr.FromString(values[c.Intn(len(values))])
		},
		func(tm *metav1.Time, c randfill.Continue) {
			if c.Bool() {
				*tm = metav1.Unix(c.Int63n(2e9), 0)
			}
		},
		func(tm *metav1.MicroTime, c randfill.Continue) {
			if c.Bool() {
				*tm = metav1.NewMicroTime(metav1.Unix(c.Int63n(2e9), 0).Time)
			}
		},
		func(fv *metav1.FieldsV1, c randfill.Continue) {},
		func(raw *runtime.RawExtension, c randfill.Continue) {},
	)
	rng := rand.New(rand.NewSource(2))
	const rounds = 40
	for _, newObj := range newObjects {
		name := fmt.Sprintf("%T", newObj())
		t.Run(name, func(t *testing.T) {
			for i := 0; i < rounds; i++ {
				obj := newObj()
				filler.Fill(obj)
				old := newObj()
				filler.Fill(old)
				func() {
					defer func() {
						if r := recover(); r != nil {
							t.Fatalf("round %d panicked: %v\nobject: %+v", i, r, obj)
						}
					}()
					if rng.Intn(2) == 0 {
						defaults.Object(obj)
					}
					_, _ = validate(obj)
					validateUpdates(obj, old)
				}()
			}
		})
	}
}

// validateUpdates runs every update validation of obj's type against old.
func validateUpdates(obj, old runtime.Object) {
	switch o := obj.(type) {
	case *corev1.Pod:
		validation.ValidatePodUpdate(o, old.(*corev1.Pod))
		validation.ValidatePodStatusUpdate(o, old.(*corev1.Pod))
		validation.ValidateBinding(&corev1.Binding{Target: corev1.ObjectReference{Kind: o.Spec.Hostname, Name: o.Spec.NodeName}})
	case *corev1.Service:
		validation.ValidateServiceUpdate(o, old.(*corev1.Service), validation.ServiceOptions{})
		validation.ValidateServiceStatusUpdate(o, old.(*corev1.Service))
	case *corev1.Namespace:
		validation.ValidateNamespaceUpdate(o, old.(*corev1.Namespace))
		validation.ValidateNamespaceStatusUpdate(o, old.(*corev1.Namespace))
		validation.ValidateNamespaceFinalizeUpdate(o, old.(*corev1.Namespace))
	case *corev1.Node:
		validation.ValidateNodeUpdate(o, old.(*corev1.Node))
		validation.ValidateNodeStatusUpdate(o, old.(*corev1.Node))
	case *corev1.ConfigMap:
		validation.ValidateConfigMapUpdate(o, old.(*corev1.ConfigMap))
	case *corev1.Secret:
		validation.ValidateSecretUpdate(o, old.(*corev1.Secret))
	case *corev1.ServiceAccount:
		validation.ValidateServiceAccountUpdate(o, old.(*corev1.ServiceAccount))
	case *corev1.Endpoints:
		validation.ValidateEndpointsUpdate(o, old.(*corev1.Endpoints))
	case *corev1.Event:
		validation.ValidateEventUpdate(o, old.(*corev1.Event))
	case *corev1.PersistentVolume:
		validation.ValidatePersistentVolumeUpdate(o, old.(*corev1.PersistentVolume))
		validation.ValidatePersistentVolumeStatusUpdate(o, old.(*corev1.PersistentVolume))
	case *corev1.PersistentVolumeClaim:
		validation.ValidatePersistentVolumeClaimUpdate(o, old.(*corev1.PersistentVolumeClaim))
		validation.ValidatePersistentVolumeClaimStatusUpdate(o, old.(*corev1.PersistentVolumeClaim))
	case *corev1.ResourceQuota:
		validation.ValidateResourceQuotaUpdate(o, old.(*corev1.ResourceQuota))
		validation.ValidateResourceQuotaStatusUpdate(o, old.(*corev1.ResourceQuota))
	case *corev1.LimitRange:
		validation.ValidateLimitRangeUpdate(o, old.(*corev1.LimitRange))
	case *appsv1.Deployment:
		validation.ValidateDeploymentUpdate(o, old.(*appsv1.Deployment))
		validation.ValidateDeploymentStatusUpdate(o, old.(*appsv1.Deployment))
	case *appsv1.ReplicaSet:
		validation.ValidateReplicaSetUpdate(o, old.(*appsv1.ReplicaSet))
		validation.ValidateReplicaSetStatusUpdate(o, old.(*appsv1.ReplicaSet))
	case *appsv1.StatefulSet:
		validation.ValidateStatefulSetUpdate(o, old.(*appsv1.StatefulSet))
		validation.ValidateStatefulSetStatusUpdate(o, old.(*appsv1.StatefulSet))
	case *appsv1.DaemonSet:
		validation.ValidateDaemonSetUpdate(o, old.(*appsv1.DaemonSet))
		validation.ValidateDaemonSetStatusUpdate(o, old.(*appsv1.DaemonSet))
	case *batchv1.Job:
		validation.ValidateJobUpdate(o, old.(*batchv1.Job))
		validation.ValidateJobStatusUpdate(o, old.(*batchv1.Job))
	case *batchv1.CronJob:
		validation.ValidateCronJobUpdate(o, old.(*batchv1.CronJob))
		validation.ValidateCronJobStatusUpdate(o, old.(*batchv1.CronJob))
	case *discoveryv1.EndpointSlice:
		validation.ValidateEndpointSliceUpdate(o, old.(*discoveryv1.EndpointSlice))
	case *coordinationv1.Lease:
		validation.ValidateLeaseUpdate(o, old.(*coordinationv1.Lease))
	case *rbacv1.Role:
		validation.ValidateRoleUpdate(o, old.(*rbacv1.Role))
	case *rbacv1.ClusterRole:
		validation.ValidateClusterRoleUpdate(o, old.(*rbacv1.ClusterRole))
	case *rbacv1.RoleBinding:
		validation.ValidateRoleBindingUpdate(o, old.(*rbacv1.RoleBinding))
	case *rbacv1.ClusterRoleBinding:
		validation.ValidateClusterRoleBindingUpdate(o, old.(*rbacv1.ClusterRoleBinding))
	case *storagev1.StorageClass:
		validation.ValidateStorageClassUpdate(o, old.(*storagev1.StorageClass))
	case *nodev1.RuntimeClass:
		validation.ValidateRuntimeClassUpdate(o, old.(*nodev1.RuntimeClass))
	case *autoscalingv2.HorizontalPodAutoscaler:
		validation.ValidateHorizontalPodAutoscalerUpdate(o, old.(*autoscalingv2.HorizontalPodAutoscaler))
		validation.ValidateHorizontalPodAutoscalerStatusUpdate(o, old.(*autoscalingv2.HorizontalPodAutoscaler))
	case *policyv1.PodDisruptionBudget:
		validation.ValidatePodDisruptionBudgetUpdate(o, old.(*policyv1.PodDisruptionBudget))
		validation.ValidatePodDisruptionBudgetStatusUpdate(o, old.(*policyv1.PodDisruptionBudget))
	case *eventsv1.Event:
		validation.ValidateEventsEventUpdate(o, old.(*eventsv1.Event))
	}
}
