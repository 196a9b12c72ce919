package noderesources

import (
	"context"
	"fmt"
	"math"

	v1 "k8s.io/api/core/v1"

	"github.com/podvisor/podvisor/internal/scheduler/framework"
)

// BalancedAllocationName is the BalancedAllocation plugin's name.
const BalancedAllocationName = "NodeResourcesBalancedAllocation"

// BalancedAllocation favours nodes whose resource fractions stay close to
// each other once the pod is placed.
type BalancedAllocation struct {
	resources []ResourceWeight
}

var (
	_ framework.PreScorePlugin = (*BalancedAllocation)(nil)
	_ framework.ScorePlugin    = (*BalancedAllocation)(nil)
)

// NewBalancedAllocation returns the plugin; args is nil (cpu and memory)
// or a []ResourceWeight (weights unused).
func NewBalancedAllocation(_ context.Context, args any, _ framework.Handle) (framework.Plugin, error) {
	res := defaultResources()
	switch x := args.(type) {
	case nil:
	case []ResourceWeight:
		if len(x) > 0 {
			res = x
		}
	default:
		return nil, fmt.Errorf("%s: args of type %T, want []ResourceWeight", BalancedAllocationName, args)
	}
	return &BalancedAllocation{resources: res}, nil
}

// Name implements framework.Plugin.
func (*BalancedAllocation) Name() string { return BalancedAllocationName }

const balancedKey framework.StateKey = "PreScore" + BalancedAllocationName

// PreScore implements framework.PreScorePlugin.
func (b *BalancedAllocation) PreScore(_ context.Context, state *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) *framework.Status {
	state.Write(balancedKey, &preScoreState{requests: scoringRequests(podRequests(state, pod), b.resources)})
	return nil
}

// Score implements framework.ScorePlugin: with f_r the fraction of
// resource r requested once the pod is placed (capped at 1), the score is
// (1 − standard deviation of the f_r) × 100. E.g. cpu 50% and memory 30%:
// mean 40%, deviation 10%, score 90.
func (b *BalancedAllocation) Score(_ context.Context, state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) (int64, *framework.Status) {
	var reqs []int64
	if d, err := state.Read(balancedKey); err == nil {
		reqs = d.(*preScoreState).requests
	} else {
		reqs = scoringRequests(framework.ComputePodRequests(pod), b.resources)
	}
	var fr [8]float64
	fractions := fr[:0]
	for i, r := range b.resources {
		alloc := ni.Allocatable.Get(r.Name)
		if alloc <= 0 {
			continue
		}
		f := float64(nodeRequested(ni, r.Name)+reqs[i]) / float64(alloc)
		fractions = append(fractions, min(f, 1))
	}
	if len(fractions) < 2 {
		return framework.MaxNodeScore, nil
	}
	var mean float64
	for _, f := range fractions {
		mean += f
	}
	mean /= float64(len(fractions))
	var variance float64
	for _, f := range fractions {
		variance += (f - mean) * (f - mean)
	}
	std := math.Sqrt(variance / float64(len(fractions)))
	return int64((1 - std) * float64(framework.MaxNodeScore)), nil
}

// ScoreExtensions implements framework.ScorePlugin.
func (*BalancedAllocation) ScoreExtensions() framework.ScoreExtensions { return nil }
