//go:build integration

package namespace_test

import (
	"context"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/podvisor/podvisor/internal/controller/namespace"
	"github.com/podvisor/podvisor/internal/controller/reconcile"
	"github.com/podvisor/podvisor/internal/server"
	"github.com/podvisor/podvisor/internal/testutil/etcdtest"
	"github.com/podvisor/podvisor/internal/testutil/servertest"
)

// TestIntegrationNamespaceDeletion: against a real server, deleting a
// namespace empties it (objects of several types, one held by a
// finalizer until it is removed) and the namespace then goes.
func TestIntegrationNamespaceDeletion(t *testing.T) {
	s := servertest.Start(t, server.Config{DisableAgent: true})
	client := s.Client
	md, err := metadata.NewForConfig(s.RESTConfig)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := informers.NewSharedInformerFactory(client, 0)
	c, err := namespace.New(namespace.Config{RecheckPeriod: 200 * time.Millisecond}, namespace.Deps{
		Deps: reconcile.Deps{Client: client, Informers: f, Recorder: record.NewFakeRecorder(100),
			Log: etcdtest.Logger(t), Clock: clock.RealClock{}},
		Metadata: md, Discovery: client.Discovery(),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); c.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait(); f.Shutdown() })

	ns := "doomed-" + metav1.Now().Format("150405.000000")[7:]
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"a", "b", "held"} {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
		if i == 2 {
			cm.Finalizers = []string{"example.com/hold"}
		}
		if _, err := client.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Services(ns).Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "svc", Namespace: ns},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// Everything but the held object goes; the condition says why.
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		n, err := client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		cms, err := client.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		secrets, _ := client.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
		svcs, _ := client.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
		held := false
		for _, cnd := range n.Status.Conditions {
			held = held || cnd.Type == corev1.NamespaceFinalizersRemaining && cnd.Status == corev1.ConditionTrue
		}
		return held && len(cms.Items) == 1 && len(secrets.Items) == 0 && len(svcs.Items) == 0, nil
	})
	if err != nil {
		t.Fatalf("waiting for the namespace to be emptied but for the held object: %v", err)
	}
	cm, err := client.CoreV1().ConfigMaps(ns).Get(ctx, "held", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Finalizers = nil
	if _, err := client.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		t.Fatalf("waiting for the namespace to go: %v", err)
	}
}
