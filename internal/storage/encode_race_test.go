package storage_test

import (
	"context"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/podvisor/podvisor/internal/storage"
)

// TestUpdateLeavesCachedObjectAlone runs GuaranteedUpdate with a cached
// object (as the API server passes its watch cache's copy) while other
// goroutines read that object, as concurrent GETs served from the cache
// do. The store must never write to it: under -race, clearing its
// resourceVersion for encoding is reported as a data race, and the
// object must come out unchanged.
func TestUpdateLeavesCachedObjectAlone(t *testing.T) {
	for _, tc := range []struct {
		name   string
		newObj func() runtime.Object
		obj    func(name string) runtime.Object
	}{
		{
			name:   "typed",
			newObj: newCM,
			obj: func(name string) runtime.Object {
				return cm("ns", name, map[string]string{"k": "v"}, nil)
			},
		},
		{
			name:   "unstructured",
			newObj: func() runtime.Object { return &unstructured.Unstructured{} },
			obj: func(name string) runtime.Object {
				return &unstructured.Unstructured{Object: map[string]any{
					"apiVersion": "v1", "kind": "ConfigMap",
					"metadata": map[string]any{"namespace": "ns", "name": name},
					"data":     map[string]any{"k": "v"},
				}}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			ctx := context.Background()
			k := key("ns", "shared-"+tc.name)
			if _, err := s.Create(ctx, k, tc.obj("shared-"+tc.name)); err != nil {
				t.Fatal(err)
			}
			cached := tc.newObj()
			if err := s.Get(ctx, k, cached); err != nil {
				t.Fatal(err)
			}
			acc, err := meta.Accessor(cached)
			if err != nil {
				t.Fatal(err)
			}
			wantRV := acc.GetResourceVersion()

			ctx, cancel := context.WithCancel(ctx)
			var wg sync.WaitGroup
			var seen []string
			var seenMu sync.Mutex
			for i := 0; i < 4; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for ctx.Err() == nil {
						if rv := acc.GetResourceVersion(); rv != wantRV {
							seenMu.Lock()
							seen = append(seen, rv)
							seenMu.Unlock()
						}
					}
				}()
			}
			// Every update returns the object unchanged: the store then
			// encodes the cached object to compare, which is the path
			// that cleared its resourceVersion in place.
			for i := 0; i < 20; i++ {
				if _, err := s.GuaranteedUpdate(ctx, k, tc.newObj, nil, func(cur runtime.Object) (runtime.Object, []storage.SideKey, error) {
					return cur, nil, nil
				}, cached); err != nil {
					t.Fatalf("GuaranteedUpdate: %v", err)
				}
			}
			cancel()
			wg.Wait()
			if len(seen) > 0 {
				t.Errorf("readers of the cached object saw resourceVersion %q, want always %q", seen, wantRV)
			}
			if got := acc.GetResourceVersion(); got != wantRV {
				t.Errorf("cached object's resourceVersion after the updates: got %q, want %q", got, wantRV)
			}
		})
	}
}

// TestEncodeOmitsResourceVersion checks that what the store writes has no
// resourceVersion (etcd's revision is the object's version), whichever
// object the write came from.
func TestEncodeOmitsResourceVersion(t *testing.T) {
	s := newStore(t)
	for _, tc := range []struct {
		name string
		obj  runtime.Object
	}{
		{name: "typed", obj: &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a", ResourceVersion: "42"}}},
		{name: "typed without version", obj: &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a"}}},
		{name: "unstructured", obj: &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "a", "resourceVersion": "42"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.obj.DeepCopyObject()
			data, err := s.Encode(tc.obj)
			if err != nil {
				t.Fatal(err)
			}
			var got corev1.ConfigMap
			if err := (jsonCodec{}).Decode(data, &got); err != nil {
				t.Fatal(err)
			}
			if got.Name != "a" || got.ResourceVersion != "" {
				t.Errorf("encoded object: got name %q resourceVersion %q, want %q and none", got.Name, got.ResourceVersion, "a")
			}
			if !cmpEqual(before, tc.obj) {
				t.Errorf("Encode changed its argument: got %+v, want %+v", tc.obj, before)
			}
		})
	}
}

func cmpEqual(a, b runtime.Object) bool {
	aa, _ := meta.Accessor(a)
	bb, _ := meta.Accessor(b)
	return aa.GetResourceVersion() == bb.GetResourceVersion() && aa.GetName() == bb.GetName()
}
