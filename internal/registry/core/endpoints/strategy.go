// Package endpoints is the strategy for core/v1 endpoints. Imported by the API server.
package endpoints

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/podvisor/podvisor/internal/registry"
	"github.com/podvisor/podvisor/internal/validation"
)

// Strategy is the endpoints strategy.
type Strategy struct{ registry.Base }

// New returns the strategy.
func New() *Strategy {
	return &Strategy{registry.Base{Namespaced: true, HasStatus: false, Checks: registry.TypedChecks(validation.ValidateEndpoints, validation.ValidateEndpointsUpdate, nil)}}
}

var (
	_ registry.Strategy        = (*Strategy)(nil)
	_ registry.CreateOnUpdater = (*Strategy)(nil)
)

// Info implements registry.Strategy.Info.
func (*Strategy) Info() registry.Info {
	return registry.Info{Group: "", Version: "v1", Resource: "endpoints", Kind: "Endpoints", Namespaced: true, ShortNames: []string{"ep"}, Categories: nil}
}

// New implements registry.Strategy.New.
func (*Strategy) New() runtime.Object { return &corev1.Endpoints{} }

// NewList implements registry.Strategy.NewList.
func (*Strategy) NewList() runtime.Object { return &corev1.EndpointsList{} }

// AllowCreateOnUpdate implements registry.CreateOnUpdater: a PUT may
// create.
func (*Strategy) AllowCreateOnUpdate() bool { return true }
