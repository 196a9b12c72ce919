// Package plugintest runs one scheduler plugin outside the scheduler, over
// a snapshot and a fake clientset, for the plugins' unit tests. Only tests
// import it.
package plugintest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/podvisor/podvisor/internal/scheduler/cache"
	"github.com/podvisor/podvisor/internal/scheduler/framework"
	"github.com/podvisor/podvisor/internal/scheduler/queue"
)

// Env runs one plugin outside the scheduler: over a snapshot of pods and
// nodes, with a fake clientset holding objs behind started informers.
type Env struct {
	Framework *framework.Framework
	Snapshot  *cache.Snapshot
	Client    *fake.Clientset
	Factory   informers.SharedInformerFactory
	Plugin    framework.Plugin
	// Events are the events the plugins recorded.
	Events Recorder
}

type stubSort struct{}

func (stubSort) Name() string                            { return "StubSort" }
func (stubSort) Less(a, b *framework.QueuedPodInfo) bool { return a.Timestamp.Before(b.Timestamp) }

type stubBind struct{}

func (stubBind) Name() string { return "StubBind" }
func (stubBind) Bind(context.Context, *framework.CycleState, *v1.Pod, string) *framework.Status {
	return nil
}

// Logger returns a logger that discards everything.
func Logger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// NewEnv builds the plugin name with factory and args.
func NewEnv(t testing.TB, name string, factory framework.PluginFactory, args any, pods []*v1.Pod, nodes []*v1.Node, objs ...runtime.Object) *Env {
	t.Helper()
	return NewEnvWith(t, framework.Registry{name: factory}, []framework.PluginConfig{{Name: name, Args: args}}, name, pods, nodes, objs...)
}

// NewEnvWith builds every plugin of profile from reg (stub queue sort and
// binder are added) and makes the one named main the Env's Plugin; the
// others run through the framework (e.g. the filters preemption calls).
func NewEnvWith(t testing.TB, reg framework.Registry, profile []framework.PluginConfig, main string, pods []*v1.Pod, nodes []*v1.Node, objs ...runtime.Object) *Env {
	t.Helper()
	e := &Env{Snapshot: cache.NewSnapshot(pods, nodes), Client: fake.NewClientset(objs...)}
	e.Factory = informers.NewSharedInformerFactory(e.Client, 0)
	full := framework.Registry{
		"StubSort": func(context.Context, any, framework.Handle) (framework.Plugin, error) { return stubSort{}, nil },
		"StubBind": func(context.Context, any, framework.Handle) (framework.Plugin, error) { return stubBind{}, nil },
	}
	for n, f := range reg {
		if n != main {
			full[n] = f
			continue
		}
		f := f
		full[n] = func(ctx context.Context, a any, h framework.Handle) (framework.Plugin, error) {
			p, err := f(ctx, a, h)
			e.Plugin = p
			return p, err
		}
	}
	prof := framework.Profile{Plugins: append(append([]framework.PluginConfig{{Name: "StubSort"}}, profile...), framework.PluginConfig{Name: "StubBind"})}
	f, err := framework.NewFramework(context.Background(), full, prof, framework.Options{
		Client: e.Client, InformerFactory: e.Factory, Snapshot: e.Snapshot, Parallelizer: framework.NewParallelizer(2),
		Logger: Logger(), Rand: rand.New(rand.NewPCG(1, 2)), EventRecorder: &e.Events, Nominator: queue.NewNominator(),
	})
	if err != nil {
		t.Fatalf("building plugin %s: %v", main, err)
	}
	e.Framework = f
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		e.Factory.Shutdown()
	})
	e.Factory.Start(ctx.Done())
	sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
	defer scancel()
	for typ, ok := range e.Factory.WaitForCacheSync(sctx.Done()) {
		if !ok {
			t.Fatalf("informer for %v did not sync", typ)
		}
	}
	return e
}

// Recorder records events in memory.
type Recorder struct {
	mu     sync.Mutex
	events []string
}

// Eventf implements framework.EventRecorder: it records
// "type reason object: message".
func (r *Recorder) Eventf(obj runtime.Object, eventtype, reason, messageFmt string, args ...any) {
	name := ""
	if m, err := meta.Accessor(obj); err == nil {
		name = m.GetNamespace() + "/" + m.GetName()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf("%s %s %s: %s", eventtype, reason, name, fmt.Sprintf(messageFmt, args...)))
}

// List returns the recorded events.
func (r *Recorder) List() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...)
}

// Filter runs the plugin's PreFilter (if any) and Filter on every node and
// returns each node's status (nil for success). A PreFilter rejection is
// reported for every node; a PreFilter Skip gives success everywhere; a
// node outside a PreFilter result gets the status "filtered out".
func (e *Env) Filter(t testing.TB, pod *v1.Pod) (map[string]*framework.Status, *framework.CycleState) {
	t.Helper()
	ctx := context.Background()
	state := framework.NewCycleState()
	out := map[string]*framework.Status{}
	nodes := e.Snapshot.List()
	var allowed map[string]struct{}
	if pf, ok := e.Plugin.(framework.PreFilterPlugin); ok {
		r, st := pf.PreFilter(ctx, state, pod, nodes)
		switch {
		case st.IsSkip():
			for _, n := range nodes {
				out[n.Node().Name] = nil
			}
			return out, state
		case !st.IsSuccess():
			for _, n := range nodes {
				out[n.Node().Name] = st
			}
			return out, state
		}
		if !r.AllNodes() {
			allowed = r.NodeNames
		}
	}
	f, ok := e.Plugin.(framework.FilterPlugin)
	for _, n := range nodes {
		if allowed != nil {
			if _, in := allowed[n.Node().Name]; !in {
				out[n.Node().Name] = framework.NewStatus(framework.UnschedulableAndUnresolvable, "filtered out")
				continue
			}
		}
		if ok {
			out[n.Node().Name] = f.Filter(ctx, state, pod, n)
		} else {
			out[n.Node().Name] = nil
		}
	}
	return out, state
}

// Score runs the plugin's PreScore (if any), Score and NormalizeScore on
// every node and returns the normalized scores; nil if PreScore skipped.
func (e *Env) Score(t testing.TB, pod *v1.Pod) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	state := framework.NewCycleState()
	nodes := e.Snapshot.List()
	if ps, ok := e.Plugin.(framework.PreScorePlugin); ok {
		st := ps.PreScore(ctx, state, pod, nodes)
		if st.IsSkip() {
			return nil
		}
		if !st.IsSuccess() {
			t.Fatalf("PreScore: %v", st)
		}
	}
	sp := e.Plugin.(framework.ScorePlugin)
	scores := make([]framework.NodeScore, len(nodes))
	for i, n := range nodes {
		s, st := sp.Score(ctx, state, pod, n)
		if !st.IsSuccess() {
			t.Fatalf("Score on %s: %v", n.Node().Name, st)
		}
		scores[i] = framework.NodeScore{Name: n.Node().Name, Score: s}
	}
	if ext := sp.ScoreExtensions(); ext != nil {
		if st := ext.NormalizeScore(ctx, state, pod, scores); !st.IsSuccess() {
			t.Fatalf("NormalizeScore: %v", st)
		}
	}
	out := map[string]int64{}
	for _, s := range scores {
		out[s.Name] = s.Score
	}
	return out
}

// Codes turns statuses into "Code: message" strings ("" for success), for
// compact table comparisons.
func Codes(m map[string]*framework.Status) map[string]string {
	out := map[string]string{}
	for n, s := range m {
		if s.IsSuccess() {
			out[n] = ""
			continue
		}
		out[n] = s.Code().String() + ": " + s.Message()
	}
	return out
}
