package status

import (
	"context"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func countUpdates(cs *fake.Clientset) int {
	n := 0
	for _, a := range cs.Actions() {
		if a.GetVerb() == "update" && a.GetSubresource() == "status" {
			n++
		}
	}
	return n
}

func TestManagerWritesOnlyChanges(t *testing.T) {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1"}}
	cs := fake.NewClientset(p)
	m := NewManager(cs, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	st := corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.2"}
	m.Set("u1", p, st)
	if err := m.Flush(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	got, _ := cs.CoreV1().Pods("ns").Get(ctx, "p", metav1.GetOptions{})
	if got.Status.Phase != corev1.PodRunning || got.Status.PodIP != "10.0.0.2" {
		t.Fatalf("status not written: %+v", got.Status)
	}
	m.Set("u1", nil, st)
	m.Flush(ctx, "u1")
	if n := countUpdates(cs); n != 1 {
		t.Errorf("status updates: got %d, want 1 (an unchanged status is not written)", n)
	}
	st.Phase = corev1.PodSucceeded
	m.Set("u1", nil, st)
	m.Flush(ctx, "u1")
	if n := countUpdates(cs); n != 2 {
		t.Errorf("status updates: got %d, want 2", n)
	}
	if s, ok := m.Get("u1"); !ok || s.Phase != corev1.PodSucceeded {
		t.Errorf("Get: got %v %v", s.Phase, ok)
	}
}

func TestManagerConflictRereads(t *testing.T) {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1", ResourceVersion: "5"}}
	cs := fake.NewClientset(p)
	conflicts := 1
	cs.PrependReactor("update", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() == "status" && conflicts > 0 {
			conflicts--
			return true, nil, errConflict()
		}
		return false, nil, nil
	})
	m := NewManager(cs, slog.New(slog.DiscardHandler))
	m.Set("u1", p, corev1.PodStatus{Phase: corev1.PodRunning})
	if err := m.Flush(context.Background(), "u1"); err != nil {
		t.Fatal(err)
	}
	got, _ := cs.CoreV1().Pods("ns").Get(context.Background(), "p", metav1.GetOptions{})
	if got.Status.Phase != corev1.PodRunning {
		t.Errorf("after a conflict: phase %q, want Running", got.Status.Phase)
	}
}

func TestManagerDropsReplacedPod(t *testing.T) {
	old := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "old"}}
	cur := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "new"}}
	cs := fake.NewClientset(cur)
	cs.PrependReactor("update", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errConflict()
	})
	m := NewManager(cs, slog.New(slog.DiscardHandler))
	m.Set("old", old, corev1.PodStatus{Phase: corev1.PodRunning})
	if err := m.Flush(context.Background(), "old"); err != nil {
		t.Fatalf("a pod replaced under the same name: %v", err)
	}
	got, _ := cs.CoreV1().Pods("ns").Get(context.Background(), "p", metav1.GetOptions{})
	if got.Status.Phase != "" {
		t.Errorf("the new pod's status was touched: %q", got.Status.Phase)
	}
}

func TestManagerRunWrites(t *testing.T) {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1"}}
	cs := fake.NewClientset(p)
	m := NewManager(cs, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx, 2); close(done) }()
	m.Set("u1", p, corev1.PodStatus{Phase: corev1.PodRunning})
	deadline := time.Now().Add(10 * time.Second)
	for countUpdates(cs) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if countUpdates(cs) == 0 {
		t.Fatal("Run never wrote the status")
	}
}

func errConflict() error {
	return apierrors.NewConflict(schema.GroupResource{Resource: "pods"}, "p", nil)
}
