// Package persistentvolumes is the strategy for core/v1 persistentvolumes: a new volume is Pending. Imported by the API server.
package persistentvolumes

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/podvisor/podvisor/internal/registry"
	"github.com/podvisor/podvisor/internal/validation"
)

// Strategy is the persistentvolumes strategy.
type Strategy struct{ registry.Base }

// New returns the strategy.
func New() *Strategy {
	return &Strategy{registry.Base{Namespaced: false, HasStatus: true, Checks: registry.TypedChecks(validation.ValidatePersistentVolume, validation.ValidatePersistentVolumeUpdate, validation.ValidatePersistentVolumeStatusUpdate)}}
}

var (
	_ registry.Strategy       = (*Strategy)(nil)
	_ registry.StatusStrategy = (*Strategy)(nil)
)

// Info implements registry.Strategy.Info.
func (*Strategy) Info() registry.Info {
	return registry.Info{Group: "", Version: "v1", Resource: "persistentvolumes", Kind: "PersistentVolume", Namespaced: false, ShortNames: []string{"pv"}, Categories: nil}
}

// New implements registry.Strategy.New.
func (*Strategy) New() runtime.Object { return &corev1.PersistentVolume{} }

// NewList implements registry.Strategy.NewList.
func (*Strategy) NewList() runtime.Object { return &corev1.PersistentVolumeList{} }

// PrepareForCreate implements registry.Strategy.PrepareForCreate: a new
// volume is Pending.
func (s *Strategy) PrepareForCreate(obj runtime.Object) {
	s.Base.PrepareForCreate(obj)
	obj.(*corev1.PersistentVolume).Status = corev1.PersistentVolumeStatus{Phase: corev1.VolumePending}
}
