package deployment

import (
	"context"
	"fmt"
	"math"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/podvisor/podvisor/internal/controller/ownerref"
)

func replicas(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

func replicasOf(rs *appsv1.ReplicaSet) int32 {
	if rs == nil || rs.Spec.Replicas == nil {
		return 0
	}
	return *rs.Spec.Replicas
}

func isRolling(d *appsv1.Deployment) bool {
	return d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType
}

// fenceposts resolves maxSurge (rounded up) and maxUnavailable (rounded
// down) against replicas; both zero would deadlock, so unavailable becomes
// 1. Worked example: 10 replicas, 25%/25% → surge ceil(2.5)=3,
// unavailable floor(2.5)=2.
func fenceposts(d *appsv1.Deployment) (surge, unavailable int32) {
	ru := d.Spec.Strategy.RollingUpdate
	defSurge, defUnavail := intstr.FromString("25%"), intstr.FromString("25%")
	s, u := &defSurge, &defUnavail
	if ru != nil {
		if ru.MaxSurge != nil {
			s = ru.MaxSurge
		}
		if ru.MaxUnavailable != nil {
			u = ru.MaxUnavailable
		}
	}
	want := int(replicas(d))
	sv, err := intstr.GetScaledValueFromIntOrPercent(s, want, true)
	if err != nil {
		sv = 0
	}
	uv, err := intstr.GetScaledValueFromIntOrPercent(u, want, false)
	if err != nil {
		uv = 0
	}
	if sv == 0 && uv == 0 {
		uv = 1
	}
	return int32(sv), int32(uv)
}

// maxSurge is how many pods above replicas a rolling update may run.
func maxSurge(d *appsv1.Deployment) int32 {
	if !isRolling(d) {
		return 0
	}
	s, _ := fenceposts(d)
	return s
}

// maxUnavailable is how many of replicas may be unavailable during a
// rolling update (never more than replicas).
func maxUnavailable(d *appsv1.Deployment) int32 {
	if !isRolling(d) || replicas(d) == 0 {
		return 0
	}
	_, u := fenceposts(d)
	return min(u, replicas(d))
}

func sumSpec(rss []*appsv1.ReplicaSet) int32 {
	var n int32
	for _, rs := range rss {
		n += replicasOf(rs)
	}
	return n
}

func active(rss []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	var out []*appsv1.ReplicaSet
	for _, rs := range rss {
		if rs != nil && replicasOf(rs) > 0 {
			out = append(out, rs)
		}
	}
	return out
}

// newRSReplicas is the size the new ReplicaSet may grow to now.
func newRSReplicas(d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) int32 {
	if !isRolling(d) {
		return replicas(d)
	}
	current := sumSpec(all)
	maxTotal := replicas(d) + maxSurge(d)
	if current >= maxTotal {
		return replicasOf(newRS)
	}
	up := min(maxTotal-current, replicas(d)-replicasOf(newRS))
	return replicasOf(newRS) + max(up, 0)
}

// rolloutRolling advances a RollingUpdate by one step: scale the new
// ReplicaSet up if the surge allows, else scale old ones down if
// availability allows, else clean up; then update status.
func (c *Controller) rolloutRolling(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	_, oldRSs := splitReplicaSets(d, rsList)
	newRS, err := c.getNewReplicaSet(ctx, d, rsList, oldRSs, true)
	if err != nil {
		return err
	}
	all := append(append([]*appsv1.ReplicaSet(nil), oldRSs...), newRS)

	scaled, err := c.reconcileNewRS(ctx, d, all, newRS)
	if err != nil {
		return err
	}
	if scaled {
		return c.syncRolloutStatus(ctx, d, all, newRS)
	}
	scaled, err = c.reconcileOldRSs(ctx, d, all, active(oldRSs), newRS)
	if err != nil {
		return err
	}
	if scaled {
		return c.syncRolloutStatus(ctx, d, all, newRS)
	}
	if isComplete(d, &d.Status) {
		if err := c.cleanup(ctx, d, oldRSs); err != nil {
			return err
		}
	}
	return c.syncRolloutStatus(ctx, d, all, newRS)
}

func (c *Controller) reconcileNewRS(ctx context.Context, d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) (bool, error) {
	want := replicas(d)
	switch cur := replicasOf(newRS); {
	case cur == want:
		return false, nil
	case cur > want:
		scaled, _, err := c.scaleRS(ctx, newRS, want, d)
		return scaled, err
	}
	scaled, _, err := c.scaleRS(ctx, newRS, newRSReplicas(d, all, newRS), d)
	return scaled, err
}

// reconcileOldRSs scales old ReplicaSets down as far as availability
// allows. The budget is
//
//	maxScaledDown = allPods - (replicas - maxUnavailable) - newRSUnavailable
//
// so that unavailable new pods are not compensated by taking old ones
// away. Worked example: 10 replicas, maxUnavailable 2, maxSurge 3, old 8
// and new 5 crashlooping: 13 - 8 - 5 = 0, nothing more is removed.
func (c *Controller) reconcileOldRSs(ctx context.Context, d *appsv1.Deployment, all, oldRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) (bool, error) {
	if sumSpec(oldRSs) == 0 {
		return false, nil
	}
	minAvailable := replicas(d) - maxUnavailable(d)
	newUnavailable := replicasOf(newRS) - newRS.Status.AvailableReplicas
	maxScaledDown := sumSpec(all) - minAvailable - newUnavailable
	if maxScaledDown <= 0 {
		return false, nil
	}
	oldRSs, cleaned, err := c.cleanupUnhealthy(ctx, d, oldRSs, maxScaledDown)
	if err != nil {
		return false, err
	}
	all = append(append([]*appsv1.ReplicaSet(nil), oldRSs...), newRS)
	down, err := c.scaleDownOld(ctx, d, all, oldRSs)
	if err != nil {
		return false, err
	}
	return cleaned+down > 0, nil
}

// cleanupUnhealthy removes old ReplicaSets' unavailable replicas first
// (oldest ReplicaSet first): that costs no availability. It returns the
// ReplicaSets as scaled.
func (c *Controller) cleanupUnhealthy(ctx context.Context, d *appsv1.Deployment, oldRSs []*appsv1.ReplicaSet, budget int32) ([]*appsv1.ReplicaSet, int32, error) {
	oldRSs = append([]*appsv1.ReplicaSet(nil), oldRSs...)
	byCreation(oldRSs)
	var total int32
	for i, rs := range oldRSs {
		if total >= budget {
			break
		}
		n := replicasOf(rs)
		if n == 0 || n == rs.Status.AvailableReplicas {
			continue
		}
		down := min(budget-total, n-rs.Status.AvailableReplicas)
		if down <= 0 {
			continue
		}
		_, updated, err := c.scaleRS(ctx, rs, n-down, d)
		if err != nil {
			return nil, total, err
		}
		total += down
		oldRSs[i] = updated
	}
	return oldRSs, total, nil
}

// scaleDownOld scales old ReplicaSets down (oldest first) by as many
// available pods as exceed replicas-maxUnavailable.
func (c *Controller) scaleDownOld(ctx context.Context, d *appsv1.Deployment, all, oldRSs []*appsv1.ReplicaSet) (int32, error) {
	minAvailable := replicas(d) - maxUnavailable(d)
	var available int32
	for _, rs := range all {
		if rs != nil {
			available += rs.Status.AvailableReplicas
		}
	}
	if available <= minAvailable {
		return 0, nil
	}
	oldRSs = append([]*appsv1.ReplicaSet(nil), oldRSs...)
	byCreation(oldRSs)
	budget := available - minAvailable
	var total int32
	for _, rs := range oldRSs {
		if total >= budget {
			break
		}
		n := replicasOf(rs)
		if n == 0 {
			continue
		}
		down := min(n, budget-total)
		if _, _, err := c.scaleRS(ctx, rs, n-down, d); err != nil {
			return total, err
		}
		total += down
	}
	return total, nil
}

// rolloutRecreate scales every old ReplicaSet to zero, waits for their
// pods to be gone, then creates and scales up the new one.
func (c *Controller) rolloutRecreate(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet, sel labels.Selector) error {
	_, oldRSs := splitReplicaSets(d, rsList)
	newRS, err := c.getNewReplicaSet(ctx, d, rsList, oldRSs, false)
	if err != nil {
		return err
	}
	all := append(append([]*appsv1.ReplicaSet(nil), oldRSs...), newRS)
	scaled := false
	for _, rs := range active(oldRSs) {
		s, _, err := c.scaleRS(ctx, rs, 0, d)
		if err != nil {
			return err
		}
		scaled = scaled || s
	}
	if scaled {
		return c.syncRolloutStatus(ctx, d, all, newRS)
	}
	running, err := c.oldPodsRunning(d, newRS, oldRSs, sel)
	if err != nil {
		return err
	}
	if running {
		return c.syncRolloutStatus(ctx, d, all, newRS)
	}
	if newRS == nil {
		if newRS, err = c.getNewReplicaSet(ctx, d, rsList, oldRSs, true); err != nil {
			return err
		}
		all = append(append([]*appsv1.ReplicaSet(nil), oldRSs...), newRS)
	}
	if _, _, err := c.scaleRS(ctx, newRS, replicas(d), d); err != nil {
		return err
	}
	if isComplete(d, &d.Status) {
		if err := c.cleanup(ctx, d, oldRSs); err != nil {
			return err
		}
	}
	return c.syncRolloutStatus(ctx, d, all, newRS)
}

// oldPodsRunning reports whether any pod of an old ReplicaSet may still
// run: the old ReplicaSets report replicas, or one of their pods is not
// finished (terminating pods count: Recreate means no overlap).
func (c *Controller) oldPodsRunning(d *appsv1.Deployment, newRS *appsv1.ReplicaSet, oldRSs []*appsv1.ReplicaSet, sel labels.Selector) (bool, error) {
	var reported int32
	old := map[types.UID]bool{}
	for _, rs := range oldRSs {
		reported += rs.Status.Replicas
		old[rs.UID] = true
	}
	if reported > 0 {
		return true, nil
	}
	pods, err := c.podLister.Pods(d.Namespace).List(sel)
	if err != nil {
		return false, err
	}
	for _, p := range pods {
		ref := ownerref.Controller(p)
		if ref == nil || !old[ref.UID] || (newRS != nil && ref.UID == newRS.UID) {
			continue
		}
		if p.Status.Phase != corev1.PodFailed && p.Status.Phase != corev1.PodSucceeded {
			return true, nil
		}
	}
	return false, nil
}

// syncScale handles a scaling event or a paused Deployment: spread the
// replicas over the ReplicaSets without advancing the rollout.
func (c *Controller) syncScale(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	_, oldRSs := splitReplicaSets(d, rsList)
	newRS, err := c.getNewReplicaSet(ctx, d, rsList, oldRSs, false)
	if err != nil {
		return err
	}
	if err := c.scale(ctx, d, newRS, oldRSs); err != nil {
		return err
	}
	if d.Spec.Paused {
		if err := c.cleanup(ctx, d, oldRSs); err != nil {
			return err
		}
	}
	all := append(append([]*appsv1.ReplicaSet(nil), oldRSs...), newRS)
	return c.syncStatus(ctx, d, all, newRS)
}

// isScalingEvent reports whether spec.replicas changed since the active
// ReplicaSets were last scaled (their desired-replicas annotation).
func (c *Controller) isScalingEvent(d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) bool {
	for _, rs := range active(rsList) {
		if want, ok := annotationInt(rs, DesiredReplicasAnnotation); ok && want != replicas(d) {
			return true
		}
	}
	return false
}

// scale spreads replicas+maxSurge over the active ReplicaSets in
// proportion to their size. Worked example: old 8 and new 5 (13 = 10+3)
// when replicas goes 10 → 20 (max 23): 10 more to share; old gets
// round(8*23/13)-8 = 6, new gets the rest, 4.
func (c *Controller) scale(ctx context.Context, d *appsv1.Deployment, newRS *appsv1.ReplicaSet, oldRSs []*appsv1.ReplicaSet) error {
	if one := activeOrLatest(newRS, oldRSs); one != nil {
		if replicasOf(one) == replicas(d) {
			return nil
		}
		_, _, err := c.scaleRS(ctx, one, replicas(d), d)
		return err
	}
	if isSaturated(d, newRS) {
		for _, rs := range active(oldRSs) {
			if _, _, err := c.scaleRS(ctx, rs, 0, d); err != nil {
				return err
			}
		}
		return nil
	}
	if !isRolling(d) {
		return nil
	}
	all := active(append(append([]*appsv1.ReplicaSet(nil), oldRSs...), newRS))
	var allowed int32
	if replicas(d) > 0 {
		allowed = replicas(d) + maxSurge(d)
	}
	toAdd := allowed - sumSpec(all)
	switch {
	case toAdd > 0:
		// Larger first; newer first among equals.
		sort.SliceStable(all, func(i, j int) bool {
			if replicasOf(all[i]) != replicasOf(all[j]) {
				return replicasOf(all[i]) > replicasOf(all[j])
			}
			ti, tj := all[i].CreationTimestamp, all[j].CreationTimestamp
			return tj.Before(&ti)
		})
	case toAdd < 0:
		// Larger first; older first among equals.
		sort.SliceStable(all, func(i, j int) bool {
			if replicasOf(all[i]) != replicasOf(all[j]) {
				return replicasOf(all[i]) > replicasOf(all[j])
			}
			ti, tj := all[i].CreationTimestamp, all[j].CreationTimestamp
			return ti.Before(&tj)
		})
	}
	sizes := make([]int32, len(all))
	var added int32
	for i, rs := range all {
		sizes[i] = replicasOf(rs)
		if toAdd != 0 {
			p := proportion(rs, d, toAdd, added)
			sizes[i] += p
			added += p
		}
	}
	for i, rs := range all {
		if i == 0 && toAdd != 0 {
			sizes[i] = max(sizes[i]+toAdd-added, 0)
		}
		if _, _, err := c.scaleRS(ctx, rs, sizes[i], d); err != nil {
			return err
		}
	}
	return nil
}

// proportion is how many replicas rs should gain (or lose) of toAdd, of
// which added are already handed out.
func proportion(rs *appsv1.ReplicaSet, d *appsv1.Deployment, toAdd, added int32) int32 {
	if replicasOf(rs) == 0 || toAdd == 0 || toAdd == added {
		return 0
	}
	allowed := toAdd - added
	var fraction int32
	if replicas(d) == 0 {
		fraction = -replicasOf(rs)
	} else {
		target := replicas(d) + maxSurge(d)
		annotated, ok := annotationInt(rs, MaxReplicasAnnotation)
		if !ok || annotated == 0 {
			annotated = d.Status.Replicas
		}
		if annotated == 0 {
			return 0
		}
		size := float64(replicasOf(rs)) * float64(target) / float64(annotated)
		fraction = int32(math.Round(size)) - replicasOf(rs)
	}
	if toAdd > 0 {
		return min(fraction, allowed)
	}
	return max(fraction, allowed)
}

// activeOrLatest returns the only active ReplicaSet, or the newest one
// when none is active; nil when several are active.
func activeOrLatest(newRS *appsv1.ReplicaSet, oldRSs []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	if newRS == nil && len(oldRSs) == 0 {
		return nil
	}
	all := append(append([]*appsv1.ReplicaSet(nil), oldRSs...), newRS)
	act := active(all)
	switch len(act) {
	case 0:
		if newRS != nil {
			return newRS
		}
		latest := append([]*appsv1.ReplicaSet(nil), oldRSs...)
		byCreation(latest)
		return latest[len(latest)-1]
	case 1:
		return act[0]
	}
	return nil
}

// isSaturated reports whether rs runs all of d's replicas, available.
func isSaturated(d *appsv1.Deployment, rs *appsv1.ReplicaSet) bool {
	if rs == nil {
		return false
	}
	want, ok := annotationInt(rs, DesiredReplicasAnnotation)
	return ok && want == replicas(d) && replicasOf(rs) == replicas(d) && rs.Status.AvailableReplicas == replicas(d)
}

// scaleRS sets rs's replicas (and its replicas annotations) to n,
// recording a ScalingReplicaSet event when the size changes. It returns
// whether the size changed and the ReplicaSet as written.
func (c *Controller) scaleRS(ctx context.Context, rs *appsv1.ReplicaSet, n int32, d *appsv1.Deployment) (bool, *appsv1.ReplicaSet, error) {
	sizeChange := replicasOf(rs) != n
	cp := rs.DeepCopy()
	annChange := setReplicasAnnotations(cp, replicas(d), replicas(d)+maxSurge(d))
	if !sizeChange && !annChange {
		return false, rs, nil
	}
	oldN := replicasOf(rs)
	cp.Spec.Replicas = &n
	updated, err := c.client.AppsV1().ReplicaSets(cp.Namespace).Update(ctx, cp, metav1.UpdateOptions{})
	if err != nil {
		return false, nil, fmt.Errorf("scaling replicaset %s/%s to %d: %w", rs.Namespace, rs.Name, n, err)
	}
	if sizeChange {
		op := "up"
		if n < oldN {
			op = "down"
		}
		c.recorder.Eventf(d, corev1.EventTypeNormal, "ScalingReplicaSet", "Scaled %s replica set %s from %d to %d", op, rs.Name, oldN, n)
	}
	return sizeChange, updated, nil
}
