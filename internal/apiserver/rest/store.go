// Package rest is the store stage of the API server's pipeline: one
// generic Store per resource that turns API operations (get, list, watch,
// create, update, delete) into storage calls, applying the resource's
// strategy and the admission plugins on the way and filling in what the
// server owns in metadata (uid, creationTimestamp, generation,
// deletionTimestamp). Errors it returns are API status errors (apierrors).
// Only internal/apiserver imports it.
package rest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/podvisor/podvisor/internal/apiserver/admission"
	"github.com/podvisor/podvisor/internal/apiserver/authn"
	"github.com/podvisor/podvisor/internal/registry"
	"github.com/podvisor/podvisor/internal/storage"
)

// Allocation is what a hook reserved for an object: side keys written in
// the object's own transaction (e.g. "cluster IP 10.43.0.7 is taken").
type Allocation interface {
	// SideKeys returns the keys to write with the object.
	SideKeys() []storage.SideKey
	// Retake is called when key turned out to be taken by someone else:
	// it picks another value (changing the object accordingly) or returns
	// an API error if the value was the client's choice.
	Retake(key string) error
}

// Hooks let the server attach resource-specific work that needs storage
// (allocating cluster IPs and node ports for Services) to the generic flow.
// Every hook may be nil.
type Hooks struct {
	// BeforeCreate runs after validation, before the object is stored; it
	// may change obj (e.g. set spec.clusterIP). A nil Allocation means
	// nothing to reserve.
	BeforeCreate func(ctx context.Context, obj runtime.Object) (Allocation, error)
	// BeforeUpdate is BeforeCreate for updates; old is the stored object.
	BeforeUpdate func(ctx context.Context, obj, old runtime.Object) (Allocation, error)
	// OnDelete returns the side keys to write when obj is deleted (e.g.
	// releasing its cluster IP).
	OnDelete func(obj runtime.Object) []storage.SideKey
}

// FieldManager records which manager set which fields (managedFields).
type FieldManager interface {
	// Update returns obj with its managedFields updated for a write of
	// live (nil on create) by manager through subresource. It never fails
	// a write: on trouble it returns obj with live's managedFields.
	Update(live, obj runtime.Object, subresource, manager string) runtime.Object
}

// SystemManager is the field manager of the server's own writes.
const SystemManager = "podvisor-apiserver"

// Config configures a Store.
type Config struct {
	Strategy  registry.Strategy
	Admission admission.Interface
	Hooks     Hooks
	// Fields tracks managedFields; nil tracks nothing.
	Fields FieldManager
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Store serves one resource.
type Store struct {
	strategy registry.Strategy
	info     registry.Info
	adm      admission.Interface
	fields   FieldManager
	hooks    Hooks
	now      func() time.Time
	store    *storage.Store
	cache    *storage.Cache
	prefix   string
	gvk      schema.GroupVersionKind
	log      *slog.Logger
}

// New returns the store of cfg.Strategy's resource over store, with its
// own watch cache; call Start before serving.
func New(cfg Config, store *storage.Store, log *slog.Logger) *Store {
	info := cfg.Strategy.Info()
	s := &Store{
		strategy: cfg.Strategy, info: info, adm: cfg.Admission, hooks: cfg.Hooks, now: cfg.Now, fields: cfg.Fields,
		store: store, prefix: storage.Key(info.Group, info.Resource, "", ""), gvk: info.GVK(),
		log: log.With("resource", info.GroupResource().String()),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.adm == nil {
		s.adm = admission.Chain(nil)
	}
	s.cache = storage.NewCache(storage.CacheConfig{
		Prefix: s.prefix, NewObj: s.newObj, Attrs: cfg.Strategy.Attrs,
	}, store, s.log)
	return s
}

// Start starts the watch cache.
func (s *Store) Start(ctx context.Context) { s.cache.Start(ctx) }

// Stop stops the watch cache and its watchers.
func (s *Store) Stop() { s.cache.Stop() }

// Ready is closed once the cache is loaded.
func (s *Store) Ready() <-chan struct{} { return s.cache.Ready() }

// Strategy returns the resource's strategy.
func (s *Store) Strategy() registry.Strategy { return s.strategy }

// Info returns the resource's description.
func (s *Store) Info() registry.Info { return s.info }

// Cache returns the resource's watch cache.
func (s *Store) Cache() *storage.Cache { return s.cache }

func (s *Store) newObj() runtime.Object {
	obj := s.strategy.New()
	obj.GetObjectKind().SetGroupVersionKind(s.gvk)
	return obj
}

// Key returns the etcd key of an object; name "" gives the prefix of the
// namespace ("" namespace: of the whole resource).
func (s *Store) Key(namespace, name string) string {
	if !s.info.Namespaced {
		namespace = ""
	}
	return storage.Key(s.info.Group, s.info.Resource, namespace, name)
}

// Err converts a storage error about name into an API status error.
func (s *Store) Err(err error, name string) error {
	return ToStatus(err, s.info.GroupResource(), name)
}

// ToStatus converts a storage error into an API status error.
func ToStatus(err error, gr schema.GroupResource, name string) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(apierrors.APIStatus); ok {
		return err
	}
	var se *storage.Error
	msg := err.Error()
	if errors.As(err, &se) && se.Msg != "" {
		msg = se.Msg
	}
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return apierrors.NewNotFound(gr, name)
	case errors.Is(err, storage.ErrExists):
		return apierrors.NewAlreadyExists(gr, name)
	case errors.Is(err, storage.ErrConflict):
		return apierrors.NewConflict(gr, name, errors.New(msg))
	case errors.Is(err, storage.ErrGone):
		return apierrors.NewResourceExpired(msg)
	case errors.Is(err, storage.ErrTooLarge):
		e := apierrors.NewTimeoutError(msg, 1)
		e.ErrStatus.Details.Causes = []metav1.StatusCause{{Type: metav1.CauseTypeResourceVersionTooLarge, Message: msg}}
		return e
	case errors.Is(err, storage.ErrInvalid):
		return apierrors.NewBadRequest(msg)
	case errors.Is(err, context.DeadlineExceeded):
		return apierrors.NewTimeoutError("request did not complete in time", 1)
	case errors.Is(err, context.Canceled):
		return apierrors.NewTimeoutError("request was cancelled", 0)
	}
	return apierrors.NewInternalError(err)
}

// readOptions turns a request's resourceVersion and resourceVersionMatch
// into cache read options. exact is true for resourceVersionMatch=Exact.
func readOptions(rv, match string) (ro storage.ReadOptions, exact bool, err error) {
	switch match {
	case "", string(metav1.ResourceVersionMatchNotOlderThan), string(metav1.ResourceVersionMatchExact):
	default:
		return ro, false, apierrors.NewBadRequest(fmt.Sprintf("resourceVersionMatch: unsupported value %q", match))
	}
	if rv == "" {
		if match != "" {
			return ro, false, apierrors.NewBadRequest("resourceVersionMatch is forbidden unless resourceVersion is provided")
		}
		return storage.ReadOptions{Consistent: true}, false, nil
	}
	n, err := storage.ParseResourceVersion(rv)
	if err != nil {
		return ro, false, apierrors.NewBadRequest(err.(*storage.Error).Msg)
	}
	if match == string(metav1.ResourceVersionMatchExact) {
		if n == 0 {
			return ro, false, apierrors.NewBadRequest("resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"")
		}
		return storage.ReadOptions{MinRev: n}, true, nil
	}
	return storage.ReadOptions{MinRev: n}, false, nil
}

// Get returns the object namespace/name. rv is the request's
// resourceVersion ("" for the latest).
func (s *Store) Get(ctx context.Context, namespace, name, rv string) (*storage.Entry, error) {
	ro, _, err := readOptions(rv, "")
	if err != nil {
		return nil, err
	}
	e, err := s.cache.Get(ctx, s.Key(namespace, name), ro)
	if err != nil {
		return nil, s.Err(err, name)
	}
	return e, nil
}

// List lists the objects of namespace ("" for all) matching pred.
func (s *Store) List(ctx context.Context, namespace string, opts *metav1.ListOptions, pred storage.Predicate) (*storage.ListResult, error) {
	ro, exact, err := readOptions(opts.ResourceVersion, string(opts.ResourceVersionMatch))
	if err != nil {
		return nil, err
	}
	if opts.Continue != "" && opts.ResourceVersion != "" && opts.ResourceVersion != "0" {
		return nil, apierrors.NewBadRequest("specifying resource version is not allowed when using continue")
	}
	lo := storage.ListOptions{Limit: opts.Limit, Continue: opts.Continue, Predicate: pred}
	if exact {
		lo.Rev = ro.MinRev
	}
	if opts.ResourceVersion == "0" && opts.Continue == "" {
		// "Any" state: served whole from the cache, as Kubernetes does.
		lo.Limit = 0
	}
	res, err := s.cache.List(ctx, s.Key(namespace, ""), lo, ro, exact)
	if err != nil {
		return nil, s.Err(err, "")
	}
	return res, nil
}

// Watch watches the objects of namespace ("" for all) matching pred.
func (s *Store) Watch(ctx context.Context, namespace string, opts *metav1.ListOptions, pred storage.Predicate) (storage.Watcher, error) {
	wo := storage.CacheWatchOptions{WatchOptions: storage.WatchOptions{
		Recursive: true, Predicate: pred, Bookmarks: opts.AllowWatchBookmarks,
	}}
	send := opts.SendInitialEvents
	switch {
	case send != nil && *send:
		if opts.ResourceVersionMatch != metav1.ResourceVersionMatchNotOlderThan {
			return nil, apierrors.NewBadRequest("sendInitialEvents requires resourceVersionMatch=NotOlderThan")
		}
		if !opts.AllowWatchBookmarks {
			return nil, apierrors.NewBadRequest("sendInitialEvents requires allowWatchBookmarks=true")
		}
		wo.Initial, wo.InitialEventsEnd = true, true
		if opts.ResourceVersion == "" {
			wo.Consistent = true
		} else if rv, err := storage.ParseResourceVersion(opts.ResourceVersion); err != nil {
			return nil, apierrors.NewBadRequest(err.(*storage.Error).Msg)
		} else {
			wo.MinRev = rv
		}
	case send != nil && !*send:
		if opts.ResourceVersionMatch != "" && opts.ResourceVersionMatch != metav1.ResourceVersionMatchNotOlderThan {
			return nil, apierrors.NewBadRequest("resourceVersionMatch must be NotOlderThan with sendInitialEvents")
		}
		rv, err := storage.ParseResourceVersion(opts.ResourceVersion)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.(*storage.Error).Msg)
		}
		wo.Rev = rv
	case opts.ResourceVersionMatch != "":
		return nil, apierrors.NewBadRequest("resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided")
	case opts.ResourceVersion == "":
		// Legacy semantics: the current state as Added events, then
		// changes.
		wo.Initial, wo.Consistent = true, true
	case opts.ResourceVersion == "0":
		wo.Initial = true
	default:
		rv, err := storage.ParseResourceVersion(opts.ResourceVersion)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.(*storage.Error).Msg)
		}
		wo.Rev = rv
	}
	w, err := s.cache.Watch(ctx, s.Key(namespace, ""), wo)
	if err != nil {
		return nil, s.Err(err, "")
	}
	return w, nil
}

// CreateOptions modify a create.
type CreateOptions struct {
	DryRun bool
	User   *authn.User
	// FieldManager names the writer in managedFields; "" is the server.
	FieldManager string
	// Applied: obj comes from server-side apply, whose managedFields are
	// already set.
	Applied bool
	// Subresource is set when a subresource creates this object.
	Subresource string
}

const nameChars = "bcdfghjklmnpqrstvwxz2456789"

func generateName(base string) string {
	const maxBase = 63 - 5
	if len(base) > maxBase {
		base = base[:maxBase]
	}
	var b strings.Builder
	b.WriteString(base)
	for i := 0; i < 5; i++ {
		b.WriteByte(nameChars[rand.IntN(len(nameChars))])
	}
	return b.String()
}

// Create stores a new object. obj is owned by the store from now on.
func (s *Store) Create(ctx context.Context, obj runtime.Object, opts CreateOptions) (runtime.Object, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	if !s.info.Namespaced {
		m.SetNamespace("")
	}
	generated := m.GetName() == "" && m.GetGenerateName() != ""
	if generated {
		m.SetName(generateName(m.GetGenerateName()))
	}
	m.SetUID(types.UID(uuid.NewUUID()))
	m.SetCreationTimestamp(metav1.NewTime(s.now().Truncate(time.Second)))
	m.SetDeletionTimestamp(nil)
	m.SetDeletionGracePeriodSeconds(nil)
	m.SetResourceVersion("")
	m.SetSelfLink("")
	obj.GetObjectKind().SetGroupVersionKind(s.gvk)
	s.strategy.PrepareForCreate(obj)
	if s.fields != nil && !opts.Applied {
		obj = s.fields.Update(nil, obj, opts.Subresource, managerName(opts.FieldManager))
		if m, err = meta.Accessor(obj); err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
	}

	a := &admission.Attributes{Operation: admission.Create, Resource: s.info, Subresource: opts.Subresource,
		Namespace: m.GetNamespace(), Name: m.GetName(), Object: obj, User: opts.User, DryRun: opts.DryRun}
	if err := s.adm.Mutate(ctx, a); err != nil {
		return nil, err
	}
	if errs := s.strategy.Validate(obj); len(errs) > 0 {
		return nil, s.invalid(m.GetName(), errs)
	}
	if err := s.adm.Validate(ctx, a); err != nil {
		return nil, err
	}
	var alloc Allocation
	if s.hooks.BeforeCreate != nil {
		if alloc, err = s.hooks.BeforeCreate(ctx, obj); err != nil {
			return nil, err
		}
	}
	if opts.DryRun {
		return obj, nil
	}
	for attempt := 0; ; attempt++ {
		var side []storage.SideKey
		if alloc != nil {
			side = alloc.SideKeys()
		}
		_, err = s.store.Create(ctx, s.Key(m.GetNamespace(), m.GetName()), obj, side...)
		var se *storage.Error
		switch {
		case err == nil:
			return obj, nil
		case errors.Is(err, storage.ErrSideKeyTaken) && errors.As(err, &se) && alloc != nil && attempt < 100:
			if err := alloc.Retake(se.Key); err != nil {
				return nil, err
			}
		case errors.Is(err, storage.ErrExists) && generated && attempt < 8:
			m.SetName(generateName(m.GetGenerateName()))
		default:
			return nil, s.Err(err, m.GetName())
		}
	}
}

func (s *Store) invalid(name string, errs field.ErrorList) error {
	return apierrors.NewInvalid(s.gvk.GroupKind(), name, errs)
}

// UpdateFunc computes the object to store from the current one (nil if
// there is none). It returns a new object; cur must not be changed.
type UpdateFunc func(ctx context.Context, cur runtime.Object) (runtime.Object, error)

// UpdateOptions modify an update.
type UpdateOptions struct {
	DryRun bool
	User   *authn.User
	// FieldManager names the writer in managedFields; "" is the server.
	FieldManager string
	// Applied: the update function does server-side apply, which sets
	// managedFields itself.
	Applied bool
	// Subresource is "" for the main resource, or "status", ... .
	Subresource string
	// Prepare replaces the strategy's PrepareForUpdate (for subresources
	// with their own rules, such as namespaces/finalize).
	Prepare func(obj, old runtime.Object)
	// Validate replaces the strategy's ValidateUpdate.
	Validate func(obj, old runtime.Object) field.ErrorList
	// SkipDefault skips the strategy's defaulting of the new object.
	SkipDefault bool
}

// Update updates namespace/name with upd, retrying on conflicts with
// concurrent writers unless the new object names the resourceVersion it
// was based on (then a stale one gets 409). If the object does not exist
// and the resource allows create on update, upd(nil) is created.
func (s *Store) Update(ctx context.Context, namespace, name string, upd UpdateFunc, opts UpdateOptions) (obj runtime.Object, created bool, err error) {
	key := s.Key(namespace, name)
	var lastAlloc Allocation
	try := func(cur runtime.Object) (runtime.Object, []storage.SideKey, error) {
		obj, err := s.prepareUpdate(ctx, namespace, name, cur, upd, opts)
		if err != nil {
			return nil, nil, err
		}
		lastAlloc = nil
		if s.hooks.BeforeUpdate != nil && opts.Subresource == "" {
			if lastAlloc, err = s.hooks.BeforeUpdate(ctx, obj, cur); err != nil {
				return nil, nil, err
			}
		}
		if lastAlloc == nil {
			return obj, nil, nil
		}
		return obj, lastAlloc.SideKeys(), nil
	}
	if opts.DryRun {
		cur := s.newObj()
		if err := s.store.Get(ctx, key, cur); err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				return s.createOnUpdate(ctx, name, upd, opts)
			}
			return nil, false, s.Err(err, name)
		}
		obj, _, err := try(cur)
		return obj, false, err
	}
	var cached runtime.Object
	if e, err := s.cache.Get(ctx, key, storage.ReadOptions{}); err == nil {
		cached = e.Obj
	}
	for attempt := 0; ; attempt++ {
		obj, err = s.store.GuaranteedUpdate(ctx, key, s.newObj, nil, try, cached)
		var se *storage.Error
		switch {
		case err == nil:
		case errors.Is(err, storage.ErrNotFound):
			return s.createOnUpdate(ctx, name, upd, opts)
		case errors.Is(err, storage.ErrSideKeyTaken) && errors.As(err, &se) && lastAlloc != nil && attempt < 100:
			if err := lastAlloc.Retake(se.Key); err != nil {
				return nil, false, err
			}
			cached = nil
			continue
		default:
			return nil, false, s.Err(err, name)
		}
		break
	}
	obj, err = s.finishIfDeleting(ctx, obj)
	return obj, false, err
}

// prepareUpdate is the body of an update attempt on cur.
func (s *Store) prepareUpdate(ctx context.Context, namespace, name string, cur runtime.Object, upd UpdateFunc, opts UpdateOptions) (runtime.Object, error) {
	obj, err := upd(ctx, cur)
	if err != nil {
		return nil, err
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	om, _ := meta.Accessor(cur)
	if rv := m.GetResourceVersion(); rv != "" && rv != om.GetResourceVersion() {
		return nil, apierrors.NewConflict(s.info.GroupResource(), name,
			errors.New("the object has been modified; please apply your changes to the latest version and try again"))
	}
	if uid := m.GetUID(); uid != "" && uid != om.GetUID() {
		return nil, apierrors.NewConflict(s.info.GroupResource(), name,
			fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", uid, om.GetUID()))
	}
	if !s.info.Namespaced {
		m.SetNamespace("")
	}
	m.SetUID(om.GetUID())
	m.SetCreationTimestamp(om.GetCreationTimestamp())
	m.SetDeletionTimestamp(om.GetDeletionTimestamp())
	m.SetDeletionGracePeriodSeconds(om.GetDeletionGracePeriodSeconds())
	m.SetResourceVersion(om.GetResourceVersion())
	m.SetSelfLink("")
	if m.GetGeneration() == 0 {
		m.SetGeneration(om.GetGeneration())
	}
	obj.GetObjectKind().SetGroupVersionKind(s.gvk)
	if s.fields != nil && !opts.Applied && opts.Prepare == nil {
		obj = s.fields.Update(cur, obj, opts.Subresource, managerName(opts.FieldManager))
	}

	validate := s.strategy.ValidateUpdate
	status, _ := s.strategy.(registry.StatusStrategy)
	switch {
	case opts.Prepare != nil:
		opts.Prepare(obj, cur)
	case opts.Subresource == "status" && status != nil && status.HasStatusSubresource():
		status.PrepareForStatusUpdate(obj, cur)
		validate = status.ValidateStatusUpdate
	default:
		if !opts.SkipDefault {
			s.strategy.Default(obj)
		}
		s.strategy.PrepareForUpdate(obj, cur)
	}
	if opts.Validate != nil {
		validate = opts.Validate
	}
	a := &admission.Attributes{Operation: admission.Update, Resource: s.info, Subresource: opts.Subresource,
		Namespace: namespace, Name: name, Object: obj, OldObject: cur, User: opts.User, DryRun: opts.DryRun}
	if err := s.adm.Mutate(ctx, a); err != nil {
		return nil, err
	}
	if errs := validate(obj, cur); len(errs) > 0 {
		return nil, s.invalid(name, errs)
	}
	if err := s.adm.Validate(ctx, a); err != nil {
		return nil, err
	}
	return obj, nil
}

func (s *Store) createOnUpdate(ctx context.Context, name string, upd UpdateFunc, opts UpdateOptions) (runtime.Object, bool, error) {
	c, ok := s.strategy.(registry.CreateOnUpdater)
	if !ok || !c.AllowCreateOnUpdate() || opts.Subresource != "" {
		return nil, false, apierrors.NewNotFound(s.info.GroupResource(), name)
	}
	obj, err := upd(ctx, nil)
	if err != nil {
		return nil, false, err
	}
	if m, err := meta.Accessor(obj); err == nil && m.GetResourceVersion() != "" {
		// The client expected an existing object.
		return nil, false, apierrors.NewNotFound(s.info.GroupResource(), name)
	}
	if !opts.SkipDefault {
		s.strategy.Default(obj)
	}
	out, err := s.Create(ctx, obj, CreateOptions{DryRun: opts.DryRun, User: opts.User, FieldManager: opts.FieldManager, Applied: opts.Applied})
	return out, err == nil, err
}

// finishIfDeleting removes an object that is being deleted once its last
// finalizer is gone.
func (s *Store) finishIfDeleting(ctx context.Context, obj runtime.Object) (runtime.Object, error) {
	m, err := meta.Accessor(obj)
	if err != nil || m.GetDeletionTimestamp() == nil || len(m.GetFinalizers()) > 0 {
		return obj, nil
	}
	if g := m.GetDeletionGracePeriodSeconds(); g != nil && *g > 0 {
		return obj, nil
	}
	if d, ok := s.strategy.(registry.Deleter); ok {
		zero := int64(0)
		if d.BeforeDelete(obj.DeepCopyObject(), &metav1.DeleteOptions{GracePeriodSeconds: &zero}, s.now()) {
			return obj, nil // e.g. a namespace whose spec.finalizers are not done
		}
	}
	rv := m.GetResourceVersion()
	_, err = s.store.Delete(ctx, s.Key(m.GetNamespace(), m.GetName()), s.newObj,
		&storage.Preconditions{ResourceVersion: &rv}, s.deleteSide, nil)
	if err != nil && !errors.Is(err, storage.ErrNotFound) && !errors.Is(err, storage.ErrConflict) {
		return nil, s.Err(err, m.GetName())
	}
	return obj, nil
}

func (s *Store) deleteSide(cur runtime.Object) ([]storage.SideKey, error) {
	if s.hooks.OnDelete == nil {
		return nil, nil
	}
	return s.hooks.OnDelete(cur), nil
}

// errKeep stops a storage delete: the object must be updated instead.
var errKeep = errors.New("object stays: update instead of delete")

// Delete deletes namespace/name. It returns the object (as deleted, or as
// updated when the deletion is not immediate: pending finalizers, graceful
// pod deletion, terminating namespace) and whether it is gone.
func (s *Store) Delete(ctx context.Context, namespace, name string, opts *metav1.DeleteOptions, dryRun bool, user *authn.User) (runtime.Object, bool, error) {
	if opts == nil {
		opts = &metav1.DeleteOptions{}
	}
	if opts.GracePeriodSeconds != nil && *opts.GracePeriodSeconds < 0 {
		return nil, false, apierrors.NewInvalid(schema.GroupKind{Group: "meta.k8s.io", Kind: "DeleteOptions"}, "",
			field.ErrorList{field.Invalid(field.NewPath("gracePeriodSeconds"), *opts.GracePeriodSeconds, "must be greater than or equal to 0")})
	}
	if opts.PropagationPolicy != nil {
		switch *opts.PropagationPolicy {
		case metav1.DeletePropagationBackground, metav1.DeletePropagationForeground, metav1.DeletePropagationOrphan:
		default:
			return nil, false, apierrors.NewBadRequest(fmt.Sprintf("propagationPolicy: unsupported value %q", *opts.PropagationPolicy))
		}
	}
	key := s.Key(namespace, name)
	var pre *storage.Preconditions
	if p := opts.Preconditions; p != nil {
		pre = &storage.Preconditions{UID: p.UID, ResourceVersion: p.ResourceVersion}
	}
	for attempt := 0; attempt < 100; attempt++ {
		cur := s.newObj()
		if err := s.store.Get(ctx, key, cur); err != nil {
			return nil, false, s.Err(err, name)
		}
		if err := pre.Check(key, cur); err != nil {
			return nil, false, s.Err(err, name)
		}
		a := &admission.Attributes{Operation: admission.Delete, Resource: s.info, Namespace: namespace, Name: name,
			OldObject: cur, User: user, DryRun: dryRun}
		if err := s.adm.Validate(ctx, a); err != nil {
			return nil, false, err
		}
		next := cur.DeepCopyObject()
		o := opts.DeepCopy()
		keep := s.prepareDelete(next, o)
		if dryRun {
			return next, !keep, nil
		}
		curRV := mustRV(cur)
		if keep {
			out, err := s.store.GuaranteedUpdate(ctx, key, s.newObj, &storage.Preconditions{ResourceVersion: &curRV},
				func(runtime.Object) (runtime.Object, []storage.SideKey, error) { return next, nil, nil }, nil)
			if errors.Is(err, storage.ErrConflict) {
				continue
			}
			if err != nil {
				return nil, false, s.Err(err, name)
			}
			return out, false, nil
		}
		out, err := s.store.Delete(ctx, key, s.newObj, &storage.Preconditions{ResourceVersion: &curRV}, s.deleteSide, nil)
		if errors.Is(err, storage.ErrConflict) {
			continue
		}
		if err != nil {
			return nil, false, s.Err(err, name)
		}
		return out, true, nil
	}
	return nil, false, apierrors.NewConflict(s.info.GroupResource(), name, errors.New("the object kept changing during deletion"))
}

func mustRV(obj runtime.Object) string {
	m, _ := meta.Accessor(obj)
	return m.GetResourceVersion()
}

// prepareDelete decides whether obj (a copy of the current object) can go
// now, and if not, marks it as being deleted.
func (s *Store) prepareDelete(obj runtime.Object, opts *metav1.DeleteOptions) (keep bool) {
	m, _ := meta.Accessor(obj)
	now := s.now()
	if d, ok := s.strategy.(registry.Deleter); ok {
		keep = d.BeforeDelete(obj, opts, now)
	}
	// Garbage-collector finalizers, as Kubernetes adds them.
	fins := m.GetFinalizers()
	if opts.PropagationPolicy != nil && m.GetDeletionTimestamp() == nil {
		switch *opts.PropagationPolicy {
		case metav1.DeletePropagationForeground:
			fins = addFinalizer(fins, metav1.FinalizerDeleteDependents)
		case metav1.DeletePropagationOrphan:
			fins = addFinalizer(fins, metav1.FinalizerOrphanDependents)
		}
	} else if opts.OrphanDependents != nil && *opts.OrphanDependents && m.GetDeletionTimestamp() == nil { //nolint:staticcheck // still sent by old clients
		fins = addFinalizer(fins, metav1.FinalizerOrphanDependents)
	}
	m.SetFinalizers(fins)
	if len(fins) > 0 {
		keep = true
	}
	if !keep {
		return false
	}
	grace := int64(0)
	if g := opts.GracePeriodSeconds; g != nil && len(fins) == 0 {
		grace = *g
	} else if g := m.GetDeletionGracePeriodSeconds(); g != nil {
		grace = *g
	}
	at := metav1.NewTime(now.Add(time.Duration(grace) * time.Second).Truncate(time.Second))
	if dt := m.GetDeletionTimestamp(); dt == nil || at.Before(dt) {
		if dt == nil {
			m.SetGeneration(m.GetGeneration() + 1)
		}
		m.SetDeletionTimestamp(&at)
	}
	if m.GetDeletionGracePeriodSeconds() == nil || grace < *m.GetDeletionGracePeriodSeconds() {
		m.SetDeletionGracePeriodSeconds(&grace)
	}
	return true
}

func addFinalizer(fins []string, f string) []string {
	for _, x := range fins {
		if x == f {
			return fins
		}
	}
	return append(fins, f)
}

func managerName(m string) string {
	if m == "" {
		return SystemManager
	}
	return m
}
