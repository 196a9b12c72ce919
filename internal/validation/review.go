package validation

import (
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// validateAttributes: exactly one of resource and non-resource attributes.
func validateAttributes(ra *authorizationv1.ResourceAttributes, nra *authorizationv1.NonResourceAttributes, sp *field.Path) field.ErrorList {
	switch {
	case ra == nil && nra == nil:
		return field.ErrorList{field.Required(sp.Child("resourceAttributes"), "exactly one of nonResourceAttributes or resourceAttributes must be specified")}
	case ra != nil && nra != nil:
		return field.ErrorList{field.Invalid(sp.Child("nonResourceAttributes"), nra, `cannot be specified in combination with resourceAttributes`)}
	}
	return nil
}

// ValidateSubjectAccessReview checks a SubjectAccessReview: one kind of
// attributes and a user or group to ask about.
func ValidateSubjectAccessReview(r *authorizationv1.SubjectAccessReview) field.ErrorList {
	sp := field.NewPath("spec")
	errs := validateAttributes(r.Spec.ResourceAttributes, r.Spec.NonResourceAttributes, sp)
	if r.Spec.User == "" && len(r.Spec.Groups) == 0 && r.Spec.UID == "" {
		errs = append(errs, field.Invalid(sp.Child("user"), r.Spec.User, `at least one of user, group or uid must be specified`))
	}
	return errs
}

// ValidateSelfSubjectAccessReview checks a SelfSubjectAccessReview.
func ValidateSelfSubjectAccessReview(r *authorizationv1.SelfSubjectAccessReview) field.ErrorList {
	return validateAttributes(r.Spec.ResourceAttributes, r.Spec.NonResourceAttributes, field.NewPath("spec"))
}

// ValidateLocalSubjectAccessReview checks a LocalSubjectAccessReview: like
// a SubjectAccessReview, about resources of its own namespace only.
func ValidateLocalSubjectAccessReview(r *authorizationv1.LocalSubjectAccessReview) field.ErrorList {
	sp := field.NewPath("spec")
	errs := ValidateSubjectAccessReview(&authorizationv1.SubjectAccessReview{Spec: r.Spec})
	if r.Spec.NonResourceAttributes != nil {
		errs = append(errs, field.Invalid(sp.Child("nonResourceAttributes"), r.Spec.NonResourceAttributes, `disallowed on this kind of request`))
	}
	if ra := r.Spec.ResourceAttributes; ra != nil && ra.Namespace != r.Namespace {
		errs = append(errs, field.Invalid(sp.Child("resourceAttributes", "namespace"), ra.Namespace, `must match metadata.namespace`))
	}
	return errs
}

// ValidateSelfSubjectRulesReview checks a SelfSubjectRulesReview: it asks
// about one namespace.
func ValidateSelfSubjectRulesReview(r *authorizationv1.SelfSubjectRulesReview) field.ErrorList {
	if r.Spec.Namespace == "" {
		return nil
	}
	return validateNameRef(r.Spec.Namespace, NameIsDNSLabel, field.NewPath("spec", "namespace"))
}

// ValidateTokenReview checks a TokenReview: a token to review.
func ValidateTokenReview(r *authenticationv1.TokenReview) field.ErrorList {
	if r.Spec.Token == "" {
		return field.ErrorList{field.Required(field.NewPath("spec", "token"), "")}
	}
	return nil
}
