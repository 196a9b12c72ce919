package validation

import (
	"fmt"
	"math"
	"net/netip"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/api/validate/content"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Messages shared by several rules, worded as Kubernetes words them so that
// clients and people see familiar errors.
const (
	isNegativeErrorMsg   = apivalidation.IsNegativeErrorMsg
	isNotPositiveMsg     = "must be greater than zero"
	fieldImmutableErrMsg = apivalidation.FieldImmutableErrorMsg
)

// validateNonnegative reports a negative value.
func validateNonnegative(value int64, fldPath *field.Path) field.ErrorList {
	if value < 0 {
		return field.ErrorList{field.Invalid(fldPath, value, isNegativeErrorMsg)}
	}
	return nil
}

// validateNonnegativePtr reports a negative value behind a set pointer.
func validateNonnegativePtr[T ~int32 | ~int64](value *T, fldPath *field.Path) field.ErrorList {
	if value == nil {
		return nil
	}
	return validateNonnegative(int64(*value), fldPath)
}

// validatePositive reports a value that is zero or negative.
func validatePositive(value int64, fldPath *field.Path) field.ErrorList {
	if value <= 0 {
		return field.ErrorList{field.Invalid(fldPath, value, isNotPositiveMsg)}
	}
	return nil
}

// validateImmutable reports a change between old and new, compared
// semantically (resource.Quantity by value).
func validateImmutable(newVal, oldVal any, fldPath *field.Path) field.ErrorList {
	if equality.Semantic.DeepEqual(oldVal, newVal) {
		return nil
	}
	return field.ErrorList{field.Invalid(fldPath, newVal, fieldImmutableErrMsg)}
}

// validateDNS1123Label reports a value that is not an RFC 1123 label.
func validateDNS1123Label(value string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range utilvalidation.IsDNS1123Label(value) {
		errs = append(errs, field.Invalid(fldPath, value, msg))
	}
	return errs
}

// validateDNS1123Subdomain reports a value that is not an RFC 1123 subdomain.
func validateDNS1123Subdomain(value string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range utilvalidation.IsDNS1123Subdomain(value) {
		errs = append(errs, field.Invalid(fldPath, value, msg))
	}
	return errs
}

// validateNameRef checks a reference to another object by name with nameFn.
func validateNameRef(name string, nameFn ValidateNameFunc, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range nameFn(name, false) {
		errs = append(errs, field.Invalid(fldPath, name, msg))
	}
	return errs
}

// validateQualifiedName reports a value that is not a qualified name
// ([prefix/]name, as label keys are).
func validateQualifiedName(value string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range content.IsLabelKey(value) {
		errs = append(errs, field.Invalid(fldPath, value, msg))
	}
	return errs
}

// validateLabelValue reports a value that is not a valid label value.
func validateLabelValue(value string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range content.IsLabelValue(value) {
		errs = append(errs, field.Invalid(fldPath, value, msg))
	}
	return errs
}

// validateLabels checks a label map (keys qualified names, values label values).
func validateLabels(labels map[string]string, fldPath *field.Path) field.ErrorList {
	return metav1validation.ValidateLabels(labels, fldPath)
}

// validateLabelSelector checks a label selector's syntax.
func validateLabelSelector(sel *metav1.LabelSelector, fldPath *field.Path) field.ErrorList {
	return metav1validation.ValidateLabelSelector(sel, metav1validation.LabelSelectorValidationOptions{}, fldPath)
}

// validatePortNumber reports a port outside 1-65535.
func validatePortNumber(port int32, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range utilvalidation.IsValidPortNum(int(port)) {
		errs = append(errs, field.Invalid(fldPath, port, msg))
	}
	return errs
}

// validatePortName reports a value that is not an IANA_SVC_NAME.
func validatePortName(name string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range utilvalidation.IsValidPortName(name) {
		errs = append(errs, field.Invalid(fldPath, name, msg))
	}
	return errs
}

// validatePortNumOrName checks an int-or-string port: a number in 1-65535
// or an IANA_SVC_NAME.
func validatePortNumOrName(port intstr.IntOrString, fldPath *field.Path) field.ErrorList {
	switch port.Type {
	case intstr.Int:
		return validatePortNumber(port.IntVal, fldPath)
	case intstr.String:
		return validatePortName(port.StrVal, fldPath)
	}
	return field.ErrorList{field.InternalError(fldPath, fmt.Errorf("unknown int-or-string type %v", port.Type))}
}

// validateIntOrPercent checks an int-or-string holding a non-negative
// integer or a percentage "N%". With maxPercent100 set, a percentage above
// 100% is refused.
func validateIntOrPercent(v *intstr.IntOrString, maxPercent100 bool, fldPath *field.Path) field.ErrorList {
	if v == nil {
		return nil
	}
	switch v.Type {
	case intstr.Int:
		return validateNonnegative(int64(v.IntVal), fldPath)
	case intstr.String:
		if msgs := utilvalidation.IsValidPercent(v.StrVal); len(msgs) != 0 {
			return field.ErrorList{field.Invalid(fldPath, v.StrVal, "must be an integer or percentage (e.g '5%')")}
		}
		p := percentValue(*v)
		if p < 0 {
			return field.ErrorList{field.Invalid(fldPath, v.StrVal, isNegativeErrorMsg)}
		}
		if maxPercent100 && p > 100 {
			return field.ErrorList{field.Invalid(fldPath, v.StrVal, "must not be greater than 100%")}
		}
		return nil
	}
	return field.ErrorList{field.Invalid(fldPath, v, "must be an integer or percentage (e.g '5%')")}
}

// percentValue returns the number in "N%", or the integer itself.
func percentValue(v intstr.IntOrString) int {
	if v.Type == intstr.Int {
		return int(v.IntVal)
	}
	var n int
	if _, err := fmt.Sscanf(strings.TrimSuffix(v.StrVal, "%"), "%d", &n); err != nil {
		return -1
	}
	return n
}

// isZeroIntOrPercent reports whether v is 0 or "0%".
func isZeroIntOrPercent(v *intstr.IntOrString) bool {
	return v == nil || percentValue(*v) == 0
}

// validateQuantityNonnegative reports a negative quantity.
func validateQuantityNonnegative(q resource.Quantity, fldPath *field.Path) field.ErrorList {
	if q.Sign() < 0 {
		return field.ErrorList{field.Invalid(fldPath, q.String(), isNegativeErrorMsg)}
	}
	return nil
}

// validateIP reports a value that is not an IP address.
func validateIP(value string, fldPath *field.Path) field.ErrorList {
	return utilvalidation.IsValidIP(fldPath, value)
}

// validateNonSpecialIP reports an address that cannot be an endpoint or an
// external address: unspecified, loopback, link-local or multicast.
func validateNonSpecialIP(value string, fldPath *field.Path) field.ErrorList {
	addr, err := netip.ParseAddr(value)
	if err != nil {
		return field.ErrorList{field.Invalid(fldPath, value, "must be a valid IP address")}
	}
	switch {
	case addr.IsUnspecified():
		return field.ErrorList{field.Invalid(fldPath, value, "may not be unspecified (0.0.0.0)")}
	case addr.IsLoopback():
		return field.ErrorList{field.Invalid(fldPath, value, "may not be in the loopback range (127.0.0.0/8, ::1/128)")}
	case addr.IsLinkLocalUnicast():
		return field.ErrorList{field.Invalid(fldPath, value, "may not be in the link-local range (169.254.0.0/16, fe80::/10)")}
	case addr.IsLinkLocalMulticast(), addr.IsInterfaceLocalMulticast():
		return field.ErrorList{field.Invalid(fldPath, value, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)")}
	}
	return nil
}

// validateEnum reports a value missing from supported (NotSupported), or
// an empty value when required (Required).
func validateEnum[T ~string](value T, required bool, supported []T, fldPath *field.Path) field.ErrorList {
	if value == "" {
		if required {
			return field.ErrorList{field.Required(fldPath, "")}
		}
		return nil
	}
	for _, s := range supported {
		if value == s {
			return nil
		}
	}
	names := make([]string, len(supported))
	for i, s := range supported {
		names[i] = string(s)
	}
	return field.ErrorList{field.NotSupported(fldPath, value, names)}
}

// validateInt32Range reports a value outside [lo, hi].
func validateInt32Range(value int32, lo, hi int32, fldPath *field.Path) field.ErrorList {
	if value < lo || value > hi {
		return field.ErrorList{field.Invalid(fldPath, value, utilvalidation.InclusiveRangeError(int(lo), int(hi)))}
	}
	return nil
}

// validateMaxInt32 keeps int64 fields that end up in int32 places sane.
func validateMaxInt32(value int64, fldPath *field.Path) field.ErrorList {
	if value > math.MaxInt32 {
		return field.ErrorList{field.Invalid(fldPath, value, fmt.Sprintf("must be less than or equal to %d", math.MaxInt32))}
	}
	return nil
}

// duplicates tracks values seen in a list to report the second occurrence.
type duplicates[T comparable] struct{ seen sets.Set[T] }

// add records v and reports whether it was already present.
func (d *duplicates[T]) add(v T) bool {
	if d.seen == nil {
		d.seen = sets.New[T]()
	}
	if d.seen.Has(v) {
		return true
	}
	d.seen.Insert(v)
	return false
}

// validateConditions checks metav1.Condition lists (type, status, reason,
// observedGeneration, lastTransitionTime).
func validateConditions(conds []metav1.Condition, fldPath *field.Path) field.ErrorList {
	return metav1validation.ValidateConditions(conds, fldPath)
}
