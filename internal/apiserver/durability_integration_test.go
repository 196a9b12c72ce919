//go:build integration

package apiserver_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podvisor/podvisor/internal/testutil/servertest"
)

// TestKill9LosesNoAcknowledgedWrite runs bin/podvisor server, streams
// creates at it from several clients, kills it with SIGKILL mid-stream,
// restarts it on the same data dir, and checks that every create that was
// acknowledged is there.
func TestKill9LosesNoAcknowledgedWrite(t *testing.T) {
	dir := t.TempDir()
	p := servertest.StartProcess(t, dir, 0)
	_, c := servertest.Clients(t, p.Kubeconfig)
	ctx := context.Background()
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "stream"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		acked []string
		wg    sync.WaitGroup
	)
	stop := make(chan struct{})
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("w%d-%05d", w, i)
				cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				_, err := c.CoreV1().ConfigMaps("stream").Create(cctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"i": name}}, metav1.CreateOptions{})
				cancel()
				if err != nil {
					return // the server is gone
				}
				mu.Lock()
				acked = append(acked, name)
				mu.Unlock()
			}
		}(w)
	}
	// Let a few hundred writes through, then kill.
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 300 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.Kill()
	close(stop)
	wg.Wait()
	if len(acked) == 0 {
		t.Fatal("no write was acknowledged before the kill")
	}
	p2 := servertest.StartProcess(t, dir, p.Port)
	_, c2 := servertest.Clients(t, p2.Kubeconfig)
	l, err := c2.CoreV1().ConfigMaps("stream").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, cm := range l.Items {
		have[cm.Name] = cm.Data["i"] == cm.Name
	}
	lost := 0
	for _, name := range acked {
		if !have[name] {
			lost++
			t.Errorf("acknowledged create %s lost after kill -9", name)
		}
	}
	t.Logf("%d acknowledged writes, %d stored after restart, %d lost", len(acked), len(l.Items), lost)
}
