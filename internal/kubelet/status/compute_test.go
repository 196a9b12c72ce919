package status

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var (
	t0  = metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	t1  = metav1.NewTime(t0.Add(time.Minute))
	now = metav1.NewTime(t0.Add(time.Hour))
)

func pod(policy corev1.RestartPolicy, inits []string, apps ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", Generation: 1}}
	p.Spec.RestartPolicy = policy
	for _, n := range inits {
		p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{Name: n, Image: "busybox"})
	}
	for _, n := range apps {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: n, Image: "busybox"})
	}
	return p
}

func running(attempt int) *Instance {
	return &Instance{ContainerID: "runc://a", Attempt: attempt, State: StateRunning, StartedAt: t0}
}

func exited(code int32, attempt int) *Instance {
	in := &Instance{ContainerID: "runc://b", Attempt: attempt, State: StateExited, ExitCode: code, StartedAt: t0, FinishedAt: t1}
	return in
}

func TestPhase(t *testing.T) {
	always, never, onFailure := corev1.RestartPolicyAlways, corev1.RestartPolicyNever, corev1.RestartPolicyOnFailure
	ready := func(in *Instance) Container { return Container{Current: in, Ready: true, Started: true} }
	tests := []struct {
		name       string
		pod        *corev1.Pod
		inits      map[string]Container
		apps       map[string]Container
		terminated bool
		want       corev1.PodPhase
	}{
		{name: "nothing yet", pod: pod(always, nil, "a"), want: corev1.PodPending},
		{name: "running", pod: pod(always, nil, "a"), apps: map[string]Container{"a": ready(running(0))}, want: corev1.PodRunning},
		{name: "one of two waiting", pod: pod(always, nil, "a", "b"), apps: map[string]Container{"a": ready(running(0))}, want: corev1.PodPending},
		{name: "never: all succeeded", pod: pod(never, nil, "a", "b"), apps: map[string]Container{"a": ready(exited(0, 0)), "b": ready(exited(0, 0))}, want: corev1.PodSucceeded},
		{name: "never: one failed", pod: pod(never, nil, "a", "b"), apps: map[string]Container{"a": ready(exited(0, 0)), "b": ready(exited(1, 0))}, want: corev1.PodFailed},
		{name: "never: one still runs", pod: pod(never, nil, "a", "b"), apps: map[string]Container{"a": ready(exited(1, 0)), "b": ready(running(0))}, want: corev1.PodRunning},
		{name: "onFailure: failed will restart", pod: pod(onFailure, nil, "a"), apps: map[string]Container{"a": ready(exited(1, 0))}, want: corev1.PodRunning},
		{name: "onFailure: succeeded", pod: pod(onFailure, nil, "a"), apps: map[string]Container{"a": ready(exited(0, 0))}, want: corev1.PodSucceeded},
		{name: "always: exited is restarted", pod: pod(always, nil, "a"), apps: map[string]Container{"a": ready(exited(0, 0))}, want: corev1.PodRunning},
		{name: "crash loop back-off", pod: pod(always, nil, "a"), apps: map[string]Container{"a": {Current: exited(1, 3), Waiting: &Waiting{Reason: ReasonCrashLoopBackOff}}}, want: corev1.PodRunning},
		{name: "image pull back-off, never ran", pod: pod(always, nil, "a"), apps: map[string]Container{"a": {Waiting: &Waiting{Reason: ReasonImagePullBackOff}}}, want: corev1.PodPending},
		{name: "init running", pod: pod(always, []string{"i"}, "a"), inits: map[string]Container{"i": ready(running(0))}, want: corev1.PodPending},
		{name: "init failed, never", pod: pod(never, []string{"i"}, "a"), inits: map[string]Container{"i": ready(exited(2, 0))}, want: corev1.PodFailed},
		{name: "init failed, always: retried", pod: pod(always, []string{"i"}, "a"), inits: map[string]Container{"i": {Current: exited(2, 0), Waiting: &Waiting{Reason: ReasonCrashLoopBackOff}}}, want: corev1.PodPending},
		{name: "init done, app running", pod: pod(always, []string{"i"}, "a"), inits: map[string]Container{"i": ready(exited(0, 0))}, apps: map[string]Container{"a": ready(running(0))}, want: corev1.PodRunning},
		{name: "deleted: stopped with errors", pod: pod(always, nil, "a"), apps: map[string]Container{"a": ready(exited(137, 0))}, terminated: true, want: corev1.PodFailed},
		{name: "deleted: all exited 0", pod: pod(always, nil, "a"), apps: map[string]Container{"a": ready(exited(0, 0))}, terminated: true, want: corev1.PodSucceeded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := Compute(Input{Pod: tc.pod, Now: now, Containers: tc.apps, InitContainers: tc.inits, Terminated: tc.terminated})
			if st.Phase != tc.want {
				t.Errorf("phase: got %s, want %s", st.Phase, tc.want)
			}
		})
	}
}

func TestContainerStates(t *testing.T) {
	p := pod(corev1.RestartPolicyAlways, nil, "a")
	tests := []struct {
		name string
		obs  Container
		want corev1.ContainerStatus
	}{
		{
			name: "not created yet",
			obs:  Container{},
			want: corev1.ContainerStatus{Name: "a", Image: "busybox", Started: new(bool),
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: ReasonContainerCreating}}},
		},
		{
			name: "running, ready",
			obs:  Container{Current: running(2), Previous: exited(1, 1), Ready: true, Started: true},
			want: corev1.ContainerStatus{Name: "a", Image: "busybox", Started: ptr(true), Ready: true, RestartCount: 2, ContainerID: "runc://a",
				State:                corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: t0}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: ReasonError, StartedAt: t0, FinishedAt: t1, ContainerID: "runc://b"}}},
		},
		{
			name: "running, readiness failing",
			obs:  Container{Current: running(0), Ready: false, Started: true},
			want: corev1.ContainerStatus{Name: "a", Image: "busybox", Started: ptr(true), ContainerID: "runc://a",
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: t0}}},
		},
		{
			name: "crash loop: waiting, last state the exit",
			obs:  Container{Current: exited(1, 4), Waiting: &Waiting{Reason: ReasonCrashLoopBackOff, Message: "back-off 40s"}},
			want: corev1.ContainerStatus{Name: "a", Image: "busybox", Started: new(bool), RestartCount: 4, ContainerID: "runc://b",
				State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: ReasonCrashLoopBackOff, Message: "back-off 40s"}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: ReasonError, StartedAt: t0, FinishedAt: t1, ContainerID: "runc://b"}}},
		},
		{
			name: "oom killed",
			obs:  Container{Current: &Instance{ContainerID: "runc://c", State: StateExited, ExitCode: 137, Reason: ReasonOOMKilled, StartedAt: t0, FinishedAt: t1}},
			want: corev1.ContainerStatus{Name: "a", Image: "busybox", Started: new(bool), ContainerID: "runc://c",
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: ReasonOOMKilled, StartedAt: t0, FinishedAt: t1, ContainerID: "runc://c"}}},
		},
		{
			name: "completed with a message",
			obs:  Container{Current: &Instance{ContainerID: "runc://c", State: StateExited, ExitCode: 0, Message: "bye", StartedAt: t0, FinishedAt: t1}},
			want: corev1.ContainerStatus{Name: "a", Image: "busybox", Started: new(bool), ContainerID: "runc://c",
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: ReasonCompleted, Message: "bye", StartedAt: t0, FinishedAt: t1, ContainerID: "runc://c"}}},
		},
		{
			name: "config error",
			obs:  Container{Waiting: &Waiting{Reason: ReasonCreateContainerConfigError, Message: `configmap "x" not found`}},
			want: corev1.ContainerStatus{Name: "a", Image: "busybox", Started: new(bool),
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: ReasonCreateContainerConfigError, Message: `configmap "x" not found`}}},
		},
		{
			name: "lost by the runtime",
			obs:  Container{Current: &Instance{ContainerID: "runc://d", State: StateUnknown}},
			want: corev1.ContainerStatus{Name: "a", Image: "busybox", Started: new(bool), ContainerID: "runc://d",
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: ReasonContainerStatusUnknown,
					Message: "The container could not be located when the pod was terminated", ContainerID: "runc://d"}}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := Compute(Input{Pod: p, Now: now, Containers: map[string]Container{"a": tc.obs}})
			if diff := cmp.Diff(tc.want, st.ContainerStatuses[0]); diff != "" {
				t.Errorf("container status (-want +got):\n%s", diff)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func condMap(cs []corev1.PodCondition) map[corev1.PodConditionType]corev1.PodCondition {
	m := map[corev1.PodConditionType]corev1.PodCondition{}
	for _, c := range cs {
		m[c.Type] = c
	}
	return m
}

func TestConditions(t *testing.T) {
	type want struct {
		status corev1.ConditionStatus
		reason string
	}
	tests := []struct {
		name    string
		pod     *corev1.Pod
		sandbox bool
		inits   map[string]Container
		apps    map[string]Container
		want    map[corev1.PodConditionType]want
	}{
		{
			name: "creating", pod: pod(corev1.RestartPolicyAlways, nil, "a"),
			want: map[corev1.PodConditionType]want{
				corev1.PodReadyToStartContainers: {corev1.ConditionFalse, ""},
				corev1.PodInitialized:            {corev1.ConditionTrue, ""},
				corev1.ContainersReady:           {corev1.ConditionFalse, ReasonContainersNotReady},
				corev1.PodReady:                  {corev1.ConditionFalse, ReasonContainersNotReady},
				corev1.PodScheduled:              {corev1.ConditionTrue, ""},
			},
		},
		{
			name: "all ready", pod: pod(corev1.RestartPolicyAlways, nil, "a"), sandbox: true,
			apps: map[string]Container{"a": {Current: running(0), Ready: true, Started: true}},
			want: map[corev1.PodConditionType]want{
				corev1.PodReadyToStartContainers: {corev1.ConditionTrue, ""},
				corev1.PodInitialized:            {corev1.ConditionTrue, ""},
				corev1.ContainersReady:           {corev1.ConditionTrue, ""},
				corev1.PodReady:                  {corev1.ConditionTrue, ""},
			},
		},
		{
			name: "readiness fails", pod: pod(corev1.RestartPolicyAlways, nil, "a"), sandbox: true,
			apps: map[string]Container{"a": {Current: running(0), Ready: false, Started: true}},
			want: map[corev1.PodConditionType]want{
				corev1.ContainersReady: {corev1.ConditionFalse, ReasonContainersNotReady},
				corev1.PodReady:        {corev1.ConditionFalse, ReasonContainersNotReady},
			},
		},
		{
			name: "init pending", pod: pod(corev1.RestartPolicyAlways, []string{"i"}, "a"), sandbox: true,
			inits: map[string]Container{"i": {Current: running(0)}},
			want: map[corev1.PodConditionType]want{
				corev1.PodInitialized:  {corev1.ConditionFalse, ReasonContainersNotInitialized},
				corev1.ContainersReady: {corev1.ConditionFalse, ReasonContainersNotReady},
			},
		},
		{
			name: "completed", pod: pod(corev1.RestartPolicyNever, nil, "a"), sandbox: true,
			apps: map[string]Container{"a": {Current: exited(0, 0)}},
			want: map[corev1.PodConditionType]want{
				corev1.PodReadyToStartContainers: {corev1.ConditionFalse, ""},
				corev1.ContainersReady:           {corev1.ConditionFalse, ReasonPodCompleted},
				corev1.PodReady:                  {corev1.ConditionFalse, ReasonPodCompleted},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := Compute(Input{Pod: tc.pod, Now: now, SandboxReady: tc.sandbox, Containers: tc.apps, InitContainers: tc.inits})
			got := condMap(st.Conditions)
			for typ, w := range tc.want {
				c, ok := got[typ]
				if !ok {
					t.Errorf("condition %s missing", typ)
					continue
				}
				if c.Status != w.status || c.Reason != w.reason {
					t.Errorf("condition %s: got %s/%q, want %s/%q", typ, c.Status, c.Reason, w.status, w.reason)
				}
			}
		})
	}
}

func TestTransitionTimesKept(t *testing.T) {
	p := pod(corev1.RestartPolicyAlways, nil, "a")
	obs := map[string]Container{"a": {Current: running(0), Ready: true, Started: true}}
	first := Compute(Input{Pod: p, Now: t0, SandboxReady: true, Containers: obs})
	p.Status = first
	second := Compute(Input{Pod: p, Now: t1, SandboxReady: true, Containers: obs})
	if diff := cmp.Diff(first, second); diff != "" {
		t.Errorf("an unchanged pod's status changed (-first +second):\n%s", diff)
	}
	obs["a"] = Container{Current: running(0), Ready: false, Started: true}
	third := Compute(Input{Pod: p, Now: t1, SandboxReady: true, Containers: obs})
	c := condMap(third.Conditions)[corev1.PodReady]
	if !c.LastTransitionTime.Equal(&t1) {
		t.Errorf("Ready transition time: got %v, want %v", c.LastTransitionTime, t1)
	}
	if c2 := condMap(third.Conditions)[corev1.PodInitialized]; !c2.LastTransitionTime.Equal(&t0) {
		t.Errorf("Initialized transition time: got %v, want %v", c2.LastTransitionTime, t0)
	}
}

func TestTerminalIsFinal(t *testing.T) {
	p := pod(corev1.RestartPolicyAlways, nil, "a")
	p.Status.Phase = corev1.PodFailed
	p.Status.Reason = ReasonDeadlineExceeded
	st := Compute(Input{Pod: p, Now: now, Containers: map[string]Container{"a": {Current: running(0), Ready: true, Started: true}}})
	if st.Phase != corev1.PodFailed || st.Reason != ReasonDeadlineExceeded {
		t.Errorf("got %s/%s, want Failed/DeadlineExceeded", st.Phase, st.Reason)
	}
}

func TestDeadlineAndIPs(t *testing.T) {
	p := pod(corev1.RestartPolicyAlways, nil, "a")
	st := Compute(Input{Pod: p, Now: now, DeadlineExceeded: true, HostIPs: []string{"10.0.0.1"}, PodIPs: []string{"10.42.0.5"}})
	want := corev1.PodStatus{Phase: corev1.PodFailed, Reason: ReasonDeadlineExceeded, HostIP: "10.0.0.1", PodIP: "10.42.0.5"}
	got := corev1.PodStatus{Phase: st.Phase, Reason: st.Reason, HostIP: st.HostIP, PodIP: st.PodIP}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if len(st.HostIPs) != 1 || len(st.PodIPs) != 1 || st.StartTime == nil || !st.StartTime.Equal(&now) {
		t.Errorf("hostIPs %v podIPs %v startTime %v", st.HostIPs, st.PodIPs, st.StartTime)
	}
}

func TestSidecarInitialization(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	p := pod(corev1.RestartPolicyAlways, []string{"side"}, "a")
	p.Spec.InitContainers[0].RestartPolicy = &always
	st := Compute(Input{Pod: p, Now: now, InitContainers: map[string]Container{"side": {Current: running(0), Started: false}}})
	if c := condMap(st.Conditions)[corev1.PodInitialized]; c.Status != corev1.ConditionFalse {
		t.Errorf("sidecar not started: Initialized %s, want False", c.Status)
	}
	st = Compute(Input{Pod: p, Now: now, InitContainers: map[string]Container{"side": {Current: running(0), Started: true, Ready: true}},
		Containers: map[string]Container{"a": {Current: running(0), Started: true, Ready: true}}})
	if c := condMap(st.Conditions)[corev1.PodInitialized]; c.Status != corev1.ConditionTrue {
		t.Errorf("sidecar started: Initialized %s, want True", c.Status)
	}
	if st.Phase != corev1.PodRunning {
		t.Errorf("phase %s, want Running", st.Phase)
	}
}
