// Package rbac is the RBAC authorizer: Roles and ClusterRoles grant rules,
// RoleBindings and ClusterRoleBindings grant roles to users, groups and
// service accounts, with Kubernetes' matching semantics and 403 reasons. It
// also computes ClusterRole aggregation and answers rules reviews.
//
// The apiserver feeds a Policy from its watch cache (Set*/Delete*, or
// Replace after a relist); the Authorizer reads it on every request.
// Bindings are indexed by subject, so a decision looks only at the bindings
// naming the user or one of its groups, never at all of them.
//
// Only the apiserver and the server wiring import it.
package rbac

import (
	"sync"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/podvisor/podvisor/internal/apiserver/authn"
)

// Policy is an in-memory, subject-indexed copy of the cluster's RBAC
// objects. It is safe for concurrent use: one writer (the apiserver's watch
// of the four RBAC resources) and many readers (requests).
//
// Objects handed to Policy are kept, not copied: the caller must not modify
// them afterwards (objects from a watch cache are never modified anyway).
type Policy struct {
	mu sync.RWMutex
	// +checklocks:mu
	roles map[nsName]*rbacv1.Role
	// +checklocks:mu
	clusterRoles map[string]*rbacv1.ClusterRole
	// +checklocks:mu
	clusterRoleBindings map[string]*binding
	// +checklocks:mu
	roleBindings map[nsName]*binding
	// clusterIndex indexes cluster role bindings by subject.
	// +checklocks:mu
	clusterIndex subjectIndex
	// nsIndex indexes role bindings by namespace, then subject.
	// +checklocks:mu
	nsIndex map[string]*subjectIndex
}

type nsName struct{ namespace, name string }

// binding is one indexed RoleBinding or ClusterRoleBinding.
type binding struct {
	namespace string // "" for a ClusterRoleBinding
	name      string
	roleRef   rbacv1.RoleRef
	subjects  []rbacv1.Subject
	// reasons[i] is the allow reason when subjects[i] is the first subject
	// naming the user, precomputed so that an allowed request costs no
	// formatting.
	reasons []string
}

func newBinding(namespace, name string, roleRef rbacv1.RoleRef, subjects []rbacv1.Subject) *binding {
	b := &binding{namespace: namespace, name: name, roleRef: roleRef, subjects: subjects, reasons: make([]string, len(subjects))}
	for i := range subjects {
		b.reasons[i] = "RBAC: allowed by " + describe(b, &subjects[i])
	}
	return b
}

// subjectIndex maps user names (service accounts by their user name) and
// group names to the bindings naming them. A binding appears at most once
// per key.
type subjectIndex struct {
	users  map[string][]*binding
	groups map[string][]*binding
}

func newSubjectIndex() subjectIndex {
	return subjectIndex{users: map[string][]*binding{}, groups: map[string][]*binding{}}
}

// NewPolicy returns an empty Policy.
func NewPolicy() *Policy {
	return &Policy{
		roles:               map[nsName]*rbacv1.Role{},
		clusterRoles:        map[string]*rbacv1.ClusterRole{},
		clusterRoleBindings: map[string]*binding{},
		roleBindings:        map[nsName]*binding{},
		clusterIndex:        newSubjectIndex(),
		nsIndex:             map[string]*subjectIndex{},
	}
}

// subjectKeys returns the index keys of a binding subject: ("user", name) or
// ("group", name); ok is false for subjects that can never match (an
// unknown kind, a service account without a namespace in a cluster role
// binding).
func subjectKey(s *rbacv1.Subject, bindingNamespace string) (name string, group bool, ok bool) {
	switch s.Kind {
	case rbacv1.UserKind:
		return s.Name, false, true
	case rbacv1.GroupKind:
		return s.Name, true, true
	case rbacv1.ServiceAccountKind:
		ns := s.Namespace
		if ns == "" {
			// A RoleBinding's service accounts default to its namespace.
			ns = bindingNamespace
		}
		if ns == "" {
			return "", false, false
		}
		return authn.ServiceAccountUsername(ns, s.Name), false, true
	}
	return "", false, false
}

func (ix *subjectIndex) add(b *binding) {
	for i := range b.subjects {
		key, group, ok := subjectKey(&b.subjects[i], b.namespace)
		if !ok {
			continue
		}
		m := ix.users
		if group {
			m = ix.groups
		}
		if !containsBinding(m[key], b) {
			m[key] = append(m[key], b)
		}
	}
}

func (ix *subjectIndex) remove(b *binding) {
	for i := range b.subjects {
		key, group, ok := subjectKey(&b.subjects[i], b.namespace)
		if !ok {
			continue
		}
		m := ix.users
		if group {
			m = ix.groups
		}
		list := m[key]
		out := make([]*binding, 0, len(list))
		for _, x := range list {
			if x != b {
				out = append(out, x)
			}
		}
		if len(out) == 0 {
			delete(m, key)
		} else {
			m[key] = out
		}
	}
}

func (ix *subjectIndex) empty() bool { return len(ix.users) == 0 && len(ix.groups) == 0 }

func containsBinding(list []*binding, b *binding) bool {
	for _, x := range list {
		if x == b {
			return true
		}
	}
	return false
}

// SetRole adds or replaces a Role.
func (p *Policy) SetRole(r *rbacv1.Role) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.roles[nsName{r.Namespace, r.Name}] = r
}

// DeleteRole removes a Role.
func (p *Policy) DeleteRole(namespace, name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.roles, nsName{namespace, name})
}

// SetClusterRole adds or replaces a ClusterRole.
func (p *Policy) SetClusterRole(r *rbacv1.ClusterRole) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clusterRoles[r.Name] = r
}

// DeleteClusterRole removes a ClusterRole.
func (p *Policy) DeleteClusterRole(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.clusterRoles, name)
}

// SetRoleBinding adds or replaces a RoleBinding.
func (p *Policy) SetRoleBinding(b *rbacv1.RoleBinding) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.setRoleBindingLocked(b)
}

// +checklocks:p.mu
func (p *Policy) setRoleBindingLocked(b *rbacv1.RoleBinding) {
	key := nsName{b.Namespace, b.Name}
	ix := p.nsIndex[b.Namespace]
	if ix == nil {
		n := newSubjectIndex()
		ix = &n
		p.nsIndex[b.Namespace] = ix
	}
	if old, ok := p.roleBindings[key]; ok {
		ix.remove(old)
	}
	nb := newBinding(b.Namespace, b.Name, b.RoleRef, b.Subjects)
	p.roleBindings[key] = nb
	ix.add(nb)
}

// DeleteRoleBinding removes a RoleBinding.
func (p *Policy) DeleteRoleBinding(namespace, name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	key := nsName{namespace, name}
	old, ok := p.roleBindings[key]
	if !ok {
		return
	}
	delete(p.roleBindings, key)
	if ix := p.nsIndex[namespace]; ix != nil {
		ix.remove(old)
		if ix.empty() {
			delete(p.nsIndex, namespace)
		}
	}
}

// SetClusterRoleBinding adds or replaces a ClusterRoleBinding.
func (p *Policy) SetClusterRoleBinding(b *rbacv1.ClusterRoleBinding) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.setClusterRoleBindingLocked(b)
}

// +checklocks:p.mu
func (p *Policy) setClusterRoleBindingLocked(b *rbacv1.ClusterRoleBinding) {
	if old, ok := p.clusterRoleBindings[b.Name]; ok {
		p.clusterIndex.remove(old)
	}
	nb := newBinding("", b.Name, b.RoleRef, b.Subjects)
	p.clusterRoleBindings[b.Name] = nb
	p.clusterIndex.add(nb)
}

// DeleteClusterRoleBinding removes a ClusterRoleBinding.
func (p *Policy) DeleteClusterRoleBinding(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	old, ok := p.clusterRoleBindings[name]
	if !ok {
		return
	}
	delete(p.clusterRoleBindings, name)
	p.clusterIndex.remove(old)
}

// Replace sets the whole policy at once, e.g. after the apiserver's initial
// list or a relist.
func (p *Policy) Replace(roles []*rbacv1.Role, clusterRoles []*rbacv1.ClusterRole, roleBindings []*rbacv1.RoleBinding, clusterRoleBindings []*rbacv1.ClusterRoleBinding) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.roles = make(map[nsName]*rbacv1.Role, len(roles))
	for _, r := range roles {
		p.roles[nsName{r.Namespace, r.Name}] = r
	}
	p.clusterRoles = make(map[string]*rbacv1.ClusterRole, len(clusterRoles))
	for _, r := range clusterRoles {
		p.clusterRoles[r.Name] = r
	}
	p.roleBindings = make(map[nsName]*binding, len(roleBindings))
	p.nsIndex = map[string]*subjectIndex{}
	for _, b := range roleBindings {
		p.setRoleBindingLocked(b)
	}
	p.clusterRoleBindings = make(map[string]*binding, len(clusterRoleBindings))
	p.clusterIndex = newSubjectIndex()
	for _, b := range clusterRoleBindings {
		p.setClusterRoleBindingLocked(b)
	}
}

// ClusterRoles returns every ClusterRole, for Aggregate.
func (p *Policy) ClusterRoles() []*rbacv1.ClusterRole {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]*rbacv1.ClusterRole, 0, len(p.clusterRoles))
	for _, r := range p.clusterRoles {
		out = append(out, r)
	}
	return out
}
