package storage_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/podvisor/podvisor/internal/storage"
	"github.com/podvisor/podvisor/internal/testutil/etcdtest"
)

func newCache(t *testing.T, s *storage.Store, window int) *storage.Cache {
	t.Helper()
	c := storage.NewCache(storage.CacheConfig{
		Prefix: storage.Key("", "configmaps", "", ""), NewObj: newCM, Attrs: attrs,
		Window: window, ProgressInterval: 100 * time.Millisecond,
	}, s, etcdtest.Logger(t))
	c.Start(context.Background())
	t.Cleanup(c.Stop)
	return c
}

func TestCacheConsistentReads(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	createN(t, s, "ns", 5)
	c := newCache(t, s, 0)
	consistent := storage.ReadOptions{Consistent: true}
	// A write acknowledged before a consistent read is always seen.
	for i := 0; i < 20; i++ {
		name := "late-" + string(rune('a'+i))
		if _, err := s.Create(ctx, key("ns", name), cm("ns", name, nil, nil)); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Get(ctx, key("ns", name), consistent); err != nil {
			t.Fatalf("consistent Get right after create of %s: %v", name, err)
		}
	}
	// A write to another resource moves etcd's revision; the cache
	// must still answer a consistent read (through a progress request).
	if _, err := s.Create(ctx, "/registry/core/secrets/ns/x", cm("ns", "x", nil, nil)); err != nil {
		t.Fatal(err)
	}
	res, err := c.List(ctx, key("ns", ""), storage.ListOptions{}, consistent, false)
	if err != nil {
		t.Fatalf("consistent List after unrelated write: %v", err)
	}
	if len(res.Items) != 25 {
		t.Errorf("listed %d items, want 25", len(res.Items))
	}
	if _, err := c.Get(ctx, key("ns", "nope"), consistent); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Get missing: got %v, want ErrNotFound", err)
	}
	if _, err := c.Get(ctx, key("ns", "cm-001"), storage.ReadOptions{MinRev: res.Rev + 1000}); !errors.Is(err, storage.ErrTooLarge) {
		t.Errorf("Get at a future revision: got %v, want ErrTooLarge", err)
	}
}

func TestCacheListPagination(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	createN(t, s, "ns", 10)
	createN(t, s, "zz", 2)
	c := newCache(t, s, 0)
	ro := storage.ReadOptions{Consistent: true}
	res, err := c.List(ctx, key("ns", ""), storage.ListOptions{Limit: 4}, ro, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.RemainingItemCount == nil || *res.RemainingItemCount != 6 {
		t.Errorf("remainingItemCount = %v, want 6", res.RemainingItemCount)
	}
	got := names(res.Items)
	// Writes after the first page do not show in later pages.
	if _, err := s.Create(ctx, key("ns", "cm-0099"), cm("ns", "cm-0099", nil, nil)); err != nil {
		t.Fatal(err)
	}
	for res.Continue != "" {
		res, err = c.List(ctx, key("ns", ""), storage.ListOptions{Limit: 4, Continue: res.Continue}, ro, false)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, names(res.Items)...)
	}
	want := []string{"cm-000", "cm-001", "cm-002", "cm-003", "cm-004", "cm-005", "cm-006", "cm-007", "cm-008", "cm-009"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("paginated cache list (-want +got):\n%s", diff)
	}
	// Selectors and cluster-wide prefixes.
	odd := storage.Predicate{Label: labels.SelectorFromSet(labels.Set{"parity": "odd"})}
	res, err = c.List(ctx, key("", ""), storage.ListOptions{Predicate: odd}, ro, false)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"cm-001", "cm-003", "cm-005", "cm-007", "cm-009", "cm-001"}, names(res.Items)); diff != "" {
		t.Errorf("all namespaces, odd (-want +got):\n%s", diff)
	}
}

func TestCacheWatch(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	createN(t, s, "ns", 3)
	c := newCache(t, s, 0)
	<-c.Ready()
	start := c.Rev()
	even := storage.Predicate{Label: labels.SelectorFromSet(labels.Set{"parity": "even"})}

	// Initial events then the end bookmark, then live changes.
	w, err := c.Watch(ctx, key("ns", ""), storage.CacheWatchOptions{
		WatchOptions: storage.WatchOptions{Recursive: true, Predicate: even, Bookmarks: true},
		Initial:      true, ReadOptions: storage.ReadOptions{Consistent: true}, InitialEventsEnd: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var got []evSummary
	for i := 0; i < 2; i++ {
		got = append(got, summary(nextEvent(t, w)))
	}
	if diff := cmp.Diff([]evSummary{{watch.Added, "cm-000"}, {watch.Added, "cm-002"}}, got); diff != "" {
		t.Errorf("initial events (-want +got):\n%s", diff)
	}
	ev := nextEvent(t, w)
	if ev.Type != watch.Bookmark || !ev.InitialEventsEnd || ev.Rev < start {
		t.Errorf("after initial events got %v (end=%v rev=%d), want the initial-events-end bookmark at >= %d", ev.Type, ev.InitialEventsEnd, ev.Rev, start)
	}
	writeSequence(t, s)
	want := []evSummary{{watch.Added, "a"}, {watch.Modified, "a"}, {watch.Deleted, "a"}, {watch.Added, "b"}, {watch.Deleted, "b"}}
	got = nil
	for len(got) < len(want) {
		ev := nextEvent(t, w)
		if ev.Type == watch.Bookmark {
			continue
		}
		got = append(got, summary(ev))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("live events (-want +got):\n%s", diff)
	}

	// A watch from the starting revision replays the same from the window.
	w2, err := c.Watch(ctx, key("ns", ""), storage.CacheWatchOptions{WatchOptions: storage.WatchOptions{Rev: start, Recursive: true, Predicate: even}})
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Stop()
	got = nil
	for range want {
		got = append(got, summary(nextEvent(t, w2)))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("replayed events (-want +got):\n%s", diff)
	}
	// Deleted events carry the deletion's revision.
	if ev := nextEventOf(t, w, watch.Bookmark); ev.Rev <= start {
		t.Errorf("bookmark at %d, want after %d", ev.Rev, start)
	}
}

func nextEventOf(t *testing.T, w storage.Watcher, typ watch.EventType) storage.Event {
	t.Helper()
	for {
		if ev := nextEvent(t, w); ev.Type == typ {
			return ev
		}
	}
}

func TestCacheWatchOutsideWindow(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	c := newCache(t, s, 2)
	<-c.Ready()
	start := c.Rev()
	writeSequence(t, s) // 6 changes: more than the window of 2
	if _, err := c.Get(ctx, key("ns", "x"), storage.ReadOptions{Consistent: true}); !errors.Is(err, storage.ErrNotFound) {
		t.Fatal(err)
	}
	w, err := c.Watch(ctx, key("ns", ""), storage.CacheWatchOptions{WatchOptions: storage.WatchOptions{Rev: start, Recursive: true}})
	if err != nil {
		t.Fatal(err)
	}
	var got []evSummary
	for i := 0; i < 6; i++ {
		got = append(got, summary(nextEvent(t, w)))
	}
	w.Stop()
	want := []evSummary{{watch.Added, "a"}, {watch.Modified, "a"}, {watch.Modified, "a"}, {watch.Deleted, "a"}, {watch.Added, "b"}, {watch.Deleted, "b"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events from before the window (-want +got):\n%s", diff)
	}
	cur, _ := s.CurrentRevision(ctx)
	if _, err := s.Client().Compact(ctx, cur); err != nil {
		t.Fatal(err)
	}
	w, err = c.Watch(ctx, key("ns", ""), storage.CacheWatchOptions{WatchOptions: storage.WatchOptions{Rev: start, Recursive: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if ev := nextEvent(t, w); ev.Type != watch.Error || !errors.Is(ev.Err, storage.ErrGone) {
		t.Errorf("watch from compacted revision: got %v %v, want Error wrapping ErrGone", ev.Type, ev.Err)
	}
}
