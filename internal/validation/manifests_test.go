package validation_test

import (
	"fmt"
	"os"
	"strings"
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
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/podvisor/podvisor/internal/defaults"
	"github.com/podvisor/podvisor/internal/validation"
)

// validate runs the create validation of obj's type.
func validate(obj runtime.Object) (field.ErrorList, error) {
	switch o := obj.(type) {
	case *corev1.Namespace:
		return validation.ValidateNamespace(o), nil
	case *corev1.Pod:
		return validation.ValidatePod(o), nil
	case *corev1.Service:
		return validation.ValidateService(o, validation.ServiceOptions{}), nil
	case *corev1.ConfigMap:
		return validation.ValidateConfigMap(o), nil
	case *corev1.Secret:
		return validation.ValidateSecret(o), nil
	case *corev1.ServiceAccount:
		return validation.ValidateServiceAccount(o), nil
	case *corev1.PersistentVolume:
		return validation.ValidatePersistentVolume(o), nil
	case *corev1.PersistentVolumeClaim:
		return validation.ValidatePersistentVolumeClaim(o), nil
	case *corev1.ResourceQuota:
		return validation.ValidateResourceQuota(o), nil
	case *corev1.LimitRange:
		return validation.ValidateLimitRange(o), nil
	case *corev1.Endpoints:
		return validation.ValidateEndpoints(o), nil
	case *corev1.Node:
		return validation.ValidateNode(o), nil
	case *corev1.Event:
		return validation.ValidateEvent(o), nil
	case *eventsv1.Event:
		return validation.ValidateEventsEvent(o), nil
	case *appsv1.Deployment:
		return validation.ValidateDeployment(o), nil
	case *appsv1.StatefulSet:
		return validation.ValidateStatefulSet(o), nil
	case *appsv1.DaemonSet:
		return validation.ValidateDaemonSet(o), nil
	case *appsv1.ReplicaSet:
		return validation.ValidateReplicaSet(o), nil
	case *batchv1.Job:
		return validation.ValidateJob(o), nil
	case *batchv1.CronJob:
		return validation.ValidateCronJob(o), nil
	case *storagev1.StorageClass:
		return validation.ValidateStorageClass(o), nil
	case *nodev1.RuntimeClass:
		return validation.ValidateRuntimeClass(o), nil
	case *autoscalingv2.HorizontalPodAutoscaler:
		return validation.ValidateHorizontalPodAutoscaler(o), nil
	case *policyv1.PodDisruptionBudget:
		return validation.ValidatePodDisruptionBudget(o), nil
	case *rbacv1.Role:
		return validation.ValidateRole(o), nil
	case *rbacv1.RoleBinding:
		return validation.ValidateRoleBinding(o), nil
	case *rbacv1.ClusterRole:
		return validation.ValidateClusterRole(o), nil
	case *rbacv1.ClusterRoleBinding:
		return validation.ValidateClusterRoleBinding(o), nil
	case *coordinationv1.Lease:
		return validation.ValidateLease(o), nil
	case *discoveryv1.EndpointSlice:
		return validation.ValidateEndpointSlice(o), nil
	}
	return nil, fmt.Errorf("no validation for %T", obj)
}

// TestManifestsDefaultedAreValid decodes realistic manifests, applies what
// the API server applies on create (defaults, the create-time steps) and
// expects every create validation, and an update validation against
// itself, to pass.
func TestManifestsDefaultedAreValid(t *testing.T) {
	data, err := os.ReadFile("testdata/manifests.yaml")
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(string(data), "\n---\n")
	if len(docs) < 30 {
		t.Fatalf("read %d manifests, want at least 30", len(docs))
	}
	for i, doc := range docs {
		obj, gvk, err := scheme.Codecs.UniversalDeserializer().Decode([]byte(doc), nil, nil)
		if err != nil {
			t.Fatalf("manifest %d: decoding: %v", i, err)
		}
		accessor := obj.(interface {
			GetName() string
			SetUID(types.UID)
			SetResourceVersion(string)
		})
		t.Run(fmt.Sprintf("%s/%s", gvk.Kind, accessor.GetName()), func(t *testing.T) {
			accessor.SetUID(types.UID(fmt.Sprintf("00000000-0000-4000-8000-%012d", i)))
			if !defaults.Object(obj) {
				t.Fatalf("defaults.Object does not know %T", obj)
			}
			switch o := obj.(type) {
			case *batchv1.Job:
				defaults.JobSelector(o)
			case *corev1.Namespace:
				defaults.NamespaceOnCreate(o)
			}
			errs, err := validate(obj)
			if err != nil {
				t.Fatal(err)
			}
			if len(errs) > 0 {
				t.Errorf("defaulted %s is invalid:\n%v", gvk.Kind, errs.ToAggregate())
			}
			accessor.SetResourceVersion("1")
			if errs := validateSelfUpdate(obj); len(errs) > 0 {
				t.Errorf("updating %s to itself is invalid:\n%v", gvk.Kind, errs.ToAggregate())
			}
		})
	}
}

// validateSelfUpdate runs the update validation of obj's type with obj as
// both the old and the new object: an unchanged object is always a valid
// update.
func validateSelfUpdate(obj runtime.Object) field.ErrorList {
	switch o := obj.(type) {
	case *corev1.Pod:
		return validation.ValidatePodUpdate(o, o.DeepCopy())
	case *corev1.Service:
		return validation.ValidateServiceUpdate(o, o.DeepCopy(), validation.ServiceOptions{})
	case *appsv1.Deployment:
		return validation.ValidateDeploymentUpdate(o, o.DeepCopy())
	case *appsv1.StatefulSet:
		return validation.ValidateStatefulSetUpdate(o, o.DeepCopy())
	case *appsv1.DaemonSet:
		return validation.ValidateDaemonSetUpdate(o, o.DeepCopy())
	case *batchv1.Job:
		return validation.ValidateJobUpdate(o, o.DeepCopy())
	case *batchv1.CronJob:
		return validation.ValidateCronJobUpdate(o, o.DeepCopy())
	case *corev1.PersistentVolume:
		return validation.ValidatePersistentVolumeUpdate(o, o.DeepCopy())
	case *corev1.PersistentVolumeClaim:
		return validation.ValidatePersistentVolumeClaimUpdate(o, o.DeepCopy())
	case *corev1.ConfigMap:
		return validation.ValidateConfigMapUpdate(o, o.DeepCopy())
	case *corev1.Secret:
		return validation.ValidateSecretUpdate(o, o.DeepCopy())
	case *corev1.Node:
		return validation.ValidateNodeUpdate(o, o.DeepCopy())
	case *storagev1.StorageClass:
		return validation.ValidateStorageClassUpdate(o, o.DeepCopy())
	case *rbacv1.RoleBinding:
		return validation.ValidateRoleBindingUpdate(o, o.DeepCopy())
	case *rbacv1.ClusterRoleBinding:
		return validation.ValidateClusterRoleBindingUpdate(o, o.DeepCopy())
	case *corev1.Event:
		return validation.ValidateEventUpdate(o, o.DeepCopy())
	case *eventsv1.Event:
		return validation.ValidateEventsEventUpdate(o, o.DeepCopy())
	}
	return nil
}
