package kubelet

import (
	"net/netip"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/podvisor/podvisor/internal/kubelet/podsandbox"
	"github.com/podvisor/podvisor/internal/kubelet/status"
	"github.com/podvisor/podvisor/internal/kubelet/volume"
	"github.com/podvisor/podvisor/internal/runtime/oci"
)

// podRecord is one pod the kubelet runs or tears down, and its worker's
// state.
type podRecord struct {
	uid    types.UID
	wakeCh chan struct{}

	mu sync.Mutex
	// pod is the desired pod from its source; nil once it left every
	// source (then the worker tears it down).
	pod    *corev1.Pod // +checklocks:mu
	source string      // +checklocks:mu
	// target is the API object its status is written to: the pod from
	// the API, or a static pod's mirror pod (nil until it exists).
	target *corev1.Pod // +checklocks:mu
	// final is the pod's last API object when it was deleted from the
	// API (its deletion grace period).
	final *corev1.Pod // +checklocks:mu
	// view is what PodLookup reports.
	view PodState // +checklocks:mu
	// refs are every instance of each container, oldest first, and
	// waitReasons why containers wait, for PodLookup.
	refs        map[string][]ContainerRef // +checklocks:mu
	waitReasons map[string]string         // +checklocks:mu

	// w is touched by the pod's worker goroutine only.
	w workerState
}

// workerState is a pod worker's private state.
type workerState struct {
	// containers are the pod's container instances in the runtime,
	// oldest first.
	containers []oci.ContainerStatus
	sandbox    *podsandbox.Sandbox
	podIP      netip.Addr
	netReady   bool
	volumes    map[string]volume.Mounted
	// waiting holds why containers are not running (pull errors, config
	// errors, back-off), by container name.
	waiting map[string]status.Waiting
	// restarts is the container restart back-off, by container name.
	restarts backoff
	// pulls is the image pull back-off, by image.
	pulls backoff
	// lastPullErr keeps the last pull error by image (ImagePullBackOff
	// message).
	lastPullErr map[string]string
	// handler is the pod's runtime handler, resolved once.
	handler string
	// admitted/rejected: the kubelet's admission verdict.
	admitted bool
	rejected *status.Waiting
	// deadlineExceeded: activeDeadlineSeconds passed.
	deadlineExceeded bool
	// finished: the pod reached a terminal phase and was cleaned up
	// (probes, network, volumes) while its exited containers are kept.
	finished bool
	// adopted: the record was rebuilt from what the node held at start.
	adopted bool
	// podErr is why the pod cannot start containers (sandbox, network,
	// volumes, runtime class), shown as their waiting message.
	podErr string
	// lastMountErr and lastMountEvent rate-limit FailedMount events.
	lastMountErr   string
	lastMountEvent time.Time
	// hooked records instance IDs whose postStart hook ran.
	hooked map[string]bool
	// termMsgs caches termination messages read from logs, by ID.
	termMsgs map[string]string
	// lastPod is the last desired pod seen (for the teardown of a pod
	// that left its source).
	lastPod *corev1.Pod
	// status is the last status computed.
	status   corev1.PodStatus
	computed bool
}

func newRecord(uid types.UID, base, max time.Duration) *podRecord {
	return &podRecord{
		uid:    uid,
		wakeCh: make(chan struct{}, 1),
		w: workerState{
			waiting:     map[string]status.Waiting{},
			restarts:    newBackoff(base, max),
			pulls:       newBackoff(base, max),
			lastPullErr: map[string]string{},
			hooked:      map[string]bool{},
			termMsgs:    map[string]string{},
		},
	}
}

// poke wakes the worker (coalesced).
func (r *podRecord) poke() {
	select {
	case r.wakeCh <- struct{}{}:
	default:
	}
}

func (r *podRecord) desired() *corev1.Pod {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pod
}

func (r *podRecord) apiTarget() *corev1.Pod {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.target
}

func (r *podRecord) sourceName() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.source
}

// backoff is an exponential back-off per key: the first retry is
// immediate, then waits base, 2×base, ... up to max; an entry unused for
// 2×max starts over (Kubernetes' container restart back-off).
type backoff struct {
	base, max time.Duration
	entries   map[string]*backoffEntry
}

type backoffEntry struct {
	delay time.Duration
	last  time.Time
}

func newBackoff(base, max time.Duration) backoff {
	return backoff{base: base, max: max, entries: map[string]*backoffEntry{}}
}

// remaining returns how long key must still wait after an event at t
// (e.g. the container's exit), at now.
func (b *backoff) remaining(key string, t, now time.Time) time.Duration {
	e := b.entries[key]
	if e == nil {
		return 0
	}
	if now.Sub(e.last) > 2*b.max {
		delete(b.entries, key)
		return 0
	}
	if d := t.Add(e.delay).Sub(now); d > 0 {
		return d
	}
	return 0
}

// delay is key's current back-off (0 before the first retry).
func (b *backoff) delay(key string) time.Duration {
	if e := b.entries[key]; e != nil {
		return e.delay
	}
	return 0
}

// next records a retry of key at now and grows its delay.
func (b *backoff) next(key string, now time.Time) {
	e := b.entries[key]
	switch {
	case e == nil || now.Sub(e.last) > 2*b.max:
		b.entries[key] = &backoffEntry{delay: b.base, last: now}
	default:
		e.delay *= 2
		if e.delay > b.max {
			e.delay = b.max
		}
		e.last = now
	}
}

// reset forgets key.
func (b *backoff) reset(key string) { delete(b.entries, key) }

// lastAt returns when key's back-off last grew (zero if never).
func (b *backoff) lastAt(key string) time.Time {
	if e := b.entries[key]; e != nil {
		return e.last
	}
	return time.Time{}
}
