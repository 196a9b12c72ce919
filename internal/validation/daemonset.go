package validation

import (
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var supportedDaemonSetStrategies = []appsv1.DaemonSetUpdateStrategyType{appsv1.OnDeleteDaemonSetStrategyType,
	appsv1.RollingUpdateDaemonSetStrategyType}

// ValidateDaemonSet checks a daemon set on create.
func ValidateDaemonSet(ds *appsv1.DaemonSet) field.ErrorList {
	errs := ValidateObjectMeta(&ds.ObjectMeta, true, NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(errs, validateDaemonSetSpec(&ds.Spec, field.NewPath("spec"))...)
}

func validateDaemonSetSpec(spec *appsv1.DaemonSetSpec, sp *field.Path) field.ErrorList {
	errs := validateWorkloadSelector(spec.Selector, spec.Template.Labels, "daemonset", sp)
	errs = append(errs, validateWorkloadTemplate(&spec.Template, "DaemonSet", sp.Child("template"))...)
	errs = append(errs, validateNonnegative(int64(spec.MinReadySeconds), sp.Child("minReadySeconds"))...)
	errs = append(errs, validateNonnegativePtr(spec.RevisionHistoryLimit, sp.Child("revisionHistoryLimit"))...)
	up := sp.Child("updateStrategy")
	errs = append(errs, validateEnum(spec.UpdateStrategy.Type, true, supportedDaemonSetStrategies, up.Child("type"))...)
	if spec.UpdateStrategy.Type == appsv1.RollingUpdateDaemonSetStrategyType {
		ru := spec.UpdateStrategy.RollingUpdate
		if ru == nil {
			return append(errs, field.Required(up.Child("rollingUpdate"), ""))
		}
		rp := up.Child("rollingUpdate")
		errs = append(errs, validateIntOrPercent(ru.MaxUnavailable, true, rp.Child("maxUnavailable"))...)
		errs = append(errs, validateIntOrPercent(ru.MaxSurge, true, rp.Child("maxSurge"))...)
		unavailZero, surgeZero := isZeroIntOrPercent(ru.MaxUnavailable), isZeroIntOrPercent(ru.MaxSurge)
		switch {
		case unavailZero && surgeZero:
			errs = append(errs, field.Invalid(rp.Child("maxUnavailable"), ru.MaxUnavailable, "may not be 0 when `maxSurge` is 0"))
		case !unavailZero && !surgeZero:
			errs = append(errs, field.Invalid(rp.Child("maxSurge"), ru.MaxSurge, "may not be set when maxUnavailable is non-zero"))
		}
	}
	return errs
}

// ValidateDaemonSetUpdate checks a daemon set update: the selector is
// fixed in apps/v1.
func ValidateDaemonSetUpdate(ds, old *appsv1.DaemonSet) field.ErrorList {
	errs := ValidateObjectMetaUpdate(&ds.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	sp := field.NewPath("spec")
	errs = append(errs, validateDaemonSetSpec(&ds.Spec, sp)...)
	return append(errs, validateImmutable(ds.Spec.Selector, old.Spec.Selector, sp.Child("selector"))...)
}

// ValidateDaemonSetStatusUpdate checks daemonsets/status.
func ValidateDaemonSetStatusUpdate(ds, old *appsv1.DaemonSet) field.ErrorList {
	errs := ValidateObjectMetaUpdate(&ds.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	st := &ds.Status
	p := field.NewPath("status")
	for _, c := range []struct {
		name string
		v    int64
	}{{"currentNumberScheduled", int64(st.CurrentNumberScheduled)}, {"numberMisscheduled", int64(st.NumberMisscheduled)},
		{"desiredNumberScheduled", int64(st.DesiredNumberScheduled)}, {"numberReady", int64(st.NumberReady)},
		{"observedGeneration", st.ObservedGeneration}, {"updatedNumberScheduled", int64(st.UpdatedNumberScheduled)},
		{"numberAvailable", int64(st.NumberAvailable)}, {"numberUnavailable", int64(st.NumberUnavailable)}} {
		errs = append(errs, validateNonnegative(c.v, p.Child(c.name))...)
	}
	errs = append(errs, validateCollisionCount(st.CollisionCount, old.Status.CollisionCount, p.Child("collisionCount"))...)
	return errs
}
