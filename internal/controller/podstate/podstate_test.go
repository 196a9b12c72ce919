package podstate

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

var now = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

type opt func(*corev1.Pod)

func pod(name string, opts ...opt) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(name), CreationTimestamp: metav1.NewTime(now.Add(-time.Hour))},
		Spec: corev1.PodSpec{NodeName: "n"}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	for _, o := range opts {
		o(p)
	}
	return p
}

func readyFor(d time.Duration) opt {
	return func(p *corev1.Pod) {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(now.Add(-d))}}
	}
}
func phase(ph corev1.PodPhase) opt { return func(p *corev1.Pod) { p.Status.Phase = ph } }
func cost(c string) opt {
	return func(p *corev1.Pod) { p.Annotations = map[string]string{corev1.PodDeletionCost: c} }
}
func age(d time.Duration) opt {
	return func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(now.Add(-d)) }
}

func TestAvailability(t *testing.T) {
	tests := []struct {
		name      string
		pod       *corev1.Pod
		minReady  int32
		available bool
		in        time.Duration
	}{
		{"not ready", pod("p"), 0, false, 0},
		{"ready, no minReadySeconds", pod("p", readyFor(time.Second)), 0, true, 0},
		{"ready long enough", pod("p", readyFor(time.Minute)), 30, true, 0},
		{"ready, not yet long enough", pod("p", readyFor(10*time.Second)), 30, false, 20 * time.Second},
		{"exactly long enough", pod("p", readyFor(30*time.Second)), 30, true, 0},
	}
	for _, tc := range tests {
		if got := IsAvailable(tc.pod, tc.minReady, now); got != tc.available {
			t.Errorf("%s: IsAvailable = %v, want %v", tc.name, got, tc.available)
		}
		if got := AvailableIn(tc.pod, tc.minReady, now); got != tc.in {
			t.Errorf("%s: AvailableIn = %v, want %v", tc.name, got, tc.in)
		}
	}
}

func TestActiveAndTerminal(t *testing.T) {
	deleting := pod("d")
	deleting.DeletionTimestamp = &metav1.Time{Time: now}
	tests := []struct {
		pod              *corev1.Pod
		active, terminal bool
	}{
		{pod("r"), true, false},
		{pod("s", phase(corev1.PodSucceeded)), false, true},
		{pod("f", phase(corev1.PodFailed)), false, true},
		{pod("p", phase(corev1.PodPending)), true, false},
		{deleting, false, false},
	}
	for _, tc := range tests {
		if IsActive(tc.pod) != tc.active || IsTerminal(tc.pod) != tc.terminal {
			t.Errorf("%s: active %v terminal %v, want %v %v", tc.pod.Name, IsActive(tc.pod), IsTerminal(tc.pod), tc.active, tc.terminal)
		}
	}
}

func TestSortForDeletion(t *testing.T) {
	tests := []struct {
		name  string
		pods  []*corev1.Pod
		ranks []int
		want  []string
	}{
		{"deletion cost before readiness age", []*corev1.Pod{
			pod("expensive", readyFor(time.Minute), cost("100")), pod("cheap", readyFor(time.Hour), cost("-5")),
		}, nil, []string{"cheap", "expensive"}},
		{"not ready before cost", []*corev1.Pod{pod("ready", readyFor(time.Hour), cost("-100")), pod("notready")}, nil, []string{"notready", "ready"}},
		{"rank: doubled-up first", []*corev1.Pod{pod("alone", readyFor(time.Hour)), pod("crowded", readyFor(time.Hour))}, []int{1, 3}, []string{"crowded", "alone"}},
		{"similar ages tie, then uid", []*corev1.Pod{pod("b", age(70*time.Minute)), pod("a", age(65*time.Minute))}, nil, []string{"a", "b"}},
		{"much younger first", []*corev1.Pod{pod("old", age(10*time.Hour)), pod("young", age(time.Minute))}, nil, []string{"young", "old"}},
		{"unknown phase between pending and running", []*corev1.Pod{
			pod("run"), pod("unknown", phase(corev1.PodUnknown)), pod("pend", phase(corev1.PodPending)),
		}, nil, []string{"pend", "unknown", "run"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			SortForDeletion(tc.pods, tc.ranks, now)
			var got []string
			for _, p := range tc.pods {
				got = append(got, p.Name)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("order (-want +got):\n%s", diff)
			}
		})
	}
}
