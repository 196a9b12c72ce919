package registry

import (
	"reflect"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/podvisor/podvisor/internal/defaults"
)

// Base implements the parts of Strategy (and StatusStrategy) that most
// resources share, by reflection on the Spec and Status fields of the
// object struct. Strategies embed it and override what differs.
type Base struct {
	// Namespaced says the objects live in a namespace.
	Namespaced bool
	// HasStatus: the resource has a status subresource, so creates and
	// main-resource updates may not set status.
	HasStatus bool
	// NameFn validates names when Checks has no Create; nil means a
	// DNS-1123 subdomain.
	NameFn apivalidation.ValidateNameFunc
	// Checks validate the resource (internal/validation); without them
	// only metadata is checked.
	Checks Checks
}

// Checks are a resource's validation functions (internal/validation).
type Checks struct {
	Create func(obj runtime.Object) field.ErrorList
	Update func(obj, old runtime.Object) field.ErrorList
	// Status validates status updates; nil means Update.
	Status func(obj, old runtime.Object) field.ErrorList
}

// TypedChecks adapts typed validation functions; status may be nil.
func TypedChecks[T runtime.Object](create func(T) field.ErrorList, update func(T, T) field.ErrorList, status func(T, T) field.ErrorList) Checks {
	c := Checks{
		Create: func(obj runtime.Object) field.ErrorList { return create(obj.(T)) },
		Update: func(obj, old runtime.Object) field.ErrorList { return update(obj.(T), old.(T)) },
	}
	if status != nil {
		c.Status = func(obj, old runtime.Object) field.ErrorList { return status(obj.(T), old.(T)) }
	}
	return c
}

// Default implements Strategy.Default with Kubernetes' defaults for the
// object's type (internal/defaults).
func (Base) Default(obj runtime.Object) { defaults.Object(obj) }

// PrepareForCreate implements Strategy.PrepareForCreate: clears status if
// the resource has a status subresource and sets generation 1 if it has a
// spec.
func (b Base) PrepareForCreate(obj runtime.Object) {
	if b.HasStatus {
		resetField(obj, nil, "Status")
	}
	if hasField(obj, "Spec") {
		if m, err := meta.Accessor(obj); err == nil {
			m.SetGeneration(1)
		}
	}
}

// PrepareForUpdate implements Strategy.PrepareForUpdate: keeps the old
// status if the resource has a status subresource and bumps generation
// when the spec changed.
func (b Base) PrepareForUpdate(obj, old runtime.Object) {
	if b.HasStatus {
		resetField(obj, old, "Status")
	}
	BumpGeneration(obj, old)
}

// BumpGeneration sets obj's generation to old's, plus one if the spec
// changed (or the object started being deleted).
func BumpGeneration(obj, old runtime.Object) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return
	}
	om, err := meta.Accessor(old)
	if err != nil {
		return
	}
	gen := om.GetGeneration()
	if !hasField(obj, "Spec") {
		m.SetGeneration(gen)
		return
	}
	if !apiequality.Semantic.DeepEqual(fieldOf(obj, "Spec"), fieldOf(old, "Spec")) ||
		(om.GetDeletionTimestamp() == nil && m.GetDeletionTimestamp() != nil) {
		gen++
	}
	m.SetGeneration(gen)
}

// HasStatusSubresource implements StatusStrategy.HasStatusSubresource.
func (b Base) HasStatusSubresource() bool { return b.HasStatus }

// PrepareForStatusUpdate implements StatusStrategy.PrepareForStatusUpdate:
// everything but the status comes from old.
func (Base) PrepareForStatusUpdate(obj, old runtime.Object) {
	if hasField(obj, "Spec") {
		resetField(obj, old, "Spec")
	}
	m, err1 := meta.Accessor(obj)
	om, err2 := meta.Accessor(old)
	if err1 == nil && err2 == nil {
		metav1.ResetObjectMetaForStatus(m, om)
	}
}

// ValidateStatusUpdate implements StatusStrategy.ValidateStatusUpdate.
func (b Base) ValidateStatusUpdate(obj, old runtime.Object) field.ErrorList {
	if b.Checks.Status != nil {
		return b.Checks.Status(obj, old)
	}
	return b.ValidateUpdate(obj, old)
}

// Validate implements Strategy.Validate with Checks.Create, or metadata
// only.
func (b Base) Validate(obj runtime.Object) field.ErrorList {
	if b.Checks.Create != nil {
		return b.Checks.Create(obj)
	}
	return ValidateMeta(obj, b.Namespaced, b.NameFn)
}

// ValidateUpdate implements Strategy.ValidateUpdate with Checks.Update, or
// metadata only.
func (b Base) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	if b.Checks.Update != nil {
		return b.Checks.Update(obj, old)
	}
	return ValidateMetaUpdate(obj, old, b.Namespaced, b.NameFn)
}

// Attrs implements Strategy.Attrs: labels, metadata.name and
// metadata.namespace.
func (Base) Attrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	return MetaAttrs(obj, nil)
}

// MetaAttrs returns obj's labels and its metadata fields plus extra.
func MetaAttrs(obj runtime.Object, extra fields.Set) (labels.Set, fields.Set, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, nil, err
	}
	f := make(fields.Set, len(extra)+2)
	for k, v := range extra {
		f[k] = v
	}
	f["metadata.name"] = m.GetName()
	f["metadata.namespace"] = m.GetNamespace()
	return m.GetLabels(), f, nil
}

// ValidateMeta validates an object's metadata on create.
func ValidateMeta(obj runtime.Object, namespaced bool, nameFn apivalidation.ValidateNameFunc) field.ErrorList {
	m, err := meta.Accessor(obj)
	if err != nil {
		return field.ErrorList{field.InternalError(field.NewPath("metadata"), err)}
	}
	if nameFn == nil {
		nameFn = apivalidation.NameIsDNSSubdomain
	}
	return apivalidation.ValidateObjectMetaAccessor(m, namespaced, nameFn, field.NewPath("metadata"))
}

// ValidateMetaUpdate validates an object's metadata on update: all of
// ValidateMeta plus MetaUpdateErrors.
func ValidateMetaUpdate(obj, old runtime.Object, namespaced bool, nameFn apivalidation.ValidateNameFunc) field.ErrorList {
	return append(ValidateMeta(obj, namespaced, nameFn), MetaUpdateErrors(obj, old)...)
}

// MetaUpdateErrors checks only what an update may not change in metadata
// (name, namespace, uid, creationTimestamp, ...). Strategies with their own
// Validate call it from ValidateUpdate next to Validate.
func MetaUpdateErrors(obj, old runtime.Object) field.ErrorList {
	m, err := meta.Accessor(obj)
	if err != nil {
		return field.ErrorList{field.InternalError(field.NewPath("metadata"), err)}
	}
	om, err := meta.Accessor(old)
	if err != nil {
		return field.ErrorList{field.InternalError(field.NewPath("metadata"), err)}
	}
	return apivalidation.ValidateObjectMetaAccessorUpdate(m, om, field.NewPath("metadata"))
}

func structOf(obj runtime.Object) reflect.Value {
	v := reflect.ValueOf(obj)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	return v
}

func hasField(obj runtime.Object, name string) bool {
	v := structOf(obj)
	return v.Kind() == reflect.Struct && v.FieldByName(name).IsValid()
}

func fieldOf(obj runtime.Object, name string) any {
	return structOf(obj).FieldByName(name).Interface()
}

// resetField sets obj's field name to old's, or to its zero value if old
// is nil.
func resetField(obj, old runtime.Object, name string) {
	f := structOf(obj).FieldByName(name)
	if !f.IsValid() || !f.CanSet() {
		return
	}
	if old == nil {
		f.Set(reflect.Zero(f.Type()))
		return
	}
	f.Set(structOf(old).FieldByName(name))
}

// KeepField sets obj's field name to old's (e.g. a status the main
// resource may not change); the value is shared, so old must not be
// changed afterwards.
func KeepField(obj, old runtime.Object, name string) { resetField(obj, old, name) }

// ValidateSelector checks a workload's selector: required, non-empty,
// parseable, and matching the template's labels.
func ValidateSelector(sel *metav1.LabelSelector, templateLabels map[string]string, path *field.Path) field.ErrorList {
	if sel == nil {
		return field.ErrorList{field.Required(path, "")}
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return field.ErrorList{field.Invalid(path, sel, err.Error())}
	}
	if s.Empty() {
		return field.ErrorList{field.Invalid(path, sel, "empty selector is invalid for deployment")}
	}
	if !s.Matches(labels.Set(templateLabels)) {
		return field.ErrorList{field.Invalid(field.NewPath("spec", "template", "metadata", "labels"), templateLabels, "`selector` does not match template `labels`")}
	}
	return nil
}

// SelectorString renders a label selector for a Scale's status.selector.
func SelectorString(sel *metav1.LabelSelector) string {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return ""
	}
	return s.String()
}

// NewScale builds the autoscaling/v1 Scale of a workload.
func NewScale(m *metav1.ObjectMeta, specReplicas *int32, statusReplicas int32, selector string) *autoscalingv1.Scale {
	want := int32(1)
	if specReplicas != nil {
		want = *specReplicas
	}
	return &autoscalingv1.Scale{
		TypeMeta: metav1.TypeMeta{APIVersion: "autoscaling/v1", Kind: "Scale"},
		ObjectMeta: metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace, UID: m.UID,
			ResourceVersion: m.ResourceVersion, CreationTimestamp: m.CreationTimestamp},
		Spec:   autoscalingv1.ScaleSpec{Replicas: want},
		Status: autoscalingv1.ScaleStatus{Replicas: statusReplicas, Selector: selector},
	}
}
