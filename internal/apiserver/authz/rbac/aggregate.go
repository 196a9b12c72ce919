package rbac

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Aggregate computes ClusterRole aggregation, as Kubernetes'
// clusterrole-aggregation controller: the rules of a ClusterRole with an
// aggregationRule become the union (in selector order, then by role name,
// without duplicates) of the rules of the other ClusterRoles its selectors
// match. Aggregated roles feeding other aggregated roles (view → edit →
// admin) are followed to the end, so one call settles everything.
//
// The apiserver calls it with every ClusterRole after any ClusterRole
// changes, and writes back the returned roles: deep copies of those whose
// rules changed, sorted by name. An invalid selector is reported in the
// error; the other roles are still aggregated.
func Aggregate(roles []*rbacv1.ClusterRole) ([]*rbacv1.ClusterRole, error) {
	sorted := slices.Clone(roles)
	slices.SortFunc(sorted, func(a, b *rbacv1.ClusterRole) int { return strings.Compare(a.Name, b.Name) })
	current := make(map[string][]rbacv1.PolicyRule, len(sorted))
	for _, r := range sorted {
		current[r.Name] = r.Rules
	}
	var errs []error
	selectors := map[string][]labels.Selector{}
	for _, r := range sorted {
		if r.AggregationRule == nil {
			continue
		}
		var sels []labels.Selector
		for i := range r.AggregationRule.ClusterRoleSelectors {
			sel, err := metav1.LabelSelectorAsSelector(&r.AggregationRule.ClusterRoleSelectors[i])
			if err != nil {
				errs = append(errs, fmt.Errorf("clusterrole %q: aggregation selector %d: %w", r.Name, i, err))
				sels = nil
				break
			}
			sels = append(sels, sel)
		}
		if sels != nil {
			selectors[r.Name] = sels
		}
	}
	// Each pass recomputes every aggregated role from the current rules of
	// the others; chains settle in at most one pass per link. A cycle of
	// aggregated roles may not settle, so passes are bounded.
	for pass := 0; pass <= len(selectors); pass++ {
		changed := false
		for _, r := range sorted {
			sels, ok := selectors[r.Name]
			if !ok {
				continue
			}
			rules := []rbacv1.PolicyRule{}
			for _, sel := range sels {
				for _, other := range sorted {
					if other.Name == r.Name || !sel.Matches(labels.Set(other.Labels)) {
						continue
					}
					for _, rule := range current[other.Name] {
						if !containsRule(rules, rule) {
							rules = append(rules, rule)
						}
					}
				}
			}
			if !equality.Semantic.DeepEqual(rules, current[r.Name]) {
				current[r.Name] = rules
				changed = true
			}
		}
		if !changed {
			break
		}
	}
	var out []*rbacv1.ClusterRole
	for _, r := range sorted {
		if _, ok := selectors[r.Name]; !ok || equality.Semantic.DeepEqual(current[r.Name], r.Rules) {
			continue
		}
		c := r.DeepCopy()
		c.Rules = nil
		for _, rule := range current[r.Name] {
			c.Rules = append(c.Rules, *rule.DeepCopy())
		}
		out = append(out, c)
	}
	return out, errors.Join(errs...)
}

func containsRule(rules []rbacv1.PolicyRule, r rbacv1.PolicyRule) bool {
	for _, x := range rules {
		if equality.Semantic.DeepEqual(x, r) {
			return true
		}
	}
	return false
}
