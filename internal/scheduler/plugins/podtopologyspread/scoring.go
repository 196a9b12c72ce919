package podtopologyspread

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"github.com/podvisor/podvisor/internal/scheduler/framework"
)

const preScoreKey framework.StateKey = "PreScore" + Name

type preScoreState struct {
	constraints []constraint
	// counts[i] maps constraint i's topology values to matching pods
	// (not filled for the hostname key: counted per node in Score).
	counts []map[string]int
	// weights[i] = log(domains of constraint i + 2): constraints over
	// many domains weigh more.
	weights []float64
	// ignored are the feasible nodes lacking a constraint's key.
	ignored map[string]bool
}

func (s *preScoreState) Clone() framework.StateData { return s }

// PreScore implements framework.PreScorePlugin: domains are those of the
// feasible nodes; counts are taken over every node that takes part.
func (p *PodTopologySpread) PreScore(ctx context.Context, state *framework.CycleState, pod *v1.Pod, filtered []*framework.NodeInfo) *framework.Status {
	cs, err := p.scoreConstraints(pod)
	if err != nil {
		return framework.AsStatus(err)
	}
	if len(cs) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	s := &preScoreState{constraints: cs, counts: make([]map[string]int, len(cs)), weights: make([]float64, len(cs)), ignored: map[string]bool{}}
	domains := make([]map[string]bool, len(cs))
	for i := range cs {
		s.counts[i] = map[string]int{}
		domains[i] = map[string]bool{}
	}
	for _, ni := range filtered {
		node := ni.Node()
		hasAll := true
		for i := range cs {
			if _, ok := node.Labels[cs[i].topologyKey]; !ok {
				hasAll = false
				break
			}
		}
		if !hasAll {
			s.ignored[node.Name] = true
			continue
		}
		for i := range cs {
			domains[i][node.Labels[cs[i].topologyKey]] = true
		}
	}
	for i := range cs {
		s.weights[i] = math.Log(float64(len(domains[i]) + 2))
	}
	required := nodeaffinity.GetRequiredNodeAffinity(pod)
	all := p.handle.SnapshotSharedLister().NodeInfos().List()
	var mu sync.Mutex
	p.handle.Parallelizer().Until(ctx, len(all), func(n int) {
		ni := all[n]
		node := ni.Node()
		if node == nil {
			return
		}
		for i := range cs {
			c := &cs[i]
			if c.topologyKey == v1.LabelHostname {
				continue
			}
			v, ok := node.Labels[c.topologyKey]
			if !ok || !domains[i][v] || !nodeCounts(node, cs, c, pod, &required) {
				continue
			}
			cnt := countMatching(ni, pod.Namespace, &c.selector)
			mu.Lock()
			s.counts[i][v] += cnt
			mu.Unlock()
		}
	})
	if err := ctx.Err(); err != nil {
		return framework.AsStatus(err)
	}
	state.Write(preScoreKey, s)
	return nil
}

// Score implements framework.ScorePlugin: Σ over constraints of
// count(node's domain) × weight + (maxSkew − 1); lower is better (the
// maxSkew term makes small skews matter less). NormalizeScore reverses it.
func (p *PodTopologySpread) Score(_ context.Context, state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) (int64, *framework.Status) {
	d, err := state.Read(preScoreKey)
	if err != nil {
		return 0, framework.AsStatus(fmt.Errorf("reading %q from cycle state: %w", preScoreKey, err))
	}
	s := d.(*preScoreState)
	node := ni.Node()
	if s.ignored[node.Name] {
		return 0, nil
	}
	var score float64
	for i := range s.constraints {
		c := &s.constraints[i]
		var cnt int
		if c.topologyKey == v1.LabelHostname {
			cnt = countMatching(ni, pod.Namespace, &c.selector)
		} else {
			cnt = s.counts[i][node.Labels[c.topologyKey]]
		}
		score += float64(cnt)*s.weights[i] + float64(c.maxSkew-1)
	}
	return int64(math.Round(score)), nil
}

// ScoreExtensions implements framework.ScorePlugin.
func (p *PodTopologySpread) ScoreExtensions() framework.ScoreExtensions { return p }

// NormalizeScore implements framework.ScoreExtensions: with lo and hi the
// smallest and largest raw scores of the counted nodes, a node scores
// 100 × (hi + lo − raw) / hi (100 for all if hi is 0); ignored nodes
// score 0.
func (p *PodTopologySpread) NormalizeScore(_ context.Context, state *framework.CycleState, _ *v1.Pod, scores []framework.NodeScore) *framework.Status {
	d, err := state.Read(preScoreKey)
	if err != nil {
		return framework.AsStatus(fmt.Errorf("reading %q from cycle state: %w", preScoreKey, err))
	}
	s := d.(*preScoreState)
	lo, hi := int64(math.MaxInt64), int64(0)
	for _, sc := range scores {
		if s.ignored[sc.Name] {
			continue
		}
		lo, hi = min(lo, sc.Score), max(hi, sc.Score)
	}
	for i := range scores {
		switch {
		case s.ignored[scores[i].Name]:
			scores[i].Score = 0
		case hi == 0:
			scores[i].Score = framework.MaxNodeScore
		default:
			scores[i].Score = framework.MaxNodeScore * (hi + lo - scores[i].Score) / hi
		}
	}
	return nil
}

// EventsToRegister implements framework.EnqueueExtensions.
func (p *PodTopologySpread) EventsToRegister(context.Context) ([]framework.ClusterEventWithHint, error) {
	return []framework.ClusterEventWithHint{{
		Event: framework.ClusterEvent{Resource: framework.AssignedPod, ActionType: framework.Add | framework.Delete | framework.UpdatePodLabel},
		QueueingHintFn: func(_ *slog.Logger, pod *v1.Pod, oldObj, newObj any) (framework.QueueingHint, error) {
			oldPod, newPod, err := framework.Objects[v1.Pod](oldObj, newObj)
			if err != nil {
				return framework.Queue, err
			}
			cs, err := constraints(pod, v1.DoNotSchedule)
			if err != nil {
				return framework.Queue, err
			}
			for _, other := range []*v1.Pod{oldPod, newPod} {
				if other == nil || other.Namespace != pod.Namespace {
					continue
				}
				for i := range cs {
					if cs[i].selector.Matches(other.Labels) {
						return framework.Queue, nil
					}
				}
			}
			return framework.QueueSkip, nil
		},
	}, {
		Event: framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add | framework.Delete | framework.UpdateNodeLabel | framework.UpdateNodeTaint},
	}, {
		Event: framework.ClusterEvent{Resource: framework.UnscheduledPod, ActionType: framework.UpdatePodSpec | framework.UpdatePodLabel},
	}}, nil
}
