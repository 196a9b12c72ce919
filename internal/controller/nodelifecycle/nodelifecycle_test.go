package nodelifecycle

import (
	"context"
	"io"
	"log/slog"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/podvisor/podvisor/internal/controller/reconcile"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type env struct {
	t      *testing.T
	c      *Controller
	client *fake.Clientset
	f      informers.SharedInformerFactory
	clock  *clocktesting.FakeClock
}

func newEnv(t *testing.T, cfg Config, objs ...runtime.Object) *env {
	t.Helper()
	client := fake.NewClientset(objs...)
	f := informers.NewSharedInformerFactory(client, 0)
	clk := clocktesting.NewFakeClock(t0)
	c, err := New(cfg, reconcile.Deps{Client: client, Informers: f, Recorder: record.NewFakeRecorder(100),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, c: c, client: client, f: f, clock: clk}
	e.sync()
	return e
}

// sync copies the fake API's nodes, leases and pods into the informer
// caches, as the watches would.
func (e *env) sync() {
	e.t.Helper()
	ctx := context.Background()
	nodes, _ := e.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	ni := e.f.Core().V1().Nodes().Informer().GetIndexer()
	_ = ni.Replace(nil, "")
	for i := range nodes.Items {
		_ = ni.Add(&nodes.Items[i])
	}
	leases, _ := e.client.CoordinationV1().Leases(LeaseNamespace).List(ctx, metav1.ListOptions{})
	li := e.f.Coordination().V1().Leases().Informer().GetIndexer()
	_ = li.Replace(nil, "")
	for i := range leases.Items {
		_ = li.Add(&leases.Items[i])
	}
	pods, _ := e.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	pi := e.f.Core().V1().Pods().Informer().GetIndexer()
	_ = pi.Replace(nil, "")
	for i := range pods.Items {
		_ = pi.Add(&pods.Items[i])
	}
}

// reconcile runs one pass over node and returns the requested requeue
// delay (0 for none).
func (e *env) reconcile(node string) time.Duration {
	e.t.Helper()
	err := e.c.Reconcile(context.Background(), node)
	e.sync()
	if err == nil {
		return 0
	}
	// The harness's requeue error is opaque: find the delay by its text.
	for s := time.Duration(0); s <= 10*time.Minute; s += time.Second {
		if reconcile.RequeueAfter(s).Error() == err.Error() {
			return s
		}
	}
	e.t.Fatalf("Reconcile(%s): %v", node, err)
	return 0
}

func (e *env) node(name string) *corev1.Node {
	e.t.Helper()
	n, err := e.client.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *env) pods() []string {
	e.t.Helper()
	l, _ := e.client.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{})
	var out []string
	for _, p := range l.Items {
		out = append(out, p.Name)
	}
	sort.Strings(out)
	return out
}

func (e *env) renew(node string) {
	e.t.Helper()
	l, err := e.client.CoordinationV1().Leases(LeaseNamespace).Get(context.Background(), node, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	ts := metav1.NewMicroTime(e.clock.Now())
	l.Spec.RenewTime = &ts
	if _, err := e.client.CoordinationV1().Leases(LeaseNamespace).Update(context.Background(), l, metav1.UpdateOptions{}); err != nil {
		e.t.Fatal(err)
	}
	e.sync()
}

func (e *env) setReady(node string, st corev1.ConditionStatus) {
	e.t.Helper()
	n := e.node(node)
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == corev1.NodeReady {
			n.Status.Conditions[i].Status = st
			n.Status.Conditions[i].LastHeartbeatTime = metav1.NewTime(e.clock.Now())
		}
	}
	if _, err := e.client.CoreV1().Nodes().UpdateStatus(context.Background(), n, metav1.UpdateOptions{}); err != nil {
		e.t.Fatal(err)
	}
	e.sync()
}

func node(name, cidr string) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.NodeSpec{PodCIDR: cidr},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
			{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.NewTime(t0)},
			{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse},
		}},
	}
}

func lease(name string) *coordinationv1.Lease {
	ts := metav1.NewMicroTime(t0)
	return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: LeaseNamespace},
		Spec: coordinationv1.LeaseSpec{RenewTime: &ts}}
}

func pod(name, nodeName string, tols ...corev1.Toleration) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name)},
		Spec:       corev1.PodSpec{NodeName: nodeName, Tolerations: tols},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}
}

func tolerate(key string, seconds *int64) corev1.Toleration {
	return corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: seconds}
}

func secs(s int64) *int64 { return &s }

func taints(n *corev1.Node) []string {
	var out []string
	for _, t := range n.Spec.Taints {
		out = append(out, t.Key+":"+string(t.Effect))
	}
	sort.Strings(out)
	return out
}

func condStatus(n *corev1.Node, t corev1.NodeConditionType) string {
	if c := condition(n, t); c != nil {
		return string(c.Status) + "/" + c.Reason
	}
	return ""
}

// TestLeaseExpiryTaintsAndEvicts walks a node from healthy to Unknown,
// through taint-based eviction of its pods by their tolerations, and back.
func TestLeaseExpiryTaintsAndEvicts(t *testing.T) {
	e := newEnv(t, Config{},
		node("n1", "10.42.0.0/24"), lease("n1"), node("n2", "10.42.1.0/24"), lease("n2"),
		pod("default-toleration", "n1"),
		pod("tolerates-60s", "n1", tolerate(corev1.TaintNodeUnreachable, secs(60))),
		pod("tolerates-forever", "n1", tolerate(corev1.TaintNodeUnreachable, nil)),
		pod("tolerates-0s", "n1", tolerate(corev1.TaintNodeUnreachable, secs(0))),
		pod("on-n2", "n2"),
	)
	e.c.Rebuild()
	if d := e.reconcile("n1"); d != 40*time.Second {
		t.Fatalf("healthy node: requeue after %v, want the grace period 40s", d)
	}
	// Renewals keep it healthy past the first grace period.
	e.clock.Step(30 * time.Second)
	e.renew("n1")
	e.renew("n2")
	if d := e.reconcile("n1"); d != 40*time.Second {
		t.Fatalf("renewed node: requeue after %v, want 40s", d)
	}
	e.clock.Step(30 * time.Second)
	e.reconcile("n2") // n2 was seen renewed at 30s: still fine at 60s
	if got := condStatus(e.node("n1"), corev1.NodeReady); got != "True/" {
		t.Fatalf("n1 Ready = %s after 30s of silence, want True", got)
	}

	// 40s after the last renewal, n1 goes Unknown and is tainted.
	e.clock.Step(10 * time.Second)
	d := e.reconcile("n1")
	n1 := e.node("n1")
	if got := condStatus(n1, corev1.NodeReady); got != "Unknown/NodeStatusUnknown" {
		t.Errorf("Ready = %s, want Unknown/NodeStatusUnknown", got)
	}
	if got := condStatus(n1, corev1.NodeMemoryPressure); got != "Unknown/NodeStatusUnknown" {
		t.Errorf("MemoryPressure = %s, want Unknown/NodeStatusUnknown", got)
	}
	if diff := cmp.Diff([]string{"node.kubernetes.io/unreachable:NoExecute", "node.kubernetes.io/unreachable:NoSchedule"}, taints(n1)); diff != "" {
		t.Errorf("taints (-want +got):\n%s", diff)
	}
	// The pod tolerating 0s goes at once; the next deadline is 60s.
	if diff := cmp.Diff([]string{"default-toleration", "on-n2", "tolerates-60s", "tolerates-forever"}, e.pods()); diff != "" {
		t.Errorf("pods (-want +got):\n%s", diff)
	}
	if d != 60*time.Second {
		t.Errorf("requeue after %v, want 60s (the 60s toleration)", d)
	}
	e.clock.Step(59 * time.Second)
	if d := e.reconcile("n1"); d != time.Second {
		t.Errorf("requeue after %v, want 1s", d)
	}
	e.clock.Step(time.Second)
	if d := e.reconcile("n1"); d != 240*time.Second {
		t.Errorf("requeue after %v, want 240s (the default 300s toleration)", d)
	}
	if diff := cmp.Diff([]string{"default-toleration", "on-n2", "tolerates-forever"}, e.pods()); diff != "" {
		t.Errorf("pods after 60s (-want +got):\n%s", diff)
	}
	e.clock.Step(240 * time.Second)
	e.reconcile("n1")
	if diff := cmp.Diff([]string{"on-n2", "tolerates-forever"}, e.pods()); diff != "" {
		t.Errorf("pods after 300s (-want +got):\n%s", diff)
	}
	// Evicted pods carry the DisruptionTarget condition first.
	var sawCondition bool
	for _, a := range e.client.Actions() {
		if a.GetVerb() == "patch" && a.GetSubresource() == "status" && a.GetResource().Resource == "pods" {
			sawCondition = true
		}
	}
	if !sawCondition {
		t.Error("no DisruptionTarget status patch before eviction")
	}

	// The kubelet comes back: Ready again, taints gone.
	e.renew("n1")
	e.setReady("n1", corev1.ConditionTrue)
	e.reconcile("n1")
	if got := taints(e.node("n1")); len(got) != 0 {
		t.Errorf("taints after recovery = %v, want none", got)
	}
}

func TestNotReadyTaints(t *testing.T) {
	e := newEnv(t, Config{}, node("n1", "10.42.0.0/24"), lease("n1"), node("n2", "10.42.1.0/24"), lease("n2"))
	e.setReady("n1", corev1.ConditionFalse)
	e.reconcile("n1")
	if diff := cmp.Diff([]string{"node.kubernetes.io/not-ready:NoExecute", "node.kubernetes.io/not-ready:NoSchedule"}, taints(e.node("n1"))); diff != "" {
		t.Errorf("taints (-want +got):\n%s", diff)
	}
	// Pressure and cordon taints are NoSchedule only; foreign taints stay.
	n := e.node("n1")
	n.Spec.Unschedulable = true
	n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: "example.com/mine", Effect: corev1.TaintEffectNoSchedule})
	n.Status.Conditions[0].Status = corev1.ConditionTrue
	n.Status.Conditions[1].Status = corev1.ConditionTrue
	if _, err := e.client.CoreV1().Nodes().Update(context.Background(), n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.sync()
	e.reconcile("n1")
	want := []string{"example.com/mine:NoSchedule", "node.kubernetes.io/memory-pressure:NoSchedule", "node.kubernetes.io/unschedulable:NoSchedule"}
	if diff := cmp.Diff(want, taints(e.node("n1"))); diff != "" {
		t.Errorf("taints (-want +got):\n%s", diff)
	}
}

func TestEvictionRateLimit(t *testing.T) {
	e := newEnv(t, Config{EvictionRate: 0.1},
		node("a", ""), node("b", ""), node("c", ""), node("healthy", ""))
	for _, n := range []string{"a", "b"} {
		e.setReady(n, corev1.ConditionFalse)
	}
	e.reconcile("a")
	if d := e.reconcile("b"); d != 10*time.Second {
		t.Errorf("second node: requeue after %v, want 10s (0.1 nodes/s)", d)
	}
	if diff := cmp.Diff([]string{"node.kubernetes.io/not-ready:NoSchedule"}, taints(e.node("b"))); diff != "" {
		t.Errorf("b's taints before its turn (-want +got):\n%s", diff)
	}
	e.clock.Step(10 * time.Second)
	e.reconcile("b")
	if diff := cmp.Diff([]string{"node.kubernetes.io/not-ready:NoExecute", "node.kubernetes.io/not-ready:NoSchedule"}, taints(e.node("b"))); diff != "" {
		t.Errorf("b's taints after its turn (-want +got):\n%s", diff)
	}
}

func TestFullDisruptionStopsEviction(t *testing.T) {
	e := newEnv(t, Config{}, node("a", ""), node("b", ""), pod("p", "a"))
	e.setReady("a", corev1.ConditionFalse)
	e.setReady("b", corev1.ConditionFalse)
	e.reconcile("a")
	if diff := cmp.Diff([]string{"node.kubernetes.io/not-ready:NoSchedule"}, taints(e.node("a"))); diff != "" {
		t.Errorf("taints with every node down (-want +got):\n%s", diff)
	}
	e.clock.Step(time.Hour)
	e.reconcile("a")
	if diff := cmp.Diff([]string{"p"}, e.pods()); diff != "" {
		t.Errorf("pods (-want +got):\n%s", diff)
	}
}

func TestNodeNeverReported(t *testing.T) {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "new", CreationTimestamp: metav1.NewTime(t0)}}
	e := newEnv(t, Config{}, n, node("other", ""))
	e.reconcile("new")
	e.clock.Step(41 * time.Second)
	e.reconcile("new")
	if got := condStatus(e.node("new"), corev1.NodeReady); got != "Unknown/NodeStatusNeverUpdated" {
		t.Errorf("Ready = %s, want Unknown/NodeStatusNeverUpdated", got)
	}
}

func TestPodCIDRAllocation(t *testing.T) {
	e := newEnv(t, Config{ClusterCIDR: "10.42.0.0/23"}, node("old", "10.42.0.0/24"), node("new", ""), node("third", ""))
	e.c.Rebuild() // a restart: old's CIDR is known before anything else is allocated
	e.reconcile("new")
	if got := e.node("new").Spec.PodCIDR; got != "10.42.1.0/24" {
		t.Errorf("new node's pod CIDR = %q, want 10.42.1.0/24 (10.42.0.0/24 is old's)", got)
	}
	if got := e.node("new").Spec.PodCIDRs; len(got) != 1 || got[0] != "10.42.1.0/24" {
		t.Errorf("podCIDRs = %v", got)
	}
	// Exhausted: an error and an event; nothing written.
	if err := e.c.Reconcile(context.Background(), "third"); err == nil {
		t.Error("allocation from an exhausted range: got nil error")
	}
	if got := e.node("third").Spec.PodCIDR; got != "" {
		t.Errorf("third node got %q from an exhausted range", got)
	}
	// Deleting a node frees its CIDR for the next one.
	if err := e.client.CoreV1().Nodes().Delete(context.Background(), "old", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.sync()
	e.reconcile("old")
	e.reconcile("third")
	if got := e.node("third").Spec.PodCIDR; got != "10.42.0.0/24" {
		t.Errorf("third node's pod CIDR = %q, want the freed 10.42.0.0/24", got)
	}
}

func TestEvictionTime(t *testing.T) {
	added := metav1.NewTime(t0)
	unreachable := corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &added}
	custom := corev1.Taint{Key: "example.com/drain", Effect: corev1.TaintEffectNoExecute, TimeAdded: &added}
	noSchedule := corev1.Taint{Key: "example.com/x", Effect: corev1.TaintEffectNoSchedule}
	now := t0.Add(10 * time.Second)
	tests := []struct {
		name   string
		tols   []corev1.Toleration
		taints []corev1.Taint
		want   time.Duration // from t0; -1: never
	}{
		{"no NoExecute taint", nil, []corev1.Taint{noSchedule}, -1},
		{"default toleration for unreachable", nil, []corev1.Taint{unreachable}, 300 * time.Second},
		{"explicit toleration", []corev1.Toleration{tolerate(corev1.TaintNodeUnreachable, secs(30))}, []corev1.Taint{unreachable}, 30 * time.Second},
		{"forever", []corev1.Toleration{tolerate(corev1.TaintNodeUnreachable, nil)}, []corev1.Taint{unreachable}, -1},
		{"wildcard toleration", []corev1.Toleration{{Operator: corev1.TolerationOpExists}}, []corev1.Taint{unreachable, custom}, -1},
		{"untolerated custom taint: now", nil, []corev1.Taint{custom}, 10 * time.Second},
		{"shortest of two tolerations", []corev1.Toleration{tolerate(corev1.TaintNodeUnreachable, secs(100)), tolerate(corev1.TaintNodeUnreachable, secs(20))}, []corev1.Taint{unreachable}, 20 * time.Second},
		{"negative is zero", []corev1.Toleration{tolerate(corev1.TaintNodeUnreachable, secs(-5))}, []corev1.Taint{unreachable}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			at, ok := EvictionTime(pod("p", "n", tc.tols...), tc.taints, 300, now)
			if tc.want < 0 {
				if ok {
					t.Errorf("evict at %v, want never", at)
				}
				return
			}
			if !ok || !at.Equal(t0.Add(tc.want)) {
				t.Errorf("evict at %v (ok %v), want %v", at, ok, t0.Add(tc.want))
			}
		})
	}
}
