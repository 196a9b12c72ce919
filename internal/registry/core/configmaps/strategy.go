// Package configmaps is the strategy for core/v1 configmaps. Imported by
// the API server.
package configmaps

import (
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/podvisor/podvisor/internal/registry"
)

// Strategy is the configmaps strategy.
type Strategy struct{ registry.Base }

// New returns the strategy.
func New() *Strategy { return &Strategy{registry.Base{Namespaced: true}} }

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

// Validate implements registry.Strategy.Validate.
func (s *Strategy) Validate(obj runtime.Object) field.ErrorList {
	cm := obj.(*corev1.ConfigMap)
	errs := s.Base.Validate(obj)
	size := 0
	for k, v := range cm.Data {
		for _, msg := range validation.IsConfigMapKey(k) {
			errs = append(errs, field.Invalid(field.NewPath("data").Key(k), k, msg))
		}
		if _, dup := cm.BinaryData[k]; dup {
			errs = append(errs, field.Invalid(field.NewPath("data").Key(k), k, "duplicate of key present in binaryData"))
		}
		size += len(k) + len(v)
	}
	for k, v := range cm.BinaryData {
		for _, msg := range validation.IsConfigMapKey(k) {
			errs = append(errs, field.Invalid(field.NewPath("binaryData").Key(k), k, msg))
		}
		size += len(k) + len(v)
	}
	if size > maxSize {
		errs = append(errs, field.TooLong(field.NewPath(""), "", maxSize))
	}
	return errs
}

// ValidateUpdate implements registry.Strategy.ValidateUpdate: an immutable
// configmap keeps its data.
func (s *Strategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	cm, o := obj.(*corev1.ConfigMap), old.(*corev1.ConfigMap)
	errs := append(s.Validate(obj), registry.MetaUpdateErrors(obj, old)...)
	if o.Immutable != nil && *o.Immutable {
		if cm.Immutable == nil || !*cm.Immutable {
			errs = append(errs, field.Forbidden(field.NewPath("immutable"), "field is immutable when `immutable` is set"))
		}
		if !apiequality.Semantic.DeepEqual(cm.Data, o.Data) {
			errs = append(errs, field.Forbidden(field.NewPath("data"), "field is immutable when `immutable` is set"))
		}
		if !apiequality.Semantic.DeepEqual(cm.BinaryData, o.BinaryData) {
			errs = append(errs, field.Forbidden(field.NewPath("binaryData"), "field is immutable when `immutable` is set"))
		}
	}
	return errs
}
