package framework_test

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/podvisor/podvisor/internal/scheduler/framework"
	"github.com/podvisor/podvisor/internal/testutil/schedtest"
)

// fakePlugin implements every extension point; its behaviour is set per
// test and it records the calls it got.
type fakePlugin struct {
	name      string
	preFilter func(nodes []*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status)
	filter    func(ni *framework.NodeInfo) *framework.Status
	score     func(ni *framework.NodeInfo) int64
	normalize bool
	reserve   *framework.Status
	permit    *framework.Status
	permitFor time.Duration
	bind      *framework.Status

	mu    sync.Mutex
	calls []string
}

func (p *fakePlugin) record(c string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, c)
}

func (p *fakePlugin) Name() string { return p.name }
func (p *fakePlugin) PreFilter(_ context.Context, _ *framework.CycleState, _ *v1.Pod, nodes []*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
	p.record("PreFilter")
	if p.preFilter == nil {
		return nil, nil
	}
	return p.preFilter(nodes)
}
func (p *fakePlugin) PreFilterExtensions() framework.PreFilterExtensions { return nil }
func (p *fakePlugin) Filter(_ context.Context, _ *framework.CycleState, _ *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	p.record("Filter " + ni.Node().Name)
	if p.filter == nil {
		return nil
	}
	return p.filter(ni)
}
func (p *fakePlugin) Score(_ context.Context, _ *framework.CycleState, _ *v1.Pod, ni *framework.NodeInfo) (int64, *framework.Status) {
	if p.score == nil {
		return 0, nil
	}
	return p.score(ni), nil
}
func (p *fakePlugin) ScoreExtensions() framework.ScoreExtensions {
	if p.normalize {
		return p
	}
	return nil
}
func (p *fakePlugin) NormalizeScore(_ context.Context, _ *framework.CycleState, _ *v1.Pod, scores []framework.NodeScore) *framework.Status {
	return framework.DefaultNormalizeScore(framework.MaxNodeScore, false, scores)
}
func (p *fakePlugin) Reserve(context.Context, *framework.CycleState, *v1.Pod, string) *framework.Status {
	p.record("Reserve")
	return p.reserve
}
func (p *fakePlugin) Unreserve(context.Context, *framework.CycleState, *v1.Pod, string) {
	p.record("Unreserve")
}
func (p *fakePlugin) Permit(context.Context, *framework.CycleState, *v1.Pod, string) (*framework.Status, time.Duration) {
	p.record("Permit")
	return p.permit, p.permitFor
}
func (p *fakePlugin) Bind(context.Context, *framework.CycleState, *v1.Pod, string) *framework.Status {
	p.record("Bind")
	return p.bind
}

func newFramework(t *testing.T, plugins ...*fakePlugin) *framework.Framework {
	t.Helper()
	reg := framework.Registry{}
	var prof framework.Profile
	for i, p := range plugins {
		p := p
		reg[p.name] = func(context.Context, any, framework.Handle) (framework.Plugin, error) { return p, nil }
		pc := framework.PluginConfig{Name: p.name, Weight: int64(i + 1)}
		prof.Plugins = append(prof.Plugins, pc)
	}
	// Exactly one queue sort.
	reg["sort"] = func(context.Context, any, framework.Handle) (framework.Plugin, error) { return sortOnly{}, nil }
	prof.Plugins = append([]framework.PluginConfig{{Name: "sort"}}, prof.Plugins...)
	f, err := framework.NewFramework(context.Background(), reg, prof, framework.Options{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Rand: rand.New(rand.NewPCG(1, 1)),
		Parallelizer: framework.NewParallelizer(2),
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

type sortOnly struct{}

func (sortOnly) Name() string { return "sort" }
func (sortOnly) Less(a, b *framework.QueuedPodInfo) bool {
	return a.Timestamp.Before(b.Timestamp)
}

func nodes(names ...string) []*framework.NodeInfo {
	var out []*framework.NodeInfo
	for _, n := range names {
		ni := framework.NewNodeInfo()
		ni.SetNode(schedtest.Node(n).Obj())
		out = append(out, ni)
	}
	return out
}

func TestNewFrameworkRejectsBadProfiles(t *testing.T) {
	opts := framework.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Rand: rand.New(rand.NewPCG(1, 1))}
	p := func(context.Context, any, framework.Handle) (framework.Plugin, error) { return sortOnly{}, nil }
	tests := []struct {
		name string
		reg  framework.Registry
		prof framework.Profile
	}{
		{"unknown plugin", framework.Registry{}, framework.Profile{Plugins: []framework.PluginConfig{{Name: "x"}}}},
		{"twice", framework.Registry{"sort": p}, framework.Profile{Plugins: []framework.PluginConfig{{Name: "sort"}, {Name: "sort"}}}},
		{"no binder", framework.Registry{"sort": p}, framework.Profile{Plugins: []framework.PluginConfig{{Name: "sort"}}}},
		{"no queue sort", framework.Registry{}, framework.Profile{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := framework.NewFramework(context.Background(), tc.reg, tc.prof, opts); err == nil {
				t.Errorf("NewFramework accepted the profile")
			}
		})
	}
}

func TestRunPreFilterPlugins(t *testing.T) {
	only := func(names ...string) func([]*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
		return func([]*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
			m := map[string]struct{}{}
			for _, n := range names {
				m[n] = struct{}{}
			}
			return &framework.PreFilterResult{NodeNames: m}, nil
		}
	}
	tests := []struct {
		name      string
		a, b      func([]*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status)
		wantNodes []string // nil: all
		wantCode  framework.Code
		wantMsg   string
		wantSkip  []string
	}{
		{name: "all pass"},
		{name: "intersection", a: only("n1", "n2"), b: only("n2", "n3"), wantNodes: []string{"n2"}},
		{name: "empty intersection", a: only("n1"), b: only("n2"), wantCode: framework.UnschedulableAndUnresolvable,
			wantMsg: "node(s) didn't satisfy plugin(s) [a b] simultaneously"},
		{name: "skip", a: func([]*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
			return nil, framework.NewStatus(framework.Skip)
		}, wantSkip: []string{"a"}},
		{name: "reject", b: func([]*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
			return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, "no")
		}, wantCode: framework.UnschedulableAndUnresolvable, wantMsg: "no"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := &fakePlugin{name: "a", preFilter: tc.a, bind: nil}
			b := &fakePlugin{name: "b", preFilter: tc.b}
			f := newFramework(t, a, b)
			state := framework.NewCycleState()
			r, st, _ := f.RunPreFilterPlugins(context.Background(), state, schedtest.Pod("p").Obj(), nodes("n1", "n2", "n3"))
			if st.Code() != tc.wantCode || st.Message() != tc.wantMsg {
				t.Fatalf("status %v, want %v %q", st, tc.wantCode, tc.wantMsg)
			}
			if st.IsSuccess() {
				var got []string
				if !r.AllNodes() {
					for n := range r.NodeNames {
						got = append(got, n)
					}
				}
				if diff := cmp.Diff(tc.wantNodes, got); diff != "" {
					t.Errorf("nodes (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tc.wantSkip, state.SkipFilterPlugins.UnsortedList()); len(tc.wantSkip) > 0 && diff != "" {
					t.Errorf("skipped (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestRunFilterPluginsStopsAtFirstRejection(t *testing.T) {
	a := &fakePlugin{name: "a", filter: func(ni *framework.NodeInfo) *framework.Status {
		if ni.Node().Name == "n2" {
			return framework.NewStatus(framework.Unschedulable, "a says no")
		}
		return nil
	}}
	b := &fakePlugin{name: "b"}
	f := newFramework(t, a, b)
	state := framework.NewCycleState()
	for _, ni := range nodes("n1", "n2") {
		st := f.RunFilterPlugins(context.Background(), state, schedtest.Pod("p").Obj(), ni)
		if ni.Node().Name == "n2" && (st.Plugin() != "a" || st.Message() != "a says no") {
			t.Errorf("n2: status %v, want a's rejection", st)
		}
		if ni.Node().Name == "n1" && !st.IsSuccess() {
			t.Errorf("n1: status %v", st)
		}
	}
	if diff := cmp.Diff([]string{"Filter n1"}, b.calls); diff != "" {
		t.Errorf("b was called after a rejected (-want +got):\n%s", diff)
	}
	// A Skip in PreFilter skips the plugin's Filter.
	state.SkipFilterPlugins = sets.New("a")
	if st := f.RunFilterPlugins(context.Background(), state, schedtest.Pod("p").Obj(), nodes("n2")[0]); !st.IsSuccess() {
		t.Errorf("skipped plugin still filtered: %v", st)
	}
}

func TestRunScorePluginsNormalizesAndWeighs(t *testing.T) {
	// a (weight 1): raw 1, 2, 4 normalized to 25, 50, 100.
	a := &fakePlugin{name: "a", normalize: true, score: func(ni *framework.NodeInfo) int64 {
		return map[string]int64{"n1": 1, "n2": 2, "n3": 4}[ni.Node().Name]
	}}
	// b (weight 2): 100, 0, 10 as is.
	b := &fakePlugin{name: "b", score: func(ni *framework.NodeInfo) int64 {
		return map[string]int64{"n1": 100, "n2": 0, "n3": 10}[ni.Node().Name]
	}}
	f := newFramework(t, a, b)
	state := framework.NewCycleState()
	got, st := f.RunScorePlugins(context.Background(), state, schedtest.Pod("p").Obj(), nodes("n1", "n2", "n3"))
	if !st.IsSuccess() {
		t.Fatal(st)
	}
	want := []framework.NodeScore{{Name: "n1", Score: 25 + 200}, {Name: "n2", Score: 50}, {Name: "n3", Score: 100 + 20}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("scores (-want +got):\n%s", diff)
	}
	// A score out of range is an error.
	b.score = func(*framework.NodeInfo) int64 { return 101 }
	if _, st := f.RunScorePlugins(context.Background(), state, schedtest.Pod("p").Obj(), nodes("n1")); st.IsSuccess() {
		t.Errorf("score 101 accepted")
	}
}

func TestPermitWait(t *testing.T) {
	tests := []struct {
		name    string
		act     func(wp framework.WaitingPod)
		timeout time.Duration
		want    framework.Code
	}{
		{"allowed", func(wp framework.WaitingPod) { wp.Allow("a") }, time.Minute, framework.Success},
		{"rejected", func(wp framework.WaitingPod) { wp.Reject("a", "no") }, time.Minute, framework.Unschedulable},
		{"timed out", func(framework.WaitingPod) {}, 10 * time.Millisecond, framework.Unschedulable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := &fakePlugin{name: "a", permit: framework.NewStatus(framework.Wait), permitFor: tc.timeout}
			f := newFramework(t, a)
			pod := schedtest.Pod("p").Obj()
			if st := f.RunPermitPlugins(context.Background(), framework.NewCycleState(), pod, "n1"); !st.IsWait() {
				t.Fatalf("permit: %v, want Wait", st)
			}
			wp := f.GetWaitingPod(pod.UID)
			if wp == nil {
				t.Fatal("pod is not waiting")
			}
			tc.act(wp)
			if st := f.WaitOnPermit(context.Background(), pod); st.Code() != tc.want {
				t.Errorf("WaitOnPermit: %v, want %v", st, tc.want)
			}
			if f.GetWaitingPod(pod.UID) != nil {
				t.Errorf("pod still waiting after WaitOnPermit returned")
			}
		})
	}
}

func TestReserveUnreserveOrder(t *testing.T) {
	a := &fakePlugin{name: "a"}
	b := &fakePlugin{name: "b", reserve: framework.NewStatus(framework.Unschedulable, "full")}
	f := newFramework(t, a, b)
	pod := schedtest.Pod("p").Obj()
	st := f.RunReservePluginsReserve(context.Background(), framework.NewCycleState(), pod, "n1")
	if st.Plugin() != "b" || !st.IsRejected() {
		t.Fatalf("reserve: %v", st)
	}
	f.RunReservePluginsUnreserve(context.Background(), framework.NewCycleState(), pod, "n1")
	if diff := cmp.Diff([]string{"Reserve", "Unreserve"}, a.calls); diff != "" {
		t.Errorf("a (-want +got):\n%s", diff)
	}
}

func TestBindSkipsToNextBinder(t *testing.T) {
	a := &fakePlugin{name: "a", bind: framework.NewStatus(framework.Skip)}
	b := &fakePlugin{name: "b"}
	f := newFramework(t, a, b)
	if st := f.RunBindPlugins(context.Background(), framework.NewCycleState(), schedtest.Pod("p").Obj(), "n1"); !st.IsSuccess() {
		t.Fatal(st)
	}
	if len(a.calls) != 1 || len(b.calls) != 1 {
		t.Errorf("calls: a %v, b %v", a.calls, b.calls)
	}
	b.bind = framework.NewStatus(framework.Skip)
	if st := f.RunBindPlugins(context.Background(), framework.NewCycleState(), schedtest.Pod("p").Obj(), "n1"); st.IsSuccess() {
		t.Errorf("every binder skipped, yet success")
	}
}

func TestParallelizerCoversEveryPiece(t *testing.T) {
	for _, workers := range []int{1, 2, 7} {
		for _, pieces := range []int{0, 1, 5, 1000} {
			seen := make([]int32, pieces)
			var mu sync.Mutex
			framework.NewParallelizer(workers).Until(context.Background(), pieces, func(i int) {
				mu.Lock()
				seen[i]++
				mu.Unlock()
			})
			for i, n := range seen {
				if n != 1 {
					t.Fatalf("workers %d pieces %d: piece %d ran %d times", workers, pieces, i, n)
				}
			}
		}
	}
}
