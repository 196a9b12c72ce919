// Package secrets is the strategy for core/v1 secrets: type defaults to Opaque and is immutable; field selector type. Imported by the API server.
package secrets

import (
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/podvisor/podvisor/internal/registry"
)

// Strategy is the secrets strategy.
type Strategy struct{ registry.Base }

// New returns the strategy.
func New() *Strategy { return &Strategy{registry.Base{Namespaced: true, HasStatus: false}} }

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

// Default implements registry.Strategy.Default.
func (*Strategy) Default(obj runtime.Object) {
	if s := obj.(*corev1.Secret); s.Type == "" {
		s.Type = corev1.SecretTypeOpaque
	}
}

// Validate implements registry.Strategy.Validate.
func (s *Strategy) Validate(obj runtime.Object) field.ErrorList {
	sec := obj.(*corev1.Secret)
	errs := s.Base.Validate(obj)
	size := 0
	for k, v := range sec.Data {
		for _, msg := range validation.IsConfigMapKey(k) {
			errs = append(errs, field.Invalid(field.NewPath("data").Key(k), k, msg))
		}
		size += len(v)
	}
	if size > corev1.MaxSecretSize {
		errs = append(errs, field.TooLong(field.NewPath("data"), "", corev1.MaxSecretSize))
	}
	return errs
}

// ValidateUpdate implements registry.Strategy.ValidateUpdate: the type
// never changes, nor the data of an immutable secret.
func (s *Strategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	sec, o := obj.(*corev1.Secret), old.(*corev1.Secret)
	errs := append(s.Validate(obj), registry.MetaUpdateErrors(obj, old)...)
	if sec.Type != o.Type {
		errs = append(errs, field.Invalid(field.NewPath("type"), sec.Type, "field is immutable"))
	}
	if o.Immutable != nil && *o.Immutable {
		if sec.Immutable == nil || !*sec.Immutable {
			errs = append(errs, field.Forbidden(field.NewPath("immutable"), "field is immutable when `immutable` is set"))
		}
		if !apiequality.Semantic.DeepEqual(sec.Data, o.Data) {
			errs = append(errs, field.Forbidden(field.NewPath("data"), "field is immutable when `immutable` is set"))
		}
	}
	return errs
}

// Attrs implements registry.Strategy.Attrs.
func (*Strategy) Attrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	return registry.MetaAttrs(obj, fields.Set{"type": string(obj.(*corev1.Secret).Type)})
}
