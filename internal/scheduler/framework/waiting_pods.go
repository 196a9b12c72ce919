package framework

import (
	"fmt"
	"sort"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// waitingPods are the pods parked by Permit plugins.
type waitingPods struct {
	mu sync.RWMutex
	// +checklocks:mu
	pods map[types.UID]*waitingPod
}

func newWaitingPods() *waitingPods { return &waitingPods{pods: map[types.UID]*waitingPod{}} }

func (w *waitingPods) add(wp *waitingPod) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pods[wp.pod.UID] = wp
}

func (w *waitingPods) remove(uid types.UID) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.pods, uid)
}

func (w *waitingPods) get(uid types.UID) *waitingPod {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.pods[uid]
}

func (w *waitingPods) iterate(fn func(WaitingPod)) {
	w.mu.RLock()
	list := make([]*waitingPod, 0, len(w.pods))
	for _, wp := range w.pods {
		list = append(list, wp)
	}
	w.mu.RUnlock()
	for _, wp := range list {
		fn(wp)
	}
}

// waitingPod is one parked pod: every plugin that asked to wait has a
// timer that rejects the pod when it fires.
type waitingPod struct {
	pod *v1.Pod
	// done receives the outcome exactly once.
	done chan *Status

	mu sync.Mutex
	// +checklocks:mu
	pending map[string]*time.Timer
	// +checklocks:mu
	finished bool
}

func newWaitingPod(pod *v1.Pod, waits map[string]time.Duration) *waitingPod {
	wp := &waitingPod{pod: pod, done: make(chan *Status, 1), pending: map[string]*time.Timer{}}
	wp.mu.Lock()
	defer wp.mu.Unlock()
	for name, d := range waits {
		wp.pending[name] = time.AfterFunc(d, func() {
			wp.Reject(name, fmt.Sprintf("rejected due to timeout after waiting %v at plugin %s", d, name))
		})
	}
	return wp
}

// Pod implements WaitingPod.
func (wp *waitingPod) Pod() *v1.Pod { return wp.pod }

// PendingPlugins implements WaitingPod.
func (wp *waitingPod) PendingPlugins() []string {
	wp.mu.Lock()
	defer wp.mu.Unlock()
	out := make([]string, 0, len(wp.pending))
	for n := range wp.pending {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Allow implements WaitingPod.
func (wp *waitingPod) Allow(pluginName string) {
	wp.mu.Lock()
	defer wp.mu.Unlock()
	if wp.finished {
		return
	}
	if t, ok := wp.pending[pluginName]; ok {
		t.Stop()
		delete(wp.pending, pluginName)
	}
	if len(wp.pending) == 0 {
		wp.finished = true
		wp.done <- nil
	}
}

// Reject implements WaitingPod.
func (wp *waitingPod) Reject(pluginName, msg string) {
	wp.mu.Lock()
	defer wp.mu.Unlock()
	if wp.finished {
		return
	}
	wp.finished = true
	for _, t := range wp.pending {
		t.Stop()
	}
	wp.done <- NewStatus(Unschedulable, msg).WithPlugin(pluginName)
}

// stop cancels the timers of an abandoned wait.
func (wp *waitingPod) stop() {
	wp.mu.Lock()
	defer wp.mu.Unlock()
	wp.finished = true
	for _, t := range wp.pending {
		t.Stop()
	}
}
