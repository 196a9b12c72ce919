package admission

import (
	"context"

	corev1 "k8s.io/api/core/v1"
)

// Taints the node controller puts on nodes that stop reporting, as
// Kubernetes names them.
const (
	TaintNodeNotReady    = "node.kubernetes.io/not-ready"
	TaintNodeUnreachable = "node.kubernetes.io/unreachable"
)

// DefaultTolerationSeconds is Kubernetes' DefaultTolerationSeconds plugin:
// a pod that does not tolerate the not-ready and unreachable NoExecute
// taints gets a toleration of each for a limited time, so that its pods
// are evicted from a node that went away only after that time, not at
// once.
type DefaultTolerationSeconds struct {
	// NotReady and Unreachable are the toleration seconds added for the
	// not-ready and unreachable taints (Kubernetes' default: 300 each).
	NotReady, Unreachable int64
}

var _ Interface = (*DefaultTolerationSeconds)(nil)

// Mutate implements Interface.Mutate: on pod creation, add the missing
// tolerations.
func (d *DefaultTolerationSeconds) Mutate(_ context.Context, a *Attributes) error {
	pod, ok := a.Object.(*corev1.Pod)
	if !ok || a.Operation != Create || a.Subresource != "" {
		return nil
	}
	notReady, unreachable := false, false
	for _, t := range pod.Spec.Tolerations {
		notReady = notReady || tolerates(t, TaintNodeNotReady)
		unreachable = unreachable || tolerates(t, TaintNodeUnreachable)
	}
	if !notReady {
		s := d.NotReady
		pod.Spec.Tolerations = append(pod.Spec.Tolerations, corev1.Toleration{Key: TaintNodeNotReady,
			Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &s})
	}
	if !unreachable {
		s := d.Unreachable
		pod.Spec.Tolerations = append(pod.Spec.Tolerations, corev1.Toleration{Key: TaintNodeUnreachable,
			Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &s})
	}
	return nil
}

// tolerates reports whether t already speaks for the NoExecute taint key,
// as Kubernetes decides it: an empty key stands for every key and an
// empty effect for every effect.
func tolerates(t corev1.Toleration, key string) bool {
	return (t.Key == "" || t.Key == key) && (t.Effect == "" || t.Effect == corev1.TaintEffectNoExecute)
}

// Validate implements Interface.Validate: nothing to check.
func (*DefaultTolerationSeconds) Validate(context.Context, *Attributes) error { return nil }
