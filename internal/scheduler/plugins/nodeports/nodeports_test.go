package nodeports_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"

	"github.com/podvisor/podvisor/internal/scheduler/plugins/nodeports"
	"github.com/podvisor/podvisor/internal/testutil/schedtest"
	"github.com/podvisor/podvisor/internal/testutil/schedtest/plugintest"
)

func TestFilter(t *testing.T) {
	nodes := []*v1.Node{schedtest.Node("a").Obj(), schedtest.Node("b").Obj()}
	existing := []*v1.Pod{schedtest.Pod("web").Node("a").HostPort("", v1.ProtocolTCP, 8080).Obj(),
		schedtest.Pod("dns").Node("b").HostPort("10.0.0.2", v1.ProtocolUDP, 53).Obj()}
	conflict := "Unschedulable: " + nodeports.ErrReason
	tests := []struct {
		name string
		pod  *v1.Pod
		want map[string]string
	}{
		{"no host ports: skipped", schedtest.Pod("p").Obj(), map[string]string{"a": "", "b": ""}},
		{"same port and protocol", schedtest.Pod("p").HostPort("", v1.ProtocolTCP, 8080).Obj(), map[string]string{"a": conflict, "b": ""}},
		{"same port, other protocol", schedtest.Pod("p").HostPort("", v1.ProtocolUDP, 8080).Obj(), map[string]string{"a": "", "b": ""}},
		{"specific address against specific address", schedtest.Pod("p").HostPort("10.0.0.3", v1.ProtocolUDP, 53).Obj(), map[string]string{"a": "", "b": ""}},
		{"wildcard against specific address", schedtest.Pod("p").HostPort("", v1.ProtocolUDP, 53).Obj(), map[string]string{"a": "", "b": conflict}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := plugintest.NewEnv(t, nodeports.Name, nodeports.New, nil, existing, nodes)
			got, _ := env.Filter(t, tc.pod)
			if diff := cmp.Diff(tc.want, plugintest.Codes(got)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
