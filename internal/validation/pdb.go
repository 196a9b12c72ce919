package validation

import (
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var supportedUnhealthyPolicies = []policyv1.UnhealthyPodEvictionPolicyType{policyv1.AlwaysAllow, policyv1.IfHealthyBudget}

// ValidatePodDisruptionBudget checks a disruption budget on create: at
// most one of minAvailable and maxUnavailable, each a count or a
// percentage up to 100%, a valid selector.
func ValidatePodDisruptionBudget(pdb *policyv1.PodDisruptionBudget) field.ErrorList {
	errs := ValidateObjectMeta(&pdb.ObjectMeta, true, NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(errs, validatePDBSpec(&pdb.Spec, field.NewPath("spec"))...)
}

func validatePDBSpec(spec *policyv1.PodDisruptionBudgetSpec, sp *field.Path) field.ErrorList {
	var errs field.ErrorList
	if spec.MinAvailable != nil && spec.MaxUnavailable != nil {
		errs = append(errs, field.Invalid(sp, spec, "minAvailable and maxUnavailable cannot be both set"))
	}
	errs = append(errs, validateIntOrPercent(spec.MinAvailable, true, sp.Child("minAvailable"))...)
	errs = append(errs, validateIntOrPercent(spec.MaxUnavailable, true, sp.Child("maxUnavailable"))...)
	errs = append(errs, validateLabelSelector(spec.Selector, sp.Child("selector"))...)
	if spec.UnhealthyPodEvictionPolicy != nil {
		errs = append(errs, validateEnum(*spec.UnhealthyPodEvictionPolicy, true, supportedUnhealthyPolicies, sp.Child("unhealthyPodEvictionPolicy"))...)
	}
	return errs
}

// ValidatePodDisruptionBudgetUpdate checks a disruption budget update; its
// spec may change.
func ValidatePodDisruptionBudgetUpdate(pdb, old *policyv1.PodDisruptionBudget) field.ErrorList {
	errs := ValidateObjectMetaUpdate(&pdb.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	return append(errs, validatePDBSpec(&pdb.Spec, field.NewPath("spec"))...)
}

// ValidatePodDisruptionBudgetStatusUpdate checks
// poddisruptionbudgets/status: counts non-negative, conditions valid.
func ValidatePodDisruptionBudgetStatusUpdate(pdb, old *policyv1.PodDisruptionBudget) field.ErrorList {
	errs := ValidateObjectMetaUpdate(&pdb.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	st := &pdb.Status
	p := field.NewPath("status")
	for _, c := range []struct {
		name string
		v    int64
	}{{"disruptionsAllowed", int64(st.DisruptionsAllowed)}, {"currentHealthy", int64(st.CurrentHealthy)},
		{"desiredHealthy", int64(st.DesiredHealthy)}, {"expectedPods", int64(st.ExpectedPods)},
		{"observedGeneration", st.ObservedGeneration}} {
		errs = append(errs, validateNonnegative(c.v, p.Child(c.name))...)
	}
	return append(errs, validateConditions(st.Conditions, p.Child("conditions"))...)
}
