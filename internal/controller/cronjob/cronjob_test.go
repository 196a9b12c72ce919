package cronjob

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/podvisor/podvisor/internal/controller/ownerref"
	"github.com/podvisor/podvisor/internal/testutil/controllertest"
)

// t0 is the CronJob's creation time: 2026-01-02 03:04:05 UTC.
var t0 = controllertest.Start

func ptr[T any](v T) *T { return &v }

func newCronJob(schedule string) *batchv1.CronJob {
	return &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "tick", UID: "uid-tick", CreationTimestamp: metav1.NewTime(t0)},
		Spec: batchv1.CronJobSpec{
			Schedule:          schedule,
			TimeZone:          ptr("UTC"),
			ConcurrencyPolicy: batchv1.AllowConcurrent,
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "tick"}},
				Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "c", Image: "busybox"}},
				}}},
			},
		},
	}
}

func ownedJob(cj *batchv1.CronJob, name string, finished batchv1.JobConditionType, started time.Time) *batchv1.Job {
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("uid-" + name),
			OwnerReferences: []metav1.OwnerReference{*ownerref.New(cj, Kind)}},
		Status: batchv1.JobStatus{StartTime: &metav1.Time{Time: started}},
	}
	if finished != "" {
		j.Status.Conditions = []batchv1.JobCondition{{Type: finished, Status: corev1.ConditionTrue}}
		if finished == batchv1.JobComplete {
			j.Status.CompletionTime = &metav1.Time{Time: started.Add(time.Minute)}
		}
	}
	return j
}

func at(h, m int) time.Time { return time.Date(2026, 1, 2, h, m, 0, 0, time.UTC) }

func setup(t *testing.T, now time.Time, cj *batchv1.CronJob, jobs ...*batchv1.Job) (*Controller, *controllertest.Env) {
	t.Helper()
	objs := []runtime.Object{cj}
	for _, j := range jobs {
		objs = append(objs, j)
	}
	env := controllertest.New(t, objs...)
	env.Clock.SetTime(now)
	c, err := New(Config{}, env.Deps)
	if err != nil {
		t.Fatal(err)
	}
	controllertest.Seed(t, env.Deps.Informers.Batch().V1().CronJobs().Informer(), cj)
	for _, j := range jobs {
		controllertest.Seed(t, env.Deps.Informers.Batch().V1().Jobs().Informer(), j)
	}
	return c, env
}

func TestSchedule(t *testing.T) {
	tests := []struct {
		name     string
		now      time.Time
		mutate   func(*batchv1.CronJob)
		jobs     func(cj *batchv1.CronJob) []*batchv1.Job
		created  []string
		deleted  []string
		wait     time.Duration
		event    string
		lastSche *time.Time
	}{
		{
			name:     "most recent of two missed times runs",
			now:      at(3, 11).Add(5 * time.Second),
			created:  []string{fmt.Sprint("tick-", at(3, 10).Unix()/60)},
			wait:     at(3, 15).Sub(at(3, 11).Add(5*time.Second)) + nextDelta,
			lastSche: ptr(at(3, 10)),
		},
		{
			name: "not yet due",
			now:  t0.Add(30 * time.Second),
			wait: at(3, 5).Sub(t0.Add(30*time.Second)) + nextDelta,
		},
		{
			name:   "already run",
			now:    at(3, 12),
			mutate: func(cj *batchv1.CronJob) { cj.Status.LastScheduleTime = &metav1.Time{Time: at(3, 10)} },
			wait:   3*time.Minute + nextDelta,
		},
		{
			name:   "suspended",
			now:    at(3, 12),
			mutate: func(cj *batchv1.CronJob) { cj.Spec.Suspend = ptr(true) },
		},
		{
			name: "starting deadline leaves out old times",
			now:  at(3, 14),
			mutate: func(cj *batchv1.CronJob) {
				cj.Spec.StartingDeadlineSeconds = ptr(int64(60))
			},
			wait: time.Minute + nextDelta,
		},
		{
			name: "forbid with a running job",
			now:  at(3, 11),
			mutate: func(cj *batchv1.CronJob) {
				cj.Spec.ConcurrencyPolicy = batchv1.ForbidConcurrent
				cj.Status.LastScheduleTime = &metav1.Time{Time: at(3, 5)}
			},
			jobs:  func(cj *batchv1.CronJob) []*batchv1.Job { return []*batchv1.Job{ownedJob(cj, "running", "", at(3, 5))} },
			wait:  4*time.Minute + nextDelta,
			event: "JobAlreadyActive",
		},
		{
			name: "replace a running job",
			now:  at(3, 11),
			mutate: func(cj *batchv1.CronJob) {
				cj.Spec.ConcurrencyPolicy = batchv1.ReplaceConcurrent
				cj.Status.LastScheduleTime = &metav1.Time{Time: at(3, 5)}
			},
			jobs:     func(cj *batchv1.CronJob) []*batchv1.Job { return []*batchv1.Job{ownedJob(cj, "running", "", at(3, 5))} },
			created:  []string{fmt.Sprint("tick-", at(3, 10).Unix()/60)},
			deleted:  []string{"running"},
			wait:     4*time.Minute + nextDelta,
			lastSche: ptr(at(3, 10)),
		},
		{
			name: "allow a second one beside a running job",
			now:  at(3, 11),
			mutate: func(cj *batchv1.CronJob) {
				cj.Status.LastScheduleTime = &metav1.Time{Time: at(3, 5)}
			},
			jobs:     func(cj *batchv1.CronJob) []*batchv1.Job { return []*batchv1.Job{ownedJob(cj, "running", "", at(3, 5))} },
			created:  []string{fmt.Sprint("tick-", at(3, 10).Unix()/60)},
			wait:     4*time.Minute + nextDelta,
			lastSche: ptr(at(3, 10)),
		},
		{
			name:     "a day of missed minutes",
			now:      t0.Add(24 * time.Hour),
			mutate:   func(cj *batchv1.CronJob) { cj.Spec.Schedule = "* * * * *" },
			created:  []string{fmt.Sprint("tick-", at(3, 4).Add(24*time.Hour).Unix()/60)},
			wait:     55*time.Second + nextDelta,
			event:    "TooManyMissedTimes",
			lastSche: ptr(at(3, 4).Add(24 * time.Hour)),
		},
		{
			name:   "bad time zone",
			now:    at(3, 11),
			mutate: func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptr("Mars/Olympus") },
			event:  "UnknownTimeZone",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cj := newCronJob("*/5 * * * *")
			if tc.mutate != nil {
				tc.mutate(cj)
			}
			var jobs []*batchv1.Job
			if tc.jobs != nil {
				jobs = tc.jobs(cj)
				for _, j := range jobs {
					if !isFinished(j) {
						cj.Status.Active = append(cj.Status.Active, objectRef(j))
					}
				}
			}
			c, env := setup(t, tc.now, cj, jobs...)
			err := c.Sync(context.Background(), "ns/tick")
			var wait time.Duration
			if err != nil {
				d, derr := time.ParseDuration(strings.TrimPrefix(err.Error(), "requeue after "))
				if derr != nil {
					t.Fatalf("Sync: %v", err)
				}
				wait = d
			}
			if wait != tc.wait {
				t.Errorf("wait = %v, want %v", wait, tc.wait)
			}
			var created []string
			for _, o := range env.Created("jobs") {
				j := o.(*batchv1.Job)
				created = append(created, j.Name)
				if !ownerref.IsControlledBy(j, cj.UID) || j.Labels["app"] != "tick" || j.Annotations[ScheduledTimestampAnnotation] == "" {
					t.Errorf("job %s: owners %v labels %v annotations %v", j.Name, j.OwnerReferences, j.Labels, j.Annotations)
				}
			}
			if diff := cmp.Diff(tc.created, created); diff != "" {
				t.Errorf("created jobs (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.deleted, env.Deleted("jobs")); diff != "" {
				t.Errorf("deleted jobs (-want +got):\n%s", diff)
			}
			events := strings.Join(env.Events(), "\n")
			if tc.event != "" && !strings.Contains(events, tc.event) {
				t.Errorf("events %q lack %s", events, tc.event)
			}
			if tc.lastSche != nil {
				got, _ := env.Client.BatchV1().CronJobs("ns").Get(context.Background(), "tick", metav1.GetOptions{})
				if got.Status.LastScheduleTime == nil || !got.Status.LastScheduleTime.Time.Equal(*tc.lastSche) {
					t.Errorf("lastScheduleTime = %v, want %v", got.Status.LastScheduleTime, *tc.lastSche)
				}
				if len(tc.created) > 0 && !inActive(got, tc.created[0]) {
					t.Errorf("active = %+v, want the new job", got.Status.Active)
				}
			}
		})
	}
}

func TestTimeZone(t *testing.T) {
	cj := newCronJob("0 9 * * *")
	cj.Spec.TimeZone = ptr("Asia/Tokyo")
	// 09:00 in Tokyo is 00:00 UTC; t0 is 03:04 UTC on Jan 2 (12:04 in
	// Tokyo), so the first run is Jan 3 00:00 UTC.
	c, env := setup(t, time.Date(2026, 1, 3, 0, 0, 30, 0, time.UTC), cj)
	if err := c.Sync(context.Background(), "ns/tick"); err != nil && !strings.HasPrefix(err.Error(), "requeue") {
		t.Fatal(err)
	}
	created := env.Created("jobs")
	if len(created) != 1 {
		t.Fatalf("created %d jobs, want 1", len(created))
	}
	j := created[0].(*batchv1.Job)
	if got := j.Annotations[ScheduledTimestampAnnotation]; got != "2026-01-03T09:00:00+09:00" {
		t.Errorf("scheduled timestamp = %s, want 2026-01-03T09:00:00+09:00", got)
	}
}

func TestStatusAndHistory(t *testing.T) {
	cj := newCronJob("*/5 * * * *")
	cj.Status.LastScheduleTime = &metav1.Time{Time: at(3, 10)}
	cj.Spec.SuccessfulJobsHistoryLimit = ptr(int32(1))
	cj.Spec.FailedJobsHistoryLimit = ptr(int32(0))
	jobs := []*batchv1.Job{
		ownedJob(cj, "ok-1", batchv1.JobComplete, at(3, 0)),
		ownedJob(cj, "ok-2", batchv1.JobComplete, at(3, 5)),
		ownedJob(cj, "ok-3", batchv1.JobComplete, at(3, 10)),
		ownedJob(cj, "bad", batchv1.JobFailed, at(3, 6)),
	}
	cj.Status.Active = []corev1.ObjectReference{objectRef(jobs[2]), {Name: "vanished", UID: "uid-vanished"}}
	c, env := setup(t, at(3, 12), cj, jobs...)
	if err := c.Sync(context.Background(), "ns/tick"); err != nil && !strings.HasPrefix(err.Error(), "requeue") {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"bad", "ok-1", "ok-2"}, env.Deleted("jobs")); diff != "" {
		t.Errorf("deleted (-want +got):\n%s", diff)
	}
	got, _ := env.Client.BatchV1().CronJobs("ns").Get(context.Background(), "tick", metav1.GetOptions{})
	if len(got.Status.Active) != 0 {
		t.Errorf("active = %+v, want none (one finished, one gone)", got.Status.Active)
	}
	if got.Status.LastSuccessfulTime == nil || !got.Status.LastSuccessfulTime.Time.Equal(at(3, 11)) {
		t.Errorf("lastSuccessfulTime = %v, want 03:11 (ok-3's completion)", got.Status.LastSuccessfulTime)
	}
}

func TestMostRecentScheduleTime(t *testing.T) {
	tests := []struct {
		schedule   string
		now        time.Time
		want       *time.Time
		wantMissed int
	}{
		{"*/5 * * * *", at(3, 4), nil, 0},
		{"*/5 * * * *", at(3, 5), ptr(at(3, 5)), 1},
		{"*/5 * * * *", at(4, 0), ptr(at(4, 0)), 12},
		{"@hourly", at(5, 30), ptr(at(5, 0)), 2},
		{"* * * * *", t0.Add(1000 * time.Hour), ptr(at(3, 4).Add(1000 * time.Hour)), 60000},
	}
	for _, tc := range tests {
		cj := newCronJob(tc.schedule)
		sched, err := parseSchedule(tc.schedule, time.UTC)
		if err != nil {
			t.Fatal(err)
		}
		got, missed := mostRecentScheduleTime(cj, tc.now, sched)
		if (got == nil) != (tc.want == nil) || got != nil && !got.Equal(*tc.want) {
			t.Errorf("%s at %v: most recent = %v, want %v", tc.schedule, tc.now, got, tc.want)
		}
		if tc.wantMissed <= maxMissed && missed != tc.wantMissed || tc.wantMissed > maxMissed && missed <= maxMissed {
			t.Errorf("%s at %v: missed = %d, want %d", tc.schedule, tc.now, missed, tc.wantMissed)
		}
	}
}
