//go:build integration

package server_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"

	"github.com/podvisor/podvisor/internal/server"
	"github.com/podvisor/podvisor/internal/testutil/schedtest"
	"github.com/podvisor/podvisor/internal/testutil/servertest"
)

// schedCluster is a podvisor server running its scheduler, with fake Node
// objects and no agent.
type schedCluster struct {
	t      *testing.T
	srv    *servertest.Server
	client kubernetes.Interface
	ns     string
}

func startSchedCluster(t *testing.T, cfg server.Config, nodes ...string) *schedCluster {
	t.Helper()
	srv := servertest.Start(t, cfg)
	c := &schedCluster{t: t, srv: srv, client: srv.Client, ns: "sched-" + rand.String(6)}
	ctx := context.Background()
	if _, err := c.client.CoreV1().Namespaces().Create(ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: c.ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	for _, n := range nodes {
		node := schedtest.Node(n).Cap("2", "4Gi", 110).Obj()
		node.UID = ""
		created, err := c.client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("creating node %s: %v", n, err)
		}
		created.Status = node.Status
		if _, err := c.client.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("setting node %s's status: %v", n, err)
		}
	}
	return c
}

func (c *schedCluster) eventually(what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// leaseHolder returns the holder of the Lease kube-system/name, or "".
func (c *schedCluster) leaseHolder(name string) string {
	l, err := c.client.CoordinationV1().Leases("kube-system").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil || l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

func (c *schedCluster) createPod(p *v1.Pod) {
	c.t.Helper()
	p.Namespace, p.UID = c.ns, ""
	if _, err := c.client.CoreV1().Pods(c.ns).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		c.t.Fatalf("creating pod %s: %v", p.Name, err)
	}
}

func (c *schedCluster) pod(name string) *v1.Pod {
	c.t.Helper()
	p, err := c.client.CoreV1().Pods(c.ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		c.t.Fatalf("getting pod %s: %v", name, err)
	}
	return p
}

func (c *schedCluster) events(pod string) []v1.Event {
	c.t.Helper()
	list, err := c.client.CoreV1().Events(c.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		c.t.Fatalf("listing events: %v", err)
	}
	var out []v1.Event
	for _, e := range list.Items {
		if e.InvolvedObject.Kind == "Pod" && e.InvolvedObject.Name == pod {
			out = append(out, e)
		}
	}
	return out
}

// failedScheduling waits for pod's FailedScheduling event and returns it.
func (c *schedCluster) failedScheduling(pod string) v1.Event {
	c.t.Helper()
	var ev v1.Event
	c.eventually("a FailedScheduling event for "+pod, func() bool {
		for _, e := range c.events(pod) {
			if e.Reason == "FailedScheduling" {
				ev = e
				return true
			}
		}
		return false
	})
	return ev
}

// TestIntegrationServerScheduler runs `podvisor server` with its scheduler
// (and the Deployment and ReplicaSet controllers of its controller
// manager) and two fake nodes: a Deployment's pods are bound over both
// nodes, a pod no node can hold stays Pending with the reason, and a pod
// for another scheduler is left alone.
func TestIntegrationServerScheduler(t *testing.T) {
	u := rand.String(5)
	nodes := []string{"node-a-" + u, "node-b-" + u}
	cfg := server.Config{SchedulerName: server.DefaultSchedulerName}
	// Not the node lifecycle controller: the fake nodes renew no Lease.
	cfg.ControllerManager.Controllers = []string{"deployment", "replicaset"}
	c := startSchedCluster(t, cfg, nodes...)
	ctx := context.Background()

	// The scheduler authenticates as system:kube-scheduler and holds the
	// default scheduler's Lease.
	c.eventually("the scheduler to hold its Lease", func() bool {
		return c.srv.Scheduler().Stats().Leading && c.leaseHolder("kube-scheduler") != ""
	})
	if h := c.leaseHolder("kube-scheduler"); !strings.HasSuffix(h, "_"+c.srv.Addr()) {
		t.Errorf("Lease kube-scheduler held by %q, want this server (…_%s)", h, c.srv.Addr())
	}

	replicas := int32(4)
	labels := map[string]string{"app": "web-" + u}
	deploy := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: c.ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: v1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: v1.PodSpec{Containers: []v1.Container{{Name: "web", Image: "busybox",
					Resources: v1.ResourceRequirements{Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse("100m")}}}}},
			},
		},
	}
	if _, err := c.client.AppsV1().Deployments(c.ns).Create(ctx, deploy, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating deployment: %v", err)
	}
	perNode := map[string]int{}
	c.eventually("the Deployment's 4 pods to be bound", func() bool {
		list, err := c.client.CoreV1().Pods(c.ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web-" + u})
		if err != nil || len(list.Items) != int(replicas) {
			return false
		}
		clear(perNode)
		for _, p := range list.Items {
			if p.Spec.NodeName == "" {
				return false
			}
			perNode[p.Spec.NodeName]++
		}
		return true
	})
	for _, n := range nodes {
		if perNode[n] == 0 {
			t.Errorf("no pod of the Deployment on %s: %v", n, perNode)
		}
	}

	// A pod for another scheduler, then one that fits nowhere: once the
	// scheduler has reported the second, it has seen (and skipped) the
	// first.
	c.createPod(schedtest.Pod("elsewhere").SchedulerName("other-scheduler").Req("100m", "").Obj())
	c.createPod(schedtest.Pod("huge").Req("100", "").Obj())
	// 100 cpu is more than either node has at all: evicting pods cannot
	// help, so preemption says so (as kube-scheduler's does).
	want := "0/2 nodes are available: 2 Insufficient cpu. " +
		"preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
	ev := c.failedScheduling("huge")
	if ev.Type != v1.EventTypeWarning || ev.Message != want || ev.Source.Component != server.DefaultSchedulerName {
		t.Errorf("FailedScheduling event: %s %q from %q\nwant Warning %q from %q", ev.Type, ev.Message, ev.Source.Component, want, server.DefaultSchedulerName)
	}
	huge := c.pod("huge")
	if huge.Spec.NodeName != "" || huge.Status.Phase != v1.PodPending {
		t.Errorf("pod huge: node %q phase %s, want unbound and Pending", huge.Spec.NodeName, huge.Status.Phase)
	}
	c.eventually("huge's PodScheduled=False condition", func() bool {
		for _, cond := range c.pod("huge").Status.Conditions {
			if cond.Type == v1.PodScheduled && cond.Status == v1.ConditionFalse && cond.Reason == v1.PodReasonUnschedulable && cond.Message == want {
				return true
			}
		}
		return false
	})
	other := c.pod("elsewhere")
	if other.Spec.NodeName != "" || len(other.Status.Conditions) != 0 {
		t.Errorf("pod for other-scheduler: node %q conditions %v, want untouched", other.Spec.NodeName, other.Status.Conditions)
	}
	if evs := c.events("elsewhere"); len(evs) != 0 {
		t.Errorf("pod for other-scheduler has events: %v", evs)
	}

	// A node with room makes the waiting pod schedulable: it is retried on
	// the cluster event, not left behind.
	big := schedtest.Node("node-big-"+u).Cap("128", "64Gi", 110).Obj()
	big.UID = ""
	created, err := c.client.CoreV1().Nodes().Create(ctx, big, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating node: %v", err)
	}
	created.Status = big.Status
	if _, err := c.client.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("setting node status: %v", err)
	}
	c.eventually("huge to be bound to the new node", func() bool { return c.pod("huge").Spec.NodeName == big.Name })
}

// TestIntegrationServerSchedulerName: a server started with
// --scheduler-name binds only the pods that name it, elects on a Lease of
// that name (which the system:kube-scheduler user is granted), and leaves
// default-scheduler pods alone.
func TestIntegrationServerSchedulerName(t *testing.T) {
	u := rand.String(5)
	name := "custom-" + u
	c := startSchedCluster(t, server.Config{SchedulerName: name}, "node-"+u)
	c.eventually("the scheduler to hold Lease "+name, func() bool {
		return c.srv.Scheduler().Stats().Leading && c.leaseHolder(name) != ""
	})
	if h := c.leaseHolder("kube-scheduler"); h != "" {
		t.Errorf("Lease kube-scheduler held by %q; a %s scheduler must not take it", h, name)
	}
	c.createPod(schedtest.Pod("default").Req("100m", "").Obj())
	c.createPod(schedtest.Pod("mine").SchedulerName(name).Req("100m", "").Obj())
	c.eventually("pod mine to be bound", func() bool { return c.pod("mine").Spec.NodeName == "node-"+u })
	c.eventually("a Scheduled event for mine", func() bool {
		for _, e := range c.events("mine") {
			if e.Reason == "Scheduled" {
				return e.Message == fmt.Sprintf("Successfully assigned %s/mine to node-%s", c.ns, u) && e.Source.Component == name
			}
		}
		return false
	})
	if p := c.pod("default"); p.Spec.NodeName != "" || len(p.Status.Conditions) != 0 {
		t.Errorf("default-scheduler pod: node %q conditions %v, want untouched", p.Spec.NodeName, p.Status.Conditions)
	}
}

// TestIntegrationServerStopReleasesSchedulerLease: Stop stops the
// scheduler while the API server still serves, so it releases its Lease
// and the next server on the data dir (a new identity: another port)
// schedules at once instead of waiting for the Lease to expire (15s).
func TestIntegrationServerStopReleasesSchedulerLease(t *testing.T) {
	dir := t.TempDir()
	cfg := server.Config{DataDir: dir, SchedulerName: server.DefaultSchedulerName}
	first := &schedCluster{t: t, srv: servertest.Start(t, cfg)}
	first.client = first.srv.Client
	first.eventually("the first server's scheduler to hold its Lease", func() bool {
		return first.srv.Scheduler().Stats().Leading && first.leaseHolder("kube-scheduler") != ""
	})
	old := first.leaseHolder("kube-scheduler")
	first.srv.Stop()

	second := &schedCluster{t: t, srv: servertest.Start(t, cfg)}
	second.client = second.srv.Client
	// (Port 0 may, rarely, give the second server the first one's port
	// and so its identity, which may take the Lease over at once.)
	if h := second.leaseHolder("kube-scheduler"); h == old && second.srv.Addr() != first.srv.Addr() {
		t.Errorf("Lease kube-scheduler still held by the stopped server (%q): not released on Stop", h)
	}
	second.eventually("the second server's scheduler to lead", func() bool {
		return second.srv.Scheduler().Stats().Leading && strings.HasSuffix(second.leaseHolder("kube-scheduler"), "_"+second.srv.Addr())
	})
}
