//go:build integration

package scheduler_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"

	"github.com/podvisor/podvisor/internal/scheduler"
	"github.com/podvisor/podvisor/internal/scheduler/plugins/interpodaffinity"
	"github.com/podvisor/podvisor/internal/scheduler/plugins/nodeaffinity"
	"github.com/podvisor/podvisor/internal/scheduler/plugins/nodeports"
	"github.com/podvisor/podvisor/internal/scheduler/plugins/nodeunschedulable"
	"github.com/podvisor/podvisor/internal/scheduler/plugins/volumebinding"
	"github.com/podvisor/podvisor/internal/scheduler/plugins/volumerestrictions"
	"github.com/podvisor/podvisor/internal/server"
	"github.com/podvisor/podvisor/internal/testutil/etcdtest"
	"github.com/podvisor/podvisor/internal/testutil/schedtest"
	"github.com/podvisor/podvisor/internal/testutil/servertest"
)

// cluster is a real podvisor API server with a scheduler running against
// it through client-go, and no nodes but the fake Node objects a test
// creates (no kubelet: the test finalizes the deletions a kubelet would).
type cluster struct {
	t      *testing.T
	client kubernetes.Interface
	ns     string
	sched  *scheduler.Scheduler
	nodes  []string
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	srv := servertest.Start(t, server.Config{})
	c := &cluster{t: t, client: srv.Client, ns: "sched-" + rand.String(6)}
	if _, err := c.client.CoreV1().Namespaces().Create(context.Background(),
		&v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: c.ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	s, err := scheduler.New(scheduler.Config{PodInitialBackoff: 100 * time.Millisecond, PodMaxBackoff: time.Second},
		scheduler.Deps{RESTConfig: srv.RESTConfig, Log: etcdtest.Logger(t)})
	if err != nil {
		t.Fatalf("scheduler.New: %v", err)
	}
	c.sched = s
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := s.Run(ctx); err != nil {
			t.Errorf("scheduler Run: %v", err)
		}
	}()
	go c.finalizeDeletions(ctx)
	t.Cleanup(func() {
		cancel()
		<-done
	})
	c.eventually("the scheduler to lead", func() bool { return s.Stats().Leading })
	return c
}

// finalizeDeletions plays the kubelet's part in graceful deletion: pods
// marked for deletion are removed for good.
func (c *cluster) finalizeDeletions(ctx context.Context) {
	zero := int64(0)
	for ctx.Err() == nil {
		list, err := c.client.CoreV1().Pods(c.ns).List(ctx, metav1.ListOptions{})
		if err == nil {
			for _, p := range list.Items {
				if p.DeletionTimestamp != nil {
					_ = c.client.CoreV1().Pods(c.ns).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
				}
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *cluster) eventually(what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// reset deletes the test's nodes and pods, so scenarios do not see each
// other's.
func (c *cluster) reset() {
	c.t.Helper()
	zero := int64(0)
	ctx := context.Background()
	for _, n := range c.nodes {
		if err := c.client.CoreV1().Nodes().Delete(ctx, n, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			c.t.Fatal(err)
		}
	}
	c.nodes = nil
	list, err := c.client.CoreV1().Pods(c.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	for _, p := range list.Items {
		_ = c.client.CoreV1().Pods(c.ns).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	}
	c.eventually("the scheduler's cache to empty", func() bool {
		l, _ := c.client.CoreV1().Pods(c.ns).List(ctx, metav1.ListOptions{})
		return len(l.Items) == 0 && c.sched.Stats().Queue.Active+c.sched.Stats().Queue.Backoff+c.sched.Stats().Queue.Unschedulable == 0
	})
}

func (c *cluster) node(b *schedtest.NodeBuilder) {
	c.t.Helper()
	n := b.Obj()
	if _, err := c.client.CoreV1().Nodes().Create(context.Background(), n, metav1.CreateOptions{}); err != nil {
		c.t.Fatalf("creating node %s: %v", n.Name, err)
	}
	c.nodes = append(c.nodes, n.Name)
}

func (c *cluster) pod(b *schedtest.PodBuilder) *v1.Pod {
	c.t.Helper()
	p := b.Namespace(c.ns).Obj()
	p.UID = ""
	p.CreationTimestamp = metav1.Time{}
	if p.Spec.Priority != nil && p.Spec.PriorityClassName == "" {
		// The Priority admission plugin computes spec.priority from a
		// PriorityClass and refuses a pod that sets it by itself.
		p.Spec.PriorityClassName = c.priorityClass(*p.Spec.Priority)
		p.Spec.Priority = nil
	}
	out, err := c.client.CoreV1().Pods(c.ns).Create(context.Background(), p, metav1.CreateOptions{})
	if err != nil {
		c.t.Fatalf("creating pod %s: %v", p.Name, err)
	}
	return out
}

// priorityClass returns the name of a PriorityClass of value v, creating
// it if needed.
func (c *cluster) priorityClass(v int32) string {
	c.t.Helper()
	name := fmt.Sprintf("test-priority-%d", v)
	pc := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Value: v}
	_, err := c.client.SchedulingV1().PriorityClasses().Create(context.Background(), pc, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		c.t.Fatalf("creating PriorityClass %s: %v", name, err)
	}
	return name
}

func (c *cluster) get(name string) *v1.Pod {
	c.t.Helper()
	p, err := c.client.CoreV1().Pods(c.ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		c.t.Fatalf("getting pod %s: %v", name, err)
	}
	return p
}

func (c *cluster) bound(name string) string {
	c.t.Helper()
	var node string
	c.eventually("pod "+name+" to be bound", func() bool {
		node = c.get(name).Spec.NodeName
		return node != ""
	})
	return node
}

// unschedulable waits for PodScheduled=False/Unschedulable and returns
// its message.
func (c *cluster) unschedulable(name string) string {
	c.t.Helper()
	var msg string
	c.eventually("pod "+name+" to be reported unschedulable", func() bool {
		for _, cond := range c.get(name).Status.Conditions {
			if cond.Type == v1.PodScheduled && cond.Status == v1.ConditionFalse && cond.Reason == v1.PodReasonUnschedulable {
				msg = cond.Message
				return true
			}
		}
		return false
	})
	return msg
}

func (c *cluster) events(pod, reason string) []v1.Event {
	c.t.Helper()
	list, err := c.client.CoreV1().Events(c.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	var out []v1.Event
	for _, e := range list.Items {
		if e.InvolvedObject.Name == pod && e.Reason == reason {
			out = append(out, e)
		}
	}
	return out
}

// TestIntegrationPluginDecisions checks every plugin's decision through
// the API of a real server.
func TestIntegrationPluginDecisions(t *testing.T) {
	c := startCluster(t)
	u := rand.String(5)
	n := func(s string) string { return s + "-" + u }
	scenarios := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"resources", func(t *testing.T) {
			c.node(schedtest.Node(n("small")).Cap("1", "2Gi", 110))
			c.node(schedtest.Node(n("large")).Cap("8", "16Gi", 110))
			c.pod(schedtest.Pod("big").Req("2", "4Gi").Init("3", ""))
			if got := c.bound("big"); got != n("large") {
				t.Errorf("bound to %s, want %s", got, n("large"))
			}
		}},
		{"node selector and affinity", func(t *testing.T) {
			c.node(schedtest.Node(n("ssd")).Label("disk", "ssd").Zone("a"))
			c.node(schedtest.Node(n("hdd")).Label("disk", "hdd").Zone("a"))
			c.node(schedtest.Node(n("ssd-b")).Label("disk", "ssd").Zone("b"))
			c.pod(schedtest.Pod("sel").NodeSelector("disk", "ssd").RequiredNodeAffinity(v1.LabelTopologyZone, v1.NodeSelectorOpIn, "b"))
			if got := c.bound("sel"); got != n("ssd-b") {
				t.Errorf("bound to %s, want %s", got, n("ssd-b"))
			}
			c.pod(schedtest.Pod("pref").PreferredNodeAffinity(100, "disk", "hdd"))
			if got := c.bound("pref"); got != n("hdd") {
				t.Errorf("preferred: bound to %s, want %s", got, n("hdd"))
			}
			c.pod(schedtest.Pod("none").NodeSelector("disk", "nvme"))
			want := "0/3 nodes are available: 3 " + nodeaffinity.ErrReasonPod + "."
			if msg := c.unschedulable("none"); !strings.HasPrefix(msg, want) {
				t.Errorf("message %q, want prefix %q", msg, want)
			}
		}},
		{"taints and tolerations", func(t *testing.T) {
			c.node(schedtest.Node(n("gpu")).Taint("gpu", "true", v1.TaintEffectNoSchedule))
			c.node(schedtest.Node(n("meh")).Taint("meh", "x", v1.TaintEffectPreferNoSchedule))
			c.pod(schedtest.Pod("plain"))
			if got := c.bound("plain"); got != n("meh") {
				t.Errorf("plain pod bound to %s, want %s", got, n("meh"))
			}
			c.pod(schedtest.Pod("gpu-user").Toleration("gpu", "true", v1.TaintEffectNoSchedule))
			if got := c.bound("gpu-user"); got != n("gpu") {
				t.Errorf("tolerating pod bound to %s, want %s (PreferNoSchedule scores lower)", got, n("gpu"))
			}
		}},
		{"cordoned node", func(t *testing.T) {
			c.node(schedtest.Node(n("cordoned")).Unschedulable())
			c.pod(schedtest.Pod("p"))
			want := "0/1 nodes are available: 1 " + nodeunschedulable.ErrReason + "."
			if msg := c.unschedulable("p"); !strings.HasPrefix(msg, want) {
				t.Errorf("message %q, want prefix %q", msg, want)
			}
		}},
		{"host ports", func(t *testing.T) {
			c.node(schedtest.Node(n("a")))
			c.node(schedtest.Node(n("b")))
			c.pod(schedtest.Pod("web1").HostPort("", v1.ProtocolTCP, 8080))
			first := c.bound("web1")
			c.pod(schedtest.Pod("web2").HostPort("", v1.ProtocolTCP, 8080))
			if second := c.bound("web2"); second == first {
				t.Errorf("both pods with host port 8080 on %s", first)
			}
			c.pod(schedtest.Pod("web3").HostPort("", v1.ProtocolTCP, 8080))
			want := "0/2 nodes are available: 2 " + nodeports.ErrReason + "."
			if msg := c.unschedulable("web3"); !strings.HasPrefix(msg, want) {
				t.Errorf("message %q, want prefix %q", msg, want)
			}
		}},
		{"pod affinity and anti-affinity", func(t *testing.T) {
			for _, z := range []string{"a", "b", "c"} {
				c.node(schedtest.Node(n("z" + z)).Zone(z))
			}
			c.pod(schedtest.Pod("db").Label("app", "db"))
			dbNode := c.bound("db")
			c.pod(schedtest.Pod("api").PodAffinity(v1.LabelTopologyZone, "app", "db"))
			if got := c.bound("api"); got != dbNode {
				t.Errorf("api bound to %s, want db's zone node %s", got, dbNode)
			}
			for i := 0; i < 3; i++ {
				c.pod(schedtest.Pod(fmt.Sprintf("web%d", i)).Label("app", "web").PodAntiAffinity(v1.LabelTopologyZone, "app", "web"))
			}
			seen := map[string]bool{}
			for i := 0; i < 3; i++ {
				node := c.bound(fmt.Sprintf("web%d", i))
				if seen[node] {
					t.Errorf("two web pods in the zone of %s", node)
				}
				seen[node] = true
			}
			c.pod(schedtest.Pod("web3").Label("app", "web").PodAntiAffinity(v1.LabelTopologyZone, "app", "web"))
			want := "0/3 nodes are available: 3 " + interpodaffinity.ErrReasonExistingAntiAffinityRulesNotMatch + "."
			if msg := c.unschedulable("web3"); !strings.HasPrefix(msg, want) {
				t.Errorf("message %q, want prefix %q", msg, want)
			}
		}},
		{"topology spread", func(t *testing.T) {
			c.node(schedtest.Node(n("a1")).Zone("a"))
			c.node(schedtest.Node(n("a2")).Zone("a"))
			c.node(schedtest.Node(n("b1")).Zone("b"))
			perZone := map[string]int{}
			for i := 0; i < 6; i++ {
				name := fmt.Sprintf("s%d", i)
				c.pod(schedtest.Pod(name).Label("app", "s").Spread(1, v1.LabelTopologyZone, v1.DoNotSchedule, "app", "s"))
				node := c.bound(name)
				if strings.HasPrefix(node, "b1") {
					perZone["b"]++
				} else {
					perZone["a"]++
				}
			}
			if perZone["a"] != 3 || perZone["b"] != 3 {
				t.Errorf("pods per zone %v, want 3 and 3", perZone)
			}
		}},
		{"volume node affinity and provisioning", func(t *testing.T) {
			ctx := context.Background()
			c.node(schedtest.Node(n("d1")))
			c.node(schedtest.Node(n("d2")))
			class := schedtest.StorageClass(n("local"), "podvisor.io/local-path", true)
			if _, err := c.client.StorageV1().StorageClasses().Create(ctx, class, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			defer c.client.StorageV1().StorageClasses().Delete(ctx, class.Name, metav1.DeleteOptions{})
			// A claim bound to a volume that lives on d2: the pod follows
			// its data.
			pv := schedtest.PV(n("pv"), "1Gi", class.Name, n("d2"))
			pvc := schedtest.PVC("bound", "1Gi", class.Name)
			pvc.Namespace, pvc.UID = c.ns, ""
			pvc.Spec.VolumeName = pv.Name
			pv.UID = ""
			if _, err := c.client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			defer c.client.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{})
			if _, err := c.client.CoreV1().PersistentVolumeClaims(c.ns).Create(ctx, pvc, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			c.pod(schedtest.Pod("reader").PVC("bound"))
			if got := c.bound("reader"); got != n("d2") {
				t.Errorf("pod with data on d2 bound to %s", got)
			}
			// A WaitForFirstConsumer claim: the scheduler picks the node
			// and marks the claim for provisioning there; the volume
			// controller (played here) binds it; then the pod is bound.
			fresh := schedtest.PVC("fresh", "1Gi", class.Name)
			fresh.Namespace, fresh.UID = c.ns, ""
			if _, err := c.client.CoreV1().PersistentVolumeClaims(c.ns).Create(ctx, fresh, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			c.pod(schedtest.Pod("writer").PVC("fresh"))
			var selected string
			c.eventually("the claim to be marked for provisioning", func() bool {
				got, err := c.client.CoreV1().PersistentVolumeClaims(c.ns).Get(ctx, "fresh", metav1.GetOptions{})
				if err != nil {
					return false
				}
				selected = got.Annotations[volumebinding.AnnSelectedNode]
				return selected != ""
			})
			if c.get("writer").Spec.NodeName != "" {
				t.Fatalf("pod bound before its volume")
			}
			got, _ := c.client.CoreV1().PersistentVolumeClaims(c.ns).Get(ctx, "fresh", metav1.GetOptions{})
			got.Spec.VolumeName = "pvc-" + string(got.UID)
			if _, err := c.client.CoreV1().PersistentVolumeClaims(c.ns).Update(ctx, got, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			if node := c.bound("writer"); node != selected {
				t.Errorf("pod bound to %s, claim provisioned for %s", node, selected)
			}
		}},
		{"ReadWriteOncePod", func(t *testing.T) {
			ctx := context.Background()
			c.node(schedtest.Node(n("r1")))
			claim := schedtest.PVC("solo", "1Gi", "")
			claim.Namespace, claim.UID = c.ns, ""
			claim.Spec.AccessModes = []v1.PersistentVolumeAccessMode{v1.ReadWriteOncePod}
			claim.Spec.VolumeName = n("solo-pv")
			pv := schedtest.PV(n("solo-pv"), "1Gi", "", "")
			pv.UID = ""
			pv.Spec.AccessModes = claim.Spec.AccessModes
			if _, err := c.client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			defer c.client.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{})
			if _, err := c.client.CoreV1().PersistentVolumeClaims(c.ns).Create(ctx, claim, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			c.pod(schedtest.Pod("first").PVC("solo"))
			c.bound("first")
			c.pod(schedtest.Pod("second").PVC("solo"))
			if msg := c.unschedulable("second"); !strings.Contains(msg, volumerestrictions.ErrReasonReadWriteOncePodConflict) {
				t.Errorf("message %q", msg)
			}
		}},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			c.t = t
			defer c.reset()
			sc.run(t)
		})
	}
}

// TestIntegrationUnschedulableAndRetry: the FailedScheduling event and
// condition say why per node count; adding a node that fits schedules
// the pod without waiting for a periodic retry.
func TestIntegrationUnschedulableAndRetry(t *testing.T) {
	c := startCluster(t)
	u := rand.String(5)
	c.node(schedtest.Node("small-1-"+u).Cap("2", "4Gi", 110))
	c.node(schedtest.Node("small-2-"+u).Cap("2", "4Gi", 110))
	c.node(schedtest.Node("tainted-"+u).Cap("8", "16Gi", 110).Taint("key", "value", v1.TaintEffectNoSchedule))
	defer c.reset()
	// The small nodes are busy with pods of the same priority: preempting
	// cannot help there; nor on the tainted node.
	c.pod(schedtest.Pod("busy-1").Node("small-1-"+u).Req("1500m", ""))
	c.pod(schedtest.Pod("busy-2").Node("small-2-"+u).Req("1500m", ""))
	c.pod(schedtest.Pod("big").Req("1", "1Gi"))
	want := "0/3 nodes are available: 1 node(s) had untolerated taint {key: value}, 2 Insufficient cpu. " +
		"preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod."
	if msg := c.unschedulable("big"); msg != want {
		t.Errorf("condition message\n got %q\nwant %q", msg, want)
	}
	c.eventually("a FailedScheduling event", func() bool { return len(c.events("big", "FailedScheduling")) > 0 })
	if ev := c.events("big", "FailedScheduling")[0]; ev.Type != v1.EventTypeWarning || ev.Message != want {
		t.Errorf("event %s %q", ev.Type, ev.Message)
	}
	attempts := c.sched.Stats().Attempts
	time.Sleep(2 * time.Second) // several back-off periods
	if got := c.sched.Stats().Attempts; got != attempts {
		t.Errorf("%d more attempts while nothing changed", got-attempts)
	}
	c.node(schedtest.Node("large-"+u).Cap("8", "16Gi", 110))
	if got := c.bound("big"); got != "large-"+u {
		t.Errorf("bound to %s", got)
	}
	c.eventually("a Scheduled event", func() bool { return len(c.events("big", "Scheduled")) == 1 })
	if ev := c.events("big", "Scheduled")[0]; ev.Message != fmt.Sprintf("Successfully assigned %s/big to large-%s", c.ns, u) {
		t.Errorf("Scheduled event %q", ev.Message)
	}
}

// TestIntegrationPreemption: a high-priority pod evicts the lowest
// priority pods it needs gone, is nominated while they terminate, and is
// bound once they are gone.
func TestIntegrationPreemption(t *testing.T) {
	c := startCluster(t)
	node := "p-" + rand.String(5)
	c.node(schedtest.Node(node).Cap("4", "8Gi", 110))
	defer c.reset()
	c.pod(schedtest.Pod("low-1").Req("1", "").Priority(1))
	c.pod(schedtest.Pod("low-2").Req("1", "").Priority(2))
	c.pod(schedtest.Pod("mid").Req("2", "").Priority(50))
	for _, p := range []string{"low-1", "low-2", "mid"} {
		c.bound(p)
	}
	c.pod(schedtest.Pod("vip").Req("2", "").Priority(1000))
	if got := c.bound("vip"); got != node {
		t.Fatalf("vip bound to %s", got)
	}
	for _, p := range []string{"low-1", "low-2"} {
		if _, err := c.client.CoreV1().Pods(c.ns).Get(context.Background(), p, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("victim %s still there (%v)", p, err)
		}
		c.eventually("a Preempted event for "+p, func() bool { return len(c.events(p, "Preempted")) == 1 })
	}
	if c.get("mid").Spec.NodeName != node {
		t.Errorf("mid (higher than the victims) was evicted")
	}
}

// TestIntegrationTwoSchedulers: two schedulers on one server elect one
// leader; every pod is bound exactly once.
func TestIntegrationTwoSchedulers(t *testing.T) {
	c := startCluster(t)
	second, err := scheduler.New(scheduler.Config{}, scheduler.Deps{Client: c.client, Log: etcdtest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = second.Run(ctx)
	}()
	defer func() {
		cancel()
		<-done
	}()
	time.Sleep(time.Second)
	if c.sched.Stats().Leading == second.Stats().Leading {
		t.Fatalf("leading: first %v, second %v", c.sched.Stats().Leading, second.Stats().Leading)
	}
	c.node(schedtest.Node("two-" + rand.String(5)))
	defer c.reset()
	for i := 0; i < 20; i++ {
		c.pod(schedtest.Pod(fmt.Sprintf("p%d", i)))
	}
	for i := 0; i < 20; i++ {
		c.bound(fmt.Sprintf("p%d", i))
	}
	if got := second.Stats().Scheduled; got != 0 {
		t.Errorf("the follower bound %d pods", got)
	}
}
