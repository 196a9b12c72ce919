// Package nodeunschedulable is the NodeUnschedulable plugin: cordoned
// nodes (spec.unschedulable) take no new pods, unless the pod tolerates the
// node.kubernetes.io/unschedulable:NoSchedule taint. Only the plugin
// registry imports it.
package nodeunschedulable

import (
	"context"
	"log/slog"

	v1 "k8s.io/api/core/v1"

	"github.com/podvisor/podvisor/internal/scheduler/framework"
)

// Name is the plugin's name.
const Name = "NodeUnschedulable"

// ErrReason is the rejection reason.
const ErrReason = "node(s) were unschedulable"

// NodeUnschedulable filters out cordoned nodes.
type NodeUnschedulable struct{}

var (
	_ framework.FilterPlugin      = (*NodeUnschedulable)(nil)
	_ framework.EnqueueExtensions = (*NodeUnschedulable)(nil)
)

// New returns the plugin.
func New(context.Context, any, framework.Handle) (framework.Plugin, error) {
	return &NodeUnschedulable{}, nil
}

// Name implements framework.Plugin.
func (*NodeUnschedulable) Name() string { return Name }

func fits(pod *v1.Pod, node *v1.Node) bool {
	if !node.Spec.Unschedulable {
		return true
	}
	taint := v1.Taint{Key: v1.TaintNodeUnschedulable, Effect: v1.TaintEffectNoSchedule}
	return framework.Tolerates(pod.Spec.Tolerations, &taint)
}

// Filter implements framework.FilterPlugin.
func (*NodeUnschedulable) Filter(_ context.Context, _ *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	if !fits(pod, ni.Node()) {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReason)
	}
	return nil
}

// EventsToRegister implements framework.EnqueueExtensions: a node that is
// added or uncordoned may help.
func (*NodeUnschedulable) EventsToRegister(context.Context) ([]framework.ClusterEventWithHint, error) {
	return []framework.ClusterEventWithHint{{
		Event: framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add | framework.UpdateNodeSchedulable},
		QueueingHintFn: func(_ *slog.Logger, pod *v1.Pod, oldObj, newObj any) (framework.QueueingHint, error) {
			_, node, err := framework.Objects[v1.Node](oldObj, newObj)
			if err != nil {
				return framework.Queue, err
			}
			if fits(pod, node) {
				return framework.Queue, nil
			}
			return framework.QueueSkip, nil
		},
	}}, nil
}
