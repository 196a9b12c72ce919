package endpointslice

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/podvisor/podvisor/internal/controller/reconcile"
)

// TestRunFollowsPodReadiness runs the controller on live (fake) informers:
// a pod turning Ready flips its endpoint's condition; a deleted pod leaves.
func TestRunFollowsPodReadiness(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	client := fake.NewClientset(service())
	f := informers.NewSharedInformerFactory(client, 0)
	c, err := New(Config{}, reconcile.Deps{Client: client, Informers: f, Recorder: record.NewFakeRecorder(100),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Clock: clock.RealClock{}})
	if err != nil {
		t.Fatal(err)
	}
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); c.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait(); f.Shutdown() })

	p := pod(0, false)
	if _, err := client.CoreV1().Pods("ns").Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ready := func(want *bool) func(context.Context) (bool, error) {
		return func(ctx context.Context) (bool, error) {
			l, err := client.DiscoveryV1().EndpointSlices("ns").List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, err
			}
			var eps []discoveryv1.Endpoint
			for _, s := range l.Items {
				eps = append(eps, s.Endpoints...)
			}
			if want == nil {
				return len(l.Items) == 1 && len(eps) == 0, nil // placeholder only
			}
			return len(eps) == 1 && eps[0].Conditions.Ready != nil && *eps[0].Conditions.Ready == *want, nil
		}
	}
	poll := func(what string, cond func(context.Context) (bool, error)) {
		t.Helper()
		if err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 30*time.Second, true, cond); err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
	}
	poll("a not-ready endpoint", ready(ptr(false)))
	p.Status.Conditions[0].Status = corev1.ConditionTrue
	p.ResourceVersion = "2"
	if _, err := client.CoreV1().Pods("ns").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	poll("a ready endpoint", ready(ptr(true)))
	if err := client.CoreV1().Pods("ns").Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll("only the placeholder slice", ready(nil))
}
