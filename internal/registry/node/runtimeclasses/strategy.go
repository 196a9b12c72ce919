// Package runtimeclasses is the strategy for node.k8s.io/v1 runtimeclasses. Imported by the API server.
package runtimeclasses

import (
	nodev1 "k8s.io/api/node/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/podvisor/podvisor/internal/registry"
	"github.com/podvisor/podvisor/internal/validation"
)

// Strategy is the runtimeclasses strategy.
type Strategy struct{ registry.Base }

// New returns the strategy.
func New() *Strategy {
	return &Strategy{registry.Base{Namespaced: false, HasStatus: false, Checks: registry.TypedChecks(validation.ValidateRuntimeClass, validation.ValidateRuntimeClassUpdate, nil)}}
}

var (
	_ registry.Strategy = (*Strategy)(nil)
)

// Info implements registry.Strategy.Info.
func (*Strategy) Info() registry.Info {
	return registry.Info{Group: "node.k8s.io", Version: "v1", Resource: "runtimeclasses", Kind: "RuntimeClass", Namespaced: false, ShortNames: nil, Categories: nil}
}

// New implements registry.Strategy.New.
func (*Strategy) New() runtime.Object { return &nodev1.RuntimeClass{} }

// NewList implements registry.Strategy.NewList.
func (*Strategy) NewList() runtime.Object { return &nodev1.RuntimeClassList{} }
