package validation

import (
	"fmt"
	"strings"

	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Priorities of Kubernetes' built-in classes and the limit of user ones.
const (
	// HighestUserDefinablePriority is the largest value a PriorityClass
	// not reserved for the system may have.
	HighestUserDefinablePriority = int32(1000000000)
	// SystemClusterCritical and SystemNodeCritical are the values of
	// the built-in classes of the same names.
	SystemClusterCritical = int32(2000000000)
	SystemNodeCritical    = SystemClusterCritical + 1000
	// SystemPriorityClassPrefix starts the names reserved for the
	// built-in classes.
	SystemPriorityClassPrefix = "system-"
)

// SystemPriorityClasses returns the built-in classes, as Kubernetes ships
// them.
func SystemPriorityClasses() []*schedulingv1.PriorityClass {
	mk := func(name string, value int32, desc string) *schedulingv1.PriorityClass {
		pc := &schedulingv1.PriorityClass{Value: value, Description: desc}
		pc.Name = name
		return pc
	}
	return []*schedulingv1.PriorityClass{
		mk("system-node-critical", SystemNodeCritical, "Used for system critical pods that must not be moved from their current node."),
		mk("system-cluster-critical", SystemClusterCritical, "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary."),
	}
}

// knownSystemClass says whether a class named with the system prefix is
// one of the built-in classes as shipped.
func knownSystemClass(pc *schedulingv1.PriorityClass) error {
	for _, s := range SystemPriorityClasses() {
		if s.Name != pc.Name {
			continue
		}
		if s.Value != pc.Value {
			return fmt.Errorf("value of %v PriorityClass must be %v", s.Name, s.Value)
		}
		if pc.GlobalDefault {
			return fmt.Errorf("globalDefault of %v PriorityClass must be false", s.Name)
		}
		return nil
	}
	return fmt.Errorf("%v is not a known system priority class", pc.Name)
}

// ValidatePriorityClass checks a priority class on create: names starting
// with "system-" are the built-in classes only, user classes stay at or
// below HighestUserDefinablePriority, and the preemption policy is known.
func ValidatePriorityClass(pc *schedulingv1.PriorityClass) field.ErrorList {
	errs := ValidateObjectMeta(&pc.ObjectMeta, false, NameIsDNSSubdomain, field.NewPath("metadata"))
	if strings.HasPrefix(pc.Name, SystemPriorityClassPrefix) {
		if err := knownSystemClass(pc); err != nil {
			errs = append(errs, field.Forbidden(field.NewPath("metadata", "name"),
				"priority class names with '"+SystemPriorityClassPrefix+"' prefix are reserved for system use only. error: "+err.Error()))
		}
	} else if pc.Value > HighestUserDefinablePriority {
		errs = append(errs, field.Forbidden(field.NewPath("value"), fmt.Sprintf("maximum allowed value of a user defined priority is %v", HighestUserDefinablePriority)))
	}
	if pc.PreemptionPolicy != nil {
		errs = append(errs, validateEnum(*pc.PreemptionPolicy, true, supportedPreemptionPolices, field.NewPath("preemptionPolicy"))...)
	}
	return errs
}

// ValidatePriorityClassUpdate checks an update: value and preemption
// policy are immutable.
func ValidatePriorityClassUpdate(pc, old *schedulingv1.PriorityClass) field.ErrorList {
	errs := ValidateObjectMetaUpdate(&pc.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	if pc.Value != old.Value {
		errs = append(errs, field.Forbidden(field.NewPath("value"), "may not be changed in an update."))
	}
	errs = append(errs, validateImmutable(pc.PreemptionPolicy, old.PreemptionPolicy, field.NewPath("preemptionPolicy"))...)
	return errs
}
