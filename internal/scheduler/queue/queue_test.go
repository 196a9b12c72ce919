package queue

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/podvisor/podvisor/internal/scheduler/framework"
	"github.com/podvisor/podvisor/internal/testutil/schedtest"
)

func less(a, b *framework.QueuedPodInfo) bool {
	pa, pb := framework.PodPriority(a.Pod), framework.PodPriority(b.Pod)
	if pa != pb {
		return pa > pb
	}
	return a.Timestamp.Before(b.Timestamp)
}

var nodeAdd = framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add}

// events: "Fit" wants node adds of big nodes (label size=big) and
// assigned pod deletes; "Taint" wants node taint updates.
func testEvents() map[string][]framework.ClusterEventWithHint {
	return map[string][]framework.ClusterEventWithHint{
		"Fit": {
			{Event: framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add | framework.UpdateNodeAllocatable},
				QueueingHintFn: func(_ *slog.Logger, _ *v1.Pod, _, newObj any) (framework.QueueingHint, error) {
					if newObj.(*v1.Node).Labels["size"] == "big" {
						return framework.Queue, nil
					}
					return framework.QueueSkip, nil
				}},
			{Event: framework.EventAssignedPodDelete},
		},
		"Taint": {{Event: framework.ClusterEvent{Resource: framework.Node, ActionType: framework.UpdateNodeTaint}}},
	}
}

func newQueue() (*Queue, *clocktesting.FakeClock) {
	clk := clocktesting.NewFakeClock(time.Unix(1700000000, 0))
	return New(Options{Less: less, Events: testEvents(), Clock: clk,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}), clk
}

func pop(t *testing.T, q *Queue) *framework.QueuedPodInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, err := q.Pop(ctx)
	if err != nil {
		t.Fatalf("pop: %v", err)
	}
	return p
}

// fail pops pod and puts it back as rejected by plugins.
func failWith(t *testing.T, q *Queue, isError bool, plugins ...string) *framework.QueuedPodInfo {
	t.Helper()
	p := pop(t, q)
	p.UnschedulablePlugins = sets.New(plugins...)
	q.AddUnschedulableIfNotPresent(p, isError)
	q.Done(p.Pod.UID)
	return p
}

func TestPopOrder(t *testing.T) {
	q, clk := newQueue()
	q.Add(schedtest.Pod("low").Priority(1).Obj())
	clk.Step(time.Second)
	q.Add(schedtest.Pod("high").Priority(10).Obj())
	clk.Step(time.Second)
	q.Add(schedtest.Pod("low-later").Priority(1).Obj())
	var got []string
	for i := 0; i < 3; i++ {
		got = append(got, pop(t, q).Pod.Name)
	}
	if diff := cmp.Diff([]string{"high", "low", "low-later"}, got); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}

func TestBackoffIsExponentialAndCapped(t *testing.T) {
	q, clk := newQueue()
	q.Add(schedtest.Pod("p").Obj())
	want := []time.Duration{1, 2, 4, 8, 10, 10}
	for i, w := range want {
		failWith(t, q, true)
		if where := q.Where("uid-p"); where != "backoff" {
			t.Fatalf("attempt %d: pod in %q, want backoff", i+1, where)
		}
		clk.Step(w*time.Second - time.Millisecond)
		q.FlushBackoffCompleted()
		if q.Where("uid-p") != "backoff" {
			t.Fatalf("attempt %d: left back-off before %v", i+1, w*time.Second)
		}
		clk.Step(time.Millisecond)
		q.FlushBackoffCompleted()
		if where := q.Where("uid-p"); where != "active" {
			t.Fatalf("attempt %d: after %v the pod is in %q, want active", i+1, w*time.Second, where)
		}
	}
}

func TestUnschedulableMovesOnlyOnRelevantEvents(t *testing.T) {
	small := schedtest.Node("small").Obj()
	big := schedtest.Node("big").Label("size", "big").Obj()
	tests := []struct {
		name     string
		plugins  []string
		event    framework.ClusterEvent
		old, new any
		want     string
	}{
		{"hint says no", []string{"Fit"}, nodeAdd, nil, small, "unschedulable"},
		{"hint says yes", []string{"Fit"}, nodeAdd, nil, big, "backoff"},
		{"event not registered by the rejecting plugin", []string{"Taint"}, nodeAdd, nil, big, "unschedulable"},
		{"other plugin's event", []string{"Taint"}, framework.EventAssignedPodDelete, schedtest.Pod("x").Obj(), nil, "unschedulable"},
		{"registered without hint", []string{"Fit"}, framework.EventAssignedPodDelete, schedtest.Pod("x").Obj(), nil, "backoff"},
		{"any rejecting plugin suffices", []string{"Taint", "Fit"}, nodeAdd, nil, big, "backoff"},
		{"rejected by no plugin: any event", nil, framework.ClusterEvent{Resource: framework.StorageClass, ActionType: framework.Add}, nil, nil, "backoff"},
		{"update bit matching", []string{"Taint"}, framework.ClusterEvent{Resource: framework.Node, ActionType: framework.UpdateNodeTaint | framework.UpdateNodeLabel}, small, small, "backoff"},
		{"update bit not matching", []string{"Taint"}, framework.ClusterEvent{Resource: framework.Node, ActionType: framework.UpdateNodeLabel}, small, small, "unschedulable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q, _ := newQueue()
			q.Add(schedtest.Pod("p").Obj())
			failWith(t, q, false, tc.plugins...)
			if q.Where("uid-p") != "unschedulable" {
				t.Fatalf("rejected pod in %q", q.Where("uid-p"))
			}
			q.MoveAllToActiveOrBackoffQueue(tc.event, tc.old, tc.new, nil)
			if got := q.Where("uid-p"); got != tc.want {
				t.Errorf("after %v: pod in %q, want %q", tc.event, got, tc.want)
			}
		})
	}
}

func TestMovedPodPastBackoffGoesActive(t *testing.T) {
	q, clk := newQueue()
	q.Add(schedtest.Pod("p").Obj())
	failWith(t, q, false, "Fit")
	clk.Step(5 * time.Second)
	q.MoveAllToActiveOrBackoffQueue(nodeAdd, nil, schedtest.Node("big").Label("size", "big").Obj(), nil)
	if got := q.Where("uid-p"); got != "active" {
		t.Errorf("pod in %q, want active", got)
	}
}

func TestEventWhileInFlight(t *testing.T) {
	tests := []struct {
		name  string
		event func(q *Queue)
		want  string
	}{
		{"relevant event", func(q *Queue) {
			q.MoveAllToActiveOrBackoffQueue(nodeAdd, nil, schedtest.Node("big").Label("size", "big").Obj(), nil)
		}, "backoff"},
		{"irrelevant event", func(q *Queue) {
			q.MoveAllToActiveOrBackoffQueue(nodeAdd, nil, schedtest.Node("small").Obj(), nil)
		}, "unschedulable"},
		{"the pod itself changed", func(q *Queue) {
			q.Update(schedtest.Pod("p").Obj(), schedtest.Pod("p").Toleration("k", "", v1.TaintEffectNoSchedule).Obj())
		}, "backoff"},
		{"the pod's status changed", func(q *Queue) {
			p := schedtest.Pod("p").Obj()
			p.Status.Conditions = []v1.PodCondition{{Type: v1.PodScheduled, Status: v1.ConditionFalse}}
			q.Update(schedtest.Pod("p").Obj(), p)
		}, "unschedulable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q, _ := newQueue()
			q.Add(schedtest.Pod("p").Obj())
			p := pop(t, q)
			tc.event(q)
			p.UnschedulablePlugins = sets.New("Fit")
			q.AddUnschedulableIfNotPresent(p, false)
			q.Done(p.Pod.UID)
			if got := q.Where("uid-p"); got != tc.want {
				t.Errorf("pod in %q, want %q", got, tc.want)
			}
			if q.events.Len() != 0 {
				t.Errorf("%d events kept with nothing in flight", q.events.Len())
			}
		})
	}
}

func TestDeletedWhileInFlightIsNotRequeued(t *testing.T) {
	q, _ := newQueue()
	pod := schedtest.Pod("p").Obj()
	q.Add(pod)
	p := pop(t, q)
	q.Delete(pod)
	q.AddUnschedulableIfNotPresent(p, true)
	q.Done(pod.UID)
	if got := q.Where(pod.UID); got != "" {
		t.Errorf("deleted pod requeued to %q", got)
	}
}

func TestUpdateOfUnschedulablePod(t *testing.T) {
	q, _ := newQueue()
	q.Add(schedtest.Pod("p").Obj())
	failWith(t, q, false, "Fit")
	status := schedtest.Pod("p").Obj()
	status.Status.Conditions = []v1.PodCondition{{Type: v1.PodScheduled, Status: v1.ConditionFalse, Reason: "Unschedulable"}}
	status.ResourceVersion = "2"
	q.Update(schedtest.Pod("p").Obj(), status)
	if got := q.Where("uid-p"); got != "unschedulable" {
		t.Fatalf("status-only update moved the pod to %q", got)
	}
	relabelled := status.DeepCopy()
	relabelled.Labels = map[string]string{"app": "web"}
	q.Update(status, relabelled)
	if got := q.Where("uid-p"); got != "backoff" {
		t.Errorf("label change left the pod in %q, want backoff", got)
	}
}

func TestPeriodicFlush(t *testing.T) {
	q, clk := newQueue()
	q.Add(schedtest.Pod("p").Obj())
	failWith(t, q, false, "Fit")
	clk.Step(4 * time.Minute)
	q.FlushUnschedulableLeftover()
	if got := q.Where("uid-p"); got != "unschedulable" {
		t.Fatalf("flushed after 4 minutes: %q", got)
	}
	clk.Step(time.Minute + time.Second)
	q.FlushUnschedulableLeftover()
	if got := q.Where("uid-p"); got != "active" {
		t.Errorf("after 5 minutes the pod is in %q, want active", got)
	}
}

// TestNoBusyLoop runs the queue with its timers on a fake clock: a pod
// rejected by a plugin is not popped again while nothing happens, however
// much time passes, until the safety flush after 5 minutes.
func TestNoBusyLoop(t *testing.T) {
	q, clk := newQueue()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		q.Run(ctx)
	}()
	defer func() {
		cancel()
		<-done
	}()
	q.Add(schedtest.Pod("p").Obj())
	failWith(t, q, false, "Fit")
	for i := 0; i < 29; i++ {
		clk.Step(10 * time.Second)
		if st := q.Stats(); st.Active != 0 || st.Backoff != 0 || st.Pops != 1 {
			t.Fatalf("after %v: %+v", time.Duration(i+1)*10*time.Second, st)
		}
	}
	// 5 minutes and a flush tick later it is retried, once.
	deadline := time.Now().Add(5 * time.Second)
	for q.Where("uid-p") != "active" {
		if time.Now().After(deadline) {
			t.Fatalf("pod not flushed after 5 minutes: %q", q.Where("uid-p"))
		}
		clk.Step(10 * time.Second)
		time.Sleep(time.Millisecond)
	}
}

func TestBackoffTimerDrainsWithoutPolling(t *testing.T) {
	q, clk := newQueue()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		q.Run(ctx)
	}()
	defer func() {
		cancel()
		<-done
	}()
	q.Add(schedtest.Pod("p").Obj())
	failWith(t, q, true)
	// The run loop arms a timer for the expiry; wait until it has.
	deadline := time.Now().Add(5 * time.Second)
	for !clk.HasWaiters() || q.Where("uid-p") != "backoff" {
		if time.Now().After(deadline) {
			t.Fatal("no timer armed")
		}
		time.Sleep(time.Millisecond)
	}
	for q.Where("uid-p") != "active" {
		if time.Now().After(deadline) {
			t.Fatalf("pod still in %q", q.Where("uid-p"))
		}
		clk.Step(100 * time.Millisecond)
		time.Sleep(time.Millisecond)
	}
}

func TestSchedulingGates(t *testing.T) {
	q, _ := newQueue()
	gated := schedtest.Pod("p").Gate("wait").Obj()
	q.Add(gated)
	if got := q.Where(gated.UID); got != "gated" {
		t.Fatalf("gated pod in %q", got)
	}
	open := gated.DeepCopy()
	open.Spec.SchedulingGates = nil
	q.Update(gated, open)
	if got := q.Where(gated.UID); got != "active" {
		t.Errorf("ungated pod in %q, want active", got)
	}
}

func TestPopUnblocksOnCancel(t *testing.T) {
	q, _ := newQueue()
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error)
	go func() {
		_, err := q.Pop(ctx)
		errs <- err
	}()
	cancel()
	if err := <-errs; err == nil {
		t.Errorf("Pop returned without error")
	}
	q.Close()
	if _, err := q.Pop(context.Background()); err != ErrClosed {
		t.Errorf("Pop on closed queue: %v", err)
	}
}

func TestNominator(t *testing.T) {
	n := NewNominator()
	a := framework.NewPodInfo(schedtest.Pod("a").Obj())
	b := framework.NewPodInfo(schedtest.Pod("b").Nominated("n2").Obj())
	n.AddNominatedPod(a, "n1")
	n.AddNominatedPod(b, "")
	if got := n.NominatedPodsForNode("n1"); len(got) != 1 || got[0].Pod.Name != "a" {
		t.Errorf("n1: %v", got)
	}
	if got := n.NominatedPodsForNode("n2"); len(got) != 1 || got[0].Pod.Name != "b" {
		t.Errorf("n2: %v", got)
	}
	// An update not carrying our nomination yet keeps it.
	n.UpdateNominatedPod(a.Pod, framework.NewPodInfo(schedtest.Pod("a").Label("x", "y").Obj()))
	if got := n.NominatedNode(a.Pod); got != "n1" {
		t.Errorf("nomination lost on update: %q", got)
	}
	// Cleared in the API: dropped.
	n.UpdateNominatedPod(b.Pod, framework.NewPodInfo(schedtest.Pod("b").Obj()))
	if got := n.NominatedPodsForNode("n2"); len(got) != 0 {
		t.Errorf("cleared nomination kept: %v", got)
	}
	n.DeleteNominatedPodIfExists(a.Pod)
	if n.count.Load() != 0 {
		t.Errorf("count %d after deleting every nomination", n.count.Load())
	}
}
