// Package daemonsets is the strategy for apps/v1 daemonsets. Imported by the API server.
package daemonsets

import (
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/podvisor/podvisor/internal/registry"
	"github.com/podvisor/podvisor/internal/validation"
)

// Strategy is the daemonsets strategy.
type Strategy struct{ registry.Base }

// New returns the strategy.
func New() *Strategy {
	return &Strategy{registry.Base{Namespaced: true, HasStatus: true, Checks: registry.TypedChecks(validation.ValidateDaemonSet, validation.ValidateDaemonSetUpdate, validation.ValidateDaemonSetStatusUpdate)}}
}

var (
	_ registry.Strategy       = (*Strategy)(nil)
	_ registry.StatusStrategy = (*Strategy)(nil)
)

// Info implements registry.Strategy.Info.
func (*Strategy) Info() registry.Info {
	return registry.Info{Group: "apps", Version: "v1", Resource: "daemonsets", Kind: "DaemonSet", Namespaced: true, ShortNames: []string{"ds"}, Categories: []string{"all"}}
}

// New implements registry.Strategy.New.
func (*Strategy) New() runtime.Object { return &appsv1.DaemonSet{} }

// NewList implements registry.Strategy.NewList.
func (*Strategy) NewList() runtime.Object { return &appsv1.DaemonSetList{} }
