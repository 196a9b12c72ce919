package garbagecollector

import (
	"context"
	"log/slog"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery/cached/memory"
	kfake "k8s.io/client-go/kubernetes/fake"
	mdfake "k8s.io/client-go/metadata/fake"
	"k8s.io/client-go/metadata/metadatainformer"
	k8stesting "k8s.io/client-go/testing"

	"github.com/podvisor/podvisor/internal/testutil/controllertest"
)

var (
	deployKind = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
	rsKind     = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "ReplicaSet"}
	podKind    = schema.GroupVersionKind{Version: "v1", Kind: "Pod"}
	nodeKind   = schema.GroupVersionKind{Version: "v1", Kind: "Node"}
	kinds      = map[schema.GroupVersionKind]schema.GroupVersionResource{
		deployKind: {Group: "apps", Version: "v1", Resource: "deployments"},
		rsKind:     {Group: "apps", Version: "v1", Resource: "replicasets"},
		podKind:    {Version: "v1", Resource: "pods"},
		nodeKind:   {Version: "v1", Resource: "nodes"},
	}
)

// world is a fake API server with Kubernetes' deletion semantics
// (propagation finalizers; an object with a deletionTimestamp goes when
// its last finalizer does) driving the collector by hand: it feeds the
// graph every change and runs the queued work until nothing is left.
type world struct {
	t       *testing.T
	gc      *Controller
	md      *mdfake.FakeMetadataClient
	q       *recQueues
	known   map[types.UID]objectRef
	deleted []string
}

type recQueues struct{ del, orphan []types.UID }

func (r *recQueues) attemptToDelete(uid types.UID) { r.del = append(r.del, uid) }
func (r *recQueues) attemptToOrphan(uid types.UID) { r.orphan = append(r.orphan, uid) }

func obj(kind schema.GroupVersionKind, name string, owners ...*metav1.PartialObjectMetadata) *metav1.PartialObjectMetadata {
	o := &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: kind.GroupVersion().String(), Kind: kind.Kind},
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("uid-" + name)},
	}
	if kind == nodeKind {
		o.Namespace = ""
	}
	t := true
	for _, w := range owners {
		o.OwnerReferences = append(o.OwnerReferences, metav1.OwnerReference{
			APIVersion: w.APIVersion, Kind: w.Kind, Name: w.Name, UID: w.UID, Controller: &t, BlockOwnerDeletion: &t,
		})
	}
	return o
}

func newWorld(t *testing.T, objs ...*metav1.PartialObjectMetadata) *world {
	t.Helper()
	scheme := runtime.NewScheme()
	mapper := meta.NewDefaultRESTMapper(nil)
	for k := range kinds {
		scheme.AddKnownTypeWithName(k, &metav1.PartialObjectMetadata{})
		scheme.AddKnownTypeWithName(k.GroupVersion().WithKind(k.Kind+"List"), &metav1.PartialObjectMetadataList{})
		scope := meta.RESTScopeNamespace
		if k == nodeKind {
			scope = meta.RESTScopeRoot
		}
		mapper.Add(k, scope)
	}
	var ros []runtime.Object
	for _, o := range objs {
		ros = append(ros, o)
	}
	md := mdfake.NewSimpleMetadataClient(scheme, ros...)
	w := &world{t: t, md: md, q: &recQueues{}, known: map[types.UID]objectRef{}}
	md.PrependReactor("delete", "*", w.deleteReactor)
	gc, err := New(Config{}, Deps{
		Metadata:  md,
		Informers: metadatainformer.NewSharedInformerFactory(md, 0),
		Discovery: memory.NewMemCacheClient(kfake.NewClientset().Discovery()),
		Log:       slog.New(slog.DiscardHandler),
		Mapper:    mapper,
	})
	if err != nil {
		t.Fatal(err)
	}
	gc.q = w.q
	w.gc = gc
	w.observe()
	return w
}

// deleteReactor plays the API server's DELETE: foreground and orphan
// keep the object with a deletionTimestamp and the policy's finalizer.
func (w *world) deleteReactor(a k8stesting.Action) (bool, runtime.Object, error) {
	da := a.(k8stesting.DeleteActionImpl)
	o, err := w.md.Tracker().Get(a.GetResource(), a.GetNamespace(), da.Name)
	if err != nil {
		return true, nil, err
	}
	m := o.(*metav1.PartialObjectMetadata)
	fin := ""
	if p := da.DeleteOptions.PropagationPolicy; p != nil {
		switch *p {
		case metav1.DeletePropagationForeground:
			fin = metav1.FinalizerDeleteDependents
		case metav1.DeletePropagationOrphan:
			fin = metav1.FinalizerOrphanDependents
		}
	}
	if fin == "" && len(m.Finalizers) == 0 {
		return true, nil, w.md.Tracker().Delete(a.GetResource(), a.GetNamespace(), da.Name)
	}
	if m.DeletionTimestamp == nil {
		now := metav1.NewTime(controllertest.Start)
		m.DeletionTimestamp = &now
	}
	if fin != "" && !hasFinalizer(m, fin) {
		m.Finalizers = append(m.Finalizers, fin)
	}
	return true, nil, w.md.Tracker().Update(a.GetResource(), m, a.GetNamespace())
}

// userDelete deletes an object as a user (kubectl delete --cascade=...).
func (w *world) userDelete(kind schema.GroupVersionKind, name string, policy metav1.DeletionPropagation) {
	w.t.Helper()
	if err := w.md.Resource(kinds[kind]).Namespace("ns").Delete(context.Background(), name, metav1.DeleteOptions{PropagationPolicy: &policy}); err != nil {
		w.t.Fatal(err)
	}
}

// observe feeds the graph the tracker's current state, removing objects
// whose deletion is complete (deletionTimestamp, no finalizers).
func (w *world) observe() {
	w.t.Helper()
	seen := map[types.UID]bool{}
	for kind, gvr := range kinds {
		for _, ns := range []string{"ns", ""} {
			list, err := w.md.Tracker().List(gvr, kind, ns)
			if err != nil {
				continue
			}
			items, _ := meta.ExtractList(list)
			for _, it := range items {
				m := it.(*metav1.PartialObjectMetadata)
				if m.DeletionTimestamp != nil && len(m.Finalizers) == 0 {
					if err := w.md.Tracker().Delete(gvr, m.Namespace, m.Name); err != nil {
						w.t.Fatal(err)
					}
					continue
				}
				id := refOf(kind, m)
				seen[m.UID] = true
				w.known[m.UID] = id
				w.gc.graph.apply(&event{typ: addOrUpdate, id: id, meta: m}, w.q)
			}
		}
	}
	for uid, id := range w.known {
		if !seen[uid] {
			delete(w.known, uid)
			w.deleted = append(w.deleted, id.Name)
			w.gc.graph.apply(&event{typ: deleted, id: id}, w.q)
		}
	}
}

// run processes queued work until the world is still.
func (w *world) run() {
	w.t.Helper()
	ctx := context.Background()
	for i := 0; i < 200; i++ {
		for w.gc.changes.Len() > 0 {
			ev, _ := w.gc.changes.Get()
			w.gc.graph.apply(ev, w.q)
			w.gc.changes.Done(ev)
		}
		if len(w.q.del) == 0 && len(w.q.orphan) == 0 {
			return
		}
		del, orphan := w.q.del, w.q.orphan
		w.q.del, w.q.orphan = nil, nil
		for _, uid := range dedupe(del) {
			if err := w.gc.attemptToDelete(ctx, string(uid)); err != nil {
				w.t.Fatalf("attemptToDelete %s: %v", uid, err)
			}
		}
		for _, uid := range dedupe(orphan) {
			if err := w.gc.attemptToOrphan(ctx, string(uid)); err != nil {
				w.t.Fatalf("attemptToOrphan %s: %v", uid, err)
			}
		}
		w.observe()
	}
	w.t.Fatal("the collector did not settle")
}

func dedupe(uids []types.UID) []types.UID {
	seen := map[types.UID]bool{}
	var out []types.UID
	for _, u := range uids {
		if !seen[u] {
			seen[u] = true
			out = append(out, u)
		}
	}
	return out
}

func (w *world) remaining() []string {
	var names []string
	for _, id := range w.known {
		names = append(names, id.Name)
	}
	sort.Strings(names)
	return names
}

func (w *world) get(kind schema.GroupVersionKind, name string) *metav1.PartialObjectMetadata {
	w.t.Helper()
	o, err := w.md.Tracker().Get(kinds[kind], "ns", name)
	if err != nil {
		w.t.Fatal(err)
	}
	return o.(*metav1.PartialObjectMetadata)
}

// chain is a Deployment, its ReplicaSet and two pods.
func chain() []*metav1.PartialObjectMetadata {
	d := obj(deployKind, "d")
	rs := obj(rsKind, "rs", d)
	return []*metav1.PartialObjectMetadata{d, rs, obj(podKind, "p1", rs), obj(podKind, "p2", rs)}
}

func TestCascade(t *testing.T) {
	tests := []struct {
		name      string
		policy    metav1.DeletionPropagation
		remaining []string
		// order: names that must be deleted before others, in groups.
		order [][]string
	}{
		{
			name:   "background",
			policy: metav1.DeletePropagationBackground,
			order:  [][]string{{"d"}, {"rs"}, {"p1", "p2"}},
		},
		{
			name:   "foreground",
			policy: metav1.DeletePropagationForeground,
			order:  [][]string{{"p1", "p2"}, {"rs"}, {"d"}},
		},
		{
			name:      "orphan",
			policy:    metav1.DeletePropagationOrphan,
			remaining: []string{"p1", "p2", "rs"},
			order:     [][]string{{"d"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, chain()...)
			w.run()
			if len(w.deleted) != 0 {
				t.Fatalf("deleted %v before anyone asked", w.deleted)
			}
			w.userDelete(deployKind, "d", tc.policy)
			w.observe()
			w.run()
			if diff := cmp.Diff(tc.remaining, w.remaining()); diff != "" {
				t.Errorf("remaining objects (-want +got):\n%s", diff)
			}
			var got [][]string
			i := 0
			for _, g := range tc.order {
				if i+len(g) > len(w.deleted) {
					t.Fatalf("deleted %v, want groups %v", w.deleted, tc.order)
				}
				grp := append([]string(nil), w.deleted[i:i+len(g)]...)
				sort.Strings(grp)
				got = append(got, grp)
				i += len(g)
			}
			if diff := cmp.Diff(tc.order, got); diff != "" {
				t.Errorf("deletion order (-want +got):\n%s", diff)
			}
			if tc.policy == metav1.DeletePropagationOrphan {
				if refs := w.get(rsKind, "rs").OwnerReferences; len(refs) != 0 {
					t.Errorf("orphaned ReplicaSet still has owners %+v", refs)
				}
				if refs := w.get(podKind, "p1").OwnerReferences; len(refs) != 1 || refs[0].Name != "rs" {
					t.Errorf("pods of the orphaned ReplicaSet lost their owner: %+v", refs)
				}
			}
		})
	}
}

func TestOwnersDecide(t *testing.T) {
	live := obj(deployKind, "live")
	gone := obj(deployKind, "gone") // never created
	node := obj(nodeKind, "n1")
	tests := []struct {
		name      string
		objs      []*metav1.PartialObjectMetadata
		remaining []string
		check     func(t *testing.T, w *world)
	}{
		{
			name:      "owner exists: kept",
			objs:      []*metav1.PartialObjectMetadata{live, obj(rsKind, "rs", live)},
			remaining: []string{"live", "rs"},
		},
		{
			name:      "owner never existed: collected",
			objs:      []*metav1.PartialObjectMetadata{obj(rsKind, "rs", gone), obj(podKind, "p", obj(rsKind, "rs", gone))},
			remaining: nil,
		},
		{
			name:      "one owner of two gone: reference dropped, object kept",
			objs:      []*metav1.PartialObjectMetadata{live, obj(rsKind, "rs", live, gone)},
			remaining: []string{"live", "rs"},
			check: func(t *testing.T, w *world) {
				refs := w.get(rsKind, "rs").OwnerReferences
				if len(refs) != 1 || refs[0].Name != "live" {
					t.Errorf("owner references = %+v, want only live", refs)
				}
			},
		},
		{
			name:      "cluster-scoped owner of a namespaced object",
			objs:      []*metav1.PartialObjectMetadata{node, obj(podKind, "p", node)},
			remaining: []string{"n1", "p"},
		},
		{
			name:      "same name, other uid: the owner is gone",
			objs:      []*metav1.PartialObjectMetadata{live, obj(rsKind, "rs", func() *metav1.PartialObjectMetadata { x := live.DeepCopy(); x.UID = "old"; return x }())},
			remaining: []string{"live"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, tc.objs...)
			w.run()
			if diff := cmp.Diff(tc.remaining, w.remaining()); diff != "" {
				t.Errorf("remaining (-want +got):\n%s", diff)
			}
			if tc.check != nil {
				tc.check(t, w)
			}
		})
	}
}

func TestForegroundWaitsOnlyForBlockingDependents(t *testing.T) {
	d := obj(deployKind, "d")
	rs := obj(rsKind, "rs", d)
	f := false
	rs.OwnerReferences[0].BlockOwnerDeletion = &f
	w := newWorld(t, d, rs)
	w.run()
	w.userDelete(deployKind, "d", metav1.DeletePropagationForeground)
	w.observe()
	w.run()
	if len(w.remaining()) != 0 {
		t.Errorf("remaining %v, want everything deleted", w.remaining())
	}
	if len(w.deleted) != 2 {
		t.Fatalf("deleted %v", w.deleted)
	}
}

func TestDeleteUsesPreconditions(t *testing.T) {
	w := newWorld(t, obj(rsKind, "rs", obj(deployKind, "gone")))
	w.run()
	var found bool
	for _, a := range w.md.Actions() {
		if da, ok := a.(k8stesting.DeleteActionImpl); ok && da.Name == "rs" {
			found = true
			p := da.DeleteOptions.Preconditions
			if p == nil || p.UID == nil || *p.UID != "uid-rs" {
				t.Errorf("delete preconditions = %+v, want uid-rs", p)
			}
			if pp := da.DeleteOptions.PropagationPolicy; pp == nil || *pp != metav1.DeletePropagationBackground {
				t.Errorf("propagation = %v, want Background", pp)
			}
		}
	}
	if !found {
		t.Errorf("rs not deleted; actions: %v", actionNames(w.md.Actions()))
	}
}

func actionNames(acts []k8stesting.Action) string {
	var s []string
	for _, a := range acts {
		s = append(s, a.GetVerb()+" "+a.GetResource().Resource)
	}
	return strings.Join(s, ", ")
}

func TestDiffOwners(t *testing.T) {
	tr, fa := true, false
	ref := func(uid string, block *bool) metav1.OwnerReference {
		return metav1.OwnerReference{UID: types.UID(uid), BlockOwnerDeletion: block}
	}
	added, removed, changed := diffOwners(
		[]metav1.OwnerReference{ref("a", &tr), ref("b", &tr), ref("c", nil)},
		[]metav1.OwnerReference{ref("a", &tr), ref("b", &fa), ref("d", nil)},
	)
	uids := func(rs []metav1.OwnerReference) []string {
		var s []string
		for _, r := range rs {
			s = append(s, string(r.UID))
		}
		return s
	}
	if diff := cmp.Diff([]string{"d"}, uids(added)); diff != "" {
		t.Errorf("added: %s", diff)
	}
	if diff := cmp.Diff([]string{"c"}, uids(removed)); diff != "" {
		t.Errorf("removed: %s", diff)
	}
	if diff := cmp.Diff([]string{"b"}, uids(changed)); diff != "" {
		t.Errorf("changed: %s", diff)
	}
}
