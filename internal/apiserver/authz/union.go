package authz

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/podvisor/podvisor/internal/apiserver/authn"
)

// Named is an authorizer with the name used to prefix its reasons.
type Named struct {
	Name       string
	Authorizer Authorizer
}

// Union asks authorizers in order; the first Allow or Deny wins. If all
// have no opinion, it returns NoOpinion with their reasons joined (one line
// each, prefixed by the authorizer's name, as Kubernetes does) and their
// errors joined.
type Union []Named

var _ Authorizer = Union(nil)

// Authorize implements Authorizer.Authorize.
func (u Union) Authorize(ctx context.Context, a Attributes) (Decision, string, error) {
	var (
		reasons []string
		errs    []error
	)
	for _, n := range u {
		d, reason, err := n.Authorizer.Authorize(ctx, a)
		if d == Allow || d == Deny {
			return d, reason, err
		}
		if err != nil {
			errs = append(errs, err)
		}
		if reason != "" {
			reasons = append(reasons, fmt.Sprintf("%s: %s", n.Name, reason))
		}
	}
	return NoOpinion, strings.Join(reasons, "\n"), errors.Join(errs...)
}

// PrivilegedGroups allows every request of a user in one of its groups and
// has no opinion otherwise. Kubernetes puts system:masters first in its
// chain this way, so that cluster admins cannot lock themselves out by
// editing RBAC.
type PrivilegedGroups []string

var _ Authorizer = PrivilegedGroups(nil)

// Authorize implements Authorizer.Authorize.
func (p PrivilegedGroups) Authorize(_ context.Context, a Attributes) (Decision, string, error) {
	if a.User != nil {
		for _, g := range a.User.Groups {
			if slices.Contains(p, g) {
				return Allow, "", nil
			}
		}
	}
	return NoOpinion, "", nil
}

// NewChain returns the apiserver's authorizer: system:masters always
// allowed, then the node authorizer, then RBAC (either may be nil), like
// kube-apiserver with --authorization-mode=Node,RBAC.
func NewChain(node, rbac Authorizer) Union {
	u := Union{{Name: "privileged", Authorizer: PrivilegedGroups{authn.SystemPrivilegedGroup}}}
	if node != nil {
		u = append(u, Named{Name: "Node", Authorizer: node})
	}
	if rbac != nil {
		u = append(u, Named{Name: "RBAC", Authorizer: rbac})
	}
	return u
}
