// Package node is the node authorizer: it lets a node identity
// (system:node:<name> in group system:nodes) touch its own Node, Lease and
// pods and read exactly the secrets, configmaps, claims, volumes and
// service accounts its pods use, as Kubernetes' Node authorization mode;
// and, beyond Kubernetes, maintain the persistent volumes pinned to it
// (local-path volumes its agent cleans up; see persistentVolume).
// For other resources it applies the system:node rules of the default
// policy; anything else gets NoOpinion, so RBAC or the final deny decides.
//
// Which objects a node may reach comes from a Graph the apiserver feeds
// from its watch of pods, persistent volume claims and persistent
// volumes. Only the apiserver and the server wiring import it.
package node

import (
	"context"
	"errors"
	"fmt"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/podvisor/podvisor/internal/apiserver/authn"
	"github.com/podvisor/podvisor/internal/apiserver/authz"
	"github.com/podvisor/podvisor/internal/apiserver/authz/bootstrappolicy"
	"github.com/podvisor/podvisor/internal/apiserver/authz/rbac"
	"github.com/podvisor/podvisor/internal/localpv"
)

// Authorizer authorizes node identities.
type Authorizer struct {
	graph *Graph
	rules []rbacv1.PolicyRule
}

var (
	_ authz.Authorizer   = (*Authorizer)(nil)
	_ authz.RuleResolver = (*Authorizer)(nil)
)

// New returns a node authorizer reading g, applying the default system:node
// rules to resources it does not restrict itself.
func New(g *Graph) *Authorizer {
	return &Authorizer{graph: g, rules: bootstrappolicy.NodeRules()}
}

// Authorize implements authz.Authorizer.Authorize. It never denies: a
// request it does not allow gets NoOpinion with a reason saying why.
func (az *Authorizer) Authorize(_ context.Context, a authz.Attributes) (authz.Decision, string, error) {
	node, isNode := authn.NodeIdentity(a.User)
	if !isNode {
		return authz.NoOpinion, "", nil
	}
	if node == "" {
		return authz.NoOpinion, fmt.Sprintf("unknown node for user %q", a.User.Name), nil
	}
	if a.ResourceRequest {
		switch {
		case a.APIGroup == "" && a.Resource == "secrets":
			return az.readNamespaced(node, secretKind, &a)
		case a.APIGroup == "" && a.Resource == "configmaps":
			return az.readNamespaced(node, configMapKind, &a)
		case a.APIGroup == "" && a.Resource == "persistentvolumeclaims":
			if a.Subresource == "status" {
				return az.pvcStatus(node, &a)
			}
			return az.get(node, &a, func() bool { return az.graph.reaches(node, ref{kind: pvcKind, namespace: a.Namespace, name: a.Name}) })
		case a.APIGroup == "" && a.Resource == "persistentvolumes":
			return az.persistentVolume(node, &a)
		case a.APIGroup == "" && a.Resource == "serviceaccounts":
			return az.serviceAccount(node, &a)
		case a.APIGroup == "coordination.k8s.io" && a.Resource == "leases":
			return az.lease(node, &a)
		case a.APIGroup == "" && a.Resource == "nodes":
			return az.nodeObject(node, &a)
		case a.APIGroup == "" && a.Resource == "pods":
			return az.pod(node, &a)
		}
	}
	if rbac.RulesAllow(&a, az.rules) {
		return authz.Allow, "", nil
	}
	return authz.NoOpinion, "", nil
}

func noRelationship(node string) string {
	return fmt.Sprintf("no relationship found between node '%s' and this object", node)
}

// name returns the request's object name: its name, or for list and watch
// the value of an exact metadata.name field selector.
func name(a *authz.Attributes) string {
	if a.Name != "" {
		return a.Name
	}
	if a.FieldSelector != nil {
		if v, ok := a.FieldSelector.RequiresExactMatch("metadata.name"); ok {
			return v
		}
	}
	return ""
}

// readNamespaced allows get, list and watch of one named object its pods
// use.
func (az *Authorizer) readNamespaced(node string, k kind, a *authz.Attributes) (authz.Decision, string, error) {
	switch a.Verb {
	case "get", "list", "watch":
	default:
		return authz.NoOpinion, "can only read resources of this type", nil
	}
	if a.Subresource != "" {
		return authz.NoOpinion, "cannot read subresource", nil
	}
	if a.Namespace == "" {
		return authz.NoOpinion, "can only read namespaced object of this type", nil
	}
	n := name(a)
	if n == "" {
		return authz.NoOpinion, "No Object name found", nil
	}
	reached := false
	if k == secretKind {
		reached = az.graph.reachesSecret(node, a.Namespace, n)
	} else {
		reached = az.graph.reaches(node, ref{kind: k, namespace: a.Namespace, name: n})
	}
	if !reached {
		return authz.NoOpinion, noRelationship(node), nil
	}
	return authz.Allow, "", nil
}

// get allows get of one object for which related reports a relationship.
func (az *Authorizer) get(node string, a *authz.Attributes, related func() bool) (authz.Decision, string, error) {
	if a.Verb != "get" {
		return authz.NoOpinion, "can only get individual resources of this type", nil
	}
	if a.Subresource != "" {
		return authz.NoOpinion, "cannot get subresource", nil
	}
	if a.Name == "" {
		return authz.NoOpinion, "No Object name found", nil
	}
	if !related() {
		return authz.NoOpinion, noRelationship(node), nil
	}
	return authz.Allow, "", nil
}

func (az *Authorizer) pvcStatus(node string, a *authz.Attributes) (authz.Decision, string, error) {
	switch a.Verb {
	case "update", "patch":
	default:
		return authz.NoOpinion, "can only get/update/patch this type", nil
	}
	if a.Name == "" {
		return authz.NoOpinion, "No Object name found", nil
	}
	if !az.graph.reaches(node, ref{kind: pvcKind, namespace: a.Namespace, name: a.Name}) {
		return authz.NoOpinion, noRelationship(node), nil
	}
	return authz.Allow, "", nil
}

// serviceAccount allows reading the service accounts of its pods and
// creating tokens for them.
func (az *Authorizer) serviceAccount(node string, a *authz.Attributes) (authz.Decision, string, error) {
	if a.Verb == "get" && a.Subresource == "" {
		return az.readNamespaced(node, serviceAccountKind, a)
	}
	if a.Verb != "create" || a.Name == "" {
		return authz.NoOpinion, "can only create tokens for individual service accounts", nil
	}
	if a.Subresource != "token" {
		return authz.NoOpinion, "can only create token subresource of serviceaccount", nil
	}
	if !az.graph.reaches(node, ref{kind: serviceAccountKind, namespace: a.Namespace, name: a.Name}) {
		return authz.NoOpinion, noRelationship(node), nil
	}
	return authz.Allow, "", nil
}

// lease allows managing the node's own Lease in kube-node-lease.
func (az *Authorizer) lease(node string, a *authz.Attributes) (authz.Decision, string, error) {
	switch a.Verb {
	case "get", "create", "update", "patch", "delete":
	default:
		return authz.NoOpinion, "can only get, create, update, patch, or delete a node lease", nil
	}
	if a.Namespace != corev1.NamespaceNodeLease {
		return authz.NoOpinion, fmt.Sprintf("can only access leases in the %q system namespace", corev1.NamespaceNodeLease), nil
	}
	// The name of a created object is not known here; the apiserver's
	// admission checks a node creates only its own lease.
	if a.Verb != "create" && a.Name != node {
		return authz.NoOpinion, "can only access node lease with the same name as the requesting node", nil
	}
	return authz.Allow, "", nil
}

// nodeObject allows creating Nodes, reading all of them (the proxy and DNS
// need them), and updating or patching the node's own Node and status.
func (az *Authorizer) nodeObject(node string, a *authz.Attributes) (authz.Decision, string, error) {
	switch a.Subresource {
	case "":
		switch a.Verb {
		case "create", "get", "list", "watch":
			// Create carries no name here; the apiserver's admission
			// checks a node registers only itself.
			return authz.Allow, "", nil
		case "update", "patch":
			if a.Name != node {
				return authz.NoOpinion, fmt.Sprintf("node '%s' cannot modify node '%s'", node, a.Name), nil
			}
			return authz.Allow, "", nil
		}
	case "status":
		switch a.Verb {
		case "get", "update", "patch":
			if a.Name != node {
				return authz.NoOpinion, fmt.Sprintf("node '%s' cannot modify node '%s'", node, a.Name), nil
			}
			return authz.Allow, "", nil
		}
	}
	return authz.NoOpinion, "", nil
}

// pod allows reading the pods bound to the node (get by name, list and
// watch with spec.nodeName=<node>), creating and deleting its mirror pods,
// updating their status and evicting them.
func (az *Authorizer) pod(node string, a *authz.Attributes) (authz.Decision, string, error) {
	bound := func() (authz.Decision, string, error) {
		if a.Name == "" {
			return authz.NoOpinion, "No Object name found", nil
		}
		if !az.graph.podOnNode(node, a.Namespace, a.Name) {
			return authz.NoOpinion, noRelationship(node), nil
		}
		return authz.Allow, "", nil
	}
	switch a.Subresource {
	case "":
		switch a.Verb {
		case "get":
			return bound()
		case "list", "watch":
			if a.FieldSelector != nil {
				if v, ok := a.FieldSelector.RequiresExactMatch("spec.nodeName"); ok && v == node {
					return authz.Allow, "", nil
				}
			}
			if a.Name != "" {
				return bound()
			}
			return authz.NoOpinion, "can only list/watch pods with spec.nodeName field selector", nil
		case "create":
			// Mirror pods of static manifests; the name is not known here.
			return authz.Allow, "", nil
		case "delete":
			return bound()
		}
	case "status":
		if a.Verb == "update" || a.Verb == "patch" {
			return bound()
		}
	case "eviction":
		if a.Verb == "create" {
			return bound()
		}
	}
	return authz.NoOpinion, "", nil
}

// RulesFor implements authz.RuleResolver.RulesFor: node permissions depend
// on the graph and cannot be listed, so a node gets incomplete=true, as in
// Kubernetes; other users get nothing from this authorizer.
func (az *Authorizer) RulesFor(_ context.Context, u *authn.User, _ string) ([]authorizationv1.ResourceRule, []authorizationv1.NonResourceRule, bool, error) {
	if _, isNode := authn.NodeIdentity(u); isNode {
		return nil, nil, true, errors.New("node authorizer does not support user rule resolution")
	}
	return nil, nil, false, nil
}

// persistentVolume lets a node get the volumes its pods' claims are bound
// to, and, for the volumes pinned to it (localpv.PinnedNode: local
// volumes, whose directories its agent removes once they are deleted,
// podvisor.io/local-path-cleanup finalizer), get, update and patch them
// and their status, and list and watch them with the label selector
// podvisor.io/volume-node=<node>, which the API server keeps on every
// pinned volume. NodeRestriction admission then allows only changes to
// their finalizers, labels, annotations and status. A node may not create
// or delete volumes, nor list or watch them without that selector.
func (az *Authorizer) persistentVolume(node string, a *authz.Attributes) (authz.Decision, string, error) {
	pinned := func() (authz.Decision, string, error) {
		if a.Name == "" {
			return authz.NoOpinion, "No Object name found", nil
		}
		if !az.graph.volumePinned(node, a.Name) {
			return authz.NoOpinion, noRelationship(node), nil
		}
		return authz.Allow, "", nil
	}
	switch a.Subresource {
	case "":
		switch a.Verb {
		case "get":
			if a.Name != "" && az.graph.volumePinned(node, a.Name) {
				return authz.Allow, "", nil
			}
			return az.get(node, a, func() bool { return az.graph.reachesVolume(node, a.Name) })
		case "list", "watch":
			if a.LabelSelector != nil {
				if v, ok := a.LabelSelector.RequiresExactMatch(localpv.NodeLabel); ok && v == node {
					return authz.Allow, "", nil
				}
			}
			return authz.NoOpinion, fmt.Sprintf("can only list/watch persistent volumes with the %s=%s label selector", localpv.NodeLabel, node), nil
		case "update", "patch":
			return pinned()
		}
	case "status":
		switch a.Verb {
		case "get", "update", "patch":
			return pinned()
		}
	default:
		return authz.NoOpinion, "cannot access subresource", nil
	}
	return authz.NoOpinion, "can only get, list, watch, update or patch persistent volumes", nil
}
