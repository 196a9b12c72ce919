// Package jobs is the strategy for batch/v1 jobs: defaults (one completion,
// parallelism one, backoff limit six), the generated controller-uid selector,
// an immutable selector and template, status. Imported by the API server.
package jobs

import (
	"strconv"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/podvisor/podvisor/internal/registry"
	"github.com/podvisor/podvisor/internal/registry/core/pods"
)

// Strategy is the jobs strategy.
type Strategy struct{ registry.Base }

// New returns the strategy.
func New() *Strategy { return &Strategy{registry.Base{Namespaced: true, HasStatus: true}} }

var (
	_ registry.Strategy       = (*Strategy)(nil)
	_ registry.StatusStrategy = (*Strategy)(nil)
)

// Info implements registry.Strategy.Info.
func (*Strategy) Info() registry.Info {
	return registry.Info{Group: "batch", Version: "v1", Resource: "jobs", Kind: "Job", Namespaced: true, Categories: []string{"all"}}
}

// New implements registry.Strategy.New.
func (*Strategy) New() runtime.Object { return &batchv1.Job{} }

// NewList implements registry.Strategy.NewList.
func (*Strategy) NewList() runtime.Object { return &batchv1.JobList{} }

// Default implements registry.Strategy.Default.
func (*Strategy) Default(obj runtime.Object) {
	j := obj.(*batchv1.Job)
	one := int32(1)
	if j.Spec.Completions == nil && j.Spec.Parallelism == nil {
		j.Spec.Completions = &one
	}
	if j.Spec.Parallelism == nil {
		p := one
		j.Spec.Parallelism = &p
	}
	if j.Spec.BackoffLimit == nil {
		six := int32(6)
		j.Spec.BackoffLimit = &six
	}
	if j.Spec.CompletionMode == nil {
		m := batchv1.NonIndexedCompletion
		j.Spec.CompletionMode = &m
	}
	if j.Spec.Suspend == nil {
		f := false
		j.Spec.Suspend = &f
	}
	if j.Spec.ManualSelector == nil {
		f := false
		j.Spec.ManualSelector = &f
	}
	if j.Spec.PodReplacementPolicy == nil {
		p := batchv1.TerminatingOrFailed
		j.Spec.PodReplacementPolicy = &p
	}
	pods.DefaultSpec(&j.Spec.Template.Spec)
}

// PrepareForCreate implements registry.Strategy.PrepareForCreate: unless
// the job chose its selector, it selects its pods by its own uid.
func (s *Strategy) PrepareForCreate(obj runtime.Object) {
	s.Base.PrepareForCreate(obj)
	j := obj.(*batchv1.Job)
	if j.Spec.ManualSelector != nil && *j.Spec.ManualSelector {
		return
	}
	uid := string(j.UID)
	j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{batchv1.ControllerUidLabel: uid}}
	if j.Spec.Template.Labels == nil {
		j.Spec.Template.Labels = map[string]string{}
	}
	for k, v := range map[string]string{batchv1.ControllerUidLabel: uid, batchv1.JobNameLabel: j.Name,
		"controller-uid": uid, "job-name": j.Name} {
		j.Spec.Template.Labels[k] = v
	}
}

// Validate implements registry.Strategy.Validate.
func (s *Strategy) Validate(obj runtime.Object) field.ErrorList {
	j := obj.(*batchv1.Job)
	errs := s.Base.Validate(obj)
	errs = append(errs, registry.ValidateSelector(j.Spec.Selector, j.Spec.Template.Labels, field.NewPath("spec", "selector"))...)
	switch j.Spec.Template.Spec.RestartPolicy {
	case corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever:
	default:
		errs = append(errs, field.NotSupported(field.NewPath("spec", "template", "spec", "restartPolicy"), j.Spec.Template.Spec.RestartPolicy, []string{"OnFailure", "Never"}))
	}
	if len(j.Spec.Template.Spec.Containers) == 0 {
		errs = append(errs, field.Required(field.NewPath("spec", "template", "spec", "containers"), ""))
	}
	return errs
}

// ValidateUpdate implements registry.Strategy.ValidateUpdate: selector
// and pod template are immutable.
func (s *Strategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	j, o := obj.(*batchv1.Job), old.(*batchv1.Job)
	errs := append(s.Validate(obj), registry.MetaUpdateErrors(obj, old)...)
	if !apiequality.Semantic.DeepEqual(j.Spec.Selector, o.Spec.Selector) {
		errs = append(errs, field.Invalid(field.NewPath("spec", "selector"), j.Spec.Selector, "field is immutable"))
	}
	if !apiequality.Semantic.DeepEqual(j.Spec.Template, o.Spec.Template) {
		errs = append(errs, field.Invalid(field.NewPath("spec", "template"), "", "field is immutable"))
	}
	return errs
}

// Attrs implements registry.Strategy.Attrs.
func (*Strategy) Attrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	j := obj.(*batchv1.Job)
	return registry.MetaAttrs(obj, fields.Set{"status.successful": itoa(j.Status.Succeeded)})
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }
