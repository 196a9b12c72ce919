package validation

import (
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Bounds of an autoscaler's behavior.
const (
	maxHPAPeriodSeconds       = 1800
	maxHPAStabilizationWindow = 3600
)

var (
	supportedMetricSources = []autoscalingv2.MetricSourceType{autoscalingv2.ContainerResourceMetricSourceType,
		autoscalingv2.ExternalMetricSourceType, autoscalingv2.ObjectMetricSourceType,
		autoscalingv2.PodsMetricSourceType, autoscalingv2.ResourceMetricSourceType}
	supportedMetricTargets = []autoscalingv2.MetricTargetType{autoscalingv2.AverageValueMetricType,
		autoscalingv2.UtilizationMetricType, autoscalingv2.ValueMetricType}
	supportedScalingPolicies = []autoscalingv2.HPAScalingPolicyType{autoscalingv2.PercentScalingPolicy,
		autoscalingv2.PodsScalingPolicy}
	supportedSelectPolicies = []autoscalingv2.ScalingPolicySelect{autoscalingv2.DisabledPolicySelect,
		autoscalingv2.MaxChangePolicySelect, autoscalingv2.MinChangePolicySelect}
)

// ValidateHorizontalPodAutoscaler checks an autoscaler on create: a target
// reference, 1 <= minReplicas <= maxReplicas, metrics each with exactly
// the source their type names and a valid target, and scaling behavior.
func ValidateHorizontalPodAutoscaler(h *autoscalingv2.HorizontalPodAutoscaler) field.ErrorList {
	errs := ValidateObjectMeta(&h.ObjectMeta, true, NameIsPathSegment, field.NewPath("metadata"))
	return append(errs, validateHPASpec(&h.Spec, field.NewPath("spec"))...)
}

func validateHPASpec(spec *autoscalingv2.HorizontalPodAutoscalerSpec, sp *field.Path) field.ErrorList {
	var errs field.ErrorList
	rp := sp.Child("scaleTargetRef")
	if spec.ScaleTargetRef.Kind == "" {
		errs = append(errs, field.Required(rp.Child("kind"), ""))
	} else {
		errs = append(errs, validateNameRef(spec.ScaleTargetRef.Kind, NameIsPathSegment, rp.Child("kind"))...)
	}
	if spec.ScaleTargetRef.Name == "" {
		errs = append(errs, field.Required(rp.Child("name"), ""))
	} else {
		errs = append(errs, validateNameRef(spec.ScaleTargetRef.Name, NameIsPathSegment, rp.Child("name"))...)
	}
	minReplicas := int32(1)
	if spec.MinReplicas != nil {
		minReplicas = *spec.MinReplicas
		if minReplicas < 1 {
			errs = append(errs, field.Invalid(sp.Child("minReplicas"), minReplicas, "must be greater than or equal to 1"))
		}
	}
	if spec.MaxReplicas < 1 {
		errs = append(errs, field.Invalid(sp.Child("maxReplicas"), spec.MaxReplicas, "must be greater than 0"))
	} else if spec.MaxReplicas < minReplicas {
		errs = append(errs, field.Invalid(sp.Child("maxReplicas"), spec.MaxReplicas, "must be greater than or equal to `minReplicas`"))
	}
	for i := range spec.Metrics {
		errs = append(errs, validateMetricSpec(&spec.Metrics[i], sp.Child("metrics").Index(i))...)
	}
	if b := spec.Behavior; b != nil {
		bp := sp.Child("behavior")
		errs = append(errs, validateScalingRules(b.ScaleUp, bp.Child("scaleUp"))...)
		errs = append(errs, validateScalingRules(b.ScaleDown, bp.Child("scaleDown"))...)
	}
	return errs
}

func validateMetricSpec(m *autoscalingv2.MetricSpec, p *field.Path) field.ErrorList {
	if m.Type == "" {
		return field.ErrorList{field.Required(p.Child("type"), "must specify a metric source type")}
	}
	errs := validateEnum(m.Type, true, supportedMetricSources, p.Child("type"))
	if len(errs) > 0 {
		return errs
	}
	set := []struct {
		t   autoscalingv2.MetricSourceType
		set bool
	}{
		{autoscalingv2.ObjectMetricSourceType, m.Object != nil},
		{autoscalingv2.PodsMetricSourceType, m.Pods != nil},
		{autoscalingv2.ResourceMetricSourceType, m.Resource != nil},
		{autoscalingv2.ContainerResourceMetricSourceType, m.ContainerResource != nil},
		{autoscalingv2.ExternalMetricSourceType, m.External != nil},
	}
	typeSet := false
	for _, s := range set {
		if s.set && s.t != m.Type {
			errs = append(errs, field.Forbidden(p.Child(fieldNameOfSource(s.t)), "must populate the given metric source only"))
		}
		if s.set && s.t == m.Type {
			typeSet = true
		}
	}
	if !typeSet {
		errs = append(errs, field.Required(p.Child(fieldNameOfSource(m.Type)), "must populate information for the given metric source"))
		return errs
	}
	switch m.Type {
	case autoscalingv2.ObjectMetricSourceType:
		op := p.Child("object")
		if m.Object.DescribedObject.Kind == "" {
			errs = append(errs, field.Required(op.Child("describedObject", "kind"), ""))
		}
		if m.Object.DescribedObject.Name == "" {
			errs = append(errs, field.Required(op.Child("describedObject", "name"), ""))
		}
		errs = append(errs, validateMetricIdentifier(m.Object.Metric, op.Child("metric"))...)
		errs = append(errs, validateMetricTarget(m.Object.Target, op.Child("target"))...)
		if m.Object.Target.Value == nil && m.Object.Target.AverageValue == nil {
			errs = append(errs, field.Required(op.Child("target", "averageValue"), "must set either a target value or averageValue"))
		}
	case autoscalingv2.PodsMetricSourceType:
		pp := p.Child("pods")
		errs = append(errs, validateMetricIdentifier(m.Pods.Metric, pp.Child("metric"))...)
		errs = append(errs, validateMetricTarget(m.Pods.Target, pp.Child("target"))...)
		if m.Pods.Target.AverageValue == nil {
			errs = append(errs, field.Required(pp.Child("target", "averageValue"), "must specify a positive target averageValue"))
		}
	case autoscalingv2.ResourceMetricSourceType:
		rp := p.Child("resource")
		if m.Resource.Name == "" {
			errs = append(errs, field.Required(rp.Child("name"), "must specify a resource name"))
		}
		errs = append(errs, validateResourceMetricTarget(m.Resource.Target, rp.Child("target"))...)
	case autoscalingv2.ContainerResourceMetricSourceType:
		cp := p.Child("containerResource")
		if m.ContainerResource.Name == "" {
			errs = append(errs, field.Required(cp.Child("name"), "must specify a resource name"))
		}
		if m.ContainerResource.Container == "" {
			errs = append(errs, field.Required(cp.Child("container"), "must specify a container"))
		} else {
			errs = append(errs, validateDNS1123Label(m.ContainerResource.Container, cp.Child("container"))...)
		}
		errs = append(errs, validateResourceMetricTarget(m.ContainerResource.Target, cp.Child("target"))...)
	case autoscalingv2.ExternalMetricSourceType:
		ep := p.Child("external")
		errs = append(errs, validateMetricIdentifier(m.External.Metric, ep.Child("metric"))...)
		errs = append(errs, validateMetricTarget(m.External.Target, ep.Child("target"))...)
		if m.External.Target.Value == nil && m.External.Target.AverageValue == nil {
			errs = append(errs, field.Required(ep.Child("target", "averageValue"), "must set either a target value for metric or a per-pod target"))
		}
	}
	return errs
}

func fieldNameOfSource(t autoscalingv2.MetricSourceType) string {
	switch t {
	case autoscalingv2.ObjectMetricSourceType:
		return "object"
	case autoscalingv2.PodsMetricSourceType:
		return "pods"
	case autoscalingv2.ResourceMetricSourceType:
		return "resource"
	case autoscalingv2.ContainerResourceMetricSourceType:
		return "containerResource"
	case autoscalingv2.ExternalMetricSourceType:
		return "external"
	}
	return string(t)
}

func validateMetricIdentifier(id autoscalingv2.MetricIdentifier, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if id.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), "must specify a metric name"))
	} else {
		errs = append(errs, validateNameRef(id.Name, NameIsPathSegment, p.Child("name"))...)
	}
	return append(errs, validateLabelSelector(id.Selector, p.Child("selector"))...)
}

// validateMetricTarget checks a target: a known type and positive values.
func validateMetricTarget(t autoscalingv2.MetricTarget, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if t.Type == "" {
		errs = append(errs, field.Required(p.Child("type"), "must specify a metric target type"))
	} else {
		errs = append(errs, validateEnum(t.Type, true, supportedMetricTargets, p.Child("type"))...)
	}
	if t.Value != nil && t.Value.Sign() != 1 {
		errs = append(errs, field.Invalid(p.Child("value"), t.Value.String(), "must be positive"))
	}
	if t.AverageValue != nil && t.AverageValue.Sign() != 1 {
		errs = append(errs, field.Invalid(p.Child("averageValue"), t.AverageValue.String(), "must be positive"))
	}
	if t.AverageUtilization != nil && *t.AverageUtilization < 1 {
		errs = append(errs, field.Invalid(p.Child("averageUtilization"), *t.AverageUtilization, "must be greater than 0"))
	}
	return errs
}

// validateResourceMetricTarget: resource metrics are averaged over pods,
// by utilization or value, never a total.
func validateResourceMetricTarget(t autoscalingv2.MetricTarget, p *field.Path) field.ErrorList {
	errs := validateMetricTarget(t, p)
	if t.Value != nil {
		errs = append(errs, field.Forbidden(p.Child("value"), "may not set 'value' for resource metric target"))
	}
	switch {
	case t.AverageUtilization == nil && t.AverageValue == nil:
		errs = append(errs, field.Required(p.Child("averageUtilization"), "must set either a target raw value or a target utilization"))
	case t.AverageUtilization != nil && t.AverageValue != nil:
		errs = append(errs, field.Forbidden(p.Child("averageValue"), "may not set both a target raw value and a target utilization"))
	}
	return errs
}

func validateScalingRules(r *autoscalingv2.HPAScalingRules, p *field.Path) field.ErrorList {
	if r == nil {
		return nil
	}
	var errs field.ErrorList
	if r.StabilizationWindowSeconds != nil {
		errs = append(errs, validateInt32Range(*r.StabilizationWindowSeconds, 0, maxHPAStabilizationWindow, p.Child("stabilizationWindowSeconds"))...)
	}
	if r.SelectPolicy != nil {
		errs = append(errs, validateEnum(*r.SelectPolicy, true, supportedSelectPolicies, p.Child("selectPolicy"))...)
	}
	if len(r.Policies) == 0 && (r.SelectPolicy == nil || *r.SelectPolicy != autoscalingv2.DisabledPolicySelect) {
		errs = append(errs, field.Required(p.Child("policies"), "must specify at least one Policy"))
	}
	for i, pol := range r.Policies {
		pp := p.Child("policies").Index(i)
		errs = append(errs, validateEnum(pol.Type, true, supportedScalingPolicies, pp.Child("type"))...)
		if pol.Value <= 0 {
			errs = append(errs, field.Invalid(pp.Child("value"), pol.Value, "must be greater than zero"))
		}
		errs = append(errs, validateInt32Range(pol.PeriodSeconds, 1, maxHPAPeriodSeconds, pp.Child("periodSeconds"))...)
	}
	if r.Tolerance != nil && r.Tolerance.Sign() < 0 {
		errs = append(errs, field.Invalid(p.Child("tolerance"), r.Tolerance.String(), "must be greater than or equal to zero"))
	}
	return errs
}

// ValidateHorizontalPodAutoscalerUpdate checks an autoscaler update.
func ValidateHorizontalPodAutoscalerUpdate(h, old *autoscalingv2.HorizontalPodAutoscaler) field.ErrorList {
	errs := ValidateObjectMetaUpdate(&h.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	return append(errs, validateHPASpec(&h.Spec, field.NewPath("spec"))...)
}

// ValidateHorizontalPodAutoscalerStatusUpdate checks
// horizontalpodautoscalers/status.
func ValidateHorizontalPodAutoscalerStatusUpdate(h, old *autoscalingv2.HorizontalPodAutoscaler) field.ErrorList {
	errs := ValidateObjectMetaUpdate(&h.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	p := field.NewPath("status")
	errs = append(errs, validateNonnegative(int64(h.Status.CurrentReplicas), p.Child("currentReplicas"))...)
	errs = append(errs, validateNonnegative(int64(h.Status.DesiredReplicas), p.Child("desiredReplicas"))...)
	return errs
}
