package volume

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	volumehelpers "k8s.io/component-helpers/storage/volume"
	"k8s.io/utils/clock"

	"github.com/podvisor/podvisor/internal/controller/reconcile"
)

// TestRunProvisionsOnSelectedNode runs the controller on live (fake)
// informers: the default class appears, a claim without a class gets it,
// waits for a consumer, and is provisioned and bound once the scheduler
// selects a node.
func TestRunProvisionsOnSelectedNode(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	client := fake.NewClientset(readyNode("node-a"),
		pvc("data", "1Gi", func(c *corev1.PersistentVolumeClaim) { c.Spec.StorageClassName = nil }))
	f := informers.NewSharedInformerFactory(client, 0)
	c, err := New(Config{}, reconcile.Deps{Client: client, Informers: f, Recorder: record.NewFakeRecorder(1000),
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

	poll := func(what string, cond func(*corev1.PersistentVolumeClaim) bool) *corev1.PersistentVolumeClaim {
		t.Helper()
		var last *corev1.PersistentVolumeClaim
		err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			p, err := client.CoreV1().PersistentVolumeClaims("ns").Get(ctx, "data", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			last = p
			return cond(p), nil
		})
		if err != nil {
			t.Fatalf("waiting for %s: %v (claim: %+v)", what, err, last)
		}
		return last
	}
	p := poll("the default class and Pending", func(p *corev1.PersistentVolumeClaim) bool {
		return p.Spec.StorageClassName != nil && *p.Spec.StorageClassName == DefaultClassName && p.Status.Phase == corev1.ClaimPending
	})
	metav1.SetMetaDataAnnotation(&p.ObjectMeta, volumehelpers.AnnSelectedNode, "node-a")
	if _, err := client.CoreV1().PersistentVolumeClaims("ns").Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	p = poll("Bound", func(p *corev1.PersistentVolumeClaim) bool { return p.Status.Phase == corev1.ClaimBound })
	pv, err := client.CoreV1().PersistentVolumes().Get(ctx, p.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pv.Spec.HostPath == nil || pv.Spec.HostPath.Path != DefaultLocalPathRoot+"/"+pv.Name {
		t.Errorf("hostPath = %+v", pv.Spec.HostPath)
	}
}

// TestRunClaimWaitsForVolume: a claim created before any volume fits is
// bound when a fitting volume is created later (and first made
// Available), with no other event for the claim.
func TestRunClaimWaitsForVolume(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	client := fake.NewClientset(pvc("early", "1Gi"))
	f := informers.NewSharedInformerFactory(client, 0)
	c, err := New(Config{NoDefaultClass: true}, reconcile.Deps{Client: client, Informers: f, Recorder: record.NewFakeRecorder(1000),
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

	bound := func(ctx context.Context) (bool, error) {
		p, err := client.CoreV1().PersistentVolumeClaims("ns").Get(ctx, "early", metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.ClaimBound, err
	}
	pending := func(ctx context.Context) (bool, error) {
		p, err := client.CoreV1().PersistentVolumeClaims("ns").Get(ctx, "early", metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.ClaimPending, err
	}
	if err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 30*time.Second, true, pending); err != nil {
		t.Fatalf("waiting for Pending: %v", err)
	}
	v := pv("late", "1Gi")
	v.Status.Phase = ""
	if _, err := client.CoreV1().PersistentVolumes().Create(ctx, v, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 30*time.Second, true, bound); err != nil {
		t.Fatalf("waiting for Bound: %v", err)
	}
}
