package admission

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// NamespaceGetter reads namespaces for the lifecycle plugin.
type NamespaceGetter interface {
	// GetNamespace returns the namespace, or an apierrors NotFound error.
	// The result is shared and must not be changed.
	GetNamespace(ctx context.Context, name string) (*corev1.Namespace, error)
}

// ImmortalNamespaces may never be deleted.
var ImmortalNamespaces = map[string]bool{"default": true, "kube-system": true, "kube-public": true}

// Lifecycle is the namespace lifecycle plugin: nothing is created in a
// namespace that does not exist or is terminating, and the system
// namespaces cannot be deleted.
type Lifecycle struct {
	Namespaces NamespaceGetter
}

var _ Interface = (*Lifecycle)(nil)

// Mutate implements Interface.Mutate: nothing to change.
func (*Lifecycle) Mutate(context.Context, *Attributes) error { return nil }

// Validate implements Interface.Validate.
func (l *Lifecycle) Validate(ctx context.Context, a *Attributes) error {
	if a.Resource.Group == "" && a.Resource.Resource == "namespaces" {
		if a.Operation == Delete && ImmortalNamespaces[a.Name] {
			return apierrors.NewForbidden(schema.GroupResource{Resource: "namespaces"}, a.Name, fmt.Errorf("this namespace may not be deleted"))
		}
		return nil
	}
	if !a.Resource.Namespaced || a.Operation != Create || a.Subresource != "" {
		return nil
	}
	ns, err := l.Namespaces.GetNamespace(ctx, a.Namespace)
	if err != nil {
		return err
	}
	if ns.Status.Phase == corev1.NamespaceTerminating || ns.DeletionTimestamp != nil {
		return apierrors.NewForbidden(a.Resource.GroupResource(), a.Name,
			fmt.Errorf("unable to create new content in namespace %s because it is being terminated", a.Namespace))
	}
	return nil
}
