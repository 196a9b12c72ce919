// Package storageclasses is the strategy for storage.k8s.io/v1 storageclasses. Imported by the API server.
package storageclasses

import (
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/podvisor/podvisor/internal/registry"
	"github.com/podvisor/podvisor/internal/validation"
)

// Strategy is the storageclasses strategy.
type Strategy struct{ registry.Base }

// New returns the strategy.
func New() *Strategy {
	return &Strategy{registry.Base{Namespaced: false, HasStatus: false, Checks: registry.TypedChecks(validation.ValidateStorageClass, validation.ValidateStorageClassUpdate, nil)}}
}

var (
	_ registry.Strategy = (*Strategy)(nil)
)

// Info implements registry.Strategy.Info.
func (*Strategy) Info() registry.Info {
	return registry.Info{Group: "storage.k8s.io", Version: "v1", Resource: "storageclasses", Kind: "StorageClass", Namespaced: false, ShortNames: []string{"sc"}, Categories: nil}
}

// New implements registry.Strategy.New.
func (*Strategy) New() runtime.Object { return &storagev1.StorageClass{} }

// NewList implements registry.Strategy.NewList.
func (*Strategy) NewList() runtime.Object { return &storagev1.StorageClassList{} }
