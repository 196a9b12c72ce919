//go:build integration

package nodelifecycle_test

import (
	"context"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kwait "k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/podvisor/podvisor/internal/controller/nodelifecycle"
	"github.com/podvisor/podvisor/internal/controller/reconcile"
	"github.com/podvisor/podvisor/internal/server"
	"github.com/podvisor/podvisor/internal/testutil/etcdtest"
	"github.com/podvisor/podvisor/internal/testutil/servertest"
)

// TestIntegrationLeaseStops: against a real server, a node whose Lease
// stops being renewed goes Ready=Unknown after the (short) grace period,
// gets the unreachable taints, and loses the pod that does not tolerate
// them; the node that keeps renewing keeps its pods and gets a pod CIDR.
func TestIntegrationLeaseStops(t *testing.T) {
	s := servertest.Start(t, server.Config{DisableAgent: true})
	ctx, cancel := context.WithCancel(context.Background())
	client := s.Client
	f := informers.NewSharedInformerFactory(client, 0)
	b := record.NewBroadcaster(record.WithContext(ctx))
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	c, err := nodelifecycle.New(nodelifecycle.Config{NodeMonitorGracePeriod: 2 * time.Second}, reconcile.Deps{Client: client, Informers: f,
		Recorder: b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "node-controller"}),
		Log:      etcdtest.Logger(t), Clock: clock.RealClock{}})
	if err != nil {
		t.Fatal(err)
	}
	suffix := metav1.Now().Format("150405.000000")[7:]
	dead, alive := "dead-"+suffix, "alive-"+suffix
	for _, n := range []string{dead, alive} {
		if _, err := client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n}}, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating node %s: %v", n, err)
		}
		setReady(ctx, t, client, n)
		now := metav1.NewMicroTime(time.Now())
		dur := int32(40)
		if _, err := client.CoordinationV1().Leases(nodelifecycle.LeaseNamespace).Create(ctx, &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: n, Namespace: nodelifecycle.LeaseNamespace},
			Spec:       coordinationv1.LeaseSpec{HolderIdentity: &n, LeaseDurationSeconds: &dur, RenewTime: &now},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating lease %s: %v", n, err)
		}
	}
	ns := "evict-" + suffix
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	zero := int64(0)
	mkPod := func(name, node string, tols []corev1.Toleration) {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: corev1.PodSpec{
			NodeName: node, Tolerations: tols, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
		if _, err := client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating pod %s: %v", name, err)
		}
	}
	mkPod("short", dead, []corev1.Toleration{{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &zero}})
	mkPod("forever", dead, []corev1.Toleration{{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute}})
	mkPod("elsewhere", alive, nil)

	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); c.Run(ctx) }()
	go func() { // alive's kubelet
		defer wg.Done()
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if l, err := client.CoordinationV1().Leases(nodelifecycle.LeaseNamespace).Get(ctx, alive, metav1.GetOptions{}); err == nil {
				now := metav1.NewMicroTime(time.Now())
				l.Spec.RenewTime = &now
				_, _ = client.CoordinationV1().Leases(nodelifecycle.LeaseNamespace).Update(ctx, l, metav1.UpdateOptions{})
			}
			if n, err := client.CoreV1().Nodes().Get(ctx, alive, metav1.GetOptions{}); err == nil && condStatus(n, corev1.NodeReady) != "True/KubeletReady" {
				setReady(ctx, t, client, alive)
			}
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait(); f.Shutdown(); b.Shutdown() })

	err = kwait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		n, err := client.CoreV1().Nodes().Get(ctx, dead, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		p, err := client.CoreV1().Pods(ns).Get(ctx, "short", metav1.GetOptions{})
		evicted := apierrors.IsNotFound(err) || err == nil && p.DeletionTimestamp != nil
		return condStatus(n, corev1.NodeReady) == "Unknown/NodeStatusUnknown" &&
			hasTaint(n.Spec.Taints, corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute) != nil &&
			hasTaint(n.Spec.Taints, corev1.TaintNodeUnreachable, corev1.TaintEffectNoSchedule) != nil && evicted, nil
	})
	if err != nil {
		n, _ := client.CoreV1().Nodes().Get(ctx, dead, metav1.GetOptions{})
		t.Fatalf("waiting for %s to go Unknown, be tainted and lose its pod: %v (node: %+v)", dead, err, n)
	}
	for _, name := range []string{"forever", "elsewhere"} {
		p, err := client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil || p.DeletionTimestamp != nil {
			t.Errorf("pod %s was evicted (%v)", name, err)
		}
	}
	a, err := client.CoreV1().Nodes().Get(ctx, alive, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Spec.PodCIDR == "" || len(a.Spec.Taints) != 0 {
		t.Errorf("renewing node: podCIDR %q taints %v; want a CIDR and no taints", a.Spec.PodCIDR, a.Spec.Taints)
	}
}

func setReady(ctx context.Context, t *testing.T, client interface {
	CoreV1() typedcorev1.CoreV1Interface
}, name string) {
	t.Helper()
	n, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Errorf("getting node %s: %v", name, err)
		return
	}
	now := metav1.Now()
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
		LastHeartbeatTime: now, LastTransitionTime: now}}
	if _, err := client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil && ctx.Err() == nil {
		t.Errorf("posting node %s status: %v", name, err)
	}
}

// condStatus is "Status/Reason" of the node's condition t, or "".
func condStatus(n *corev1.Node, t corev1.NodeConditionType) string {
	for _, c := range n.Status.Conditions {
		if c.Type == t {
			return string(c.Status) + "/" + c.Reason
		}
	}
	return ""
}

// hasTaint returns the node's taint with key and effect, or nil.
func hasTaint(taints []corev1.Taint, key string, effect corev1.TaintEffect) *corev1.Taint {
	for i := range taints {
		if taints[i].Key == key && taints[i].Effect == effect {
			return &taints[i]
		}
	}
	return nil
}
