// Package services is the strategy for core/v1 services: an update that
// leaves out the cluster IP keeps it, status, selectable spec.clusterIP and
// spec.type. Cluster IPs and node ports themselves are
// allocated by the API server in the create transaction. Imported by the
// API server.
package services

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/podvisor/podvisor/internal/registry"
	"github.com/podvisor/podvisor/internal/validation"
)

// Strategy is the services strategy.
type Strategy struct{ registry.Base }

// New returns the strategy; opts carry the node port range that
// explicit node ports must lie in.
func New(opts validation.ServiceOptions) *Strategy {
	return &Strategy{registry.Base{Namespaced: true, HasStatus: true, Checks: registry.Checks{
		Create: func(obj runtime.Object) field.ErrorList {
			return validation.ValidateService(obj.(*corev1.Service), opts)
		},
		Update: func(obj, old runtime.Object) field.ErrorList {
			return validation.ValidateServiceUpdate(obj.(*corev1.Service), old.(*corev1.Service), opts)
		},
		Status: func(obj, old runtime.Object) field.ErrorList {
			return validation.ValidateServiceStatusUpdate(obj.(*corev1.Service), old.(*corev1.Service))
		},
	}}}
}

var (
	_ registry.Strategy       = (*Strategy)(nil)
	_ registry.StatusStrategy = (*Strategy)(nil)
)

// Info implements registry.Strategy.Info.
func (*Strategy) Info() registry.Info {
	return registry.Info{Version: "v1", Resource: "services", Kind: "Service", Namespaced: true,
		ShortNames: []string{"svc"}, Categories: []string{"all"}}
}

// New implements registry.Strategy.New.
func (*Strategy) New() runtime.Object { return &corev1.Service{} }

// NewList implements registry.Strategy.NewList.
func (*Strategy) NewList() runtime.Object { return &corev1.ServiceList{} }

// PrepareForUpdate implements registry.Strategy.PrepareForUpdate: an
// update that leaves out the cluster IP keeps the allocated one.
func (s *Strategy) PrepareForUpdate(obj, old runtime.Object) {
	s.Base.PrepareForUpdate(obj, old)
	svc, o := obj.(*corev1.Service), old.(*corev1.Service)
	if svc.Spec.ClusterIP == "" && svc.Spec.Type != corev1.ServiceTypeExternalName && o.Spec.Type != corev1.ServiceTypeExternalName {
		svc.Spec.ClusterIP, svc.Spec.ClusterIPs = o.Spec.ClusterIP, o.Spec.ClusterIPs
	}
}

// Attrs implements registry.Strategy.Attrs.
func (*Strategy) Attrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	svc := obj.(*corev1.Service)
	return registry.MetaAttrs(obj, fields.Set{"spec.clusterIP": svc.Spec.ClusterIP, "spec.type": string(svc.Spec.Type)})
}
