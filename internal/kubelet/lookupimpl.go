package kubelet

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/podvisor/podvisor/internal/runtime/oci"
)

var _ PodLookup = (*Kubelet)(nil)

// publish refreshes what PodLookup reports of r (called by its worker).
func (k *Kubelet) publish(r *podRecord) {
	w := &r.w
	pod := w.lastPod
	if pod == nil {
		pod = r.desired()
	}
	if pod == nil {
		return
	}
	p := pod.DeepCopy()
	if w.computed {
		p.Status = *w.status.DeepCopy()
	}
	view := PodState{Pod: p, UID: r.uid, HostNetwork: pod.Spec.HostNetwork}
	if w.sandbox != nil {
		view.NetNS = w.sandbox.NetNS
	}
	refs := map[string][]ContainerRef{}
	byName := instancesByName(w.containers)
	add := func(c *corev1.Container, init bool) {
		is := byName[c.Name]
		for _, st := range is {
			refs[c.Name] = append(refs[c.Name], ContainerRef{
				Name: c.Name, ID: st.ID, Init: init, Attempt: st.Attempt,
				Running: st.State == oci.StateRunning, StartedAt: st.StartedAt, FinishedAt: st.FinishedAt,
				Stdin: c.Stdin, TTY: c.TTY,
			})
		}
		if n := len(refs[c.Name]); n > 0 {
			view.Containers = append(view.Containers, refs[c.Name][n-1])
		}
	}
	for i := range pod.Spec.InitContainers {
		add(&pod.Spec.InitContainers[i], true)
	}
	for i := range pod.Spec.Containers {
		add(&pod.Spec.Containers[i], false)
	}
	waiting := map[string]string{}
	for n, wt := range w.waiting {
		waiting[n] = wt.Reason
	}
	if w.podErr != "" {
		waiting[""] = "ContainerCreating"
	}
	r.mu.Lock()
	r.view, r.refs, r.waitReasons = view, refs, waiting
	r.mu.Unlock()
}

// lookupRecord finds the record of pod namespace/name: the one its
// source still wants if there are several (a pod re-created under the
// same name while the old one terminates).
func (k *Kubelet) lookupRecord(namespace, name string) *podRecord {
	k.mu.Lock()
	defer k.mu.Unlock()
	var found *podRecord
	for _, r := range k.pods {
		r.mu.Lock()
		p := r.view.Pod
		alive := r.pod != nil && r.pod.DeletionTimestamp == nil
		r.mu.Unlock()
		if p == nil || p.Namespace != namespace || p.Name != name {
			continue
		}
		if found == nil || alive {
			found = r
		}
	}
	return found
}

// GetPod implements PodLookup.GetPod.
func (k *Kubelet) GetPod(namespace, name string) (PodState, bool) {
	r := k.lookupRecord(namespace, name)
	if r == nil {
		return PodState{}, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	v := r.view
	v.Containers = append([]ContainerRef(nil), v.Containers...)
	return v, true
}

// ListPods implements PodLookup.ListPods.
func (k *Kubelet) ListPods() []PodState {
	k.mu.Lock()
	rs := make([]*podRecord, 0, len(k.pods))
	for _, r := range k.pods {
		rs = append(rs, r)
	}
	k.mu.Unlock()
	out := make([]PodState, 0, len(rs))
	for _, r := range rs {
		r.mu.Lock()
		v := r.view
		v.Containers = append([]ContainerRef(nil), v.Containers...)
		r.mu.Unlock()
		if v.Pod != nil {
			out = append(out, v)
		}
	}
	return out
}

// Container implements PodLookup.Container.
func (k *Kubelet) Container(namespace, name, container string, previous bool) (ContainerRef, error) {
	r := k.lookupRecord(namespace, name)
	if r == nil {
		return ContainerRef{}, fmt.Errorf("pod %s/%s: %w", namespace, name, ErrPodNotFound)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	pod := r.view.Pod
	if container == "" {
		if len(pod.Spec.Containers) != 1 {
			names := make([]string, 0, len(pod.Spec.Containers))
			for _, c := range pod.Spec.Containers {
				names = append(names, c.Name)
			}
			return ContainerRef{}, fmt.Errorf("a container name must be specified for pod %s, choose one of: %v: %w", name, names, ErrContainerNotFound)
		}
		container = pod.Spec.Containers[0].Name
	}
	if specOf(pod, container) == nil {
		return ContainerRef{}, fmt.Errorf("container %s is not valid for pod %s: %w", container, name, ErrContainerNotFound)
	}
	refs := r.refs[container]
	if previous {
		if len(refs) < 2 {
			return ContainerRef{}, fmt.Errorf("previous terminated container %q in pod %q not found: %w", container, name, ErrContainerNotFound)
		}
		return refs[len(refs)-2], nil
	}
	if len(refs) == 0 {
		reason := r.waitReasons[container]
		if reason == "" {
			reason = "ContainerCreating"
		}
		return ContainerRef{}, fmt.Errorf("container %q in pod %q is waiting to start: %s: %w", container, name, reason, ErrContainerNotStarted)
	}
	return refs[len(refs)-1], nil
}
