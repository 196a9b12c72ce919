package admission

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Objects gives plugins read access to stored objects (through the API
// server's watch caches). Returned objects are shared and must not be
// changed. Errors are API status errors (NotFound when absent).
type Objects interface {
	// Get returns one object (namespace "" for cluster-scoped ones).
	Get(ctx context.Context, gr schema.GroupResource, namespace, name string) (runtime.Object, error)
	// List returns the objects of a resource in a namespace: with
	// consistent, as of a read that sees every acknowledged write; else
	// as the cache holds them (possibly a moment old).
	List(ctx context.Context, gr schema.GroupResource, namespace string, consistent bool) ([]runtime.Object, error)
}

// QuotaStatusWriter records a quota's usage.
type QuotaStatusWriter interface {
	// SetQuotaUsed sets status.hard (to spec.hard) and status.used of the
	// quota namespace/name.
	SetQuotaUsed(ctx context.Context, namespace, name string, used corev1.ResourceList) error
}
