// Package interpodaffinity is the InterPodAffinity plugin: required pod
// affinity and anti-affinity filter nodes by the pods already running in
// the same topology domain (node, zone, any label), in both directions (an
// existing pod's anti-affinity keeps the incoming pod away too);
// preferred terms, and existing pods' terms towards the incoming pod,
// score them.
//
// Efficiency: PreFilter walks the cluster's pods once and counts matches
// per topology pair (key, value); Filter is then a few map lookups per
// node. The existing pods' anti-affinity is found through the snapshot's
// list of nodes holding pods with required anti-affinity, so pods without
// affinity cost nothing when no such pods exist. Only the plugin registry
// imports it.
package interpodaffinity

import (
	"context"
	"fmt"
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"

	"github.com/podvisor/podvisor/internal/scheduler/framework"
)

// Name is the plugin's name.
const Name = "InterPodAffinity"

// Rejection reasons.
const (
	ErrReasonExistingAntiAffinityRulesNotMatch = "node(s) didn't satisfy existing pods anti-affinity rules"
	ErrReasonAffinityRulesNotMatch             = "node(s) didn't match pod affinity rules"
	ErrReasonAntiAffinityRulesNotMatch         = "node(s) didn't match pod anti-affinity rules"
)

// hardPodAffinityWeight is the score weight of an existing pod's required
// affinity term that the incoming pod matches.
const hardPodAffinityWeight = 1

// InterPodAffinity filters and scores by pod (anti-)affinity.
type InterPodAffinity struct {
	handle     framework.Handle
	namespaces corelisters.NamespaceLister
}

var (
	_ framework.PreFilterPlugin     = (*InterPodAffinity)(nil)
	_ framework.FilterPlugin        = (*InterPodAffinity)(nil)
	_ framework.PreFilterExtensions = (*InterPodAffinity)(nil)
	_ framework.PreScorePlugin      = (*InterPodAffinity)(nil)
	_ framework.ScorePlugin         = (*InterPodAffinity)(nil)
	_ framework.EnqueueExtensions   = (*InterPodAffinity)(nil)
)

// New returns the plugin.
func New(_ context.Context, _ any, h framework.Handle) (framework.Plugin, error) {
	return &InterPodAffinity{handle: h, namespaces: h.SharedInformerFactory().Core().V1().Namespaces().Lister()}, nil
}

// Name implements framework.Plugin.
func (*InterPodAffinity) Name() string { return Name }

type topologyPair struct{ key, value string }

// topologyCounts counts matching pods per topology pair.
type topologyCounts map[topologyPair]int64

func (c topologyCounts) add(o topologyCounts) {
	for k, v := range o {
		c[k] += v
	}
}

// update adds delta for each term's pair on node (terms whose key the
// node lacks count nowhere).
func (c topologyCounts) update(node *v1.Node, terms []framework.AffinityTerm, delta int64) {
	for i := range terms {
		if v, ok := node.Labels[terms[i].TopologyKey]; ok {
			p := topologyPair{terms[i].TopologyKey, v}
			c[p] += delta
			if c[p] == 0 {
				delete(c, p)
			}
		}
	}
}

func (c topologyCounts) clone() topologyCounts {
	out := make(topologyCounts, len(c))
	for k, v := range c {
		out[k] = v
	}
	return out
}

const preFilterKey framework.StateKey = "PreFilter" + Name

type preFilterState struct {
	// existingAnti counts, per pair, existing pods whose required
	// anti-affinity matches the incoming pod.
	existingAnti topologyCounts
	// affinity counts, per pair of each of the incoming pod's required
	// affinity terms, existing pods matching all of those terms.
	affinity topologyCounts
	// anti counts, per pair of each of the incoming pod's required
	// anti-affinity terms, existing pods matching that term.
	anti topologyCounts
	// podInfo is the incoming pod with namespace selectors resolved.
	podInfo *framework.PodInfo
	// nsLabels are the labels of the incoming pod's namespace.
	nsLabels labels.Set
}

func (s *preFilterState) Clone() framework.StateData {
	return &preFilterState{existingAnti: s.existingAnti.clone(), affinity: s.affinity.clone(),
		anti: s.anti.clone(), podInfo: s.podInfo, nsLabels: s.nsLabels}
}

// resolveNamespaces turns the namespace selectors of the incoming pod's
// terms into explicit namespace sets, so existing pods are matched without
// looking their namespaces up.
func (p *InterPodAffinity) resolveNamespaces(pi *framework.PodInfo) error {
	resolve := func(t *framework.AffinityTerm) error {
		if t.NamespaceSelector == nil {
			return nil
		}
		list, err := p.namespaces.List(t.NamespaceSelector)
		if err != nil {
			return fmt.Errorf("listing namespaces: %w", err)
		}
		names := t.Namespaces.Clone()
		for _, ns := range list {
			names.Insert(ns.Name)
		}
		t.SetNamespaces(names, nil)
		return nil
	}
	for _, terms := range [][]framework.AffinityTerm{pi.RequiredAffinityTerms, pi.RequiredAntiAffinityTerms} {
		for i := range terms {
			if err := resolve(&terms[i]); err != nil {
				return err
			}
		}
	}
	for _, terms := range [][]framework.WeightedAffinityTerm{pi.PreferredAffinityTerms, pi.PreferredAntiAffinityTerms} {
		for i := range terms {
			if err := resolve(&terms[i].AffinityTerm); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *InterPodAffinity) namespaceLabels(ns string) labels.Set {
	n, err := p.namespaces.Get(ns)
	if err != nil {
		return nil
	}
	return n.Labels
}

// matchesAll reports whether pod matches every term (its namespaces are
// resolved, so no labels are needed).
func matchesAll(pod *v1.Pod, terms []framework.AffinityTerm) bool {
	for i := range terms {
		if !terms[i].Matches(pod, nil) {
			return false
		}
	}
	return len(terms) > 0
}

// PreFilter implements framework.PreFilterPlugin.
func (p *InterPodAffinity) PreFilter(ctx context.Context, state *framework.CycleState, pod *v1.Pod, nodes []*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
	pi := framework.NewPodInfo(pod)
	if pi.ParseErr != nil {
		return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, fmt.Sprintf("invalid pod affinity: %v", pi.ParseErr))
	}
	lister := p.handle.SnapshotSharedLister().NodeInfos()
	withAnti := lister.HavePodsWithRequiredAntiAffinityList()
	if len(pi.RequiredAffinityTerms) == 0 && len(pi.RequiredAntiAffinityTerms) == 0 && len(withAnti) == 0 {
		return nil, framework.NewStatus(framework.Skip)
	}
	if err := p.resolveNamespaces(pi); err != nil {
		return nil, framework.AsStatus(err)
	}
	s := &preFilterState{podInfo: pi, nsLabels: p.namespaceLabels(pod.Namespace),
		existingAnti: topologyCounts{}, affinity: topologyCounts{}, anti: topologyCounts{}}

	var mu sync.Mutex
	par := p.handle.Parallelizer()
	par.Until(ctx, len(withAnti), func(i int) {
		ni := withAnti[i]
		local := topologyCounts{}
		for _, existing := range ni.PodsWithRequiredAntiAffinity {
			for j := range existing.RequiredAntiAffinityTerms {
				t := &existing.RequiredAntiAffinityTerms[j]
				if t.Matches(pod, s.nsLabels) {
					local.update(ni.Node(), existing.RequiredAntiAffinityTerms[j:j+1], 1)
				}
			}
		}
		if len(local) > 0 {
			mu.Lock()
			s.existingAnti.add(local)
			mu.Unlock()
		}
	})
	if len(pi.RequiredAffinityTerms) > 0 || len(pi.RequiredAntiAffinityTerms) > 0 {
		par.Until(ctx, len(nodes), func(i int) {
			ni := nodes[i]
			if ni.Node() == nil {
				return
			}
			aff, anti := topologyCounts{}, topologyCounts{}
			for _, existing := range ni.Pods {
				if matchesAll(existing.Pod, pi.RequiredAffinityTerms) {
					aff.update(ni.Node(), pi.RequiredAffinityTerms, 1)
				}
				for j := range pi.RequiredAntiAffinityTerms {
					if pi.RequiredAntiAffinityTerms[j].Matches(existing.Pod, nil) {
						anti.update(ni.Node(), pi.RequiredAntiAffinityTerms[j:j+1], 1)
					}
				}
			}
			if len(aff) > 0 || len(anti) > 0 {
				mu.Lock()
				s.affinity.add(aff)
				s.anti.add(anti)
				mu.Unlock()
			}
		})
	}
	if err := ctx.Err(); err != nil {
		return nil, framework.AsStatus(err)
	}
	state.Write(preFilterKey, s)
	return nil, nil
}

// PreFilterExtensions implements framework.PreFilterPlugin.
func (p *InterPodAffinity) PreFilterExtensions() framework.PreFilterExtensions { return p }

func (p *InterPodAffinity) updateWithPod(state *framework.CycleState, pod *v1.Pod, other *framework.PodInfo, ni *framework.NodeInfo, delta int64) *framework.Status {
	d, err := state.Read(preFilterKey)
	if err != nil {
		return framework.AsStatus(fmt.Errorf("reading %q from cycle state: %w", preFilterKey, err))
	}
	s := d.(*preFilterState)
	node := ni.Node()
	if node == nil {
		return nil
	}
	for j := range other.RequiredAntiAffinityTerms {
		if other.RequiredAntiAffinityTerms[j].Matches(pod, s.nsLabels) {
			s.existingAnti.update(node, other.RequiredAntiAffinityTerms[j:j+1], delta)
		}
	}
	if matchesAll(other.Pod, s.podInfo.RequiredAffinityTerms) {
		s.affinity.update(node, s.podInfo.RequiredAffinityTerms, delta)
	}
	for j := range s.podInfo.RequiredAntiAffinityTerms {
		if s.podInfo.RequiredAntiAffinityTerms[j].Matches(other.Pod, nil) {
			s.anti.update(node, s.podInfo.RequiredAntiAffinityTerms[j:j+1], delta)
		}
	}
	return nil
}

// AddPod implements framework.PreFilterExtensions.
func (p *InterPodAffinity) AddPod(_ context.Context, state *framework.CycleState, pod *v1.Pod, other *framework.PodInfo, ni *framework.NodeInfo) *framework.Status {
	return p.updateWithPod(state, pod, other, ni, 1)
}

// RemovePod implements framework.PreFilterExtensions.
func (p *InterPodAffinity) RemovePod(_ context.Context, state *framework.CycleState, pod *v1.Pod, other *framework.PodInfo, ni *framework.NodeInfo) *framework.Status {
	return p.updateWithPod(state, pod, other, ni, -1)
}

// Filter implements framework.FilterPlugin.
func (p *InterPodAffinity) Filter(_ context.Context, state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	d, err := state.Read(preFilterKey)
	if err != nil {
		return framework.AsStatus(fmt.Errorf("reading %q from cycle state: %w", preFilterKey, err))
	}
	s := d.(*preFilterState)
	node := ni.Node()
	if len(s.existingAnti) > 0 {
		for k, v := range node.Labels {
			if s.existingAnti[topologyPair{k, v}] > 0 {
				return framework.NewStatus(framework.Unschedulable, ErrReasonExistingAntiAffinityRulesNotMatch)
			}
		}
	}
	if len(s.anti) > 0 {
		for _, t := range s.podInfo.RequiredAntiAffinityTerms {
			if v, ok := node.Labels[t.TopologyKey]; ok && s.anti[topologyPair{t.TopologyKey, v}] > 0 {
				return framework.NewStatus(framework.Unschedulable, ErrReasonAntiAffinityRulesNotMatch)
			}
		}
	}
	if terms := s.podInfo.RequiredAffinityTerms; len(terms) > 0 && !satisfiesAffinity(s, pod, node, terms) {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonAffinityRulesNotMatch)
	}
	return nil
}

// satisfiesAffinity: every term's topology domain on node holds a
// matching pod. Exception: when no pod anywhere matches and the pod
// matches its own terms, it is the first of its group and may go to any
// node that has the topology keys.
func satisfiesAffinity(s *preFilterState, pod *v1.Pod, node *v1.Node, terms []framework.AffinityTerm) bool {
	ok := true
	for _, t := range terms {
		v, has := node.Labels[t.TopologyKey]
		if !has {
			return false
		}
		if s.affinity[topologyPair{t.TopologyKey, v}] <= 0 {
			ok = false
		}
	}
	if ok {
		return true
	}
	return len(s.affinity) == 0 && matchesAll(pod, terms)
}
