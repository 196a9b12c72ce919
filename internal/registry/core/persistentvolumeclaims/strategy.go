// Package persistentvolumeclaims is the strategy for core/v1 persistentvolumeclaims: a new claim is Pending. Imported by the API server.
package persistentvolumeclaims

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/podvisor/podvisor/internal/registry"
	"github.com/podvisor/podvisor/internal/validation"
)

// Strategy is the persistentvolumeclaims strategy.
type Strategy struct{ registry.Base }

// New returns the strategy.
func New() *Strategy {
	return &Strategy{registry.Base{Namespaced: true, HasStatus: true, Checks: registry.TypedChecks(validation.ValidatePersistentVolumeClaim, validation.ValidatePersistentVolumeClaimUpdate, validation.ValidatePersistentVolumeClaimStatusUpdate)}}
}

var (
	_ registry.Strategy       = (*Strategy)(nil)
	_ registry.StatusStrategy = (*Strategy)(nil)
)

// Info implements registry.Strategy.Info.
func (*Strategy) Info() registry.Info {
	return registry.Info{Group: "", Version: "v1", Resource: "persistentvolumeclaims", Kind: "PersistentVolumeClaim", Namespaced: true, ShortNames: []string{"pvc"}, Categories: nil}
}

// New implements registry.Strategy.New.
func (*Strategy) New() runtime.Object { return &corev1.PersistentVolumeClaim{} }

// NewList implements registry.Strategy.NewList.
func (*Strategy) NewList() runtime.Object { return &corev1.PersistentVolumeClaimList{} }

// PrepareForCreate implements registry.Strategy.PrepareForCreate: a new
// claim is Pending.
func (s *Strategy) PrepareForCreate(obj runtime.Object) {
	s.Base.PrepareForCreate(obj)
	obj.(*corev1.PersistentVolumeClaim).Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}
}
