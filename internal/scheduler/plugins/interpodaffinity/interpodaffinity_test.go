package interpodaffinity_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podvisor/podvisor/internal/scheduler/plugins/interpodaffinity"
	"github.com/podvisor/podvisor/internal/testutil/schedtest"
	"github.com/podvisor/podvisor/internal/testutil/schedtest/plugintest"
)

const zone = v1.LabelTopologyZone

func nodes() []*v1.Node {
	return []*v1.Node{
		schedtest.Node("a1").Zone("a").Obj(),
		schedtest.Node("a2").Zone("a").Obj(),
		schedtest.Node("b1").Zone("b").Obj(),
		schedtest.Node("nozone").Obj(),
	}
}

func TestFilter(t *testing.T) {
	existingAnti := "Unschedulable: " + interpodaffinity.ErrReasonExistingAntiAffinityRulesNotMatch
	anti := "Unschedulable: " + interpodaffinity.ErrReasonAntiAffinityRulesNotMatch
	aff := "UnschedulableAndUnresolvable: " + interpodaffinity.ErrReasonAffinityRulesNotMatch
	tests := []struct {
		name     string
		existing []*v1.Pod
		pod      *v1.Pod
		want     map[string]string
	}{
		{
			name:     "no affinity anywhere: skipped",
			existing: []*v1.Pod{schedtest.Pod("db").Node("a1").Label("app", "db").Obj()},
			pod:      schedtest.Pod("p").Obj(),
			want:     map[string]string{"a1": "", "a2": "", "b1": "", "nozone": ""},
		},
		{
			name:     "affinity to a zone holding a match",
			existing: []*v1.Pod{schedtest.Pod("db").Node("a1").Label("app", "db").Obj()},
			pod:      schedtest.Pod("p").PodAffinity(zone, "app", "db").Obj(),
			want:     map[string]string{"a1": "", "a2": "", "b1": aff, "nozone": aff},
		},
		{
			name:     "affinity by hostname",
			existing: []*v1.Pod{schedtest.Pod("db").Node("a1").Label("app", "db").Obj()},
			pod:      schedtest.Pod("p").PodAffinity(v1.LabelHostname, "app", "db").Obj(),
			want:     map[string]string{"a1": "", "a2": aff, "b1": aff, "nozone": aff},
		},
		{
			name: "affinity to pods of another namespace does not match",
			existing: []*v1.Pod{schedtest.Pod("db").Namespace("other").Node("a1").Label("app", "db").Obj(),
				schedtest.Pod("x").Node("b1").Label("app", "x").Obj()},
			pod:  schedtest.Pod("p").PodAffinity(zone, "app", "db").Label("app", "web").Obj(),
			want: map[string]string{"a1": aff, "a2": aff, "b1": aff, "nozone": aff},
		},
		{
			name:     "first pod of a group matching its own affinity goes anywhere with the key",
			existing: nil,
			pod:      schedtest.Pod("p").Label("app", "cache").PodAffinity(zone, "app", "cache").Obj(),
			want:     map[string]string{"a1": "", "a2": "", "b1": "", "nozone": aff},
		},
		{
			name:     "anti-affinity by zone",
			existing: []*v1.Pod{schedtest.Pod("web1").Node("a2").Label("app", "web").Obj()},
			pod:      schedtest.Pod("p").PodAntiAffinity(zone, "app", "web").Obj(),
			want:     map[string]string{"a1": anti, "a2": anti, "b1": "", "nozone": ""},
		},
		{
			// The symmetric case: the incoming pod has no affinity, but an
			// existing pod's anti-affinity rejects it.
			name:     "existing pod's anti-affinity keeps the incoming pod away",
			existing: []*v1.Pod{schedtest.Pod("loner").Node("b1").PodAntiAffinity(zone, "app", "web").Obj()},
			pod:      schedtest.Pod("p").Label("app", "web").Obj(),
			want:     map[string]string{"a1": "", "a2": "", "b1": existingAnti, "nozone": ""},
		},
		{
			name:     "existing anti-affinity that does not select the pod",
			existing: []*v1.Pod{schedtest.Pod("loner").Node("b1").PodAntiAffinity(zone, "app", "web").Obj()},
			pod:      schedtest.Pod("p").Label("app", "db").Obj(),
			want:     map[string]string{"a1": "", "a2": "", "b1": "", "nozone": ""},
		},
		{
			name: "affinity and anti-affinity together",
			existing: []*v1.Pod{
				schedtest.Pod("db-a").Node("a1").Label("app", "db").Obj(),
				schedtest.Pod("db-b").Node("b1").Label("app", "db").Obj(),
				schedtest.Pod("web").Node("a2").Label("app", "web").Obj(),
			},
			pod:  schedtest.Pod("p").PodAffinity(zone, "app", "db").PodAntiAffinity(v1.LabelHostname, "app", "web").Obj(),
			want: map[string]string{"a1": "", "a2": anti, "b1": "", "nozone": aff},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := plugintest.NewEnv(t, interpodaffinity.Name, interpodaffinity.New, nil, tc.existing, nodes(),
				&v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}})
			got, _ := env.Filter(t, tc.pod)
			if diff := cmp.Diff(tc.want, plugintest.Codes(got)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestNamespaceSelector(t *testing.T) {
	existing := []*v1.Pod{
		schedtest.Pod("db-prod").Namespace("prod").Node("a1").Label("app", "db").Obj(),
		schedtest.Pod("db-dev").Namespace("dev").Node("b1").Label("app", "db").Obj(),
	}
	pod := schedtest.Pod("p").Obj()
	pod.Spec.Affinity = &v1.Affinity{PodAffinity: &v1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{{
		TopologyKey:       v1.LabelHostname,
		LabelSelector:     &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}},
	}}}}
	env := plugintest.NewEnv(t, interpodaffinity.Name, interpodaffinity.New, nil, existing, nodes(),
		&v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "prod", Labels: map[string]string{"env": "prod"}}},
		&v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "dev", Labels: map[string]string{"env": "dev"}}},
		&v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}})
	got, _ := env.Filter(t, pod)
	aff := "UnschedulableAndUnresolvable: " + interpodaffinity.ErrReasonAffinityRulesNotMatch
	if diff := cmp.Diff(map[string]string{"a1": "", "a2": aff, "b1": aff, "nozone": aff}, plugintest.Codes(got)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestAddRemovePodKeepsCountsRight(t *testing.T) {
	web := schedtest.Pod("web").Node("a1").Label("app", "web").Obj()
	env := plugintest.NewEnv(t, interpodaffinity.Name, interpodaffinity.New, nil, []*v1.Pod{web}, nodes(),
		&v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}})
	pod := schedtest.Pod("p").PodAntiAffinity(zone, "app", "web").Obj()
	statuses, state := env.Filter(t, pod)
	if statuses["a2"].IsSuccess() {
		t.Fatalf("a2 should be blocked by web in zone a")
	}
	plugin := env.Plugin.(*interpodaffinity.InterPodAffinity)
	a1, _ := env.Snapshot.Get("a1")
	a2, _ := env.Snapshot.Get("a2")
	// Preemption removes web: zone a opens.
	if st := plugin.RemovePod(nil, state, pod, a1.Pods[0], a1); !st.IsSuccess() {
		t.Fatal(st)
	}
	if st := plugin.Filter(nil, state, pod, a2); !st.IsSuccess() {
		t.Errorf("after removing web, a2: %v", st)
	}
	if st := plugin.AddPod(nil, state, pod, a1.Pods[0], a1); !st.IsSuccess() {
		t.Fatal(st)
	}
	if st := plugin.Filter(nil, state, pod, a2); st.IsSuccess() {
		t.Errorf("after adding web back, a2 passes")
	}
}

func TestScore(t *testing.T) {
	existing := []*v1.Pod{
		schedtest.Pod("cache").Node("a1").Label("app", "cache").Obj(),
		schedtest.Pod("noisy").Node("b1").Label("app", "noisy").Obj(),
	}
	tests := []struct {
		name string
		pod  *v1.Pod
		want map[string]int64
	}{
		{"no terms: skipped", schedtest.Pod("p").Obj(), nil},
		// Zone a +10 (cache), zone b −10 (noisy): a1, a2 100; b1 0; nozone 50.
		{"preferred affinity and anti-affinity", schedtest.Pod("p").PreferredPodAffinity(10, zone, "app", "cache").
			PreferredPodAntiAffinity(10, zone, "app", "noisy").Obj(), map[string]int64{"a1": 100, "a2": 100, "b1": 0, "nozone": 50}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := plugintest.NewEnv(t, interpodaffinity.Name, interpodaffinity.New, nil, existing, nodes(),
				&v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}})
			if diff := cmp.Diff(tc.want, env.Score(t, tc.pod)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestScoreExistingPodsPreferences(t *testing.T) {
	// An existing pod that prefers (weight 50) to be near app=web pulls an
	// incoming web pod to its zone; another requires it (weight 1).
	existing := []*v1.Pod{
		schedtest.Pod("fan").Node("b1").PreferredPodAffinity(50, zone, "app", "web").Obj(),
		schedtest.Pod("needy").Node("a1").PodAffinity(v1.LabelHostname, "app", "web").Obj(),
	}
	env := plugintest.NewEnv(t, interpodaffinity.Name, interpodaffinity.New, nil, existing, nodes(),
		&v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}})
	got := env.Score(t, schedtest.Pod("web").Label("app", "web").Obj())
	// b1: 50, a1: 1, others 0 → normalized b1 100, a1 2.
	if diff := cmp.Diff(map[string]int64{"a1": 2, "a2": 0, "b1": 100, "nozone": 0}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
