package service

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/podvisor/podvisor/internal/controller/reconcile"
)

func TestParsePool(t *testing.T) {
	tests := []struct {
		spec    string
		want    []string // addresses in order
		wantErr bool
	}{
		{spec: "192.168.1.240/30", want: []string{"192.168.1.241", "192.168.1.242"}},
		{spec: "192.168.1.8/31", want: []string{"192.168.1.8", "192.168.1.9"}},
		{spec: "10.0.0.1-10.0.0.3, 10.0.1.7", want: []string{"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.1.7"}},
		{spec: "fd00::1-fd00::2", want: []string{"fd00::1", "fd00::2"}},
		{spec: "", want: nil},
		{spec: "10.0.0.5-10.0.0.1", wantErr: true},
		{spec: "10.0.0.1-fd00::1", wantErr: true},
		{spec: "10.0.0.0/33", wantErr: true},
		{spec: "nonsense", wantErr: true},
		{spec: "10.0.0.0/8", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			p, err := ParsePool(tc.spec)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ParsePool(%q) error = %v, want error %v", tc.spec, err, tc.wantErr)
			}
			if err != nil {
				return
			}
			var got []string
			for i := 0; ; i++ {
				a, err := p.Allocate(string(rune('a'+i)), netip.Addr{})
				if errors.Is(err, ErrPoolExhausted) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, a.String())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("addresses (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPoolAllocate(t *testing.T) {
	p, err := ParsePool("10.0.0.1-10.0.0.3")
	if err != nil {
		t.Fatal(err)
	}
	mustAlloc := func(svc, want string) netip.Addr {
		t.Helper()
		var w netip.Addr
		if want != "" {
			w = netip.MustParseAddr(want)
		}
		a, err := p.Allocate(svc, w)
		if err != nil {
			t.Fatalf("Allocate(%s, %q): %v", svc, want, err)
		}
		return a
	}
	if a := mustAlloc("ns/a", ""); a.String() != "10.0.0.1" {
		t.Errorf("first = %s", a)
	}
	if a := mustAlloc("ns/b", "10.0.0.3"); a.String() != "10.0.0.3" {
		t.Errorf("requested = %s", a)
	}
	if a := mustAlloc("ns/a", ""); a.String() != "10.0.0.1" {
		t.Errorf("again = %s, want the same", a)
	}
	if _, err := p.Allocate("ns/c", netip.MustParseAddr("10.0.0.3")); !errors.Is(err, ErrInUse) {
		t.Errorf("taken address: %v, want ErrInUse", err)
	}
	if _, err := p.Allocate("ns/c", netip.MustParseAddr("10.9.9.9")); !errors.Is(err, ErrNotInPool) {
		t.Errorf("foreign address: %v, want ErrNotInPool", err)
	}
	mustAlloc("ns/c", "")
	if _, err := p.Allocate("ns/d", netip.Addr{}); !errors.Is(err, ErrPoolExhausted) {
		t.Errorf("full pool: %v, want ErrPoolExhausted", err)
	}
	p.Release("ns/b")
	if a := mustAlloc("ns/d", ""); a.String() != "10.0.0.3" {
		t.Errorf("after release = %s, want 10.0.0.3", a)
	}
}

type env struct {
	c      *Controller
	client *fake.Clientset
	f      informers.SharedInformerFactory
	rec    *record.FakeRecorder
}

func newEnv(t *testing.T, pool string, objs ...runtime.Object) *env {
	t.Helper()
	client := fake.NewClientset(objs...)
	f := informers.NewSharedInformerFactory(client, 0)
	rec := record.NewFakeRecorder(100)
	c, err := New(Config{Pool: pool}, reconcile.Deps{Client: client, Informers: f, Recorder: rec,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Clock: clocktesting.NewFakeClock(time.Now())})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{c: c, client: client, f: f, rec: rec}
	e.sync()
	return e
}

func (e *env) sync() {
	l, _ := e.client.CoreV1().Services("").List(context.Background(), metav1.ListOptions{})
	idx := e.f.Core().V1().Services().Informer().GetIndexer()
	_ = idx.Replace(nil, "")
	for i := range l.Items {
		_ = idx.Add(&l.Items[i])
	}
}

func (e *env) ingress(t *testing.T, name string) []string {
	t.Helper()
	s, err := e.client.CoreV1().Services("ns").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, in := range s.Status.LoadBalancer.Ingress {
		out = append(out, in.IP)
	}
	return out
}

func lb(name string, opts ...func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIP: "10.43.0.10"}}
	for _, o := range opts {
		o(s)
	}
	return s
}

func TestLoadBalancerLifecycle(t *testing.T) {
	e := newEnv(t, "192.168.100.10-192.168.100.11",
		lb("a"), lb("b"), lb("c"),
		lb("other-class", func(s *corev1.Service) { c := "example.com/lb"; s.Spec.LoadBalancerClass = &c }),
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "plain", Namespace: "ns"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP}})
	ctx := context.Background()
	for _, n := range []string{"a", "b", "other-class", "plain"} {
		if err := e.c.Reconcile(ctx, "ns/"+n); err != nil {
			t.Fatalf("Reconcile(%s): %v", n, err)
		}
	}
	e.sync()
	if diff := cmp.Diff([]string{"192.168.100.10"}, e.ingress(t, "a")); diff != "" {
		t.Errorf("a (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"192.168.100.11"}, e.ingress(t, "b")); diff != "" {
		t.Errorf("b (-want +got):\n%s", diff)
	}
	if got := e.ingress(t, "other-class"); got != nil {
		t.Errorf("another class's service got %v", got)
	}
	// Exhausted: an error (retry) and a warning event.
	if err := e.c.Reconcile(ctx, "ns/c"); !errors.Is(err, ErrPoolExhausted) {
		t.Errorf("Reconcile(c) on a full pool: %v, want ErrPoolExhausted", err)
	}
	if !sawEvent(e.rec, "Warning AllocationFailed") {
		t.Error("no AllocationFailed event")
	}
	// b becomes a ClusterIP service: its address is released and its
	// status cleared; c gets the address.
	b, _ := e.client.CoreV1().Services("ns").Get(ctx, "b", metav1.GetOptions{})
	b.Spec.Type = corev1.ServiceTypeClusterIP
	if _, err := e.client.CoreV1().Services("ns").Update(ctx, b, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.sync()
	if err := e.c.Reconcile(ctx, "ns/b"); err != nil {
		t.Fatal(err)
	}
	if got := e.ingress(t, "b"); got != nil {
		t.Errorf("b's status after type change = %v, want cleared", got)
	}
	if e.c.ctl.Len() != 1 {
		t.Errorf("queue length after a release = %d, want 1 (c, waiting)", e.c.ctl.Len())
	}
	if err := e.c.Reconcile(ctx, "ns/c"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"192.168.100.11"}, e.ingress(t, "c")); diff != "" {
		t.Errorf("c (-want +got):\n%s", diff)
	}
	// a is deleted: its address goes back to the pool.
	if err := e.client.CoreV1().Services("ns").Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.sync()
	if err := e.c.Reconcile(ctx, "ns/a"); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.c.pool.Held("ns/a"); ok {
		t.Error("deleted service still holds its address")
	}
}

func sawEvent(rec *record.FakeRecorder, prefix string) bool {
	for {
		select {
		case ev := <-rec.Events:
			if len(ev) >= len(prefix) && ev[:len(prefix)] == prefix {
				return true
			}
		default:
			return false
		}
	}
}

func TestLoadBalancerRequestedAndRebuilt(t *testing.T) {
	withStatus := lb("existing", func(s *corev1.Service) {
		s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "192.168.100.10"}}
	})
	e := newEnv(t, "192.168.100.10-192.168.100.12", withStatus,
		lb("new"), lb("wants", func(s *corev1.Service) { s.Spec.LoadBalancerIP = "192.168.100.12" }),
		lb("wants-taken", func(s *corev1.Service) { s.Spec.LoadBalancerIP = "192.168.100.10" }))
	e.c.Rebuild() // as after a restart
	ctx := context.Background()
	for _, n := range []string{"new", "wants", "existing"} {
		if err := e.c.Reconcile(ctx, "ns/"+n); err != nil {
			t.Fatalf("Reconcile(%s): %v", n, err)
		}
	}
	want := map[string][]string{"existing": {"192.168.100.10"}, "new": {"192.168.100.11"}, "wants": {"192.168.100.12"}}
	for n, w := range want {
		if diff := cmp.Diff(w, e.ingress(t, n)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", n, diff)
		}
	}
	if err := e.c.Reconcile(ctx, "ns/wants-taken"); !errors.Is(err, ErrInUse) {
		t.Errorf("requesting a held address: %v, want ErrInUse", err)
	}
}

func TestRepair(t *testing.T) {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns"}, Spec: corev1.ServiceSpec{ClusterIP: "10.43.0.20", ClusterIPs: []string{"10.43.0.20"}}}
	ipa := func(ip, svcName string) *networkingv1.IPAddress {
		return &networkingv1.IPAddress{ObjectMeta: metav1.ObjectMeta{Name: ip, UID: types.UID("uid-" + ip)},
			Spec: networkingv1.IPAddressSpec{ParentRef: &networkingv1.ParentReference{Resource: "services", Namespace: "ns", Name: svcName}}}
	}
	objs := []runtime.Object{svc, ipa("10.43.0.20", "web"), ipa("10.43.0.21", "gone"), ipa("10.43.0.22", "web")}
	client := fake.NewClientset(objs...)
	f := informers.NewSharedInformerFactory(client, 0)
	clk := clocktesting.NewFakeClock(time.Now())
	r, err := NewRepair(RepairConfig{LeakGracePeriod: time.Minute}, reconcile.Deps{Client: client, Informers: f,
		Recorder: record.NewFakeRecorder(10), Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	_ = f.Core().V1().Services().Informer().GetIndexer().Add(svc)
	for _, o := range objs[1:] {
		_ = f.Networking().V1().IPAddresses().Informer().GetIndexer().Add(o)
	}
	ctx := context.Background()
	remaining := func() []string {
		l, _ := client.NetworkingV1().IPAddresses().List(ctx, metav1.ListOptions{})
		var out []string
		for _, a := range l.Items {
			out = append(out, a.Name)
		}
		return out
	}
	for _, ip := range []string{"10.43.0.20", "10.43.0.21", "10.43.0.22"} {
		err := r.Reconcile(ctx, ip)
		if ip == "10.43.0.20" && err != nil {
			t.Errorf("held address: %v", err)
		}
		if ip != "10.43.0.20" && (err == nil || err.Error() != reconcile.RequeueAfter(time.Minute).Error()) {
			t.Errorf("leak first seen: got %v, want a requeue after the grace period", err)
		}
	}
	if diff := cmp.Diff([]string{"10.43.0.20", "10.43.0.21", "10.43.0.22"}, remaining()); diff != "" {
		t.Errorf("freed within the grace period (-want +got):\n%s", diff)
	}
	clk.Step(time.Minute)
	for _, ip := range []string{"10.43.0.20", "10.43.0.21", "10.43.0.22"} {
		if err := r.Reconcile(ctx, ip); err != nil {
			t.Errorf("Reconcile(%s): %v", ip, err)
		}
	}
	if diff := cmp.Diff([]string{"10.43.0.20"}, remaining()); diff != "" {
		t.Errorf("after the grace period (-want +got):\n%s", diff)
	}
}
