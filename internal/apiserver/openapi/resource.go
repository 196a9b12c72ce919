package openapi

import (
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Verbs a Resource or Subresource may list. They are the Kubernetes
// discovery verbs, plus Connect for streaming subresources (exec, attach,
// portforward) which Kubernetes documents as GET and POST "connect"
// operations.
const (
	VerbGet              = "get"
	VerbList             = "list"
	VerbWatch            = "watch"
	VerbCreate           = "create"
	VerbUpdate           = "update"
	VerbPatch            = "patch"
	VerbDelete           = "delete"
	VerbDeleteCollection = "deletecollection"
	VerbConnect          = "connect"
)

// Resource describes one resource the API server serves.
type Resource struct {
	// Kind is the group, version and kind of the resource's objects, e.g.
	// apps/v1 Deployment. Its list kind is Kind+"List". Both must be known
	// to Config.Scheme.
	Kind schema.GroupVersionKind
	// Plural is the resource's name in URLs, e.g. "deployments".
	Plural string
	// Namespaced is true for resources that live in a namespace.
	Namespaced bool
	// Verbs are the operations served on the resource: get, list, watch,
	// create, update, patch, delete, deletecollection.
	Verbs []string
	// Subresources are the resource's subresources, e.g. status or scale.
	Subresources []Subresource
	// DeleteReturnsObject is true if deleting one object answers with the
	// object rather than a Status, as Kubernetes does for pods, services,
	// serviceaccounts, persistentvolumes, persistentvolumeclaims and
	// resourcequotas.
	DeleteReturnsObject bool
}

// Subresource describes one subresource of a Resource.
type Subresource struct {
	// Name is the subresource's path element, e.g. "status", "scale",
	// "binding", "eviction", "token", "log", "exec", "attach",
	// "portforward".
	Name string
	// Kind is the kind of the request and response bodies of get, update,
	// patch and create, e.g. autoscaling/v1 Scale for scale or policy/v1
	// Eviction for eviction. The zero value means the parent's kind (status).
	Kind schema.GroupVersionKind
	// Options is the kind whose fields are the query parameters of get (log:
	// v1 PodLogOptions) and connect (exec: v1 PodExecOptions), if any.
	Options schema.GroupVersionKind
	// Verbs are the operations served: get, update, patch, create, connect.
	Verbs []string
}

// Config is what New builds the documents from.
type Config struct {
	// Scheme knows the Go type of every kind the resources name (objects,
	// lists, subresource bodies and options). Every group-version kind the
	// scheme maps a Go type to is listed in that type's
	// x-kubernetes-group-version-kind.
	Scheme *runtime.Scheme
	// Resources are the resources served.
	Resources []Resource
	// Version is the document's info.version, the Kubernetes version the
	// server speaks, e.g. "v1.37.2".
	Version string
}

var resourceVerbs = []string{VerbGet, VerbList, VerbWatch, VerbCreate, VerbUpdate, VerbPatch, VerbDelete, VerbDeleteCollection}
var subresourceVerbs = []string{VerbGet, VerbUpdate, VerbPatch, VerbCreate, VerbConnect}

// validate reports the first problem with cfg, naming the resource.
func (cfg *Config) validate() error {
	if cfg.Scheme == nil {
		return fmt.Errorf("no scheme")
	}
	seen := map[string]bool{}
	for _, r := range cfg.Resources {
		if r.Kind.Kind == "" || r.Kind.Version == "" || r.Plural == "" {
			return fmt.Errorf("resource %q of %v: kind, version and plural are required", r.Plural, r.Kind)
		}
		key := r.Kind.GroupVersion().String() + "/" + r.Plural
		if seen[key] {
			return fmt.Errorf("resource %s listed twice", key)
		}
		seen[key] = true
		for _, v := range r.Verbs {
			if !slices.Contains(resourceVerbs, v) {
				return fmt.Errorf("resource %s: unknown verb %q", key, v)
			}
		}
		for _, k := range []schema.GroupVersionKind{r.Kind, r.listKind()} {
			if !cfg.Scheme.Recognizes(k) {
				return fmt.Errorf("resource %s: kind %v not in the scheme", key, k)
			}
		}
		for _, s := range r.Subresources {
			if s.Name == "" {
				return fmt.Errorf("resource %s: subresource without a name", key)
			}
			for _, v := range s.Verbs {
				if !slices.Contains(subresourceVerbs, v) {
					return fmt.Errorf("resource %s/%s: unknown verb %q", key, s.Name, v)
				}
			}
			for _, k := range []schema.GroupVersionKind{s.Kind, s.Options} {
				if !k.Empty() && !cfg.Scheme.Recognizes(k) {
					return fmt.Errorf("resource %s/%s: kind %v not in the scheme", key, s.Name, k)
				}
			}
		}
	}
	return nil
}

func (r *Resource) listKind() schema.GroupVersionKind {
	return r.Kind.GroupVersion().WithKind(r.Kind.Kind + "List")
}

func (r *Resource) has(verb string) bool { return slices.Contains(r.Verbs, verb) }

func (s *Subresource) has(verb string) bool { return slices.Contains(s.Verbs, verb) }

// bodyKind is the kind of the subresource's bodies, defaulting to parent's.
func (s *Subresource) bodyKind(parent schema.GroupVersionKind) schema.GroupVersionKind {
	if s.Kind.Empty() {
		return parent
	}
	return s.Kind
}
