// Package nodeports is the NodePorts plugin: a pod asking for a host port
// (hostIP, protocol, port) fits only nodes where no other pod holds it;
// 0.0.0.0 conflicts with every address. Only the plugin registry imports
// it.
package nodeports

import (
	"context"
	"fmt"
	"log/slog"

	v1 "k8s.io/api/core/v1"

	"github.com/podvisor/podvisor/internal/scheduler/framework"
)

// Name is the plugin's name.
const Name = "NodePorts"

// ErrReason is the rejection reason.
const ErrReason = "node(s) didn't have free ports for the requested pod ports"

// NodePorts filters on host port conflicts.
type NodePorts struct{}

var (
	_ framework.PreFilterPlugin   = (*NodePorts)(nil)
	_ framework.FilterPlugin      = (*NodePorts)(nil)
	_ framework.EnqueueExtensions = (*NodePorts)(nil)
)

// New returns the plugin.
func New(context.Context, any, framework.Handle) (framework.Plugin, error) {
	return &NodePorts{}, nil
}

// Name implements framework.Plugin.
func (*NodePorts) Name() string { return Name }

const stateKey framework.StateKey = "PreFilter" + Name

type preFilterState []v1.ContainerPort

func (s preFilterState) Clone() framework.StateData { return s }

// HostPorts returns the container ports of pod that bind a host port
// (regular and restartable init containers, which keep running).
func HostPorts(pod *v1.Pod) []v1.ContainerPort {
	var out []v1.ContainerPort
	for i := range pod.Spec.Containers {
		for _, p := range pod.Spec.Containers[i].Ports {
			if p.HostPort > 0 {
				out = append(out, p)
			}
		}
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		if c.RestartPolicy == nil || *c.RestartPolicy != v1.ContainerRestartPolicyAlways {
			continue
		}
		for _, p := range c.Ports {
			if p.HostPort > 0 {
				out = append(out, p)
			}
		}
	}
	return out
}

// PreFilter implements framework.PreFilterPlugin; Skip for pods without
// host ports.
func (*NodePorts) PreFilter(_ context.Context, state *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
	ports := HostPorts(pod)
	if len(ports) == 0 {
		return nil, framework.NewStatus(framework.Skip)
	}
	state.Write(stateKey, preFilterState(ports))
	return nil, nil
}

// PreFilterExtensions implements framework.PreFilterPlugin.
func (*NodePorts) PreFilterExtensions() framework.PreFilterExtensions { return nil }

// Filter implements framework.FilterPlugin.
func (*NodePorts) Filter(_ context.Context, state *framework.CycleState, _ *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	d, err := state.Read(stateKey)
	if err != nil {
		return framework.AsStatus(fmt.Errorf("reading %q from cycle state: %w", stateKey, err))
	}
	for _, p := range d.(preFilterState) {
		if ni.UsedPorts.CheckConflict(p.HostIP, string(p.Protocol), p.HostPort) {
			return framework.NewStatus(framework.Unschedulable, ErrReason)
		}
	}
	return nil
}

func conflicts(a, b []v1.ContainerPort) bool {
	h := framework.HostPortInfo{}
	for _, p := range a {
		h.Add(p.HostIP, string(p.Protocol), p.HostPort)
	}
	for _, p := range b {
		if h.CheckConflict(p.HostIP, string(p.Protocol), p.HostPort) {
			return true
		}
	}
	return false
}

// EventsToRegister implements framework.EnqueueExtensions: a pod that held
// a conflicting port going away, or a new node, helps.
func (*NodePorts) EventsToRegister(context.Context) ([]framework.ClusterEventWithHint, error) {
	return []framework.ClusterEventWithHint{{
		Event: framework.ClusterEvent{Resource: framework.AssignedPod, ActionType: framework.Delete},
		QueueingHintFn: func(_ *slog.Logger, pod *v1.Pod, oldObj, newObj any) (framework.QueueingHint, error) {
			deleted, _, err := framework.Objects[v1.Pod](oldObj, newObj)
			if err != nil {
				return framework.Queue, err
			}
			if deleted != nil && conflicts(HostPorts(deleted), HostPorts(pod)) {
				return framework.Queue, nil
			}
			return framework.QueueSkip, nil
		},
	}, {
		Event: framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add},
	}, {
		Event: framework.ClusterEvent{Resource: framework.UnscheduledPod, ActionType: framework.UpdatePodSpec},
	}}, nil
}
