package kubelet

import (
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/podvisor/podvisor/internal/runtime/oci"
)

type inst struct {
	name    string
	attempt int
	state   oci.State
	code    int
}

func podWith(policy corev1.RestartPolicy, inits, sidecars, apps []string) *corev1.Pod {
	p := &corev1.Pod{}
	p.Spec.RestartPolicy = policy
	always := corev1.ContainerRestartPolicyAlways
	for _, n := range sidecars {
		p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{Name: n, Image: "img", RestartPolicy: &always})
	}
	for _, n := range inits {
		p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{Name: n, Image: "img"})
	}
	for _, n := range apps {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: n, Image: "img"})
	}
	return p
}

func TestComputeActions(t *testing.T) {
	always, never, onFailure := corev1.RestartPolicyAlways, corev1.RestartPolicyNever, corev1.RestartPolicyOnFailure
	type want struct {
		start      []string // name/attempt
		kill       []string
		backoff    []string
		initFailed bool
		complete   bool
	}
	tests := []struct {
		name        string
		pod         *corev1.Pod
		instances   []inst
		unhealthy   map[string]string
		notStarted  map[string]bool
		inBackoff   map[string]bool
		initialized bool
		want        want
	}{
		{name: "fresh pod starts its containers", pod: podWith(always, nil, nil, []string{"a", "b"}),
			want: want{start: []string{"a/0", "b/0"}}},
		{name: "running pod: nothing to do", pod: podWith(always, nil, nil, []string{"a"}),
			instances: []inst{{"a", 0, oci.StateRunning, 0}}},
		{name: "first init container first", pod: podWith(always, []string{"i1", "i2"}, nil, []string{"a"}),
			want: want{start: []string{"i1/0"}}},
		{name: "second init after the first succeeded", pod: podWith(always, []string{"i1", "i2"}, nil, []string{"a"}),
			instances: []inst{{"i1", 0, oci.StateExited, 0}},
			want:      want{start: []string{"i2/0"}}},
		{name: "apps after all inits", pod: podWith(always, []string{"i1"}, nil, []string{"a"}),
			instances: []inst{{"i1", 0, oci.StateExited, 0}},
			want:      want{start: []string{"a/0"}}},
		{name: "init running: wait", pod: podWith(always, []string{"i1"}, nil, []string{"a"}),
			instances: []inst{{"i1", 0, oci.StateRunning, 0}}},
		{name: "failed init restarted", pod: podWith(always, []string{"i1"}, nil, []string{"a"}),
			instances: []inst{{"i1", 0, oci.StateExited, 3}},
			want:      want{start: []string{"i1/1"}}},
		{name: "failed init in back-off", pod: podWith(onFailure, []string{"i1"}, nil, []string{"a"}),
			instances: []inst{{"i1", 2, oci.StateExited, 3}}, inBackoff: map[string]bool{"i1": true},
			want: want{backoff: []string{"i1"}}},
		{name: "failed init, never: pod fails", pod: podWith(never, []string{"i1"}, nil, []string{"a"}),
			instances: []inst{{"i1", 0, oci.StateExited, 3}},
			want:      want{initFailed: true, complete: true}},
		{name: "initialized pod does not rerun inits", pod: podWith(always, []string{"i1"}, nil, []string{"a"}),
			initialized: true,
			want:        want{start: []string{"a/0"}}},
		{name: "sidecar started before the init container", pod: podWith(always, []string{"i1"}, []string{"s"}, []string{"a"}),
			want: want{start: []string{"s/0"}}},
		{name: "sidecar running but not started (startup probe): wait", pod: podWith(always, []string{"i1"}, []string{"s"}, []string{"a"}),
			instances: []inst{{"s", 0, oci.StateRunning, 0}}, notStarted: map[string]bool{"s": true}},
		{name: "sidecar started: init runs", pod: podWith(always, []string{"i1"}, []string{"s"}, []string{"a"}),
			instances: []inst{{"s", 0, oci.StateRunning, 0}},
			want:      want{start: []string{"i1/0"}}},
		{name: "sidecar exited while app runs: restarted", pod: podWith(never, nil, []string{"s"}, []string{"a"}),
			instances: []inst{{"s", 0, oci.StateExited, 1}, {"a", 0, oci.StateRunning, 0}},
			want:      want{start: []string{"s/1"}}},
		{name: "always: exited app restarted", pod: podWith(always, nil, nil, []string{"a"}),
			instances: []inst{{"a", 0, oci.StateExited, 0}},
			want:      want{start: []string{"a/1"}}},
		{name: "always: crash loop back-off", pod: podWith(always, nil, nil, []string{"a"}),
			instances: []inst{{"a", 0, oci.StateExited, 0}, {"a", 1, oci.StateExited, 2}}, inBackoff: map[string]bool{"a": true},
			want: want{backoff: []string{"a"}}},
		{name: "onFailure: success is final", pod: podWith(onFailure, nil, nil, []string{"a"}),
			instances: []inst{{"a", 0, oci.StateExited, 0}},
			want:      want{complete: true}},
		{name: "onFailure: failure restarted", pod: podWith(onFailure, nil, nil, []string{"a"}),
			instances: []inst{{"a", 0, oci.StateExited, 1}},
			want:      want{start: []string{"a/1"}}},
		{name: "never: done when all exited", pod: podWith(never, nil, []string{"s"}, []string{"a", "b"}),
			instances: []inst{{"s", 0, oci.StateRunning, 0}, {"a", 0, oci.StateExited, 1}, {"b", 0, oci.StateExited, 0}},
			want:      want{complete: true}},
		{name: "never: not done while one runs", pod: podWith(never, nil, nil, []string{"a", "b"}),
			instances: []inst{{"a", 0, oci.StateExited, 1}, {"b", 0, oci.StateRunning, 0}}},
		{name: "liveness failure kills", pod: podWith(always, nil, nil, []string{"a"}),
			instances: []inst{{"a", 0, oci.StateRunning, 0}}, unhealthy: map[string]string{"a-0": "liveness"},
			want: want{kill: []string{"a-0"}}},
		{name: "created but never started: replaced", pod: podWith(always, nil, nil, []string{"a"}),
			instances: []inst{{"a", 2, oci.StateCreated, 0}},
			want:      want{start: []string{"a/2"}}},
		{name: "lost container restarted", pod: podWith(always, nil, nil, []string{"a"}),
			instances: []inst{{"a", 0, oci.StateUnknown, 0}},
			want:      want{start: []string{"a/1"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := actionInput{
				pod: tc.pod, instances: map[string][]oci.ContainerStatus{}, unhealthy: tc.unhealthy,
				initialized: tc.initialized,
				started:     func(name, id string) bool { return !tc.notStarted[name] },
				backoff: func(name string, _ time.Time) time.Duration {
					if tc.inBackoff[name] {
						return 10 * time.Second
					}
					return 0
				},
			}
			for _, i := range tc.instances {
				st := oci.ContainerStatus{ID: i.name + "-" + string(rune('0'+i.attempt)), Name: i.name, Attempt: i.attempt, State: i.state, ExitCode: i.code,
					Labels: map[string]string{labelImage: "img"}}
				in.instances[i.name] = append(in.instances[i.name], st)
			}
			a := computeActions(in)
			var got want
			for _, s := range a.start {
				got.start = append(got.start, s.c.Name+"/"+string(rune('0'+s.attempt)))
			}
			for _, k := range a.kill {
				got.kill = append(got.kill, k.id)
			}
			for n := range a.backoff {
				got.backoff = append(got.backoff, n)
			}
			sort.Strings(got.backoff)
			got.initFailed, got.complete = a.initFailed, a.complete
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestImageChangeRestarts(t *testing.T) {
	pod := podWith(corev1.RestartPolicyAlways, nil, nil, []string{"a"})
	pod.Spec.Containers[0].Image = "img:v2"
	in := actionInput{pod: pod, started: func(string, string) bool { return true }, backoff: func(string, time.Time) time.Duration { return 0 },
		instances: map[string][]oci.ContainerStatus{"a": {{ID: "x", Name: "a", State: oci.StateRunning, Labels: map[string]string{labelImage: "img:v1"}}}}}
	a := computeActions(in)
	if len(a.kill) != 1 || a.kill[0].id != "x" {
		t.Errorf("image change: kills %+v", a.kill)
	}
}

func TestBackoff(t *testing.T) {
	b := newBackoff(10*time.Second, 40*time.Second)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if d := b.remaining("c", t0, t0); d != 0 {
		t.Fatalf("first restart waits %v", d)
	}
	b.next("c", t0)
	exit := t0.Add(time.Second)
	var got []time.Duration
	for i := 0; i < 5; i++ {
		got = append(got, b.remaining("c", exit, exit))
		b.next("c", exit)
	}
	want := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 40 * time.Second, 40 * time.Second}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("delays (-want +got):\n%s", diff)
	}
	later := exit.Add(81 * time.Second)
	if d := b.remaining("c", later, later); d != 0 {
		t.Errorf("after 2×max without restarts: waits %v, want 0", d)
	}
}
