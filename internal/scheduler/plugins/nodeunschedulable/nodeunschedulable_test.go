package nodeunschedulable_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"

	"github.com/podvisor/podvisor/internal/scheduler/plugins/nodeunschedulable"
	"github.com/podvisor/podvisor/internal/testutil/schedtest"
	"github.com/podvisor/podvisor/internal/testutil/schedtest/plugintest"
)

func TestFilter(t *testing.T) {
	nodes := []*v1.Node{schedtest.Node("open").Obj(), schedtest.Node("cordoned").Unschedulable().Obj()}
	tests := []struct {
		name string
		pod  *v1.Pod
		want map[string]string
	}{
		{"cordoned node refused", schedtest.Pod("p").Obj(),
			map[string]string{"open": "", "cordoned": "UnschedulableAndUnresolvable: node(s) were unschedulable"}},
		{"toleration lets it in", schedtest.Pod("p").Toleration(v1.TaintNodeUnschedulable, "", v1.TaintEffectNoSchedule).Obj(),
			map[string]string{"open": "", "cordoned": ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := plugintest.NewEnv(t, nodeunschedulable.Name, nodeunschedulable.New, nil, nil, nodes)
			got, _ := env.Filter(t, tc.pod)
			if diff := cmp.Diff(tc.want, plugintest.Codes(got)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
