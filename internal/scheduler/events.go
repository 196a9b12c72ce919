package scheduler

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/podvisor/podvisor/internal/scheduler/framework"
)

// eventRecorder writes core/v1 Events asynchronously: Eventf never
// blocks the scheduling goroutine; events wait in a bounded buffer
// written by a few workers, and are dropped (and counted) when the
// buffer is full, as client-go's broadcaster does. A repeat of the same
// event for the same object within aggregationWindow bumps the existing
// event's count instead of creating a new one, so a pod retried many times
// has one FailedScheduling event with a count, as kubectl describe shows.
//
// core/v1 rather than events.k8s.io/v1: kubectl describe and kubectl get
// events read core/v1.
type eventRecorder struct {
	client    kubernetes.Interface
	log       *slog.Logger
	clock     clock.PassiveClock
	component string
	host      string
	ch        chan *v1.Event
	workers   int
	dropped   atomic.Int64
	written   atomic.Int64

	mu sync.Mutex
	// +checklocks:mu
	seen map[string]*seenEvent
}

type seenEvent struct {
	namespace, name string
	count           int32
	first, last     time.Time
	// inFlight marks an event whose create has not returned yet; repeats
	// meanwhile just count.
	inFlight bool
}

const (
	aggregationWindow = 10 * time.Minute
	maxSeenEvents     = 4096
)

var _ framework.EventRecorder = (*eventRecorder)(nil)

func newEventRecorder(client kubernetes.Interface, log *slog.Logger, clk clock.PassiveClock, component, host string, buffer, workers int) *eventRecorder {
	return &eventRecorder{client: client, log: log, clock: clk, component: component, host: host,
		ch: make(chan *v1.Event, buffer), workers: max(1, workers), seen: map[string]*seenEvent{}}
}

// reference builds the event's involvedObject.
func reference(obj runtime.Object) (v1.ObjectReference, error) {
	switch o := obj.(type) {
	case *v1.Pod:
		return v1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: o.Namespace, Name: o.Name, UID: o.UID, ResourceVersion: o.ResourceVersion}, nil
	case *v1.Node:
		return v1.ObjectReference{Kind: "Node", APIVersion: "v1", Name: o.Name, UID: o.UID}, nil
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return v1.ObjectReference{}, err
	}
	gvk := obj.GetObjectKind().GroupVersionKind()
	if gvk.Kind == "" {
		return v1.ObjectReference{}, fmt.Errorf("object of type %T has no kind", obj)
	}
	return v1.ObjectReference{Kind: gvk.Kind, APIVersion: gvk.GroupVersion().String(), Namespace: m.GetNamespace(),
		Name: m.GetName(), UID: m.GetUID(), ResourceVersion: m.GetResourceVersion()}, nil
}

// Eventf implements framework.EventRecorder.
func (r *eventRecorder) Eventf(regarding runtime.Object, eventtype, reason, messageFmt string, args ...any) {
	ref, err := reference(regarding)
	if err != nil {
		r.log.Debug("cannot record event", "reason", reason, "err", err)
		return
	}
	now := r.clock.Now()
	ns := ref.Namespace
	if ns == "" {
		ns = metav1.NamespaceDefault
	}
	msg := messageFmt
	if len(args) > 0 {
		msg = fmt.Sprintf(messageFmt, args...)
	}
	ev := &v1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", ref.Name, now.UnixNano()), Namespace: ns},
		InvolvedObject:      ref,
		Reason:              reason,
		Message:             msg,
		Type:                eventtype,
		Source:              v1.EventSource{Component: r.component},
		FirstTimestamp:      metav1.NewTime(now),
		LastTimestamp:       metav1.NewTime(now),
		Count:               1,
		ReportingController: r.component,
		ReportingInstance:   r.host,
	}
	select {
	case r.ch <- ev:
	default:
		r.dropped.Add(1)
	}
}

// Run writes events until ctx is done.
func (r *eventRecorder) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for i := 0; i < r.workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case ev := <-r.ch:
					r.write(ctx, ev)
				}
			}
		}()
	}
	wg.Wait()
}

func aggregationKey(ev *v1.Event) string {
	return string(ev.InvolvedObject.UID) + "\x00" + ev.InvolvedObject.Name + "\x00" + ev.Reason + "\x00" + ev.Message
}

func (r *eventRecorder) write(ctx context.Context, ev *v1.Event) {
	key := aggregationKey(ev)
	now := ev.LastTimestamp.Time
	r.mu.Lock()
	s, ok := r.seen[key]
	if ok && now.Sub(s.first) > aggregationWindow {
		delete(r.seen, key)
		ok = false
	}
	if ok {
		s.count++
		s.last = now
		if s.inFlight {
			r.mu.Unlock()
			return
		}
		ns, name, count := s.namespace, s.name, s.count
		r.mu.Unlock()
		patch := fmt.Sprintf(`{"count":%d,"lastTimestamp":%q}`, count, now.UTC().Format(time.RFC3339))
		_, err := r.client.CoreV1().Events(ns).Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
		if err == nil {
			r.written.Add(1)
			return
		}
		if !apierrors.IsNotFound(err) {
			r.log.Debug("updating event", "event", name, "err", err)
			return
		}
		// The event expired on the server: write a new one.
		r.mu.Lock()
		delete(r.seen, key)
		r.mu.Unlock()
		r.create(ctx, key, ev)
		return
	}
	if len(r.seen) >= maxSeenEvents {
		r.seen = map[string]*seenEvent{}
	}
	r.seen[key] = &seenEvent{namespace: ev.Namespace, name: ev.Name, count: 1, first: now, last: now, inFlight: true}
	r.mu.Unlock()
	r.create(ctx, key, ev)
}

func (r *eventRecorder) create(ctx context.Context, key string, ev *v1.Event) {
	_, err := r.client.CoreV1().Events(ev.Namespace).Create(ctx, ev, metav1.CreateOptions{})
	r.mu.Lock()
	s := r.seen[key]
	if err != nil {
		delete(r.seen, key)
		r.mu.Unlock()
		if ctx.Err() == nil {
			r.log.Debug("writing event", "reason", ev.Reason, "object", ev.InvolvedObject.Name, "err", err)
		}
		return
	}
	r.written.Add(1)
	if s == nil {
		r.seen[key] = &seenEvent{namespace: ev.Namespace, name: ev.Name, count: 1, first: ev.FirstTimestamp.Time, last: ev.LastTimestamp.Time}
		r.mu.Unlock()
		return
	}
	s.inFlight = false
	pending := s.count > 1
	count, last := s.count, s.last
	r.mu.Unlock()
	if pending {
		// Repeats arrived while the create was in flight.
		patch := fmt.Sprintf(`{"count":%d,"lastTimestamp":%q}`, count, last.UTC().Format(time.RFC3339))
		if _, err := r.client.CoreV1().Events(ev.Namespace).Patch(ctx, ev.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			r.log.Debug("updating event", "event", ev.Name, "err", err)
		}
	}
}
