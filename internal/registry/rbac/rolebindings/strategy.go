// Package rolebindings is the strategy for rbac.authorization.k8s.io/v1
// rolebindings: the roleRef never changes. Imported by the API server.
package rolebindings

import (
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/podvisor/podvisor/internal/registry"
	"github.com/podvisor/podvisor/internal/validation"
)

// Strategy is the rolebindings strategy.
type Strategy struct{ registry.Base }

// New returns the strategy.
func New() *Strategy {
	return &Strategy{registry.Base{Namespaced: true, Checks: registry.TypedChecks(validation.ValidateRoleBinding, validation.ValidateRoleBindingUpdate, nil)}}
}

var (
	_ registry.Strategy        = (*Strategy)(nil)
	_ registry.CreateOnUpdater = (*Strategy)(nil)
)

// Info implements registry.Strategy.Info.
func (*Strategy) Info() registry.Info {
	return registry.Info{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings", Kind: "RoleBinding", Namespaced: true}
}

// New implements registry.Strategy.New.
func (*Strategy) New() runtime.Object { return &rbacv1.RoleBinding{} }

// NewList implements registry.Strategy.NewList.
func (*Strategy) NewList() runtime.Object { return &rbacv1.RoleBindingList{} }

// AllowCreateOnUpdate implements registry.CreateOnUpdater.
func (*Strategy) AllowCreateOnUpdate() bool { return true }
