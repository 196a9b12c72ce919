package daemonset

import (
	"context"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podvisor/podvisor/internal/controller/podstate"
)

// onNode splits a node's pods (not being deleted) into the one at the
// current revision and the one at an older revision; ok is false if there
// are more than one of either (manage cleans that up first).
func onNode(pods []*corev1.Pod, hash string) (cur, old *corev1.Pod, ok bool) {
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		if p.Labels[appsv1.ControllerRevisionHashLabelKey] == hash {
			if cur != nil {
				return nil, nil, false
			}
			cur = p
		} else {
			if old != nil {
				return nil, nil, false
			}
			old = p
		}
	}
	return cur, old, true
}

// rollingUpdate replaces old pods. Without surge it deletes old pods
// (unavailable ones at once, available ones while fewer than
// maxUnavailable nodes are unavailable); manage then creates their
// replacements. With surge it creates new pods beside old ones (at once
// where the old pod is unavailable, else up to maxSurge nodes) and
// deletes an old pod once its replacement is available.
func (c *Controller) rollingUpdate(ctx context.Context, ds *appsv1.DaemonSet, nodes []*corev1.Node, byNode map[string][]*corev1.Pod, hash string) error {
	desired := 0
	for _, n := range nodes {
		if run, _ := shouldRun(ds, n); run {
			desired++
		}
	}
	maxSurge, maxUnavail := updateBudget(ds, desired)
	now := c.clock.Now()
	avail := func(p *corev1.Pod) bool { return podstate.IsAvailable(p, ds.Spec.MinReadySeconds, now) }
	names := make([]string, 0, len(byNode))
	for n := range byNode {
		names = append(names, n)
	}
	sort.Strings(names)

	if maxSurge == 0 {
		unavailable := 0
		var replace []*corev1.Pod
		var candidates []*corev1.Pod
		for _, node := range names {
			cur, old, ok := onNode(byNode[node], hash)
			switch {
			case !ok, cur == nil && old == nil, cur != nil && old != nil:
				unavailable++
			case cur != nil:
				if !avail(cur) {
					unavailable++
				}
			case !avail(old):
				replace = append(replace, old)
			default:
				candidates = append(candidates, old)
			}
		}
		n := min(max(maxUnavail-unavailable, 0), len(candidates))
		return c.syncNodes(ctx, ds, append(replace, candidates[:n]...), nil, hash)
	}

	surged := 0
	var allowed, candidates []string
	var del []*corev1.Pod
	for _, node := range names {
		cur, old, ok := onNode(byNode[node], hash)
		switch {
		case !ok:
			surged++
		case old == nil:
		case cur == nil:
			if !avail(old) {
				allowed = append(allowed, node)
			} else {
				candidates = append(candidates, node)
			}
		case !avail(cur):
			surged++
		default:
			del = append(del, old)
		}
	}
	n := min(max(maxSurge-surged, 0), len(candidates))
	return c.syncNodes(ctx, ds, del, append(allowed, candidates[:n]...), hash)
}

// updateStatus writes the DaemonSet's status and returns how long until a
// ready pod becomes available (0: none pending).
func (c *Controller) updateStatus(ctx context.Context, ds *appsv1.DaemonSet, nodes []*corev1.Node, byNode map[string][]*corev1.Pod, hash string, collisions int32) (time.Duration, error) {
	now := c.clock.Now()
	st := appsv1.DaemonSetStatus{ObservedGeneration: ds.Generation, CollisionCount: &collisions, Conditions: ds.Status.Conditions}
	var wait time.Duration
	for _, node := range nodes {
		run, _ := shouldRun(ds, node)
		pods := byNode[node.Name]
		if !run {
			if len(pods) > 0 {
				st.NumberMisscheduled++
			}
			continue
		}
		st.DesiredNumberScheduled++
		if len(pods) == 0 {
			continue
		}
		st.CurrentNumberScheduled++
		pods = append([]*corev1.Pod(nil), pods...)
		byAge(pods)
		p := pods[0]
		if podstate.IsReady(p) {
			st.NumberReady++
			if podstate.IsAvailable(p, ds.Spec.MinReadySeconds, now) {
				st.NumberAvailable++
			} else if d := podstate.AvailableIn(p, ds.Spec.MinReadySeconds, now); d > 0 && (wait == 0 || d < wait) {
				wait = d
			}
		}
		if p.Labels[appsv1.ControllerRevisionHashLabelKey] == hash {
			st.UpdatedNumberScheduled++
		}
	}
	st.NumberUnavailable = st.DesiredNumberScheduled - st.NumberAvailable
	if apiequality.Semantic.DeepEqual(ds.Status, st) {
		return wait, nil
	}
	cp := ds.DeepCopy()
	cp.Status = st
	if _, err := c.client.AppsV1().DaemonSets(ds.Namespace).UpdateStatus(ctx, cp, metav1.UpdateOptions{}); err != nil {
		return 0, err
	}
	return wait, nil
}
