package serviceaccount

import (
	"context"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/clock"
)

// TestRunKeepsDefaults runs both controllers on live (fake) informers: a
// new namespace gets its default ServiceAccount and CA ConfigMap, and a
// deleted default account comes back.
func TestRunKeepsDefaults(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	d, client := deps(t)
	d.Clock = clock.RealClock{}
	sa, err := New(Config{}, d)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := NewPublisher(PublisherConfig{RootCA: []byte("pem")}, d)
	if err != nil {
		t.Fatal(err)
	}
	d.Informers.Start(ctx.Done())
	d.Informers.WaitForCacheSync(ctx.Done())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); sa.Run(ctx) }()
	go func() { defer wg.Done(); pub.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait(); d.Informers.Shutdown() })

	if _, err := client.CoreV1().Namespaces().Create(ctx, ns("team", corev1.NamespaceActive), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	both := func(ctx context.Context) (bool, error) {
		_, e1 := client.CoreV1().ServiceAccounts("team").Get(ctx, DefaultName, metav1.GetOptions{})
		_, e2 := client.CoreV1().ConfigMaps("team").Get(ctx, RootCAConfigMap, metav1.GetOptions{})
		return e1 == nil && e2 == nil, nil
	}
	if err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 30*time.Second, true, both); err != nil {
		t.Fatalf("waiting for the default account and CA: %v", err)
	}
	if err := client.CoreV1().ServiceAccounts("team").Delete(ctx, DefaultName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 30*time.Second, true, both); err != nil {
		t.Fatalf("waiting for the default account to come back: %v", err)
	}
}
