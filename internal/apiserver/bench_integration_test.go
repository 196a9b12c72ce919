//go:build integration

package apiserver_test

import (
	"context"
	"fmt"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/podvisor/podvisor/internal/server"
	"github.com/podvisor/podvisor/internal/testutil/servertest"
)

// These benchmarks drive an in-process server the way `make bench`'s
// apiserver suite drives bin/podvisor (20 client-go clients, each on its
// own connection, the same pod), so that the server's request path can be
// profiled with go test -cpuprofile / -memprofile:
//
//	go test -tags integration -run '^$' -bench Pod -cpuprofile cpu.out ./internal/apiserver/
//
// Client and server share the process: read profiles from the server's
// side (serveResource and below). The figures of record are make bench's.

const benchClients = 20

func benchClientsFor(b *testing.B, s *servertest.Server) []kubernetes.Interface {
	b.Helper()
	cs := make([]kubernetes.Interface, benchClients)
	for i := range cs {
		rc := rest.CopyConfig(s.RESTConfig)
		rc.QPS, rc.Burst, rc.RateLimiter = -1, 0, nil
		// A dialer of its own gives each client its own transport, so
		// its own connection.
		d := &net.Dialer{Timeout: 10 * time.Second}
		rc.Dial = d.DialContext
		c, err := kubernetes.NewForConfig(rc)
		if err != nil {
			b.Fatal(err)
		}
		cs[i] = c
	}
	return cs
}

func benchPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "bench", "tier": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: "registry.example/bench/app:1.0",
			Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")}},
		}}},
	}
}

// runParallel runs op n times over the clients and reports the rate and
// latency percentiles.
func runParallel(b *testing.B, cs []kubernetes.Interface, n int, op func(c kubernetes.Interface, i int) error) {
	b.Helper()
	var (
		next     atomic.Int64
		mu       sync.Mutex
		lat      []time.Duration
		firstErr error
		wg       sync.WaitGroup
	)
	b.ResetTimer()
	start := time.Now()
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local []time.Duration
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					break
				}
				t0 := time.Now()
				err := op(c, i)
				local = append(local, time.Since(t0))
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					break
				}
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(float64(n)/elapsed.Seconds(), "ops/s")
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

func BenchmarkPodCreate(b *testing.B) {
	s := servertest.Start(b, server.Config{DisableAgent: true, DisableControllerManager: true})
	cs := benchClientsFor(b, s)
	namespace := ns(b, s.Client)
	runParallel(b, cs, b.N, func(c kubernetes.Interface, i int) error {
		_, err := c.CoreV1().Pods(namespace).Create(context.Background(), benchPod(fmt.Sprintf("pod-%06d", i)), metav1.CreateOptions{})
		return err
	})
}

// benchPods starts a server holding n bench pods in one namespace.
func benchPods(b *testing.B, n int) (*servertest.Server, []kubernetes.Interface, string) {
	s := servertest.Start(b, server.Config{DisableAgent: true, DisableControllerManager: true})
	cs := benchClientsFor(b, s)
	namespace := ns(b, s.Client)
	runParallel(b, cs, n, func(c kubernetes.Interface, i int) error {
		_, err := c.CoreV1().Pods(namespace).Create(context.Background(), benchPod(fmt.Sprintf("pod-%06d", i)), metav1.CreateOptions{})
		return err
	})
	return s, cs, namespace
}

func BenchmarkPodGet(b *testing.B) {
	_, cs, ns := benchPods(b, 3000)
	runParallel(b, cs, b.N, func(c kubernetes.Interface, i int) error {
		_, err := c.CoreV1().Pods(ns).Get(context.Background(), fmt.Sprintf("pod-%06d", i%3000), metav1.GetOptions{})
		return err
	})
}

func BenchmarkPodList(b *testing.B) {
	_, cs, ns := benchPods(b, 3000)
	runParallel(b, cs[:1], b.N, func(c kubernetes.Interface, _ int) error {
		l, err := c.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
		if err == nil && len(l.Items) != 3000 {
			err = fmt.Errorf("listed %d pods, want 3000", len(l.Items))
		}
		return err
	})
}
