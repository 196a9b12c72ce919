package deployment

import (
	"context"
	"fmt"
	"math"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podvisor/podvisor/internal/controller/reconcile"
)

// Condition reasons (Kubernetes' values; kubectl and users match on them).
const (
	ReasonNewRSAvailable     = "NewReplicaSetAvailable"
	ReasonTimedOut           = "ProgressDeadlineExceeded"
	ReasonRSUpdated          = "ReplicaSetUpdated"
	ReasonNewRSCreated       = "NewReplicaSetCreated"
	ReasonFoundNewRS         = "FoundNewReplicaSet"
	ReasonFailedRSCreate     = "ReplicaSetCreateError"
	ReasonPaused             = "DeploymentPaused"
	ReasonResumed            = "DeploymentResumed"
	ReasonMinimumAvailable   = "MinimumReplicasAvailable"
	ReasonMinimumUnavailable = "MinimumReplicasUnavailable"
)

func hasProgressDeadline(d *appsv1.Deployment) bool {
	return d.Spec.ProgressDeadlineSeconds != nil && *d.Spec.ProgressDeadlineSeconds != math.MaxInt32
}

func condition(st appsv1.DeploymentStatus, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			return &st.Conditions[i]
		}
	}
	return nil
}

func newCondition(now time.Time, t appsv1.DeploymentConditionType, status corev1.ConditionStatus, reason, msg string) appsv1.DeploymentCondition {
	ts := metav1.NewTime(now)
	return appsv1.DeploymentCondition{Type: t, Status: status, LastUpdateTime: ts, LastTransitionTime: ts, Reason: reason, Message: msg}
}

// setCondition sets c in st: unchanged if a condition of its type has the
// same status and reason; otherwise replaced, keeping the transition time
// when the status stays.
func setCondition(st *appsv1.DeploymentStatus, c appsv1.DeploymentCondition) {
	cur := condition(*st, c.Type)
	if cur != nil && cur.Status == c.Status && cur.Reason == c.Reason {
		return
	}
	if cur != nil && cur.Status == c.Status {
		c.LastTransitionTime = cur.LastTransitionTime
	}
	removeCondition(st, c.Type)
	st.Conditions = append(st.Conditions, c)
}

func removeCondition(st *appsv1.DeploymentStatus, t appsv1.DeploymentConditionType) {
	var keep []appsv1.DeploymentCondition
	for _, c := range st.Conditions {
		if c.Type != t {
			keep = append(keep, c)
		}
	}
	st.Conditions = keep
}

// calculateStatus derives d's status from its ReplicaSets.
func (c *Controller) calculateStatus(d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) appsv1.DeploymentStatus {
	var total, ready, available, updated int32
	var terminating int32
	haveTerminating := true
	for _, rs := range all {
		if rs == nil {
			continue
		}
		total += rs.Status.Replicas
		ready += rs.Status.ReadyReplicas
		available += rs.Status.AvailableReplicas
		if rs.Status.TerminatingReplicas == nil {
			haveTerminating = false
		} else {
			terminating += *rs.Status.TerminatingReplicas
		}
	}
	if newRS != nil {
		updated = newRS.Status.Replicas
	}
	st := appsv1.DeploymentStatus{
		ObservedGeneration:  d.Generation,
		Replicas:            total,
		UpdatedReplicas:     updated,
		ReadyReplicas:       ready,
		AvailableReplicas:   available,
		UnavailableReplicas: max(total-available, 0),
		CollisionCount:      d.Status.CollisionCount,
	}
	if haveTerminating {
		st.TerminatingReplicas = &terminating
	}
	st.Conditions = append(st.Conditions, d.Status.Conditions...)
	now := c.clock.Now()
	if available >= replicas(d)-maxUnavailable(d) {
		setCondition(&st, newCondition(now, appsv1.DeploymentAvailable, corev1.ConditionTrue, ReasonMinimumAvailable, "Deployment has minimum availability."))
	} else {
		setCondition(&st, newCondition(now, appsv1.DeploymentAvailable, corev1.ConditionFalse, ReasonMinimumUnavailable, "Deployment does not have minimum availability."))
	}
	return st
}

// isComplete reports whether st shows every replica updated and available
// for d's current generation.
func isComplete(d *appsv1.Deployment, st *appsv1.DeploymentStatus) bool {
	n := replicas(d)
	return st.UpdatedReplicas == n && st.Replicas == n && st.AvailableReplicas == n && st.ObservedGeneration >= d.Generation
}

// isProgressing reports whether st shows progress over d's recorded status.
func isProgressing(d *appsv1.Deployment, st *appsv1.DeploymentStatus) bool {
	old := d.Status
	return st.UpdatedReplicas > old.UpdatedReplicas ||
		st.Replicas-st.UpdatedReplicas < old.Replicas-old.UpdatedReplicas ||
		st.ReadyReplicas > old.ReadyReplicas ||
		st.AvailableReplicas > old.AvailableReplicas
}

// timedOut reports whether the Progressing condition in st is older than
// the progress deadline.
func timedOut(d *appsv1.Deployment, st *appsv1.DeploymentStatus, now time.Time) bool {
	if !hasProgressDeadline(d) {
		return false
	}
	cond := condition(*st, appsv1.DeploymentProgressing)
	if cond == nil || cond.Reason == ReasonNewRSAvailable {
		return false
	}
	if cond.Reason == ReasonTimedOut {
		return true
	}
	deadline := cond.LastUpdateTime.Add(time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second)
	return deadline.Before(now)
}

// syncStatus writes d's calculated status (no progress evaluation: used
// when paused or scaling).
func (c *Controller) syncStatus(ctx context.Context, d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) error {
	st := c.calculateStatus(d, all, newRS)
	return c.writeStatus(ctx, d, st)
}

// syncStatusOnly updates the status of a Deployment being deleted.
func (c *Controller) syncStatusOnly(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, _ := splitReplicaSets(d, rsList)
	return c.syncStatus(ctx, d, rsList, newRS)
}

func (c *Controller) writeStatus(ctx context.Context, d *appsv1.Deployment, st appsv1.DeploymentStatus) error {
	if apiequality.Semantic.DeepEqual(d.Status, st) {
		return nil
	}
	cp := d.DeepCopy()
	cp.Status = st
	updated, err := c.client.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, cp, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("updating status of deployment %s/%s: %w", d.Namespace, d.Name, err)
	}
	d.Status = updated.Status
	d.ResourceVersion = updated.ResourceVersion
	return nil
}

// syncRolloutStatus writes d's status with the Progressing condition
// evaluated against the progress deadline, and asks to be woken when the
// deadline would pass.
func (c *Controller) syncRolloutStatus(ctx context.Context, d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) error {
	st := c.calculateStatus(d, all, newRS)
	now := c.clock.Now()
	if !hasProgressDeadline(d) {
		removeCondition(&st, appsv1.DeploymentProgressing)
	}
	cur := condition(st, appsv1.DeploymentProgressing)
	complete := st.Replicas == st.UpdatedReplicas && cur != nil && cur.Reason == ReasonNewRSAvailable
	if hasProgressDeadline(d) && !complete {
		switch {
		case isComplete(d, &st):
			msg := "Deployment has successfully progressed."
			if newRS != nil {
				msg = fmt.Sprintf("ReplicaSet %q has successfully progressed.", newRS.Name)
			}
			setCondition(&st, newCondition(now, appsv1.DeploymentProgressing, corev1.ConditionTrue, ReasonNewRSAvailable, msg))
		case isProgressing(d, &st):
			msg := "Deployment is progressing."
			if newRS != nil {
				msg = fmt.Sprintf("ReplicaSet %q is progressing.", newRS.Name)
			}
			cond := newCondition(now, appsv1.DeploymentProgressing, corev1.ConditionTrue, ReasonRSUpdated, msg)
			// Progress refreshes lastUpdateTime even with the same
			// reason, so the deadline counts from the latest progress.
			if cur != nil {
				if cur.Status == corev1.ConditionTrue {
					cond.LastTransitionTime = cur.LastTransitionTime
				}
				removeCondition(&st, appsv1.DeploymentProgressing)
			}
			st.Conditions = append(st.Conditions, cond)
		case timedOut(d, &st, now):
			msg := "Deployment has timed out progressing."
			if newRS != nil {
				msg = fmt.Sprintf("ReplicaSet %q has timed out progressing.", newRS.Name)
			}
			setCondition(&st, newCondition(now, appsv1.DeploymentProgressing, corev1.ConditionFalse, ReasonTimedOut, msg))
		}
	}
	if f := replicaFailure(all, newRS, now); f != nil {
		setCondition(&st, *f)
	} else {
		removeCondition(&st, appsv1.DeploymentReplicaFailure)
	}
	if err := c.writeStatus(ctx, d, st); err != nil {
		return err
	}
	if wait := c.untilDeadline(d, &st, now); wait > 0 {
		return reconcile.RequeueAfter(wait)
	}
	return nil
}

// untilDeadline returns how long until an unfinished rollout's progress
// deadline passes (0: nothing to wait for).
func (c *Controller) untilDeadline(d *appsv1.Deployment, st *appsv1.DeploymentStatus, now time.Time) time.Duration {
	if !hasProgressDeadline(d) || isComplete(d, st) {
		return 0
	}
	cond := condition(*st, appsv1.DeploymentProgressing)
	if cond == nil || cond.Reason == ReasonTimedOut {
		return 0
	}
	wait := cond.LastUpdateTime.Add(time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second).Sub(now)
	if wait < time.Second {
		wait = time.Second
	}
	return wait
}

// replicaFailure surfaces a ReplicaFailure condition of the new ReplicaSet
// (or else of an old one) on the Deployment.
func replicaFailure(all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, now time.Time) *appsv1.DeploymentCondition {
	find := func(rs *appsv1.ReplicaSet) *appsv1.DeploymentCondition {
		if rs == nil {
			return nil
		}
		for _, rc := range rs.Status.Conditions {
			if rc.Type == appsv1.ReplicaSetReplicaFailure {
				dc := newCondition(now, appsv1.DeploymentReplicaFailure, rc.Status, rc.Reason, rc.Message)
				dc.LastTransitionTime = rc.LastTransitionTime
				return &dc
			}
		}
		return nil
	}
	if f := find(newRS); f != nil {
		return f
	}
	for _, rs := range all {
		if rs != newRS {
			if f := find(rs); f != nil {
				return f
			}
		}
	}
	return nil
}

// checkPaused records pausing and resuming in the Progressing condition,
// so time spent paused does not count against the progress deadline.
func (c *Controller) checkPaused(ctx context.Context, d *appsv1.Deployment) error {
	if !hasProgressDeadline(d) {
		return nil
	}
	cond := condition(d.Status, appsv1.DeploymentProgressing)
	if cond != nil && cond.Reason == ReasonTimedOut {
		return nil
	}
	paused := cond != nil && cond.Reason == ReasonPaused
	st := *d.Status.DeepCopy()
	now := c.clock.Now()
	switch {
	case d.Spec.Paused && !paused:
		setCondition(&st, newCondition(now, appsv1.DeploymentProgressing, corev1.ConditionUnknown, ReasonPaused, "Deployment is paused"))
	case !d.Spec.Paused && paused:
		setCondition(&st, newCondition(now, appsv1.DeploymentProgressing, corev1.ConditionUnknown, ReasonResumed, "Deployment is resumed"))
	default:
		return nil
	}
	return c.writeStatus(ctx, d, st)
}
