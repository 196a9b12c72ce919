package registry

import (
	"fmt"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// NewScheme returns a scheme with every type the API server serves and the
// meta.k8s.io types (Status, Table, WatchEvent, options) registered.
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme, discoveryv1.AddToScheme,
		coordinationv1.AddToScheme, rbacv1.AddToScheme, storagev1.AddToScheme, nodev1.AddToScheme,
		autoscalingv1.AddToScheme, autoscalingv2.AddToScheme, policyv1.AddToScheme, eventsv1.AddToScheme,
		authorizationv1.AddToScheme, authenticationv1.AddToScheme, apidiscoveryv2.AddToScheme,
	} {
		if err := add(s); err != nil {
			return nil, fmt.Errorf("building scheme: %w", err)
		}
	}
	metaGV := schema.GroupVersion{Group: "meta.k8s.io", Version: "v1"}
	metav1.AddToGroupVersion(s, metaGV)
	s.AddKnownTypes(metaGV, &metav1.Table{}, &metav1.TableOptions{}, &metav1.PartialObjectMetadata{}, &metav1.PartialObjectMetadataList{})
	return s, nil
}
