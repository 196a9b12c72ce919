package framework

import (
	"context"
	"log/slog"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
)

// MaxNodeScore is the highest score a Score plugin may give a node after
// normalization; MinNodeScore the lowest.
const (
	MaxNodeScore int64 = 100
	MinNodeScore int64 = 0
)

// Plugin is the base of every plugin. A plugin implements one or more of
// the extension-point interfaces below; the framework finds them by type
// assertion.
type Plugin interface {
	// Name returns the plugin's unique name (its package's Name).
	Name() string
}

// QueueSortPlugin orders the active queue. Exactly one is enabled.
type QueueSortPlugin interface {
	Plugin
	// Less reports whether a should be scheduled before b. Called under
	// the queue's lock; must be fast and must not block.
	Less(a, b *QueuedPodInfo) bool
}

// PreFilterResult narrows the nodes a pod may go to.
type PreFilterResult struct {
	// NodeNames, if non-nil, are the only nodes worth filtering.
	NodeNames map[string]struct{}
}

// AllNodes reports whether r does not narrow anything.
func (r *PreFilterResult) AllNodes() bool { return r == nil || r.NodeNames == nil }

// Merge intersects two results.
func (r *PreFilterResult) Merge(o *PreFilterResult) *PreFilterResult {
	if r.AllNodes() {
		return o
	}
	if o.AllNodes() {
		return r
	}
	out := map[string]struct{}{}
	for n := range r.NodeNames {
		if _, ok := o.NodeNames[n]; ok {
			out[n] = struct{}{}
		}
	}
	return &PreFilterResult{NodeNames: out}
}

// PreFilterPlugin runs once per cycle before Filter: it precomputes what
// Filter needs into the CycleState, may reject the pod outright, narrow the
// candidate nodes, or return Skip to have its Filter skipped.
type PreFilterPlugin interface {
	Plugin
	// PreFilter is called with every node of the snapshot.
	PreFilter(ctx context.Context, state *CycleState, pod *v1.Pod, nodes []*NodeInfo) (*PreFilterResult, *Status)
	// PreFilterExtensions returns the AddPod/RemovePod hooks that keep the
	// precomputed state right when preemption or nominated pods change a
	// node hypothetically; nil if the state does not depend on other pods.
	PreFilterExtensions() PreFilterExtensions
}

// PreFilterExtensions update a plugin's PreFilter state when a pod is
// hypothetically added to or removed from a node.
type PreFilterExtensions interface {
	AddPod(ctx context.Context, state *CycleState, podToSchedule *v1.Pod, podToAdd *PodInfo, nodeInfo *NodeInfo) *Status
	RemovePod(ctx context.Context, state *CycleState, podToSchedule *v1.Pod, podToRemove *PodInfo, nodeInfo *NodeInfo) *Status
}

// FilterPlugin decides whether a pod may run on one node. Called
// concurrently for different nodes.
type FilterPlugin interface {
	Plugin
	Filter(ctx context.Context, state *CycleState, pod *v1.Pod, nodeInfo *NodeInfo) *Status
}

// PostFilterResult is what a PostFilter achieved.
type PostFilterResult struct {
	// NominatedNodeName is where the pod should go once the victims have
	// left; empty for none.
	NominatedNodeName string
}

// PostFilterPlugin runs when no node passed Filter (preemption). A
// Success means the pod was made schedulable (it is still retried in a
// later cycle); the status message is appended to FailedScheduling.
type PostFilterPlugin interface {
	Plugin
	PostFilter(ctx context.Context, state *CycleState, pod *v1.Pod, statuses NodeToStatus) (*PostFilterResult, *Status)
}

// PreScorePlugin runs once before Score over the feasible nodes; Skip
// skips the plugin's Score.
type PreScorePlugin interface {
	Plugin
	PreScore(ctx context.Context, state *CycleState, pod *v1.Pod, nodes []*NodeInfo) *Status
}

// NodeScore is one node's score.
type NodeScore struct {
	Name  string
	Score int64
}

// ScorePlugin ranks feasible nodes. Score is called concurrently for
// different nodes; NormalizeScore (if any) once with all scores, and must
// bring them into [MinNodeScore, MaxNodeScore].
type ScorePlugin interface {
	Plugin
	Score(ctx context.Context, state *CycleState, pod *v1.Pod, nodeInfo *NodeInfo) (int64, *Status)
	// ScoreExtensions returns the normalizer, nil if scores are already in
	// range.
	ScoreExtensions() ScoreExtensions
}

// ScoreExtensions normalizes a plugin's scores in place.
type ScoreExtensions interface {
	NormalizeScore(ctx context.Context, state *CycleState, pod *v1.Pod, scores []NodeScore) *Status
}

// ReservePlugin is told when a pod is assumed on a node (Reserve) and when
// that is undone (Unreserve, also after a later failure). Unreserve must
// be idempotent and must not fail.
type ReservePlugin interface {
	Plugin
	Reserve(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string) *Status
	Unreserve(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string)
}

// PermitPlugin may hold a reserved pod before binding: Wait with a timeout
// parks it until the plugin (through Handle.GetWaitingPod) allows or
// rejects it.
type PermitPlugin interface {
	Plugin
	Permit(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string) (*Status, time.Duration)
}

// PreBindPlugin prepares a pod's binding (volumes); runs in the binding
// cycle, off the scheduling goroutine.
type PreBindPlugin interface {
	Plugin
	PreBind(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string) *Status
}

// BindPlugin binds a pod; Skip passes to the next binder.
type BindPlugin interface {
	Plugin
	Bind(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string) *Status
}

// PostBindPlugin is told of a successful binding.
type PostBindPlugin interface {
	Plugin
	PostBind(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string)
}

// EnqueueExtensions is implemented by plugins that reject pods: it names
// the cluster events that may make a rejected pod schedulable, so the
// queue retries it on those and only those.
type EnqueueExtensions interface {
	Plugin
	EventsToRegister(ctx context.Context) ([]ClusterEventWithHint, error)
}

// SharedLister is the cycle's snapshot of the cluster.
type SharedLister interface {
	NodeInfos() NodeInfoLister
	StorageInfos() StorageInfoLister
}

// NodeInfoLister lists the snapshot's nodes.
type NodeInfoLister interface {
	// List returns all nodes, in the scheduler's zone-interleaved order.
	List() []*NodeInfo
	// HavePodsWithAffinityList returns the nodes with pods that have pod
	// (anti-)affinity terms.
	HavePodsWithAffinityList() []*NodeInfo
	// HavePodsWithRequiredAntiAffinityList returns the nodes with pods
	// that have required anti-affinity terms.
	HavePodsWithRequiredAntiAffinityList() []*NodeInfo
	// Get returns one node.
	Get(name string) (*NodeInfo, error)
}

// StorageInfoLister answers questions about volumes in use.
type StorageInfoLister interface {
	// IsPVCUsedByPods reports whether any scheduled or assumed pod uses
	// the claim "namespace/name".
	IsPVCUsedByPods(key string) bool
}

// EventRecorder records Kubernetes events.
type EventRecorder interface {
	// Eventf records an event about regarding (a typed API object) of
	// eventtype (v1.EventTypeNormal or Warning). It never blocks on the
	// API: events are written asynchronously and dropped under overload.
	Eventf(regarding runtime.Object, eventtype, reason, messageFmt string, args ...any)
}

// PodNominator tracks pods nominated to nodes by preemption, so that
// other pods do not take the room freed for them.
type PodNominator interface {
	// AddNominatedPod nominates pi to nodeName (replacing an earlier
	// nomination of the same pod).
	AddNominatedPod(pi *PodInfo, nodeName string)
	// DeleteNominatedPodIfExists drops pod's nomination.
	DeleteNominatedPodIfExists(pod *v1.Pod)
	// NominatedPodsForNode returns the pods nominated to nodeName.
	NominatedPodsForNode(nodeName string) []*PodInfo
}

// PluginsRunner lets plugins (preemption) run other plugins.
type PluginsRunner interface {
	// RunFilterPluginsWithNominatedPods runs Filter for pod on nodeInfo,
	// also accounting for pods nominated there with at least pod's
	// priority.
	RunFilterPluginsWithNominatedPods(ctx context.Context, state *CycleState, pod *v1.Pod, nodeInfo *NodeInfo) *Status
	// RunPreFilterExtensionAddPod calls every PreFilterExtensions.AddPod.
	RunPreFilterExtensionAddPod(ctx context.Context, state *CycleState, podToSchedule *v1.Pod, podToAdd *PodInfo, nodeInfo *NodeInfo) *Status
	// RunPreFilterExtensionRemovePod calls every PreFilterExtensions.RemovePod.
	RunPreFilterExtensionRemovePod(ctx context.Context, state *CycleState, podToSchedule *v1.Pod, podToRemove *PodInfo, nodeInfo *NodeInfo) *Status
}

// WaitingPod is a pod parked by a Permit plugin.
type WaitingPod interface {
	Pod() *v1.Pod
	// PendingPlugins are the plugins that have not allowed it yet.
	PendingPlugins() []string
	// Allow records pluginName's approval; the pod proceeds once every
	// waiting plugin allowed it.
	Allow(pluginName string)
	// Reject fails the pod's binding cycle with msg.
	Reject(pluginName, msg string)
}

// Handle is what a plugin gets from the framework at construction.
type Handle interface {
	PodNominator
	PluginsRunner
	// SnapshotSharedLister is the current cycle's snapshot; valid only
	// during the scheduling cycle.
	SnapshotSharedLister() SharedLister
	// ClientSet is the scheduler's API client.
	ClientSet() kubernetes.Interface
	// SharedInformerFactory is the scheduler's informer factory; plugins
	// obtain listers from it while being constructed (the scheduler starts
	// it afterwards).
	SharedInformerFactory() informers.SharedInformerFactory
	// EventRecorder records events.
	EventRecorder() EventRecorder
	// Parallelizer runs work over the scheduler's cores.
	Parallelizer() Parallelizer
	// Logger is the scheduler's logger.
	Logger() *slog.Logger
	// Now is the scheduler's clock.
	Now() time.Time
	// RandIntn returns a pseudo-random number in [0, n) from the
	// scheduler's seeded generator. Only for the scheduling goroutine
	// (PreFilter through PostFilter, Score, Reserve, Permit).
	RandIntn(n int) int
	// GetWaitingPod returns the pod parked by Permit with uid, or nil.
	GetWaitingPod(uid types.UID) WaitingPod
	// IterateOverWaitingPods calls fn for every parked pod.
	IterateOverWaitingPods(fn func(WaitingPod))
}
