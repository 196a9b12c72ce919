package endpointslice

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/podvisor/podvisor/internal/controller/reconcile"
)

func service() *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "svc-uid"},
		Spec: corev1.ServiceSpec{
			ClusterIP:  "10.0.0.10",
			IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol},
			Selector:   map[string]string{"app": "web"},
			Ports:      []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("http")}},
		},
	}
}

func pod(i int, ready bool, opts ...func(*corev1.Pod)) *corev1.Pod {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	name := fmt.Sprintf("p%03d", i)
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name), Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{NodeName: "node1", Containers: []corev1.Container{{
			Name: "c", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
		}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip(i), Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func ip(i int) string { return fmt.Sprintf("10.1.%d.%d", i/200, i%200+1) }

func pods(from, to int) []*corev1.Pod {
	var out []*corev1.Pod
	for i := from; i < to; i++ {
		out = append(out, pod(i, true))
	}
	return out
}

// apply plays changes on top of existing, naming created slices s0, s1...
func apply(existing []*discoveryv1.EndpointSlice, ch Changes) []*discoveryv1.EndpointSlice {
	byName := map[string]*discoveryv1.EndpointSlice{}
	for _, s := range existing {
		byName[s.Name] = s
	}
	for _, s := range ch.Delete {
		delete(byName, s.Name)
	}
	for _, s := range ch.Update {
		byName[s.Name] = s
	}
	n := len(existing)
	for _, s := range ch.Create {
		s = s.DeepCopy()
		s.Name = fmt.Sprintf("s%03d", n)
		n++
		byName[s.Name] = s
	}
	var out []*discoveryv1.EndpointSlice
	for _, s := range byName {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func sizes(slices []*discoveryv1.EndpointSlice) []int {
	var out []int
	for _, s := range slices {
		out = append(out, len(s.Endpoints))
	}
	return out
}

func TestPlan(t *testing.T) {
	tests := []struct {
		name string
		// before is the state Plan starts from, built by planning
		// beforePods on nothing.
		beforePods []*corev1.Pod
		pods       []*corev1.Pod
		// podsFrom, if set, computes pods from the slices before.
		podsFrom  func(before []*discoveryv1.EndpointSlice) []*corev1.Pod
		max       int
		wantC     int // creates
		wantU     int // updates
		wantD     int // deletes
		wantSizes []int
	}{
		{name: "three pods, one slice", pods: pods(0, 3), max: 100, wantC: 1, wantSizes: []int{3}},
		{name: "250 pods split at 100", pods: pods(0, 250), max: 100, wantC: 3, wantSizes: []int{100, 100, 50}},
		{name: "exactly 100 fits one slice", pods: pods(0, 100), max: 100, wantC: 1, wantSizes: []int{100}},
		{name: "nothing changed, nothing written", beforePods: pods(0, 250), pods: pods(0, 250), max: 100, wantSizes: []int{100, 100, 50}},
		{
			name:       "one pod turns unready: only its slice is rewritten",
			beforePods: pods(0, 250),
			pods:       append(append(pods(0, 120), pod(120, false)), pods(121, 250)...),
			max:        100, wantU: 1, wantSizes: []int{100, 100, 50},
		},
		{
			name:       "a new pod joins the fullest untouched slice with room",
			beforePods: pods(0, 150),
			pods:       pods(0, 151),
			max:        100, wantU: 1, wantSizes: []int{100, 51},
		},
		{
			name:       "many new pods go to a new slice, old ones untouched",
			beforePods: pods(0, 100),
			pods:       pods(0, 180),
			max:        100, wantC: 1, wantSizes: []int{100, 80},
		},
		{
			name:       "a removed pod's slice is rewritten and takes the new pod",
			beforePods: pods(0, 150),
			pods:       append(pods(1, 150), pod(150, true)),
			max:        100, wantU: 1, wantSizes: []int{100, 50},
		},
		{
			name:       "an emptied slice is deleted",
			beforePods: pods(0, 150),
			podsFrom: func(before []*discoveryv1.EndpointSlice) []*corev1.Pod {
				// Keep only the pods of the full slice.
				var out []*corev1.Pod
				for _, p := range pods(0, 150) {
					for _, ep := range before[0].Endpoints {
						if ep.Addresses[0] == p.Status.PodIP {
							out = append(out, p)
						}
					}
				}
				return out
			},
			max: 100, wantD: 1, wantSizes: []int{100},
		},
		{name: "no pods: one placeholder", pods: nil, max: 100, wantC: 1, wantSizes: []int{0}},
		{name: "placeholder kept", beforePods: []*corev1.Pod{}, pods: nil, max: 100, wantSizes: []int{0}},
		{name: "placeholder replaced by endpoints", beforePods: []*corev1.Pod{}, pods: pods(0, 2), max: 100, wantC: 1, wantD: 1, wantSizes: []int{2}},
		{name: "last pod gone: placeholder", beforePods: pods(0, 2), pods: nil, max: 100, wantC: 1, wantD: 1, wantSizes: []int{0}},
		{
			name: "pods resolving the named port differently get different slices",
			pods: []*corev1.Pod{pod(0, true), pod(1, true, func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 9090 })},
			max:  100, wantC: 2, wantSizes: []int{1, 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var before []*discoveryv1.EndpointSlice
			if tc.beforePods != nil {
				before = apply(nil, Plan(service(), tc.beforePods, nil, tc.max))
			}
			if tc.podsFrom != nil {
				tc.pods = tc.podsFrom(before)
			}
			ch := Plan(service(), tc.pods, before, tc.max)
			if len(ch.Create) != tc.wantC || len(ch.Update) != tc.wantU || len(ch.Delete) != tc.wantD {
				t.Errorf("got %d creates, %d updates, %d deletes; want %d, %d, %d",
					len(ch.Create), len(ch.Update), len(ch.Delete), tc.wantC, tc.wantU, tc.wantD)
			}
			after := apply(before, ch)
			if diff := cmp.Diff(tc.wantSizes, sizes(after)); diff != "" {
				t.Errorf("slice sizes (-want +got):\n%s", diff)
			}
			// Every included pod appears exactly once, and a second plan
			// is a no-op.
			seen := map[string]int{}
			for _, s := range after {
				for _, ep := range s.Endpoints {
					seen[ep.Addresses[0]]++
				}
			}
			for _, p := range tc.pods {
				if seen[p.Status.PodIP] != 1 {
					t.Errorf("pod %s appears %d times", p.Name, seen[p.Status.PodIP])
				}
			}
			if again := Plan(service(), tc.pods, after, tc.max); len(again.Create)+len(again.Update)+len(again.Delete) != 0 {
				t.Errorf("second plan not empty: %d creates, %d updates, %d deletes", len(again.Create), len(again.Update), len(again.Delete))
			}
		})
	}
}

func TestEndpointConditions(t *testing.T) {
	now := metav1.Now()
	terminating := func(p *corev1.Pod) { p.DeletionTimestamp = &now }
	type conds struct{ Ready, Serving, Terminating bool }
	tests := []struct {
		name    string
		publish bool
		pod     *corev1.Pod
		want    conds
	}{
		{"ready", false, pod(0, true), conds{true, true, false}},
		{"not ready", false, pod(0, false), conds{false, false, false}},
		{"terminating but still ready", false, pod(0, true, terminating), conds{false, true, true}},
		{"terminating and not ready", false, pod(0, false, terminating), conds{false, false, true}},
		{"not ready, publishNotReadyAddresses", true, pod(0, false), conds{true, false, false}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			svc := service()
			svc.Spec.PublishNotReadyAddresses = tc.publish
			ch := Plan(svc, []*corev1.Pod{tc.pod}, nil, 100)
			if len(ch.Create) != 1 || len(ch.Create[0].Endpoints) != 1 {
				t.Fatalf("got %+v, want one slice with one endpoint", ch.Create)
			}
			ep := ch.Create[0].Endpoints[0]
			got := conds{*ep.Conditions.Ready, *ep.Conditions.Serving, *ep.Conditions.Terminating}
			if got != tc.want {
				t.Errorf("conditions = %+v, want %+v", got, tc.want)
			}
			if ep.NodeName == nil || *ep.NodeName != "node1" {
				t.Errorf("nodeName = %v, want node1", ep.NodeName)
			}
		})
	}
}

func TestSliceShape(t *testing.T) {
	svc := service()
	svc.Labels = map[string]string{"tier": "front"}
	svc.Spec.ClusterIP = corev1.ClusterIPNone
	p := pod(0, true, func(p *corev1.Pod) { p.Spec.Hostname, p.Spec.Subdomain = "web-0", "web" })
	ch := Plan(svc, []*corev1.Pod{p}, nil, 100)
	if len(ch.Create) != 1 {
		t.Fatalf("got %d creates, want 1", len(ch.Create))
	}
	s := ch.Create[0]
	wantLabels := map[string]string{
		"tier": "front", discoveryv1.LabelServiceName: "web", discoveryv1.LabelManagedBy: ControllerName,
		"service.kubernetes.io/headless": "",
	}
	if diff := cmp.Diff(wantLabels, s.Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	if len(s.OwnerReferences) != 1 || s.OwnerReferences[0].UID != "svc-uid" || !*s.OwnerReferences[0].Controller {
		t.Errorf("owner references = %+v, want the service as controller", s.OwnerReferences)
	}
	if s.AddressType != discoveryv1.AddressTypeIPv4 {
		t.Errorf("addressType = %s, want IPv4", s.AddressType)
	}
	wantPorts := []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(8080)), Protocol: ptr(corev1.ProtocolTCP)}}
	if diff := cmp.Diff(wantPorts, s.Ports); diff != "" {
		t.Errorf("ports (-want +got):\n%s", diff)
	}
	if h := s.Endpoints[0].Hostname; h == nil || *h != "web-0" {
		t.Errorf("hostname = %v, want web-0", h)
	}
	if r := s.Endpoints[0].TargetRef; r == nil || r.Name != "p000" || r.Kind != "Pod" {
		t.Errorf("targetRef = %+v, want pod p000", r)
	}
}

func TestPlanDeletesSlicesOfAnEarlierService(t *testing.T) {
	old := Plan(service(), pods(0, 2), nil, 100).Create[0]
	old.Name = "web-old"
	old.OwnerReferences[0].UID = "earlier-uid"
	ch := Plan(service(), pods(0, 2), []*discoveryv1.EndpointSlice{old}, 100)
	if len(ch.Delete) != 1 || ch.Delete[0].Name != "web-old" || len(ch.Create) != 1 {
		t.Errorf("got %d creates and deletes %v; want the old slice deleted and one created", len(ch.Create), ch.Delete)
	}
}

func TestReconcile(t *testing.T) {
	svc := service()
	objs := []runtime.Object{svc}
	for _, p := range pods(0, 120) {
		objs = append(objs, p)
	}
	client := fake.NewClientset(objs...)
	f := informers.NewSharedInformerFactory(client, 0)
	c, err := New(Config{}, reconcile.Deps{
		Client: client, Informers: f, Recorder: record.NewFakeRecorder(100),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Clock: clocktesting.NewFakeClock(metav1.Now().Time),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		switch o := o.(type) {
		case *corev1.Service:
			_ = f.Core().V1().Services().Informer().GetIndexer().Add(o)
		case *corev1.Pod:
			_ = f.Core().V1().Pods().Informer().GetIndexer().Add(o)
		}
	}
	ctx := context.Background()
	if err := c.Reconcile(ctx, "ns/web"); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	list, err := client.DiscoveryV1().EndpointSlices("ns").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 2 {
		t.Fatalf("got %d slices, want 2", len(list.Items))
	}
	// The informer has not seen the new slices: acting now would
	// duplicate them.
	if err := c.Reconcile(ctx, "ns/web"); !errors.Is(err, errStale) {
		t.Fatalf("Reconcile on a stale cache: got %v, want errStale", err)
	}
	for i := range list.Items {
		_ = f.Discovery().V1().EndpointSlices().Informer().GetIndexer().Add(&list.Items[i])
	}
	client.ClearActions()
	if err := c.Reconcile(ctx, "ns/web"); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	for _, a := range client.Actions() {
		t.Errorf("unexpected action on an up-to-date service: %v", a)
	}
	// Service deleted: its slices go.
	_ = f.Core().V1().Services().Informer().GetIndexer().Delete(svc)
	if err := c.Reconcile(ctx, "ns/web"); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	list, _ = client.DiscoveryV1().EndpointSlices("ns").List(ctx, metav1.ListOptions{})
	if len(list.Items) != 0 {
		t.Errorf("got %d slices after the service went, want 0", len(list.Items))
	}
}

func TestMirror(t *testing.T) {
	svc := service()
	svc.Spec.Selector = nil
	node := "n1"
	ep := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", Labels: map[string]string{"team": "a"}},
		Subsets: []corev1.EndpointSubset{{
			Addresses:         []corev1.EndpointAddress{{IP: "192.168.0.1", NodeName: &node}, {IP: "fd00::1"}},
			NotReadyAddresses: []corev1.EndpointAddress{{IP: "192.168.0.2", Hostname: "db-1"}},
			Ports:             []corev1.EndpointPort{{Name: "sql", Port: 5432, Protocol: corev1.ProtocolTCP}},
		}},
	}
	ch := Mirror(svc, ep, nil, 100)
	if len(ch.Create) != 2 || len(ch.Update)+len(ch.Delete) != 0 {
		t.Fatalf("got %d creates, %d updates, %d deletes; want 2 creates (IPv4 and IPv6)", len(ch.Create), len(ch.Update), len(ch.Delete))
	}
	var v4 *discoveryv1.EndpointSlice
	for _, s := range ch.Create {
		if s.AddressType == discoveryv1.AddressTypeIPv4 {
			v4 = s
		}
		if s.Labels[discoveryv1.LabelManagedBy] != MirrorControllerName || s.Labels["team"] != "a" || s.Labels[discoveryv1.LabelServiceName] != "web" {
			t.Errorf("labels = %v", s.Labels)
		}
	}
	if v4 == nil || len(v4.Endpoints) != 2 {
		t.Fatalf("IPv4 slice = %+v, want two endpoints", v4)
	}
	got := map[string]bool{}
	for _, e := range v4.Endpoints {
		got[e.Addresses[0]] = *e.Conditions.Ready
	}
	if diff := cmp.Diff(map[string]bool{"192.168.0.1": true, "192.168.0.2": false}, got); diff != "" {
		t.Errorf("readiness (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]discoveryv1.EndpointPort{{Name: ptr("sql"), Port: ptr(int32(5432)), Protocol: ptr(corev1.ProtocolTCP)}}, v4.Ports); diff != "" {
		t.Errorf("ports (-want +got):\n%s", diff)
	}
	// Applied, it is stable; the Endpoints gone, so are the slices;
	// skip-mirror leaves everything alone.
	after := apply(nil, ch)
	if again := Mirror(svc, ep, after, 100); len(again.Create)+len(again.Update)+len(again.Delete) != 0 {
		t.Errorf("second mirror not empty: %+v", again)
	}
	if gone := Mirror(svc, nil, after, 100); len(gone.Delete) != 2 || len(gone.Create) != 0 {
		t.Errorf("without Endpoints: %d deletes, %d creates; want 2, 0", len(gone.Delete), len(gone.Create))
	}
	skip := ep.DeepCopy()
	skip.Labels = map[string]string{discoveryv1.LabelSkipMirror: "true"}
	if ch := Mirror(svc, skip, after, 100); len(ch.Create)+len(ch.Update)+len(ch.Delete) != 0 {
		t.Errorf("skip-mirror: %+v, want no change", ch)
	}
}

func TestReconcileSwitchesBetweenSelectorAndMirror(t *testing.T) {
	svc := service()
	ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns"},
		Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "192.168.9.9"}}, Ports: []corev1.EndpointPort{{Port: 1}}}}}
	objs := []runtime.Object{svc, pod(0, true), ep}
	client := fake.NewClientset(objs...)
	f := informers.NewSharedInformerFactory(client, 0)
	c, err := New(Config{}, reconcile.Deps{Client: client, Informers: f, Recorder: record.NewFakeRecorder(100),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Clock: clocktesting.NewFakeClock(metav1.Now().Time)})
	if err != nil {
		t.Fatal(err)
	}
	_ = f.Core().V1().Services().Informer().GetIndexer().Add(svc)
	_ = f.Core().V1().Pods().Informer().GetIndexer().Add(pod(0, true))
	_ = f.Core().V1().Endpoints().Informer().GetIndexer().Add(ep)
	ctx := context.Background()
	sync := func() []string {
		l, _ := client.DiscoveryV1().EndpointSlices("ns").List(ctx, metav1.ListOptions{})
		idx := f.Discovery().V1().EndpointSlices().Informer().GetIndexer()
		_ = idx.Replace(nil, "")
		var out []string
		for i := range l.Items {
			_ = idx.Add(&l.Items[i])
			out = append(out, l.Items[i].Labels[discoveryv1.LabelManagedBy]+" "+l.Items[i].Endpoints[0].Addresses[0])
		}
		return out
	}
	if err := c.Reconcile(ctx, "ns/web"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{ControllerName + " " + ip(0)}, sync()); diff != "" {
		t.Errorf("with a selector (-want +got):\n%s", diff)
	}
	noSel := svc.DeepCopy()
	noSel.Spec.Selector = nil
	_ = f.Core().V1().Services().Informer().GetIndexer().Update(noSel)
	if err := c.Reconcile(ctx, "ns/web"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{MirrorControllerName + " 192.168.9.9"}, sync()); diff != "" {
		t.Errorf("without a selector (-want +got):\n%s", diff)
	}
}
