package kubelet

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// mirrorOf builds the mirror pod of a static pod: its metadata and spec,
// the kubernetes.io/config.mirror annotation (the static pod's hash) and
// this Node as owner.
func (k *Kubelet) mirrorOf(pod *corev1.Pod) *corev1.Pod {
	m := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: pod.Name, Namespace: pod.Namespace,
			Labels:      pod.Labels,
			Annotations: map[string]string{},
		},
		Spec: *pod.Spec.DeepCopy(),
	}
	for a, v := range pod.Annotations {
		m.Annotations[a] = v
	}
	m.Annotations[annConfigMirror] = pod.Annotations[annConfigHash]
	k.nodeMu.Lock()
	if k.node != nil {
		ctrl := true
		m.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: k.node.Name, UID: k.node.UID, Controller: &ctrl}}
	}
	k.nodeMu.Unlock()
	return m
}

// syncMirror keeps a static pod's mirror pod in the API: created when
// missing (also after someone deletes it), replaced when the static pod
// changed. The mirror pod becomes the status target.
func (k *Kubelet) syncMirror(ctx context.Context, r *podRecord, pod *corev1.Pod) {
	k.mu.Lock()
	m := k.mirrors[fullName(pod.Namespace, pod.Name)]
	k.mu.Unlock()
	if m != nil && (m.DeletionTimestamp != nil || m.Annotations[annConfigMirror] != pod.Annotations[annConfigHash]) {
		k.deleteMirror(ctx, pod, m)
		m = nil
	}
	if m == nil {
		out, err := k.client.CoreV1().Pods(pod.Namespace).Create(ctx, k.mirrorOf(pod), metav1.CreateOptions{})
		switch {
		case apierrors.IsAlreadyExists(err):
			// The informer will bring it.
		case err != nil:
			k.log.Warn("creating mirror pod", "pod", pod.Name, "namespace", pod.Namespace, "err", err)
		default:
			k.log.Info("mirror pod created", "pod", pod.Name, "namespace", pod.Namespace)
			m = out
			k.mu.Lock()
			if cur := k.mirrors[fullName(pod.Namespace, pod.Name)]; cur == nil || cur.UID != out.UID {
				k.mirrors[fullName(pod.Namespace, pod.Name)] = out
			}
			k.mu.Unlock()
		}
	}
	r.mu.Lock()
	r.target = m
	r.mu.Unlock()
}

// deleteMirror deletes pod's mirror pod (m, or whatever mirror the
// kubelet knows by that name when m is nil).
func (k *Kubelet) deleteMirror(ctx context.Context, pod *corev1.Pod, m *corev1.Pod) {
	k.mu.Lock()
	if m == nil {
		m = k.mirrors[fullName(pod.Namespace, pod.Name)]
	}
	k.mu.Unlock()
	if m == nil {
		return
	}
	uid := m.UID
	zero := int64(0)
	err := k.client.CoreV1().Pods(m.Namespace).Delete(ctx, m.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		k.log.Warn("deleting mirror pod", "pod", m.Name, "namespace", m.Namespace, "err", err)
		return
	}
	k.mu.Lock()
	if cur := k.mirrors[fullName(m.Namespace, m.Name)]; cur != nil && cur.UID == uid {
		delete(k.mirrors, fullName(m.Namespace, m.Name))
	}
	k.mu.Unlock()
}

// cleanOrphanMirrors deletes mirror pods whose static pod no longer
// exists (once every source has reported).
func (k *Kubelet) cleanOrphanMirrors(ctx context.Context) {
	if !k.sourcesAllReady() {
		return
	}
	var orphans []*corev1.Pod
	k.mu.Lock()
	for key, m := range k.mirrors {
		found := false
		for _, pods := range k.static {
			for _, p := range pods {
				if fullName(p.Namespace, p.Name) == key {
					found = true
				}
			}
		}
		if !found {
			orphans = append(orphans, m)
		}
	}
	k.mu.Unlock()
	for _, m := range orphans {
		k.log.Info("deleting orphaned mirror pod", "pod", m.Name, "namespace", m.Namespace)
		k.deleteMirror(ctx, m, m)
	}
}
