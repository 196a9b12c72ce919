// Package apply implements server-side apply and field ownership: it merges
// applied configurations into live objects the way kube-apiserver does, and
// keeps every object's metadata.managedFields up to date on ordinary writes.
//
// It is a thin layer over k8s.io/apimachinery/pkg/util/managedfields (the
// field manager kube-apiserver uses) and structured-merge-diff, with a type
// converter built from the OpenAPI models of internal/apiserver/openapi, so
// lists and maps merge as Kubernetes' +listType/+mapType markers say.
//
// Only internal/apiserver (and the server wiring) import this package.
package apply

import (
	"errors"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	"sigs.k8s.io/yaml"
)

// Endpoint is one resource or subresource whose writes are field-managed.
type Endpoint struct {
	// Kind is the resource's kind, e.g. apps/v1 Deployment.
	Kind schema.GroupVersionKind
	// Subresource is "" for the resource itself, or e.g. "status".
	Subresource string
	// ResetFields are the fields writes through this endpoint do not set,
	// each a path of field names: {"status"} for a resource with a status
	// subresource, {"spec"} for that status subresource. Ownership of them
	// is not recorded; resetting their values is the strategy's job.
	ResetFields [][]string
}

// Config is what New builds a Manager from.
type Config struct {
	// Models are the OpenAPI v3 schemas of the served types, by definition
	// name, each kind's schema carrying x-kubernetes-group-version-kind:
	// openapi.Service.Models().
	Models map[string]*spec.Schema
	// Scheme creates, converts and defaults the served Go types.
	Scheme *runtime.Scheme
	// Endpoints are the resources and subresources to manage.
	Endpoints []Endpoint
}

type endpointKey struct {
	kind        schema.GroupVersionKind
	subresource string
}

// Manager manages the fields of the configured endpoints. It is immutable
// after New and safe for concurrent use.
type Manager struct {
	scheme   *runtime.Scheme
	managers map[endpointKey]*managedfields.FieldManager
}

// New builds a field manager for every endpoint of cfg.
func New(cfg Config) (*Manager, error) {
	if cfg.Scheme == nil {
		return nil, errors.New("apply config: no scheme")
	}
	tc, err := managedfields.NewTypeConverter(cfg.Models, false)
	if err != nil {
		return nil, fmt.Errorf("building the type converter from the OpenAPI models: %w", err)
	}
	m := &Manager{scheme: cfg.Scheme, managers: map[endpointKey]*managedfields.FieldManager{}}
	for _, e := range cfg.Endpoints {
		key := endpointKey{e.Kind, e.Subresource}
		if _, dup := m.managers[key]; dup {
			return nil, fmt.Errorf("apply config: endpoint %v %q listed twice", e.Kind, e.Subresource)
		}
		if !cfg.Scheme.Recognizes(e.Kind) {
			return nil, fmt.Errorf("apply config: kind %v not in the scheme", e.Kind)
		}
		var reset map[fieldpath.APIVersion]fieldpath.Filter
		if len(e.ResetFields) > 0 {
			set := fieldpath.NewSet()
			for _, p := range e.ResetFields {
				parts := make([]interface{}, len(p))
				for i, f := range p {
					parts[i] = f
				}
				path, err := fieldpath.MakePath(parts...)
				if err != nil {
					return nil, fmt.Errorf("apply config: reset field %v of %v: %w", p, e.Kind, err)
				}
				set.Insert(path)
			}
			reset = map[fieldpath.APIVersion]fieldpath.Filter{
				fieldpath.APIVersion(e.Kind.GroupVersion().String()): fieldpath.NewExcludeSetFilter(set),
			}
		}
		fm, err := managedfields.NewDefaultFieldManager(tc, runtime.UnsafeObjectConvertor(cfg.Scheme), cfg.Scheme, cfg.Scheme,
			e.Kind, e.Kind.GroupVersion(), e.Subresource, reset)
		if err != nil {
			return nil, fmt.Errorf("field manager for %v %q: %w", e.Kind, e.Subresource, err)
		}
		m.managers[key] = fm
	}
	return m, nil
}

// fieldManager returns the field manager for obj's kind and subresource.
func (m *Manager) fieldManager(obj runtime.Object, subresource string) (*managedfields.FieldManager, schema.GroupVersionKind, error) {
	kinds, _, err := m.scheme.ObjectKinds(obj)
	if err != nil {
		return nil, schema.GroupVersionKind{}, fmt.Errorf("kind of %T: %w", obj, err)
	}
	for _, k := range kinds {
		if fm, ok := m.managers[endpointKey{k, subresource}]; ok {
			return fm, k, nil
		}
	}
	return nil, schema.GroupVersionKind{}, fmt.Errorf("no field manager for %v %q", kinds, subresource)
}

// Apply merges applied, a YAML or JSON apply configuration, into live as
// manager, on the resource itself or, if subresource is not "", on that
// subresource. live is the stored object, or a new empty object of the kind
// when apply creates it. It returns the merged object with its
// managedFields updated, ready for admission and storage.
//
// Errors are Kubernetes StatusErrors the apiserver returns as they are: 409
// Conflict (reason Conflict, one cause of type FieldManagerConflict per
// conflicting field naming its manager) when applied changes fields other
// managers own and force is false, 400 Bad Request for an apply
// configuration that is not YAML, has the wrong apiVersion or kind, names
// another object, sets managedFields, or has fields the schema does not
// know. live is never modified.
func (m *Manager) Apply(live runtime.Object, subresource string, applied []byte, manager string, force bool) (runtime.Object, error) {
	fm, kind, err := m.fieldManager(live, subresource)
	if err != nil {
		return nil, err
	}
	if manager == "" {
		return nil, apierrors.NewBadRequest("fieldManager is required for apply requests")
	}
	patch := &unstructured.Unstructured{Object: map[string]interface{}{}}
	if err := yaml.Unmarshal(applied, &patch.Object); err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("error decoding YAML: %v", err))
	}
	if patch.Object == nil {
		return nil, apierrors.NewBadRequest("the apply configuration is empty")
	}
	if patch.GetAPIVersion() == "" || patch.GetKind() == "" {
		return nil, apierrors.NewBadRequest("apiVersion and kind must be set in an apply configuration")
	}
	if got := patch.GroupVersionKind(); got != kind {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the apply configuration is a %s, not a %s", got, kind))
	}
	liveMeta, err := meta.Accessor(live)
	if err != nil {
		return nil, fmt.Errorf("metadata of the live object: %w", err)
	}
	if name := liveMeta.GetName(); name != "" && patch.GetName() != name {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", patch.GetName(), name))
	}
	if ns := liveMeta.GetNamespace(); ns != "" && patch.GetNamespace() != "" && patch.GetNamespace() != ns {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the namespace of the object (%s) does not match the namespace on the URL (%s)", patch.GetNamespace(), ns))
	}
	out, err := fm.Apply(live.DeepCopyObject(), patch, manager, force)
	if err != nil {
		return nil, statusError(err)
	}
	return out, nil
}

// Update records that manager set obj's fields in an ordinary write
// (create, update, patch) of live, on the resource or on subresource. live
// is nil for a create. It returns obj with its managedFields updated. On
// error — which only a broken schema or corrupt managedFields cause, never
// the request — the returned object is obj with live's managedFields kept,
// and the write should go ahead (the caller logs the error), as Kubernetes
// does.
func (m *Manager) Update(live, obj runtime.Object, subresource, manager string) (runtime.Object, error) {
	fm, kind, err := m.fieldManager(obj, subresource)
	if err != nil {
		return obj, err
	}
	if live == nil {
		if live, err = m.scheme.New(kind); err != nil {
			return obj, fmt.Errorf("new %v: %w", kind, err)
		}
	}
	out, err := fm.Update(live, obj.DeepCopyObject(), manager)
	if err != nil {
		keep := obj.DeepCopyObject()
		if la, aerr := meta.Accessor(live); aerr == nil {
			if oa, aerr := meta.Accessor(keep); aerr == nil {
				oa.SetManagedFields(la.GetManagedFields())
			}
		}
		return keep, fmt.Errorf("updating managed fields of %T: %w", obj, err)
	}
	return out, nil
}

// statusError turns field manager errors into Kubernetes StatusErrors: its
// own (conflicts, bad versions) pass through; the rest are schema
// mismatches of the applied configuration, which are the client's fault.
func statusError(err error) error {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return err
	}
	msg := err.Error()
	// "failed to create typed patch object (apps/v1, Kind=Deployment) ...:
	// .spec.replica: field not declared in schema" names the field at the end.
	if i := strings.LastIndex(msg, "): "); i >= 0 {
		msg = msg[i+3:]
	}
	return apierrors.NewBadRequest("invalid apply configuration: " + msg)
}
