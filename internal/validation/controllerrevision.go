package validation

import (
	"bytes"
	"encoding/json"
	"reflect"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidateControllerRevision checks a controller revision on create: data
// is required and the revision number is not negative.
func ValidateControllerRevision(cr *appsv1.ControllerRevision) field.ErrorList {
	errs := ValidateObjectMeta(&cr.ObjectMeta, true, NameIsDNSSubdomain, field.NewPath("metadata"))
	if cr.Data.Raw == nil && cr.Data.Object == nil {
		errs = append(errs, field.Required(field.NewPath("data"), "data is mandatory"))
	}
	return append(errs, validateNonnegative(cr.Revision, field.NewPath("revision"))...)
}

// ValidateControllerRevisionUpdate checks an update: everything of
// ValidateControllerRevision, and data is immutable (the revision number
// may change, when a controller rolls back to an old revision).
func ValidateControllerRevisionUpdate(cr, old *appsv1.ControllerRevision) field.ErrorList {
	errs := ValidateObjectMetaUpdate(&cr.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, ValidateControllerRevision(cr)...)
	if !sameRawData(cr.Data, old.Data) {
		errs = append(errs, field.Invalid(field.NewPath("data"), "", fieldImmutableErrMsg))
	}
	return errs
}

// sameRawData compares two embedded objects by their JSON meaning.
func sameRawData(a, b runtime.RawExtension) bool {
	if bytes.Equal(a.Raw, b.Raw) && a.Object == nil && b.Object == nil {
		return true
	}
	decode := func(x runtime.RawExtension) (any, bool) {
		raw := x.Raw
		if raw == nil && x.Object != nil {
			var err error
			if raw, err = json.Marshal(x.Object); err != nil {
				return nil, false
			}
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, false
		}
		return v, true
	}
	va, ok1 := decode(a)
	vb, ok2 := decode(b)
	return ok1 && ok2 && reflect.DeepEqual(va, vb)
}
