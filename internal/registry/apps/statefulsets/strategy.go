// Package statefulsets is the strategy for apps/v1 statefulsets: defaults
// (one replica, ordered, rolling update), selector checks, status and scale
// subresources. Imported by the API server.
package statefulsets

import (
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/podvisor/podvisor/internal/registry"
	"github.com/podvisor/podvisor/internal/registry/core/pods"
)

// Strategy is the statefulsets strategy.
type Strategy struct{ registry.Base }

// New returns the strategy.
func New() *Strategy { return &Strategy{registry.Base{Namespaced: true, HasStatus: true}} }

var (
	_ registry.Strategy       = (*Strategy)(nil)
	_ registry.StatusStrategy = (*Strategy)(nil)
	_ registry.Scaler         = (*Strategy)(nil)
)

// Info implements registry.Strategy.Info.
func (*Strategy) Info() registry.Info {
	return registry.Info{Group: "apps", Version: "v1", Resource: "statefulsets", Kind: "StatefulSet", Namespaced: true,
		ShortNames: []string{"sts"}, Categories: []string{"all"}}
}

// New implements registry.Strategy.New.
func (*Strategy) New() runtime.Object { return &appsv1.StatefulSet{} }

// NewList implements registry.Strategy.NewList.
func (*Strategy) NewList() runtime.Object { return &appsv1.StatefulSetList{} }

// Default implements registry.Strategy.Default.
func (*Strategy) Default(obj runtime.Object) {
	d := obj.(*appsv1.StatefulSet)
	if d.Spec.Replicas == nil {
		one := int32(1)
		d.Spec.Replicas = &one
	}
	if d.Spec.PodManagementPolicy == "" {
		d.Spec.PodManagementPolicy = appsv1.OrderedReadyPodManagement
	}
	if d.Spec.UpdateStrategy.Type == "" {
		d.Spec.UpdateStrategy.Type = appsv1.RollingUpdateStatefulSetStrategyType
	}
	if d.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType && d.Spec.UpdateStrategy.RollingUpdate == nil {
		zero := int32(0)
		d.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{Partition: &zero}
	}
	if d.Spec.RevisionHistoryLimit == nil {
		n := int32(10)
		d.Spec.RevisionHistoryLimit = &n
	}
	if d.Spec.PersistentVolumeClaimRetentionPolicy == nil {
		d.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
			WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType, WhenScaled: appsv1.RetainPersistentVolumeClaimRetentionPolicyType}
	}
	pods.DefaultSpec(&d.Spec.Template.Spec)
}

// Validate implements registry.Strategy.Validate.
func (s *Strategy) Validate(obj runtime.Object) field.ErrorList {
	d := obj.(*appsv1.StatefulSet)
	errs := s.Base.Validate(obj)
	errs = append(errs, registry.ValidateSelector(d.Spec.Selector, d.Spec.Template.Labels, field.NewPath("spec", "selector"))...)
	if d.Spec.Replicas != nil && *d.Spec.Replicas < 0 {
		errs = append(errs, field.Invalid(field.NewPath("spec", "replicas"), *d.Spec.Replicas, "must be greater than or equal to 0"))
	}
	if len(d.Spec.Template.Spec.Containers) == 0 {
		errs = append(errs, field.Required(field.NewPath("spec", "template", "spec", "containers"), ""))
	}
	return errs
}

// ValidateUpdate implements registry.Strategy.ValidateUpdate: the selector
// is immutable.
func (s *Strategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	d, o := obj.(*appsv1.StatefulSet), old.(*appsv1.StatefulSet)
	errs := append(s.Validate(obj), registry.MetaUpdateErrors(obj, old)...)
	if !apiequality.Semantic.DeepEqual(d.Spec.Selector, o.Spec.Selector) {
		errs = append(errs, field.Invalid(field.NewPath("spec", "selector"), d.Spec.Selector, "field is immutable"))
	}
	return errs
}

// Scale implements registry.Scaler.
func (*Strategy) Scale(obj runtime.Object) (*autoscalingv1.Scale, error) {
	d := obj.(*appsv1.StatefulSet)
	return registry.NewScale(&d.ObjectMeta, d.Spec.Replicas, d.Status.Replicas, registry.SelectorString(d.Spec.Selector)), nil
}

// SetReplicas implements registry.Scaler.
func (*Strategy) SetReplicas(obj runtime.Object, n int32) {
	obj.(*appsv1.StatefulSet).Spec.Replicas = &n
}
