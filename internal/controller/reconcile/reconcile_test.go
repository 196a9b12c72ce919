package reconcile

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// fastLimiter retries failed keys almost at once, so tests do not wait.
func fastLimiter() workqueue.TypedRateLimiter[string] {
	return workqueue.NewTypedItemExponentialFailureRateLimiter[string](time.Millisecond, 10*time.Millisecond)
}

func TestControllerRetriesUntilSuccess(t *testing.T) {
	var mu sync.Mutex
	calls := map[string]int{}
	done := make(chan struct{})
	fn := func(_ context.Context, key string) error {
		mu.Lock()
		defer mu.Unlock()
		calls[key]++
		if calls[key] < 3 {
			return errors.New("not yet")
		}
		close(done)
		return nil
	}
	c := New("test", fn, Options{Workers: 1, RateLimiter: fastLimiter(), Logger: quietLogger()})
	ctx, cancel := context.WithCancel(context.Background())
	finished := make(chan struct{})
	go func() { c.Run(ctx); close(finished) }()
	c.Enqueue("ns/a")
	<-done
	cancel()
	<-finished
	if got := calls["ns/a"]; got != 3 {
		t.Errorf("reconciled %d times, want 3", got)
	}
}

func TestControllerRequeueAfter(t *testing.T) {
	var mu sync.Mutex
	var n int
	done := make(chan struct{})
	fn := func(context.Context, string) error {
		mu.Lock()
		defer mu.Unlock()
		n++
		if n == 1 {
			return RequeueAfter(time.Millisecond)
		}
		close(done)
		return nil
	}
	c := New("test", fn, Options{Workers: 1, RateLimiter: fastLimiter(), Logger: quietLogger()})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Run(ctx)
	c.Enqueue("k")
	<-done
}

func TestControllerNeverRunsOneKeyTwiceAtOnce(t *testing.T) {
	var mu sync.Mutex
	running := map[string]bool{}
	var overlap bool
	var total int
	done := make(chan struct{})
	fn := func(_ context.Context, key string) error {
		mu.Lock()
		if running[key] {
			overlap = true
		}
		running[key] = true
		mu.Unlock()
		time.Sleep(time.Millisecond)
		mu.Lock()
		running[key] = false
		total++
		if total == 50 {
			close(done)
		}
		mu.Unlock()
		return nil
	}
	c := New("test", fn, Options{Workers: 4, RateLimiter: fastLimiter(), Logger: quietLogger()})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Run(ctx)
	for i := 0; i < 50; i++ {
		c.Enqueue("same")
		// Re-adding while in flight must queue one more run, not a parallel one.
		time.Sleep(100 * time.Microsecond)
		if i%2 == 0 {
			c.Enqueue("other")
		}
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("reconciles did not finish")
	}
	mu.Lock()
	defer mu.Unlock()
	if overlap {
		t.Error("one key was reconciled by two workers at once")
	}
}

func TestEnqueueObjectKeys(t *testing.T) {
	c := New("test", func(context.Context, string) error { return nil }, Options{Logger: quietLogger()})
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}}
	c.EnqueueObject(pod)
	c.EnqueueObject(cache.DeletedFinalStateUnknown{Key: "ns/gone", Obj: pod})
	c.EnqueueObject(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}})
	got := map[string]bool{}
	for c.Len() > 0 {
		k, _ := c.queue.Get()
		got[k] = true
		c.queue.Done(k)
	}
	for _, want := range []string{"ns/p", "ns/gone", "n1"} {
		if !got[want] {
			t.Errorf("key %q not enqueued; got %v", want, got)
		}
	}
}

func TestExpectations(t *testing.T) {
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	tests := []struct {
		name string
		run  func(e *Expectations)
		want bool
	}{
		{"none recorded", func(*Expectations) {}, true},
		{"creations outstanding", func(e *Expectations) { e.ExpectCreations("k", 2); e.CreationObserved("k") }, false},
		{"creations observed", func(e *Expectations) { e.ExpectCreations("k", 2); e.CreationObserved("k"); e.CreationObserved("k") }, true},
		{"deletions outstanding", func(e *Expectations) { e.ExpectDeletions("k", 1) }, false},
		{"expired", func(e *Expectations) { e.ExpectDeletions("k", 1); now = now.Add(6 * time.Minute) }, true},
		{"forgotten", func(e *Expectations) { e.ExpectCreations("k", 3); e.Forget("k") }, true},
		{"uid deletions outstanding", func(e *Expectations) { e.ExpectDeletionsOf("k", []string{"a", "b"}); e.DeletionObservedOf("k", "a") }, false},
		{"uid deletions: someone else's deletion does not count", func(e *Expectations) {
			e.ExpectDeletionsOf("k", []string{"a"})
			e.DeletionObservedOf("k", "zzz")
		}, false},
		{"uid deletions observed", func(e *Expectations) {
			e.ExpectDeletionsOf("k", []string{"a", "b"})
			e.DeletionObservedOf("k", "b")
			e.DeletionObservedOf("k", "a")
		}, true},
		{"creations and deletions together", func(e *Expectations) {
			e.Expect("k", 1, []string{"a"})
			e.DeletionObservedOf("k", "a")
		}, false},
		{"creations and deletions together, all observed", func(e *Expectations) {
			e.Expect("k", 1, []string{"a"})
			e.DeletionObservedOf("k", "a")
			e.CreationObserved("k")
		}, true},
		{"uid deletions expire", func(e *Expectations) { e.ExpectDeletionsOf("k", []string{"a"}); now = now.Add(6 * time.Minute) }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := NewExpectations(5*time.Minute, clock)
			tc.run(e)
			if got := e.Satisfied("k"); got != tc.want {
				t.Errorf("Satisfied = %v, want %v", got, tc.want)
			}
		})
	}
}
