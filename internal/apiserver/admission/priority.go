package admission

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/podvisor/podvisor/internal/validation"
)

var priorityClassesGR = schema.GroupResource{Group: "scheduling.k8s.io", Resource: "priorityclasses"}

// Priority is Kubernetes' Priority plugin. A pod being created gets
// spec.priority (and spec.preemptionPolicy) from the PriorityClass its
// spec.priorityClassName names, or from the global default class (value 0
// without one); a class that does not exist, or a priority set by hand
// that disagrees with the class, is refused (403). At most one class may be
// the global default, and the built-in system classes cannot be deleted.
type Priority struct {
	Objects Objects
}

var _ Interface = (*Priority)(nil)

// Mutate implements Interface.Mutate.
func (p *Priority) Mutate(ctx context.Context, a *Attributes) error {
	pod, ok := a.Object.(*corev1.Pod)
	if !ok || a.Subresource != "" {
		return nil
	}
	switch a.Operation {
	case Update:
		// An update that leaves them out keeps what admission set.
		old, ok := a.OldObject.(*corev1.Pod)
		if !ok {
			return nil
		}
		if pod.Spec.Priority == nil && old.Spec.Priority != nil {
			v := *old.Spec.Priority
			pod.Spec.Priority = &v
		}
		if pod.Spec.PreemptionPolicy == nil && old.Spec.PreemptionPolicy != nil {
			v := *old.Spec.PreemptionPolicy
			pod.Spec.PreemptionPolicy = &v
		}
		return nil
	case Create:
	default:
		return nil
	}
	var (
		value  int32
		policy *corev1.PreemptionPolicy
	)
	if pod.Spec.PriorityClassName == "" {
		def, err := p.globalDefault(ctx)
		if err != nil {
			return err
		}
		pp := corev1.PreemptLowerPriority
		policy = &pp
		if def != nil {
			pod.Spec.PriorityClassName, value, policy = def.Name, def.Value, def.PreemptionPolicy
		}
	} else {
		obj, err := p.Objects.Get(ctx, priorityClassesGR, "", pod.Spec.PriorityClassName)
		if apierrors.IsNotFound(err) {
			return apierrors.NewForbidden(a.Resource.GroupResource(), a.Name, fmt.Errorf("no PriorityClass with name %v was found", pod.Spec.PriorityClassName))
		}
		if err != nil {
			return err
		}
		pc := obj.(*schedulingv1.PriorityClass)
		value, policy = pc.Value, pc.PreemptionPolicy
	}
	if pod.Spec.Priority != nil && *pod.Spec.Priority != value {
		return apierrors.NewForbidden(a.Resource.GroupResource(), a.Name, fmt.Errorf("the integer value of priority (%d) must not be provided in pod spec; priority admission controller computed %d from the given PriorityClass name", *pod.Spec.Priority, value))
	}
	pod.Spec.Priority = &value
	if policy != nil {
		if pod.Spec.PreemptionPolicy != nil && *pod.Spec.PreemptionPolicy != *policy {
			return apierrors.NewForbidden(a.Resource.GroupResource(), a.Name, fmt.Errorf("the string value of PreemptionPolicy (%s) must not be provided in pod spec; priority admission controller computed %s from the given PriorityClass name", *pod.Spec.PreemptionPolicy, *policy))
		}
		v := *policy
		pod.Spec.PreemptionPolicy = &v
	}
	return nil
}

// globalDefault returns the global default class (the lowest-valued one
// if several claim it), or nil.
func (p *Priority) globalDefault(ctx context.Context) (*schedulingv1.PriorityClass, error) {
	objs, err := p.Objects.List(ctx, priorityClassesGR, "", false)
	if err != nil {
		return nil, err
	}
	var def *schedulingv1.PriorityClass
	for _, o := range objs {
		pc := o.(*schedulingv1.PriorityClass)
		if pc.GlobalDefault && (def == nil || pc.Value < def.Value) {
			def = pc
		}
	}
	return def, nil
}

// Validate implements Interface.Validate: one global default, and the
// system classes stay.
func (p *Priority) Validate(ctx context.Context, a *Attributes) error {
	if a.Resource.GroupResource() != priorityClassesGR || a.Subresource != "" {
		return nil
	}
	switch a.Operation {
	case Delete:
		if strings.HasPrefix(a.Name, validation.SystemPriorityClassPrefix) {
			for _, s := range validation.SystemPriorityClasses() {
				if s.Name == a.Name {
					return apierrors.NewForbidden(priorityClassesGR, a.Name, fmt.Errorf("this is a system priority class and cannot be deleted"))
				}
			}
		}
	case Create, Update:
		pc, ok := a.Object.(*schedulingv1.PriorityClass)
		if !ok || !pc.GlobalDefault {
			return nil
		}
		objs, err := p.Objects.List(ctx, priorityClassesGR, "", true)
		if err != nil {
			return err
		}
		for _, o := range objs {
			other := o.(*schedulingv1.PriorityClass)
			if other.GlobalDefault && other.Name != pc.Name {
				return apierrors.NewForbidden(priorityClassesGR, pc.Name, fmt.Errorf("PriorityClass %v is already marked as default. Only one default can exist", other.Name))
			}
		}
	}
	return nil
}
