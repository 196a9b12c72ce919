// Package configmaps is the strategy for core/v1 configmaps. Imported by
// the API server.
package configmaps

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/podvisor/podvisor/internal/registry"
	"github.com/podvisor/podvisor/internal/validation"
)

// Strategy is the configmaps strategy.
type Strategy struct{ registry.Base }

// New returns the strategy.
func New() *Strategy {
	return &Strategy{registry.Base{Namespaced: true, Checks: registry.TypedChecks(validation.ValidateConfigMap, validation.ValidateConfigMapUpdate, nil)}}
}

var _ registry.Strategy = (*Strategy)(nil)

// Info implements registry.Strategy.Info.
func (*Strategy) Info() registry.Info {
	return registry.Info{Version: "v1", Resource: "configmaps", Kind: "ConfigMap", Namespaced: true, ShortNames: []string{"cm"}}
}

// New implements registry.Strategy.New.
func (*Strategy) New() runtime.Object { return &corev1.ConfigMap{} }

// NewList implements registry.Strategy.NewList.
func (*Strategy) NewList() runtime.Object { return &corev1.ConfigMapList{} }

// maxSize is the most data a configmap may hold, as in Kubernetes.
const maxSize = 1 << 20
