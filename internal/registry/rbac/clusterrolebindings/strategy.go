// Package clusterrolebindings is the strategy for rbac.authorization.k8s.io/v1
// clusterrolebindings: the roleRef never changes. Imported by the API server.
package clusterrolebindings

import (
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/validation/path"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/podvisor/podvisor/internal/registry"
)

// Strategy is the clusterrolebindings strategy.
type Strategy struct{ registry.Base }

// New returns the strategy.
func New() *Strategy {
	return &Strategy{registry.Base{Namespaced: false, NameFn: path.ValidatePathSegmentName}}
}

var (
	_ registry.Strategy        = (*Strategy)(nil)
	_ registry.CreateOnUpdater = (*Strategy)(nil)
)

// Info implements registry.Strategy.Info.
func (*Strategy) Info() registry.Info {
	return registry.Info{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings", Kind: "ClusterRoleBinding", Namespaced: false}
}

// New implements registry.Strategy.New.
func (*Strategy) New() runtime.Object { return &rbacv1.ClusterRoleBinding{} }

// NewList implements registry.Strategy.NewList.
func (*Strategy) NewList() runtime.Object { return &rbacv1.ClusterRoleBindingList{} }

// AllowCreateOnUpdate implements registry.CreateOnUpdater.
func (*Strategy) AllowCreateOnUpdate() bool { return true }

// Default implements registry.Strategy.Default.
func (*Strategy) Default(obj runtime.Object) {
	b := obj.(*rbacv1.ClusterRoleBinding)
	if b.RoleRef.APIGroup == "" {
		b.RoleRef.APIGroup = rbacv1.GroupName
	}
	for i := range b.Subjects {
		s := &b.Subjects[i]
		if s.APIGroup == "" && (s.Kind == rbacv1.UserKind || s.Kind == rbacv1.GroupKind) {
			s.APIGroup = rbacv1.GroupName
		}
	}
}

// Validate implements registry.Strategy.Validate.
func (s *Strategy) Validate(obj runtime.Object) field.ErrorList {
	b := obj.(*rbacv1.ClusterRoleBinding)
	errs := s.Base.Validate(obj)
	if b.RoleRef.Name == "" {
		errs = append(errs, field.Required(field.NewPath("roleRef", "name"), ""))
	}
	switch b.RoleRef.Kind {
	case "Role", "ClusterRole":
	default:
		errs = append(errs, field.NotSupported(field.NewPath("roleRef", "kind"), b.RoleRef.Kind, []string{"ClusterRole", "Role"}))
	}
	for i, sub := range b.Subjects {
		switch sub.Kind {
		case rbacv1.UserKind, rbacv1.GroupKind, rbacv1.ServiceAccountKind:
		default:
			errs = append(errs, field.NotSupported(field.NewPath("subjects").Index(i).Child("kind"), sub.Kind, []string{"Group", "ServiceAccount", "User"}))
		}
		if sub.Name == "" {
			errs = append(errs, field.Required(field.NewPath("subjects").Index(i).Child("name"), ""))
		}
	}
	return errs
}

// ValidateUpdate implements registry.Strategy.ValidateUpdate.
func (s *Strategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	b, o := obj.(*rbacv1.ClusterRoleBinding), old.(*rbacv1.ClusterRoleBinding)
	errs := append(s.Validate(obj), registry.MetaUpdateErrors(obj, old)...)
	if b.RoleRef != o.RoleRef {
		errs = append(errs, field.Invalid(field.NewPath("roleRef"), b.RoleRef, "cannot change roleRef"))
	}
	return errs
}
