// Package admission is the admit stage of the API server's pipeline:
// plugins that may change (Mutate) and then check (Validate) an object on its
// way into storage. The built-in plugins are namespace lifecycle, service
// account, limit range and resource quota; Chain runs several in order. The
// plugins read other objects through the small interfaces defined here,
// which the API server implements over its watch caches. Only
// internal/apiserver imports it.
package admission

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/podvisor/podvisor/internal/apiserver/authn"
	"github.com/podvisor/podvisor/internal/registry"
)

// Operation is what a request does to an object.
type Operation string

// Operations.
const (
	Create  Operation = "CREATE"
	Update  Operation = "UPDATE"
	Delete  Operation = "DELETE"
	Connect Operation = "CONNECT"
)

// Attributes describe one admission request.
type Attributes struct {
	Operation   Operation
	Resource    registry.Info
	Subresource string
	Namespace   string
	Name        string
	// Object is the incoming object (Create, Update); Mutate may change it.
	Object runtime.Object
	// OldObject is the stored object (Update, Delete).
	OldObject runtime.Object
	User      *authn.User
	DryRun    bool
}

// Interface is an admission plugin (or a chain of them).
//
// Mutate runs first and may change a.Object; Validate runs after the
// strategy's validation and must not change anything. Both are called
// concurrently; an error rejects the request and should be an API status
// error (apierrors) with the right code (403 Forbidden for policy, 422 for
// invalid objects); others become 500.
type Interface interface {
	Mutate(ctx context.Context, a *Attributes) error
	Validate(ctx context.Context, a *Attributes) error
}

// Chain runs plugins in order.
type Chain []Interface

// Mutate implements Interface.Mutate.
func (c Chain) Mutate(ctx context.Context, a *Attributes) error {
	for _, p := range c {
		if err := p.Mutate(ctx, a); err != nil {
			return err
		}
	}
	return nil
}

// Validate implements Interface.Validate.
func (c Chain) Validate(ctx context.Context, a *Attributes) error {
	for _, p := range c {
		if err := p.Validate(ctx, a); err != nil {
			return err
		}
	}
	return nil
}
