package kubelet

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/podvisor/podvisor/internal/kubelet/status"
)

// podRequests is what a pod reserves: the larger of its init
// containers' largest request and its app containers' (and sidecars')
// sum, plus its overhead.
func podRequests(pod *corev1.Pod) corev1.ResourceList {
	sum := corev1.ResourceList{}
	add := func(l corev1.ResourceList, rl corev1.ResourceList) {
		for n, q := range rl {
			v := l[n]
			v.Add(q)
			l[n] = v
		}
	}
	for _, c := range pod.Spec.Containers {
		add(sum, c.Resources.Requests)
	}
	for _, c := range pod.Spec.InitContainers {
		if status.IsSidecar(&c) {
			add(sum, c.Resources.Requests)
		}
	}
	for _, c := range pod.Spec.InitContainers {
		if status.IsSidecar(&c) {
			continue
		}
		for n, q := range c.Resources.Requests {
			if v, ok := sum[n]; !ok || q.Cmp(v) > 0 {
				sum[n] = q.DeepCopy()
			}
		}
	}
	add(sum, pod.Spec.Overhead)
	return sum
}

// sourcesAllReady reports whether every configured source has delivered
// its pods at least once: only then may unknown leftovers be removed.
func (k *Kubelet) sourcesAllReady() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.sourcesReady[SourceAPI] {
		return false
	}
	if k.cfg.PodManifestPath != "" && !k.sourcesReady[SourceFile] {
		return false
	}
	if k.cfg.ManifestURL != "" && !k.sourcesReady[SourceHTTP] {
		return false
	}
	return true
}

// admit decides whether the node runs pod: its runtime class must name a
// configured handler (else it waits, with the reason as its message),
// and a pod that has not started yet must fit the node's pod count, cpu
// and memory (else it fails, as in Kubernetes: reason OutOf<resource>).
// Pods that already run (re-adopted) are admitted as they are.
func (k *Kubelet) admit(ctx context.Context, r *podRecord, pod *corev1.Pod) error {
	w := &r.w
	handler := k.cfg.DefaultRuntimeHandler
	if rc := pod.Spec.RuntimeClassName; rc != nil && *rc != "" {
		obj, err := k.client.NodeV1().RuntimeClasses().Get(ctx, *rc, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("RuntimeClass %q not found", *rc)
		}
		if err != nil {
			return fmt.Errorf("getting RuntimeClass %q: %w", *rc, err)
		}
		handler = obj.Handler
	}
	if !slices.Contains(k.cfg.RuntimeHandlers, handler) {
		return fmt.Errorf("runtime handler %q is not configured on this node (have %v)", handler, k.cfg.RuntimeHandlers)
	}
	w.handler = handler
	phase := pod.Status.Phase
	if t := r.apiTarget(); t != nil {
		phase = t.Status.Phase
	}
	started := len(w.containers) > 0 || phase == corev1.PodRunning || terminalPhase(phase)
	req := podRequests(pod)
	k.mu.Lock()
	defer k.mu.Unlock()
	if !started {
		if reason, msg := k.fitsLocked(pod.UID, req); reason != "" {
			w.rejected = &status.Waiting{Reason: reason, Message: msg}
			w.admitted = true
			k.log.Info("pod rejected", "pod", pod.Name, "namespace", pod.Namespace, "reason", reason)
			if k.recorder != nil {
				k.recorder.Eventf(pod, corev1.EventTypeWarning, reason, "%s", msg)
			}
			return nil
		}
	}
	if !terminalPhase(phase) {
		k.admittedPods[pod.UID] = req
	}
	w.admitted = true
	return nil
}

// fitsLocked checks a new pod against the node's capacity.
//
// +checklocks:k.mu
func (k *Kubelet) fitsLocked(uid types.UID, req corev1.ResourceList) (string, string) {
	if n := len(k.admittedPods); n >= k.cfg.MaxPods {
		return "OutOfpods", fmt.Sprintf("Node didn't have enough resource: pods, requested: 1, used: %d, capacity: %d", n, k.cfg.MaxPods)
	}
	for _, rn := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		want, ok := req[rn]
		if !ok || want.IsZero() {
			continue
		}
		alloc, ok := k.allocatable[rn]
		if !ok {
			continue
		}
		used := resource.Quantity{}
		for other, r := range k.admittedPods {
			if other == uid {
				continue
			}
			if q, ok := r[rn]; ok {
				used.Add(q)
			}
		}
		total := used.DeepCopy()
		total.Add(want)
		if total.Cmp(alloc) > 0 {
			return "OutOf" + string(rn), fmt.Sprintf("Node didn't have enough resource: %s, requested: %d, used: %d, capacity: %d",
				rn, want.MilliValue()/milliOr1(rn), used.MilliValue()/milliOr1(rn), alloc.MilliValue()/milliOr1(rn))
		}
	}
	return "", ""
}

// milliOr1 shows cpu in millicores and the rest in units.
func milliOr1(rn corev1.ResourceName) int64 {
	if rn == corev1.ResourceCPU {
		return 1
	}
	return 1000
}

// releaseAdmission frees a finished pod's reservation.
func (k *Kubelet) releaseAdmission(uid types.UID) {
	k.mu.Lock()
	delete(k.admittedPods, uid)
	k.mu.Unlock()
}
