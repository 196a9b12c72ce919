package framework

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"
)

// PluginFactory builds a plugin from its arguments (the plugin's own args
// type, or nil for defaults) and the framework's Handle.
type PluginFactory func(ctx context.Context, args any, h Handle) (Plugin, error)

// Registry maps plugin names to factories. plugins.NewRegistry returns the
// in-tree one.
type Registry map[string]PluginFactory

// PluginConfig enables one plugin in a profile.
type PluginConfig struct {
	Name string
	// Weight multiplies the plugin's normalized score; 0 means 1. Ignored
	// for plugins that do not score.
	Weight int64
	// Args are passed to the plugin's factory.
	Args any
}

// Profile is the set of plugins the scheduler runs. A plugin is enabled at
// every extension point it implements; plugins run in the order listed
// (that is the filter order: cheap, decisive filters first).
type Profile struct {
	Plugins []PluginConfig
}

// Options are the framework's collaborators.
type Options struct {
	Client          kubernetes.Interface
	InformerFactory informers.SharedInformerFactory
	// Snapshot is the scheduler's snapshot, updated in place every cycle.
	Snapshot      SharedLister
	EventRecorder EventRecorder
	Nominator     PodNominator
	Parallelizer  Parallelizer
	Logger        *slog.Logger
	Clock         clock.PassiveClock
	// Rand is the seeded generator shared with the scheduling goroutine.
	Rand *rand.Rand
}

type scorePlugin struct {
	ScorePlugin
	weight int64
}

// Framework runs a profile's plugins at each extension point. It is also
// the Handle plugins receive.
type Framework struct {
	opts Options

	queueSort  QueueSortPlugin
	preFilter  []PreFilterPlugin
	filter     []FilterPlugin
	postFilter []PostFilterPlugin
	preScore   []PreScorePlugin
	score      []scorePlugin
	reserve    []ReservePlugin
	permit     []PermitPlugin
	preBind    []PreBindPlugin
	bind       []BindPlugin
	postBind   []PostBindPlugin
	// events maps each plugin name to the cluster events it registered.
	events map[string][]ClusterEventWithHint

	waiting *waitingPods
	// scoreBuffers recycles RunScorePlugins' per-plugin score slices.
	scoreBuffers sync.Pool
}

var _ Handle = (*Framework)(nil)

// NewFramework instantiates profile's plugins from registry.
func NewFramework(ctx context.Context, registry Registry, profile Profile, opts Options) (*Framework, error) {
	if opts.Logger == nil {
		return nil, errors.New("framework: Options.Logger is required")
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Rand == nil {
		return nil, errors.New("framework: Options.Rand is required")
	}
	f := &Framework{opts: opts, events: map[string][]ClusterEventWithHint{}, waiting: newWaitingPods()}
	f.scoreBuffers.New = func() any { return new([]NodeScore) }
	seen := map[string]bool{}
	for _, pc := range profile.Plugins {
		if seen[pc.Name] {
			return nil, fmt.Errorf("plugin %q enabled twice", pc.Name)
		}
		seen[pc.Name] = true
		factory, ok := registry[pc.Name]
		if !ok {
			return nil, fmt.Errorf("plugin %q is not registered", pc.Name)
		}
		p, err := factory(ctx, pc.Args, f)
		if err != nil {
			return nil, fmt.Errorf("initializing plugin %q: %w", pc.Name, err)
		}
		if p.Name() != pc.Name {
			return nil, fmt.Errorf("plugin registered as %q calls itself %q", pc.Name, p.Name())
		}
		if err := f.add(ctx, p, pc); err != nil {
			return nil, err
		}
	}
	if f.queueSort == nil {
		return nil, errors.New("profile has no queue sort plugin")
	}
	if len(f.bind) == 0 {
		return nil, errors.New("profile has no bind plugin")
	}
	return f, nil
}

func (f *Framework) add(ctx context.Context, p Plugin, pc PluginConfig) error {
	if q, ok := p.(QueueSortPlugin); ok {
		if f.queueSort != nil {
			return fmt.Errorf("two queue sort plugins: %q and %q", f.queueSort.Name(), p.Name())
		}
		f.queueSort = q
	}
	if x, ok := p.(PreFilterPlugin); ok {
		f.preFilter = append(f.preFilter, x)
	}
	if x, ok := p.(FilterPlugin); ok {
		f.filter = append(f.filter, x)
	}
	if x, ok := p.(PostFilterPlugin); ok {
		f.postFilter = append(f.postFilter, x)
	}
	if x, ok := p.(PreScorePlugin); ok {
		f.preScore = append(f.preScore, x)
	}
	if x, ok := p.(ScorePlugin); ok {
		w := pc.Weight
		if w == 0 {
			w = 1
		}
		if w < 0 {
			return fmt.Errorf("plugin %q: negative score weight %d", p.Name(), w)
		}
		f.score = append(f.score, scorePlugin{x, w})
	}
	if x, ok := p.(ReservePlugin); ok {
		f.reserve = append(f.reserve, x)
	}
	if x, ok := p.(PermitPlugin); ok {
		f.permit = append(f.permit, x)
	}
	if x, ok := p.(PreBindPlugin); ok {
		f.preBind = append(f.preBind, x)
	}
	if x, ok := p.(BindPlugin); ok {
		f.bind = append(f.bind, x)
	}
	if x, ok := p.(PostBindPlugin); ok {
		f.postBind = append(f.postBind, x)
	}
	if x, ok := p.(EnqueueExtensions); ok {
		evs, err := x.EventsToRegister(ctx)
		if err != nil {
			return fmt.Errorf("plugin %q: events to register: %w", p.Name(), err)
		}
		f.events[p.Name()] = evs
	}
	return nil
}

// QueueSortLess is the enabled QueueSort plugin's Less.
func (f *Framework) QueueSortLess() func(a, b *QueuedPodInfo) bool { return f.queueSort.Less }

// EventsToRegister returns, per plugin, the cluster events that may make a
// pod it rejected schedulable.
func (f *Framework) EventsToRegister() map[string][]ClusterEventWithHint { return f.events }

// HasScorePlugins reports whether any Score plugin is enabled.
func (f *Framework) HasScorePlugins() bool { return len(f.score) > 0 }

// RunPreFilterPlugins runs every PreFilter plugin. It returns the merged
// node restriction, a status (rejections carry the plugin's name) and the
// plugins that rejected the pod or narrowed its nodes.
func (f *Framework) RunPreFilterPlugins(ctx context.Context, state *CycleState, pod *v1.Pod, nodes []*NodeInfo) (*PreFilterResult, *Status, sets.Set[string]) {
	var result *PreFilterResult
	var narrowing []string
	skip := sets.New[string]()
	for _, p := range f.preFilter {
		r, s := p.PreFilter(ctx, state, pod, nodes)
		if s.IsSkip() {
			skip.Insert(p.Name())
			continue
		}
		if !s.IsSuccess() {
			s.WithPlugin(p.Name())
			if s.IsRejected() {
				return nil, s, sets.New(p.Name())
			}
			return nil, AsStatus(fmt.Errorf("running PreFilter plugin %q: %w", p.Name(), s.AsError())).WithPlugin(p.Name()), nil
		}
		if !r.AllNodes() {
			narrowing = append(narrowing, p.Name())
		}
		result = result.Merge(r)
		if !result.AllNodes() && len(result.NodeNames) == 0 {
			msg := fmt.Sprintf("node(s) didn't satisfy plugin(s) %v simultaneously", narrowing)
			if len(narrowing) == 1 {
				msg = fmt.Sprintf("node(s) didn't satisfy plugin %s", narrowing[0])
			}
			return nil, NewStatus(UnschedulableAndUnresolvable, msg).WithPlugin(narrowing[len(narrowing)-1]), sets.New(narrowing...)
		}
	}
	state.SkipFilterPlugins = skip
	state.filters = f.activeFilters(skip)
	return result, nil, sets.New(narrowing...)
}

// activeFilters returns the Filter plugins not in skip.
func (f *Framework) activeFilters(skip sets.Set[string]) []FilterPlugin {
	if len(skip) == 0 {
		return f.filter
	}
	out := make([]FilterPlugin, 0, len(f.filter))
	for _, p := range f.filter {
		if !skip.Has(p.Name()) {
			out = append(out, p)
		}
	}
	return out
}

// RunPreFilterExtensionAddPod implements PluginsRunner.
func (f *Framework) RunPreFilterExtensionAddPod(ctx context.Context, state *CycleState, podToSchedule *v1.Pod, podToAdd *PodInfo, nodeInfo *NodeInfo) *Status {
	for _, p := range f.preFilter {
		if state.SkipFilterPlugins.Has(p.Name()) {
			continue
		}
		ext := p.PreFilterExtensions()
		if ext == nil {
			continue
		}
		if s := ext.AddPod(ctx, state, podToSchedule, podToAdd, nodeInfo); !s.IsSuccess() {
			return AsStatus(fmt.Errorf("running AddPod on PreFilter plugin %q: %w", p.Name(), s.AsError()))
		}
	}
	return nil
}

// RunPreFilterExtensionRemovePod implements PluginsRunner.
func (f *Framework) RunPreFilterExtensionRemovePod(ctx context.Context, state *CycleState, podToSchedule *v1.Pod, podToRemove *PodInfo, nodeInfo *NodeInfo) *Status {
	for _, p := range f.preFilter {
		if state.SkipFilterPlugins.Has(p.Name()) {
			continue
		}
		ext := p.PreFilterExtensions()
		if ext == nil {
			continue
		}
		if s := ext.RemovePod(ctx, state, podToSchedule, podToRemove, nodeInfo); !s.IsSuccess() {
			return AsStatus(fmt.Errorf("running RemovePod on PreFilter plugin %q: %w", p.Name(), s.AsError()))
		}
	}
	return nil
}

// RunFilterPlugins runs the Filter plugins in order on one node and
// returns the first non-success status, tagged with its plugin.
func (f *Framework) RunFilterPlugins(ctx context.Context, state *CycleState, pod *v1.Pod, nodeInfo *NodeInfo) *Status {
	filters := state.filters
	if filters == nil {
		filters = f.activeFilters(state.SkipFilterPlugins)
	}
	for _, p := range filters {
		s := p.Filter(ctx, state, pod, nodeInfo)
		if s.IsSuccess() {
			continue
		}
		if !s.IsRejected() {
			return AsStatus(fmt.Errorf("running %q filter plugin: %w", p.Name(), s.AsError())).WithPlugin(p.Name())
		}
		return s.WithPlugin(p.Name())
	}
	return nil
}

// RunFilterPluginsWithNominatedPods implements PluginsRunner. When pods
// of at least pod's priority are nominated to the node, the filters run
// twice: with them added (pod must not take their room) and without them
// (pod must not depend on them, e.g. for affinity, since they may never
// arrive). Both must pass.
func (f *Framework) RunFilterPluginsWithNominatedPods(ctx context.Context, state *CycleState, pod *v1.Pod, nodeInfo *NodeInfo) *Status {
	added, stateWith, infoWith, err := f.addNominatedPods(ctx, pod, state, nodeInfo)
	if err != nil {
		return AsStatus(err)
	}
	if !added {
		return f.RunFilterPlugins(ctx, state, pod, nodeInfo)
	}
	if s := f.RunFilterPlugins(ctx, stateWith, pod, infoWith); !s.IsSuccess() {
		return s
	}
	return f.RunFilterPlugins(ctx, state, pod, nodeInfo)
}

func (f *Framework) addNominatedPods(ctx context.Context, pod *v1.Pod, state *CycleState, nodeInfo *NodeInfo) (bool, *CycleState, *NodeInfo, error) {
	if f.opts.Nominator == nil || nodeInfo.Node() == nil {
		return false, state, nodeInfo, nil
	}
	nominated := f.opts.Nominator.NominatedPodsForNode(nodeInfo.Node().Name)
	if len(nominated) == 0 {
		return false, state, nodeInfo, nil
	}
	var stateOut *CycleState
	var infoOut *NodeInfo
	prio := PodPriority(pod)
	for _, pi := range nominated {
		if PodPriority(pi.Pod) < prio || pi.Pod.UID == pod.UID {
			continue
		}
		if infoOut == nil {
			stateOut, infoOut = state.Clone(), nodeInfo.Clone()
		}
		infoOut.AddPodInfo(pi)
		if s := f.RunPreFilterExtensionAddPod(ctx, stateOut, pod, pi, infoOut); !s.IsSuccess() {
			return false, state, nodeInfo, s.AsError()
		}
	}
	if infoOut == nil {
		return false, state, nodeInfo, nil
	}
	return true, stateOut, infoOut, nil
}

// RunPostFilterPlugins runs the PostFilter plugins until one succeeds.
// On failure the returned status joins the plugins' messages.
func (f *Framework) RunPostFilterPlugins(ctx context.Context, state *CycleState, pod *v1.Pod, statuses NodeToStatus) (*PostFilterResult, *Status) {
	var reasons []string
	var result *PostFilterResult
	for _, p := range f.postFilter {
		r, s := p.PostFilter(ctx, state, pod, statuses)
		if s.IsSuccess() {
			return r, s
		}
		if !s.IsRejected() {
			return nil, AsStatus(fmt.Errorf("running PostFilter plugin %q: %w", p.Name(), s.AsError())).WithPlugin(p.Name())
		}
		if r != nil {
			result = r
		}
		reasons = append(reasons, s.Reasons()...)
	}
	return result, NewStatus(Unschedulable, reasons...)
}

// HasPostFilterPlugins reports whether any PostFilter plugin is enabled.
func (f *Framework) HasPostFilterPlugins() bool { return len(f.postFilter) > 0 }

// RunPreScorePlugins runs every PreScore plugin; Skips are recorded in
// state.SkipScorePlugins.
func (f *Framework) RunPreScorePlugins(ctx context.Context, state *CycleState, pod *v1.Pod, nodes []*NodeInfo) *Status {
	skip := sets.New[string]()
	for _, p := range f.preScore {
		s := p.PreScore(ctx, state, pod, nodes)
		if s.IsSkip() {
			skip.Insert(p.Name())
			continue
		}
		if !s.IsSuccess() {
			return AsStatus(fmt.Errorf("running PreScore plugin %q: %w", p.Name(), s.AsError())).WithPlugin(p.Name())
		}
	}
	state.SkipScorePlugins = skip
	return nil
}

// RunScorePlugins scores nodes with every Score plugin (in parallel over
// nodes), normalizes each plugin's scores, applies the weights and returns
// every node's total, in the order of nodes.
func (f *Framework) RunScorePlugins(ctx context.Context, state *CycleState, pod *v1.Pod, nodes []*NodeInfo) ([]NodeScore, *Status) {
	var active []scorePlugin
	for _, p := range f.score {
		if !state.SkipScorePlugins.Has(p.Name()) {
			active = append(active, p)
		}
	}
	totals := make([]NodeScore, len(nodes))
	for i, n := range nodes {
		totals[i].Name = n.Node().Name
	}
	if len(active) == 0 {
		return totals, nil
	}
	buf := f.scoreBuffers.Get().(*[]NodeScore)
	defer f.scoreBuffers.Put(buf)
	if cap(*buf) < len(active)*len(nodes) {
		*buf = make([]NodeScore, len(active)*len(nodes))
	}
	flat := (*buf)[:len(active)*len(nodes)]
	scores := make([][]NodeScore, len(active))
	for i := range scores {
		scores[i] = flat[i*len(nodes) : (i+1)*len(nodes) : (i+1)*len(nodes)]
	}
	errs := make(chan *Status, 1)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	f.opts.Parallelizer.Until(ctx, len(nodes), func(n int) {
		ni := nodes[n]
		for i, p := range active {
			s, st := p.Score(ctx, state, pod, ni)
			if !st.IsSuccess() {
				select {
				case errs <- AsStatus(fmt.Errorf("running Score plugin %q: %w", p.Name(), st.AsError())).WithPlugin(p.Name()):
				default:
				}
				cancel()
				return
			}
			scores[i][n] = NodeScore{Name: ni.Node().Name, Score: s}
		}
	})
	select {
	case s := <-errs:
		return nil, s
	default:
	}
	for i, p := range active {
		if ext := p.ScoreExtensions(); ext != nil {
			if st := ext.NormalizeScore(ctx, state, pod, scores[i]); !st.IsSuccess() {
				return nil, AsStatus(fmt.Errorf("running NormalizeScore of plugin %q: %w", p.Name(), st.AsError())).WithPlugin(p.Name())
			}
		}
		for n := range nodes {
			s := scores[i][n].Score
			if s > MaxNodeScore || s < MinNodeScore {
				return nil, AsStatus(fmt.Errorf("plugin %q returned score %d for node %s, outside [%d, %d]",
					p.Name(), s, totals[n].Name, MinNodeScore, MaxNodeScore)).WithPlugin(p.Name())
			}
			totals[n].Score += s * p.weight
		}
	}
	return totals, nil
}

// RunReservePluginsReserve runs Reserve in order; on failure the caller
// runs RunReservePluginsUnreserve.
func (f *Framework) RunReservePluginsReserve(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string) *Status {
	for _, p := range f.reserve {
		if s := p.Reserve(ctx, state, pod, nodeName); !s.IsSuccess() {
			if s.IsRejected() {
				return s.WithPlugin(p.Name())
			}
			return AsStatus(fmt.Errorf("running Reserve plugin %q: %w", p.Name(), s.AsError())).WithPlugin(p.Name())
		}
	}
	return nil
}

// RunReservePluginsUnreserve runs Unreserve in reverse order.
func (f *Framework) RunReservePluginsUnreserve(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string) {
	for i := len(f.reserve) - 1; i >= 0; i-- {
		f.reserve[i].Unreserve(ctx, state, pod, nodeName)
	}
}

// RunPermitPlugins runs Permit. If a plugin asks to wait, the pod is
// parked (see WaitOnPermit) and Wait is returned.
func (f *Framework) RunPermitPlugins(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string) *Status {
	waits := map[string]time.Duration{}
	for _, p := range f.permit {
		s, timeout := p.Permit(ctx, state, pod, nodeName)
		switch {
		case s.IsSuccess():
		case s.IsWait():
			waits[p.Name()] = min(max(timeout, 0), maxPermitTimeout)
		case s.IsRejected():
			return s.WithPlugin(p.Name())
		default:
			return AsStatus(fmt.Errorf("running Permit plugin %q: %w", p.Name(), s.AsError())).WithPlugin(p.Name())
		}
	}
	if len(waits) > 0 {
		f.waiting.add(newWaitingPod(pod, waits))
		return NewStatus(Wait)
	}
	return nil
}

// maxPermitTimeout caps how long a Permit plugin may park a pod.
const maxPermitTimeout = 15 * time.Minute

// WaitOnPermit blocks until the pod parked by RunPermitPlugins is allowed
// (nil), rejected or timed out (Unschedulable), or ctx ends (Error). It
// returns nil at once for a pod that is not parked.
func (f *Framework) WaitOnPermit(ctx context.Context, pod *v1.Pod) *Status {
	wp := f.waiting.get(pod.UID)
	if wp == nil {
		return nil
	}
	defer f.waiting.remove(pod.UID)
	select {
	case s := <-wp.done:
		return s
	case <-ctx.Done():
		wp.stop()
		return AsStatus(fmt.Errorf("waiting on permit: %w", ctx.Err()))
	}
}

// RunPreBindPlugins runs PreBind in order.
func (f *Framework) RunPreBindPlugins(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string) *Status {
	for _, p := range f.preBind {
		if s := p.PreBind(ctx, state, pod, nodeName); !s.IsSuccess() {
			if s.IsRejected() {
				return s.WithPlugin(p.Name())
			}
			return AsStatus(fmt.Errorf("running PreBind plugin %q: %w", p.Name(), s.AsError())).WithPlugin(p.Name())
		}
	}
	return nil
}

// RunBindPlugins runs binders until one does not Skip.
func (f *Framework) RunBindPlugins(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string) *Status {
	for _, p := range f.bind {
		s := p.Bind(ctx, state, pod, nodeName)
		if s.IsSkip() {
			continue
		}
		if !s.IsSuccess() {
			if s.IsRejected() {
				return s.WithPlugin(p.Name())
			}
			return AsStatus(fmt.Errorf("running Bind plugin %q: %w", p.Name(), s.AsError())).WithPlugin(p.Name())
		}
		return nil
	}
	return NewStatus(Error, "every bind plugin skipped the pod")
}

// RunPostBindPlugins runs PostBind.
func (f *Framework) RunPostBindPlugins(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string) {
	for _, p := range f.postBind {
		p.PostBind(ctx, state, pod, nodeName)
	}
}

// Handle implementation.

// SnapshotSharedLister implements Handle.
func (f *Framework) SnapshotSharedLister() SharedLister { return f.opts.Snapshot }

// ClientSet implements Handle.
func (f *Framework) ClientSet() kubernetes.Interface { return f.opts.Client }

// SharedInformerFactory implements Handle.
func (f *Framework) SharedInformerFactory() informers.SharedInformerFactory {
	return f.opts.InformerFactory
}

// EventRecorder implements Handle.
func (f *Framework) EventRecorder() EventRecorder { return f.opts.EventRecorder }

// Parallelizer implements Handle.
func (f *Framework) Parallelizer() Parallelizer { return f.opts.Parallelizer }

// Logger implements Handle.
func (f *Framework) Logger() *slog.Logger { return f.opts.Logger }

// Now implements Handle.
func (f *Framework) Now() time.Time { return f.opts.Clock.Now() }

// RandIntn implements Handle.
func (f *Framework) RandIntn(n int) int { return f.opts.Rand.IntN(n) }

// AddNominatedPod implements PodNominator.
func (f *Framework) AddNominatedPod(pi *PodInfo, nodeName string) {
	if f.opts.Nominator != nil {
		f.opts.Nominator.AddNominatedPod(pi, nodeName)
	}
}

// DeleteNominatedPodIfExists implements PodNominator.
func (f *Framework) DeleteNominatedPodIfExists(pod *v1.Pod) {
	if f.opts.Nominator != nil {
		f.opts.Nominator.DeleteNominatedPodIfExists(pod)
	}
}

// NominatedPodsForNode implements PodNominator.
func (f *Framework) NominatedPodsForNode(nodeName string) []*PodInfo {
	if f.opts.Nominator == nil {
		return nil
	}
	return f.opts.Nominator.NominatedPodsForNode(nodeName)
}

// GetWaitingPod implements Handle.
func (f *Framework) GetWaitingPod(uid types.UID) WaitingPod {
	if wp := f.waiting.get(uid); wp != nil {
		return wp
	}
	return nil
}

// IterateOverWaitingPods implements Handle.
func (f *Framework) IterateOverWaitingPods(fn func(WaitingPod)) { f.waiting.iterate(fn) }

// PluginNames returns the enabled plugins' names per extension point, for
// logs and tests.
func (f *Framework) PluginNames() map[string][]string {
	names := func(n int, get func(i int) Plugin) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = get(i).Name()
		}
		return slices.Clip(out)
	}
	return map[string][]string{
		"QueueSort":  {f.queueSort.Name()},
		"PreFilter":  names(len(f.preFilter), func(i int) Plugin { return f.preFilter[i] }),
		"Filter":     names(len(f.filter), func(i int) Plugin { return f.filter[i] }),
		"PostFilter": names(len(f.postFilter), func(i int) Plugin { return f.postFilter[i] }),
		"PreScore":   names(len(f.preScore), func(i int) Plugin { return f.preScore[i] }),
		"Score":      names(len(f.score), func(i int) Plugin { return f.score[i] }),
		"Reserve":    names(len(f.reserve), func(i int) Plugin { return f.reserve[i] }),
		"Permit":     names(len(f.permit), func(i int) Plugin { return f.permit[i] }),
		"PreBind":    names(len(f.preBind), func(i int) Plugin { return f.preBind[i] }),
		"Bind":       names(len(f.bind), func(i int) Plugin { return f.bind[i] }),
		"PostBind":   names(len(f.postBind), func(i int) Plugin { return f.postBind[i] }),
	}
}
