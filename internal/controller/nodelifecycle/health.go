package nodelifecycle

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// monitoredConditions are set Unknown, besides Ready, when a node goes
// silent (those the kubelet reports).
var monitoredConditions = []corev1.NodeConditionType{
	corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure,
}

// monitorHealth marks node Unknown if it has been silent for the grace
// period. It returns the (possibly updated) node and, while the node is
// healthy, how long until it would be silent for too long.
func (c *Controller) monitorHealth(ctx context.Context, node *corev1.Node) (*corev1.Node, time.Duration, error) {
	now := c.clock.Now()
	renew := ""
	if l, err := c.leases.Leases(LeaseNamespace).Get(node.Name); err == nil && l.Spec.RenewTime != nil {
		renew = l.Spec.RenewTime.UTC().Format(time.RFC3339Nano)
	}
	beat := ""
	if rc := condition(node, corev1.NodeReady); rc != nil {
		beat = rc.LastHeartbeatTime.UTC().Format(time.RFC3339Nano)
	}
	c.mu.Lock()
	h := c.health[node.Name]
	if h == nil {
		// First sight (or a restart of ours): the grace period starts now.
		h = &health{renew: renew, heartbeat: beat, probe: now}
		c.health[node.Name] = h
	}
	if h.renew != renew || h.heartbeat != beat {
		h.renew, h.heartbeat, h.probe = renew, beat, now
	}
	silentUntil := h.probe.Add(c.cfg.NodeMonitorGracePeriod)
	c.mu.Unlock()

	if now.Before(silentUntil) {
		return node, silentUntil.Sub(now), nil
	}
	upd, changed := MarkUnknown(node, now)
	if !changed {
		return node, 0, nil
	}
	out, err := c.client.CoreV1().Nodes().UpdateStatus(ctx, upd, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return node, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("marking node %s Unknown: %w", node.Name, err)
	}
	c.log.Info("node stopped reporting; marked Unknown", "node", node.Name, "silentFor", now.Sub(h.probe)+c.cfg.NodeMonitorGracePeriod)
	c.recorder.Eventf(node, corev1.EventTypeNormal, eventNodeNotReady, "Node %s status is now: %s", node.Name, eventNodeNotReady)
	// The heartbeat did not change, so our own write does not count
	// as a sign of life.
	return out, 0, nil
}

// MarkUnknown returns a copy of node with Ready and the kubelet's other
// conditions Unknown (reason NodeStatusUnknown; a missing Ready becomes
// Unknown with NodeStatusNeverUpdated), and whether anything changed.
// Heartbeat times are kept: they are the kubelet's.
func MarkUnknown(node *corev1.Node, now time.Time) (*corev1.Node, bool) {
	upd := node.DeepCopy()
	changed := false
	ts := metav1.NewTime(now)
	if condition(upd, corev1.NodeReady) == nil {
		upd.Status.Conditions = append(upd.Status.Conditions, corev1.NodeCondition{
			Type: corev1.NodeReady, Status: corev1.ConditionUnknown, Reason: reasonNodeStatusNeverUpdated,
			Message: messageNodeStatusNeverUpdated, LastHeartbeatTime: node.CreationTimestamp, LastTransitionTime: ts,
		})
		changed = true
	}
	for _, t := range append([]corev1.NodeConditionType{corev1.NodeReady}, monitoredConditions...) {
		cnd := condition(upd, t)
		if cnd == nil || cnd.Status == corev1.ConditionUnknown {
			continue
		}
		cnd.Status, cnd.Reason, cnd.Message, cnd.LastTransitionTime = corev1.ConditionUnknown, reasonNodeStatusUnknown, messageNodeStatusUnknown, ts
		changed = true
	}
	return upd, changed
}

func condition(node *corev1.Node, t corev1.NodeConditionType) *corev1.NodeCondition {
	for i := range node.Status.Conditions {
		if node.Status.Conditions[i].Type == t {
			return &node.Status.Conditions[i]
		}
	}
	return nil
}
