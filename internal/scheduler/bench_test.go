package scheduler

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/podvisor/podvisor/internal/scheduler/framework"
	"github.com/podvisor/podvisor/internal/testutil/schedtest"
)

// BenchmarkSchedulingCycle measures one scheduling cycle (snapshot
// refresh, filter, score, assume) on 1000 nodes with pods being added,
// without any API: the scheduler's own CPU cost per pod.
func BenchmarkSchedulingCycle(b *testing.B) {
	for _, anti := range []bool{false, true} {
		b.Run(fmt.Sprintf("antiAffinity=%v", anti), func(b *testing.B) {
			s, err := New(Config{LeaderElection: LeaderElectionConfig{Disabled: true}},
				Deps{Client: fake.NewClientset(), Log: schedtest.Logger(), Rand: rand.New(rand.NewPCG(1, 1))})
			if err != nil {
				b.Fatal(err)
			}
			for i := 0; i < 1000; i++ {
				s.cache.AddNode(schedtest.Node(fmt.Sprintf("n%04d", i)).Cap("32", "128Gi", 110).Zone(fmt.Sprintf("z%d", i%10)).Obj())
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				pb := schedtest.Pod(fmt.Sprintf("p%d", i)).Req("100m", "128Mi")
				if anti {
					g := fmt.Sprintf("g%d", i%30)
					pb.Label("group", g).PodAntiAffinity(v1.LabelHostname, "group", g)
				}
				pod := pb.Obj()
				state := framework.NewCycleState()
				s.cache.UpdateSnapshot(s.snapshot)
				host, err := s.schedulePod(ctx, state, pod)
				if err != nil {
					b.Fatal(err)
				}
				assumed := *pod
				assumed.Spec.NodeName = host
				if err := s.cache.AssumePod(framework.NewPodInfo(&assumed)); err != nil {
					b.Fatal(err)
				}
				// Keep the cluster at a steady ~3000 pods.
				if i >= 3000 {
					old := schedtest.Pod(fmt.Sprintf("p%d", i-3000)).Obj()
					_ = s.cache.ForgetPod(old)
				}
			}
		})
	}
}
