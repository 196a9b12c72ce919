package nodeaffinity_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"

	"github.com/podvisor/podvisor/internal/scheduler/plugins/nodeaffinity"
	"github.com/podvisor/podvisor/internal/testutil/schedtest"
	"github.com/podvisor/podvisor/internal/testutil/schedtest/plugintest"
)

func TestFilter(t *testing.T) {
	nodes := []*v1.Node{
		schedtest.Node("ssd-a").Label("disk", "ssd").Zone("a").Obj(),
		schedtest.Node("hdd-a").Label("disk", "hdd").Zone("a").Obj(),
		schedtest.Node("ssd-b").Label("disk", "ssd").Zone("b").Obj(),
	}
	no := "UnschedulableAndUnresolvable: " + nodeaffinity.ErrReasonPod
	tests := []struct {
		name string
		pod  *v1.Pod
		want map[string]string
	}{
		{"nothing required", schedtest.Pod("p").Obj(), map[string]string{"ssd-a": "", "hdd-a": "", "ssd-b": ""}},
		{"node selector", schedtest.Pod("p").NodeSelector("disk", "ssd").Obj(), map[string]string{"ssd-a": "", "hdd-a": no, "ssd-b": ""}},
		{"selector and affinity both apply", schedtest.Pod("p").NodeSelector("disk", "ssd").
			RequiredNodeAffinity(v1.LabelTopologyZone, v1.NodeSelectorOpIn, "b").Obj(), map[string]string{"ssd-a": no, "hdd-a": no, "ssd-b": ""}},
		{"terms are ORed", schedtest.Pod("p").RequiredNodeAffinity("disk", v1.NodeSelectorOpIn, "hdd").
			RequiredNodeAffinity(v1.LabelTopologyZone, v1.NodeSelectorOpIn, "b").Obj(), map[string]string{"ssd-a": no, "hdd-a": "", "ssd-b": ""}},
		{"NotIn", schedtest.Pod("p").RequiredNodeAffinity("disk", v1.NodeSelectorOpNotIn, "ssd").Obj(), map[string]string{"ssd-a": no, "hdd-a": "", "ssd-b": no}},
		{"DoesNotExist", schedtest.Pod("p").RequiredNodeAffinity("gpu", v1.NodeSelectorOpDoesNotExist).Obj(), map[string]string{"ssd-a": "", "hdd-a": "", "ssd-b": ""}},
		{"metadata.name narrows in PreFilter", schedtest.Pod("p").RequiredNodeName("hdd-a").Obj(),
			map[string]string{"ssd-a": "UnschedulableAndUnresolvable: filtered out", "hdd-a": "", "ssd-b": "UnschedulableAndUnresolvable: filtered out"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := plugintest.NewEnv(t, nodeaffinity.Name, nodeaffinity.New, nil, nil, nodes)
			got, _ := env.Filter(t, tc.pod)
			if diff := cmp.Diff(tc.want, plugintest.Codes(got)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestScore(t *testing.T) {
	nodes := []*v1.Node{
		schedtest.Node("ssd-a").Label("disk", "ssd").Zone("a").Obj(),
		schedtest.Node("hdd-a").Label("disk", "hdd").Zone("a").Obj(),
		schedtest.Node("hdd-b").Label("disk", "hdd").Zone("b").Obj(),
	}
	env := plugintest.NewEnv(t, nodeaffinity.Name, nodeaffinity.New, nil, nil, nodes)
	if got := env.Score(t, schedtest.Pod("p").Obj()); got != nil {
		t.Errorf("no preferences: scored %v, want skip", got)
	}
	// ssd 80 + zone a 20: ssd-a 100, hdd-a 20, hdd-b 0.
	pod := schedtest.Pod("p").PreferredNodeAffinity(80, "disk", "ssd").PreferredNodeAffinity(20, v1.LabelTopologyZone, "a").Obj()
	if diff := cmp.Diff(map[string]int64{"ssd-a": 100, "hdd-a": 20, "hdd-b": 0}, env.Score(t, pod)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
