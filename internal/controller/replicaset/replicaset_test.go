package replicaset

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	k8stesting "k8s.io/client-go/testing"

	"github.com/podvisor/podvisor/internal/controller/ownerref"
	"github.com/podvisor/podvisor/internal/controller/reconcile"
	"github.com/podvisor/podvisor/internal/testutil/controllertest"
)

func newRS(name string, replicas int32) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("uid-" + name), Generation: 3},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name, "tier": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
			},
		},
	}
}

type podOpt func(*corev1.Pod)

func newPod(name string, owner *appsv1.ReplicaSet, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "ns", Name: name, UID: types.UID("uid-" + name),
			Labels:            map[string]string{"app": owner.Name, "tier": "web"},
			CreationTimestamp: metav1.NewTime(controllertest.Start.Add(-time.Hour)),
			ResourceVersion:   "1",
		},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	p.OwnerReferences = []metav1.OwnerReference{*ownerref.New(owner, Kind)}
	p.Spec.NodeName = "node-a"
	for _, o := range opts {
		o(p)
	}
	return p
}

func orphan(p *corev1.Pod)        { p.OwnerReferences = nil }
func unscheduled(p *corev1.Pod)   { p.Spec.NodeName = "" }
func pending(p *corev1.Pod)       { p.Status.Phase = corev1.PodPending }
func onNode(n string) podOpt      { return func(p *corev1.Pod) { p.Spec.NodeName = n } }
func labelled(k, v string) podOpt { return func(p *corev1.Pod) { p.Labels[k] = v } }
func created(ago time.Duration) podOpt {
	return func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(controllertest.Start.Add(-ago)) }
}
func restarts(n int32) podOpt {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c", RestartCount: n}}
	}
}
func ready(since time.Duration) podOpt {
	return func(p *corev1.Pod) {
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{
			Type: corev1.PodReady, Status: corev1.ConditionTrue,
			LastTransitionTime: metav1.NewTime(controllertest.Start.Add(-since)),
		})
	}
}
func ownedBy(uid types.UID) podOpt {
	return func(p *corev1.Pod) { p.OwnerReferences[0].UID = uid; p.OwnerReferences[0].Name = "other" }
}

// setup builds a controller over rs and pods, seeded in both the clientset
// and the informer caches.
func setup(t *testing.T, rs *appsv1.ReplicaSet, pods ...*corev1.Pod) (*Controller, *controllertest.Env) {
	t.Helper()
	objs := []runtime.Object{rs}
	for _, p := range pods {
		objs = append(objs, p)
	}
	env := controllertest.New(t, objs...)
	c, err := New(Config{}, env.Deps)
	if err != nil {
		t.Fatal(err)
	}
	controllertest.Seed(t, env.Deps.Informers.Apps().V1().ReplicaSets().Informer(), rs)
	for _, p := range pods {
		controllertest.Seed(t, env.Deps.Informers.Core().V1().Pods().Informer(), p)
	}
	return c, env
}

func TestSyncCreatesMissingPods(t *testing.T) {
	rs := newRS("web", 5)
	c, env := setup(t, rs, newPod("web-1", rs))
	if err := c.Sync(context.Background(), "ns/web"); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	pods := env.Created("pods")
	if len(pods) != 4 {
		t.Fatalf("created %d pods, want 4", len(pods))
	}
	p := pods[0].(*corev1.Pod)
	if p.GenerateName != "web-" || p.Namespace != "ns" {
		t.Errorf("pod generateName %q namespace %q, want web- and ns", p.GenerateName, p.Namespace)
	}
	if diff := cmp.Diff(rs.Spec.Template.Labels, p.Labels); diff != "" {
		t.Errorf("pod labels (-template +pod):\n%s", diff)
	}
	ref := ownerref.Controller(p)
	if ref == nil || ref.UID != rs.UID || ref.Kind != "ReplicaSet" || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
		t.Errorf("pod controllerRef = %+v, want ReplicaSet %s with blockOwnerDeletion", ref, rs.UID)
	}
	// The creations are in flight: a second sync on the same (stale)
	// cache must not create again.
	env.Client.ClearActions()
	if err := c.Sync(context.Background(), "ns/web"); err != nil {
		t.Fatalf("second Sync: %v", err)
	}
	if n := len(env.Created("pods")); n != 0 {
		t.Errorf("second sync on a stale cache created %d pods, want 0", n)
	}
	// Once the informer has seen the 4 pods, the expectations are met.
	for _, o := range pods {
		c.addPod(o)
	}
	if !c.exp.Satisfied("ns/web") {
		t.Error("expectations not satisfied after observing every creation")
	}
}

func TestSlowStartStopsOnFailure(t *testing.T) {
	rs := newRS("web", 10)
	c, env := setup(t, rs)
	var calls atomic.Int32
	env.Client.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		if calls.Add(1) >= 3 {
			return true, nil, errors.New("quota exceeded")
		}
		return false, nil, nil
	})
	err := c.Sync(context.Background(), "ns/web")
	if err == nil || !strings.Contains(err.Error(), "quota exceeded") {
		t.Fatalf("Sync error = %v, want the create error", err)
	}
	// Batches 1 and 2 (3 calls), the third failing: no batch of 4 is tried.
	if got := calls.Load(); got != 3 {
		t.Errorf("create calls = %d, want 3 (batches of 1 and 2)", got)
	}
	// Failed and skipped creations are not expected: the next sync may act.
	if !c.exp.Satisfied("ns/web") {
		// 2 created and unobserved yet; observe them.
		for _, o := range env.Created("pods")[:2] {
			c.addPod(o)
		}
	}
	if !c.exp.Satisfied("ns/web") {
		t.Error("expectations still waiting for creations that failed or were skipped")
	}
	st := env.LastUpdate("replicasets", "status").(*appsv1.ReplicaSet).Status
	if len(st.Conditions) != 1 || st.Conditions[0].Type != appsv1.ReplicaSetReplicaFailure || st.Conditions[0].Reason != "FailedCreate" {
		t.Errorf("conditions = %+v, want ReplicaFailure/FailedCreate", st.Conditions)
	}
	if ev := env.Events(); len(ev) == 0 || !strings.Contains(strings.Join(ev, "\n"), "FailedCreate") {
		t.Errorf("events = %v, want a FailedCreate warning", ev)
	}
}

func TestSlowStartBatches(t *testing.T) {
	tests := []struct {
		name      string
		count     int
		failAt    int // the call number (1-based) that fails; 0 never
		wantCalls int
		wantOK    int
	}{
		{"zero", 0, 0, 0, 0},
		{"one", 1, 0, 1, 1},
		{"all succeed", 10, 0, 10, 10},
		{"first fails", 10, 1, 1, 0},
		{"fails in the batch of 4", 10, 5, 7, 6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			ok, err := SlowStart(tc.count, 1, func() error {
				if n := calls.Add(1); tc.failAt != 0 && int(n) == tc.failAt {
					return errors.New("boom")
				}
				return nil
			})
			if int(calls.Load()) != tc.wantCalls || ok != tc.wantOK {
				t.Errorf("calls=%d ok=%d, want calls=%d ok=%d", calls.Load(), ok, tc.wantCalls, tc.wantOK)
			}
			if (err != nil) != (tc.failAt != 0) {
				t.Errorf("err = %v, want error %v", err, tc.failAt != 0)
			}
		})
	}
}

func TestDeletionPreference(t *testing.T) {
	rs := newRS("web", 0)
	tests := []struct {
		name     string
		replicas int32
		pods     []*corev1.Pod
		want     []string
	}{
		{
			name:     "unscheduled before scheduled",
			replicas: 1,
			pods:     []*corev1.Pod{newPod("a", rs, ready(time.Hour)), newPod("b", rs, unscheduled, pending)},
			want:     []string{"b"},
		},
		{
			name:     "pending before running",
			replicas: 1,
			pods:     []*corev1.Pod{newPod("a", rs, ready(time.Hour)), newPod("b", rs, pending)},
			want:     []string{"b"},
		},
		{
			name:     "not ready before ready",
			replicas: 1,
			pods:     []*corev1.Pod{newPod("a", rs, ready(time.Hour)), newPod("b", rs)},
			want:     []string{"b"},
		},
		{
			name:     "ready for less time first",
			replicas: 1,
			pods:     []*corev1.Pod{newPod("a", rs, ready(10*time.Hour)), newPod("b", rs, ready(time.Minute))},
			want:     []string{"b"},
		},
		{
			name:     "more restarts first",
			replicas: 1,
			pods:     []*corev1.Pod{newPod("a", rs, ready(time.Hour), restarts(1)), newPod("b", rs, ready(time.Hour), restarts(7))},
			want:     []string{"b"},
		},
		{
			name:     "newer first",
			replicas: 1,
			pods:     []*corev1.Pod{newPod("a", rs, created(48*time.Hour)), newPod("b", rs, created(time.Minute))},
			want:     []string{"b"},
		},
		{
			name:     "doubled-up node first",
			replicas: 2,
			pods: []*corev1.Pod{
				newPod("a", rs, ready(time.Hour), onNode("n1")), newPod("b", rs, ready(time.Hour), onNode("n2")),
				newPod("c", rs, ready(time.Hour), onNode("n2")),
			},
			want: []string{"b"},
		},
		{
			name:     "full order over five pods",
			replicas: 1,
			pods: []*corev1.Pod{
				newPod("ready-old", rs, ready(10*time.Hour), created(20*time.Hour)),
				newPod("ready-new", rs, ready(time.Minute), created(2*time.Minute)),
				newPod("running-not-ready", rs),
				newPod("pending", rs, pending),
				newPod("unscheduled", rs, unscheduled, pending),
			},
			want: []string{"pending", "ready-new", "running-not-ready", "unscheduled"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRS("web", tc.replicas)
			c, env := setup(t, r, tc.pods...)
			if err := c.Sync(context.Background(), "ns/web"); err != nil {
				t.Fatalf("Sync: %v", err)
			}
			if diff := cmp.Diff(tc.want, env.Deleted("pods")); diff != "" {
				t.Errorf("deleted pods (-want +got):\n%s", diff)
			}
			// Deletions in flight: no second round on the stale cache.
			env.Client.ClearActions()
			if err := c.Sync(context.Background(), "ns/web"); err != nil {
				t.Fatalf("second Sync: %v", err)
			}
			if got := env.Deleted("pods"); len(got) != 0 {
				t.Errorf("second sync deleted %v on a stale cache", got)
			}
		})
	}
}

func TestClaimAdoptsAndReleases(t *testing.T) {
	rs := newRS("web", 3)
	mine := newPod("mine", rs)
	stray := newPod("stray", rs, orphan)
	foreign := newPod("foreign", rs, ownedBy("someone-else"))
	unmatched := newPod("unmatched", rs, labelled("app", "other"))
	c, env := setup(t, rs, mine, stray, foreign, unmatched)
	if err := c.Sync(context.Background(), "ns/web"); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	var patched []string
	for _, a := range env.Client.Actions() {
		if pa, ok := a.(k8stesting.PatchAction); ok {
			patched = append(patched, fmt.Sprintf("%s %s", pa.GetName(), pa.GetPatch()))
		}
	}
	sort.Strings(patched)
	if len(patched) != 2 {
		t.Fatalf("patches = %v, want an adoption of stray and a release of unmatched", patched)
	}
	if !strings.HasPrefix(patched[0], "stray ") || !strings.Contains(patched[0], `"controller":true`) || !strings.Contains(patched[0], `"uid":"uid-stray"`) {
		t.Errorf("adoption patch = %s", patched[0])
	}
	if !strings.HasPrefix(patched[1], "unmatched ") || !strings.Contains(patched[1], `"$patch":"delete"`) || !strings.Contains(patched[1], `"uid":"uid-web"`) {
		t.Errorf("release patch = %s", patched[1])
	}
	// The adopted pod counts: mine + stray = 2 of 3, so one is created.
	if n := len(env.Created("pods")); n != 1 {
		t.Errorf("created %d pods, want 1", n)
	}
	got, err := env.Client.CoreV1().Pods("ns").Get(context.Background(), "stray", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !ownerref.IsControlledBy(got, rs.UID) {
		t.Errorf("stray's owner references after adoption = %+v", got.OwnerReferences)
	}
	got, err = env.Client.CoreV1().Pods("ns").Get(context.Background(), "unmatched", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.OwnerReferences) != 0 {
		t.Errorf("unmatched's owner references after release = %+v, want none", got.OwnerReferences)
	}
}

func TestNoAdoptionWhenOwnerRecreated(t *testing.T) {
	rs := newRS("web", 1)
	stray := newPod("stray", rs, orphan)
	c, env := setup(t, rs, stray)
	// The API server has a new ReplicaSet of the same name.
	fresh := rs.DeepCopy()
	fresh.UID = "new-uid"
	if err := env.Client.Tracker().Update(appsv1.SchemeGroupVersion.WithResource("replicasets"), fresh, "ns"); err != nil {
		t.Fatal(err)
	}
	err := c.Sync(context.Background(), "ns/web")
	if err == nil || !strings.Contains(err.Error(), "recreated") {
		t.Fatalf("Sync error = %v, want a refusal to adopt", err)
	}
	for _, a := range env.Client.Actions() {
		if a.GetVerb() == "patch" {
			t.Errorf("patched %s although the owner was recreated", controllertest.Describe(a))
		}
	}
}

func TestStatus(t *testing.T) {
	rs := newRS("web", 3)
	rs.Spec.MinReadySeconds = 60
	deleting := newPod("going", rs, ready(time.Hour))
	deleting.DeletionTimestamp = &metav1.Time{Time: controllertest.Start}
	c, env := setup(t, rs,
		newPod("avail", rs, ready(time.Hour)),
		newPod("fresh", rs, ready(10*time.Second)),
		newPod("mislabelled", rs, func(p *corev1.Pod) { delete(p.Labels, "tier") }),
		deleting,
		newPod("done", rs, func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }),
	)
	err := c.Sync(context.Background(), "ns/web")
	var wantWait = 50 * time.Second
	if err == nil || err.Error() != reconcile.RequeueAfter(wantWait).Error() {
		t.Errorf("Sync = %v, want a requeue after %v (when 'fresh' becomes available)", err, wantWait)
	}
	got := env.LastUpdate("replicasets", "status").(*appsv1.ReplicaSet).Status
	term := int32(1)
	want := appsv1.ReplicaSetStatus{
		Replicas: 3, FullyLabeledReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 1,
		TerminatingReplicas: &term, ObservedGeneration: 3,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
	// The terminating pod does not count: one pod is created for it.
	if n := len(env.Created("pods")); n != 0 {
		t.Errorf("created %d pods; want 0 (3 active pods for 3 replicas)", n)
	}
	// A minute later 'fresh' is available too.
	env.Clock.Step(time.Minute)
	env.Client.ClearActions()
	controllertest.Seed(t, env.Deps.Informers.Apps().V1().ReplicaSets().Informer(), func() *appsv1.ReplicaSet {
		x := rs.DeepCopy()
		x.Status = got
		return x
	}())
	if err := c.Sync(context.Background(), "ns/web"); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if got := env.LastUpdate("replicasets", "status").(*appsv1.ReplicaSet).Status.AvailableReplicas; got != 2 {
		t.Errorf("availableReplicas after minReadySeconds = %d, want 2", got)
	}
}

func TestDeletedReplicaSetForgotten(t *testing.T) {
	env := controllertest.New(t)
	c, err := New(Config{}, env.Deps)
	if err != nil {
		t.Fatal(err)
	}
	c.exp.ExpectCreations("ns/gone", 3)
	if err := c.Sync(context.Background(), "ns/gone"); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if !c.exp.Satisfied("ns/gone") {
		t.Error("expectations of a deleted ReplicaSet kept")
	}
	if w := env.Writes(); len(w) != 0 {
		t.Errorf("writes for a deleted ReplicaSet: %v", w)
	}
}
