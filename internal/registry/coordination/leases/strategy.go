// Package leases is the strategy for coordination.k8s.io/v1 leases. Imported by the API server.
package leases

import (
	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/podvisor/podvisor/internal/registry"
	"github.com/podvisor/podvisor/internal/validation"
)

// Strategy is the leases strategy.
type Strategy struct{ registry.Base }

// New returns the strategy.
func New() *Strategy {
	return &Strategy{registry.Base{Namespaced: true, HasStatus: false, Checks: registry.TypedChecks(validation.ValidateLease, validation.ValidateLeaseUpdate, nil)}}
}

var (
	_ registry.Strategy = (*Strategy)(nil)
)

// Info implements registry.Strategy.Info.
func (*Strategy) Info() registry.Info {
	return registry.Info{Group: "coordination.k8s.io", Version: "v1", Resource: "leases", Kind: "Lease", Namespaced: true, ShortNames: nil, Categories: nil}
}

// New implements registry.Strategy.New.
func (*Strategy) New() runtime.Object { return &coordinationv1.Lease{} }

// NewList implements registry.Strategy.NewList.
func (*Strategy) NewList() runtime.Object { return &coordinationv1.LeaseList{} }
