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
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

// Manager manages the fields of the configured endpoints. It is safe for
// concurrent use; only its cache of creates changes after New.
type Manager struct {
	scheme   *runtime.Scheme
	managers map[endpointKey]*managedfields.FieldManager

	createMu sync.Mutex
	// created remembers the managedFields entry (without its time) that
	// creating an object got, by endpoint, manager and the object's
	// content: see Update. At most maxCreated entries.
	// +checklocks:createMu
	created map[createKey]metav1.ManagedFieldsEntry
}

// createKey identifies a create whose managedFields entry is known.
type createKey struct {
	fm      *managedfields.FieldManager
	manager string
	// content is the SHA-256 of the object's JSON without the metadata
	// the field manager leaves out of field sets (name, namespace, uid,
	// creationTimestamp, ...): objects that differ only there own the
	// same fields.
	content [sha256.Size]byte
}

// maxCreated bounds the create cache; when full it starts over. Entries
// are a few hundred bytes: a controller creating pods from one template
// hits one entry.
const maxCreated = 4096

// New builds a field manager for every endpoint of cfg.
func New(cfg Config) (*Manager, error) {
	if cfg.Scheme == nil {
		return nil, errors.New("apply config: no scheme")
	}
	tc, err := managedfields.NewTypeConverter(cfg.Models, false)
	if err != nil {
		return nil, fmt.Errorf("building the type converter from the OpenAPI models: %w", err)
	}
	m := &Manager{scheme: cfg.Scheme, managers: map[endpointKey]*managedfields.FieldManager{}, created: map[createKey]metav1.ManagedFieldsEntry{}}
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
// does. obj is not modified.
//
// A create is where the field manager costs most (a typed walk and
// comparison of the whole object, about half of a pod create's CPU), and
// creates repeat themselves: a controller creates many pods from one
// template. The field set a create records depends only on the object's
// content outside the per-object metadata the field manager strips (name,
// namespace, uid, creationTimestamp, ...), so creates of objects whose
// remaining content (as JSON, which is what the field manager walks) is the
// same get the remembered entry with a fresh time, byte for byte what the
// field manager would have computed.
func (m *Manager) Update(live, obj runtime.Object, subresource, manager string) (runtime.Object, error) {
	fm, kind, err := m.fieldManager(obj, subresource)
	if err != nil {
		return obj, err
	}
	var (
		key    createKey
		cached bool
	)
	if live == nil {
		key, cached = createKeyOf(fm, obj, manager)
		if cached {
			m.createMu.Lock()
			e, hit := m.created[key]
			m.createMu.Unlock()
			if hit {
				out := obj.DeepCopyObject()
				if a, err := meta.Accessor(out); err == nil {
					e.FieldsV1 = &metav1.FieldsV1{Raw: append([]byte(nil), e.FieldsV1.Raw...)}
					e.Time = &metav1.Time{Time: time.Now().UTC()}
					a.SetManagedFields([]metav1.ManagedFieldsEntry{e})
					return out, nil
				}
			}
		}
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
	if cached {
		m.remember(key, out)
	}
	return out, nil
}

// remember caches the managedFields entry of a create's result, if it
// has exactly one (the creating manager's).
func (m *Manager) remember(key createKey, out runtime.Object) {
	a, err := meta.Accessor(out)
	if err != nil {
		return
	}
	mf := a.GetManagedFields()
	if len(mf) != 1 || mf[0].FieldsV1 == nil {
		return
	}
	e := *mf[0].DeepCopy()
	e.Time = nil
	m.createMu.Lock()
	defer m.createMu.Unlock()
	if len(m.created) >= maxCreated {
		clear(m.created)
	}
	m.created[key] = e
}

// createKeyOf returns the cache key of a create of obj, and false when
// the create cannot use the cache: obj brings its own managedFields (the
// field manager then starts from those), or obj is not a typed object with
// embedded metadata.
func createKeyOf(fm *managedfields.FieldManager, obj runtime.Object, manager string) (createKey, bool) {
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return createKey{}, false
	}
	f, ok := v.Elem().Type().FieldByName("ObjectMeta")
	if !ok || !f.Anonymous || f.Type != reflect.TypeFor[metav1.ObjectMeta]() {
		return createKey{}, false
	}
	// A shallow copy whose metadata is a copy with the stripped fields
	// cleared: obj is not written to.
	cp := reflect.New(v.Elem().Type())
	cp.Elem().Set(v.Elem())
	om := cp.Elem().FieldByIndex(f.Index).Addr().Interface().(*metav1.ObjectMeta)
	if om.ManagedFields != nil {
		return createKey{}, false
	}
	om.Name, om.Namespace, om.UID, om.SelfLink, om.ResourceVersion = "", "", "", "", ""
	om.Generation, om.CreationTimestamp = 0, metav1.Time{}
	data, err := json.Marshal(cp.Interface())
	if err != nil {
		return createKey{}, false
	}
	return createKey{fm: fm, manager: manager, content: sha256.Sum256(data)}, true
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
