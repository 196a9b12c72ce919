// Package nodes is the strategy for core/v1 nodes: a node's status is written by its kubelet (kept on create); spec.unschedulable is selectable. Imported by the API server.
package nodes

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"strconv"

	"github.com/podvisor/podvisor/internal/registry"
	"github.com/podvisor/podvisor/internal/validation"
)

// Strategy is the nodes strategy.
type Strategy struct{ registry.Base }

// New returns the strategy.
func New() *Strategy {
	return &Strategy{registry.Base{Namespaced: false, HasStatus: true, Checks: registry.TypedChecks(validation.ValidateNode, validation.ValidateNodeUpdate, validation.ValidateNodeStatusUpdate)}}
}

var (
	_ registry.Strategy       = (*Strategy)(nil)
	_ registry.StatusStrategy = (*Strategy)(nil)
)

// Info implements registry.Strategy.Info.
func (*Strategy) Info() registry.Info {
	return registry.Info{Group: "", Version: "v1", Resource: "nodes", Kind: "Node", Namespaced: false, ShortNames: []string{"no"}, Categories: nil}
}

// New implements registry.Strategy.New.
func (*Strategy) New() runtime.Object { return &corev1.Node{} }

// NewList implements registry.Strategy.NewList.
func (*Strategy) NewList() runtime.Object { return &corev1.NodeList{} }

// PrepareForCreate implements registry.Strategy.PrepareForCreate: a
// kubelet registers its node with its status, which is kept.
func (*Strategy) PrepareForCreate(obj runtime.Object) {}

// Attrs implements registry.Strategy.Attrs.
func (*Strategy) Attrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	n := obj.(*corev1.Node)
	return registry.MetaAttrs(obj, fields.Set{"spec.unschedulable": strconv.FormatBool(n.Spec.Unschedulable)})
}
