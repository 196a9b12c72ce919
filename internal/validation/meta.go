package validation

import (
	"strings"

	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidateNameFunc checks a name (prefix false) or a generateName prefix
// (prefix true) and returns one message per problem, none when valid.
type ValidateNameFunc = apivalidation.ValidateNameFunc

// NameIsDNSSubdomain is the name rule of most resources: an RFC 1123
// subdomain of at most 253 characters.
func NameIsDNSSubdomain(name string, prefix bool) []string {
	return apivalidation.NameIsDNSSubdomain(name, prefix)
}

// NameIsDNSLabel is the name rule of namespaces: an RFC 1123 label of at
// most 63 characters.
func NameIsDNSLabel(name string, prefix bool) []string {
	return apivalidation.NameIsDNSLabel(name, prefix)
}

// NameIsDNS1035Label is the name rule of services: an RFC 1035 label (starts
// with a letter).
func NameIsDNS1035Label(name string, prefix bool) []string {
	return apivalidation.NameIsDNS1035Label(name, prefix)
}

// NameIsPathSegment is the loosest name rule (RBAC objects, persistent
// volumes, autoscalers): anything that can be one segment of a URL path,
// that is not "." or ".." and contains no "/" or "%".
func NameIsPathSegment(name string, prefix bool) []string {
	return path.ValidatePathSegmentName(name, prefix)
}

// ValidateObjectMeta checks the metadata of an object being created: name
// (or generateName) by nameFn, namespace present exactly when namespaced,
// labels, annotations (keys and their 256 KiB total), ownerReferences,
// finalizers and managedFields. It expects generateName to have been turned
// into a name already, as the API server does before validating.
func ValidateObjectMeta(meta *metav1.ObjectMeta, namespaced bool, nameFn ValidateNameFunc, fldPath *field.Path) field.ErrorList {
	return apivalidation.ValidateObjectMeta(meta, namespaced, nameFn, fldPath)
}

// ValidateObjectMetaUpdate checks metadata changes on update: name,
// namespace, uid, creationTimestamp, deletionTimestamp and
// deletionGracePeriodSeconds are immutable, generation never decreases,
// resourceVersion is present (the API server fills it in from the stored
// object for unconditional updates before calling this), no finalizer may be
// added once deletion started, and labels, annotations, ownerReferences and
// finalizers are well formed.
func ValidateObjectMetaUpdate(newMeta, oldMeta *metav1.ObjectMeta, fldPath *field.Path) field.ErrorList {
	errs := apivalidation.ValidateObjectMetaUpdate(newMeta, oldMeta, fldPath)
	return append(errs, apivalidation.ValidateFinalizers(newMeta.Finalizers, fldPath.Child("finalizers"))...)
}

// validateTemplateObjectMeta checks the metadata embedded in a template (pod
// template of a workload, job template of a cronjob): only labels and
// annotations mean anything there.
func validateTemplateObjectMeta(meta *metav1.ObjectMeta, fldPath *field.Path) field.ErrorList {
	errs := validateLabels(meta.Labels, fldPath.Child("labels"))
	errs = append(errs, apivalidation.ValidateAnnotations(meta.Annotations, fldPath.Child("annotations"))...)
	return errs
}

// validateFinalizerName checks a spec finalizer (namespaces): the standard
// "kubernetes" or a domain-qualified name.
func validateFinalizerName(name string, fldPath *field.Path) field.ErrorList {
	errs := validateQualifiedName(name, fldPath)
	if len(errs) == 0 && !strings.Contains(name, "/") && name != "kubernetes" {
		errs = append(errs, field.Invalid(fldPath, name, "name is neither a standard finalizer name nor is it fully qualified"))
	}
	return errs
}
