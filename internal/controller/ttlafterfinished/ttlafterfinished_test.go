package ttlafterfinished

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stesting "k8s.io/client-go/testing"

	"github.com/podvisor/podvisor/internal/testutil/controllertest"
)

func job(ttl *int32, finishedAgo time.Duration, cond batchv1.JobConditionType) *batchv1.Job {
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "j", UID: "uid-j", ResourceVersion: "7"},
		Spec:       batchv1.JobSpec{TTLSecondsAfterFinished: ttl},
	}
	if cond != "" {
		j.Status.Conditions = []batchv1.JobCondition{{Type: cond, Status: corev1.ConditionTrue,
			LastTransitionTime: metav1.NewTime(controllertest.Start.Add(-finishedAgo))}}
	}
	return j
}

func ttl(n int32) *int32 { return &n }

func TestTTL(t *testing.T) {
	tests := []struct {
		name    string
		job     *batchv1.Job
		wait    time.Duration
		deleted bool
	}{
		{"no ttl", job(nil, time.Hour, batchv1.JobComplete), 0, false},
		{"not finished", job(ttl(0), 0, ""), 0, false},
		{"expired", job(ttl(60), 2*time.Minute, batchv1.JobComplete), 0, true},
		{"failed and expired", job(ttl(0), 0, batchv1.JobFailed), 0, true},
		{"not yet", job(ttl(100), 40*time.Second, batchv1.JobComplete), time.Minute, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := controllertest.New(t, tc.job)
			c, err := New(Config{}, env.Deps)
			if err != nil {
				t.Fatal(err)
			}
			controllertest.Seed(t, env.Deps.Informers.Batch().V1().Jobs().Informer(), tc.job)
			err = c.Sync(context.Background(), "ns/j")
			var wait time.Duration
			if err != nil {
				wait, err = time.ParseDuration(strings.TrimPrefix(err.Error(), "requeue after "))
				if err != nil {
					t.Fatal(err)
				}
			}
			if wait != tc.wait {
				t.Errorf("wait = %v, want %v", wait, tc.wait)
			}
			var deleted []string
			for _, a := range env.Client.Actions() {
				if da, ok := a.(k8stesting.DeleteActionImpl); ok {
					deleted = append(deleted, da.Name)
					if p := da.DeleteOptions.PropagationPolicy; p == nil || *p != metav1.DeletePropagationForeground {
						t.Errorf("propagation = %v, want Foreground", p)
					}
					if pc := da.DeleteOptions.Preconditions; pc == nil || pc.ResourceVersion == nil || *pc.ResourceVersion != "7" {
						t.Errorf("preconditions = %+v, want resourceVersion 7", pc)
					}
				}
			}
			want := []string(nil)
			if tc.deleted {
				want = []string{"j"}
			}
			if diff := cmp.Diff(want, deleted); diff != "" {
				t.Errorf("deleted (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFreshReadWins(t *testing.T) {
	old := job(ttl(0), time.Hour, batchv1.JobComplete)
	env := controllertest.New(t, old)
	// Someone raised the TTL; the cache has not seen it.
	fresh := old.DeepCopy()
	fresh.Spec.TTLSecondsAfterFinished = ttl(7200)
	if err := env.Client.Tracker().Update(batchv1.SchemeGroupVersion.WithResource("jobs"), fresh, "ns"); err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{}, env.Deps)
	if err != nil {
		t.Fatal(err)
	}
	controllertest.Seed(t, env.Deps.Informers.Batch().V1().Jobs().Informer(), old)
	err = c.Sync(context.Background(), "ns/j")
	if err == nil || !strings.Contains(err.Error(), "1h0m0s") {
		t.Errorf("Sync = %v, want a requeue after the new TTL", err)
	}
	if d := env.Deleted("jobs"); len(d) != 0 {
		t.Errorf("deleted %v on a stale TTL", d)
	}
}
