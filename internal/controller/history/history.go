// Package history keeps the revisions of StatefulSets and DaemonSets as
// apps/v1 ControllerRevisions, as Kubernetes does: each distinct pod
// template becomes a revision named <owner>-<hash> whose data is the patch
// {"spec":{"template":{..., "$patch":"replace"}}} (what kubectl rollout
// history shows and rollout undo applies), numbered in the order it was
// (last) used.
//
// Revisions live in a Store. API stores them on the API server (when it
// serves controllerrevisions); Memory keeps them in the process, for a
// server that does not: then history does not survive a restart or a
// change of leader (the current revision falls back to the update
// revision, as Kubernetes does when it cannot find it) and kubectl rollout
// history/undo have nothing to read.
//
// The StatefulSet and DaemonSet controllers import it.
package history

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"

	"github.com/podvisor/podvisor/internal/controller/ownerref"
)

// Store persists ControllerRevisions. Methods are safe for concurrent use.
type Store interface {
	// List returns the revisions in namespace matching selector.
	List(namespace string, selector labels.Selector) ([]*appsv1.ControllerRevision, error)
	// Create stores rev; AlreadyExists if its name is taken.
	Create(ctx context.Context, rev *appsv1.ControllerRevision) (*appsv1.ControllerRevision, error)
	// SetRevision renumbers rev.
	SetRevision(ctx context.Context, rev *appsv1.ControllerRevision, revision int64) (*appsv1.ControllerRevision, error)
	// Delete removes a revision; a missing one is not an error.
	Delete(ctx context.Context, rev *appsv1.ControllerRevision) error
}

// TemplateData returns the revision data of a pod template: a strategic
// merge patch replacing spec.template.
func TemplateData(template *corev1.PodTemplateSpec) (runtime.RawExtension, error) {
	b, err := json.Marshal(template)
	if err != nil {
		return runtime.RawExtension{}, fmt.Errorf("encoding pod template: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return runtime.RawExtension{}, fmt.Errorf("encoding pod template: %w", err)
	}
	m["$patch"] = "replace"
	raw, err := json.Marshal(map[string]any{"spec": map[string]any{"template": m}})
	if err != nil {
		return runtime.RawExtension{}, fmt.Errorf("encoding revision: %w", err)
	}
	return runtime.RawExtension{Raw: raw}, nil
}

// Template decodes the pod template of a revision made by TemplateData.
func Template(rev *appsv1.ControllerRevision) (*corev1.PodTemplateSpec, error) {
	var d struct {
		Spec struct {
			Template corev1.PodTemplateSpec `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(rev.Data.Raw, &d); err != nil {
		return nil, fmt.Errorf("decoding revision %s: %w", rev.Name, err)
	}
	return &d.Spec.Template, nil
}

// Hash returns the label-safe hash of revision data and a collision
// count.
func Hash(data runtime.RawExtension, collisionCount *int32) string {
	h := fnv.New32a()
	h.Write(data.Raw)
	if collisionCount != nil {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(*collisionCount))
		h.Write(b[:])
	}
	return rand.SafeEncodeString(strconv.FormatUint(uint64(h.Sum32()), 10))
}

// New returns a revision of owner (kind gvk) with data, number revision,
// labelled with labels plus controller-revision-hash, named
// <owner>-<hash>.
func New(owner metav1.Object, gvk schema.GroupVersionKind, lbls map[string]string, data runtime.RawExtension, revision int64, collisionCount *int32) *appsv1.ControllerRevision {
	hash := Hash(data, collisionCount)
	l := map[string]string{}
	for k, v := range lbls {
		l[k] = v
	}
	l[appsv1.ControllerRevisionHashLabelKey] = hash
	prefix := owner.GetName()
	if len(prefix) > 223 {
		prefix = prefix[:223]
	}
	return &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Name: prefix + "-" + hash, Namespace: owner.GetNamespace(), Labels: l,
			OwnerReferences: []metav1.OwnerReference{*ownerref.New(owner, gvk)},
		},
		Data:     data,
		Revision: revision,
	}
}

// SortByRevision sorts revisions oldest first (by number, then creation,
// then name).
func SortByRevision(revs []*appsv1.ControllerRevision) {
	sort.SliceStable(revs, func(i, j int) bool {
		a, b := revs[i], revs[j]
		if a.Revision != b.Revision {
			return a.Revision < b.Revision
		}
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return a.Name < b.Name
	})
}

// Next returns the number after the highest revision.
func Next(revs []*appsv1.ControllerRevision) int64 {
	var m int64
	for _, r := range revs {
		m = max(m, r.Revision)
	}
	return m + 1
}

// FindEqual returns the revisions whose data equals rev's.
func FindEqual(revs []*appsv1.ControllerRevision, rev *appsv1.ControllerRevision) []*appsv1.ControllerRevision {
	var out []*appsv1.ControllerRevision
	for _, r := range revs {
		if equalData(r, rev) {
			out = append(out, r)
		}
	}
	return out
}

func equalData(a, b *appsv1.ControllerRevision) bool {
	if string(a.Data.Raw) == string(b.Data.Raw) {
		return true
	}
	var x, y any
	if json.Unmarshal(a.Data.Raw, &x) != nil || json.Unmarshal(b.Data.Raw, &y) != nil {
		return false
	}
	return apiequality.Semantic.DeepEqual(x, y)
}

// Owned returns the revisions in list controlled by uid.
func Owned(list []*appsv1.ControllerRevision, uid types.UID) []*appsv1.ControllerRevision {
	var out []*appsv1.ControllerRevision
	for _, r := range list {
		if ownerref.IsControlledBy(r, uid) {
			out = append(out, r)
		}
	}
	return out
}

// CreateUnique stores rev; if its name is taken by a revision with other
// data (a hash collision), it bumps *collisionCount and tries the next
// name. A taken name with equal data returns the existing revision.
func CreateUnique(ctx context.Context, s Store, owner metav1.Object, gvk schema.GroupVersionKind, rev *appsv1.ControllerRevision, collisionCount *int32, existing []*appsv1.ControllerRevision) (*appsv1.ControllerRevision, error) {
	for i := 0; i < 100; i++ {
		created, err := s.Create(ctx, rev)
		if err == nil {
			return created, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("creating revision %s: %w", rev.Name, err)
		}
		for _, e := range existing {
			if e.Name == rev.Name && equalData(e, rev) {
				return e, nil
			}
		}
		*collisionCount++
		rev = New(owner, gvk, rev.Labels, rev.Data, rev.Revision, collisionCount)
	}
	return nil, fmt.Errorf("creating revision for %s/%s: too many hash collisions", owner.GetNamespace(), owner.GetName())
}

// API stores revisions on the API server, read through the shared
// informer.
type API struct {
	client kubernetes.Interface
	lister appslisters.ControllerRevisionLister
}

var _ Store = (*API)(nil)

// NewAPI returns a store over the API; it registers the ControllerRevision
// informer on factory.
func NewAPI(client kubernetes.Interface, factory informers.SharedInformerFactory) *API {
	inf := factory.Apps().V1().ControllerRevisions()
	inf.Informer()
	return &API{client: client, lister: inf.Lister()}
}

// List implements Store.List.
func (a *API) List(namespace string, selector labels.Selector) ([]*appsv1.ControllerRevision, error) {
	return a.lister.ControllerRevisions(namespace).List(selector)
}

// Create implements Store.Create.
func (a *API) Create(ctx context.Context, rev *appsv1.ControllerRevision) (*appsv1.ControllerRevision, error) {
	return a.client.AppsV1().ControllerRevisions(rev.Namespace).Create(ctx, rev, metav1.CreateOptions{})
}

// SetRevision implements Store.SetRevision.
func (a *API) SetRevision(ctx context.Context, rev *appsv1.ControllerRevision, revision int64) (*appsv1.ControllerRevision, error) {
	if rev.Revision == revision {
		return rev, nil
	}
	cp := rev.DeepCopy()
	cp.Revision = revision
	updated, err := a.client.AppsV1().ControllerRevisions(rev.Namespace).Update(ctx, cp, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("renumbering revision %s: %w", rev.Name, err)
	}
	return updated, nil
}

// Delete implements Store.Delete.
func (a *API) Delete(ctx context.Context, rev *appsv1.ControllerRevision) error {
	err := a.client.AppsV1().ControllerRevisions(rev.Namespace).Delete(ctx, rev.Name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &rev.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting revision %s: %w", rev.Name, err)
	}
	return nil
}

// Memory keeps revisions in the process (see the package doc).
type Memory struct {
	mu sync.Mutex
	// +checklocks:mu
	revs map[string]*appsv1.ControllerRevision // by namespace/name
	// +checklocks:mu
	seq int
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-process store.
func NewMemory() *Memory { return &Memory{revs: map[string]*appsv1.ControllerRevision{}} }

// List implements Store.List.
func (m *Memory) List(namespace string, selector labels.Selector) ([]*appsv1.ControllerRevision, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*appsv1.ControllerRevision
	for _, r := range m.revs {
		if r.Namespace == namespace && selector.Matches(labels.Set(r.Labels)) {
			out = append(out, r.DeepCopy())
		}
	}
	return out, nil
}

// Create implements Store.Create.
func (m *Memory) Create(_ context.Context, rev *appsv1.ControllerRevision) (*appsv1.ControllerRevision, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := rev.Namespace + "/" + rev.Name
	if _, ok := m.revs[k]; ok {
		return nil, apierrors.NewAlreadyExists(appsv1.Resource("controllerrevisions"), rev.Name)
	}
	m.seq++
	cp := rev.DeepCopy()
	cp.UID = types.UID(fmt.Sprintf("memory-revision-%d", m.seq))
	cp.CreationTimestamp = metav1.Now()
	m.revs[k] = cp
	return cp.DeepCopy(), nil
}

// SetRevision implements Store.SetRevision.
func (m *Memory) SetRevision(_ context.Context, rev *appsv1.ControllerRevision, revision int64) (*appsv1.ControllerRevision, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.revs[rev.Namespace+"/"+rev.Name]
	if !ok {
		return nil, apierrors.NewNotFound(appsv1.Resource("controllerrevisions"), rev.Name)
	}
	cur.Revision = revision
	return cur.DeepCopy(), nil
}

// Delete implements Store.Delete.
func (m *Memory) Delete(_ context.Context, rev *appsv1.ControllerRevision) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.revs, rev.Namespace+"/"+rev.Name)
	return nil
}

// ForgetOwner drops the revisions controlled by uid (the garbage collector
// does this for revisions on the API server).
func (m *Memory) ForgetOwner(uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, r := range m.revs {
		if ownerref.IsControlledBy(r, uid) {
			delete(m.revs, k)
		}
	}
}

// Forgetter is implemented by stores whose revisions the garbage collector
// cannot see (Memory): controllers call it when an owner is deleted.
type Forgetter interface {
	ForgetOwner(uid types.UID)
}
