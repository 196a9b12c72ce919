package validation

import (
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidateRole checks a role on create: each rule has verbs and API groups
// for its resources, and namespaced rules never name non-resource URLs.
func ValidateRole(r *rbacv1.Role) field.ErrorList {
	errs := ValidateObjectMeta(&r.ObjectMeta, true, NameIsPathSegment, field.NewPath("metadata"))
	return append(errs, validatePolicyRules(r.Rules, true, field.NewPath("rules"))...)
}

// ValidateRoleUpdate checks a role update.
func ValidateRoleUpdate(r, old *rbacv1.Role) field.ErrorList {
	errs := ValidateObjectMetaUpdate(&r.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	return append(errs, validatePolicyRules(r.Rules, true, field.NewPath("rules"))...)
}

// ValidateClusterRole checks a cluster role on create, including its
// aggregation rule: at least one valid cluster role selector.
func ValidateClusterRole(r *rbacv1.ClusterRole) field.ErrorList {
	errs := ValidateObjectMeta(&r.ObjectMeta, false, NameIsPathSegment, field.NewPath("metadata"))
	return append(errs, validateClusterRoleBody(r)...)
}

func validateClusterRoleBody(r *rbacv1.ClusterRole) field.ErrorList {
	errs := validatePolicyRules(r.Rules, false, field.NewPath("rules"))
	if ar := r.AggregationRule; ar != nil {
		p := field.NewPath("aggregationRule", "clusterRoleSelectors")
		if len(ar.ClusterRoleSelectors) == 0 {
			errs = append(errs, field.Required(p, "at least one clusterRoleSelector required if aggregationRule is non-nil"))
		}
		for i := range ar.ClusterRoleSelectors {
			errs = append(errs, validateLabelSelector(&ar.ClusterRoleSelectors[i], p.Index(i))...)
		}
	}
	return errs
}

// ValidateClusterRoleUpdate checks a cluster role update.
func ValidateClusterRoleUpdate(r, old *rbacv1.ClusterRole) field.ErrorList {
	errs := ValidateObjectMetaUpdate(&r.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	return append(errs, validateClusterRoleBody(r)...)
}

func validatePolicyRules(rules []rbacv1.PolicyRule, namespaced bool, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, r := range rules {
		p := fldPath.Index(i)
		if len(r.Verbs) == 0 {
			errs = append(errs, field.Required(p.Child("verbs"), "verbs must contain at least one value"))
		}
		if len(r.NonResourceURLs) > 0 {
			if namespaced {
				errs = append(errs, field.Invalid(p.Child("nonResourceURLs"), r.NonResourceURLs, "namespaced rules cannot apply to non-resource URLs"))
			}
			if len(r.APIGroups) > 0 || len(r.Resources) > 0 || len(r.ResourceNames) > 0 {
				errs = append(errs, field.Invalid(p.Child("nonResourceURLs"), r.NonResourceURLs, "rules cannot apply to both regular resources and non-resource URLs"))
			}
			continue
		}
		if len(r.APIGroups) == 0 {
			errs = append(errs, field.Required(p.Child("apiGroups"), "resource rules must supply at least one api group"))
		}
		if len(r.Resources) == 0 {
			errs = append(errs, field.Required(p.Child("resources"), "resource rules must supply at least one resource"))
		}
	}
	return errs
}

// ValidateRoleBinding checks a role binding on create: a roleRef to a Role
// or ClusterRole in rbac.authorization.k8s.io, and well-formed subjects.
func ValidateRoleBinding(b *rbacv1.RoleBinding) field.ErrorList {
	errs := ValidateObjectMeta(&b.ObjectMeta, true, NameIsPathSegment, field.NewPath("metadata"))
	errs = append(errs, validateRoleRef(b.RoleRef, []string{"Role", "ClusterRole"})...)
	return append(errs, validateSubjects(b.Subjects, true)...)
}

// ValidateRoleBindingUpdate checks a role binding update: the roleRef is
// fixed (delete and recreate to change it).
func ValidateRoleBindingUpdate(b, old *rbacv1.RoleBinding) field.ErrorList {
	errs := ValidateObjectMetaUpdate(&b.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, validateRoleRef(b.RoleRef, []string{"Role", "ClusterRole"})...)
	errs = append(errs, validateSubjects(b.Subjects, true)...)
	return append(errs, validateRoleRefUpdate(b.RoleRef, old.RoleRef)...)
}

// ValidateClusterRoleBinding checks a cluster role binding on create.
func ValidateClusterRoleBinding(b *rbacv1.ClusterRoleBinding) field.ErrorList {
	errs := ValidateObjectMeta(&b.ObjectMeta, false, NameIsPathSegment, field.NewPath("metadata"))
	errs = append(errs, validateRoleRef(b.RoleRef, []string{"ClusterRole"})...)
	return append(errs, validateSubjects(b.Subjects, false)...)
}

// ValidateClusterRoleBindingUpdate checks a cluster role binding update:
// the roleRef is fixed.
func ValidateClusterRoleBindingUpdate(b, old *rbacv1.ClusterRoleBinding) field.ErrorList {
	errs := ValidateObjectMetaUpdate(&b.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, validateRoleRef(b.RoleRef, []string{"ClusterRole"})...)
	errs = append(errs, validateSubjects(b.Subjects, false)...)
	return append(errs, validateRoleRefUpdate(b.RoleRef, old.RoleRef)...)
}

func validateRoleRefUpdate(ref, old rbacv1.RoleRef) field.ErrorList {
	if ref != old {
		return field.ErrorList{field.Invalid(field.NewPath("roleRef"), ref, "cannot change roleRef")}
	}
	return nil
}

func validateRoleRef(ref rbacv1.RoleRef, kinds []string) field.ErrorList {
	p := field.NewPath("roleRef")
	var errs field.ErrorList
	if ref.APIGroup != rbacv1.GroupName {
		errs = append(errs, field.NotSupported(p.Child("apiGroup"), ref.APIGroup, []string{rbacv1.GroupName}))
	}
	errs = append(errs, validateEnum(ref.Kind, true, kinds, p.Child("kind"))...)
	if ref.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	} else {
		errs = append(errs, validateNameRef(ref.Name, NameIsPathSegment, p.Child("name"))...)
	}
	return errs
}

// validateSubjects checks binding subjects. A service account names its
// namespace, except in a RoleBinding, where it may default to the
// binding's.
func validateSubjects(subjects []rbacv1.Subject, namespacedBinding bool) field.ErrorList {
	var errs field.ErrorList
	for i, s := range subjects {
		p := field.NewPath("subjects").Index(i)
		if s.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		}
		switch s.Kind {
		case rbacv1.ServiceAccountKind:
			if s.Name != "" {
				errs = append(errs, validateNameRef(s.Name, NameIsDNSSubdomain, p.Child("name"))...)
			}
			if s.APIGroup != "" {
				errs = append(errs, field.NotSupported(p.Child("apiGroup"), s.APIGroup, []string{""}))
			}
			if s.Namespace == "" && !namespacedBinding {
				errs = append(errs, field.Required(p.Child("namespace"), ""))
			}
		case rbacv1.UserKind, rbacv1.GroupKind:
			if s.APIGroup != rbacv1.GroupName {
				errs = append(errs, field.NotSupported(p.Child("apiGroup"), s.APIGroup, []string{rbacv1.GroupName}))
			}
		default:
			errs = append(errs, field.NotSupported(p.Child("kind"), s.Kind, []string{rbacv1.GroupKind, rbacv1.ServiceAccountKind, rbacv1.UserKind}))
		}
	}
	return errs
}
