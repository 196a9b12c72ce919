// Package controllerrevisions is the strategy for apps/v1
// controllerrevisions: the immutable snapshots of a StatefulSet's or
// DaemonSet's pod template that their controllers keep as history (and
// `kubectl rollout history/undo` reads). Imported by the API server.
package controllerrevisions

import (
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/podvisor/podvisor/internal/registry"
	"github.com/podvisor/podvisor/internal/validation"
)

// Strategy is the controllerrevisions strategy.
type Strategy struct{ registry.Base }

// New returns the strategy.
func New() *Strategy {
	return &Strategy{registry.Base{Namespaced: true, Checks: registry.TypedChecks(validation.ValidateControllerRevision, validation.ValidateControllerRevisionUpdate, nil)}}
}

var _ registry.Strategy = (*Strategy)(nil)

// Info implements registry.Strategy.Info.
func (*Strategy) Info() registry.Info {
	return registry.Info{Group: "apps", Version: "v1", Resource: "controllerrevisions", Kind: "ControllerRevision", Namespaced: true}
}

// New implements registry.Strategy.New.
func (*Strategy) New() runtime.Object { return &appsv1.ControllerRevision{} }

// NewList implements registry.Strategy.NewList.
func (*Strategy) NewList() runtime.Object { return &appsv1.ControllerRevisionList{} }
