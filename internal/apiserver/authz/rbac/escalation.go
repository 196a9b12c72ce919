package rbac

import (
	"context"
	"fmt"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/component-helpers/auth/rbac/validation"

	"github.com/podvisor/podvisor/internal/apiserver/authn"
	"github.com/podvisor/podvisor/internal/apiserver/authz"
)

// Escalation prevents privilege escalation through RBAC writes, as
// Kubernetes' RBAC registry does: a user may create or change a Role or
// ClusterRole only with rules it already holds (or the "escalate"
// permission), and a RoleBinding or ClusterRoleBinding only to a role whose
// rules it already holds (or the "bind" permission on that role). Members
// of system:masters may do anything.
//
// The apiserver calls it from the create and update paths of the four RBAC
// resources, before storing; an error is a 403 StatusError to return as is.
type Escalation struct {
	// Authorizer is the apiserver's whole chain, asked for "escalate" and
	// "bind".
	Authorizer authz.Authorizer
	// RBAC resolves the user's rules and the rules of referenced roles.
	RBAC *Authorizer
}

func privileged(u *authn.User) bool { return slices.Contains(u.Groups, authn.SystemPrivilegedGroup) }

// CheckRole checks writing a Role (namespace set) or ClusterRole (namespace
// empty) named name with rules. A ClusterRole with an aggregationRule
// (aggregated true) needs the escalate permission, since its rules come
// from others.
func (e *Escalation) CheckRole(ctx context.Context, u *authn.User, namespace, name string, rules []rbacv1.PolicyRule, aggregated bool) error {
	resource := "roles"
	if namespace == "" {
		resource = "clusterroles"
	}
	gr := schema.GroupResource{Group: rbacv1.GroupName, Resource: resource}
	if u == nil {
		return apierrors.NewForbidden(gr, name, fmt.Errorf("no user on request"))
	}
	if privileged(u) {
		return nil
	}
	d, _, err := e.Authorizer.Authorize(ctx, authz.Attributes{
		User: u, Verb: "escalate", ResourceRequest: true,
		APIGroup: rbacv1.GroupName, APIVersion: "*", Resource: resource, Namespace: namespace, Name: name,
	})
	if err == nil && d == authz.Allow {
		return nil
	}
	if aggregated {
		return apierrors.NewForbidden(gr, name, fmt.Errorf("must have cluster-admin privileges to use the aggregationRule"))
	}
	if err := e.confirmNoEscalation(ctx, u, namespace, rules); err != nil {
		return apierrors.NewForbidden(gr, name, err)
	}
	return nil
}

// CheckBinding checks writing a RoleBinding (namespace set) or
// ClusterRoleBinding (namespace empty) named name that grants roleRef.
func (e *Escalation) CheckBinding(ctx context.Context, u *authn.User, namespace, name string, roleRef rbacv1.RoleRef) error {
	resource := "rolebindings"
	if namespace == "" {
		resource = "clusterrolebindings"
	}
	gr := schema.GroupResource{Group: rbacv1.GroupName, Resource: resource}
	if u == nil {
		return apierrors.NewForbidden(gr, name, fmt.Errorf("no user on request"))
	}
	if privileged(u) {
		return nil
	}
	bind := authz.Attributes{User: u, Verb: "bind", ResourceRequest: true, APIGroup: roleRef.APIGroup, Name: roleRef.Name, Namespace: namespace}
	switch roleRef.Kind {
	case "ClusterRole":
		bind.Resource = "clusterroles"
	case "Role":
		bind.Resource = "roles"
	}
	if bind.Resource != "" {
		if d, _, err := e.Authorizer.Authorize(ctx, bind); err == nil && d == authz.Allow {
			return nil
		}
	}
	e.RBAC.policy.mu.RLock()
	rules, err := e.RBAC.policy.roleRulesLocked(roleRef, namespace)
	e.RBAC.policy.mu.RUnlock()
	if err != nil {
		return apierrors.NewForbidden(gr, name, err)
	}
	if err := e.confirmNoEscalation(ctx, u, namespace, rules); err != nil {
		return apierrors.NewForbidden(gr, name, err)
	}
	return nil
}

// confirmNoEscalation returns an error listing the rules u does not hold
// in namespace, in Kubernetes' words.
func (e *Escalation) confirmNoEscalation(ctx context.Context, u *authn.User, namespace string, rules []rbacv1.PolicyRule) error {
	var (
		owner   []rbacv1.PolicyRule
		resErrs []error
	)
	e.RBAC.policy.visit(u, namespace, true, func(_ *binding, rs []rbacv1.PolicyRule, err error) bool {
		if err != nil {
			resErrs = append(resErrs, err)
			return true
		}
		owner = append(owner, rs...)
		return true
	})
	ok, missing := validation.Covers(owner, rules)
	if ok {
		return nil
	}
	var descs []string
	for _, r := range compact(missing) {
		d := compactString(r)
		if !slices.Contains(descs, d) {
			descs = append(descs, d)
		}
	}
	slices.Sort(descs)
	msg := fmt.Sprintf("user %q (groups=%q) is attempting to grant RBAC permissions not currently held:\n%s", u.Name, u.Groups, strings.Join(descs, "\n"))
	if len(resErrs) > 0 {
		msg += fmt.Sprintf("; resolution errors: %v", resErrs)
	}
	return fmt.Errorf("%s", msg)
}

// compact merges broken-down rules that differ only in their verbs.
func compact(rules []rbacv1.PolicyRule) []rbacv1.PolicyRule {
	var out []rbacv1.PolicyRule
	index := map[string]int{}
	for _, r := range rules {
		key := fmt.Sprintf("%q|%q|%q|%q", r.APIGroups, r.Resources, r.ResourceNames, r.NonResourceURLs)
		if i, ok := index[key]; ok {
			for _, v := range r.Verbs {
				if !slices.Contains(out[i].Verbs, v) {
					out[i].Verbs = append(out[i].Verbs, v)
				}
			}
			continue
		}
		index[key] = len(out)
		out = append(out, *r.DeepCopy())
	}
	return out
}

// compactString formats a rule as Kubernetes' escalation errors do, e.g.
// {APIGroups:["apps"], Resources:["deployments"], Verbs:["create"]}.
func compactString(r rbacv1.PolicyRule) string {
	var parts []string
	if len(r.APIGroups) > 0 {
		parts = append(parts, fmt.Sprintf("APIGroups:%q", r.APIGroups))
	}
	if len(r.Resources) > 0 {
		parts = append(parts, fmt.Sprintf("Resources:%q", r.Resources))
	}
	if len(r.NonResourceURLs) > 0 {
		parts = append(parts, fmt.Sprintf("NonResourceURLs:%q", r.NonResourceURLs))
	}
	if len(r.ResourceNames) > 0 {
		parts = append(parts, fmt.Sprintf("ResourceNames:%q", r.ResourceNames))
	}
	if len(r.Verbs) > 0 {
		parts = append(parts, fmt.Sprintf("Verbs:%q", r.Verbs))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
