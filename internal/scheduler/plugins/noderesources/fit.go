// Package noderesources holds the two resource plugins: NodeResourcesFit
// (a pod fits a node only if the node's allocatable cpu, memory,
// ephemeral-storage, pod count and extended resources cover what its pods
// already request plus the new pod's requests; scoring LeastAllocated by
// default, or MostAllocated) and NodeResourcesBalancedAllocation (prefer
// nodes whose cpu and memory use stay balanced). Only the plugin registry
// imports it.
package noderesources

import (
	"context"
	"fmt"
	"log/slog"

	v1 "k8s.io/api/core/v1"

	"github.com/podvisor/podvisor/internal/scheduler/framework"
)

// FitName is the Fit plugin's name.
const FitName = "NodeResourcesFit"

// ScoringStrategy names how Fit scores.
type ScoringStrategy string

// Scoring strategies.
const (
	// LeastAllocated favours the emptiest nodes (spreads load).
	LeastAllocated ScoringStrategy = "LeastAllocated"
	// MostAllocated favours the fullest nodes (bin-packing).
	MostAllocated ScoringStrategy = "MostAllocated"
)

// ResourceWeight weighs one resource in scoring.
type ResourceWeight struct {
	Name   v1.ResourceName
	Weight int64
}

// FitArgs configure Fit. The zero value scores LeastAllocated over cpu and
// memory with weight 1 each.
type FitArgs struct {
	Strategy  ScoringStrategy
	Resources []ResourceWeight
}

// Fit checks and scores node resources.
type Fit struct {
	strategy  ScoringStrategy
	resources []ResourceWeight
}

var (
	_ framework.PreFilterPlugin   = (*Fit)(nil)
	_ framework.FilterPlugin      = (*Fit)(nil)
	_ framework.PreScorePlugin    = (*Fit)(nil)
	_ framework.ScorePlugin       = (*Fit)(nil)
	_ framework.EnqueueExtensions = (*Fit)(nil)
)

func defaultResources() []ResourceWeight {
	return []ResourceWeight{{v1.ResourceCPU, 1}, {v1.ResourceMemory, 1}}
}

// NewFit returns the Fit plugin; args is nil, FitArgs or *FitArgs.
func NewFit(_ context.Context, args any, _ framework.Handle) (framework.Plugin, error) {
	var a FitArgs
	switch x := args.(type) {
	case nil:
	case FitArgs:
		a = x
	case *FitArgs:
		a = *x
	default:
		return nil, fmt.Errorf("%s: args of type %T, want FitArgs", FitName, args)
	}
	if a.Strategy == "" {
		a.Strategy = LeastAllocated
	}
	if a.Strategy != LeastAllocated && a.Strategy != MostAllocated {
		return nil, fmt.Errorf("%s: unknown scoring strategy %q", FitName, a.Strategy)
	}
	if len(a.Resources) == 0 {
		a.Resources = defaultResources()
	}
	for _, r := range a.Resources {
		if r.Weight <= 0 || r.Weight > 100 {
			return nil, fmt.Errorf("%s: weight of %s is %d, want 1-100", FitName, r.Name, r.Weight)
		}
	}
	return &Fit{strategy: a.Strategy, resources: a.Resources}, nil
}

// Name implements framework.Plugin.
func (*Fit) Name() string { return FitName }

const (
	preFilterKey framework.StateKey = "PreFilter" + FitName
	preScoreKey  framework.StateKey = "PreScore" + FitName
)

type preFilterState struct{ framework.PodRequests }

func (s *preFilterState) Clone() framework.StateData { return s }

func podRequests(state *framework.CycleState, pod *v1.Pod) framework.PodRequests {
	if d, err := state.Read(preFilterKey); err == nil {
		return d.(*preFilterState).PodRequests
	}
	return framework.ComputePodRequests(pod)
}

// PreFilter implements framework.PreFilterPlugin.
func (*Fit) PreFilter(_ context.Context, state *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
	state.Write(preFilterKey, &preFilterState{framework.ComputePodRequests(pod)})
	return nil, nil
}

// PreFilterExtensions implements framework.PreFilterPlugin.
func (*Fit) PreFilterExtensions() framework.PreFilterExtensions { return nil }

// Insufficiency is one resource a node lacks for a pod.
type Insufficiency struct {
	Resource  v1.ResourceName
	Reason    string
	Requested int64
	Used      int64
	Capacity  int64
}

// Unresolvable reports whether the pod would not fit even on the empty
// node, so evicting pods cannot help.
func (i Insufficiency) Unresolvable() bool { return i.Requested > i.Capacity }

// Insufficient lists what ni lacks for requests (the pod count first,
// then cpu, memory, ephemeral storage and scalar resources). A pod that
// requests nothing still needs a pod slot.
func Insufficient(req *framework.Resource, ni *framework.NodeInfo) []Insufficiency {
	var out []Insufficiency
	alloc := &ni.Allocatable
	if n := int64(len(ni.Pods)) + 1; n > alloc.AllowedPodNumber {
		out = append(out, Insufficiency{v1.ResourcePods, "Too many pods", 1, int64(len(ni.Pods)), alloc.AllowedPodNumber})
	}
	check := func(name v1.ResourceName, want, used, capacity int64) {
		if want > 0 && want > capacity-used {
			out = append(out, Insufficiency{name, "Insufficient " + string(name), want, used, capacity})
		}
	}
	check(v1.ResourceCPU, req.MilliCPU, ni.Requested.MilliCPU, alloc.MilliCPU)
	check(v1.ResourceMemory, req.Memory, ni.Requested.Memory, alloc.Memory)
	check(v1.ResourceEphemeralStorage, req.EphemeralStorage, ni.Requested.EphemeralStorage, alloc.EphemeralStorage)
	for name, want := range req.ScalarResources {
		check(name, want, ni.Requested.ScalarResources[name], alloc.ScalarResources[name])
	}
	return out
}

// Filter implements framework.FilterPlugin. Every missing resource is a
// reason; if one of them exceeds even the node's total, preemption cannot
// help and the status is UnschedulableAndUnresolvable.
func (*Fit) Filter(_ context.Context, state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	req := podRequests(state, pod)
	missing := Insufficient(&req.Requests, ni)
	if len(missing) == 0 {
		return nil
	}
	code := framework.Unschedulable
	reasons := make([]string, len(missing))
	for i, m := range missing {
		reasons[i] = m.Reason
		if m.Unresolvable() {
			code = framework.UnschedulableAndUnresolvable
		}
	}
	return framework.NewStatus(code, reasons...)
}

type preScoreState struct {
	// requests per scored resource, cpu and memory with the non-zero
	// defaults.
	requests []int64
}

func (s *preScoreState) Clone() framework.StateData { return s }

// scoringRequests returns the pod's request of each resource, with the
// scoring defaults for cpu and memory.
func scoringRequests(req framework.PodRequests, resources []ResourceWeight) []int64 {
	out := make([]int64, len(resources))
	for i, r := range resources {
		switch r.Name {
		case v1.ResourceCPU:
			out[i] = req.NonZeroMilliCPU
		case v1.ResourceMemory:
			out[i] = req.NonZeroMemory
		default:
			out[i] = req.Requests.Get(r.Name)
		}
	}
	return out
}

// nodeRequested returns what ni's pods request of name, with the scoring
// defaults for cpu and memory.
func nodeRequested(ni *framework.NodeInfo, name v1.ResourceName) int64 {
	switch name {
	case v1.ResourceCPU:
		return ni.NonZeroRequested.MilliCPU
	case v1.ResourceMemory:
		return ni.NonZeroRequested.Memory
	default:
		return ni.Requested.Get(name)
	}
}

// PreScore implements framework.PreScorePlugin.
func (f *Fit) PreScore(_ context.Context, state *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) *framework.Status {
	state.Write(preScoreKey, &preScoreState{requests: scoringRequests(podRequests(state, pod), f.resources)})
	return nil
}

// Score implements framework.ScorePlugin.
//
// LeastAllocated: Σ weight × (allocatable − requested) × 100 / allocatable,
// divided by Σ weight, where requested includes the new pod. E.g. a node
// with 4000m cpu and 8Gi memory whose pods (with this one) request 1000m
// and 6Gi scores (75 + 25) / 2 = 50. MostAllocated uses requested ×
// 100 / allocatable instead. Resources the node does not have are left
// out of both sums.
func (f *Fit) Score(_ context.Context, state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) (int64, *framework.Status) {
	var reqs []int64
	if d, err := state.Read(preScoreKey); err == nil {
		reqs = d.(*preScoreState).requests
	} else {
		reqs = scoringRequests(framework.ComputePodRequests(pod), f.resources)
	}
	var sum, weights int64
	for i, r := range f.resources {
		alloc := ni.Allocatable.Get(r.Name)
		if alloc <= 0 {
			continue
		}
		requested := nodeRequested(ni, r.Name) + reqs[i]
		var s int64
		switch {
		case requested > alloc:
			s = 0
			if f.strategy == MostAllocated {
				s = framework.MaxNodeScore
			}
		case f.strategy == MostAllocated:
			s = requested * framework.MaxNodeScore / alloc
		default:
			s = (alloc - requested) * framework.MaxNodeScore / alloc
		}
		sum += s * r.Weight
		weights += r.Weight
	}
	if weights == 0 {
		return 0, nil
	}
	return sum / weights, nil
}

// ScoreExtensions implements framework.ScorePlugin.
func (*Fit) ScoreExtensions() framework.ScoreExtensions { return nil }

// EventsToRegister implements framework.EnqueueExtensions: a pod leaving
// (or shrinking) frees room; a node added or given more allocatable may be
// big enough.
func (*Fit) EventsToRegister(context.Context) ([]framework.ClusterEventWithHint, error) {
	return []framework.ClusterEventWithHint{{
		// Any pod leaving frees at least a pod slot, which may be what was
		// missing: always retry.
		Event: framework.ClusterEvent{Resource: framework.AssignedPod, ActionType: framework.Delete | framework.UpdatePodScaleDown},
	}, {
		Event: framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add | framework.UpdateNodeAllocatable},
		QueueingHintFn: func(_ *slog.Logger, pod *v1.Pod, oldObj, newObj any) (framework.QueueingHint, error) {
			_, node, err := framework.Objects[v1.Node](oldObj, newObj)
			if err != nil {
				return framework.Queue, err
			}
			// Only a node whose whole allocatable can hold the pod helps.
			empty := framework.NewNodeInfo()
			empty.SetNode(node)
			req := framework.ComputePodRequests(pod)
			for _, m := range Insufficient(&req.Requests, empty) {
				if m.Unresolvable() {
					return framework.QueueSkip, nil
				}
			}
			return framework.Queue, nil
		},
	}, {
		Event: framework.ClusterEvent{Resource: framework.UnscheduledPod, ActionType: framework.UpdatePodSpec},
	}}, nil
}
