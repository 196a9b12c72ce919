package scheduler

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/podvisor/podvisor/internal/testutil/schedtest"
)

var podsGVR = schema.GroupVersionResource{Version: "v1", Resource: "pods"}

// bindingReactor makes the fake clientset bind pods the way the API
// server does: spec.nodeName set, PodScheduled=True. failFirst makes the
// first n bindings fail.
func bindingReactor(client *fake.Clientset, failFirst int32, binds *atomic.Int32) k8stesting.ReactionFunc {
	var failures atomic.Int32
	return func(action k8stesting.Action) (bool, runtime.Object, error) {
		create, ok := action.(k8stesting.CreateAction)
		if !ok || action.GetSubresource() != "binding" {
			return false, nil, nil
		}
		b := create.GetObject().(*v1.Binding)
		if failures.Add(1) <= failFirst {
			return true, nil, errors.New("injected binding failure")
		}
		obj, err := client.Tracker().Get(podsGVR, b.Namespace, b.Name)
		if err != nil {
			return true, nil, err
		}
		pod := obj.(*v1.Pod).DeepCopy()
		if pod.Spec.NodeName != "" {
			return true, nil, apierrors.NewConflict(podsGVR.GroupResource(), pod.Name, fmt.Errorf("pod %s is already assigned to node %q", pod.Name, pod.Spec.NodeName))
		}
		pod.Spec.NodeName = b.Target.Name
		pod.Status.Conditions = append(pod.Status.Conditions, v1.PodCondition{Type: v1.PodScheduled, Status: v1.ConditionTrue})
		if err := client.Tracker().Update(podsGVR, pod, pod.Namespace); err != nil {
			return true, nil, err
		}
		if binds != nil {
			binds.Add(1)
		}
		return true, b, nil
	}
}

type harness struct {
	t      *testing.T
	client *fake.Clientset
	sched  *Scheduler
	binds  atomic.Int32
	stop   func()
}

func testConfig() Config {
	return Config{
		LeaderElection:    LeaderElectionConfig{Disabled: true},
		PodInitialBackoff: 10 * time.Millisecond,
		PodMaxBackoff:     50 * time.Millisecond,
	}
}

func startScheduler(t *testing.T, cfg Config, failBinds int32, objs ...runtime.Object) *harness {
	t.Helper()
	h := &harness{t: t, client: fake.NewClientset(objs...)}
	h.client.PrependReactor("create", "pods", bindingReactor(h.client, failBinds, &h.binds))
	s, err := New(cfg, Deps{Client: h.client, Log: schedtest.Logger(), Rand: rand.New(rand.NewPCG(7, 7))})
	if err != nil {
		t.Fatal(err)
	}
	h.sched = s
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	h.stop = func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(h.stop)
	sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
	defer scancel()
	if !s.WaitForCacheSync(sctx) {
		t.Fatal("caches did not sync")
	}
	return h
}

func (h *harness) create(objs ...runtime.Object) {
	h.t.Helper()
	for _, o := range objs {
		var err error
		switch x := o.(type) {
		case *v1.Pod:
			_, err = h.client.CoreV1().Pods(x.Namespace).Create(context.Background(), x, metav1.CreateOptions{})
		case *v1.Node:
			_, err = h.client.CoreV1().Nodes().Create(context.Background(), x, metav1.CreateOptions{})
		default:
			err = h.client.Tracker().Add(o)
		}
		if err != nil {
			h.t.Fatal(err)
		}
	}
}

func (h *harness) pod(name string) *v1.Pod {
	h.t.Helper()
	p, err := h.client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	return p
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (h *harness) waitBound(name string) string {
	h.t.Helper()
	var node string
	eventually(h.t, name+" to be bound", func() bool {
		node = h.pod(name).Spec.NodeName
		return node != ""
	})
	return node
}

func (h *harness) condition(name string) *v1.PodCondition {
	for _, c := range h.pod(name).Status.Conditions {
		if c.Type == v1.PodScheduled {
			return &c
		}
	}
	return nil
}

func (h *harness) waitCondition(name, reason string) *v1.PodCondition {
	h.t.Helper()
	var c *v1.PodCondition
	eventually(h.t, name+" to get PodScheduled reason "+reason, func() bool {
		c = h.condition(name)
		return c != nil && c.Reason == reason
	})
	return c
}

func (h *harness) events(reason string) []v1.Event {
	list, err := h.client.CoreV1().Events("").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	var out []v1.Event
	for _, e := range list.Items {
		if e.Reason == reason {
			out = append(out, e)
		}
	}
	return out
}

func TestBurstIsSpreadAcrossNodes(t *testing.T) {
	h := startScheduler(t, testConfig(), 0)
	for i := 0; i < 10; i++ {
		h.create(schedtest.Node(fmt.Sprintf("n%d", i)).Cap("8", "16Gi", 110).Obj())
	}
	eventually(t, "nodes in the cache", func() bool { return h.sched.cache.NodeCount() == 10 })
	const pods = 200
	for i := 0; i < pods; i++ {
		h.create(schedtest.Pod(fmt.Sprintf("p%d", i)).Req("100m", "128Mi").Obj())
	}
	eventually(t, "every pod bound", func() bool { return h.binds.Load() == pods })
	perNode := map[string]int{}
	for i := 0; i < pods; i++ {
		perNode[h.pod(fmt.Sprintf("p%d", i)).Spec.NodeName]++
	}
	lo, hi := pods, 0
	for _, n := range perNode {
		lo, hi = min(lo, n), max(hi, n)
	}
	// LeastAllocated and BalancedAllocation spread equal pods evenly.
	if len(perNode) != 10 || hi-lo > 1 {
		t.Errorf("pods per node %v: want all 10 nodes within one pod of each other", perNode)
	}
	eventually(t, "Scheduled events", func() bool { return len(h.events("Scheduled")) == pods })
	ev := h.events("Scheduled")[0]
	if !strings.HasPrefix(ev.Message, "Successfully assigned default/p") || ev.Type != v1.EventTypeNormal || ev.Source.Component != "default-scheduler" {
		t.Errorf("Scheduled event: %+v", ev)
	}
	if st := h.sched.Stats(); st.Scheduled != pods || h.sched.cache.AssumedPodCount() != 0 {
		t.Errorf("stats %+v, assumed pods left %d", st, h.sched.cache.AssumedPodCount())
	}
}

func TestFailedSchedulingMessage(t *testing.T) {
	// The small nodes are busy with pods of the same priority: nothing to
	// preempt there; the tainted node cannot be helped by preemption.
	h := startScheduler(t, testConfig(), 0,
		schedtest.Node("small-1").Cap("2", "4Gi", 110).Obj(),
		schedtest.Node("small-2").Cap("2", "4Gi", 110).Obj(),
		schedtest.Node("tainted").Cap("8", "16Gi", 110).Taint("key", "value", v1.TaintEffectNoSchedule).Obj(),
		schedtest.Pod("busy-1").Node("small-1").Req("1500m", "").Obj(),
		schedtest.Pod("busy-2").Node("small-2").Req("1500m", "").Obj())
	h.create(schedtest.Pod("big").Req("1", "1Gi").Obj())
	c := h.waitCondition("big", v1.PodReasonUnschedulable)
	want := "0/3 nodes are available: 1 node(s) had untolerated taint {key: value}, 2 Insufficient cpu. " +
		"preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod."
	if c.Status != v1.ConditionFalse || c.Message != want {
		t.Errorf("condition %+v\nwant message %q", c, want)
	}
	eventually(t, "a FailedScheduling event", func() bool { return len(h.events("FailedScheduling")) > 0 })
	ev := h.events("FailedScheduling")[0]
	if ev.Type != v1.EventTypeWarning || ev.Message != want || ev.InvolvedObject.Name != "big" || ev.InvolvedObject.Kind != "Pod" {
		t.Errorf("event %+v", ev)
	}
}

func TestNoNodes(t *testing.T) {
	h := startScheduler(t, testConfig(), 0)
	h.create(schedtest.Pod("p").Obj())
	c := h.waitCondition("p", v1.PodReasonUnschedulable)
	if c.Message != "no nodes available to schedule pods" {
		t.Errorf("message %q", c.Message)
	}
	h.create(schedtest.Node("n1").Obj())
	if got := h.waitBound("p"); got != "n1" {
		t.Errorf("bound to %q", got)
	}
}

// TestRetriedOnlyWhenTheClusterChanges: a pod that fits nowhere is tried
// once and then waits, however long nothing relevant happens (our own
// status write and unrelated events included); a new node that fits
// makes it schedulable at once.
func TestRetriedOnlyWhenTheClusterChanges(t *testing.T) {
	h := startScheduler(t, testConfig(), 0, schedtest.Node("small").Cap("1", "1Gi", 110).Obj())
	h.create(schedtest.Pod("big").Req("4", "").Obj())
	h.waitCondition("big", v1.PodReasonUnschedulable)
	eventually(t, "the status write to settle", func() bool { return h.sched.statuses.Len() == 0 })
	attempts := h.sched.Stats().Attempts
	// Unrelated changes: a node too small, a pending pod of another
	// scheduler, a relabelled node.
	h.create(schedtest.Node("tiny").Cap("500m", "1Gi", 110).Obj())
	h.create(schedtest.Pod("foreign").SchedulerName("other").Obj())
	time.Sleep(300 * time.Millisecond) // many back-off periods (10-50ms)
	if got := h.sched.Stats().Attempts; got != attempts {
		t.Fatalf("%d more attempts while nothing relevant changed", got-attempts)
	}
	if w := h.sched.queue.Where(h.pod("big").UID); w != "unschedulable" {
		t.Errorf("pod waits in %q, want unschedulable", w)
	}
	h.create(schedtest.Node("large").Cap("8", "16Gi", 110).Obj())
	if got := h.waitBound("big"); got != "large" {
		t.Errorf("bound to %q, want large", got)
	}
}

func TestRetriedWhenAPodLeaves(t *testing.T) {
	h := startScheduler(t, testConfig(), 0,
		schedtest.Node("n1").Cap("2", "4Gi", 110).Obj(),
		schedtest.Pod("hog").Node("n1").Req("2", "").Priority(100).Obj())
	h.create(schedtest.Pod("p").Req("1", "").Obj())
	h.waitCondition("p", v1.PodReasonUnschedulable)
	if err := h.client.CoreV1().Pods("default").Delete(context.Background(), "hog", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	h.waitBound("p")
}

func TestOtherSchedulersPodsAreIgnored(t *testing.T) {
	cfg := testConfig()
	cfg.SchedulerName = "podvisor-batch"
	h := startScheduler(t, cfg, 0, schedtest.Node("n1").Obj())
	h.create(schedtest.Pod("default").Obj(), schedtest.Pod("mine").SchedulerName("podvisor-batch").Obj())
	h.waitBound("mine")
	time.Sleep(100 * time.Millisecond)
	if n := h.pod("default").Spec.NodeName; n != "" || h.condition("default") != nil {
		t.Errorf("pod of the default scheduler was touched: node %q, condition %+v", n, h.condition("default"))
	}
}

func TestDeadlinePassedIsNotBound(t *testing.T) {
	h := startScheduler(t, testConfig(), 0, schedtest.Node("n1").Obj())
	// Created 10 minutes ago with a 60s deadline.
	h.create(schedtest.Pod("late").Created(time.Now().Add(-10 * time.Minute)).Deadline(60).Obj())
	h.create(schedtest.Pod("fine").Created(time.Now()).Deadline(3600).Obj())
	h.waitBound("fine")
	c := h.waitCondition("late", ReasonDeadlineExceeded)
	if h.pod("late").Spec.NodeName != "" || !strings.Contains(c.Message, "activeDeadlineSeconds (60s)") {
		t.Errorf("late pod: node %q, condition %+v", h.pod("late").Spec.NodeName, c)
	}
}

func TestBindingFailureIsRetried(t *testing.T) {
	h := startScheduler(t, testConfig(), 2, schedtest.Node("n1").Obj())
	h.create(schedtest.Pod("p").Req("1", "").Obj())
	h.waitBound("p")
	eventually(t, "no assumed pods left", func() bool { return h.sched.cache.AssumedPodCount() == 0 })
	if got := h.sched.Stats().Errors; got != 2 {
		t.Errorf("errors %d, want 2 failed bindings", got)
	}
	// The forgotten assumptions freed the node: exactly one pod counted.
	s := h.sched
	eventually(t, "the cache to count the pod once", func() bool {
		return s.cache.PodCount() == 1
	})
}

func TestPreemption(t *testing.T) {
	h := startScheduler(t, testConfig(), 0,
		schedtest.Node("n1").Cap("2", "4Gi", 110).Obj(),
		schedtest.Pod("low").Node("n1").Req("2", "").Priority(1).Obj())
	// The fake API deletes at once (no kubelet, no grace period).
	h.create(schedtest.Pod("vip").Req("2", "").Priority(1000).Obj())
	if got := h.waitBound("vip"); got != "n1" {
		t.Errorf("vip bound to %q", got)
	}
	if _, err := h.client.CoreV1().Pods("default").Get(context.Background(), "low", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("victim still there: %v", err)
	}
	eventually(t, "a Preempted event", func() bool { return len(h.events("Preempted")) == 1 })
	if m := h.events("Preempted")[0].Message; m != "Preempted by default/vip on node n1" {
		t.Errorf("Preempted event %q", m)
	}
}

func TestPreemptionNominatesWhileVictimsTerminate(t *testing.T) {
	h := startScheduler(t, testConfig(), 0,
		schedtest.Node("n1").Cap("2", "4Gi", 110).Obj(),
		schedtest.Pod("low").Node("n1").Req("2", "").Priority(1).Obj())
	// Play an API server with graceful deletion: a delete only marks the
	// pod terminating.
	h.client.PrependReactor("delete", "pods", func(action k8stesting.Action) (bool, runtime.Object, error) {
		d := action.(k8stesting.DeleteAction)
		obj, err := h.client.Tracker().Get(podsGVR, d.GetNamespace(), d.GetName())
		if err != nil {
			return true, nil, err
		}
		pod := obj.(*v1.Pod).DeepCopy()
		if pod.DeletionTimestamp != nil {
			return false, nil, nil
		}
		now := metav1.Now()
		pod.DeletionTimestamp = &now
		return true, nil, h.client.Tracker().Update(podsGVR, pod, pod.Namespace)
	})
	h.create(schedtest.Pod("vip").Req("2", "").Priority(1000).Obj())
	eventually(t, "vip nominated to n1", func() bool { return h.pod("vip").Status.NominatedNodeName == "n1" })
	// While the victim terminates, a lower-priority pod must not take the
	// room: it is not bound, and the vip is not bound either.
	h.create(schedtest.Pod("sneaky").Req("1", "").Priority(500).Obj())
	time.Sleep(200 * time.Millisecond)
	if h.pod("vip").Spec.NodeName != "" || h.pod("sneaky").Spec.NodeName != "" {
		t.Fatalf("bound while the victim terminates: vip %q sneaky %q", h.pod("vip").Spec.NodeName, h.pod("sneaky").Spec.NodeName)
	}
	// The kubelet's final delete.
	if err := h.client.Tracker().Delete(podsGVR, "default", "low"); err != nil {
		t.Fatal(err)
	}
	if got := h.waitBound("vip"); got != "n1" {
		t.Errorf("vip bound to %q", got)
	}
	if len(h.events("Preempted")) != 1 {
		t.Errorf("preempted %d times, want once", len(h.events("Preempted")))
	}
}

func TestPodAntiAffinityBurst(t *testing.T) {
	h := startScheduler(t, testConfig(), 0)
	for i := 0; i < 5; i++ {
		h.create(schedtest.Node(fmt.Sprintf("n%d", i)).Obj())
	}
	eventually(t, "nodes in the cache", func() bool { return h.sched.cache.NodeCount() == 5 })
	for i := 0; i < 6; i++ {
		h.create(schedtest.Pod(fmt.Sprintf("web%d", i)).Label("app", "web").PodAntiAffinity(v1.LabelHostname, "app", "web").Obj())
	}
	eventually(t, "five bound", func() bool { return h.binds.Load() == 5 })
	nodes := map[string]bool{}
	pending := ""
	for i := 0; i < 6; i++ {
		p := h.pod(fmt.Sprintf("web%d", i))
		if p.Spec.NodeName == "" {
			pending = p.Name
			continue
		}
		if nodes[p.Spec.NodeName] {
			t.Errorf("two web pods on %s despite anti-affinity", p.Spec.NodeName)
		}
		nodes[p.Spec.NodeName] = true
	}
	c := h.waitCondition(pending, v1.PodReasonUnschedulable)
	// Every web pod also carries the anti-affinity, so the existing pods'
	// rules are the first to reject (Kubernetes checks them first too).
	if !strings.Contains(c.Message, "5 node(s) didn't satisfy existing pods anti-affinity rules") {
		t.Errorf("message %q", c.Message)
	}
}

func TestLeaderElection(t *testing.T) {
	client := fake.NewClientset(schedtest.Node("n1").Obj())
	var binds atomic.Int32
	client.PrependReactor("create", "pods", bindingReactor(client, 0, &binds))
	cfg := testConfig()
	cfg.LeaderElection = LeaderElectionConfig{LeaseDuration: 600 * time.Millisecond, RenewDeadline: 400 * time.Millisecond, RetryPeriod: 100 * time.Millisecond}
	type instance struct {
		s      *Scheduler
		cancel func()
		done   chan error
	}
	var mu sync.Mutex
	var all []*instance
	for i := 0; i < 2; i++ {
		c := cfg
		c.LeaderElection.Identity = fmt.Sprintf("sched-%d", i)
		s, err := New(c, Deps{Client: client, Log: schedtest.Logger()})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		in := &instance{s: s, cancel: cancel, done: make(chan error, 1)}
		go func() {
			if err := s.Run(ctx); err != nil {
				t.Errorf("Run: %v", err)
			}
			close(in.done)
		}()
		mu.Lock()
		all = append(all, in)
		mu.Unlock()
	}
	t.Cleanup(func() {
		for _, in := range all {
			in.cancel()
			<-in.done
		}
	})
	leaders := func() []*instance {
		var out []*instance
		for _, in := range all {
			if in.s.Stats().Leading {
				out = append(out, in)
			}
		}
		return out
	}
	eventually(t, "a leader", func() bool { return len(leaders()) == 1 })
	if _, err := client.CoreV1().Pods("default").Create(context.Background(), schedtest.Pod("a").Obj(), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "pod a bound", func() bool { return binds.Load() == 1 })
	if len(leaders()) != 1 {
		t.Fatalf("%d leaders", len(leaders()))
	}
	// The leader stops (releasing its lease); the other takes over.
	first := leaders()[0]
	first.cancel()
	<-first.done
	eventually(t, "the other to lead", func() bool {
		l := leaders()
		return len(l) == 1 && l[0] != first
	})
	if _, err := client.CoreV1().Pods("default").Create(context.Background(), schedtest.Pod("b").Obj(), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "pod b bound", func() bool { return binds.Load() == 2 })
}

func TestConfigValidation(t *testing.T) {
	for _, cfg := range []Config{
		{PercentageOfNodesToScore: 101, LeaderElection: LeaderElectionConfig{Disabled: true}},
		{PodInitialBackoff: time.Minute, PodMaxBackoff: time.Second, LeaderElection: LeaderElectionConfig{Disabled: true}},
		{LeaderElection: LeaderElectionConfig{LeaseDuration: time.Second, RenewDeadline: 2 * time.Second}},
	} {
		if _, err := New(cfg, Deps{Client: fake.NewClientset(), Log: schedtest.Logger()}); err == nil {
			t.Errorf("config %+v accepted", cfg)
		}
	}
	if _, err := New(Config{}, Deps{Log: schedtest.Logger()}); err == nil {
		t.Errorf("no client accepted")
	}
}

func TestNumFeasibleNodesToFind(t *testing.T) {
	tests := []struct {
		pct   int32
		nodes int
		want  int
	}{
		{0, 50, 50},
		{0, 100, 100},
		{0, 1000, 420},
		{0, 5000, 500},
		{0, 10000, 500},
		{0, 300, 144},
		{10, 1000, 100},
		{30, 1000, 300},
		{100, 5000, 5000},
	}
	for _, tc := range tests {
		s := &Scheduler{cfg: Config{PercentageOfNodesToScore: tc.pct}}
		if got := s.numFeasibleNodesToFind(tc.nodes); got != tc.want {
			t.Errorf("pct %d, %d nodes: %d, want %d", tc.pct, tc.nodes, got, tc.want)
		}
	}
}
