package route

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/podvisor/podvisor/internal/controller/reconcile"
)

func node(name, cidr, ip string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{PodCIDR: cidr}}
	if cidr != "" {
		n.Spec.PodCIDRs = []string{cidr}
	}
	if ip != "" {
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: name}, {Type: corev1.NodeInternalIP, Address: ip}}
	}
	return n
}

func TestRoutes(t *testing.T) {
	nodes := []*corev1.Node{
		node("c", "10.42.2.0/24", "192.168.0.3"),
		node("a", "10.42.0.0/24", "192.168.0.1"),
		node("b", "10.42.1.0/24", "192.168.0.2"),
		node("no-cidr", "", "192.168.0.4"),
		node("no-ip", "10.42.4.0/24", ""),
		node("v6-only-ip", "10.42.5.0/24", "fd00::5"),
	}
	got := Routes("a", nodes)
	want := []Route{
		{Destination: "10.42.1.0/24", Gateway: "192.168.0.2", Node: "b"},
		{Destination: "10.42.2.0/24", Gateway: "192.168.0.3", Node: "c"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("routes of a (-want +got):\n%s", diff)
	}
	if got := Routes("lonely", nil); got == nil || len(got) != 0 {
		t.Errorf("routes of a lone node = %#v, want an empty list", got)
	}
}

func TestReconcile(t *testing.T) {
	objs := []runtime.Object{node("a", "10.42.0.0/24", "192.168.0.1"), node("b", "10.42.1.0/24", "192.168.0.2"), node("pending", "", "")}
	client := fake.NewClientset(objs...)
	f := informers.NewSharedInformerFactory(client, 0)
	c, err := New(Config{}, reconcile.Deps{Client: client, Informers: f, Recorder: record.NewFakeRecorder(10),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Clock: clocktesting.NewFakeClock(time.Now())})
	if err != nil {
		t.Fatal(err)
	}
	sync := func() {
		l, _ := client.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
		for i := range l.Items {
			_ = f.Core().V1().Nodes().Informer().GetIndexer().Update(&l.Items[i])
		}
	}
	sync()
	for _, n := range []string{"a", "b", "pending"} {
		if err := c.Reconcile(context.Background(), n); err != nil {
			t.Fatalf("Reconcile(%s): %v", n, err)
		}
	}
	sync()
	get := func(n string) *corev1.Node {
		o, err := client.CoreV1().Nodes().Get(context.Background(), n, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	tests := []struct {
		node, routes, network string
	}{
		{"a", `[{"destination":"10.42.1.0/24","gateway":"192.168.0.2","node":"b"}]`, "False/RouteCreated"},
		{"b", `[{"destination":"10.42.0.0/24","gateway":"192.168.0.1","node":"a"}]`, "False/RouteCreated"},
		{"pending", `[{"destination":"10.42.0.0/24","gateway":"192.168.0.1","node":"a"},{"destination":"10.42.1.0/24","gateway":"192.168.0.2","node":"b"}]`, ""},
	}
	for _, tc := range tests {
		n := get(tc.node)
		if got := n.Annotations[RoutesAnnotation]; got != tc.routes {
			t.Errorf("%s routes = %s, want %s", tc.node, got, tc.routes)
		}
		if got := networkCondition(n); got != tc.network {
			t.Errorf("%s NetworkUnavailable = %q, want %q", tc.node, got, tc.network)
		}
		if r, err := ParseRoutes(n.Annotations[RoutesAnnotation]); err != nil || len(r) == 0 {
			t.Errorf("ParseRoutes(%s) = %v, %v", tc.node, r, err)
		}
	}
	// Up to date: no writes.
	client.ClearActions()
	for _, n := range []string{"a", "b", "pending"} {
		if err := c.Reconcile(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	if len(client.Actions()) != 0 {
		t.Errorf("writes on up-to-date nodes: %v", client.Actions())
	}
}
