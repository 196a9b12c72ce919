package cache

import (
	"io"
	"log/slog"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/podvisor/podvisor/internal/scheduler/framework"
	"github.com/podvisor/podvisor/internal/testutil/schedtest"
)

func newCache(ttl time.Duration) (*Cache, *clocktesting.FakeClock) {
	clk := clocktesting.NewFakeClock(time.Unix(1700000000, 0))
	return New(ttl, clk, slog.New(slog.NewTextHandler(io.Discard, nil))), clk
}

func assume(t *testing.T, c *Cache, pod *v1.Pod, node string) *v1.Pod {
	t.Helper()
	p := pod.DeepCopy()
	p.Spec.NodeName = node
	if err := c.AssumePod(framework.NewPodInfo(p)); err != nil {
		t.Fatal(err)
	}
	return p
}

func requested(t *testing.T, c *Cache, node string) int64 {
	t.Helper()
	s := NewEmptySnapshot()
	c.UpdateSnapshot(s)
	ni, err := s.Get(node)
	if err != nil {
		t.Fatal(err)
	}
	return ni.Requested.MilliCPU
}

func TestAssumeConfirm(t *testing.T) {
	c, _ := newCache(time.Minute)
	c.AddNode(schedtest.Node("n1").Obj())
	c.AddNode(schedtest.Node("n2").Obj())
	pod := schedtest.Pod("p").Req("1", "").Obj()
	assumed := assume(t, c, pod, "n1")
	if !c.IsAssumedPod(assumed) || requested(t, c, "n1") != 1000 {
		t.Fatalf("assumed pod not counted on n1")
	}
	if err := c.AssumePod(framework.NewPodInfo(assumed)); err == nil {
		t.Errorf("assuming twice: no error")
	}
	c.FinishBinding(assumed)
	// The informer reports the pod bound to n1: confirmed.
	if err := c.AddPod(assumed); err != nil {
		t.Fatal(err)
	}
	if c.IsAssumedPod(assumed) || requested(t, c, "n1") != 1000 {
		t.Errorf("confirmed pod: assumed=%v requested=%d", c.IsAssumedPod(assumed), requested(t, c, "n1"))
	}
	if err := c.ForgetPod(assumed); err == nil {
		t.Errorf("forgetting a confirmed pod: no error")
	}
}

func TestConfirmOnAnotherNode(t *testing.T) {
	c, _ := newCache(time.Minute)
	c.AddNode(schedtest.Node("n1").Obj())
	c.AddNode(schedtest.Node("n2").Obj())
	pod := schedtest.Pod("p").Req("1", "").Obj()
	assume(t, c, pod, "n1")
	bound := pod.DeepCopy()
	bound.Spec.NodeName = "n2"
	if err := c.AddPod(bound); err != nil {
		t.Fatal(err)
	}
	if requested(t, c, "n1") != 0 || requested(t, c, "n2") != 1000 {
		t.Errorf("pod not moved to n2: n1 %d n2 %d", requested(t, c, "n1"), requested(t, c, "n2"))
	}
}

func TestForgetOnBindFailure(t *testing.T) {
	c, _ := newCache(time.Minute)
	c.AddNode(schedtest.Node("n1").Obj())
	assumed := assume(t, c, schedtest.Pod("p").Req("1", "").Obj(), "n1")
	if err := c.ForgetPod(assumed); err != nil {
		t.Fatal(err)
	}
	if c.Has(assumed) || requested(t, c, "n1") != 0 {
		t.Errorf("forgotten pod still counted")
	}
}

func TestAssumedPodExpires(t *testing.T) {
	c, clk := newCache(30 * time.Second)
	c.AddNode(schedtest.Node("n1").Obj())
	waiting := assume(t, c, schedtest.Pod("binding").Req("1", "").Obj(), "n1")
	done := assume(t, c, schedtest.Pod("bound").Req("1", "").Obj(), "n1")
	c.FinishBinding(done)
	clk.Step(29 * time.Second)
	c.CleanupExpiredAssumedPods()
	if !c.Has(done) {
		t.Fatalf("expired before its TTL")
	}
	clk.Step(2 * time.Second)
	c.CleanupExpiredAssumedPods()
	if c.Has(done) {
		t.Errorf("bound but never confirmed pod did not expire")
	}
	// A pod whose binding has not finished never expires.
	if !c.Has(waiting) || requested(t, c, "n1") != 1000 {
		t.Errorf("pod still binding expired")
	}
}

func TestRemovePodAndNode(t *testing.T) {
	c, _ := newCache(0)
	n1 := schedtest.Node("n1").Obj()
	c.AddNode(n1)
	pod := schedtest.Pod("p").Node("n1").Req("1", "").Obj()
	if err := c.AddPod(pod); err != nil {
		t.Fatal(err)
	}
	c.RemoveNode(n1)
	s := NewEmptySnapshot()
	c.UpdateSnapshot(s)
	if s.NumNodes() != 0 {
		t.Errorf("removed node still in snapshot")
	}
	// The node comes back: its pod is still accounted.
	c.AddNode(n1)
	if requested(t, c, "n1") != 1000 {
		t.Errorf("pod of a re-added node lost")
	}
	if err := c.RemovePod(pod); err != nil {
		t.Fatal(err)
	}
	if requested(t, c, "n1") != 0 {
		t.Errorf("removed pod still counted")
	}
}

func TestPodBeforeNode(t *testing.T) {
	c, _ := newCache(0)
	if err := c.AddPod(schedtest.Pod("p").Node("n1").Req("2", "").Obj()); err != nil {
		t.Fatal(err)
	}
	s := NewEmptySnapshot()
	c.UpdateSnapshot(s)
	if s.NumNodes() != 0 {
		t.Errorf("node without a Node object in the snapshot")
	}
	c.AddNode(schedtest.Node("n1").Obj())
	c.UpdateSnapshot(s)
	if ni, err := s.Get("n1"); err != nil || ni.Requested.MilliCPU != 2000 {
		t.Errorf("node added after its pod: %v %v", ni, err)
	}
}

func TestSnapshotIsIncrementalAndIsolated(t *testing.T) {
	c, _ := newCache(0)
	for _, n := range []string{"a1", "a2", "b1"} {
		c.AddNode(schedtest.Node(n).Zone(n[:1]).Obj())
	}
	s := NewEmptySnapshot()
	c.UpdateSnapshot(s)
	names := func() []string {
		var out []string
		for _, ni := range s.List() {
			out = append(out, ni.Node().Name)
		}
		return out
	}
	// Zones interleave: a, b, a.
	if diff := cmp.Diff([]string{"a1", "b1", "a2"}, names()); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	before := s.List()[0]
	gen := s.generation
	if err := c.AddPod(schedtest.Pod("p").Node("b1").Req("1", "").PodAntiAffinity(v1.LabelHostname, "x", "y").PVC("data").Obj()); err != nil {
		t.Fatal(err)
	}
	c.UpdateSnapshot(s)
	if s.generation <= gen {
		t.Errorf("generation did not advance")
	}
	if s.List()[0] != before {
		t.Errorf("unchanged node was replaced")
	}
	b1, _ := s.Get("b1")
	if b1.Requested.MilliCPU != 1000 || len(s.HavePodsWithRequiredAntiAffinityList()) != 1 || !s.IsPVCUsedByPods("default/data") {
		t.Errorf("snapshot missed the pod: %v anti=%d pvc=%v", b1, len(s.HavePodsWithRequiredAntiAffinityList()), s.IsPVCUsedByPods("default/data"))
	}
	// Changing the snapshot's NodeInfo must not touch the cache.
	b1.AddPod(schedtest.Pod("ghost").Node("b1").Req("5", "").Obj())
	s2 := NewEmptySnapshot()
	c.UpdateSnapshot(s2)
	if ni, _ := s2.Get("b1"); ni.Requested.MilliCPU != 1000 {
		t.Errorf("snapshot change leaked into the cache: %v", ni)
	}
	// Deleting a node shows in the next update.
	c.RemoveNode(schedtest.Node("a2").Zone("a").Obj())
	c.UpdateSnapshot(s)
	got := names()
	sort.Strings(got)
	if diff := cmp.Diff([]string{"a1", "b1"}, got); diff != "" {
		t.Errorf("after delete (-want +got):\n%s", diff)
	}
}

func TestImageStates(t *testing.T) {
	c, _ := newCache(0)
	c.AddNode(schedtest.Node("n1").Image("nginx:1", 100).Obj())
	c.AddNode(schedtest.Node("n2").Image("nginx:1", 100).Image("redis:7", 50).Obj())
	s := NewEmptySnapshot()
	c.UpdateSnapshot(s)
	n1, _ := s.Get("n1")
	if st := n1.ImageStates["nginx:1"]; st == nil || st.NumNodes != 2 || st.Size != 100 {
		t.Errorf("nginx on n1: %+v", st)
	}
	c.RemoveNode(schedtest.Node("n2").Obj())
	c.UpdateNode(nil, schedtest.Node("n1").Image("nginx:1", 100).Obj())
	c.UpdateSnapshot(s)
	n1, _ = s.Get("n1")
	if st := n1.ImageStates["nginx:1"]; st == nil || st.NumNodes != 1 {
		t.Errorf("nginx after n2 left: %+v", st)
	}
}
