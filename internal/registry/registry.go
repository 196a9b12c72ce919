// Package registry is the contract between the API server's one request
// pipeline and the per-resource strategies under internal/registry/<group>/
// <resource>: a Strategy says what is special about a resource (discovery
// names, defaults, validation, which fields a field selector may use, what
// an update may change), and optional interfaces add subresources and
// special deletion. The pipeline (internal/apiserver) does everything else
// the same way for every resource.
//
// This package also holds the small pieces every strategy shares (Base,
// metadata validation, the scheme of served types). Strategy packages import
// it; internal/apiserver imports it and them; nothing here imports the
// apiserver or storage.
package registry

import (
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Info describes a resource for routing and discovery.
type Info struct {
	Group, Version string
	// Resource is the plural lower-case name used in URLs ("pods").
	Resource string
	// Kind is the object kind ("Pod"); the list kind is Kind+"List".
	Kind string
	// Namespaced resources live in a namespace.
	Namespaced bool
	// ShortNames and Categories are advertised in discovery ("po",
	// "all").
	ShortNames []string
	Categories []string
}

// GroupVersion returns the resource's group and version.
func (i Info) GroupVersion() schema.GroupVersion {
	return schema.GroupVersion{Group: i.Group, Version: i.Version}
}

// GVK returns the resource's kind with its group and version.
func (i Info) GVK() schema.GroupVersionKind { return i.GroupVersion().WithKind(i.Kind) }

// ListGVK returns the kind of the resource's lists.
func (i Info) ListGVK() schema.GroupVersionKind { return i.GroupVersion().WithKind(i.Kind + "List") }

// GroupResource returns the resource's group and plural name.
func (i Info) GroupResource() schema.GroupResource {
	return schema.GroupResource{Group: i.Group, Resource: i.Resource}
}

// Strategy is what the pipeline needs to know about one resource. Methods
// are called concurrently and must not keep the objects they are given.
type Strategy interface {
	Info() Info
	// New returns an empty object; NewList an empty list.
	New() runtime.Object
	NewList() runtime.Object
	// Default fills in defaults on a decoded object, before admission.
	Default(obj runtime.Object)
	// PrepareForCreate normalizes a new object: clears status where the
	// client may not set it, sets initial state.
	PrepareForCreate(obj runtime.Object)
	// Validate checks a new object.
	Validate(obj runtime.Object) field.ErrorList
	// PrepareForUpdate normalizes obj, an update of old: keeps what the
	// main resource may not change (status), bumps generation on spec
	// changes.
	PrepareForUpdate(obj, old runtime.Object)
	// ValidateUpdate checks an update (immutable fields and all of
	// Validate).
	ValidateUpdate(obj, old runtime.Object) field.ErrorList
	// Attrs returns the labels and the fields a field selector may use,
	// metadata.name and metadata.namespace included.
	Attrs(obj runtime.Object) (labels.Set, fields.Set, error)
}

// StatusStrategy is implemented by resources with a status subresource
// (those whose HasStatusSubresource says so: Base implements the methods
// for everyone).
type StatusStrategy interface {
	HasStatusSubresource() bool
	// PrepareForStatusUpdate keeps everything of old but the status.
	PrepareForStatusUpdate(obj, old runtime.Object)
	ValidateStatusUpdate(obj, old runtime.Object) field.ErrorList
}

// Scaler is implemented by resources with a scale subresource.
type Scaler interface {
	// Scale describes obj's scale (spec.replicas, status.replicas and the
	// selector as a string).
	Scale(obj runtime.Object) (*autoscalingv1.Scale, error)
	// SetReplicas sets obj's desired replicas.
	SetReplicas(obj runtime.Object, replicas int32)
}

// Deleter is implemented by resources whose deletion may not be immediate
// beyond finalizers: pods (graceful deletion) and namespaces (Terminating).
type Deleter interface {
	// BeforeDelete prepares obj, the current object, for deletion with
	// options opts at time now. It returns true if the object must stay
	// (updated as obj) rather than be removed now; then the pipeline also
	// sets deletionTimestamp. It may change opts.GracePeriodSeconds.
	BeforeDelete(obj runtime.Object, opts *metav1.DeleteOptions, now time.Time) (keep bool)
}

// CreateOnUpdater is implemented by resources that a PUT may create.
type CreateOnUpdater interface {
	AllowCreateOnUpdate() bool
}

// DeletedObjectReturner is implemented by resources whose DELETE answers
// with the deleted object rather than a Status.
type DeletedObjectReturner interface {
	ReturnDeletedObject() bool
}

// Tabler is implemented by strategies that print their own table rows for
// `kubectl get`, overriding the shared printers.
type Tabler interface {
	Table(obj runtime.Object, now time.Time) (*metav1.Table, error)
}
