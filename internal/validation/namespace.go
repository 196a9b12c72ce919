package validation

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidateNamespace checks a namespace on create: a DNS label name and
// well-formed spec finalizers.
func ValidateNamespace(ns *corev1.Namespace) field.ErrorList {
	errs := ValidateObjectMeta(&ns.ObjectMeta, false, NameIsDNSLabel, field.NewPath("metadata"))
	return append(errs, validateNamespaceFinalizers(ns.Spec.Finalizers, field.NewPath("spec", "finalizers"))...)
}

func validateNamespaceFinalizers(fins []corev1.FinalizerName, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, f := range fins {
		errs = append(errs, validateFinalizerName(string(f), fldPath.Index(i))...)
	}
	return errs
}

// ValidateNamespaceUpdate checks an update of a namespace. Its spec and
// status change only through the finalize and status subresources; the
// registry strategy keeps the stored ones, so only metadata is checked.
func ValidateNamespaceUpdate(ns, old *corev1.Namespace) field.ErrorList {
	return ValidateObjectMetaUpdate(&ns.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
}

// ValidateNamespaceStatusUpdate checks namespaces/status: the phase is
// Active until deletion starts and Terminating after.
func ValidateNamespaceStatusUpdate(ns, old *corev1.Namespace) field.ErrorList {
	errs := ValidateObjectMetaUpdate(&ns.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	p := field.NewPath("status", "phase")
	if ns.DeletionTimestamp.IsZero() {
		if ns.Status.Phase != corev1.NamespaceActive {
			errs = append(errs, field.Invalid(p, ns.Status.Phase, "may only be 'Active' if `deletionTimestamp` is empty"))
		}
	} else if ns.Status.Phase != corev1.NamespaceTerminating {
		errs = append(errs, field.Invalid(p, ns.Status.Phase, "may only be 'Terminating' if `deletionTimestamp` is not empty"))
	}
	return errs
}

// ValidateNamespaceFinalizeUpdate checks namespaces/finalize, through
// which the namespace controller removes spec finalizers.
func ValidateNamespaceFinalizeUpdate(ns, old *corev1.Namespace) field.ErrorList {
	errs := ValidateObjectMetaUpdate(&ns.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	return append(errs, validateNamespaceFinalizers(ns.Spec.Finalizers, field.NewPath("spec", "finalizers"))...)
}
