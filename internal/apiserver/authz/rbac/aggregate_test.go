package rbac

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func labelled(name string, labels map[string]string, agg []metav1.LabelSelector, rules ...rbacv1.PolicyRule) *rbacv1.ClusterRole {
	r := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Rules: rules}
	if agg != nil {
		r.AggregationRule = &rbacv1.AggregationRule{ClusterRoleSelectors: agg}
	}
	return r
}

func matchLabel(k string) []metav1.LabelSelector {
	return []metav1.LabelSelector{{MatchLabels: map[string]string{k: "true"}}}
}

func TestAggregate(t *testing.T) {
	readPods := rule(s("get"), s(""), s("pods"))
	readSvc := rule(s("get"), s(""), s("services"))
	writePods := rule(s("create"), s(""), s("pods"))
	grantRoles := rule(s("create"), s("rbac.authorization.k8s.io"), s("roles"))
	roles := []*rbacv1.ClusterRole{
		labelled("admin", nil, matchLabel("to-admin")),
		labelled("edit", map[string]string{"to-admin": "true"}, matchLabel("to-edit")),
		labelled("view", map[string]string{"to-edit": "true"}, matchLabel("to-view")),
		// Contributors; b-view repeats a rule of a-view.
		labelled("b-view", map[string]string{"to-view": "true"}, nil, readSvc, readPods),
		labelled("a-view", map[string]string{"to-view": "true"}, nil, readPods),
		labelled("x-edit", map[string]string{"to-edit": "true"}, nil, writePods),
		labelled("x-admin", map[string]string{"to-admin": "true"}, nil, grantRoles),
		labelled("unrelated", nil, nil, rule(s("*"), s("*"), s("*"))),
	}
	got, err := Aggregate(roles)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]rbacv1.PolicyRule{
		"admin": {readPods, readSvc, writePods, grantRoles},
		"edit":  {readPods, readSvc, writePods},
		"view":  {readPods, readSvc},
	}
	gotRules := map[string][]rbacv1.PolicyRule{}
	for _, r := range got {
		gotRules[r.Name] = r.Rules
	}
	if diff := cmp.Diff(want, gotRules); diff != "" {
		t.Errorf("aggregated rules (-want +got):\n%s", diff)
	}
	if roles[0].Rules != nil {
		t.Error("Aggregate modified its input")
	}

	// Applying the result again changes nothing.
	byName := map[string]*rbacv1.ClusterRole{}
	for _, r := range roles {
		byName[r.Name] = r
	}
	for _, r := range got {
		byName[r.Name] = r
	}
	var next []*rbacv1.ClusterRole
	for _, r := range byName {
		next = append(next, r)
	}
	again, err := Aggregate(next)
	if err != nil || len(again) != 0 {
		t.Errorf("second Aggregate = %d changed roles, %v; want none", len(again), err)
	}

	// A contributor losing its label drops its rules from the aggregate.
	byName["x-edit"] = labelled("x-edit", nil, nil, writePods)
	next = next[:0]
	for _, r := range byName {
		next = append(next, r)
	}
	changed, err := Aggregate(next)
	if err != nil {
		t.Fatal(err)
	}
	gotRules = map[string][]rbacv1.PolicyRule{}
	for _, r := range changed {
		gotRules[r.Name] = r.Rules
	}
	want = map[string][]rbacv1.PolicyRule{
		"admin": {readPods, readSvc, grantRoles},
		"edit":  {readPods, readSvc},
	}
	if diff := cmp.Diff(want, gotRules); diff != "" {
		t.Errorf("after unlabelling (-want +got):\n%s", diff)
	}
}

func TestAggregateBadSelector(t *testing.T) {
	bad := []metav1.LabelSelector{{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "k", Operator: "Bogus"}}}}
	roles := []*rbacv1.ClusterRole{
		labelled("broken", nil, bad),
		labelled("view", nil, matchLabel("to-view")),
		labelled("c", map[string]string{"to-view": "true"}, nil, rule(s("get"), s(""), s("pods"))),
	}
	got, err := Aggregate(roles)
	if err == nil {
		t.Error("Aggregate with an invalid selector: no error")
	}
	if len(got) != 1 || got[0].Name != "view" {
		t.Errorf("Aggregate = %v, want view still aggregated", got)
	}
}
