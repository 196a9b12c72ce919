package authz

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podvisor/podvisor/internal/apiserver/authn"
)

// fixed always answers the same.
type fixed struct {
	d      Decision
	reason string
	err    error
}

func (f fixed) Authorize(context.Context, Attributes) (Decision, string, error) {
	return f.d, f.reason, f.err
}

func TestUnion(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name       string
		chain      Union
		want       Decision
		wantReason string
		wantErr    string
	}{
		{"first allow wins", Union{{"a", fixed{NoOpinion, "no", nil}}, {"b", fixed{Allow, "yes", nil}}, {"c", fixed{Deny, "never", nil}}}, Allow, "yes", ""},
		{"deny stops the chain", Union{{"a", fixed{Deny, "blocked", nil}}, {"b", fixed{Allow, "", nil}}}, Deny, "blocked", ""},
		{"no opinion joins reasons and errors", Union{{"Node", fixed{NoOpinion, "not yours", nil}}, {"x", fixed{NoOpinion, "", boom}}, {"RBAC", fixed{NoOpinion, "missing role", nil}}},
			NoOpinion, "Node: not yours\nRBAC: missing role", "boom"},
		{"empty chain", Union{}, NoOpinion, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, reason, err := tc.chain.Authorize(context.Background(), Attributes{})
			if d != tc.want || reason != tc.wantReason {
				t.Errorf("Authorize = %v, %q; want %v, %q", d, reason, tc.want, tc.wantReason)
			}
			if (err == nil) != (tc.wantErr == "") || (err != nil && err.Error() != tc.wantErr) {
				t.Errorf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestChainPrivileged(t *testing.T) {
	chain := NewChain(fixed{NoOpinion, "", nil}, fixed{Deny, "no", nil})
	master := &authn.User{Name: "root", Groups: []string{authn.SystemPrivilegedGroup}}
	if d, _, _ := chain.Authorize(context.Background(), Attributes{User: master, Verb: "delete", Path: "/x"}); d != Allow {
		t.Errorf("system:masters = %v, want allow even when RBAC denies", d)
	}
	if d, _, _ := chain.Authorize(context.Background(), Attributes{User: &authn.User{Name: "bob"}}); d != Deny {
		t.Errorf("bob = %v, want the chain's deny", d)
	}
}

func TestForbiddenError(t *testing.T) {
	bob := &authn.User{Name: "bob"}
	tests := []struct {
		name   string
		a      Attributes
		reason string
		want   string
	}{
		{"namespaced", Attributes{User: bob, Verb: "list", ResourceRequest: true, Resource: "pods", Namespace: "default"}, "",
			`pods is forbidden: User "bob" cannot list resource "pods" in API group "" in the namespace "default"`},
		{"named, subresource, group, reason", Attributes{User: bob, Verb: "update", ResourceRequest: true, APIGroup: "apps", Resource: "deployments", Subresource: "scale", Namespace: "ns", Name: "web"}, "RBAC: missing",
			`deployments.apps "web" is forbidden: User "bob" cannot update resource "deployments/scale" in API group "apps" in the namespace "ns": RBAC: missing`},
		{"cluster scope", Attributes{User: bob, Verb: "get", ResourceRequest: true, Resource: "nodes", Name: "n1"}, "",
			`nodes "n1" is forbidden: User "bob" cannot get resource "nodes" in API group "" at the cluster scope`},
		{"path", Attributes{User: bob, Verb: "get", Path: "/metrics"}, "",
			`forbidden: User "bob" cannot get path "/metrics"`},
		{"html is escaped", Attributes{User: &authn.User{Name: "<b>"}, Verb: "get", Path: "/x"}, "",
			`forbidden: User "&lt;b&gt;" cannot get path "/x"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ForbiddenError(tc.a, tc.reason)
			if !apierrors.IsForbidden(err) || err.Status().Code != 403 {
				t.Fatalf("ForbiddenError = %v, want a 403", err)
			}
			if got := err.Status().Message; got != tc.want {
				t.Errorf("message = %q\nwant      %q", got, tc.want)
			}
		})
	}
}

// rulesFor is a fake authorizer and rule resolver: alice may get pods.
type alicePods struct{}

func (alicePods) Authorize(_ context.Context, a Attributes) (Decision, string, error) {
	if a.User.Name == "alice" && a.Verb == "get" && a.Resource == "pods" {
		return Allow, "alice reads pods", nil
	}
	if a.Verb == "delete" {
		return Deny, "never delete", nil
	}
	if a.Resource == "broken" {
		return NoOpinion, "", errors.New("policy source down")
	}
	return NoOpinion, "", nil
}

func (alicePods) RulesFor(_ context.Context, u *authn.User, ns string) ([]authorizationv1.ResourceRule, []authorizationv1.NonResourceRule, bool, error) {
	if u.Name != "alice" {
		return nil, nil, false, nil
	}
	return []authorizationv1.ResourceRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}}},
		[]authorizationv1.NonResourceRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/api"}}}, false, nil
}

func TestSubjectAccessReview(t *testing.T) {
	ra := func(verb, resource, ns string) *authorizationv1.ResourceAttributes {
		return &authorizationv1.ResourceAttributes{Verb: verb, Resource: resource, Namespace: ns}
	}
	tests := []struct {
		name       string
		spec       authorizationv1.SubjectAccessReviewSpec
		want       authorizationv1.SubjectAccessReviewStatus
		wantStatus int32
	}{
		{"allowed", authorizationv1.SubjectAccessReviewSpec{User: "alice", ResourceAttributes: ra("get", "pods", "x")},
			authorizationv1.SubjectAccessReviewStatus{Allowed: true, Reason: "alice reads pods"}, 0},
		{"no opinion", authorizationv1.SubjectAccessReviewSpec{User: "bob", ResourceAttributes: ra("get", "pods", "x")},
			authorizationv1.SubjectAccessReviewStatus{}, 0},
		{"denied", authorizationv1.SubjectAccessReviewSpec{Groups: []string{"g"}, ResourceAttributes: ra("delete", "pods", "x")},
			authorizationv1.SubjectAccessReviewStatus{Denied: true, Reason: "never delete"}, 0},
		{"evaluation error", authorizationv1.SubjectAccessReviewSpec{User: "bob", ResourceAttributes: ra("get", "broken", "x")},
			authorizationv1.SubjectAccessReviewStatus{EvaluationError: "policy source down"}, 0},
		{"no user or group", authorizationv1.SubjectAccessReviewSpec{ResourceAttributes: ra("get", "pods", "x")}, authorizationv1.SubjectAccessReviewStatus{}, 422},
		{"no attributes", authorizationv1.SubjectAccessReviewSpec{User: "alice"}, authorizationv1.SubjectAccessReviewStatus{}, 422},
		{"both attributes", authorizationv1.SubjectAccessReviewSpec{User: "alice", ResourceAttributes: ra("get", "pods", "x"), NonResourceAttributes: &authorizationv1.NonResourceAttributes{Verb: "get", Path: "/"}},
			authorizationv1.SubjectAccessReviewStatus{}, 422},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sar := &authorizationv1.SubjectAccessReview{Spec: tc.spec}
			err := SubjectAccessReview(context.Background(), alicePods{}, sar)
			if tc.wantStatus != 0 {
				var se *apierrors.StatusError
				if !errors.As(err, &se) || se.Status().Code != tc.wantStatus {
					t.Fatalf("err = %v, want status %d", err, tc.wantStatus)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, sar.Status); diff != "" {
				t.Errorf("status (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLocalAndSelfReviews(t *testing.T) {
	alice := &authn.User{Name: "alice"}
	ctx := context.Background()

	lsar := &authorizationv1.LocalSubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: "alice", ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "get", Resource: "pods", Namespace: "ns"}}}
	if err := LocalSubjectAccessReview(ctx, alicePods{}, "ns", lsar); err != nil || !lsar.Status.Allowed {
		t.Errorf("LocalSubjectAccessReview = %v, %+v; want allowed", err, lsar.Status)
	}
	if err := LocalSubjectAccessReview(ctx, alicePods{}, "other", lsar); !apierrors.IsBadRequest(err) {
		t.Errorf("LocalSubjectAccessReview in another namespace: err = %v, want 400", err)
	}
	nonRes := &authorizationv1.LocalSubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: "alice", NonResourceAttributes: &authorizationv1.NonResourceAttributes{Verb: "get", Path: "/api"}}}
	if err := LocalSubjectAccessReview(ctx, alicePods{}, "ns", nonRes); !apierrors.IsInvalid(err) {
		t.Errorf("LocalSubjectAccessReview of a path: err = %v, want 422", err)
	}

	ssar := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "get", Resource: "pods", Namespace: "ns"}}}
	if err := SelfSubjectAccessReview(ctx, alicePods{}, alice, ssar); err != nil || !ssar.Status.Allowed {
		t.Errorf("SelfSubjectAccessReview(alice) = %v, %+v; want allowed", err, ssar.Status)
	}
	if err := SelfSubjectAccessReview(ctx, alicePods{}, &authn.User{Name: "bob"}, ssar); err != nil || ssar.Status.Allowed {
		t.Errorf("SelfSubjectAccessReview(bob) = %v, %+v; want not allowed", err, ssar.Status)
	}
	if err := SelfSubjectAccessReview(ctx, alicePods{}, alice, &authorizationv1.SelfSubjectAccessReview{}); !apierrors.IsInvalid(err) {
		t.Errorf("SelfSubjectAccessReview without attributes: err = %v, want 422", err)
	}

	ssrr := &authorizationv1.SelfSubjectRulesReview{Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: "ns"}}
	if err := SelfSubjectRulesReview(ctx, RuleResolvers{alicePods{}}, alice, ssrr); err != nil {
		t.Fatal(err)
	}
	want := authorizationv1.SubjectRulesReviewStatus{
		ResourceRules:    []authorizationv1.ResourceRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}}},
		NonResourceRules: []authorizationv1.NonResourceRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/api"}}},
	}
	if diff := cmp.Diff(want, ssrr.Status); diff != "" {
		t.Errorf("rules review (-want +got):\n%s", diff)
	}
	if err := SelfSubjectRulesReview(ctx, RuleResolvers{alicePods{}}, alice, &authorizationv1.SelfSubjectRulesReview{}); !apierrors.IsBadRequest(err) {
		t.Errorf("SelfSubjectRulesReview without namespace: err = %v, want 400", err)
	}
}

func TestReviewFieldSelector(t *testing.T) {
	var seen Attributes
	record := authorizerFunc(func(a Attributes) { seen = a })
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: "system:node:n1", ResourceAttributes: &authorizationv1.ResourceAttributes{
		Verb: "list", Resource: "pods", FieldSelector: &authorizationv1.FieldSelectorAttributes{RawSelector: "spec.nodeName=n1"}}}}
	if err := SubjectAccessReview(context.Background(), record, sar); err != nil {
		t.Fatal(err)
	}
	if seen.FieldSelector == nil {
		t.Fatal("field selector not passed to the authorizer")
	}
	if v, ok := seen.FieldSelector.RequiresExactMatch("spec.nodeName"); !ok || v != "n1" {
		t.Errorf("field selector = %v, want spec.nodeName=n1", seen.FieldSelector)
	}
}

func TestReviewLabelSelector(t *testing.T) {
	const key = "podvisor.io/volume-node"
	tests := []struct {
		name      string
		sel       *authorizationv1.LabelSelectorAttributes
		wantValue string // "" means no exact match on key
		wantNil   bool
	}{
		{name: "none", sel: nil, wantNil: true},
		{name: "raw", sel: &authorizationv1.LabelSelectorAttributes{RawSelector: key + "=n1"}, wantValue: "n1"},
		{name: "raw with more terms", sel: &authorizationv1.LabelSelectorAttributes{RawSelector: "app=x," + key + "=n1"}, wantValue: "n1"},
		{name: "raw, bad syntax", sel: &authorizationv1.LabelSelectorAttributes{RawSelector: key + " in (n1"}, wantNil: true},
		{name: "requirement In one value", sel: &authorizationv1.LabelSelectorAttributes{Requirements: []metav1.LabelSelectorRequirement{
			{Key: key, Operator: metav1.LabelSelectorOpIn, Values: []string{"n1"}}}}, wantValue: "n1"},
		{name: "requirement In two values", sel: &authorizationv1.LabelSelectorAttributes{Requirements: []metav1.LabelSelectorRequirement{
			{Key: key, Operator: metav1.LabelSelectorOpIn, Values: []string{"n1", "n2"}}}}},
		{name: "requirement Exists", sel: &authorizationv1.LabelSelectorAttributes{Requirements: []metav1.LabelSelectorRequirement{
			{Key: key, Operator: metav1.LabelSelectorOpExists}}}},
		{name: "invalid requirement", sel: &authorizationv1.LabelSelectorAttributes{Requirements: []metav1.LabelSelectorRequirement{
			{Key: key, Operator: metav1.LabelSelectorOpIn}}}, wantNil: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var seen Attributes
			record := authorizerFunc(func(a Attributes) { seen = a })
			sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: "system:node:n1", ResourceAttributes: &authorizationv1.ResourceAttributes{
				Verb: "list", Resource: "persistentvolumes", LabelSelector: tc.sel}}}
			if err := SubjectAccessReview(context.Background(), record, sar); err != nil {
				t.Fatal(err)
			}
			if got := seen.LabelSelector == nil; got != tc.wantNil {
				t.Fatalf("label selector %v: nil = %v, want %v", seen.LabelSelector, got, tc.wantNil)
			}
			if tc.wantNil {
				return
			}
			v, ok := seen.LabelSelector.RequiresExactMatch(key)
			if tc.wantValue == "" && ok || tc.wantValue != "" && (!ok || v != tc.wantValue) {
				t.Errorf("label selector %v: exact match on %s = %q, %v; want %q", seen.LabelSelector, key, v, ok, tc.wantValue)
			}
		})
	}
}

type authorizerFunc func(Attributes)

func (f authorizerFunc) Authorize(_ context.Context, a Attributes) (Decision, string, error) {
	f(a)
	return NoOpinion, "", nil
}
