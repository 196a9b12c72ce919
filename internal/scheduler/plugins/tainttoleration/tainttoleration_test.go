package tainttoleration_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"

	"github.com/podvisor/podvisor/internal/scheduler/plugins/tainttoleration"
	"github.com/podvisor/podvisor/internal/testutil/schedtest"
	"github.com/podvisor/podvisor/internal/testutil/schedtest/plugintest"
)

func TestFilter(t *testing.T) {
	tests := []struct {
		name string
		node *v1.Node
		pod  *v1.Pod
		want string
	}{
		{"no taints", schedtest.Node("n").Obj(), schedtest.Pod("p").Obj(), ""},
		{"NoSchedule untolerated", schedtest.Node("n").Taint("key", "value", v1.TaintEffectNoSchedule).Obj(), schedtest.Pod("p").Obj(),
			"UnschedulableAndUnresolvable: node(s) had untolerated taint {key: value}"},
		{"NoExecute untolerated", schedtest.Node("n").Taint("dedicated", "", v1.TaintEffectNoExecute).Obj(), schedtest.Pod("p").Obj(),
			"UnschedulableAndUnresolvable: node(s) had untolerated taint {dedicated: }"},
		{"PreferNoSchedule does not filter", schedtest.Node("n").Taint("k", "v", v1.TaintEffectPreferNoSchedule).Obj(), schedtest.Pod("p").Obj(), ""},
		{"tolerated by value", schedtest.Node("n").Taint("k", "v", v1.TaintEffectNoSchedule).Obj(),
			schedtest.Pod("p").Toleration("k", "v", v1.TaintEffectNoSchedule).Obj(), ""},
		{"wrong value", schedtest.Node("n").Taint("k", "v", v1.TaintEffectNoSchedule).Obj(),
			schedtest.Pod("p").Toleration("k", "w", v1.TaintEffectNoSchedule).Obj(), "UnschedulableAndUnresolvable: node(s) had untolerated taint {k: v}"},
		{"Exists with any effect", schedtest.Node("n").Taint("k", "v", v1.TaintEffectNoExecute).Obj(),
			schedtest.Pod("p").Toleration("k", "", "").Obj(), ""},
		{"wrong effect", schedtest.Node("n").Taint("k", "v", v1.TaintEffectNoExecute).Obj(),
			schedtest.Pod("p").Toleration("k", "v", v1.TaintEffectNoSchedule).Obj(), "UnschedulableAndUnresolvable: node(s) had untolerated taint {k: v}"},
		{"one of two tolerated", schedtest.Node("n").Taint("a", "1", v1.TaintEffectNoSchedule).Taint("b", "2", v1.TaintEffectNoSchedule).Obj(),
			schedtest.Pod("p").Toleration("a", "1", v1.TaintEffectNoSchedule).Obj(), "UnschedulableAndUnresolvable: node(s) had untolerated taint {b: 2}"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := plugintest.NewEnv(t, tainttoleration.Name, tainttoleration.New, nil, nil, []*v1.Node{tc.node})
			got, _ := env.Filter(t, tc.pod)
			if diff := cmp.Diff(map[string]string{"n": tc.want}, plugintest.Codes(got)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestScorePreferNoSchedule(t *testing.T) {
	nodes := []*v1.Node{
		schedtest.Node("clean").Obj(),
		schedtest.Node("one").Taint("a", "1", v1.TaintEffectPreferNoSchedule).Obj(),
		schedtest.Node("two").Taint("a", "1", v1.TaintEffectPreferNoSchedule).Taint("b", "2", v1.TaintEffectPreferNoSchedule).Obj(),
	}
	env := plugintest.NewEnv(t, tainttoleration.Name, tainttoleration.New, nil, nil, nodes)
	got := env.Score(t, schedtest.Pod("p").Obj())
	if diff := cmp.Diff(map[string]int64{"clean": 100, "one": 50, "two": 0}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	got = env.Score(t, schedtest.Pod("p").Toleration("a", "1", v1.TaintEffectPreferNoSchedule).Obj())
	if diff := cmp.Diff(map[string]int64{"clean": 100, "one": 100, "two": 0}, got); diff != "" {
		t.Errorf("tolerating a (-want +got):\n%s", diff)
	}
}
