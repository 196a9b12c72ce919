package rbac

import (
	"context"
	"errors"
	"fmt"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/podvisor/podvisor/internal/apiserver/authn"
	"github.com/podvisor/podvisor/internal/apiserver/authz"
)

// Authorizer decides requests from a Policy.
type Authorizer struct {
	policy *Policy
}

var (
	_ authz.Authorizer   = (*Authorizer)(nil)
	_ authz.RuleResolver = (*Authorizer)(nil)
)

// New returns an RBAC authorizer reading p.
func New(p *Policy) *Authorizer { return &Authorizer{policy: p} }

// Authorize implements authz.Authorizer.Authorize.
//
// RBAC only allows: a request no rule grants gets NoOpinion, with a reason
// naming the bindings whose roles could not be found (if any), so the
// chain's next authorizer or the final deny decides. An allowed request's
// reason names the grant, e.g. `RBAC: allowed by ClusterRoleBinding "x" of
// ClusterRole "view" to User "bob"`.
func (az *Authorizer) Authorize(_ context.Context, a authz.Attributes) (authz.Decision, string, error) {
	if a.User == nil {
		return authz.NoOpinion, "", nil
	}
	reason, errs := az.policy.authorize(&a)
	if reason != "" {
		return authz.Allow, reason, nil
	}
	if len(errs) > 0 {
		return authz.NoOpinion, "RBAC: " + aggregate(errs), nil
	}
	return authz.NoOpinion, "", nil
}

// authorize looks for a binding of a's user whose role grants a, and returns
// its allow reason, or "" and the errors resolving roles. It is visit
// specialised for the request path: no closures, no allocation unless a
// role is missing.
func (p *Policy) authorize(a *authz.Attributes) (string, []error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	var errs []error
	try := func(list []*binding, bindingNamespace string) string {
		for _, b := range list {
			rules, err := p.roleRulesLocked(b.roleRef, bindingNamespace)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if RulesAllow(a, rules) {
				return b.reason(a.User)
			}
		}
		return ""
	}
	u := a.User
	for _, ix := range [2]*subjectIndex{&p.clusterIndex, p.nsIndex[a.Namespace]} {
		if ix == nil || (ix != &p.clusterIndex && a.Namespace == "") {
			continue
		}
		ns := ""
		if ix != &p.clusterIndex {
			ns = a.Namespace
		}
		if r := try(ix.users[u.Name], ns); r != "" {
			return r, nil
		}
		for _, g := range u.Groups {
			if r := try(ix.groups[g], ns); r != "" {
				return r, nil
			}
		}
	}
	return "", errs
}

// RulesFor implements authz.RuleResolver.RulesFor: the rules of every role
// bound to u cluster-wide or in namespace.
func (az *Authorizer) RulesFor(_ context.Context, u *authn.User, namespace string) ([]authorizationv1.ResourceRule, []authorizationv1.NonResourceRule, bool, error) {
	var (
		res    []authorizationv1.ResourceRule
		nonRes []authorizationv1.NonResourceRule
		errs   []error
	)
	az.policy.visit(u, namespace, true, func(_ *binding, rules []rbacv1.PolicyRule, err error) bool {
		if err != nil {
			errs = append(errs, err)
			return true
		}
		for _, r := range rules {
			if len(r.Resources) > 0 {
				res = append(res, authorizationv1.ResourceRule{Verbs: r.Verbs, APIGroups: r.APIGroups, Resources: r.Resources, ResourceNames: r.ResourceNames})
			}
			if len(r.NonResourceURLs) > 0 {
				nonRes = append(nonRes, authorizationv1.NonResourceRule{Verbs: r.Verbs, NonResourceURLs: r.NonResourceURLs})
			}
		}
		return true
	})
	var err error
	if len(errs) > 0 {
		err = errors.New(aggregate(errs))
	}
	return res, nonRes, false, err
}

// visit calls fn with each binding that applies to u (cluster role bindings,
// then role bindings in namespace if it is not empty) and the rules of the
// role it grants, or the error resolving that role. Each binding is visited
// once if dedupe is set. fn returns false to stop. fn runs with the policy read-locked and
// must not call back into the Policy.
//
// With dedupe false a binding naming the user under several keys (its name
// and a group) may be visited more than once, which is harmless for a
// yes/no decision and saves the bookkeeping on the request path.
func (p *Policy) visit(u *authn.User, namespace string, dedupe bool, fn func(b *binding, rules []rbacv1.PolicyRule, err error) bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	var seen map[*binding]bool
	if dedupe {
		seen = map[*binding]bool{}
	}
	walk := func(ix *subjectIndex, bindingNamespace string) bool {
		visitList := func(list []*binding) bool {
			for _, b := range list {
				if seen != nil {
					if seen[b] {
						continue
					}
					seen[b] = true
				}
				rules, err := p.roleRulesLocked(b.roleRef, bindingNamespace)
				if !fn(b, rules, err) {
					return false
				}
			}
			return true
		}
		if !visitList(ix.users[u.Name]) {
			return false
		}
		for _, g := range u.Groups {
			if !visitList(ix.groups[g]) {
				return false
			}
		}
		return true
	}
	if !walk(&p.clusterIndex, "") {
		return
	}
	if namespace == "" {
		return
	}
	if ix := p.nsIndex[namespace]; ix != nil {
		walk(ix, namespace)
	}
}

// roleRulesLocked resolves a binding's roleRef, with the lister errors
// Kubernetes reports for missing roles.
//
// +checklocksread:p.mu
func (p *Policy) roleRulesLocked(ref rbacv1.RoleRef, bindingNamespace string) ([]rbacv1.PolicyRule, error) {
	switch ref.Kind {
	case "ClusterRole":
		r, ok := p.clusterRoles[ref.Name]
		if !ok {
			return nil, apierrors.NewNotFound(rbacv1.Resource("clusterrole"), ref.Name)
		}
		return r.Rules, nil
	case "Role":
		if bindingNamespace == "" {
			return nil, fmt.Errorf("unsupported role reference kind: %q", ref.Kind)
		}
		r, ok := p.roles[nsName{bindingNamespace, ref.Name}]
		if !ok {
			return nil, apierrors.NewNotFound(rbacv1.Resource("role"), ref.Name)
		}
		return r.Rules, nil
	default:
		return nil, fmt.Errorf("unsupported role reference kind: %q", ref.Kind)
	}
}

// reason returns the allow reason naming the first of the binding's
// subjects that applies to u, as Kubernetes reports it.
func (b *binding) reason(u *authn.User) string {
	for i := range b.subjects {
		if appliesTo(&b.subjects[i], b.namespace, u) {
			return b.reasons[i]
		}
	}
	// Unreachable: the binding was found under one of u's keys.
	return "RBAC: allowed by " + b.name
}

// describe names a grant as Kubernetes' RBAC reasons do.
func describe(b *binding, s *rbacv1.Subject) string {
	subject := describeSubject(s, b.namespace)
	if b.namespace == "" {
		return fmt.Sprintf("ClusterRoleBinding %q of %s %q to %s", b.name, b.roleRef.Kind, b.roleRef.Name, subject)
	}
	return fmt.Sprintf("RoleBinding %q of %s %q to %s", b.name+"/"+b.namespace, b.roleRef.Kind, b.roleRef.Name, subject)
}

// appliesTo reports whether subject s of a binding in bindingNamespace
// names u, without allocating.
func appliesTo(s *rbacv1.Subject, bindingNamespace string, u *authn.User) bool {
	switch s.Kind {
	case rbacv1.UserKind:
		return s.Name == u.Name
	case rbacv1.GroupKind:
		return containsString(u.Groups, s.Name)
	case rbacv1.ServiceAccountKind:
		ns := s.Namespace
		if ns == "" {
			ns = bindingNamespace
		}
		if ns == "" {
			return false
		}
		rest, ok := strings.CutPrefix(u.Name, authn.ServiceAccountUsernamePrefix)
		if !ok {
			return false
		}
		rest, ok = strings.CutPrefix(rest, ns)
		return ok && len(rest) == len(s.Name)+1 && rest[0] == ':' && rest[1:] == s.Name
	}
	return false
}

func describeSubject(s *rbacv1.Subject, bindingNamespace string) string {
	if s.Kind == rbacv1.ServiceAccountKind {
		ns := s.Namespace
		if ns == "" {
			ns = bindingNamespace
		}
		return fmt.Sprintf("%s %q", s.Kind, s.Name+"/"+ns)
	}
	return fmt.Sprintf("%s %q", s.Kind, s.Name)
}

func containsString(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// aggregate formats errors as Kubernetes' error aggregates: one error
// alone, several as "[e1, e2]".
func aggregate(errs []error) string {
	if len(errs) == 1 {
		return errs[0].Error()
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return "[" + strings.Join(msgs, ", ") + "]"
}
