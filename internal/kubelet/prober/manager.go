package prober

import (
	"context"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Running is a running container instance to probe.
type Running struct {
	// ID is the runtime container ID; a new ID restarts the workers.
	ID string
	// StartedAt is when the instance started (initial delays count from
	// it).
	StartedAt time.Time
	// WasReady seeds the readiness verdict (after an agent restart, what
	// the pod's status said of this same instance).
	WasReady bool
	// WasStarted seeds the startup verdict likewise.
	WasStarted bool
}

// Deps are the Manager's collaborators.
type Deps struct {
	Runner *Runner
	// OnChange is called (from a worker goroutine) when a verdict
	// changes: the kubelet re-syncs the pod.
	OnChange func(uid types.UID)
	// Event is called for every failed probe (an Unhealthy event).
	Event func(pod *corev1.Pod, kind Kind, container, message string)
	Log   *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

type key struct {
	uid       types.UID
	container string
	kind      Kind
}

// Manager runs the probe workers of every pod. It is safe for concurrent
// use.
type Manager struct {
	runner   *Runner
	onChange func(types.UID)
	event    func(*corev1.Pod, Kind, string, string)
	log      *slog.Logger
	now      func() time.Time
	ctx      context.Context
	stop     context.CancelFunc
	wg       sync.WaitGroup

	mu      sync.Mutex
	workers map[key]*worker  // +checklocks:mu
	results map[key]verdict  // +checklocks:mu
	counts  map[key]*counter // +checklocks:mu
}

// verdict is a kind's verdict for one container instance.
type verdict struct {
	containerID string
	result      Result
}

// podTarget is what every worker of a pod shares.
type podTarget struct {
	pod *corev1.Pod
}

// NewManager returns a Manager; Stop ends its workers.
func NewManager(d Deps) *Manager {
	ctx, cancel := context.WithCancel(context.Background())
	now := d.Now
	if now == nil {
		now = time.Now
	}
	log := d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Manager{
		runner: d.Runner, onChange: d.OnChange, event: d.Event, log: log, now: now,
		ctx: ctx, stop: cancel,
		workers: map[key]*worker{}, results: map[key]verdict{}, counts: map[key]*counter{},
	}
}

func probeOf(c *corev1.Container, k Kind) *corev1.Probe {
	switch k {
	case Liveness:
		return c.LivenessProbe
	case Readiness:
		return c.ReadinessProbe
	}
	return c.StartupProbe
}

// Update makes the workers of pod match running (container name → its
// running instance): a worker per probe of each running container, none
// for the others. podIP and netns are where httpGet and tcpSocket probes
// go.
func (m *Manager) Update(pod *corev1.Pod, podIP, netns string, running map[string]Running) {
	m.mu.Lock()
	defer m.mu.Unlock()
	want := map[key]bool{}
	all := make([]*corev1.Container, 0, len(pod.Spec.InitContainers)+len(pod.Spec.Containers))
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		// Only sidecars are probed among init containers.
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			all = append(all, c)
		}
	}
	for i := range pod.Spec.Containers {
		all = append(all, &pod.Spec.Containers[i])
	}
	for _, c := range all {
		r, ok := running[c.Name]
		if !ok {
			continue
		}
		for _, kind := range []Kind{Startup, Liveness, Readiness} {
			p := probeOf(c, kind)
			if p == nil {
				continue
			}
			k := key{pod.UID, c.Name, kind}
			want[k] = true
			if w := m.workers[k]; w != nil && w.containerID == r.ID {
				continue
			}
			if v, ok := m.results[k]; ok && v.containerID == r.ID && m.workers[k] == nil {
				// Finished (startup succeeded or on hold): keep.
				continue
			}
			m.stopLocked(k)
			cnt := newCounter(kind, p)
			if kind == Readiness && r.WasReady {
				cnt.verdict, cnt.last = Success, Success
			}
			if kind == Startup && r.WasStarted {
				cnt.verdict = Success
			}
			m.counts[k] = cnt
			m.results[k] = verdict{containerID: r.ID, result: cnt.verdict}
			if kind == Startup && cnt.verdict == Success {
				continue
			}
			wctx, cancel := context.WithCancel(m.ctx)
			w := &worker{m: m, key: k, containerID: r.ID, probe: p, cancel: cancel, done: make(chan struct{})}
			m.workers[k] = w
			t := Target{ContainerID: r.ID, Container: c, PodIP: podIP, NetNS: netns}
			m.wg.Add(1)
			go func() {
				defer m.wg.Done()
				w.run(wctx, newSchedule(p, r.StartedAt), t, podTarget{pod: pod})
			}()
		}
	}
	for k := range m.workers {
		if k.uid == pod.UID && !want[k] {
			m.stopLocked(k)
		}
	}
	for k := range m.results {
		if k.uid == pod.UID && !want[k] {
			delete(m.results, k)
			delete(m.counts, k)
		}
	}
}

// stopLocked cancels a worker without waiting for it (it may be calling
// back into the Manager).
//
// +checklocks:m.mu
func (m *Manager) stopLocked(k key) {
	if w := m.workers[k]; w != nil {
		w.cancel()
		delete(m.workers, k)
	}
}

// Remove stops every worker of pod uid and forgets its verdicts.
func (m *Manager) Remove(uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.workers {
		if k.uid == uid {
			m.stopLocked(k)
		}
	}
	for k := range m.results {
		if k.uid == uid {
			delete(m.results, k)
			delete(m.counts, k)
		}
	}
}

// Stop ends every worker and waits for them.
func (m *Manager) Stop() {
	m.stop()
	m.wg.Wait()
}

// Result returns the verdict of kind for container name's instance id of
// pod uid, and whether there is one (false: no such probe, or no worker
// for this instance yet).
func (m *Manager) Result(uid types.UID, name string, kind Kind, id string) (Result, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.results[key{uid, name, kind}]
	if !ok || v.containerID != id {
		return Unknown, false
	}
	return v.result, true
}

// startedFor reports whether k's container instance passed its startup
// probe (or has none).
func (m *Manager) startedFor(k key, id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.results[key{k.uid, k.container, Startup}]
	if !ok {
		return true
	}
	return v.containerID == id && v.result == Success
}

// observe feeds a worker's result to its counter; it reports whether the
// worker should stop (startup succeeded, or a liveness/startup failure
// put the instance on hold).
func (m *Manager) observe(k key, id string, r Result) bool {
	m.mu.Lock()
	cnt := m.counts[k]
	v, ok := m.results[k]
	if cnt == nil || !ok || v.containerID != id {
		m.mu.Unlock()
		return true
	}
	changed := cnt.observe(r)
	m.results[k] = verdict{containerID: id, result: cnt.verdict}
	stop := cnt.onHold || (k.kind == Startup && cnt.verdict == Success)
	if stop {
		if w := m.workers[k]; w != nil && w.containerID == id {
			w.cancel()
			delete(m.workers, k)
		}
	}
	now := cnt.verdict
	m.mu.Unlock()
	if changed {
		m.log.Debug("probe verdict changed", "pod", string(k.uid), "container", k.container, "probe", k.kind.String(), "result", now.String())
		if m.onChange != nil {
			m.onChange(k.uid)
		}
	}
	return stop
}
