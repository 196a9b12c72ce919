package nodelifecycle

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// conditionTaints are the NoSchedule taints that mirror node conditions
// (Kubernetes' TaintNodesByCondition), by condition type and the status
// that sets them.
var conditionTaints = []struct {
	cond   corev1.NodeConditionType
	status corev1.ConditionStatus
	key    string
}{
	{corev1.NodeReady, corev1.ConditionFalse, corev1.TaintNodeNotReady},
	{corev1.NodeReady, corev1.ConditionUnknown, corev1.TaintNodeUnreachable},
	{corev1.NodeMemoryPressure, corev1.ConditionTrue, corev1.TaintNodeMemoryPressure},
	{corev1.NodeDiskPressure, corev1.ConditionTrue, corev1.TaintNodeDiskPressure},
	{corev1.NodePIDPressure, corev1.ConditionTrue, corev1.TaintNodePIDPressure},
	{corev1.NodeNetworkUnavailable, corev1.ConditionTrue, corev1.TaintNodeNetworkUnavailable},
}

// managed reports whether this controller owns taint t.
func managed(t corev1.Taint) bool {
	if t.Key == corev1.TaintNodeUnschedulable {
		return t.Effect == corev1.TaintEffectNoSchedule
	}
	for _, ct := range conditionTaints {
		if ct.key == t.Key {
			return t.Effect == corev1.TaintEffectNoSchedule ||
				t.Effect == corev1.TaintEffectNoExecute && (t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable)
		}
	}
	return false
}

// WantedTaints returns the taints this controller wants on node: the
// NoSchedule condition taints, and the NoExecute not-ready or unreachable
// taint if noExecute.
func WantedTaints(node *corev1.Node, noExecute bool) []corev1.Taint {
	var out []corev1.Taint
	for _, ct := range conditionTaints {
		if cnd := condition(node, ct.cond); cnd != nil && cnd.Status == ct.status {
			out = append(out, corev1.Taint{Key: ct.key, Effect: corev1.TaintEffectNoSchedule})
			if noExecute && ct.cond == corev1.NodeReady {
				out = append(out, corev1.Taint{Key: ct.key, Effect: corev1.TaintEffectNoExecute})
			}
		}
	}
	if node.Spec.Unschedulable {
		out = append(out, corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule})
	}
	return out
}

// readyStatus returns the status of node's Ready condition ("" if none).
func readyStatus(node *corev1.Node) corev1.ConditionStatus {
	if c := condition(node, corev1.NodeReady); c != nil {
		return c.Status
	}
	return ""
}

// fullDisruption reports whether no node at all is Ready: then Kubernetes
// stops evicting (the control plane is more likely cut off than every
// node dead).
func (c *Controller) fullDisruption() bool {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil || len(nodes) == 0 {
		return false
	}
	for _, n := range nodes {
		if readyStatus(n) == corev1.ConditionTrue {
			return false
		}
	}
	return true
}

func hasTaint(taints []corev1.Taint, key string, effect corev1.TaintEffect) *corev1.Taint {
	for i := range taints {
		if taints[i].Key == key && taints[i].Effect == effect {
			return &taints[i]
		}
	}
	return nil
}

// reconcileTaints brings node's managed taints in line with its
// conditions. A NoExecute taint added to a node that had none takes a
// token from the eviction rate limiter; without one, the taint waits and
// the returned delay says when to try again.
func (c *Controller) reconcileTaints(ctx context.Context, node *corev1.Node) (*corev1.Node, time.Duration, error) {
	now := c.clock.Now()
	rs := readyStatus(node)
	noExecute := (rs == corev1.ConditionFalse || rs == corev1.ConditionUnknown) && !c.fullDisruption()
	var retry time.Duration
	if noExecute {
		hadNoExecute := hasTaint(node.Spec.Taints, corev1.TaintNodeNotReady, corev1.TaintEffectNoExecute) != nil ||
			hasTaint(node.Spec.Taints, corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute) != nil
		if !hadNoExecute {
			// Swapping not-ready for unreachable is free; starting to
			// evict a node's pods is rate limited.
			if ok, w := c.limiter.take(now); !ok {
				noExecute, retry = false, w
			}
		}
	}
	want := WantedTaints(node, noExecute)
	var out []corev1.Taint
	for _, t := range node.Spec.Taints {
		if !managed(t) {
			out = append(out, t)
		}
	}
	for _, w := range want {
		if cur := hasTaint(node.Spec.Taints, w.Key, w.Effect); cur != nil {
			out = append(out, *cur)
			continue
		}
		if w.Effect == corev1.TaintEffectNoExecute {
			ts := metav1.NewTime(now)
			w.TimeAdded = &ts
		}
		out = append(out, w)
	}
	if sameTaints(node.Spec.Taints, out) {
		return node, retry, nil
	}
	upd := node.DeepCopy()
	upd.Spec.Taints = out
	res, err := c.client.CoreV1().Nodes().Update(ctx, upd, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return node, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("updating the taints of node %s: %w", node.Name, err)
	}
	c.log.Info("node taints updated", "node", node.Name, "taints", taintKeys(out))
	return res, retry, nil
}

func sameTaints(a, b []corev1.Taint) bool {
	if len(a) != len(b) {
		return false
	}
	key := func(t corev1.Taint) string { return t.Key + "=" + t.Value + ":" + string(t.Effect) }
	ka, kb := make([]string, len(a)), make([]string, len(b))
	for i := range a {
		ka[i], kb[i] = key(a[i]), key(b[i])
	}
	sort.Strings(ka)
	sort.Strings(kb)
	for i := range ka {
		if ka[i] != kb[i] {
			return false
		}
	}
	return true
}

func taintKeys(ts []corev1.Taint) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Key+":"+string(t.Effect))
	}
	return out
}

// EvictionTime returns when pod must leave a node with taints: ok is
// false if it may stay forever (no NoExecute taint, or every one
// tolerated without a limit). A pod with no toleration for not-ready or
// unreachable tolerates them for defaultSeconds, as the
// DefaultTolerationSeconds admission plugin would have given it. Each
// taint's clock starts at its timeAdded (now if unset).
func EvictionTime(pod *corev1.Pod, taints []corev1.Taint, defaultSeconds int64, now time.Time) (at time.Time, ok bool) {
	tols := pod.Spec.Tolerations
	for _, t := range taints {
		if t.Effect != corev1.TaintEffectNoExecute {
			continue
		}
		start := now
		if t.TimeAdded != nil {
			start = t.TimeAdded.Time
		}
		matching := tolerating(tols, &t)
		if len(matching) == 0 && (t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable) {
			s := defaultSeconds
			matching = []corev1.Toleration{{Key: t.Key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &s}}
		}
		if len(matching) == 0 {
			return now, true // untolerated: evict now
		}
		// The shortest of the matching tolerations' limits applies;
		// one without a limit tolerates forever only if all are.
		var limit *int64
		for _, m := range matching {
			if m.TolerationSeconds != nil && (limit == nil || *m.TolerationSeconds < *limit) {
				limit = m.TolerationSeconds
			}
		}
		if limit == nil {
			continue
		}
		d := time.Duration(max(*limit, 0)) * time.Second
		if when := start.Add(d); !ok || when.Before(at) {
			at, ok = when, true
		}
	}
	return at, ok
}

func tolerating(tols []corev1.Toleration, t *corev1.Taint) []corev1.Toleration {
	var out []corev1.Toleration
	for i := range tols {
		if tols[i].ToleratesTaint(logr.Discard(), t, false) {
			out = append(out, tols[i])
		}
	}
	return out
}

// evict deletes the pods of node whose tolerations of its NoExecute
// taints have run out, and returns how long until the next one will.
func (c *Controller) evict(ctx context.Context, node *corev1.Node) (time.Duration, error) {
	hasNoExecute := false
	for _, t := range node.Spec.Taints {
		hasNoExecute = hasNoExecute || t.Effect == corev1.TaintEffectNoExecute
	}
	if !hasNoExecute {
		return 0, nil
	}
	objs, err := c.pods.ByIndex(podsByNodeIndex, node.Name)
	if err != nil {
		return 0, fmt.Errorf("listing the pods of node %s: %w", node.Name, err)
	}
	now := c.clock.Now()
	var next wait
	for _, o := range objs {
		pod := o.(*corev1.Pod)
		if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		at, ok := EvictionTime(pod, node.Spec.Taints, c.cfg.DefaultTolerationSeconds, now)
		if !ok {
			continue
		}
		if at.After(now) {
			next.at(at.Sub(now))
			continue
		}
		if err := c.evictPod(ctx, pod); err != nil {
			return 0, err
		}
	}
	return next.d, nil
}

// evictPod marks pod with the DisruptionTarget condition and deletes it.
func (c *Controller) evictPod(ctx context.Context, pod *corev1.Pod) error {
	cond := corev1.PodCondition{
		Type: podConditionDisruptionTarget, Status: corev1.ConditionTrue, Reason: reasonDeletionByTaintManager,
		Message: disruptionTargetMessageTemplate, LastTransitionTime: metav1.NewTime(c.clock.Now()),
	}
	patch := fmt.Sprintf(`{"metadata":{"uid":%q},"status":{"conditions":[{"type":%q,"status":"True","reason":%q,"message":%q,"lastTransitionTime":%q}]}}`,
		pod.UID, cond.Type, cond.Reason, cond.Message, cond.LastTransitionTime.UTC().Format(time.RFC3339))
	if _, err := c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}, "status"); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		// The condition is informative; the deletion is what matters.
		c.log.Debug("adding the DisruptionTarget condition", "pod", pod.Namespace+"/"+pod.Name, "err", err)
	}
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pod.UID}})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("evicting pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	c.log.Info("evicted pod from tainted node", "pod", pod.Namespace+"/"+pod.Name, "node", pod.Spec.NodeName)
	c.recorder.Eventf(pod, corev1.EventTypeNormal, eventTaintManagerEviction, "Marking for deletion Pod %s/%s", pod.Namespace, pod.Name)
	return nil
}
