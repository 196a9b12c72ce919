package nodelifecycle

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kwait "k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/podvisor/podvisor/internal/controller/reconcile"
)

// TestRunLeaseStops runs the controller on live (fake) informers and the
// real clock with a short grace period: the node whose Lease stops goes
// Unknown, is tainted, and loses the pod that tolerates nothing for long
// (the other node keeps renewing, so this is not a full disruption).
func TestRunLeaseStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	client := fake.NewClientset(node("dead", ""), lease("dead"), node("alive", ""), lease("alive"),
		pod("short", "dead", tolerate(corev1.TaintNodeUnreachable, secs(0))),
		pod("forever", "dead", tolerate(corev1.TaintNodeUnreachable, nil)))
	f := informers.NewSharedInformerFactory(client, 0)
	c, err := New(Config{NodeMonitorGracePeriod: 500 * time.Millisecond}, reconcile.Deps{Client: client, Informers: f,
		Recorder: record.NewFakeRecorder(100), Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Clock: clock.RealClock{}})
	if err != nil {
		t.Fatal(err)
	}
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); c.Run(ctx) }()
	go func() { // the live node's kubelet
		defer wg.Done()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			l, err := client.CoordinationV1().Leases(LeaseNamespace).Get(ctx, "alive", metav1.GetOptions{})
			if err != nil {
				continue
			}
			ts := metav1.NewMicroTime(time.Now())
			l.Spec.RenewTime = &ts
			_, _ = client.CoordinationV1().Leases(LeaseNamespace).Update(ctx, l, metav1.UpdateOptions{})
			// A slow machine may have let the lease lapse: a kubelet
			// then posts Ready again.
			if n, err := client.CoreV1().Nodes().Get(ctx, "alive", metav1.GetOptions{}); err == nil && condStatus(n, corev1.NodeReady) != "True/" {
				for i := range n.Status.Conditions {
					if n.Status.Conditions[i].Type == corev1.NodeReady {
						n.Status.Conditions[i] = corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue,
							LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}
					}
				}
				_, _ = client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
			}
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait(); f.Shutdown() })

	err = kwait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		n, err := client.CoreV1().Nodes().Get(ctx, "dead", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		_, err = client.CoreV1().Pods("ns").Get(ctx, "short", metav1.GetOptions{})
		return condStatus(n, corev1.NodeReady) == "Unknown/NodeStatusUnknown" &&
			hasTaint(n.Spec.Taints, corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute) != nil &&
			apierrors.IsNotFound(err), nil
	})
	if err != nil {
		t.Fatalf("waiting for the silent node to go Unknown, be tainted and lose its pod: %v", err)
	}
	if _, err := client.CoreV1().Pods("ns").Get(ctx, "forever", metav1.GetOptions{}); err != nil {
		t.Errorf("the pod tolerating unreachable forever was evicted: %v", err)
	}
	alive, err := client.CoreV1().Nodes().Get(ctx, "alive", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if alive.Spec.PodCIDR == "" {
		t.Error("renewing node got no pod CIDR")
	}
}
