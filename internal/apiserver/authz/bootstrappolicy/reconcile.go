package bootstrappolicy

import (
	"maps"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/podvisor/podvisor/internal/apiserver/authz"
	"github.com/podvisor/podvisor/internal/apiserver/authz/rbac"
)

// Action is what the apiserver must do to reconcile one default object.
type Action int

const (
	// Keep: the existing object is fine (or opted out of auto-update).
	Keep Action = iota
	// Create the returned object; none exists.
	Create
	// Update the existing object to the returned one.
	Update
	// Recreate: delete the existing object and create the returned one
	// (a binding's roleRef cannot be changed in place).
	Recreate
)

// String implements fmt.Stringer.
func (a Action) String() string {
	return [...]string{"keep", "create", "update", "recreate"}[a]
}

// autoUpdate reports whether an existing default object may be changed:
// yes unless its autoupdate annotation is "false".
func autoUpdate(annotations map[string]string) bool {
	return annotations[rbacv1.AutoUpdateAnnotationKey] != "false"
}

// mergeMaps returns want with have's entries on top, so that an
// administrator's values win.
func mergeMaps(want, have map[string]string) map[string]string {
	out := maps.Clone(want)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, have)
	return out
}

// ReconcileClusterRole returns the object to write so that the default role
// want is in effect, given the existing role have (nil if none), as
// Kubernetes' start-up reconciliation: missing rules (those no existing
// rule covers) and aggregation selectors are added, labels and annotations
// merged; nothing is removed. Rules of aggregated roles are left to
// rbac.Aggregate. A role annotated autoupdate=false is kept as it is.
func ReconcileClusterRole(have, want *rbacv1.ClusterRole) (*rbacv1.ClusterRole, Action) {
	if have == nil {
		return want.DeepCopy(), Create
	}
	if !autoUpdate(have.Annotations) {
		return have, Keep
	}
	out := have.DeepCopy()
	out.Labels = mergeMaps(want.Labels, have.Labels)
	out.Annotations = mergeMaps(want.Annotations, have.Annotations)
	if want.AggregationRule != nil {
		if out.AggregationRule == nil {
			out.AggregationRule = &rbacv1.AggregationRule{}
		}
		for _, sel := range want.AggregationRule.ClusterRoleSelectors {
			found := false
			for _, h := range out.AggregationRule.ClusterRoleSelectors {
				if equality.Semantic.DeepEqual(h, sel) {
					found = true
					break
				}
			}
			if !found {
				out.AggregationRule.ClusterRoleSelectors = append(out.AggregationRule.ClusterRoleSelectors, *sel.DeepCopy())
			}
		}
	} else {
		for _, r := range want.Rules {
			if !covered(have.Rules, r) {
				out.Rules = append(out.Rules, *r.DeepCopy())
			}
		}
	}
	if equality.Semantic.DeepEqual(out, have) {
		return have, Keep
	}
	return out, Update
}

// covered reports whether the rules in have grant everything rule grants.
func covered(have []rbacv1.PolicyRule, rule rbacv1.PolicyRule) bool {
	for _, verb := range rule.Verbs {
		for _, url := range rule.NonResourceURLs {
			if !rbac.RulesAllow(&authz.Attributes{Verb: verb, Path: url}, have) {
				return false
			}
		}
		for _, group := range rule.APIGroups {
			for _, res := range rule.Resources {
				resource, sub, _ := strings.Cut(res, "/")
				names := rule.ResourceNames
				if len(names) == 0 {
					names = []string{""}
				}
				for _, name := range names {
					a := authz.Attributes{Verb: verb, ResourceRequest: true, APIGroup: group, Resource: resource, Subresource: sub, Name: name}
					if !rbac.RulesAllow(&a, have) || (name == "" && !unrestricted(have, &a)) {
						return false
					}
				}
			}
		}
	}
	return true
}

// unrestricted reports whether some rule grants a without naming
// resources: a rule for "all names" is only covered by another for all
// names.
func unrestricted(have []rbacv1.PolicyRule, a *authz.Attributes) bool {
	for i := range have {
		if len(have[i].ResourceNames) == 0 && rbac.RuleAllows(a, &have[i]) {
			return true
		}
	}
	return false
}

// ReconcileClusterRoleBinding returns the object to write so that the
// default binding want is in effect, given the existing binding have (nil
// if none): missing subjects are added, labels and annotations merged; a
// different roleRef means Recreate. A binding annotated autoupdate=false is
// kept as it is.
func ReconcileClusterRoleBinding(have, want *rbacv1.ClusterRoleBinding) (*rbacv1.ClusterRoleBinding, Action) {
	if have == nil {
		return want.DeepCopy(), Create
	}
	if !autoUpdate(have.Annotations) {
		return have, Keep
	}
	out := have.DeepCopy()
	out.Labels = mergeMaps(want.Labels, have.Labels)
	out.Annotations = mergeMaps(want.Annotations, have.Annotations)
	for _, s := range want.Subjects {
		found := false
		for _, h := range out.Subjects {
			if h.Kind == s.Kind && h.Name == s.Name && h.Namespace == s.Namespace {
				found = true
				break
			}
		}
		if !found {
			out.Subjects = append(out.Subjects, s)
		}
	}
	if have.RoleRef != want.RoleRef {
		out.RoleRef = want.RoleRef
		out.ResourceVersion = ""
		out.UID = ""
		return out, Recreate
	}
	if equality.Semantic.DeepEqual(out, have) {
		return have, Keep
	}
	return out, Update
}
