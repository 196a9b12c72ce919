package rbac

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/podvisor/podvisor/internal/apiserver/authn"
)

// TestConcurrentFeedAndAuthorize runs decisions while the policy changes;
// run with -race it checks the locking.
func TestConcurrentFeedAndAuthorize(t *testing.T) {
	p := testPolicy()
	az := New(p)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := &authn.User{Name: fmt.Sprintf("user-%d", i), Groups: []string{"ops"}}
			for ctx.Err() == nil {
				az.Authorize(ctx, with(u, res("list", "", "pods", "", "team-a", "")))
				az.RulesFor(ctx, u, "team-a")
			}
		}()
	}
	for i := range 300 {
		name := fmt.Sprintf("b-%d", i%10)
		p.SetClusterRoleBinding(crb(name, "pod-reader", userSubject(fmt.Sprintf("user-%d", i%4))))
		p.SetRoleBinding(rb("team-a", name, "ClusterRole", "deployer", groupSubject("ops")))
		p.SetClusterRole(clusterRole("pod-reader", rule(s("list"), s(""), s("pods"))))
		if i%3 == 0 {
			p.DeleteClusterRoleBinding(name)
			p.DeleteRoleBinding("team-a", name)
		}
	}
	cancel()
	wg.Wait()
}
