package framework_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"

	"github.com/podvisor/podvisor/internal/scheduler/framework"
	"github.com/podvisor/podvisor/internal/testutil/schedtest"
)

func TestNodeInfoAddRemoveClone(t *testing.T) {
	ni := framework.NewNodeInfo()
	ni.SetNode(schedtest.Node("n1").Obj())
	p1 := schedtest.Pod("p1").Req("1", "1Gi").HostPort("", "", 80).PVC("data").Obj()
	p2 := schedtest.Pod("p2").Req("500m", "").PodAntiAffinity(v1.LabelHostname, "app", "x").Obj()
	ni.AddPod(p1)
	ni.AddPod(p2)
	if got, want := ni.Requested.MilliCPU, int64(1500); got != want {
		t.Errorf("requested cpu %d, want %d", got, want)
	}
	if len(ni.PodsWithAffinity) != 1 || len(ni.PodsWithRequiredAntiAffinity) != 1 {
		t.Errorf("affinity lists: %d, %d; want 1, 1", len(ni.PodsWithAffinity), len(ni.PodsWithRequiredAntiAffinity))
	}
	if !ni.UsedPorts.CheckConflict("", "TCP", 80) || ni.PVCRefCounts["default/data"] != 1 {
		t.Errorf("ports %v, claims %v", ni.UsedPorts, ni.PVCRefCounts)
	}
	c := ni.Clone()
	if err := c.RemovePod(p1); err != nil {
		t.Fatal(err)
	}
	if err := c.RemovePod(p2); err != nil {
		t.Fatal(err)
	}
	if !c.Requested.IsZero() || c.NonZeroRequested.MilliCPU != 0 || len(c.Pods) != 0 || len(c.UsedPorts) != 0 || len(c.PVCRefCounts) != 0 {
		t.Errorf("after removing every pod: %v ports %v claims %v", c, c.UsedPorts, c.PVCRefCounts)
	}
	// The original is untouched.
	if len(ni.Pods) != 2 || ni.Requested.MilliCPU != 1500 || !ni.UsedPorts.CheckConflict("", "TCP", 80) {
		t.Errorf("clone changes leaked into the original: %v", ni)
	}
	if err := c.RemovePod(p1); err == nil {
		t.Errorf("removing a missing pod: no error")
	}
}

func TestHostPortConflicts(t *testing.T) {
	tests := []struct {
		name     string
		used     [][3]any // ip, protocol, port
		ip       string
		protocol string
		port     int32
		want     bool
	}{
		{name: "free", used: nil, ip: "", protocol: "TCP", port: 80, want: false},
		{name: "same wildcard", used: [][3]any{{"", "TCP", int32(80)}}, ip: "", protocol: "TCP", port: 80, want: true},
		{name: "other protocol", used: [][3]any{{"", "TCP", int32(80)}}, ip: "", protocol: "UDP", port: 80, want: false},
		{name: "specific vs wildcard in use", used: [][3]any{{"0.0.0.0", "TCP", int32(80)}}, ip: "10.0.0.1", protocol: "TCP", port: 80, want: true},
		{name: "wildcard vs specific in use", used: [][3]any{{"10.0.0.1", "TCP", int32(80)}}, ip: "", protocol: "TCP", port: 80, want: true},
		{name: "two specific addresses", used: [][3]any{{"10.0.0.1", "TCP", int32(80)}}, ip: "10.0.0.2", protocol: "TCP", port: 80, want: false},
		{name: "default protocol is TCP", used: [][3]any{{"", "", int32(80)}}, ip: "", protocol: "TCP", port: 80, want: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := framework.HostPortInfo{}
			for _, u := range tc.used {
				h.Add(u[0].(string), u[1].(string), u[2].(int32))
			}
			if got := h.CheckConflict(tc.ip, tc.protocol, tc.port); got != tc.want {
				t.Errorf("CheckConflict(%q, %q, %d) = %v, want %v", tc.ip, tc.protocol, tc.port, got, tc.want)
			}
		})
	}
}

func TestAffinityTermNamespaces(t *testing.T) {
	owner := schedtest.Pod("o").Namespace("team-a").Label("tier", "web").Obj()
	owner.Spec.Affinity = &v1.Affinity{PodAffinity: &v1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{
		{TopologyKey: "zone", LabelSelector: schedtestSelector("app", "db")},
		{TopologyKey: "zone", LabelSelector: schedtestSelector("app", "db"), Namespaces: []string{"team-b"}},
		{TopologyKey: "zone", LabelSelector: schedtestSelector("app", "db"), NamespaceSelector: schedtestSelector("env", "prod")},
		{TopologyKey: "zone", LabelSelector: schedtestSelector("app", "db"), MatchLabelKeys: []string{"tier"}},
	}}}
	pi := framework.NewPodInfo(owner)
	if pi.ParseErr != nil {
		t.Fatal(pi.ParseErr)
	}
	db := func(ns string, extra ...string) *v1.Pod {
		b := schedtest.Pod("db").Namespace(ns).Label("app", "db")
		for i := 0; i+1 < len(extra); i += 2 {
			b.Label(extra[i], extra[i+1])
		}
		return b.Obj()
	}
	tests := []struct {
		term     int
		pod      *v1.Pod
		nsLabels map[string]string
		want     bool
	}{
		{0, db("team-a"), nil, true},
		{0, db("team-b"), nil, false},
		{1, db("team-b"), nil, true},
		{1, db("team-a"), nil, false},
		{2, db("team-c"), map[string]string{"env": "prod"}, true},
		{2, db("team-c"), map[string]string{"env": "dev"}, false},
		{3, db("team-a", "tier", "web"), nil, true},
		{3, db("team-a", "tier", "cache"), nil, false},
	}
	for i, tc := range tests {
		if got := pi.RequiredAffinityTerms[tc.term].Matches(tc.pod, tc.nsLabels); got != tc.want {
			t.Errorf("case %d: term %d matches pod in %s = %v, want %v", i, tc.term, tc.pod.Namespace, got, tc.want)
		}
	}
	if diff := cmp.Diff([]string{"team-a"}, pi.RequiredAffinityTerms[0].Namespaces.UnsortedList()); diff != "" {
		t.Errorf("default namespace (-want +got):\n%s", diff)
	}
}
