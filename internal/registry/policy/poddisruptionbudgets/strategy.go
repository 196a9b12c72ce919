// Package poddisruptionbudgets is the strategy for policy/v1 poddisruptionbudgets. Imported by the API server.
package poddisruptionbudgets

import (
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/podvisor/podvisor/internal/registry"
	"github.com/podvisor/podvisor/internal/validation"
)

// Strategy is the poddisruptionbudgets strategy.
type Strategy struct{ registry.Base }

// New returns the strategy.
func New() *Strategy {
	return &Strategy{registry.Base{Namespaced: true, HasStatus: true, Checks: registry.TypedChecks(validation.ValidatePodDisruptionBudget, validation.ValidatePodDisruptionBudgetUpdate, validation.ValidatePodDisruptionBudgetStatusUpdate)}}
}

var (
	_ registry.Strategy       = (*Strategy)(nil)
	_ registry.StatusStrategy = (*Strategy)(nil)
)

// Info implements registry.Strategy.Info.
func (*Strategy) Info() registry.Info {
	return registry.Info{Group: "policy", Version: "v1", Resource: "poddisruptionbudgets", Kind: "PodDisruptionBudget", Namespaced: true, ShortNames: []string{"pdb"}, Categories: nil}
}

// New implements registry.Strategy.New.
func (*Strategy) New() runtime.Object { return &policyv1.PodDisruptionBudget{} }

// NewList implements registry.Strategy.NewList.
func (*Strategy) NewList() runtime.Object { return &policyv1.PodDisruptionBudgetList{} }
