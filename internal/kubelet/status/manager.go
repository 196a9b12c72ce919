package status

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/workqueue"
)

// Manager keeps the latest computed status of every pod and writes it to
// the API server through pods/status, asynchronously and only when it
// differs from what the API object holds. It is safe for concurrent use.
type Manager struct {
	// OnWritten, if set before Run, is called after each status write
	// with the status written (benchmarks trace pod start-up with it).
	OnWritten func(uid types.UID, st *corev1.PodStatus)

	client kubernetes.Interface
	log    *slog.Logger
	queue  workqueue.TypedRateLimitingInterface[types.UID]

	mu   sync.Mutex
	pods map[types.UID]*entry // +checklocks:mu
}

// entry is one pod's status and the API object it is written to.
type entry struct {
	// target is the API object last seen (the pod itself, or a static
	// pod's mirror pod); nil until known.
	target *corev1.Pod
	status corev1.PodStatus
	// version counts Set calls; written is the version last written.
	version, written uint64
}

// NewManager returns a Manager writing with client. Run must be called
// for writes to happen.
func NewManager(client kubernetes.Interface, log *slog.Logger) *Manager {
	rl := workqueue.NewTypedItemExponentialFailureRateLimiter[types.UID](100*time.Millisecond, 10*time.Second)
	return &Manager{
		client: client, log: log,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(rl, workqueue.TypedRateLimitingQueueConfig[types.UID]{Name: "podstatus"}),
		pods:  map[types.UID]*entry{},
	}
}

// Run writes statuses with workers goroutines until ctx ends; it returns
// once they have stopped.
func (m *Manager) Run(ctx context.Context, workers int) {
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m.processNext(ctx) {
			}
		}()
	}
	<-ctx.Done()
	m.queue.ShutDown()
	wg.Wait()
}

// Set records uid's newly computed status. target is the API object the
// status belongs to (the pod from the API, or a static pod's mirror pod;
// nil if there is none yet: the status is kept and written once SetTarget
// names one).
func (m *Manager) Set(uid types.UID, target *corev1.Pod, st corev1.PodStatus) {
	m.mu.Lock()
	e := m.pods[uid]
	if e == nil {
		e = &entry{}
		m.pods[uid] = e
	}
	if target != nil && newer(e.target, target) {
		e.target = target
	}
	changed := e.version == 0 || !equality.Semantic.DeepEqual(e.status, st)
	if changed {
		e.version++
		e.status = st
	}
	need := e.target != nil && e.written != e.version
	m.mu.Unlock()
	if need {
		m.queue.Add(uid)
	}
}

// SetTarget records a newer API object for uid (from an informer): the
// next write starts from it.
func (m *Manager) SetTarget(uid types.UID, target *corev1.Pod) {
	m.mu.Lock()
	e := m.pods[uid]
	if e == nil {
		m.mu.Unlock()
		return
	}
	if newer(e.target, target) {
		e.target = target
	} else {
		m.mu.Unlock()
		return
	}
	need := e.version > 0 && !equality.Semantic.DeepEqual(target.Status, e.status)
	if need {
		// The object no longer holds what was written (another writer,
		// or a recreated mirror pod).
		e.written = 0
	}
	m.mu.Unlock()
	if need {
		m.queue.Add(uid)
	}
}

// Get returns the last status Set for uid.
func (m *Manager) Get(uid types.UID) (corev1.PodStatus, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.pods[uid]
	if e == nil || e.version == 0 {
		return corev1.PodStatus{}, false
	}
	return *e.status.DeepCopy(), true
}

// Forget drops uid (the pod is gone).
func (m *Manager) Forget(uid types.UID) {
	m.mu.Lock()
	delete(m.pods, uid)
	m.mu.Unlock()
	m.queue.Forget(uid)
}

// Flush writes uid's status now if it is not written yet (before the
// kubelet deletes a terminated pod, so the final status is seen).
func (m *Manager) Flush(ctx context.Context, uid types.UID) error {
	return m.sync(ctx, uid)
}

func (m *Manager) processNext(ctx context.Context) bool {
	uid, quit := m.queue.Get()
	if quit {
		return false
	}
	defer m.queue.Done(uid)
	if err := m.sync(ctx, uid); err != nil {
		m.log.Debug("writing pod status", "uid", string(uid), "err", err)
		m.queue.AddRateLimited(uid)
		return true
	}
	m.queue.Forget(uid)
	return true
}

// sync writes uid's status if needed. A conflict re-reads the object and
// tries again at once; a pod that no longer exists (or was replaced by
// one with another UID) is dropped.
func (m *Manager) sync(ctx context.Context, uid types.UID) error {
	for attempt := 0; ; attempt++ {
		m.mu.Lock()
		e := m.pods[uid]
		if e == nil || e.target == nil || e.written == e.version {
			m.mu.Unlock()
			return nil
		}
		version := e.version
		pod := e.target.DeepCopy()
		st := *e.status.DeepCopy()
		m.mu.Unlock()

		if equality.Semantic.DeepEqual(pod.Status, st) {
			m.markWritten(uid, version, nil)
			return nil
		}
		pod.Status = st
		out, err := m.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
		switch {
		case err == nil:
			m.markWritten(uid, version, out)
			if m.OnWritten != nil {
				m.OnWritten(uid, &out.Status)
			}
			return nil
		case apierrors.IsNotFound(err):
			m.markWritten(uid, version, nil)
			return nil
		case apierrors.IsConflict(err) && attempt < 3:
			fresh, gerr := m.client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
			if apierrors.IsNotFound(gerr) {
				m.markWritten(uid, version, nil)
				return nil
			}
			if gerr != nil {
				return fmt.Errorf("re-reading pod %s/%s: %w", pod.Namespace, pod.Name, gerr)
			}
			if fresh.UID != pod.UID {
				// Replaced by another pod of the same name: not ours.
				m.markWritten(uid, version, nil)
				return nil
			}
			m.mu.Lock()
			if e := m.pods[uid]; e != nil {
				e.target = fresh
			}
			m.mu.Unlock()
		default:
			return fmt.Errorf("updating status of pod %s/%s: %w", pod.Namespace, pod.Name, err)
		}
	}
}

func (m *Manager) markWritten(uid types.UID, version uint64, out *corev1.Pod) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.pods[uid]
	if e == nil {
		return
	}
	if out != nil {
		e.target = out
	}
	if e.written < version {
		e.written = version
	}
}

// newer reports whether b is at least as recent as a. Resource versions
// are opaque, but this API server's are etcd revisions; when either does
// not parse, b is taken.
func newer(a, b *corev1.Pod) bool {
	if a == nil || a.UID != b.UID {
		return true
	}
	ra, err1 := strconv.ParseUint(a.ResourceVersion, 10, 64)
	rb, err2 := strconv.ParseUint(b.ResourceVersion, 10, 64)
	if err1 != nil || err2 != nil {
		return true
	}
	return rb >= ra
}
