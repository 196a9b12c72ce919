package interpodaffinity

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/podvisor/podvisor/internal/scheduler/framework"
)

const preScoreKey framework.StateKey = "PreScore" + Name

// scoreMap is topology key → value → score.
type scoreMap map[string]map[string]int64

func (m scoreMap) add(key, value string, w int64) {
	if w == 0 {
		return
	}
	vals := m[key]
	if vals == nil {
		vals = map[string]int64{}
		m[key] = vals
	}
	vals[value] += w
}

func (m scoreMap) merge(o scoreMap) {
	for k, vals := range o {
		for v, w := range vals {
			m.add(k, v, w)
		}
	}
}

type preScoreState struct{ scores scoreMap }

func (s *preScoreState) Clone() framework.StateData { return s }

// scoreTerm adds w to the domain of node for term if pod matches it.
func (m scoreMap) scoreTerm(term *framework.AffinityTerm, pod *v1.Pod, nsLabels labels.Set, node *v1.Node, w int64) {
	if term.TopologyKey == "" {
		return
	}
	if v, ok := node.Labels[term.TopologyKey]; ok && term.Matches(pod, nsLabels) {
		m.add(term.TopologyKey, v, w)
	}
}

// PreScore implements framework.PreScorePlugin. For every existing pod it
// adds, in that pod's topology domains:
//   - the weight of each preferred affinity term of the incoming pod the
//     existing pod matches (minus for anti-affinity);
//   - the weight of each preferred affinity term of the existing pod that
//     the incoming pod matches (minus for anti-affinity), and
//     hardPodAffinityWeight for each of its required affinity terms.
//
// Skip when neither the pod nor any existing pod has such terms.
func (p *InterPodAffinity) PreScore(ctx context.Context, state *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) *framework.Status {
	pi := framework.NewPodInfo(pod)
	if pi.ParseErr != nil {
		return framework.AsStatus(fmt.Errorf("parsing pod affinity: %w", pi.ParseErr))
	}
	lister := p.handle.SnapshotSharedLister().NodeInfos()
	hasPreferred := len(pi.PreferredAffinityTerms)+len(pi.PreferredAntiAffinityTerms) > 0
	var nodes []*framework.NodeInfo
	if hasPreferred {
		nodes = lister.List()
	} else {
		nodes = lister.HavePodsWithAffinityList()
	}
	if len(nodes) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	if err := p.resolveNamespaces(pi); err != nil {
		return framework.AsStatus(err)
	}
	nsLabels := p.namespaceLabels(pod.Namespace)
	total := scoreMap{}
	var mu sync.Mutex
	p.handle.Parallelizer().Until(ctx, len(nodes), func(i int) {
		ni := nodes[i]
		node := ni.Node()
		if node == nil {
			return
		}
		pods := ni.PodsWithAffinity
		if hasPreferred {
			pods = ni.Pods
		}
		local := scoreMap{}
		for _, ex := range pods {
			for j := range pi.PreferredAffinityTerms {
				t := &pi.PreferredAffinityTerms[j]
				local.scoreTerm(&t.AffinityTerm, ex.Pod, nil, node, int64(t.Weight))
			}
			for j := range pi.PreferredAntiAffinityTerms {
				t := &pi.PreferredAntiAffinityTerms[j]
				local.scoreTerm(&t.AffinityTerm, ex.Pod, nil, node, -int64(t.Weight))
			}
			for j := range ex.RequiredAffinityTerms {
				local.scoreTerm(&ex.RequiredAffinityTerms[j], pod, nsLabels, node, hardPodAffinityWeight)
			}
			for j := range ex.PreferredAffinityTerms {
				t := &ex.PreferredAffinityTerms[j]
				local.scoreTerm(&t.AffinityTerm, pod, nsLabels, node, int64(t.Weight))
			}
			for j := range ex.PreferredAntiAffinityTerms {
				t := &ex.PreferredAntiAffinityTerms[j]
				local.scoreTerm(&t.AffinityTerm, pod, nsLabels, node, -int64(t.Weight))
			}
		}
		if len(local) > 0 {
			mu.Lock()
			total.merge(local)
			mu.Unlock()
		}
	})
	if len(total) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	state.Write(preScoreKey, &preScoreState{scores: total})
	return nil
}

// Score implements framework.ScorePlugin: the sum of the scores of the
// node's topology domains.
func (p *InterPodAffinity) Score(_ context.Context, state *framework.CycleState, _ *v1.Pod, ni *framework.NodeInfo) (int64, *framework.Status) {
	d, err := state.Read(preScoreKey)
	if err != nil {
		return 0, framework.AsStatus(fmt.Errorf("reading %q from cycle state: %w", preScoreKey, err))
	}
	var score int64
	node := ni.Node()
	for key, vals := range d.(*preScoreState).scores {
		if v, ok := node.Labels[key]; ok {
			score += vals[v]
		}
	}
	return score, nil
}

// ScoreExtensions implements framework.ScorePlugin.
func (p *InterPodAffinity) ScoreExtensions() framework.ScoreExtensions { return p }

// NormalizeScore implements framework.ScoreExtensions: scores (which may
// be negative) are mapped linearly from [min, max] to [0, 100]; all equal
// gives 0.
func (p *InterPodAffinity) NormalizeScore(_ context.Context, _ *framework.CycleState, _ *v1.Pod, scores []framework.NodeScore) *framework.Status {
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for _, s := range scores {
		lo, hi = min(lo, s.Score), max(hi, s.Score)
	}
	diff := hi - lo
	for i := range scores {
		if diff > 0 {
			scores[i].Score = framework.MaxNodeScore * (scores[i].Score - lo) / diff
		} else {
			scores[i].Score = 0
		}
	}
	return nil
}

// EventsToRegister implements framework.EnqueueExtensions.
func (p *InterPodAffinity) EventsToRegister(context.Context) ([]framework.ClusterEventWithHint, error) {
	return []framework.ClusterEventWithHint{{
		// A pod arriving (or relabelled) may satisfy the pod's affinity;
		// one leaving (or relabelled) may lift an anti-affinity.
		Event:          framework.ClusterEvent{Resource: framework.AssignedPod, ActionType: framework.Add | framework.Delete | framework.UpdatePodLabel},
		QueueingHintFn: p.podEventHint,
	}, {
		Event: framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add | framework.UpdateNodeLabel},
	}, {
		Event: framework.ClusterEvent{Resource: framework.Namespace, ActionType: framework.Add | framework.UpdateOther},
	}, {
		Event: framework.ClusterEvent{Resource: framework.UnscheduledPod, ActionType: framework.UpdatePodSpec | framework.UpdatePodLabel},
	}}, nil
}

func (p *InterPodAffinity) podEventHint(_ *slog.Logger, pod *v1.Pod, oldObj, newObj any) (framework.QueueingHint, error) {
	oldPod, newPod, err := framework.Objects[v1.Pod](oldObj, newObj)
	if err != nil {
		return framework.Queue, err
	}
	pi := framework.NewPodInfo(pod)
	if err := p.resolveNamespaces(pi); err != nil {
		return framework.Queue, err
	}
	nsLabels := p.namespaceLabels(pod.Namespace)
	if newPod != nil {
		// Arrived or changed: may now satisfy the pod's affinity.
		for i := range pi.RequiredAffinityTerms {
			if pi.RequiredAffinityTerms[i].Matches(newPod, nil) {
				return framework.Queue, nil
			}
		}
	}
	if oldPod != nil {
		// Left or changed: may no longer block the pod.
		for i := range pi.RequiredAntiAffinityTerms {
			if pi.RequiredAntiAffinityTerms[i].Matches(oldPod, nil) {
				return framework.Queue, nil
			}
		}
		old := framework.NewPodInfo(oldPod)
		for i := range old.RequiredAntiAffinityTerms {
			if old.RequiredAntiAffinityTerms[i].Matches(pod, nsLabels) {
				return framework.Queue, nil
			}
		}
	}
	return framework.QueueSkip, nil
}
