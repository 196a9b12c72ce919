package endpoints

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
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

func newController(t *testing.T, objs ...runtime.Object) (*Controller, *fake.Clientset) {
	t.Helper()
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
		var err error
		switch o := o.(type) {
		case *corev1.Service:
			err = f.Core().V1().Services().Informer().GetIndexer().Add(o)
		case *corev1.Pod:
			err = f.Core().V1().Pods().Informer().GetIndexer().Add(o)
		case *corev1.Endpoints:
			err = f.Core().V1().Endpoints().Informer().GetIndexer().Add(o)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return c, client
}

type podOpt func(*corev1.Pod)

func pod(name, ip string, ready bool, opts ...podOpt) *corev1.Pod {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name), Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{NodeName: "node1", Containers: []corev1.Container{{
			Name: "c", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
		}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func service(opts ...func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", Labels: map[string]string{"tier": "front"}},
		Spec: corev1.ServiceSpec{
			ClusterIP: "10.0.0.10",
			Selector:  map[string]string{"app": "web"},
			Ports:     []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("http")}},
		},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

func addr(name, ip, host string) corev1.EndpointAddress {
	node := "node1"
	return corev1.EndpointAddress{IP: ip, Hostname: host, NodeName: &node,
		TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "ns", Name: name, UID: types.UID("uid-" + name)}}
}

func TestSubsets(t *testing.T) {
	httpPort := []corev1.EndpointPort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}}
	tests := []struct {
		name          string
		svc           *corev1.Service
		pods          []*corev1.Pod
		want          []corev1.EndpointSubset
		wantTruncated bool
	}{
		{
			name: "ready and not ready, named port resolved",
			svc:  service(),
			pods: []*corev1.Pod{pod("b", "10.1.0.2", false), pod("a", "10.1.0.1", true)},
			want: []corev1.EndpointSubset{{
				Addresses:         []corev1.EndpointAddress{addr("a", "10.1.0.1", "")},
				NotReadyAddresses: []corev1.EndpointAddress{addr("b", "10.1.0.2", "")},
				Ports:             httpPort,
			}},
		},
		{
			name: "named port resolved per pod splits subsets; pod without the port left out",
			svc:  service(),
			pods: []*corev1.Pod{
				pod("a", "10.1.0.1", true),
				pod("b", "10.1.0.2", true, func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 9090 }),
				pod("c", "10.1.0.3", true, func(p *corev1.Pod) { p.Spec.Containers[0].Ports = nil }),
			},
			want: []corev1.EndpointSubset{
				{Addresses: []corev1.EndpointAddress{addr("a", "10.1.0.1", "")}, Ports: httpPort},
				{Addresses: []corev1.EndpointAddress{addr("b", "10.1.0.2", "")}, Ports: []corev1.EndpointPort{{Name: "http", Port: 9090, Protocol: corev1.ProtocolTCP}}},
			},
		},
		{
			name: "numeric and defaulted target ports",
			svc: service(func(s *corev1.Service) {
				s.Spec.Ports = []corev1.ServicePort{
					{Name: "a", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(8081)},
					{Name: "b", Port: 53, Protocol: corev1.ProtocolUDP},
				}
			}),
			pods: []*corev1.Pod{pod("a", "10.1.0.1", true)},
			want: []corev1.EndpointSubset{{
				Addresses: []corev1.EndpointAddress{addr("a", "10.1.0.1", "")},
				Ports:     []corev1.EndpointPort{{Name: "a", Port: 8081, Protocol: corev1.ProtocolTCP}, {Name: "b", Port: 53, Protocol: corev1.ProtocolUDP}},
			}},
		},
		{
			name: "named port with the wrong protocol does not resolve",
			svc: service(func(s *corev1.Service) {
				s.Spec.Ports[0].Protocol = corev1.ProtocolUDP
			}),
			pods: []*corev1.Pod{pod("a", "10.1.0.1", true)},
		},
		{
			name: "no IP, finished and terminating pods left out",
			svc:  service(),
			pods: []*corev1.Pod{
				pod("noip", "", true),
				pod("done", "10.1.0.5", false, func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }),
				pod("going", "10.1.0.6", true, func(p *corev1.Pod) { now := metav1.Now(); p.DeletionTimestamp = &now }),
				pod("a", "10.1.0.1", true),
			},
			want: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr("a", "10.1.0.1", "")}, Ports: httpPort}},
		},
		{
			name: "publishNotReadyAddresses: not-ready and terminating pods are ready addresses",
			svc:  service(func(s *corev1.Service) { s.Spec.PublishNotReadyAddresses = true }),
			pods: []*corev1.Pod{
				pod("b", "10.1.0.2", false),
				pod("c", "10.1.0.3", true, func(p *corev1.Pod) { now := metav1.Now(); p.DeletionTimestamp = &now }),
			},
			want: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr("b", "10.1.0.2", ""), addr("c", "10.1.0.3", "")}, Ports: httpPort}},
		},
		{
			name: "headless service: hostname for pods whose subdomain names it",
			svc: service(func(s *corev1.Service) {
				s.Spec.ClusterIP = corev1.ClusterIPNone
			}),
			pods: []*corev1.Pod{
				pod("a", "10.1.0.1", true, func(p *corev1.Pod) { p.Spec.Hostname, p.Spec.Subdomain = "web-0", "web" }),
				pod("b", "10.1.0.2", true, func(p *corev1.Pod) { p.Spec.Hostname, p.Spec.Subdomain = "web-1", "other" }),
			},
			want: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr("a", "10.1.0.1", "web-0"), addr("b", "10.1.0.2", "")}, Ports: httpPort}},
		},
		{
			name: "headless service without ports lists addresses",
			svc: service(func(s *corev1.Service) {
				s.Spec.ClusterIP = corev1.ClusterIPNone
				s.Spec.Ports = nil
			}),
			pods: []*corev1.Pod{pod("a", "10.1.0.1", true)},
			want: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr("a", "10.1.0.1", "")}}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, truncated := Subsets(tc.svc, tc.pods)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("subsets (-want +got):\n%s", diff)
			}
			if truncated != tc.wantTruncated {
				t.Errorf("truncated = %v, want %v", truncated, tc.wantTruncated)
			}
		})
	}
}

func TestSubsetsTruncated(t *testing.T) {
	var pods []*corev1.Pod
	for i := 0; i < MaxAddresses+5; i++ {
		pods = append(pods, pod(fmt.Sprintf("p%04d", i), fmt.Sprintf("10.1.%d.%d", i/250, i%250+1), i%2 == 0))
	}
	got, truncated := Subsets(service(), pods)
	if !truncated {
		t.Fatal("truncated = false, want true")
	}
	n, ready := 0, 0
	for _, s := range got {
		n += len(s.Addresses) + len(s.NotReadyAddresses)
		ready += len(s.Addresses)
	}
	if n != MaxAddresses || ready != (MaxAddresses+5+1)/2 {
		t.Errorf("got %d addresses (%d ready), want %d with every ready one (%d)", n, ready, MaxAddresses, (MaxAddresses+5+1)/2)
	}
}

func TestReconcile(t *testing.T) {
	tests := []struct {
		name string
		objs []runtime.Object
		// wantSubsets nil with wantGone means no Endpoints object.
		wantGone    bool
		wantSubsets []corev1.EndpointSubset
		wantLabels  map[string]string
		wantWrites  int
	}{
		{
			name: "creates endpoints with the service's labels",
			objs: []runtime.Object{service(), pod("a", "10.1.0.1", true)},
			wantSubsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr("a", "10.1.0.1", "")},
				Ports: []corev1.EndpointPort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}}}},
			wantLabels: map[string]string{"tier": "front"},
			wantWrites: 1,
		},
		{
			name: "up-to-date endpoints are not written",
			objs: []runtime.Object{service(), pod("a", "10.1.0.1", true), &corev1.Endpoints{
				ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", Labels: map[string]string{"tier": "front"}},
				Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr("a", "10.1.0.1", "")},
					Ports: []corev1.EndpointPort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}}}},
			}},
			wantSubsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr("a", "10.1.0.1", "")},
				Ports: []corev1.EndpointPort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}}}},
			wantLabels: map[string]string{"tier": "front"},
			wantWrites: 0,
		},
		{
			name: "stale endpoints are updated",
			objs: []runtime.Object{service(), pod("a", "10.1.0.1", false), &corev1.Endpoints{
				ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns"},
				Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr("a", "10.1.0.1", "")},
					Ports: []corev1.EndpointPort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}}}},
			}},
			wantSubsets: []corev1.EndpointSubset{{NotReadyAddresses: []corev1.EndpointAddress{addr("a", "10.1.0.1", "")},
				Ports: []corev1.EndpointPort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}}}},
			wantLabels: map[string]string{"tier": "front"},
			wantWrites: 1,
		},
		{
			name: "a service without selector is left alone",
			objs: []runtime.Object{service(func(s *corev1.Service) { s.Spec.Selector = nil }), &corev1.Endpoints{
				ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns"},
				Subsets:    []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "192.168.0.1"}}}},
			}},
			wantSubsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "192.168.0.1"}}}},
			wantWrites:  0,
		},
		{
			name:       "a deleted service's endpoints go",
			objs:       []runtime.Object{&corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns"}}},
			wantGone:   true,
			wantWrites: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, client := newController(t, tc.objs...)
			client.ClearActions()
			if err := c.Reconcile(context.Background(), "ns/web"); err != nil {
				t.Fatalf("Reconcile: %v", err)
			}
			writes := 0
			for _, a := range client.Actions() {
				if a.GetVerb() != "get" && a.GetVerb() != "list" && a.GetVerb() != "watch" {
					writes++
				}
			}
			if writes != tc.wantWrites {
				t.Errorf("got %d writes (%v), want %d", writes, client.Actions(), tc.wantWrites)
			}
			ep, err := client.CoreV1().Endpoints("ns").Get(context.Background(), "web", metav1.GetOptions{})
			if tc.wantGone {
				if err == nil {
					t.Fatalf("endpoints still exist: %v", ep)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantSubsets, ep.Subsets); diff != "" {
				t.Errorf("subsets (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantLabels, ep.Labels); tc.wantWrites > 0 && diff != "" {
				t.Errorf("labels (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPodHandlerEnqueuesMatchingServices(t *testing.T) {
	other := service(func(s *corev1.Service) { s.Name = "other"; s.Spec.Selector = map[string]string{"app": "db"} })
	noSel := service(func(s *corev1.Service) { s.Name = "manual"; s.Spec.Selector = nil })
	c, _ := newController(t, service(), other, noSel)
	var got []string
	h := PodHandler(c.services, func(k string) { got = append(got, k) }, c.log)
	old := pod("a", "10.1.0.1", true)
	old.ResourceVersion = "1"
	moved := old.DeepCopy()
	moved.ResourceVersion = "2"
	moved.Labels = map[string]string{"app": "db"}
	h.OnUpdate(old, moved)
	want := []string{"ns/other", "ns/web"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("enqueued (-want +got):\n%s", diff)
	}
}
