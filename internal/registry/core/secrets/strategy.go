// Package secrets is the strategy for core/v1 secrets: type defaults to Opaque and is immutable; field selector type. Imported by the API server.
package secrets

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/podvisor/podvisor/internal/registry"
	"github.com/podvisor/podvisor/internal/validation"
)

// Strategy is the secrets strategy.
type Strategy struct{ registry.Base }

// New returns the strategy.
func New() *Strategy {
	return &Strategy{registry.Base{Namespaced: true, HasStatus: false, Checks: registry.TypedChecks(validation.ValidateSecret, validation.ValidateSecretUpdate, nil)}}
}

var (
	_ registry.Strategy = (*Strategy)(nil)
)

// Info implements registry.Strategy.Info.
func (*Strategy) Info() registry.Info {
	return registry.Info{Group: "", Version: "v1", Resource: "secrets", Kind: "Secret", Namespaced: true, ShortNames: nil, Categories: nil}
}

// New implements registry.Strategy.New.
func (*Strategy) New() runtime.Object { return &corev1.Secret{} }

// NewList implements registry.Strategy.NewList.
func (*Strategy) NewList() runtime.Object { return &corev1.SecretList{} }

// Attrs implements registry.Strategy.Attrs.
func (*Strategy) Attrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	return registry.MetaAttrs(obj, fields.Set{"type": string(obj.(*corev1.Secret).Type)})
}
