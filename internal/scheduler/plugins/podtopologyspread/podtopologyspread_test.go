package podtopologyspread_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podvisor/podvisor/internal/scheduler/plugins/podtopologyspread"
	"github.com/podvisor/podvisor/internal/testutil/schedtest"
	"github.com/podvisor/podvisor/internal/testutil/schedtest/plugintest"
)

const zone = v1.LabelTopologyZone

func web(name, node string) *v1.Pod {
	return schedtest.Pod(name).Node(node).Label("app", "web").Obj()
}

func TestFilterSkew(t *testing.T) {
	nodes := []*v1.Node{
		schedtest.Node("a1").Zone("a").Obj(), schedtest.Node("a2").Zone("a").Obj(),
		schedtest.Node("b1").Zone("b").Obj(), schedtest.Node("c1").Zone("c").Obj(),
		schedtest.Node("nozone").Obj(),
	}
	skew := "Unschedulable: " + podtopologyspread.ErrReasonConstraintsNotMatch
	missing := "UnschedulableAndUnresolvable: " + podtopologyspread.ErrReasonNodeLabelNotMatch
	tests := []struct {
		name     string
		existing []*v1.Pod
		pod      *v1.Pod
		want     map[string]string
	}{
		{
			// a: 2, b: 1, c: 0. Placing in a gives 3 − 0 = 3, in b 2 − 0 =
			// 2: both exceed maxSkew 1; only c fits.
			name:     "zones 2/1/0, maxSkew 1",
			existing: []*v1.Pod{web("w1", "a1"), web("w2", "a2"), web("w3", "b1")},
			pod:      schedtest.Pod("p").Label("app", "web").Spread(1, zone, v1.DoNotSchedule, "app", "web").Obj(),
			want:     map[string]string{"a1": skew, "a2": skew, "b1": skew, "c1": "", "nozone": missing},
		},
		{
			name:     "maxSkew 2 admits b",
			existing: []*v1.Pod{web("w1", "a1"), web("w2", "a2"), web("w3", "b1")},
			pod:      schedtest.Pod("p").Label("app", "web").Spread(2, zone, v1.DoNotSchedule, "app", "web").Obj(),
			want:     map[string]string{"a1": skew, "a2": skew, "b1": "", "c1": "", "nozone": missing},
		},
		{
			// A pod not matching its own selector does not add itself.
			name:     "pod outside its selector",
			existing: []*v1.Pod{web("w1", "a1"), web("w3", "b1")},
			pod:      schedtest.Pod("p").Label("app", "other").Spread(1, zone, v1.DoNotSchedule, "app", "web").Obj(),
			want:     map[string]string{"a1": "", "a2": "", "b1": "", "c1": "", "nozone": missing},
		},
		{
			name:     "ScheduleAnyway does not filter",
			existing: []*v1.Pod{web("w1", "a1"), web("w2", "a2"), web("w3", "b1")},
			pod:      schedtest.Pod("p").Label("app", "web").Spread(1, zone, v1.ScheduleAnyway, "app", "web").Obj(),
			want:     map[string]string{"a1": "", "a2": "", "b1": "", "c1": "", "nozone": ""},
		},
		{
			// Only a and b are eligible (node affinity honoured): min is
			// b's 1; a would be 3 − 1 = 2 > 1.
			name:     "node affinity policy Honor",
			existing: []*v1.Pod{web("w1", "a1"), web("w2", "a2"), web("w3", "b1")},
			pod: schedtest.Pod("p").Label("app", "web").RequiredNodeAffinity(zone, v1.NodeSelectorOpIn, "a", "b").
				Spread(1, zone, v1.DoNotSchedule, "app", "web").Obj(),
			want: map[string]string{"a1": skew, "a2": skew, "b1": "", "c1": "", "nozone": missing},
		},
		{
			// With the policy Ignore, empty zone c counts: b is 2 − 0.
			name:     "node affinity policy Ignore",
			existing: []*v1.Pod{web("w1", "a1"), web("w2", "a2"), web("w3", "b1")},
			pod: schedtest.Pod("p").Label("app", "web").RequiredNodeAffinity(zone, v1.NodeSelectorOpIn, "a", "b").
				Spread(1, zone, v1.DoNotSchedule, "app", "web").SpreadNodeAffinityPolicy(v1.NodeInclusionPolicyIgnore).Obj(),
			want: map[string]string{"a1": skew, "a2": skew, "b1": skew, "c1": "", "nozone": missing},
		},
		{
			// 1 pod in a, 1 in b, none elsewhere known... with minDomains 5
			// and only 3 zones, the global minimum is taken as 0.
			name:     "minDomains above the domain count",
			existing: []*v1.Pod{web("w1", "a1"), web("w3", "b1"), web("w4", "c1")},
			pod:      schedtest.Pod("p").Label("app", "web").Spread(1, zone, v1.DoNotSchedule, "app", "web").SpreadMinDomains(5).Obj(),
			want:     map[string]string{"a1": skew, "a2": skew, "b1": skew, "c1": skew, "nozone": missing},
		},
		{
			name:     "minDomains satisfied",
			existing: []*v1.Pod{web("w1", "a1"), web("w3", "b1"), web("w4", "c1")},
			pod:      schedtest.Pod("p").Label("app", "web").Spread(1, zone, v1.DoNotSchedule, "app", "web").SpreadMinDomains(3).Obj(),
			want:     map[string]string{"a1": "", "a2": "", "b1": "", "c1": "", "nozone": missing},
		},
		{
			name:     "hostname spreading",
			existing: []*v1.Pod{web("w1", "a1")},
			pod:      schedtest.Pod("p").Label("app", "web").Spread(1, v1.LabelHostname, v1.DoNotSchedule, "app", "web").Obj(),
			want:     map[string]string{"a1": skew, "a2": "", "b1": "", "c1": "", "nozone": ""},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := plugintest.NewEnv(t, podtopologyspread.Name, podtopologyspread.New, podtopologyspread.Args{DefaultConstraints: []v1.TopologySpreadConstraint{}}, tc.existing, nodes)
			got, _ := env.Filter(t, tc.pod)
			if diff := cmp.Diff(tc.want, plugintest.Codes(got)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestNodeTaintsPolicy(t *testing.T) {
	nodes := []*v1.Node{
		schedtest.Node("a1").Zone("a").Obj(),
		schedtest.Node("b1").Zone("b").Obj(),
		schedtest.Node("c1").Zone("c").Taint("dedicated", "x", v1.TaintEffectNoSchedule).Obj(),
	}
	existing := []*v1.Pod{web("w1", "a1")}
	skew := "Unschedulable: " + podtopologyspread.ErrReasonConstraintsNotMatch
	tests := []struct {
		policy v1.NodeInclusionPolicy
		want   map[string]string
	}{
		// Ignore: tainted c counts as an empty domain; min 0 either way.
		{v1.NodeInclusionPolicyIgnore, map[string]string{"a1": skew, "b1": "", "c1": ""}},
		// Honor: c is left out; min is b's 0 still.
		{v1.NodeInclusionPolicyHonor, map[string]string{"a1": skew, "b1": "", "c1": ""}},
	}
	for _, tc := range tests {
		t.Run(string(tc.policy), func(t *testing.T) {
			env := plugintest.NewEnv(t, podtopologyspread.Name, podtopologyspread.New, podtopologyspread.Args{DefaultConstraints: []v1.TopologySpreadConstraint{}}, existing, nodes)
			pod := schedtest.Pod("p").Label("app", "web").Spread(1, zone, v1.DoNotSchedule, "app", "web").SpreadNodeTaintsPolicy(tc.policy).Obj()
			got, _ := env.Filter(t, pod)
			if diff := cmp.Diff(tc.want, plugintest.Codes(got)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	// Honor with b also full: only c could lower the skew, but it is out.
	env := plugintest.NewEnv(t, podtopologyspread.Name, podtopologyspread.New, podtopologyspread.Args{DefaultConstraints: []v1.TopologySpreadConstraint{}},
		[]*v1.Pod{web("w1", "a1"), web("w2", "b1")}, nodes)
	honor := schedtest.Pod("p").Label("app", "web").Spread(1, zone, v1.DoNotSchedule, "app", "web").SpreadNodeTaintsPolicy(v1.NodeInclusionPolicyHonor).Obj()
	got, _ := env.Filter(t, honor)
	if diff := cmp.Diff(map[string]string{"a1": "", "b1": "", "c1": ""}, plugintest.Codes(got)); diff != "" {
		t.Errorf("honor with a and b at 1 (-want +got):\n%s", diff)
	}
	ignore := schedtest.Pod("p").Label("app", "web").Spread(1, zone, v1.DoNotSchedule, "app", "web").Obj()
	got, _ = env.Filter(t, ignore)
	if diff := cmp.Diff(map[string]string{"a1": skew, "b1": skew, "c1": ""}, plugintest.Codes(got)); diff != "" {
		t.Errorf("ignore with a and b at 1 (-want +got):\n%s", diff)
	}
}

func TestScore(t *testing.T) {
	nodes := []*v1.Node{
		schedtest.Node("a1").Zone("a").Obj(), schedtest.Node("a2").Zone("a").Obj(),
		schedtest.Node("b1").Zone("b").Obj(), schedtest.Node("nozone").Obj(),
	}
	existing := []*v1.Pod{web("w1", "a1"), web("w2", "a2"), web("w3", "a1")}
	env := plugintest.NewEnv(t, podtopologyspread.Name, podtopologyspread.New, podtopologyspread.Args{DefaultConstraints: []v1.TopologySpreadConstraint{}}, existing, nodes)
	got := env.Score(t, schedtest.Pod("p").Label("app", "web").Spread(1, zone, v1.ScheduleAnyway, "app", "web").Obj())
	// Raw: zone a holds 3 pods, b none; weight log(2+2): a 4, b 0 →
	// b 100 (least loaded), a 0; the node without a zone is ignored: 0.
	if diff := cmp.Diff(map[string]int64{"a1": 0, "a2": 0, "b1": 100, "nozone": 0}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestSystemDefaultConstraints(t *testing.T) {
	nodes := []*v1.Node{
		schedtest.Node("a1").Zone("a").Obj(), schedtest.Node("b1").Zone("b").Obj(),
	}
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "rs-uid"},
		Spec:       appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
	}
	owned := func(b *schedtest.PodBuilder) *v1.Pod {
		p := b.Label("app", "web").Obj()
		yes := true
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web", UID: "rs-uid", Controller: &yes}}
		return p
	}
	existing := []*v1.Pod{owned(schedtest.Pod("w1").Node("a1")), owned(schedtest.Pod("w2").Node("a1"))}
	env := plugintest.NewEnv(t, podtopologyspread.Name, podtopologyspread.New, nil, existing, nodes, rs)
	got := env.Score(t, owned(schedtest.Pod("p")))
	if !(got["b1"] > got["a1"]) {
		t.Errorf("default spreading over the ReplicaSet's pods: %v, want b1 above a1", got)
	}
	if got := env.Score(t, schedtest.Pod("bare").Label("app", "other").Obj()); got != nil {
		t.Errorf("pod selected by no controller or service: scored %v, want skip", got)
	}
}
