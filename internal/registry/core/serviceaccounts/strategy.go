// Package serviceaccounts is the strategy for core/v1 serviceaccounts. Imported by the API server.
package serviceaccounts

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/podvisor/podvisor/internal/registry"
	"github.com/podvisor/podvisor/internal/validation"
)

// Strategy is the serviceaccounts strategy.
type Strategy struct{ registry.Base }

// New returns the strategy.
func New() *Strategy {
	return &Strategy{registry.Base{Namespaced: true, HasStatus: false, Checks: registry.TypedChecks(validation.ValidateServiceAccount, validation.ValidateServiceAccountUpdate, nil)}}
}

var (
	_ registry.Strategy = (*Strategy)(nil)
)

// Info implements registry.Strategy.Info.
func (*Strategy) Info() registry.Info {
	return registry.Info{Group: "", Version: "v1", Resource: "serviceaccounts", Kind: "ServiceAccount", Namespaced: true, ShortNames: []string{"sa"}, Categories: nil}
}

// New implements registry.Strategy.New.
func (*Strategy) New() runtime.Object { return &corev1.ServiceAccount{} }

// NewList implements registry.Strategy.NewList.
func (*Strategy) NewList() runtime.Object { return &corev1.ServiceAccountList{} }
