package validation

import (
	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidateLease checks a lease on create: a positive duration, a
// non-negative transition count, and a preferred holder only with a
// coordinated strategy.
func ValidateLease(l *coordinationv1.Lease) field.ErrorList {
	errs := ValidateObjectMeta(&l.ObjectMeta, true, NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(errs, validateLeaseSpec(&l.Spec, field.NewPath("spec"))...)
}

func validateLeaseSpec(spec *coordinationv1.LeaseSpec, sp *field.Path) field.ErrorList {
	var errs field.ErrorList
	if spec.LeaseDurationSeconds != nil {
		errs = append(errs, validatePositive(int64(*spec.LeaseDurationSeconds), sp.Child("leaseDurationSeconds"))...)
	}
	errs = append(errs, validateNonnegativePtr(spec.LeaseTransitions, sp.Child("leaseTransitions"))...)
	if spec.Strategy != nil {
		errs = append(errs, validateEnum(*spec.Strategy, true, []coordinationv1.CoordinatedLeaseStrategy{coordinationv1.OldestEmulationVersion}, sp.Child("strategy"))...)
	}
	if spec.PreferredHolder != nil && *spec.PreferredHolder != "" && (spec.Strategy == nil || *spec.Strategy == "") {
		errs = append(errs, field.Forbidden(sp.Child("preferredHolder"), "may only be specified if `strategy` is defined"))
	}
	return errs
}

// ValidateLeaseUpdate checks a lease update.
func ValidateLeaseUpdate(l, old *coordinationv1.Lease) field.ErrorList {
	errs := ValidateObjectMetaUpdate(&l.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	return append(errs, validateLeaseSpec(&l.Spec, field.NewPath("spec"))...)
}
