package service

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/podvisor/podvisor/internal/controller/reconcile"
)

// TestRunReassignsReleasedAddress runs the controller on live (fake)
// informers with a one-address pool: the second LoadBalancer waits, and
// gets the address when the first is deleted.
func TestRunReassignsReleasedAddress(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	client := fake.NewClientset(lb("first"))
	f := informers.NewSharedInformerFactory(client, 0)
	c, err := New(Config{Pool: "192.168.50.5"}, reconcile.Deps{Client: client, Informers: f, Recorder: record.NewFakeRecorder(1000),
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

	addr := func(name string) func(context.Context) (bool, error) {
		return func(ctx context.Context) (bool, error) {
			s, err := client.CoreV1().Services("ns").Get(ctx, name, metav1.GetOptions{})
			return err == nil && len(s.Status.LoadBalancer.Ingress) == 1 && s.Status.LoadBalancer.Ingress[0].IP == "192.168.50.5", nil
		}
	}
	if err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 30*time.Second, true, addr("first")); err != nil {
		t.Fatalf("waiting for first's address: %v", err)
	}
	if _, err := client.CoreV1().Services("ns").Create(ctx, lb("second"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := client.CoreV1().Services("ns").Delete(ctx, "first", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 30*time.Second, true, addr("second")); err != nil {
		t.Fatalf("waiting for second to get the released address: %v", err)
	}
}
