package node

import (
	"context"
	"fmt"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podvisor/podvisor/internal/apiserver/authn"
)

// TestConcurrentFeedAndAuthorize runs decisions while pods and claims
// change; run with -race it checks the locking.
func TestConcurrentFeedAndAuthorize(t *testing.T) {
	g := testGraph()
	az := New(g)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := authn.NodeUser(fmt.Sprintf("n%d", i%2+1))
			for ctx.Err() == nil {
				for _, a := range []struct{ r, name string }{{"secrets", "tls"}, {"pods", "web"}, {"persistentvolumes", "pv-data"}} {
					at := req("get", "", a.r, "", "app", a.name)
					if a.r == "persistentvolumes" {
						at.Namespace = ""
					}
					at.User = u
					az.Authorize(ctx, at)
				}
			}
		}()
	}
	for i := range 300 {
		name := fmt.Sprintf("p-%d", i%7)
		g.SetPod(pod("app", name, fmt.Sprintf("n%d", i%2+1), func(s *corev1.PodSpec) {
			s.Volumes = []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "tls"}}}}
		}))
		g.SetPVC(&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "data"}, Spec: corev1.PersistentVolumeClaimSpec{VolumeName: fmt.Sprintf("pv-%d", i%3)}})
		if i%2 == 0 {
			g.DeletePod("app", name)
		}
	}
	cancel()
	wg.Wait()
}
