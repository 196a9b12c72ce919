// Package authz decides whether an authenticated user may make a request.
// The apiserver pipeline calls an Authorizer after authentication; a denied
// request gets 403 with the Kubernetes message. Only internal/apiserver and
// the server wiring import it.
package authz

import (
	"context"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/podvisor/podvisor/internal/apiserver/authn"
)

// Attributes describe one request to authorize, as Kubernetes'
// authorizer.Attributes.
type Attributes struct {
	User *authn.User
	// Verb is the Kubernetes verb for resource requests (get, list, watch,
	// create, update, patch, delete, deletecollection, impersonate, bind,
	// escalate, use) or the lower-cased HTTP method for non-resource requests.
	Verb string
	// ResourceRequest is false for non-resource paths such as /healthz,
	// /version, /api, /openapi/v2.
	ResourceRequest bool
	// Path is the request path; meaningful for non-resource requests.
	Path string

	APIGroup    string // "" for the core group
	APIVersion  string
	Resource    string // plural, e.g. "pods"
	Subresource string // e.g. "status", "log", "exec"; empty if none
	Namespace   string // empty for cluster-scoped resources and all-namespace lists
	Name        string // empty for list, watch, create, deletecollection

	// FieldSelector is the request's parsed field selector (list, watch,
	// deletecollection), nil if none. The node authorizer lets a node list
	// and watch pods only with spec.nodeName=<itself>.
	FieldSelector fields.Selector
	// LabelSelector is the request's parsed label selector (list, watch,
	// deletecollection), nil if none. The node authorizer lets a node list
	// and watch persistent volumes only with podvisor.io/volume-node=<itself>.
	LabelSelector labels.Selector
}

// Decision is an authorizer's answer.
type Decision int

const (
	// NoOpinion lets the next authorizer in a chain decide; if none allows,
	// the request is denied.
	NoOpinion Decision = iota
	// Allow authorizes the request.
	Allow
	// Deny refuses the request without consulting later authorizers.
	Deny
)

// Authorizer makes authorization decisions.
//
// Authorize is called concurrently from many request goroutines. It returns a
// decision, a human-readable reason (used in 403 messages and in
// SubjectAccessReview status), and an error only when it could not evaluate
// (e.g. a policy source failed); an error never means Allow.
type Authorizer interface {
	Authorize(ctx context.Context, a Attributes) (d Decision, reason string, err error)
}
