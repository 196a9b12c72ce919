package queue

import (
	"container/list"
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/clock"

	"github.com/podvisor/podvisor/internal/scheduler/framework"
)

// ErrClosed is returned by Pop once the queue is closed.
var ErrClosed = errors.New("scheduling queue is closed")

// Options configure a Queue.
type Options struct {
	// Less orders the active queue (the QueueSort plugin).
	Less func(a, b *framework.QueuedPodInfo) bool
	// Events are the cluster events each plugin registered (see
	// framework.EnqueueExtensions).
	Events map[string][]framework.ClusterEventWithHint
	// InitialBackoff and MaxBackoff bound the per-pod back-off; defaults
	// 1s and 10s (Kubernetes').
	InitialBackoff, MaxBackoff time.Duration
	// MaxInUnschedulable is how long a pod may sit in the unschedulable
	// pool before the safety flush retries it even though no relevant
	// event came; default 5 minutes.
	MaxInUnschedulable time.Duration
	// FlushInterval is how often the safety flush looks; default 30s.
	FlushInterval time.Duration
	Clock         clock.WithTicker
	Logger        *slog.Logger
	// Nominator receives the nominations found on pending pods.
	Nominator *Nominator
}

// Queue is the scheduling queue. Safe for concurrent use.
type Queue struct {
	opts Options

	// wake is signalled when the back-off queue gets a new earliest pod.
	wake chan struct{}

	mu   sync.Mutex
	cond *sync.Cond
	// +checklocks:mu
	active *podHeap
	// +checklocks:mu
	backoff *podHeap
	// +checklocks:mu
	unschedulable map[types.UID]*framework.QueuedPodInfo
	// +checklocks:mu
	gated map[types.UID]*framework.QueuedPodInfo
	// inFlight are the pods popped and not yet Done, oldest first.
	// +checklocks:mu
	inFlight map[types.UID]*list.Element
	// +checklocks:mu
	inFlightOrder *list.List
	// events received while pods were in flight, oldest first.
	// +checklocks:mu
	events *list.List
	// +checklocks:mu
	eventSeq int64
	// +checklocks:mu
	closed bool
	// attempts counts Pops; for tests and metrics.
	// +checklocks:mu
	pops int64
}

type inFlightPod struct {
	uid     types.UID
	seq     int64
	deleted bool
}

type recordedEvent struct {
	seq      int64
	event    framework.ClusterEvent
	old, new any
	// onlyFor, if set, limits the event to one pod (its own update).
	onlyFor types.UID
}

// New returns an empty queue.
func New(opts Options) *Queue {
	if opts.InitialBackoff <= 0 {
		opts.InitialBackoff = time.Second
	}
	if opts.MaxBackoff < opts.InitialBackoff {
		opts.MaxBackoff = max(10*time.Second, opts.InitialBackoff)
	}
	if opts.MaxInUnschedulable <= 0 {
		opts.MaxInUnschedulable = 5 * time.Minute
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = 30 * time.Second
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Nominator == nil {
		opts.Nominator = NewNominator()
	}
	q := &Queue{
		opts:          opts,
		wake:          make(chan struct{}, 1),
		unschedulable: map[types.UID]*framework.QueuedPodInfo{},
		gated:         map[types.UID]*framework.QueuedPodInfo{},
		inFlight:      map[types.UID]*list.Element{},
		inFlightOrder: list.New(),
		events:        list.New(),
	}
	q.cond = sync.NewCond(&q.mu)
	q.active = newPodHeap(opts.Less)
	q.backoff = newPodHeap(func(a, b *framework.QueuedPodInfo) bool {
		return q.backoffExpiry(a).Before(q.backoffExpiry(b))
	})
	return q
}

// Nominator returns the queue's nominator.
func (q *Queue) Nominator() *Nominator { return q.opts.Nominator }

// backoffDuration is initial × 2^(attempts-1), capped at MaxBackoff.
func (q *Queue) backoffDuration(p *framework.QueuedPodInfo) time.Duration {
	d := q.opts.InitialBackoff
	for i := 1; i < p.Attempts; i++ {
		d *= 2
		if d >= q.opts.MaxBackoff {
			return q.opts.MaxBackoff
		}
	}
	return d
}

func (q *Queue) backoffExpiry(p *framework.QueuedPodInfo) time.Time {
	return p.Timestamp.Add(q.backoffDuration(p))
}

// isBackingOff reports whether p's back-off has not expired yet.
func (q *Queue) isBackingOff(p *framework.QueuedPodInfo) bool {
	if p.Attempts == 0 {
		return false
	}
	return q.backoffExpiry(p).After(q.opts.Clock.Now())
}

func gatedPod(pod *v1.Pod) bool { return len(pod.Spec.SchedulingGates) > 0 }

// Add queues a new pending pod.
func (q *Queue) Add(pod *v1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.findLocked(pod.UID) != nil {
		q.updateLocked(nil, pod)
		return
	}
	p := &framework.QueuedPodInfo{PodInfo: framework.NewPodInfo(pod), Timestamp: q.opts.Clock.Now()}
	q.opts.Nominator.AddNominatedPod(p.PodInfo, "")
	if gatedPod(pod) {
		q.gated[pod.UID] = p
		return
	}
	q.active.add(p)
	q.cond.Broadcast()
}

// +checklocks:q.mu
func (q *Queue) findLocked(uid types.UID) *framework.QueuedPodInfo {
	if p := q.active.get(uid); p != nil {
		return p
	}
	if p := q.backoff.get(uid); p != nil {
		return p
	}
	if p, ok := q.unschedulable[uid]; ok {
		return p
	}
	return q.gated[uid]
}

// podChange classifies how a pending pod changed; 0 if nothing that
// matters to scheduling did (status, resourceVersion, managedFields,
// annotations).
func podChange(oldPod, newPod *v1.Pod) framework.ActionType {
	if oldPod == nil {
		return framework.UpdatePodSpec
	}
	var a framework.ActionType
	if !equality.Semantic.DeepEqual(oldPod.Labels, newPod.Labels) {
		a |= framework.UpdatePodLabel
	}
	if !equality.Semantic.DeepEqual(&oldPod.Spec, &newPod.Spec) {
		a |= framework.UpdatePodSpec
	}
	return a
}

// Update follows a change to a pending pod. A change that may alter where
// it fits (labels or spec) moves it out of the unschedulable pool.
func (q *Queue) Update(oldPod, newPod *v1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.updateLocked(oldPod, newPod)
}

// +checklocks:q.mu
func (q *Queue) updateLocked(oldPod, newPod *v1.Pod) {
	uid := newPod.UID
	change := podChange(oldPod, newPod)
	if el, ok := q.inFlight[uid]; ok && change != 0 {
		// Being scheduled right now: if this attempt fails, retry soon.
		q.recordLocked(recordedEvent{event: framework.ClusterEvent{Resource: framework.UnscheduledPod, ActionType: change},
			old: oldPod, new: newPod, onlyFor: el.Value.(*inFlightPod).uid})
	}
	p := q.findLocked(uid)
	if p == nil {
		if _, ok := q.inFlight[uid]; ok || change == 0 {
			// Popped (the scheduling goroutine holds it), or a status-only
			// update of a pod the queue dropped (bound, or given up on).
			return
		}
		// Not seen before with this spec: treat as new.
		p = &framework.QueuedPodInfo{PodInfo: framework.NewPodInfo(newPod), Timestamp: q.opts.Clock.Now()}
		q.opts.Nominator.AddNominatedPod(p.PodInfo, "")
		if gatedPod(newPod) {
			q.gated[uid] = p
			return
		}
		q.active.add(p)
		q.cond.Broadcast()
		return
	}
	np := *p
	if change != 0 {
		np.PodInfo = framework.NewPodInfo(newPod)
	} else {
		// Only status or metadata changed: keep the parsed info, swap the
		// object.
		pi := *p.PodInfo
		pi.Pod = newPod
		np.PodInfo = &pi
	}
	q.opts.Nominator.UpdateNominatedPod(oldPod, np.PodInfo)
	switch {
	case q.active.get(uid) != nil:
		q.active.add(&np)
	case q.backoff.get(uid) != nil:
		q.backoff.add(&np)
	case q.gated[uid] != nil:
		if gatedPod(newPod) {
			q.gated[uid] = &np
			return
		}
		delete(q.gated, uid)
		q.active.add(&np)
		q.cond.Broadcast()
	default:
		if change == 0 {
			q.unschedulable[uid] = &np
			return
		}
		delete(q.unschedulable, uid)
		q.requeueLocked(&np)
	}
}

// requeueLocked puts a pod leaving the unschedulable pool in the back-off
// queue if it is still backing off, else in the active queue.
// +checklocks:q.mu
func (q *Queue) requeueLocked(p *framework.QueuedPodInfo) {
	if gatedPod(p.Pod) {
		q.gated[p.Pod.UID] = p
		return
	}
	if q.isBackingOff(p) {
		q.backoff.add(p)
		if q.backoff.peek() == p {
			q.signalWake()
		}
		return
	}
	q.active.add(p)
	q.cond.Broadcast()
}

func (q *Queue) signalWake() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Delete removes a pod that was deleted, or bound by someone else.
func (q *Queue) Delete(pod *v1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	uid := pod.UID
	q.active.remove(uid)
	q.backoff.remove(uid)
	delete(q.unschedulable, uid)
	delete(q.gated, uid)
	if el, ok := q.inFlight[uid]; ok {
		el.Value.(*inFlightPod).deleted = true
	}
	q.opts.Nominator.DeleteNominatedPodIfExists(pod)
}

// Pop blocks until a pod is active, ctx is done or the queue is closed,
// and returns it. The pod is in flight until Done.
func (q *Queue) Pop(ctx context.Context) (*framework.QueuedPodInfo, error) {
	stop := context.AfterFunc(ctx, func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		q.cond.Broadcast()
	})
	defer stop()
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.active.Len() == 0 && !q.closed && ctx.Err() == nil {
		q.cond.Wait()
	}
	if q.closed {
		return nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p := q.active.pop()
	p.Attempts++
	q.pops++
	if p.InitialAttemptTimestamp.IsZero() {
		p.InitialAttemptTimestamp = q.opts.Clock.Now()
	}
	q.inFlight[p.Pod.UID] = q.inFlightOrder.PushBack(&inFlightPod{uid: p.Pod.UID, seq: q.eventSeq})
	return p, nil
}

// Done ends a pod's flight (after its binding cycle, or after it was
// requeued with AddUnschedulableIfNotPresent).
func (q *Queue) Done(uid types.UID) {
	q.mu.Lock()
	defer q.mu.Unlock()
	el, ok := q.inFlight[uid]
	if !ok {
		return
	}
	delete(q.inFlight, uid)
	q.inFlightOrder.Remove(el)
	// Drop the events no remaining in-flight pod can need.
	if q.inFlightOrder.Len() == 0 {
		q.events.Init()
		return
	}
	oldest := q.inFlightOrder.Front().Value.(*inFlightPod).seq
	for e := q.events.Front(); e != nil && e.Value.(*recordedEvent).seq <= oldest; e = q.events.Front() {
		q.events.Remove(e)
	}
}

// AddUnschedulableIfNotPresent requeues a pod whose attempt failed. After
// an error (isError) the pod is retried once its back-off expires.
// Otherwise it was rejected, by p.UnschedulablePlugins (empty: by no
// plugin in particular, e.g. there are no nodes, so any event may help):
// it waits in the unschedulable pool for a relevant event, or goes to the
// back-off queue at once if such an event happened while it was in
// flight. Call it before Done.
func (q *Queue) AddUnschedulableIfNotPresent(p *framework.QueuedPodInfo, isError bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	uid := p.Pod.UID
	var since int64 = -1
	if el, ok := q.inFlight[uid]; ok {
		f := el.Value.(*inFlightPod)
		if f.deleted {
			return
		}
		since = f.seq
	}
	if q.findLocked(uid) != nil {
		return
	}
	p.Timestamp = q.opts.Clock.Now()
	q.opts.Nominator.AddNominatedPod(p.PodInfo, q.opts.Nominator.NominatedNode(p.Pod))
	if isError {
		q.backoff.add(p)
		if q.backoff.peek() == p {
			q.signalWake()
		}
		return
	}
	if since >= 0 {
		for e := q.events.Front(); e != nil; e = e.Next() {
			ev := e.Value.(*recordedEvent)
			if ev.seq <= since || (ev.onlyFor != "" && ev.onlyFor != uid) {
				continue
			}
			if ev.onlyFor == uid || q.relevantLocked(p, ev.event, ev.old, ev.new) {
				q.backoff.add(p)
				if q.backoff.peek() == p {
					q.signalWake()
				}
				return
			}
		}
	}
	q.unschedulable[uid] = p
}

// relevantLocked reports whether event may make p schedulable, asking the
// hints of the plugins that rejected it.
// +checklocks:q.mu
func (q *Queue) relevantLocked(p *framework.QueuedPodInfo, event framework.ClusterEvent, oldObj, newObj any) bool {
	if event.Resource == framework.WildCard || len(p.UnschedulablePlugins) == 0 {
		return true
	}
	for name := range p.UnschedulablePlugins {
		for _, reg := range q.opts.Events[name] {
			if !reg.Event.Match(event) {
				continue
			}
			if reg.QueueingHintFn == nil {
				return true
			}
			hint, err := reg.QueueingHintFn(q.opts.Logger, p.Pod, oldObj, newObj)
			if err != nil {
				q.opts.Logger.Debug("queueing hint failed; retrying the pod", "pod", p.Key(), "plugin", name, "event", event.String(), "err", err)
				return true
			}
			if hint == framework.Queue {
				return true
			}
		}
	}
	return false
}

// +checklocks:q.mu
func (q *Queue) recordLocked(ev recordedEvent) {
	q.eventSeq++
	ev.seq = q.eventSeq
	q.events.PushBack(&ev)
}

// MoveAllToActiveOrBackoffQueue moves the unschedulable pods for which
// event may help (and for which preCheck, if not nil, holds) to the active
// or back-off queue. oldObj/newObj are the event's objects.
func (q *Queue) MoveAllToActiveOrBackoffQueue(event framework.ClusterEvent, oldObj, newObj any, preCheck func(*v1.Pod) bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.inFlight) > 0 {
		q.recordLocked(recordedEvent{event: event, old: oldObj, new: newObj})
	}
	for uid, p := range q.unschedulable {
		if preCheck != nil && !preCheck(p.Pod) {
			continue
		}
		if !q.relevantLocked(p, event, oldObj, newObj) {
			continue
		}
		delete(q.unschedulable, uid)
		q.requeueLocked(p)
	}
}

// FlushBackoffCompleted moves pods whose back-off expired to the active
// queue and returns when the next one expires (zero if none waits).
func (q *Queue) FlushBackoffCompleted() time.Time {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.opts.Clock.Now()
	moved := false
	for {
		p := q.backoff.peek()
		if p == nil {
			break
		}
		exp := q.backoffExpiry(p)
		if exp.After(now) {
			if moved {
				q.cond.Broadcast()
			}
			return exp
		}
		q.backoff.pop()
		q.active.add(p)
		moved = true
	}
	if moved {
		q.cond.Broadcast()
	}
	return time.Time{}
}

// FlushUnschedulableLeftover retries pods that have waited in the
// unschedulable pool longer than MaxInUnschedulable.
func (q *Queue) FlushUnschedulableLeftover() {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.opts.Clock.Now()
	for uid, p := range q.unschedulable {
		if now.Sub(p.Timestamp) > q.opts.MaxInUnschedulable {
			delete(q.unschedulable, uid)
			q.requeueLocked(p)
		}
	}
}

// Run drains the back-off queue when pods expire and runs the periodic
// safety flush, until ctx is done; then it closes the queue.
func (q *Queue) Run(ctx context.Context) {
	defer q.Close()
	flush := q.opts.Clock.NewTicker(q.opts.FlushInterval)
	defer flush.Stop()
	var timer clock.Timer
	var timerC <-chan time.Time
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		next := q.FlushBackoffCompleted()
		if timer != nil {
			timer.Stop()
			timer, timerC = nil, nil
		}
		if !next.IsZero() {
			timer = q.opts.Clock.NewTimer(max(next.Sub(q.opts.Clock.Now()), time.Millisecond))
			timerC = timer.C()
		}
		select {
		case <-ctx.Done():
			return
		case <-q.wake:
		case <-timerC:
		case <-flush.C():
			q.FlushUnschedulableLeftover()
		}
	}
}

// Close wakes every Pop with ErrClosed.
func (q *Queue) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.cond.Broadcast()
}

// Stats are the queue's sizes.
type Stats struct {
	Active, Backoff, Unschedulable, Gated, InFlight int
	// Pops counts scheduling attempts.
	Pops int64
}

// Stats returns the current sizes.
func (q *Queue) Stats() Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	return Stats{Active: q.active.Len(), Backoff: q.backoff.Len(), Unschedulable: len(q.unschedulable),
		Gated: len(q.gated), InFlight: len(q.inFlight), Pops: q.pops}
}

// Where reports which part of the queue holds the pod: "active",
// "backoff", "unschedulable", "gated", "inflight" or "".
func (q *Queue) Where(uid types.UID) string {
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case q.active.get(uid) != nil:
		return "active"
	case q.backoff.get(uid) != nil:
		return "backoff"
	case q.unschedulable[uid] != nil:
		return "unschedulable"
	case q.gated[uid] != nil:
		return "gated"
	case q.inFlight[uid] != nil:
		return "inflight"
	}
	return ""
}

// PendingPods returns every queued pod (not those in flight).
func (q *Queue) PendingPods() []*v1.Pod {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []*v1.Pod
	for _, p := range q.active.items {
		out = append(out, p.Pod)
	}
	for _, p := range q.backoff.items {
		out = append(out, p.Pod)
	}
	for _, p := range q.unschedulable {
		out = append(out, p.Pod)
	}
	for _, p := range q.gated {
		out = append(out, p.Pod)
	}
	return out
}

// UnschedulablePlugins returns the rejecting plugins of a pod in the
// unschedulable pool; for tests.
func (q *Queue) UnschedulablePlugins(uid types.UID) sets.Set[string] {
	q.mu.Lock()
	defer q.mu.Unlock()
	if p, ok := q.unschedulable[uid]; ok {
		return p.UnschedulablePlugins.Clone()
	}
	return nil
}
