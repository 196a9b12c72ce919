package podtopologyspread

import (
	"context"
	"fmt"
	"math"
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"github.com/podvisor/podvisor/internal/scheduler/framework"
)

const preFilterKey framework.StateKey = "PreFilter" + Name

// preFilterState holds, per DoNotSchedule constraint, the matching pods
// per domain and the smallest such count.
type preFilterState struct {
	constraints []constraint
	// counts[i] maps constraint i's topology values to matching pods.
	counts []map[string]int
	// minMatch[i] is the smallest count of constraint i (0 when fewer
	// than minDomains domains exist).
	minMatch []int
	required nodeaffinity.RequiredNodeAffinity
}

func (s *preFilterState) Clone() framework.StateData {
	c := &preFilterState{constraints: s.constraints, required: s.required,
		counts: make([]map[string]int, len(s.counts)), minMatch: append([]int(nil), s.minMatch...)}
	for i, m := range s.counts {
		c.counts[i] = make(map[string]int, len(m))
		for k, v := range m {
			c.counts[i][k] = v
		}
	}
	return c
}

func (s *preFilterState) recomputeMin(i int) {
	if len(s.counts[i]) < int(s.constraints[i].minDomains) {
		s.minMatch[i] = 0
		return
	}
	m := math.MaxInt
	for _, n := range s.counts[i] {
		m = min(m, n)
	}
	if m == math.MaxInt {
		m = 0
	}
	s.minMatch[i] = m
}

// PreFilter implements framework.PreFilterPlugin: Skip without
// DoNotSchedule constraints; otherwise count matching pods per domain over
// every node that takes part.
func (p *PodTopologySpread) PreFilter(ctx context.Context, state *framework.CycleState, pod *v1.Pod, nodes []*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
	cs, err := constraints(pod, v1.DoNotSchedule)
	if err != nil {
		return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, err.Error())
	}
	if len(cs) == 0 {
		return nil, framework.NewStatus(framework.Skip)
	}
	s := &preFilterState{constraints: cs, counts: make([]map[string]int, len(cs)), minMatch: make([]int, len(cs)),
		required: nodeaffinity.GetRequiredNodeAffinity(pod)}
	for i := range s.counts {
		s.counts[i] = map[string]int{}
	}
	var mu sync.Mutex
	p.handle.Parallelizer().Until(ctx, len(nodes), func(n int) {
		ni := nodes[n]
		node := ni.Node()
		if node == nil {
			return
		}
		for i := range cs {
			c := &cs[i]
			if !nodeCounts(node, cs, c, pod, &s.required) {
				continue
			}
			cnt := countMatching(ni, pod.Namespace, &c.selector)
			v := node.Labels[c.topologyKey]
			mu.Lock()
			s.counts[i][v] += cnt
			mu.Unlock()
		}
	})
	if err := ctx.Err(); err != nil {
		return nil, framework.AsStatus(err)
	}
	for i := range cs {
		s.recomputeMin(i)
	}
	state.Write(preFilterKey, s)
	return nil, nil
}

// PreFilterExtensions implements framework.PreFilterPlugin.
func (p *PodTopologySpread) PreFilterExtensions() framework.PreFilterExtensions { return p }

func (p *PodTopologySpread) update(state *framework.CycleState, pod *v1.Pod, other *framework.PodInfo, ni *framework.NodeInfo, delta int) *framework.Status {
	d, err := state.Read(preFilterKey)
	if err != nil {
		return framework.AsStatus(fmt.Errorf("reading %q from cycle state: %w", preFilterKey, err))
	}
	s := d.(*preFilterState)
	node := ni.Node()
	if node == nil || other.Pod.Namespace != pod.Namespace {
		return nil
	}
	for i := range s.constraints {
		c := &s.constraints[i]
		if !nodeCounts(node, s.constraints, c, pod, &s.required) || !c.selector.Matches(other.Pod.Labels) {
			continue
		}
		s.counts[i][node.Labels[c.topologyKey]] += delta
		s.recomputeMin(i)
	}
	return nil
}

// AddPod implements framework.PreFilterExtensions.
func (p *PodTopologySpread) AddPod(_ context.Context, state *framework.CycleState, pod *v1.Pod, other *framework.PodInfo, ni *framework.NodeInfo) *framework.Status {
	return p.update(state, pod, other, ni, 1)
}

// RemovePod implements framework.PreFilterExtensions.
func (p *PodTopologySpread) RemovePod(_ context.Context, state *framework.CycleState, pod *v1.Pod, other *framework.PodInfo, ni *framework.NodeInfo) *framework.Status {
	return p.update(state, pod, other, ni, -1)
}

// Filter implements framework.FilterPlugin: placing the pod on the node
// must leave skew = count(node's domain) + (1 if the pod matches itself)
// − min count ≤ maxSkew for every constraint. E.g. zones a, b, c holding
// 2, 1, 0 matching pods with maxSkew 1: the pod fits only in c (a: 3−0,
// b: 2−0 exceed 1).
func (p *PodTopologySpread) Filter(_ context.Context, state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	d, err := state.Read(preFilterKey)
	if err != nil {
		return framework.AsStatus(fmt.Errorf("reading %q from cycle state: %w", preFilterKey, err))
	}
	s := d.(*preFilterState)
	node := ni.Node()
	for i := range s.constraints {
		c := &s.constraints[i]
		v, ok := node.Labels[c.topologyKey]
		if !ok {
			return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonNodeLabelNotMatch)
		}
		self := 0
		if c.selector.Matches(pod.Labels) {
			self = 1
		}
		if skew := s.counts[i][v] + self - s.minMatch[i]; skew > int(c.maxSkew) {
			return framework.NewStatus(framework.Unschedulable, ErrReasonConstraintsNotMatch)
		}
	}
	return nil
}
