package storage_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/podvisor/podvisor/internal/storage"
	"github.com/podvisor/podvisor/internal/testutil/etcdtest"
)

// jsonCodec stores ConfigMaps as JSON.
type jsonCodec struct{}

func (jsonCodec) Encode(obj runtime.Object) ([]byte, error) { return json.Marshal(obj) }
func (jsonCodec) Decode(data []byte, into runtime.Object) error {
	return json.Unmarshal(data, into)
}

func newCM() runtime.Object { return &corev1.ConfigMap{} }

func attrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	cm := obj.(*corev1.ConfigMap)
	return cm.Labels, fields.Set{"metadata.name": cm.Name, "metadata.namespace": cm.Namespace}, nil
}

func cm(ns, name string, data map[string]string, lbls map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: lbls, UID: types.UID("uid-" + name)}, Data: data}
}

func newStore(t *testing.T) *storage.Store {
	t.Helper()
	e := etcdtest.Start(t)
	return storage.New(storage.Config{Codec: jsonCodec{}}, e.Client(), etcdtest.Logger(t))
}

func key(ns, name string) string { return storage.Key("", "configmaps", ns, name) }

func TestKey(t *testing.T) {
	tests := []struct {
		name                      string
		group, res, ns, obj, want string
	}{
		{"core namespaced", "", "pods", "default", "p", "/registry/core/pods/default/p"},
		{"core prefix", "", "pods", "default", "", "/registry/core/pods/default/"},
		{"cluster scoped", "", "nodes", "", "n1", "/registry/core/nodes/n1"},
		{"group", "apps", "deployments", "ns", "d", "/registry/apps/deployments/ns/d"},
		{"all", "apps", "deployments", "", "", "/registry/apps/deployments/"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := storage.Key(tc.group, tc.res, tc.ns, tc.obj); got != tc.want {
				t.Errorf("Key = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCreateGetDelete(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	obj := cm("ns", "a", map[string]string{"k": "v"}, nil)
	rev, err := s.Create(ctx, key("ns", "a"), obj)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if got, want := obj.ResourceVersion, fmt.Sprint(rev); got != want {
		t.Errorf("resourceVersion after create = %q, want %q", got, want)
	}
	if _, err := s.Create(ctx, key("ns", "a"), cm("ns", "a", nil, nil)); !errors.Is(err, storage.ErrExists) {
		t.Errorf("second Create: got %v, want ErrExists", err)
	}
	var got corev1.ConfigMap
	if err := s.Get(ctx, key("ns", "a"), &got); err != nil {
		t.Fatalf("Get: %v", err)
	}
	if diff := cmp.Diff(obj, &got); diff != "" {
		t.Errorf("Get returned a different object (-want +got):\n%s", diff)
	}
	if err := s.Get(ctx, key("ns", "missing"), &got); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Get missing: got %v, want ErrNotFound", err)
	}

	wrongUID := types.UID("other")
	if _, err := s.Delete(ctx, key("ns", "a"), newCM, &storage.Preconditions{UID: &wrongUID}, nil, nil); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("Delete with wrong uid: got %v, want ErrConflict", err)
	}
	staleRV := "1"
	if _, err := s.Delete(ctx, key("ns", "a"), newCM, &storage.Preconditions{ResourceVersion: &staleRV}, nil, nil); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("Delete with stale resourceVersion: got %v, want ErrConflict", err)
	}
	refused := errors.New("refused")
	if _, err := s.Delete(ctx, key("ns", "a"), newCM, nil, func(runtime.Object) ([]storage.SideKey, error) { return nil, refused }, nil); !errors.Is(err, refused) {
		t.Errorf("Delete with refusing check: got %v, want %v", err, refused)
	}
	uid := obj.UID
	del, err := s.Delete(ctx, key("ns", "a"), newCM, &storage.Preconditions{UID: &uid}, nil, nil)
	if err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if del.(*corev1.ConfigMap).Data["k"] != "v" {
		t.Errorf("Delete returned %v, want the deleted object", del)
	}
	if _, err := s.Delete(ctx, key("ns", "a"), newCM, nil, nil, nil); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("second Delete: got %v, want ErrNotFound", err)
	}
}

func TestGuaranteedUpdate(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	k := key("ns", "counter")
	if _, err := s.Create(ctx, k, cm("ns", "counter", map[string]string{"n": "0"}, nil)); err != nil {
		t.Fatal(err)
	}
	// 20 concurrent read-modify-write increments: every one must land.
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.GuaranteedUpdate(ctx, k, newCM, nil, func(cur runtime.Object) (runtime.Object, []storage.SideKey, error) {
				c := cur.(*corev1.ConfigMap)
				var v int
				fmt.Sscan(c.Data["n"], &v)
				c.Data["n"] = fmt.Sprint(v + 1)
				return c, nil, nil
			}, nil)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("GuaranteedUpdate: %v", err)
		}
	}
	var got corev1.ConfigMap
	if err := s.Get(ctx, k, &got); err != nil {
		t.Fatal(err)
	}
	if got.Data["n"] != fmt.Sprint(n) {
		t.Errorf("counter = %s, want %d", got.Data["n"], n)
	}

	// A stale cached copy is refreshed rather than written over.
	stale := got.DeepCopy()
	stale.ResourceVersion = "2"
	out, err := s.GuaranteedUpdate(ctx, k, newCM, nil, func(cur runtime.Object) (runtime.Object, []storage.SideKey, error) {
		c := cur.(*corev1.ConfigMap)
		c.Data["x"] = "y"
		return c, nil, nil
	}, stale)
	if err != nil {
		t.Fatalf("GuaranteedUpdate from stale cache: %v", err)
	}
	if out.(*corev1.ConfigMap).Data["n"] != fmt.Sprint(n) {
		t.Errorf("update from stale cache lost data: %v", out.(*corev1.ConfigMap).Data)
	}

	// A no-op update writes nothing and keeps the resourceVersion.
	before := out.(*corev1.ConfigMap).ResourceVersion
	out, err = s.GuaranteedUpdate(ctx, k, newCM, nil, func(cur runtime.Object) (runtime.Object, []storage.SideKey, error) { return cur, nil, nil }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := out.(*corev1.ConfigMap).ResourceVersion; got != before {
		t.Errorf("no-op update changed resourceVersion from %s to %s", before, got)
	}

	// Preconditions.
	stalePre := "1"
	_, err = s.GuaranteedUpdate(ctx, k, newCM, &storage.Preconditions{ResourceVersion: &stalePre}, func(cur runtime.Object) (runtime.Object, []storage.SideKey, error) { return cur, nil, nil }, nil)
	if !errors.Is(err, storage.ErrConflict) {
		t.Errorf("update with stale precondition: got %v, want ErrConflict", err)
	}
	_, err = s.GuaranteedUpdate(ctx, key("ns", "missing"), newCM, nil, func(cur runtime.Object) (runtime.Object, []storage.SideKey, error) { return cur, nil, nil }, nil)
	if !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("update of missing key: got %v, want ErrNotFound", err)
	}
}

func TestSideKeys(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	ip := "/registry/ranges/test/10.0.0.1"
	if _, err := s.Create(ctx, key("ns", "a"), cm("ns", "a", nil, nil), storage.SideKey{Key: ip, Value: []byte("a"), MustBeAbsent: true}); err != nil {
		t.Fatalf("Create with side key: %v", err)
	}
	_, err := s.Create(ctx, key("ns", "b"), cm("ns", "b", nil, nil), storage.SideKey{Key: ip, Value: []byte("b"), MustBeAbsent: true})
	var se *storage.Error
	if !errors.Is(err, storage.ErrSideKeyTaken) || !errors.As(err, &se) || se.Key != ip {
		t.Fatalf("Create with taken side key: got %v, want ErrSideKeyTaken on %s", err, ip)
	}
	if _, err := s.Create(ctx, key("ns", "a"), cm("ns", "a", nil, nil), storage.SideKey{Key: ip + "x", Value: []byte("a"), MustBeAbsent: true}); !errors.Is(err, storage.ErrExists) {
		t.Errorf("Create of existing object with free side key: got %v, want ErrExists", err)
	}
	if _, err := s.Delete(ctx, key("ns", "a"), newCM, nil, func(runtime.Object) ([]storage.SideKey, error) {
		return []storage.SideKey{{Key: ip}}, nil
	}, nil); err != nil {
		t.Fatalf("Delete releasing side key: %v", err)
	}
	got, err := s.GetSide(ctx, "/registry/ranges/test/")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("side keys after release: %v, want none", got)
	}
}

func createN(t *testing.T, s *storage.Store, ns string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		lbl := map[string]string{"parity": []string{"even", "odd"}[i%2]}
		if _, err := s.Create(context.Background(), key(ns, fmt.Sprintf("cm-%03d", i)), cm(ns, fmt.Sprintf("cm-%03d", i), nil, lbl)); err != nil {
			t.Fatal(err)
		}
	}
}

func names(items []*storage.Entry) []string {
	var out []string
	for _, e := range items {
		out = append(out, e.Obj.(*corev1.ConfigMap).Name)
	}
	return out
}

func TestListPagination(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	createN(t, s, "ns", 10)
	createN(t, s, "other", 3)
	odd := storage.Predicate{Label: labels.SelectorFromSet(labels.Set{"parity": "odd"})}
	tests := []struct {
		name  string
		limit int64
		pred  storage.Predicate
		want  []string
	}{
		{"all", 0, storage.Predicate{}, []string{"cm-000", "cm-001", "cm-002", "cm-003", "cm-004", "cm-005", "cm-006", "cm-007", "cm-008", "cm-009"}},
		{"pages of 3", 3, storage.Predicate{}, []string{"cm-000", "cm-001", "cm-002", "cm-003", "cm-004", "cm-005", "cm-006", "cm-007", "cm-008", "cm-009"}},
		{"odd in pages of 2", 2, odd, []string{"cm-001", "cm-003", "cm-005", "cm-007", "cm-009"}},
		{"page equals total", 10, storage.Predicate{}, []string{"cm-000", "cm-001", "cm-002", "cm-003", "cm-004", "cm-005", "cm-006", "cm-007", "cm-008", "cm-009"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			opts := storage.ListOptions{Limit: tc.limit, Predicate: tc.pred}
			var rev int64
			for pages := 0; ; pages++ {
				if pages > 20 {
					t.Fatal("pagination does not end")
				}
				res, err := s.List(ctx, key("ns", ""), opts, newCM, attrs)
				if err != nil {
					t.Fatal(err)
				}
				if rev == 0 {
					rev = res.Rev
				} else if res.Rev != rev {
					t.Errorf("page at revision %d, want %d (the first page's)", res.Rev, rev)
				}
				got = append(got, names(res.Items)...)
				if res.Continue == "" {
					break
				}
				opts.Continue = res.Continue
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("listed (-want +got):\n%s", diff)
			}
		})
	}
	// A page's continue token still reads the old revision after writes.
	res, err := s.List(ctx, key("ns", ""), storage.ListOptions{Limit: 5}, newCM, attrs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, key("ns", "cm-0055"), cm("ns", "cm-0055", nil, nil)); err != nil {
		t.Fatal(err)
	}
	res2, err := s.List(ctx, key("ns", ""), storage.ListOptions{Continue: res.Continue}, newCM, attrs)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"cm-005", "cm-006", "cm-007", "cm-008", "cm-009"}, names(res2.Items)); diff != "" {
		t.Errorf("continue after a write (-want +got):\n%s", diff)
	}
	if _, err := s.List(ctx, key("ns", ""), storage.ListOptions{Continue: "garbage!"}, newCM, attrs); !errors.Is(err, storage.ErrInvalid) {
		t.Errorf("bad continue: got %v, want ErrInvalid", err)
	}
	// After compaction past its revision, the token is gone.
	cur, err := s.CurrentRevision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client().Compact(ctx, cur); err != nil {
		t.Fatal(err)
	}
	if _, err := s.List(ctx, key("ns", ""), storage.ListOptions{Continue: res.Continue}, newCM, attrs); !errors.Is(err, storage.ErrGone) {
		t.Errorf("continue from compacted revision: got %v, want ErrGone", err)
	}
}

func nextEvent(t *testing.T, w storage.Watcher) storage.Event {
	t.Helper()
	select {
	case ev, ok := <-w.Events():
		if !ok {
			t.Fatal("watch closed")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no watch event within 10s")
	}
	return storage.Event{}
}

type evSummary struct {
	Type watch.EventType
	Name string
}

func summary(ev storage.Event) evSummary {
	s := evSummary{Type: ev.Type}
	if ev.Entry != nil {
		s.Name = ev.Entry.Obj.(*corev1.ConfigMap).Name
	}
	return s
}

func TestStoreWatch(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	rev, err := s.CurrentRevision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	even := storage.Predicate{Label: labels.SelectorFromSet(labels.Set{"parity": "even"})}
	w, err := s.Watch(ctx, key("ns", ""), storage.WatchOptions{Rev: rev, Recursive: true, Predicate: even}, newCM, attrs)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	writeSequence(t, s)
	want := []evSummary{{watch.Added, "a"}, {watch.Modified, "a"}, {watch.Deleted, "a"}, {watch.Added, "b"}, {watch.Deleted, "b"}}
	var got []evSummary
	for range want {
		got = append(got, summary(nextEvent(t, w)))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}

	// Watching from a compacted revision ends with a 410-style error.
	cur, _ := s.CurrentRevision(ctx)
	if _, err := s.Client().Compact(ctx, cur); err != nil {
		t.Fatal(err)
	}
	w2, err := s.Watch(ctx, key("ns", ""), storage.WatchOptions{Rev: rev, Recursive: true}, newCM, attrs)
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Stop()
	ev := nextEvent(t, w2)
	if ev.Type != watch.Error || !errors.Is(ev.Err, storage.ErrGone) {
		t.Errorf("watch from compacted revision: got %v %v, want Error wrapping ErrGone", ev.Type, ev.Err)
	}
}

// writeSequence makes: a (even) created, modified, relabelled odd (leaves
// the even selector), deleted; b created even, deleted.
func writeSequence(t *testing.T, s *storage.Store) {
	t.Helper()
	ctx := context.Background()
	set := func(k string, f func(c *corev1.ConfigMap)) {
		if _, err := s.GuaranteedUpdate(ctx, k, newCM, nil, func(cur runtime.Object) (runtime.Object, []storage.SideKey, error) {
			c := cur.(*corev1.ConfigMap)
			f(c)
			return c, nil, nil
		}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Create(ctx, key("ns", "a"), cm("ns", "a", nil, map[string]string{"parity": "even"})); err != nil {
		t.Fatal(err)
	}
	set(key("ns", "a"), func(c *corev1.ConfigMap) { c.Data = map[string]string{"x": "1"} })
	set(key("ns", "a"), func(c *corev1.ConfigMap) { c.Labels["parity"] = "odd" })
	if _, err := s.Delete(ctx, key("ns", "a"), newCM, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, key("ns", "b"), cm("ns", "b", nil, map[string]string{"parity": "even"})); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, key("ns", "b"), newCM, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
}
