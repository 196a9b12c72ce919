// Package namespaces is the strategy for core/v1 namespaces: a namespace
// starts Active with the "kubernetes" finalizer; deleting it makes it
// Terminating until its finalizers are gone. Imported by the API server.
package namespaces

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/podvisor/podvisor/internal/defaults"
	"github.com/podvisor/podvisor/internal/registry"
	"github.com/podvisor/podvisor/internal/validation"
)

// Strategy is the namespaces strategy.
type Strategy struct{ registry.Base }

// New returns the strategy.
func New() *Strategy {
	return &Strategy{registry.Base{HasStatus: true, Checks: registry.TypedChecks(validation.ValidateNamespace, validation.ValidateNamespaceUpdate, validation.ValidateNamespaceStatusUpdate)}}
}

var (
	_ registry.Strategy       = (*Strategy)(nil)
	_ registry.StatusStrategy = (*Strategy)(nil)
	_ registry.Deleter        = (*Strategy)(nil)
)

// Info implements registry.Strategy.Info.
func (*Strategy) Info() registry.Info {
	return registry.Info{Version: "v1", Resource: "namespaces", Kind: "Namespace", ShortNames: []string{"ns"}}
}

// New implements registry.Strategy.New.
func (*Strategy) New() runtime.Object { return &corev1.Namespace{} }

// NewList implements registry.Strategy.NewList.
func (*Strategy) NewList() runtime.Object { return &corev1.NamespaceList{} }

// FinalizerKubernetes is the finalizer the namespace controller removes
// once the namespace is empty.
const FinalizerKubernetes corev1.FinalizerName = "kubernetes"

// PrepareForCreate implements registry.Strategy.PrepareForCreate.
func (s *Strategy) PrepareForCreate(obj runtime.Object) {
	ns := obj.(*corev1.Namespace)
	ns.Status = corev1.NamespaceStatus{Phase: corev1.NamespaceActive}
	defaults.NamespaceOnCreate(ns)
}

// PrepareForUpdate implements registry.Strategy.PrepareForUpdate: status
// and spec.finalizers only change through their subresources.
func (s *Strategy) PrepareForUpdate(obj, old runtime.Object) {
	ns, o := obj.(*corev1.Namespace), old.(*corev1.Namespace)
	ns.Status = o.Status
	ns.Spec.Finalizers = o.Spec.Finalizers
}

// PrepareForFinalize keeps everything of old but spec.finalizers (the
// namespaces/finalize subresource).
func (s *Strategy) PrepareForFinalize(obj, old runtime.Object) {
	ns, o := obj.(*corev1.Namespace), old.(*corev1.Namespace)
	fin := ns.Spec.Finalizers
	*ns = *o.DeepCopy()
	ns.Spec.Finalizers = fin
}

// Attrs implements registry.Strategy.Attrs.
func (*Strategy) Attrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	ns := obj.(*corev1.Namespace)
	return registry.MetaAttrs(obj, fields.Set{"status.phase": string(ns.Status.Phase)})
}

// BeforeDelete implements registry.Deleter: a namespace with finalizers
// becomes Terminating instead of going away.
func (*Strategy) BeforeDelete(obj runtime.Object, opts *metav1.DeleteOptions, now time.Time) bool {
	ns := obj.(*corev1.Namespace)
	if len(ns.Spec.Finalizers) == 0 {
		return false
	}
	ns.Status.Phase = corev1.NamespaceTerminating
	zero := int64(0)
	opts.GracePeriodSeconds = &zero
	return true
}

// ValidateFinalize validates a namespaces/finalize update.
func (*Strategy) ValidateFinalize(obj, old runtime.Object) field.ErrorList {
	return validation.ValidateNamespaceFinalizeUpdate(obj.(*corev1.Namespace), old.(*corev1.Namespace))
}
