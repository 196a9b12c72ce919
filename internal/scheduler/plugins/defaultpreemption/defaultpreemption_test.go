package defaultpreemption_test

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/podvisor/podvisor/internal/scheduler/framework"
	"github.com/podvisor/podvisor/internal/scheduler/plugins/defaultpreemption"
	"github.com/podvisor/podvisor/internal/scheduler/plugins/noderesources"
	"github.com/podvisor/podvisor/internal/scheduler/plugins/tainttoleration"
	"github.com/podvisor/podvisor/internal/testutil/schedtest"
	"github.com/podvisor/podvisor/internal/testutil/schedtest/plugintest"
)

var t0 = time.Unix(1700000000, 0)

func low(name, node, cpu string, prio int32, startedAfter time.Duration) *v1.Pod {
	return schedtest.Pod(name).Node(node).Req(cpu, "").Priority(prio).StartTime(t0.Add(startedAfter)).Label("app", name).Obj()
}

func newEnv(t *testing.T, pods []*v1.Pod, nodes []*v1.Node, objs ...runtime.Object) *plugintest.Env {
	reg := framework.Registry{
		tainttoleration.Name:   tainttoleration.New,
		noderesources.FitName:  noderesources.NewFit,
		defaultpreemption.Name: defaultpreemption.New,
	}
	prof := []framework.PluginConfig{{Name: tainttoleration.Name}, {Name: noderesources.FitName}, {Name: defaultpreemption.Name}}
	all := append([]runtime.Object{}, objs...)
	for _, p := range pods {
		all = append(all, p)
	}
	return plugintest.NewEnvWith(t, reg, prof, defaultpreemption.Name, pods, nodes, all...)
}

// statuses runs PreFilter and Filter like a scheduling cycle would.
func statuses(t *testing.T, env *plugintest.Env, pod *v1.Pod) (*framework.CycleState, framework.NodeToStatus) {
	t.Helper()
	ctx := context.Background()
	state := framework.NewCycleState()
	if _, st, _ := env.Framework.RunPreFilterPlugins(ctx, state, pod, env.Snapshot.List()); !st.IsSuccess() {
		t.Fatalf("PreFilter: %v", st)
	}
	m := framework.NodeToStatus{}
	for _, ni := range env.Snapshot.List() {
		if st := env.Framework.RunFilterPlugins(ctx, state, pod, ni); !st.IsSuccess() {
			m[ni.Node().Name] = st
		}
	}
	return state, m
}

func remaining(t *testing.T, env *plugintest.Env) []string {
	t.Helper()
	list, err := env.Client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range list.Items {
		out = append(out, p.Name)
	}
	sort.Strings(out)
	return out
}

func TestMinimalVictims(t *testing.T) {
	// n1 (4 cpu): l2 (1 cpu, prio 2), l1 (1 cpu, prio 1, older), l3 (2
	// cpu, prio 1, newer). The 2-cpu preemptor needs 2 cpu: giving back
	// l2 then l1 still fits; l3 must go.
	pods := []*v1.Pod{low("l1", "n1", "1", 1, 0), low("l2", "n1", "1", 2, time.Minute), low("l3", "n1", "2", 1, 2*time.Minute)}
	env := newEnv(t, pods, []*v1.Node{schedtest.Node("n1").Cap("4", "8Gi", 110).Obj()})
	pod := schedtest.Pod("vip").Req("2", "").Priority(10).Obj()
	state, m := statuses(t, env, pod)
	res, st := env.Plugin.(framework.PostFilterPlugin).PostFilter(context.Background(), state, pod, m)
	if !st.IsSuccess() {
		t.Fatalf("PostFilter: %v", st)
	}
	if res.NominatedNodeName != "n1" {
		t.Errorf("nominated %q, want n1", res.NominatedNodeName)
	}
	if diff := cmp.Diff([]string{"l1", "l2"}, remaining(t, env)); diff != "" {
		t.Errorf("pods left (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"Normal Preempted default/l3: Preempted by default/vip on node n1"}, env.Events.List()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	l3, _ := env.Client.Tracker().Get(v1.SchemeGroupVersion.WithResource("pods"), "default", "l3")
	if l3 != nil {
		t.Errorf("victim still exists")
	}
}

func TestPDBsAreRespectedWherePossible(t *testing.T) {
	pods := []*v1.Pod{low("l1", "n1", "1", 1, 0), low("l2", "n1", "1", 2, time.Minute), low("l3", "n1", "2", 1, 2*time.Minute)}
	// l3 is protected: its budget allows no disruption. Evicting l1 and l2
	// instead frees the same 2 cpu.
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "l3", Namespace: "default"},
		Spec:       policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "l3"}}},
		Status:     policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 0},
	}
	env := newEnv(t, pods, []*v1.Node{schedtest.Node("n1").Cap("4", "8Gi", 110).Obj()}, pdb)
	pod := schedtest.Pod("vip").Req("2", "").Priority(10).Obj()
	state, m := statuses(t, env, pod)
	if _, st := env.Plugin.(framework.PostFilterPlugin).PostFilter(context.Background(), state, pod, m); !st.IsSuccess() {
		t.Fatalf("PostFilter: %v", st)
	}
	if diff := cmp.Diff([]string{"l3"}, remaining(t, env)); diff != "" {
		t.Errorf("pods left (-want +got):\n%s", diff)
	}
}

func TestPicksTheNodeWithLeastImportantVictims(t *testing.T) {
	pods := []*v1.Pod{
		low("a1", "n1", "1", 5, 0), low("a2", "n1", "1", 5, 0),
		low("b1", "n2", "2", 8, 0),
	}
	nodes := []*v1.Node{schedtest.Node("n1").Cap("2", "8Gi", 110).Obj(), schedtest.Node("n2").Cap("2", "8Gi", 110).Obj()}
	env := newEnv(t, pods, nodes)
	pod := schedtest.Pod("vip").Req("2", "").Priority(10).Obj()
	state, m := statuses(t, env, pod)
	res, st := env.Plugin.(framework.PostFilterPlugin).PostFilter(context.Background(), state, pod, m)
	if !st.IsSuccess() || res.NominatedNodeName != "n1" {
		t.Fatalf("PostFilter: %v %+v, want n1 (victims of priority 5 rather than 8)", st, res)
	}
	if diff := cmp.Diff([]string{"b1"}, remaining(t, env)); diff != "" {
		t.Errorf("pods left (-want +got):\n%s", diff)
	}
}

func TestPreemptionNotPossible(t *testing.T) {
	tests := []struct {
		name  string
		pods  []*v1.Pod
		nodes []*v1.Node
		pod   *v1.Pod
		want  string
	}{
		{
			name:  "only higher-priority pods",
			pods:  []*v1.Pod{low("h1", "n1", "2", 100, 0)},
			nodes: []*v1.Node{schedtest.Node("n1").Cap("2", "8Gi", 110).Obj()},
			pod:   schedtest.Pod("p").Req("1", "").Priority(10).Obj(),
			want:  "preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
		},
		{
			name: "taint cannot be preempted away",
			pods: []*v1.Pod{low("h1", "n2", "2", 100, 0)},
			nodes: []*v1.Node{schedtest.Node("n1").Cap("2", "8Gi", 110).Taint("k", "v", v1.TaintEffectNoSchedule).Obj(),
				schedtest.Node("n2").Cap("2", "8Gi", 110).Obj()},
			pod:  schedtest.Pod("p").Req("2", "").Priority(10).Obj(),
			want: "preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling.",
		},
		{
			name:  "preemptionPolicy Never",
			pods:  []*v1.Pod{low("l1", "n1", "2", 1, 0)},
			nodes: []*v1.Node{schedtest.Node("n1").Cap("2", "8Gi", 110).Obj()},
			pod:   schedtest.Pod("p").Req("1", "").Priority(10).PreemptNever().Obj(),
			want:  "preemption: not eligible due to preemptionPolicy=Never.",
		},
		{
			name: "victims of an earlier preemption still terminating on the nominated node",
			pods: []*v1.Pod{func() *v1.Pod {
				p := low("l1", "n1", "2", 1, 0)
				p.DeletionTimestamp = &metav1.Time{Time: t0}
				return p
			}()},
			nodes: []*v1.Node{schedtest.Node("n1").Cap("2", "8Gi", 110).Obj()},
			pod:   schedtest.Pod("p").Req("1", "").Priority(10).Nominated("n1").Obj(),
			want:  "preemption: not eligible due to a terminating pod on the nominated node.",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t, tc.pods, tc.nodes)
			state, m := statuses(t, env, tc.pod)
			_, st := env.Plugin.(framework.PostFilterPlugin).PostFilter(context.Background(), state, tc.pod, m)
			if st.IsSuccess() {
				t.Fatalf("preemption succeeded")
			}
			if st.Message() != tc.want {
				t.Errorf("message\n got %q\nwant %q", st.Message(), tc.want)
			}
			if len(remaining(t, env)) != len(tc.pods) {
				t.Errorf("pods were deleted: %v", remaining(t, env))
			}
		})
	}
}

func TestNominatedPodsOfLowerPriorityLoseTheirNomination(t *testing.T) {
	pods := []*v1.Pod{low("l1", "n1", "2", 1, 0)}
	waiting := schedtest.Pod("waiting").Req("1", "").Priority(5).Nominated("n1").Obj()
	env := newEnv(t, pods, []*v1.Node{schedtest.Node("n1").Cap("2", "8Gi", 110).Obj()}, waiting)
	env.Framework.AddNominatedPod(framework.NewPodInfo(waiting), "n1")
	pod := schedtest.Pod("vip").Req("2", "").Priority(10).Obj()
	state, m := statuses(t, env, pod)
	if _, st := env.Plugin.(framework.PostFilterPlugin).PostFilter(context.Background(), state, pod, m); !st.IsSuccess() {
		t.Fatalf("PostFilter: %v", st)
	}
	got, err := env.Client.CoreV1().Pods("default").Get(context.Background(), "waiting", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.NominatedNodeName != "" {
		t.Errorf("lower-priority pod still nominated to %q", got.Status.NominatedNodeName)
	}
}
