package validation

import (
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var supportedDeploymentStrategies = []appsv1.DeploymentStrategyType{appsv1.RecreateDeploymentStrategyType,
	appsv1.RollingUpdateDeploymentStrategyType}

// validateWorkloadSelector checks the selector of a controller: present,
// not empty, valid, and matching the template's labels.
func validateWorkloadSelector(sel *metav1.LabelSelector, tmplLabels map[string]string, kind string, sp *field.Path) field.ErrorList {
	p := sp.Child("selector")
	if sel == nil {
		return field.ErrorList{field.Required(p, "")}
	}
	errs := validateLabelSelector(sel, p)
	if len(sel.MatchLabels)+len(sel.MatchExpressions) == 0 {
		return append(errs, field.Invalid(p, sel, "empty selector is invalid for "+kind))
	}
	if len(errs) > 0 {
		return errs
	}
	selector, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return append(errs, field.Invalid(p, sel, err.Error()))
	}
	if !selector.Matches(labels.Set(tmplLabels)) {
		errs = append(errs, field.Invalid(sp.Child("template", "metadata", "labels"), tmplLabels, "`selector` does not match template `labels`"))
	}
	return errs
}

// validateWorkloadTemplate checks the pod template of a long-running
// workload: valid, restartPolicy Always, no activeDeadlineSeconds.
func validateWorkloadTemplate(tmpl *corev1.PodTemplateSpec, kind string, fldPath *field.Path) field.ErrorList {
	errs := ValidatePodTemplateSpec(tmpl, fldPath)
	sp := fldPath.Child("spec")
	if tmpl.Spec.RestartPolicy != corev1.RestartPolicyAlways && tmpl.Spec.RestartPolicy != "" {
		errs = append(errs, field.NotSupported(sp.Child("restartPolicy"), tmpl.Spec.RestartPolicy, []string{string(corev1.RestartPolicyAlways)}))
	}
	if tmpl.Spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, field.Forbidden(sp.Child("activeDeadlineSeconds"), "activeDeadlineSeconds in "+kind+" is not Supported"))
	}
	return errs
}

// ValidateDeployment checks a deployment on create.
func ValidateDeployment(d *appsv1.Deployment) field.ErrorList {
	errs := ValidateObjectMeta(&d.ObjectMeta, true, NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(errs, validateDeploymentSpec(&d.Spec, field.NewPath("spec"))...)
}

func validateDeploymentSpec(spec *appsv1.DeploymentSpec, sp *field.Path) field.ErrorList {
	errs := validateNonnegativePtr(spec.Replicas, sp.Child("replicas"))
	errs = append(errs, validateWorkloadSelector(spec.Selector, spec.Template.Labels, "deployment", sp)...)
	errs = append(errs, validateWorkloadTemplate(&spec.Template, "Deployment", sp.Child("template"))...)
	errs = append(errs, validateDeploymentStrategy(&spec.Strategy, sp.Child("strategy"))...)
	errs = append(errs, validateNonnegative(int64(spec.MinReadySeconds), sp.Child("minReadySeconds"))...)
	errs = append(errs, validateNonnegativePtr(spec.RevisionHistoryLimit, sp.Child("revisionHistoryLimit"))...)
	if pds := spec.ProgressDeadlineSeconds; pds != nil {
		errs = append(errs, validateNonnegative(int64(*pds), sp.Child("progressDeadlineSeconds"))...)
		if *pds <= spec.MinReadySeconds {
			errs = append(errs, field.Invalid(sp.Child("progressDeadlineSeconds"), *pds, "must be greater than minReadySeconds"))
		}
	}
	return errs
}

func validateDeploymentStrategy(s *appsv1.DeploymentStrategy, fldPath *field.Path) field.ErrorList {
	errs := validateEnum(s.Type, true, supportedDeploymentStrategies, fldPath.Child("type"))
	switch s.Type {
	case appsv1.RecreateDeploymentStrategyType:
		if s.RollingUpdate != nil {
			errs = append(errs, field.Forbidden(fldPath.Child("rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'"))
		}
	case appsv1.RollingUpdateDeploymentStrategyType:
		if s.RollingUpdate == nil {
			return append(errs, field.Required(fldPath.Child("rollingUpdate"), "this should be defaulted and never be nil"))
		}
		p := fldPath.Child("rollingUpdate")
		errs = append(errs, validateIntOrPercent(s.RollingUpdate.MaxUnavailable, true, p.Child("maxUnavailable"))...)
		errs = append(errs, validateIntOrPercent(s.RollingUpdate.MaxSurge, false, p.Child("maxSurge"))...)
		if isZeroIntOrPercent(s.RollingUpdate.MaxUnavailable) && isZeroIntOrPercent(s.RollingUpdate.MaxSurge) {
			errs = append(errs, field.Invalid(p.Child("maxUnavailable"), s.RollingUpdate.MaxUnavailable, "may not be 0 when `maxSurge` is 0"))
		}
	}
	return errs
}

// ValidateDeploymentUpdate checks a deployment update: the selector is
// fixed in apps/v1.
func ValidateDeploymentUpdate(d, old *appsv1.Deployment) field.ErrorList {
	errs := ValidateObjectMetaUpdate(&d.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	sp := field.NewPath("spec")
	errs = append(errs, validateDeploymentSpec(&d.Spec, sp)...)
	return append(errs, validateImmutable(d.Spec.Selector, old.Spec.Selector, sp.Child("selector"))...)
}

// ValidateDeploymentStatusUpdate checks deployments/status: counts are
// non-negative and consistent, the collision count never decreases.
func ValidateDeploymentStatusUpdate(d, old *appsv1.Deployment) field.ErrorList {
	errs := ValidateObjectMetaUpdate(&d.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	st := &d.Status
	p := field.NewPath("status")
	for _, c := range []struct {
		name string
		v    int64
	}{{"observedGeneration", st.ObservedGeneration}, {"replicas", int64(st.Replicas)}, {"updatedReplicas", int64(st.UpdatedReplicas)},
		{"readyReplicas", int64(st.ReadyReplicas)}, {"availableReplicas", int64(st.AvailableReplicas)},
		{"unavailableReplicas", int64(st.UnavailableReplicas)}} {
		errs = append(errs, validateNonnegative(c.v, p.Child(c.name))...)
	}
	if st.TerminatingReplicas != nil {
		errs = append(errs, validateNonnegative(int64(*st.TerminatingReplicas), p.Child("terminatingReplicas"))...)
	}
	if st.UpdatedReplicas > st.Replicas {
		errs = append(errs, field.Invalid(p.Child("updatedReplicas"), st.UpdatedReplicas, "cannot be greater than status.replicas"))
	}
	if st.AvailableReplicas > st.ReadyReplicas {
		errs = append(errs, field.Invalid(p.Child("availableReplicas"), st.AvailableReplicas, "cannot be greater than readyReplicas"))
	}
	errs = append(errs, validateCollisionCount(st.CollisionCount, old.Status.CollisionCount, p.Child("collisionCount"))...)
	return errs
}

func validateCollisionCount(newC, oldC *int32, fldPath *field.Path) field.ErrorList {
	if newC == nil {
		return nil
	}
	errs := validateNonnegative(int64(*newC), fldPath)
	if oldC != nil && *newC < *oldC {
		errs = append(errs, field.Invalid(fldPath, *newC, "cannot be decremented"))
	}
	return errs
}

// ValidateReplicaSet checks a replica set on create.
func ValidateReplicaSet(rs *appsv1.ReplicaSet) field.ErrorList {
	errs := ValidateObjectMeta(&rs.ObjectMeta, true, NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(errs, validateReplicaSetSpec(&rs.Spec, field.NewPath("spec"))...)
}

func validateReplicaSetSpec(spec *appsv1.ReplicaSetSpec, sp *field.Path) field.ErrorList {
	errs := validateNonnegativePtr(spec.Replicas, sp.Child("replicas"))
	errs = append(errs, validateNonnegative(int64(spec.MinReadySeconds), sp.Child("minReadySeconds"))...)
	errs = append(errs, validateWorkloadSelector(spec.Selector, spec.Template.Labels, "replicaset", sp)...)
	return append(errs, validateWorkloadTemplate(&spec.Template, "ReplicaSet", sp.Child("template"))...)
}

// ValidateReplicaSetUpdate checks a replica set update: the selector is
// fixed in apps/v1.
func ValidateReplicaSetUpdate(rs, old *appsv1.ReplicaSet) field.ErrorList {
	errs := ValidateObjectMetaUpdate(&rs.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	sp := field.NewPath("spec")
	errs = append(errs, validateReplicaSetSpec(&rs.Spec, sp)...)
	return append(errs, validateImmutable(rs.Spec.Selector, old.Spec.Selector, sp.Child("selector"))...)
}

// ValidateReplicaSetStatusUpdate checks replicasets/status.
func ValidateReplicaSetStatusUpdate(rs, old *appsv1.ReplicaSet) field.ErrorList {
	errs := ValidateObjectMetaUpdate(&rs.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	st := &rs.Status
	p := field.NewPath("status")
	for _, c := range []struct {
		name string
		v    int64
	}{{"replicas", int64(st.Replicas)}, {"fullyLabeledReplicas", int64(st.FullyLabeledReplicas)},
		{"readyReplicas", int64(st.ReadyReplicas)}, {"availableReplicas", int64(st.AvailableReplicas)},
		{"observedGeneration", st.ObservedGeneration}} {
		errs = append(errs, validateNonnegative(c.v, p.Child(c.name))...)
	}
	if st.TerminatingReplicas != nil {
		errs = append(errs, validateNonnegative(int64(*st.TerminatingReplicas), p.Child("terminatingReplicas"))...)
	}
	if st.FullyLabeledReplicas > st.Replicas {
		errs = append(errs, field.Invalid(p.Child("fullyLabeledReplicas"), st.FullyLabeledReplicas, "cannot be greater than status.replicas"))
	}
	if st.ReadyReplicas > st.Replicas {
		errs = append(errs, field.Invalid(p.Child("readyReplicas"), st.ReadyReplicas, "cannot be greater than status.replicas"))
	}
	if st.AvailableReplicas > st.Replicas {
		errs = append(errs, field.Invalid(p.Child("availableReplicas"), st.AvailableReplicas, "cannot be greater than status.replicas"))
	}
	if st.AvailableReplicas > st.ReadyReplicas {
		errs = append(errs, field.Invalid(p.Child("availableReplicas"), st.AvailableReplicas, "cannot be greater than readyReplicas"))
	}
	return errs
}

// ValidateScale checks a scale subresource request: a non-negative
// replica count.
func ValidateScale(s *autoscalingv1.Scale) field.ErrorList {
	errs := ValidateObjectMeta(&s.ObjectMeta, true, NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(errs, validateNonnegative(int64(s.Spec.Replicas), field.NewPath("spec", "replicas"))...)
}
