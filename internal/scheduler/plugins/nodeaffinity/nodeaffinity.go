// Package nodeaffinity is the NodeAffinity plugin: spec.nodeSelector and
// required node affinity filter nodes, preferred node affinity scores
// them (the sum of the weights of the matching terms). A required term
// that names nodes with matchFields metadata.name narrows the candidates
// in PreFilter. Only the plugin registry imports it.
package nodeaffinity

import (
	"context"
	"fmt"
	"log/slog"

	v1 "k8s.io/api/core/v1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"github.com/podvisor/podvisor/internal/scheduler/framework"
)

// Name is the plugin's name.
const Name = "NodeAffinity"

// ErrReasonPod is the rejection reason.
const ErrReasonPod = "node(s) didn't match Pod's node affinity/selector"

// NodeAffinity filters and scores by node selector and affinity.
type NodeAffinity struct{}

var (
	_ framework.PreFilterPlugin   = (*NodeAffinity)(nil)
	_ framework.FilterPlugin      = (*NodeAffinity)(nil)
	_ framework.PreScorePlugin    = (*NodeAffinity)(nil)
	_ framework.ScorePlugin       = (*NodeAffinity)(nil)
	_ framework.EnqueueExtensions = (*NodeAffinity)(nil)
)

// New returns the plugin.
func New(context.Context, any, framework.Handle) (framework.Plugin, error) {
	return &NodeAffinity{}, nil
}

// Name implements framework.Plugin.
func (*NodeAffinity) Name() string { return Name }

const (
	preFilterKey framework.StateKey = "PreFilter" + Name
	preScoreKey  framework.StateKey = "PreScore" + Name
)

type preFilterState struct {
	required nodeaffinity.RequiredNodeAffinity
}

func (s *preFilterState) Clone() framework.StateData { return s }

type preScoreState struct {
	preferred *nodeaffinity.PreferredSchedulingTerms
}

func (s *preScoreState) Clone() framework.StateData { return s }

func hasRequired(pod *v1.Pod) bool {
	a := pod.Spec.Affinity
	return len(pod.Spec.NodeSelector) > 0 ||
		(a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil)
}

// PreFilter implements framework.PreFilterPlugin. It skips pods without a
// node selector or required affinity, and narrows the candidates when
// every required term names nodes (matchFields metadata.name In).
func (*NodeAffinity) PreFilter(_ context.Context, state *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
	if !hasRequired(pod) {
		return nil, framework.NewStatus(framework.Skip)
	}
	state.Write(preFilterKey, &preFilterState{required: nodeaffinity.GetRequiredNodeAffinity(pod)})
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return nil, nil
	}
	terms := a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	if len(terms) == 0 {
		// No term can match: the API forbids this, but decide it here.
		return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonPod)
	}
	names := map[string]struct{}{}
	for _, t := range terms {
		named := termNodeNames(t)
		if named == nil {
			// This term can match any node: no narrowing.
			return nil, nil
		}
		for n := range named {
			names[n] = struct{}{}
		}
	}
	return &framework.PreFilterResult{NodeNames: names}, nil
}

// termNodeNames returns the node names a term is limited to by
// matchFields metadata.name In, nil if it is not limited.
func termNodeNames(t v1.NodeSelectorTerm) map[string]struct{} {
	var out map[string]struct{}
	for _, r := range t.MatchFields {
		if r.Key != "metadata.name" || r.Operator != v1.NodeSelectorOpIn {
			continue
		}
		set := map[string]struct{}{}
		for _, v := range r.Values {
			if out == nil {
				set[v] = struct{}{}
			} else if _, ok := out[v]; ok {
				set[v] = struct{}{}
			}
		}
		out = set
	}
	return out
}

// PreFilterExtensions implements framework.PreFilterPlugin.
func (*NodeAffinity) PreFilterExtensions() framework.PreFilterExtensions { return nil }

// Filter implements framework.FilterPlugin.
func (*NodeAffinity) Filter(_ context.Context, state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	var required nodeaffinity.RequiredNodeAffinity
	if d, err := state.Read(preFilterKey); err == nil {
		required = d.(*preFilterState).required
	} else {
		required = nodeaffinity.GetRequiredNodeAffinity(pod)
	}
	// A selector that fails to parse matches nothing.
	if ok, _ := required.Match(ni.Node()); !ok {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonPod)
	}
	return nil
}

// PreScore implements framework.PreScorePlugin: Skip without preferred
// terms.
func (*NodeAffinity) PreScore(_ context.Context, state *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) *framework.Status {
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || len(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	terms, err := nodeaffinity.NewPreferredSchedulingTerms(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution)
	if err != nil {
		return framework.AsStatus(fmt.Errorf("parsing preferred node affinity: %w", err))
	}
	state.Write(preScoreKey, &preScoreState{preferred: terms})
	return nil
}

// Score implements framework.ScorePlugin: the sum of the weights of the
// preferred terms the node matches.
func (*NodeAffinity) Score(_ context.Context, state *framework.CycleState, _ *v1.Pod, ni *framework.NodeInfo) (int64, *framework.Status) {
	d, err := state.Read(preScoreKey)
	if err != nil {
		return 0, framework.AsStatus(fmt.Errorf("reading %q from cycle state: %w", preScoreKey, err))
	}
	return d.(*preScoreState).preferred.Score(ni.Node()), nil
}

// ScoreExtensions implements framework.ScorePlugin.
func (p *NodeAffinity) ScoreExtensions() framework.ScoreExtensions { return p }

// NormalizeScore implements framework.ScoreExtensions.
func (*NodeAffinity) NormalizeScore(_ context.Context, _ *framework.CycleState, _ *v1.Pod, scores []framework.NodeScore) *framework.Status {
	return framework.DefaultNormalizeScore(framework.MaxNodeScore, false, scores)
}

// EventsToRegister implements framework.EnqueueExtensions: a node added or
// relabelled helps if it now matches.
func (*NodeAffinity) EventsToRegister(context.Context) ([]framework.ClusterEventWithHint, error) {
	return []framework.ClusterEventWithHint{{
		Event: framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add | framework.UpdateNodeLabel},
		QueueingHintFn: func(_ *slog.Logger, pod *v1.Pod, oldObj, newObj any) (framework.QueueingHint, error) {
			_, node, err := framework.Objects[v1.Node](oldObj, newObj)
			if err != nil {
				return framework.Queue, err
			}
			if ok, _ := nodeaffinity.GetRequiredNodeAffinity(pod).Match(node); ok {
				return framework.Queue, nil
			}
			return framework.QueueSkip, nil
		},
	}, {
		Event: framework.ClusterEvent{Resource: framework.UnscheduledPod, ActionType: framework.UpdatePodSpec},
	}}, nil
}
