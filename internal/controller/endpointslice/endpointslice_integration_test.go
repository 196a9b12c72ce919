//go:build integration

package endpointslice_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/podvisor/podvisor/internal/controller/endpoints"
	"github.com/podvisor/podvisor/internal/controller/endpointslice"
	"github.com/podvisor/podvisor/internal/controller/reconcile"
	"github.com/podvisor/podvisor/internal/server"
	"github.com/podvisor/podvisor/internal/testutil/etcdtest"
	"github.com/podvisor/podvisor/internal/testutil/servertest"
)

// TestIntegrationEndpoints: against a real server, both endpoint
// controllers follow pods of a Service: 150 pods split into two slices,
// readiness flips move an address between ready and not ready.
func TestIntegrationEndpoints(t *testing.T) {
	s := servertest.Start(t, server.Config{DisableAgent: true})
	client := s.Client
	ctx, cancel := context.WithCancel(context.Background())
	f := informers.NewSharedInformerFactory(client, 0)
	d := reconcile.Deps{Client: client, Informers: f, Recorder: record.NewFakeRecorder(1000), Log: etcdtest.Logger(t), Clock: clock.RealClock{}}
	sc, err := endpointslice.New(endpointslice.Config{}, d)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := endpoints.New(endpoints.Config{}, d)
	if err != nil {
		t.Fatal(err)
	}
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); sc.Run(ctx) }()
	go func() { defer wg.Done(); ec.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait(); f.Shutdown() })

	ns := "ep-" + metav1.Now().Format("150405.000000")[7:]
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Services(ns).Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	const n = 150
	for i := 0; i < n; i++ {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("web-%d", i), Namespace: ns, Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "c", Image: "busybox",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}}}
		p, err := client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: fmt.Sprintf("10.42.%d.%d", i/200, i%200+2),
			PodIPs:     []corev1.PodIP{{IP: fmt.Sprintf("10.42.%d.%d", i/200, i%200+2)}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
		if _, err := client.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	count := func(ctx context.Context) (slices, ready, notReady int, err error) {
		l, err := client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=web"})
		if err != nil {
			return 0, 0, 0, err
		}
		for _, s := range l.Items {
			for _, ep := range s.Endpoints {
				if *ep.Conditions.Ready {
					ready++
				} else {
					notReady++
				}
			}
		}
		return len(l.Items), ready, notReady, nil
	}
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		s, r, nr, err := count(ctx)
		return s == 2 && r == n && nr == 0, err
	}); err != nil {
		s, r, nr, _ := count(ctx)
		t.Fatalf("waiting for 2 slices with %d ready endpoints: %v (have %d slices, %d ready, %d not)", n, err, s, r, nr)
	}
	p, err := client.CoreV1().Pods(ns).Get(ctx, "web-7", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Status.Conditions[0].Status = corev1.ConditionFalse
	if _, err := client.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		s, r, nr, err := count(ctx)
		if err != nil || s != 2 || r != n-1 || nr != 1 {
			return false, err
		}
		ep, err := client.CoreV1().Endpoints(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil || len(ep.Subsets) != 1 {
			return false, nil
		}
		return len(ep.Subsets[0].Addresses) == n-1 && len(ep.Subsets[0].NotReadyAddresses) == 1 && ep.Subsets[0].Ports[0].Port == 8080, nil
	}); err != nil {
		t.Fatalf("waiting for web-7 to be not ready in slices and endpoints: %v", err)
	}
}
