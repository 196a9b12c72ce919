package scheduler

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/podvisor/podvisor/internal/scheduler/framework"
)

// ErrNoNodesAvailable is the failure of a cycle in a cluster without
// nodes.
var ErrNoNodesAvailable = errors.New("no nodes available to schedule pods")

// Condition reasons the scheduler writes besides v1.PodReasonUnschedulable.
const (
	// ReasonDeadlineExceeded: the pod's activeDeadlineSeconds passed
	// before it could be bound; the scheduler no longer tries.
	ReasonDeadlineExceeded = "DeadlineExceeded"
)

// minFeasibleNodesToFind and minFeasibleNodesPercentageToFind bound the
// adaptive sample (see numFeasibleNodesToFind).
const (
	minFeasibleNodesToFind           = 100
	minFeasibleNodesPercentageToFind = 5
)

// numFeasibleNodesToFind is how many feasible nodes a cycle looks for
// before it stops filtering: all nodes below 100; otherwise
// PercentageOfNodesToScore percent, or adaptively 50% − nodes/125 (at
// least 5%), and never fewer than 100. With 1000 nodes that is 42%: 420
// nodes. Filtering starts where the previous cycle stopped, so every node
// is looked at in turn, and nodes are ordered zone by zone, so the sample
// spans every zone. Same rule as Kubernetes' percentageOfNodesToScore.
func (s *Scheduler) numFeasibleNodesToFind(n int) int {
	if n < minFeasibleNodesToFind || s.cfg.PercentageOfNodesToScore >= 100 {
		return n
	}
	pct := int(s.cfg.PercentageOfNodesToScore)
	if pct == 0 {
		pct = max(50-n/125, minFeasibleNodesPercentageToFind)
	}
	return max(n*pct/100, minFeasibleNodesToFind)
}

// scheduleOne runs one scheduling cycle and starts the binding cycle.
func (s *Scheduler) scheduleOne(ctx context.Context, qp *framework.QueuedPodInfo) {
	pod := qp.Pod
	if pod.DeletionTimestamp != nil || s.cache.Has(pod) {
		// Being deleted, or already assumed or bound.
		s.queue.Done(pod.UID)
		return
	}
	s.stats.attempts.Add(1)
	start := s.clock.Now()
	var waited time.Duration // for a binding slot: not the cycle's cost
	defer func() { s.stats.cycleNanos.Add(int64(s.clock.Since(start) - waited)) }()
	if s.deadlinePassed(pod) {
		s.giveUpDeadline(qp)
		s.queue.Done(pod.UID)
		return
	}
	state := framework.NewCycleState()
	s.cache.UpdateSnapshot(s.snapshot)
	host, err := s.schedulePod(ctx, state, pod)
	if err != nil {
		nominated := ""
		var fe *framework.FitError
		if errors.As(err, &fe) && s.fwk.HasPostFilterPlugins() {
			result, st := s.fwk.RunPostFilterPlugins(ctx, state, pod, fe.Diagnosis.NodeToStatus)
			if st.Code() == framework.Error {
				s.log.Info("preemption failed", "pod", framework.PodKey(pod), "err", st.AsError())
			} else {
				fe.Diagnosis.PostFilterMsg = st.Message()
			}
			if result != nil {
				nominated = result.NominatedNodeName
			}
		}
		s.fail(ctx, qp, err, nominated)
		return
	}

	// Assume: the next cycle counts the pod on host before it is bound.
	assumed := *pod
	assumed.Spec.NodeName = host
	pi := *qp.PodInfo
	pi.Pod = &assumed
	if err := s.cache.AssumePod(&pi); err != nil {
		s.fail(ctx, qp, fmt.Errorf("assuming pod: %w", err), "")
		return
	}
	s.queue.Nominator().DeleteNominatedPodIfExists(pod)
	if st := s.fwk.RunReservePluginsReserve(ctx, state, &assumed, host); !st.IsSuccess() {
		s.fwk.RunReservePluginsUnreserve(ctx, state, &assumed, host)
		s.forget(&assumed)
		s.fail(ctx, qp, statusError(st), "")
		return
	}
	if st := s.fwk.RunPermitPlugins(ctx, state, &assumed, host); !st.IsSuccess() && !st.IsWait() {
		s.fwk.RunReservePluginsUnreserve(ctx, state, &assumed, host)
		s.forget(&assumed)
		s.fail(ctx, qp, statusError(st), "")
		return
	}
	waitStart := s.clock.Now()
	select {
	case s.bindSlots <- struct{}{}:
		waited = s.clock.Since(waitStart)
	case <-ctx.Done():
		s.fwk.RunReservePluginsUnreserve(ctx, state, &assumed, host)
		s.forget(&assumed)
		s.queue.Done(pod.UID)
		return
	}
	s.bindings.Add(1)
	go func() {
		defer s.bindings.Done()
		defer func() { <-s.bindSlots }()
		s.bindingCycle(ctx, state, qp, &assumed, host)
	}()
}

// statusError turns a rejection status into a FitError-like error that
// keeps the rejecting plugin, so the pod waits for a relevant event.
func statusError(st *framework.Status) error {
	if st.IsRejected() {
		return &rejection{st}
	}
	return st.AsError()
}

// rejection is a Reserve/Permit/PreBind/Bind rejection.
type rejection struct{ st *framework.Status }

func (r *rejection) Error() string { return r.st.Message() }

// schedulePod picks a node for pod or returns why none fits.
func (s *Scheduler) schedulePod(ctx context.Context, state *framework.CycleState, pod *v1.Pod) (string, error) {
	nodes := s.snapshot.List()
	if len(nodes) == 0 {
		return "", ErrNoNodesAvailable
	}
	feasible, diagnosis, err := s.findNodesThatFit(ctx, state, pod, nodes)
	if err != nil {
		return "", err
	}
	if len(feasible) == 0 {
		return "", &framework.FitError{Pod: pod, NumAllNodes: len(nodes), Diagnosis: diagnosis}
	}
	if len(feasible) == 1 {
		return feasible[0].Node().Name, nil
	}
	if st := s.fwk.RunPreScorePlugins(ctx, state, pod, feasible); !st.IsSuccess() {
		return "", st.AsError()
	}
	scores, st := s.fwk.RunScorePlugins(ctx, state, pod, feasible)
	if !st.IsSuccess() {
		return "", st.AsError()
	}
	return s.selectHost(scores), nil
}

// selectHost returns a node with the highest score, choosing uniformly
// among ties (reservoir sampling with the seeded generator).
func (s *Scheduler) selectHost(scores []framework.NodeScore) string {
	best, ties := 0, 1
	for i := 1; i < len(scores); i++ {
		switch {
		case scores[i].Score > scores[best].Score:
			best, ties = i, 1
		case scores[i].Score == scores[best].Score:
			ties++
			if s.rand.IntN(ties) == 0 {
				best = i
			}
		}
	}
	return scores[best].Name
}

// findNodesThatFit runs PreFilter and Filter.
func (s *Scheduler) findNodesThatFit(ctx context.Context, state *framework.CycleState, pod *v1.Pod, nodes []*framework.NodeInfo) ([]*framework.NodeInfo, framework.Diagnosis, error) {
	diagnosis := framework.Diagnosis{NodeToStatus: framework.NodeToStatus{}, UnschedulablePlugins: sets.New[string]()}
	pre, st, plugins := s.fwk.RunPreFilterPlugins(ctx, state, pod, nodes)
	if !st.IsSuccess() {
		if !st.IsRejected() {
			return nil, diagnosis, st.AsError()
		}
		for _, n := range nodes {
			diagnosis.NodeToStatus[n.Node().Name] = st
		}
		diagnosis.PreFilterMsg = st.Message()
		diagnosis.UnschedulablePlugins.Insert(plugins.UnsortedList()...)
		return nil, diagnosis, nil
	}
	// A pod nominated by an earlier preemption tries its node first.
	if nn := pod.Status.NominatedNodeName; nn != "" {
		if ni, err := s.snapshot.Get(nn); err == nil && (pre.AllNodes() || hasKey(pre.NodeNames, nn)) {
			if s.fwk.RunFilterPluginsWithNominatedPods(ctx, state, pod, ni).IsSuccess() {
				return []*framework.NodeInfo{ni}, diagnosis, nil
			}
		}
	}
	candidates := nodes
	if !pre.AllNodes() {
		candidates = make([]*framework.NodeInfo, 0, len(pre.NodeNames))
		for _, n := range nodes {
			if hasKey(pre.NodeNames, n.Node().Name) {
				candidates = append(candidates, n)
				continue
			}
			diagnosis.NodeToStatus[n.Node().Name] = framework.NewStatus(framework.UnschedulableAndUnresolvable,
				fmt.Sprintf("node(s) didn't satisfy plugin(s) %v", sets.List(plugins)))
		}
		diagnosis.UnschedulablePlugins.Insert(plugins.UnsortedList()...)
	}
	feasible, err := s.filter(ctx, state, pod, candidates, &diagnosis)
	return feasible, diagnosis, err
}

func hasKey(m map[string]struct{}, k string) bool {
	_, ok := m[k]
	return ok
}

// filter runs the Filter plugins over nodes in parallel, starting at
// nextStartNodeIndex, until numFeasibleNodesToFind nodes passed.
func (s *Scheduler) filter(ctx context.Context, state *framework.CycleState, pod *v1.Pod, nodes []*framework.NodeInfo, diagnosis *framework.Diagnosis) ([]*framework.NodeInfo, error) {
	n := len(nodes)
	if n == 0 {
		return nil, nil
	}
	want := s.numFeasibleNodesToFind(n)
	if !s.fwk.HasScorePlugins() {
		want = min(want, 1)
	}
	feasible := make([]*framework.NodeInfo, want)
	statuses := make([]*framework.Status, n)
	var found, processed atomic.Int32
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := s.nextStartNodeIndex % n
	s.fwk.Parallelizer().Until(fctx, n, func(i int) {
		ni := nodes[(start+i)%n]
		st := s.fwk.RunFilterPluginsWithNominatedPods(fctx, state, pod, ni)
		processed.Add(1)
		if st.IsSuccess() {
			if k := found.Add(1); k <= int32(want) {
				feasible[k-1] = ni
				if k == int32(want) {
					cancel()
				}
			} else {
				found.Add(-1)
			}
			return
		}
		statuses[(start+i)%n] = st
	})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.nextStartNodeIndex = (start + int(processed.Load())) % n
	for i, st := range statuses {
		if st == nil {
			continue
		}
		if !st.IsRejected() {
			return nil, st.AsError()
		}
		diagnosis.NodeToStatus[nodes[i].Node().Name] = st
		diagnosis.UnschedulablePlugins.Insert(st.Plugin())
	}
	return feasible[:min(int(found.Load()), want)], nil
}

// bindingCycle binds an assumed pod: WaitOnPermit, PreBind, Bind,
// PostBind. Runs on its own goroutine.
func (s *Scheduler) bindingCycle(ctx context.Context, state *framework.CycleState, qp *framework.QueuedPodInfo, assumed *v1.Pod, host string) {
	fail := func(err error) {
		s.fwk.RunReservePluginsUnreserve(ctx, state, assumed, host)
		s.forget(assumed)
		// The room the pod held is free again.
		s.queue.MoveAllToActiveOrBackoffQueue(framework.EventAssignedPodDelete, assumed, nil, nil)
		s.fail(ctx, qp, err, "")
	}
	if st := s.fwk.WaitOnPermit(ctx, assumed); !st.IsSuccess() {
		fail(statusError(st))
		return
	}
	if s.deadlinePassed(assumed) {
		s.fwk.RunReservePluginsUnreserve(ctx, state, assumed, host)
		s.forget(assumed)
		s.giveUpDeadline(qp)
		s.queue.Done(assumed.UID)
		return
	}
	if st := s.fwk.RunPreBindPlugins(ctx, state, assumed, host); !st.IsSuccess() {
		fail(statusError(st))
		return
	}
	if st := s.fwk.RunBindPlugins(ctx, state, assumed, host); !st.IsSuccess() {
		fail(statusError(st))
		return
	}
	s.cache.FinishBinding(assumed)
	s.stats.scheduled.Add(1)
	s.recorder.Eventf(assumed, v1.EventTypeNormal, "Scheduled", "Successfully assigned %s/%s to %s", assumed.Namespace, assumed.Name, host)
	s.fwk.RunPostBindPlugins(ctx, state, assumed, host)
	s.queue.Done(assumed.UID)
}

func (s *Scheduler) forget(assumed *v1.Pod) {
	if err := s.cache.ForgetPod(assumed); err != nil {
		s.log.Error("forgetting assumed pod", "pod", framework.PodKey(assumed), "err", err)
	}
}

// fail requeues a pod whose attempt failed, and reports why: a
// FailedScheduling event and the PodScheduled=False condition (and the
// nominated node, if preemption chose one).
func (s *Scheduler) fail(ctx context.Context, qp *framework.QueuedPodInfo, err error, nominated string) {
	pod := qp.Pod
	defer s.queue.Done(pod.UID)
	reason := v1.PodReasonUnschedulable
	isError := false
	var fe *framework.FitError
	var rej *rejection
	switch {
	case errors.As(err, &fe):
		qp.UnschedulablePlugins = fe.Diagnosis.UnschedulablePlugins
		s.stats.unschedulable.Add(1)
	case errors.As(err, &rej):
		qp.UnschedulablePlugins = sets.New(rej.st.Plugin())
		s.stats.unschedulable.Add(1)
	case errors.Is(err, ErrNoNodesAvailable):
		qp.UnschedulablePlugins = nil
		s.stats.unschedulable.Add(1)
	default:
		if ctx.Err() != nil {
			// Shutting down or lost the lease: the next leader retries.
			return
		}
		isError = true
		reason = v1.PodReasonSchedulerError
		s.stats.errors.Add(1)
		s.log.Info("scheduling attempt failed", "pod", framework.PodKey(pod), "err", err)
	}
	// Requeue the freshest copy, unless the pod is gone or was bound.
	cur, gerr := s.pods.Pods(pod.Namespace).Get(pod.Name)
	if gerr != nil || cur.UID != pod.UID || cur.Spec.NodeName != "" {
		return
	}
	if cur.ResourceVersion != pod.ResourceVersion {
		qp.PodInfo = framework.NewPodInfo(cur)
	}
	s.queue.AddUnschedulableIfNotPresent(qp, isError)
	var nom *string
	if nominated != "" {
		s.queue.Nominator().AddNominatedPod(qp.PodInfo, nominated)
		nom = &nominated
	}
	msg := err.Error()
	s.recorder.Eventf(cur, v1.EventTypeWarning, "FailedScheduling", "%s", msg)
	s.statuses.set(cur, unschedulableCondition(reason, msg), nom)
}

// deadlinePassed reports whether pod's activeDeadlineSeconds, counted
// from its creation (it has not started), has passed.
func (s *Scheduler) deadlinePassed(pod *v1.Pod) bool {
	ads := pod.Spec.ActiveDeadlineSeconds
	if ads == nil {
		return false
	}
	deadline := pod.CreationTimestamp.Add(time.Duration(*ads) * time.Second)
	return !s.clock.Now().Before(deadline)
}

// giveUpDeadline stops scheduling a pod whose activeDeadlineSeconds
// passed: it is not requeued, and its condition and a warning event say
// why. (Failing the pod is the job of whoever watches deadlines.)
func (s *Scheduler) giveUpDeadline(qp *framework.QueuedPodInfo) {
	pod := qp.Pod
	msg := fmt.Sprintf("pod's activeDeadlineSeconds (%ds) passed before it could be scheduled", *pod.Spec.ActiveDeadlineSeconds)
	s.recorder.Eventf(pod, v1.EventTypeWarning, "FailedScheduling", "%s", msg)
	s.statuses.set(pod, unschedulableCondition(ReasonDeadlineExceeded, msg), nil)
}
