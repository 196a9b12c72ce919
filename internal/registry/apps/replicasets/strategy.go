// Package replicasets is the strategy for apps/v1 replicasets: defaults
// (one replica), selector checks, status and scale
// subresources. Imported by the API server.
package replicasets

import (
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/podvisor/podvisor/internal/registry"
	"github.com/podvisor/podvisor/internal/validation"
)

// Strategy is the replicasets strategy.
type Strategy struct{ registry.Base }

// New returns the strategy.
func New() *Strategy {
	return &Strategy{registry.Base{Namespaced: true, HasStatus: true, Checks: registry.TypedChecks(validation.ValidateReplicaSet, validation.ValidateReplicaSetUpdate, validation.ValidateReplicaSetStatusUpdate)}}
}

var (
	_ registry.Strategy       = (*Strategy)(nil)
	_ registry.StatusStrategy = (*Strategy)(nil)
	_ registry.Scaler         = (*Strategy)(nil)
)

// Info implements registry.Strategy.Info.
func (*Strategy) Info() registry.Info {
	return registry.Info{Group: "apps", Version: "v1", Resource: "replicasets", Kind: "ReplicaSet", Namespaced: true,
		ShortNames: []string{"rs"}, Categories: []string{"all"}}
}

// New implements registry.Strategy.New.
func (*Strategy) New() runtime.Object { return &appsv1.ReplicaSet{} }

// NewList implements registry.Strategy.NewList.
func (*Strategy) NewList() runtime.Object { return &appsv1.ReplicaSetList{} }

// Scale implements registry.Scaler.
func (*Strategy) Scale(obj runtime.Object) (*autoscalingv1.Scale, error) {
	d := obj.(*appsv1.ReplicaSet)
	return registry.NewScale(&d.ObjectMeta, d.Spec.Replicas, d.Status.Replicas, registry.SelectorString(d.Spec.Selector)), nil
}

// SetReplicas implements registry.Scaler.
func (*Strategy) SetReplicas(obj runtime.Object, n int32) {
	obj.(*appsv1.ReplicaSet).Spec.Replicas = &n
}
