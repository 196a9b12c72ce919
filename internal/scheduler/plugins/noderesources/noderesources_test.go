package noderesources_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/podvisor/podvisor/internal/scheduler/plugins/noderesources"
	"github.com/podvisor/podvisor/internal/testutil/schedtest"
	"github.com/podvisor/podvisor/internal/testutil/schedtest/plugintest"
)

func TestFitFilter(t *testing.T) {
	node := func() *schedtest.NodeBuilder { return schedtest.Node("n").Cap("4", "8Gi", 3) }
	tests := []struct {
		name     string
		node     *v1.Node
		existing []*v1.Pod
		pod      *v1.Pod
		want     string
	}{
		{name: "fits", node: node().Obj(), pod: schedtest.Pod("p").Req("1", "1Gi").Obj(), want: ""},
		{name: "exactly fills the node", node: node().Obj(),
			existing: []*v1.Pod{schedtest.Pod("e").Node("n").Req("3", "4Gi").Obj()},
			pod:      schedtest.Pod("p").Req("1", "4Gi").Obj(), want: ""},
		{name: "insufficient cpu", node: node().Obj(),
			existing: []*v1.Pod{schedtest.Pod("e").Node("n").Req("3500m", "").Obj()},
			pod:      schedtest.Pod("p").Req("1", "").Obj(), want: "Unschedulable: Insufficient cpu"},
		{name: "insufficient cpu and memory", node: node().Obj(),
			existing: []*v1.Pod{schedtest.Pod("e").Node("n").Req("3500m", "7Gi").Obj()},
			pod:      schedtest.Pod("p").Req("1", "2Gi").Obj(), want: "Unschedulable: Insufficient cpu, Insufficient memory"},
		{name: "too many pods, even without requests", node: node().Obj(),
			existing: []*v1.Pod{schedtest.Pod("a").Node("n").Obj(), schedtest.Pod("b").Node("n").Obj(), schedtest.Pod("c").Node("n").Obj()},
			pod:      schedtest.Pod("p").Obj(), want: "Unschedulable: Too many pods"},
		{name: "larger than the whole node is unresolvable", node: node().Obj(),
			pod: schedtest.Pod("p").Req("5", "").Obj(), want: "UnschedulableAndUnresolvable: Insufficient cpu"},
		{name: "init container max rule: fits", node: node().Obj(),
			existing: []*v1.Pod{schedtest.Pod("e").Node("n").Req("1", "").Obj()},
			// max(1 container, 3 init) = 3 ≤ 4 − 1.
			pod: schedtest.Pod("p").Req("1", "").Init("3", "").Init("2", "").Obj(), want: ""},
		{name: "init container max rule: too big", node: node().Obj(),
			existing: []*v1.Pod{schedtest.Pod("e").Node("n").Req("2", "").Obj()},
			pod:      schedtest.Pod("p").Req("1", "").Init("3", "").Obj(), want: "Unschedulable: Insufficient cpu"},
		{name: "overhead counts", node: node().Obj(),
			existing: []*v1.Pod{schedtest.Pod("e").Node("n").Req("3", "").Obj()},
			pod:      schedtest.Pod("p").Req("1", "").Overhead("100m", "").Obj(), want: "Unschedulable: Insufficient cpu"},
		{name: "extended resource missing on the node", node: node().Obj(),
			pod:  schedtest.Pod("p").ReqList(v1.ResourceList{"example.com/gpu": resource.MustParse("1")}).Obj(),
			want: "UnschedulableAndUnresolvable: Insufficient example.com/gpu"},
		{name: "extended resource used up", node: node().Alloc("example.com/gpu", "2").Obj(),
			existing: []*v1.Pod{schedtest.Pod("e").Node("n").ReqList(v1.ResourceList{"example.com/gpu": resource.MustParse("2")}).Obj()},
			pod:      schedtest.Pod("p").ReqList(v1.ResourceList{"example.com/gpu": resource.MustParse("1")}).Obj(),
			want:     "Unschedulable: Insufficient example.com/gpu"},
		{name: "ephemeral storage", node: node().Alloc(v1.ResourceEphemeralStorage, "10Gi").Obj(),
			existing: []*v1.Pod{schedtest.Pod("e").Node("n").ReqList(v1.ResourceList{v1.ResourceEphemeralStorage: resource.MustParse("8Gi")}).Obj()},
			pod:      schedtest.Pod("p").ReqList(v1.ResourceList{v1.ResourceEphemeralStorage: resource.MustParse("4Gi")}).Obj(),
			want:     "Unschedulable: Insufficient ephemeral-storage"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := plugintest.NewEnv(t, noderesources.FitName, noderesources.NewFit, nil, tc.existing, []*v1.Node{tc.node})
			got, _ := env.Filter(t, tc.pod)
			if diff := cmp.Diff(map[string]string{"n": tc.want}, plugintest.Codes(got)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestFitScoring(t *testing.T) {
	nodes := []*v1.Node{schedtest.Node("empty").Cap("4", "8Gi", 110).Obj(), schedtest.Node("busy").Cap("4", "8Gi", 110).Obj()}
	// busy: 500m + pod 500m = 1000m of 4000m (75 free); 5.5Gi + 0.5Gi =
	// 6Gi of 8Gi (25 free): LeastAllocated (75+25)/2 = 50.
	existing := []*v1.Pod{schedtest.Pod("e").Node("busy").Req("500m", "5632Mi").Obj()}
	pod := schedtest.Pod("p").Req("500m", "512Mi").Obj()
	tests := []struct {
		name string
		args any
		want map[string]int64
	}{
		// empty: (3500/4000 → 87) and (7.5Gi/8Gi → 93): 90.
		{"least allocated", nil, map[string]int64{"empty": 90, "busy": 50}},
		{"most allocated", noderesources.FitArgs{Strategy: noderesources.MostAllocated}, map[string]int64{"empty": 9, "busy": 50}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := plugintest.NewEnv(t, noderesources.FitName, noderesources.NewFit, tc.args, existing, nodes)
			if diff := cmp.Diff(tc.want, env.Score(t, pod)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestFitScoringUsesDefaultsForRequestlessPods(t *testing.T) {
	nodes := []*v1.Node{schedtest.Node("a").Cap("1", "1Gi", 110).Obj(), schedtest.Node("b").Cap("1", "1Gi", 110).Obj()}
	// Five request-less pods on a count as 5 × (100m, 200Mi).
	var existing []*v1.Pod
	for _, n := range []string{"1", "2", "3", "4", "5"} {
		existing = append(existing, schedtest.Pod("e"+n).Node("a").Obj())
	}
	env := plugintest.NewEnv(t, noderesources.FitName, noderesources.NewFit, nil, existing, nodes)
	got := env.Score(t, schedtest.Pod("p").Obj())
	if got["a"] >= got["b"] {
		t.Errorf("node full of request-less pods scored %d, empty node %d", got["a"], got["b"])
	}
}

func TestBalancedAllocation(t *testing.T) {
	nodes := []*v1.Node{schedtest.Node("n").Cap("4", "10Gi", 110).Obj()}
	tests := []struct {
		name string
		pod  *v1.Pod
		want int64
	}{
		// cpu 2/4 = 50%, memory 3/10 = 30%: deviation 10%, score 90.
		{"cpu 50% memory 30%", schedtest.Pod("p").Req("2", "3Gi").Obj(), 90},
		{"perfectly balanced", schedtest.Pod("p").Req("2", "5Gi").Obj(), 100},
		// Fractions cap at 1: cpu 100%, memory 0.2%: deviation ~50%.
		{"over-committed cpu", schedtest.Pod("p").Req("8", "20Mi").Obj(), 50},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := plugintest.NewEnv(t, noderesources.BalancedAllocationName, noderesources.NewBalancedAllocation, nil, nil, nodes)
			if got := env.Score(t, tc.pod)["n"]; got != tc.want {
				t.Errorf("score %d, want %d", got, tc.want)
			}
		})
	}
}

func TestFitArgsValidation(t *testing.T) {
	for _, args := range []any{
		noderesources.FitArgs{Strategy: "Random"},
		noderesources.FitArgs{Resources: []noderesources.ResourceWeight{{Name: v1.ResourceCPU, Weight: 0}}},
		"wrong type",
	} {
		if _, err := noderesources.NewFit(nil, args, nil); err == nil {
			t.Errorf("args %#v accepted", args)
		}
	}
}
