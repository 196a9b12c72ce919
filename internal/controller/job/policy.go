package job

import (
	"fmt"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// matchFailurePolicy returns the action of the first podFailurePolicy rule
// a failed pod matches ("" when none, meaning Count) and, for FailJob, the
// message of the Job's failure.
func matchFailurePolicy(job *batchv1.Job, pod *corev1.Pod) (batchv1.PodFailurePolicyAction, string) {
	if job.Spec.PodFailurePolicy == nil {
		return "", ""
	}
	for i, r := range job.Spec.PodFailurePolicy.Rules {
		if r.OnExitCodes != nil {
			if name, code, ok := matchExitCodes(r.OnExitCodes, pod); ok {
				return r.Action, fmt.Sprintf("Container %s for pod %s/%s failed with exit code %d matching %s rule at index %d",
					name, pod.Namespace, pod.Name, code, r.Action, i)
			}
			continue
		}
		for _, pc := range r.OnPodConditions {
			for _, c := range pod.Status.Conditions {
				if c.Type == pc.Type && c.Status == pc.Status {
					return r.Action, fmt.Sprintf("Pod %s/%s has condition %s matching %s rule at index %d", pod.Namespace, pod.Name, c.Type, r.Action, i)
				}
			}
		}
	}
	return "", ""
}

// matchExitCodes finds a terminated container whose exit code satisfies
// req (exit code 0 never matches, as Kubernetes).
func matchExitCodes(req *batchv1.PodFailurePolicyOnExitCodesRequirement, pod *corev1.Pod) (string, int32, bool) {
	statuses := append(append([]corev1.ContainerStatus(nil), pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...)
	for _, st := range statuses {
		if req.ContainerName != nil && *req.ContainerName != st.Name {
			continue
		}
		t := st.State.Terminated
		if t == nil || t.ExitCode == 0 {
			continue
		}
		in := false
		for _, v := range req.Values {
			if v == t.ExitCode {
				in = true
			}
		}
		if (req.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn) == in {
			return st.Name, t.ExitCode, true
		}
	}
	return "", 0, false
}

// backoffStore remembers, per Job, the failures since the last success and
// when the last one happened, to delay replacements exponentially. It is
// in memory: after a restart replacements start at once.
type backoffStore struct {
	mu sync.Mutex
	// +checklocks:mu
	byKey map[string]backoffRecord
}

type backoffRecord struct {
	failures int
	last     time.Time
}

func newBackoffStore() *backoffStore { return &backoffStore{byKey: map[string]backoffRecord{}} }

// update records a sync's newly finished pods.
func (b *backoffStore) update(key string, succeeded bool, failed []*corev1.Pod, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.byKey[key]
	if succeeded {
		r = backoffRecord{}
	}
	for _, p := range failed {
		r.failures++
		if t := finishTime(p, now); t.After(r.last) {
			r.last = t
		}
	}
	if r.failures == 0 {
		delete(b.byKey, key)
		return
	}
	b.byKey[key] = r
}

// remaining returns how long replacements of key's pods must still wait:
// 10s after one failure, doubling per failure, at most 10 minutes.
func (b *backoffStore) remaining(key string, now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.byKey[key]
	if !ok || r.failures == 0 {
		return 0
	}
	d := DefaultBackOff
	for i := 1; i < r.failures && d < MaxBackOff; i++ {
		d *= 2
	}
	d = min(d, MaxBackOff)
	return max(r.last.Add(d).Sub(now), 0)
}

func (b *backoffStore) forget(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.byKey, key)
}

// finishTime is when a pod failed: its containers' last finish, else its
// Ready condition's last change, else now.
func finishTime(p *corev1.Pod, now time.Time) time.Time {
	var t time.Time
	for _, st := range p.Status.ContainerStatuses {
		if st.State.Terminated != nil && st.State.Terminated.FinishedAt.After(t) {
			t = st.State.Terminated.FinishedAt.Time
		}
	}
	if !t.IsZero() {
		return t
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && !c.LastTransitionTime.IsZero() {
			return c.LastTransitionTime.Time
		}
	}
	if p.DeletionTimestamp != nil {
		return p.DeletionTimestamp.Time
	}
	return now
}
