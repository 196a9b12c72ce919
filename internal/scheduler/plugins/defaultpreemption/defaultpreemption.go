// Package defaultpreemption is the DefaultPreemption plugin: when a pod
// fits no node, it looks for a node where evicting pods of lower priority
// would make room, choosing the victims so that as few pods as possible
// (and as few PodDisruptionBudget violations, and the least important
// pods) are evicted; it then deletes the victims through the API, records
// a Preempted event on each, and nominates the node for the pod
// (status.nominatedNodeName) so that the room is kept for it.
//
// Choosing the node, in order: fewest PDB violations, lowest priority of
// the most important victim, lowest sum of victim priorities, fewest
// victims, most recently started most-important victims, then the first
// found. Only a sample of the candidate nodes is evaluated in big clusters
// (10% of them, at least 100). Only the plugin registry imports it.
package defaultpreemption

import (
	"context"
	"fmt"
	"math"
	"sort"
	"sync"
	"sync/atomic"

	v1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	policylisters "k8s.io/client-go/listers/policy/v1"

	"github.com/podvisor/podvisor/internal/scheduler/framework"
)

// Name is the plugin's name.
const Name = "DefaultPreemption"

// Status reasons for nodes that cannot help.
const (
	ReasonNotHelpful = "Preemption is not helpful for scheduling"
	ReasonNoVictims  = "No preemption victims found for incoming pod"
)

// Args configure the plugin.
type Args struct {
	// MinCandidateNodesPercentage and MinCandidateNodesAbsolute size the
	// sample of candidate nodes: max(percentage of nodes, absolute),
	// defaults 10 and 100.
	MinCandidateNodesPercentage int32
	MinCandidateNodesAbsolute   int32
}

// DefaultPreemption preempts lower-priority pods.
type DefaultPreemption struct {
	handle framework.Handle
	args   Args
	pdbs   policylisters.PodDisruptionBudgetLister
}

var _ framework.PostFilterPlugin = (*DefaultPreemption)(nil)

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
	if a.MinCandidateNodesPercentage == 0 {
		a.MinCandidateNodesPercentage = 10
	}
	if a.MinCandidateNodesAbsolute == 0 {
		a.MinCandidateNodesAbsolute = 100
	}
	if a.MinCandidateNodesPercentage < 0 || a.MinCandidateNodesPercentage > 100 || a.MinCandidateNodesAbsolute < 0 {
		return nil, fmt.Errorf("%s: invalid candidate sample (%d%%, %d)", Name, a.MinCandidateNodesPercentage, a.MinCandidateNodesAbsolute)
	}
	f := h.SharedInformerFactory()
	return &DefaultPreemption{handle: h, args: a,
		pdbs: f.Policy().V1().PodDisruptionBudgets().Lister()}, nil
}

// Name implements framework.Plugin.
func (*DefaultPreemption) Name() string { return Name }

// candidate is a node where preemption would work.
type candidate struct {
	node          string
	victims       []*framework.PodInfo
	pdbViolations int
}

// PostFilter implements framework.PostFilterPlugin.
func (p *DefaultPreemption) PostFilter(ctx context.Context, state *framework.CycleState, pod *v1.Pod, statuses framework.NodeToStatus) (*framework.PostFilterResult, *framework.Status) {
	if ok, msg := p.eligible(pod, statuses); !ok {
		return nil, framework.NewStatus(framework.Unschedulable, "preemption: "+msg)
	}
	all := p.handle.SnapshotSharedLister().NodeInfos().List()
	if len(all) == 0 {
		return nil, framework.NewStatus(framework.Unschedulable, "preemption: no nodes available")
	}
	var potential []*framework.NodeInfo
	for _, ni := range all {
		if s, ok := statuses[ni.Node().Name]; !ok || s.Code() != framework.UnschedulableAndUnresolvable {
			potential = append(potential, ni)
		}
	}
	nodeStatuses := framework.NodeToStatus{}
	for _, ni := range all {
		nodeStatuses[ni.Node().Name] = framework.NewStatus(framework.UnschedulableAndUnresolvable, ReasonNotHelpful)
	}
	var candidates []candidate
	if len(potential) > 0 {
		pdbs, err := p.pdbs.List(labels.Everything())
		if err != nil {
			return nil, framework.AsStatus(fmt.Errorf("listing pod disruption budgets: %w", err))
		}
		var failed framework.NodeToStatus
		candidates, failed = p.dryRun(ctx, state, pod, potential, pdbs)
		for n, s := range failed {
			nodeStatuses[n] = s
		}
	}
	if len(candidates) == 0 {
		fe := &framework.FitError{Pod: pod, NumAllNodes: len(all), Diagnosis: framework.Diagnosis{NodeToStatus: nodeStatuses}}
		return nil, framework.NewStatus(framework.Unschedulable, "preemption: "+fe.Error())
	}
	best := pickBest(candidates)
	if st := p.prepare(ctx, best, pod); !st.IsSuccess() {
		return nil, st
	}
	return &framework.PostFilterResult{NominatedNodeName: best.node}, nil
}

// eligible reports whether pod may preempt: not with preemptionPolicy
// Never, and not while lower-priority pods it already preempted on its
// nominated node are still terminating.
func (p *DefaultPreemption) eligible(pod *v1.Pod, statuses framework.NodeToStatus) (bool, string) {
	if pod.Spec.PreemptionPolicy != nil && *pod.Spec.PreemptionPolicy == v1.PreemptNever {
		return false, "not eligible due to preemptionPolicy=Never."
	}
	nominated := pod.Status.NominatedNodeName
	if nominated == "" {
		return true, ""
	}
	if s, ok := statuses[nominated]; ok && s.Code() == framework.UnschedulableAndUnresolvable {
		// Preemption cannot help there any more: look elsewhere.
		return true, ""
	}
	ni, err := p.handle.SnapshotSharedLister().NodeInfos().Get(nominated)
	if err != nil {
		return true, ""
	}
	prio := framework.PodPriority(pod)
	for _, pi := range ni.Pods {
		if pi.Pod.DeletionTimestamp != nil && framework.PodPriority(pi.Pod) < prio {
			return false, "not eligible due to a terminating pod on the nominated node."
		}
	}
	return true, ""
}

// sampleSize is how many candidates to look for among n potential nodes.
func (p *DefaultPreemption) sampleSize(n int) int {
	k := n * int(p.args.MinCandidateNodesPercentage) / 100
	k = max(k, int(p.args.MinCandidateNodesAbsolute))
	return min(k, n)
}

// dryRun evaluates the potential nodes, starting at a random offset, in
// parallel, until enough candidates without PDB violations are found.
func (p *DefaultPreemption) dryRun(ctx context.Context, state *framework.CycleState, pod *v1.Pod, nodes []*framework.NodeInfo, pdbs []*policyv1.PodDisruptionBudget) ([]candidate, framework.NodeToStatus) {
	want := p.sampleSize(len(nodes))
	offset := p.handle.RandIntn(len(nodes))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	var good, violating []candidate
	failed := framework.NodeToStatus{}
	var found atomic.Int32
	p.handle.Parallelizer().Until(ctx, len(nodes), func(i int) {
		ni := nodes[(offset+i)%len(nodes)].Clone()
		st := state.Clone()
		victims, violations, status := p.selectVictims(ctx, st, pod, ni, pdbs)
		mu.Lock()
		defer mu.Unlock()
		if !status.IsSuccess() {
			failed[ni.Node().Name] = status
			return
		}
		c := candidate{node: ni.Node().Name, victims: victims, pdbViolations: violations}
		if violations == 0 {
			good = append(good, c)
			if int(found.Add(1)) >= want {
				cancel()
			}
		} else {
			violating = append(violating, c)
		}
	})
	return append(good, violating...), failed
}

// moreImportant orders pods by priority, then by start time (earlier is
// more important).
func moreImportant(a, b *v1.Pod) bool {
	pa, pb := framework.PodPriority(a), framework.PodPriority(b)
	if pa != pb {
		return pa > pb
	}
	return startTime(a).Time.Before(startTime(b).Time)
}

func startTime(pod *v1.Pod) metav1.Time {
	if pod.Status.StartTime != nil {
		return *pod.Status.StartTime
	}
	return pod.CreationTimestamp
}

// selectVictims finds the fewest lower-priority pods on ni whose removal
// lets pod fit: remove them all, check the pod fits, then give back as
// many as possible, most important first, those covered by an exhausted
// PDB before the others.
func (p *DefaultPreemption) selectVictims(ctx context.Context, state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo, pdbs []*policyv1.PodDisruptionBudget) ([]*framework.PodInfo, int, *framework.Status) {
	prio := framework.PodPriority(pod)
	var potential []*framework.PodInfo
	remove := func(pi *framework.PodInfo) error {
		if err := ni.RemovePod(pi.Pod); err != nil {
			return err
		}
		return p.handle.RunPreFilterExtensionRemovePod(ctx, state, pod, pi, ni).AsError()
	}
	add := func(pi *framework.PodInfo) error {
		ni.AddPodInfo(pi)
		return p.handle.RunPreFilterExtensionAddPod(ctx, state, pod, pi, ni).AsError()
	}
	for _, pi := range append([]*framework.PodInfo(nil), ni.Pods...) {
		if framework.PodPriority(pi.Pod) < prio {
			potential = append(potential, pi)
			if err := remove(pi); err != nil {
				return nil, 0, framework.AsStatus(err)
			}
		}
	}
	if len(potential) == 0 {
		return nil, 0, framework.NewStatus(framework.UnschedulableAndUnresolvable, ReasonNoVictims)
	}
	if s := p.handle.RunFilterPluginsWithNominatedPods(ctx, state, pod, ni); !s.IsSuccess() {
		return nil, 0, s
	}
	sort.SliceStable(potential, func(i, j int) bool { return moreImportant(potential[i].Pod, potential[j].Pod) })
	violating, other := splitByPDB(potential, pdbs)
	var victims []*framework.PodInfo
	violations := 0
	reprieve := func(pi *framework.PodInfo) (bool, error) {
		if err := add(pi); err != nil {
			return false, err
		}
		if p.handle.RunFilterPluginsWithNominatedPods(ctx, state, pod, ni).IsSuccess() {
			return true, nil
		}
		if err := remove(pi); err != nil {
			return false, err
		}
		victims = append(victims, pi)
		return false, nil
	}
	for _, pi := range violating {
		fits, err := reprieve(pi)
		if err != nil {
			return nil, 0, framework.AsStatus(err)
		}
		if !fits {
			violations++
		}
	}
	for _, pi := range other {
		if _, err := reprieve(pi); err != nil {
			return nil, 0, framework.AsStatus(err)
		}
	}
	return victims, violations, nil
}

// splitByPDB separates the pods whose eviction would exceed a matching
// PDB's allowed disruptions (counting the evictions in order) from the
// others. Both keep their order.
func splitByPDB(pods []*framework.PodInfo, pdbs []*policyv1.PodDisruptionBudget) (violating, other []*framework.PodInfo) {
	allowed := make([]int32, len(pdbs))
	selectors := make([]labels.Selector, len(pdbs))
	for i, pdb := range pdbs {
		allowed[i] = pdb.Status.DisruptionsAllowed
		if s, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector); err == nil {
			selectors[i] = s
		}
	}
	for _, pi := range pods {
		pod := pi.Pod
		violates := false
		for i, pdb := range pdbs {
			if pdb.Namespace != pod.Namespace || selectors[i] == nil || selectors[i].Empty() ||
				!selectors[i].Matches(labels.Set(pod.Labels)) {
				continue
			}
			if _, disrupted := pdb.Status.DisruptedPods[pod.Name]; disrupted {
				// Already being evicted: counted in the budget.
				continue
			}
			allowed[i]--
			if allowed[i] < 0 {
				violates = true
			}
		}
		if violates {
			violating = append(violating, pi)
		} else {
			other = append(other, pi)
		}
	}
	return violating, other
}

// pickBest applies the ordering in the package doc.
func pickBest(cs []candidate) candidate {
	best := 0
	for i := 1; i < len(cs); i++ {
		if better(cs[i], cs[best]) {
			best = i
		}
	}
	return cs[best]
}

type summary struct {
	highest   int32
	sum       int64
	n         int
	latestTop metav1.Time
}

func summarize(c candidate) summary {
	s := summary{highest: math.MinInt32, n: len(c.victims)}
	for _, v := range c.victims {
		pr := framework.PodPriority(v.Pod)
		// Offset so that negative priorities still sum to less than
		// fewer positive ones.
		s.sum += int64(pr) + math.MaxInt32 + 1
		if pr > s.highest {
			s.highest = pr
		}
	}
	for _, v := range c.victims {
		if framework.PodPriority(v.Pod) == s.highest {
			if t := startTime(v.Pod); s.latestTop.IsZero() || s.latestTop.Before(&t) {
				s.latestTop = t
			}
		}
	}
	return s
}

func better(a, b candidate) bool {
	if a.pdbViolations != b.pdbViolations {
		return a.pdbViolations < b.pdbViolations
	}
	sa, sb := summarize(a), summarize(b)
	if len(a.victims) == 0 || len(b.victims) == 0 {
		return len(a.victims) < len(b.victims)
	}
	if sa.highest != sb.highest {
		return sa.highest < sb.highest
	}
	if sa.sum != sb.sum {
		return sa.sum < sb.sum
	}
	if sa.n != sb.n {
		return sa.n < sb.n
	}
	return sb.latestTop.Before(&sa.latestTop)
}

// prepare evicts the victims and withdraws the nominations of
// lower-priority pods on the node, which would otherwise hold the room.
func (p *DefaultPreemption) prepare(ctx context.Context, c candidate, pod *v1.Pod) *framework.Status {
	client := p.handle.ClientSet()
	errs := make(chan error, len(c.victims))
	var wg sync.WaitGroup
	for _, v := range c.victims {
		victim := v.Pod
		if wp := p.handle.GetWaitingPod(victim.UID); wp != nil {
			wp.Reject(Name, "preempted")
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- p.evict(ctx, client.CoreV1().Pods(victim.Namespace), victim, pod, c.node)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return framework.AsStatus(err)
		}
	}
	prio := framework.PodPriority(pod)
	for _, pi := range p.handle.NominatedPodsForNode(c.node) {
		if framework.PodPriority(pi.Pod) >= prio || pi.Pod.UID == pod.UID {
			continue
		}
		p.handle.DeleteNominatedPodIfExists(pi.Pod)
		patch := []byte(`{"status":{"nominatedNodeName":null}}`)
		_, err := client.CoreV1().Pods(pi.Pod.Namespace).Patch(ctx, pi.Pod.Name, types.MergePatchType, patch, metav1.PatchOptions{}, "status")
		if err != nil && !apierrors.IsNotFound(err) {
			p.handle.Logger().Info("clearing nomination of a lower-priority pod", "pod", framework.PodKey(pi.Pod), "err", err)
		}
	}
	return nil
}

// evict marks the victim with a DisruptionTarget condition, deletes it
// (with its own grace period) and records the Preempted event.
func (p *DefaultPreemption) evict(ctx context.Context, pods podClient, victim, preemptor *v1.Pod, node string) error {
	cond := fmt.Sprintf(`{"status":{"conditions":[{"type":%q,"status":"True","reason":"PreemptionByScheduler","message":%q,"lastTransitionTime":%q}]}}`,
		v1.DisruptionTarget, fmt.Sprintf("%s: preempting to accommodate a higher priority pod", Name),
		metav1.Now().UTC().Format("2006-01-02T15:04:05Z"))
	if _, err := pods.Patch(ctx, victim.Name, types.StrategicMergePatchType, []byte(cond), metav1.PatchOptions{}, "status"); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("marking victim %s/%s: %w", victim.Namespace, victim.Name, err)
	}
	uid := victim.UID
	err := pods.Delete(ctx, victim.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("deleting victim %s/%s: %w", victim.Namespace, victim.Name, err)
	}
	if err == nil {
		p.handle.EventRecorder().Eventf(victim, v1.EventTypeNormal, "Preempted",
			"Preempted by %s/%s on node %s", preemptor.Namespace, preemptor.Name, node)
	}
	return nil
}

// podClient is the part of the pods client evict uses.
type podClient interface {
	Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, subresources ...string) (*v1.Pod, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
}
