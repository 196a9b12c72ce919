//go:build integration

package service_test

import (
	"context"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/podvisor/podvisor/internal/controller/reconcile"
	"github.com/podvisor/podvisor/internal/controller/service"
	"github.com/podvisor/podvisor/internal/server"
	"github.com/podvisor/podvisor/internal/testutil/etcdtest"
	"github.com/podvisor/podvisor/internal/testutil/servertest"
)

// TestIntegrationLoadBalancer: against a real server, LoadBalancer
// Services get addresses from the pool, a Service turned ClusterIP gives
// its address back (status cleared), and a waiting Service then gets it.
func TestIntegrationLoadBalancer(t *testing.T) {
	s := servertest.Start(t, server.Config{DisableAgent: true})
	client := s.Client
	ctx, cancel := context.WithCancel(context.Background())
	f := informers.NewSharedInformerFactory(client, 0)
	b := record.NewBroadcaster(record.WithContext(ctx))
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	c, err := service.New(service.Config{Pool: "192.168.77.10-192.168.77.11"}, reconcile.Deps{Client: client, Informers: f,
		Recorder: b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "service-controller"}),
		Log:      etcdtest.Logger(t), Clock: clock.RealClock{}})
	if err != nil {
		t.Fatal(err)
	}
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); c.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait(); f.Shutdown(); b.Shutdown() })

	ns := "lb-" + metav1.Now().Format("150405.000000")[7:]
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	mk := func(name string) {
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80}}}}
		if _, err := client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating service %s: %v", name, err)
		}
	}
	ingress := func(name string) string {
		s, err := client.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil || len(s.Status.LoadBalancer.Ingress) == 0 {
			return ""
		}
		return s.Status.LoadBalancer.Ingress[0].IP
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 60*time.Second, true, func(context.Context) (bool, error) { return cond(), nil }); err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
	}
	mk("a")
	waitFor("a's address", func() bool { return ingress("a") == "192.168.77.10" })
	mk("b")
	waitFor("b's address", func() bool { return ingress("b") == "192.168.77.11" })
	mk("c")
	time.Sleep(300 * time.Millisecond)
	if got := ingress("c"); got != "" {
		t.Fatalf("c got %s from an exhausted pool", got)
	}
	a, err := client.CoreV1().Services(ns).Get(ctx, "a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a.Spec.Type = corev1.ServiceTypeClusterIP
	a.Spec.AllocateLoadBalancerNodePorts = nil
	a.Spec.ExternalTrafficPolicy = ""
	for i := range a.Spec.Ports {
		a.Spec.Ports[i].NodePort = 0
	}
	if _, err := client.CoreV1().Services(ns).Update(ctx, a, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor("a's status cleared and c given the address", func() bool { return ingress("a") == "" && ingress("c") == "192.168.77.10" })
	if err := client.CoreV1().Services(ns).Delete(ctx, "b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// b's address is free again: the next LoadBalancer Service gets it.
	mk("d")
	waitFor("d given b's released address", func() bool { return ingress("d") == "192.168.77.11" })
}
