package nodename_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"

	"github.com/podvisor/podvisor/internal/scheduler/plugins/nodename"
	"github.com/podvisor/podvisor/internal/testutil/schedtest"
	"github.com/podvisor/podvisor/internal/testutil/schedtest/plugintest"
)

func TestFilter(t *testing.T) {
	nodes := []*v1.Node{schedtest.Node("a").Obj(), schedtest.Node("b").Obj()}
	env := plugintest.NewEnv(t, nodename.Name, nodename.New, nil, nil, nodes)
	got, _ := env.Filter(t, schedtest.Pod("p").Node("b").Obj())
	want := map[string]string{"a": "UnschedulableAndUnresolvable: " + nodename.ErrReason, "b": ""}
	if diff := cmp.Diff(want, plugintest.Codes(got)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	got, _ = env.Filter(t, schedtest.Pod("p").Obj())
	if diff := cmp.Diff(map[string]string{"a": "", "b": ""}, plugintest.Codes(got)); diff != "" {
		t.Errorf("no node name (-want +got):\n%s", diff)
	}
}
