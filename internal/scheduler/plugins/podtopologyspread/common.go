// Package podtopologyspread is the PodTopologySpread plugin: a pod's
// topologySpreadConstraints keep the number of matching pods in each
// topology domain (zone, node, any label) within maxSkew of the least
// loaded domain. whenUnsatisfiable DoNotSchedule constraints filter,
// ScheduleAnyway ones score; minDomains treats missing domains as empty;
// nodeAffinityPolicy (default Honor) and nodeTaintsPolicy (default Ignore)
// choose which nodes count. Pods without constraints get the system
// default ones for scoring (zone maxSkew 5, hostname maxSkew 3, over the
// pods selected by the Services, ReplicaSets and StatefulSets that select
// the pod), as in Kubernetes. Only the plugin registry imports it.
package podtopologyspread

import (
	"context"
	"fmt"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"github.com/podvisor/podvisor/internal/scheduler/framework"
)

// Name is the plugin's name.
const Name = "PodTopologySpread"

// Rejection reasons.
const (
	ErrReasonConstraintsNotMatch = "node(s) didn't match pod topology spread constraints"
	ErrReasonNodeLabelNotMatch   = ErrReasonConstraintsNotMatch + " (missing required label)"
)

// Args configure the plugin.
type Args struct {
	// DefaultConstraints replace the system defaults for pods without
	// constraints (ScheduleAnyway only; their selectors are ignored and
	// derived from the pod's Services and controllers). Nil means the
	// system defaults; an empty non-nil slice disables defaulting.
	DefaultConstraints []v1.TopologySpreadConstraint
}

// PodTopologySpread filters and scores by topology spread.
type PodTopologySpread struct {
	handle       framework.Handle
	defaults     []v1.TopologySpreadConstraint
	services     corelisters.ServiceLister
	replicaSets  appslisters.ReplicaSetLister
	statefulSets appslisters.StatefulSetLister
}

var (
	_ framework.PreFilterPlugin     = (*PodTopologySpread)(nil)
	_ framework.FilterPlugin        = (*PodTopologySpread)(nil)
	_ framework.PreFilterExtensions = (*PodTopologySpread)(nil)
	_ framework.PreScorePlugin      = (*PodTopologySpread)(nil)
	_ framework.ScorePlugin         = (*PodTopologySpread)(nil)
	_ framework.EnqueueExtensions   = (*PodTopologySpread)(nil)
)

// SystemDefaultConstraints are Kubernetes' default constraints.
func SystemDefaultConstraints() []v1.TopologySpreadConstraint {
	return []v1.TopologySpreadConstraint{
		{TopologyKey: v1.LabelTopologyZone, WhenUnsatisfiable: v1.ScheduleAnyway, MaxSkew: 5},
		{TopologyKey: v1.LabelHostname, WhenUnsatisfiable: v1.ScheduleAnyway, MaxSkew: 3},
	}
}

// New returns the plugin; args is nil, Args or *Args.
func New(_ context.Context, args any, h framework.Handle) (framework.Plugin, error) {
	var a Args
	switch x := args.(type) {
	case nil:
	case Args:
		a = x
	case *Args:
		a = *x
	default:
		return nil, fmt.Errorf("%s: args of type %T, want Args", Name, args)
	}
	defaults := a.DefaultConstraints
	if defaults == nil {
		defaults = SystemDefaultConstraints()
	}
	for _, c := range defaults {
		if c.WhenUnsatisfiable != v1.ScheduleAnyway {
			return nil, fmt.Errorf("%s: default constraint on %q must be ScheduleAnyway", Name, c.TopologyKey)
		}
		if c.MaxSkew <= 0 || c.TopologyKey == "" {
			return nil, fmt.Errorf("%s: default constraint needs a topology key and a positive maxSkew", Name)
		}
	}
	p := &PodTopologySpread{handle: h, defaults: defaults}
	if len(defaults) > 0 {
		f := h.SharedInformerFactory()
		p.services = f.Core().V1().Services().Lister()
		p.replicaSets = f.Apps().V1().ReplicaSets().Lister()
		p.statefulSets = f.Apps().V1().StatefulSets().Lister()
	}
	return p, nil
}

// Name implements framework.Plugin.
func (*PodTopologySpread) Name() string { return Name }

// constraint is a parsed topology spread constraint.
type constraint struct {
	maxSkew           int32
	topologyKey       string
	selector          framework.LabelMatcher
	minDomains        int32
	honorNodeAffinity bool
	honorNodeTaints   bool
}

// constraints parses pod's constraints with the given whenUnsatisfiable.
func constraints(pod *v1.Pod, action v1.UnsatisfiableConstraintAction) ([]constraint, error) {
	var out []constraint
	for _, c := range pod.Spec.TopologySpreadConstraints {
		if c.WhenUnsatisfiable != action {
			continue
		}
		sel, err := framework.NewLabelMatcher(c.LabelSelector)
		if err != nil {
			return nil, fmt.Errorf("parsing topology spread selector: %w", err)
		}
		for _, k := range c.MatchLabelKeys {
			if v, ok := pod.Labels[k]; ok {
				sel.AddIn(k, v)
			}
		}
		pc := constraint{maxSkew: c.MaxSkew, topologyKey: c.TopologyKey, selector: sel, minDomains: 1,
			honorNodeAffinity: true}
		if c.MinDomains != nil {
			pc.minDomains = *c.MinDomains
		}
		if c.NodeAffinityPolicy != nil {
			pc.honorNodeAffinity = *c.NodeAffinityPolicy == v1.NodeInclusionPolicyHonor
		}
		if c.NodeTaintsPolicy != nil {
			pc.honorNodeTaints = *c.NodeTaintsPolicy == v1.NodeInclusionPolicyHonor
		}
		out = append(out, pc)
	}
	return out, nil
}

// defaultSelector merges the selectors of the Services, ReplicaSets and
// StatefulSets that select pod; nil if there are none.
func (p *PodTopologySpread) defaultSelector(pod *v1.Pod) labels.Selector {
	sel := labels.NewSelector()
	found := false
	if svcs, err := p.services.Services(pod.Namespace).List(labels.Everything()); err == nil {
		for _, s := range svcs {
			if len(s.Spec.Selector) == 0 {
				continue
			}
			if ss := labels.SelectorFromSet(s.Spec.Selector); ss.Matches(labels.Set(pod.Labels)) {
				reqs, _ := ss.Requirements()
				sel = sel.Add(reqs...)
				found = true
			}
		}
	}
	if ref := metav1.GetControllerOf(pod); ref != nil {
		var ls *metav1.LabelSelector
		switch ref.Kind {
		case "ReplicaSet":
			if rs, err := p.replicaSets.ReplicaSets(pod.Namespace).Get(ref.Name); err == nil && rs.UID == ref.UID {
				ls = rs.Spec.Selector
			}
		case "StatefulSet":
			if ss, err := p.statefulSets.StatefulSets(pod.Namespace).Get(ref.Name); err == nil && ss.UID == ref.UID {
				ls = ss.Spec.Selector
			}
		}
		if ls != nil {
			if s, err := metav1.LabelSelectorAsSelector(ls); err == nil && !s.Empty() {
				reqs, _ := s.Requirements()
				sel = sel.Add(reqs...)
				found = true
			}
		}
	}
	if !found {
		return nil
	}
	return sel
}

// scoreConstraints returns the ScheduleAnyway constraints, or the
// defaults for a pod without any constraint.
func (p *PodTopologySpread) scoreConstraints(pod *v1.Pod) ([]constraint, error) {
	if len(pod.Spec.TopologySpreadConstraints) > 0 {
		return constraints(pod, v1.ScheduleAnyway)
	}
	if len(p.defaults) == 0 {
		return nil, nil
	}
	sel := p.defaultSelector(pod)
	if sel == nil {
		return nil, nil
	}
	out := make([]constraint, len(p.defaults))
	m := framework.LabelMatcherFromSelector(sel)
	for i, c := range p.defaults {
		out[i] = constraint{maxSkew: c.MaxSkew, topologyKey: c.TopologyKey, selector: m, minDomains: 1, honorNodeAffinity: true}
	}
	return out, nil
}

// nodeCounts reports whether node takes part in constraint c's domains:
// it has every constraint's key, and passes the inclusion policies.
func nodeCounts(node *v1.Node, cs []constraint, c *constraint, pod *v1.Pod, required *nodeaffinity.RequiredNodeAffinity) bool {
	for i := range cs {
		if _, ok := node.Labels[cs[i].topologyKey]; !ok {
			return false
		}
	}
	if c.honorNodeAffinity {
		if ok, _ := required.Match(node); !ok {
			return false
		}
	}
	if c.honorNodeTaints {
		if _, found := framework.FindUntoleratedTaint(node.Spec.Taints, pod.Spec.Tolerations, framework.DoNotScheduleTaint); found {
			return false
		}
	}
	return true
}

// countMatching counts the pods on ni in namespace ns that sel selects,
// ignoring pods being deleted.
func countMatching(ni *framework.NodeInfo, ns string, sel *framework.LabelMatcher) int {
	n := 0
	for _, pi := range ni.Pods {
		if pi.Pod.Namespace == ns && pi.Pod.DeletionTimestamp == nil && sel.Matches(pi.Pod.Labels) {
			n++
		}
	}
	return n
}
