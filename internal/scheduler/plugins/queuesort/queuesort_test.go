package queuesort_test

import (
	"testing"
	"time"

	"github.com/podvisor/podvisor/internal/scheduler/framework"
	"github.com/podvisor/podvisor/internal/scheduler/plugins/queuesort"
	"github.com/podvisor/podvisor/internal/testutil/schedtest"
)

func TestLess(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	q := func(prio int32, at time.Duration) *framework.QueuedPodInfo {
		return &framework.QueuedPodInfo{PodInfo: framework.NewPodInfo(schedtest.Pod("p").Priority(prio).Obj()), Timestamp: t0.Add(at)}
	}
	tests := []struct {
		name string
		a, b *framework.QueuedPodInfo
		want bool
	}{
		{"higher priority first", q(10, time.Second), q(1, 0), true},
		{"lower priority later", q(1, 0), q(10, time.Second), false},
		{"same priority: earlier first", q(5, 0), q(5, time.Second), true},
		{"same priority: later second", q(5, time.Second), q(5, 0), false},
	}
	p := &queuesort.PrioritySort{}
	for _, tc := range tests {
		if got := p.Less(tc.a, tc.b); got != tc.want {
			t.Errorf("%s: Less = %v, want %v", tc.name, got, tc.want)
		}
	}
}
