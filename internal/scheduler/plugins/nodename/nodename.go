// Package nodename is the NodeName plugin: a pod that names a node in
// spec.nodeName fits only that node. Only the plugin registry imports it.
package nodename

import (
	"context"
	"log/slog"

	v1 "k8s.io/api/core/v1"

	"github.com/podvisor/podvisor/internal/scheduler/framework"
)

// Name is the plugin's name.
const Name = "NodeName"

// ErrReason is the rejection reason.
const ErrReason = "node(s) didn't match the requested node name"

// NodeName filters on spec.nodeName.
type NodeName struct{}

var (
	_ framework.FilterPlugin      = (*NodeName)(nil)
	_ framework.EnqueueExtensions = (*NodeName)(nil)
)

// New returns the plugin.
func New(context.Context, any, framework.Handle) (framework.Plugin, error) {
	return &NodeName{}, nil
}

// Name implements framework.Plugin.
func (*NodeName) Name() string { return Name }

// Fits reports whether pod may run on node by its spec.nodeName.
func Fits(pod *v1.Pod, node *v1.Node) bool {
	return pod.Spec.NodeName == "" || pod.Spec.NodeName == node.Name
}

// Filter implements framework.FilterPlugin.
func (*NodeName) Filter(_ context.Context, _ *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	if !Fits(pod, ni.Node()) {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReason)
	}
	return nil
}

// EventsToRegister implements framework.EnqueueExtensions: only the named
// node's arrival helps.
func (*NodeName) EventsToRegister(context.Context) ([]framework.ClusterEventWithHint, error) {
	return []framework.ClusterEventWithHint{{
		Event: framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add},
		QueueingHintFn: func(_ *slog.Logger, pod *v1.Pod, oldObj, newObj any) (framework.QueueingHint, error) {
			_, node, err := framework.Objects[v1.Node](oldObj, newObj)
			if err != nil {
				return framework.Queue, err
			}
			if Fits(pod, node) {
				return framework.Queue, nil
			}
			return framework.QueueSkip, nil
		},
	}}, nil
}
