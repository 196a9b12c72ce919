// Package cronjob is the CronJob controller: it creates a Job from each
// CronJob's jobTemplate at the times its schedule (standard cron syntax,
// parsed with robfig/cron, in spec.timeZone or the controller's local
// zone) names, honouring suspend, startingDeadlineSeconds and
// concurrencyPolicy (Allow, Forbid, Replace). It keeps status.active,
// lastScheduleTime and lastSuccessfulTime, deletes finished Jobs beyond the
// history limits, and sleeps until the next scheduled time (RequeueAfter),
// never polling.
//
// Jobs are named <cronjob>-<scheduled time in minutes since the epoch>,
// so a schedule time is never run twice, even across restarts.
//
// Only the controller manager imports it.
package cronjob

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/podvisor/podvisor/internal/controller/ownerref"
	"github.com/podvisor/podvisor/internal/controller/reconcile"
)

// Kind is the CronJob's group, version and kind, for ControllerRefs.
var Kind = batchv1.SchemeGroupVersion.WithKind("CronJob")

// ScheduledTimestampAnnotation records, on each Job, the time it was
// scheduled for (RFC 3339 in the CronJob's time zone).
const ScheduledTimestampAnnotation = "batch.kubernetes.io/cronjob-scheduled-timestamp"

// maxMissed is how many missed start times are tolerated before the
// controller warns (it still starts the most recent one).
const maxMissed = 100

// nextDelta is added to the wait for the next schedule time, so the wake
// up lands just after it.
const nextDelta = 100 * time.Millisecond

// Config tunes the controller.
type Config struct {
	// Workers is the number of CronJobs synced at once (default 5).
	Workers int
}

// Controller is the CronJob controller.
type Controller struct {
	client    kubernetes.Interface
	cjLister  batchlisters.CronJobLister
	jobLister batchlisters.JobLister
	recorder  record.EventRecorder
	clock     clock.Clock
	log       *slog.Logger
	loop      *reconcile.Controller
}

// New returns the controller and registers its informers (CronJobs, Jobs).
func New(cfg Config, deps reconcile.Deps) (*Controller, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = 5
	}
	cjInf := deps.Informers.Batch().V1().CronJobs()
	jobInf := deps.Informers.Batch().V1().Jobs()
	c := &Controller{
		client: deps.Client, cjLister: cjInf.Lister(), jobLister: jobInf.Lister(),
		recorder: deps.Recorder, clock: deps.Clock, log: deps.Log,
	}
	c.loop = reconcile.New("cronjob", c.Sync, reconcile.Options{Workers: cfg.Workers, Logger: deps.Log})
	if _, err := cjInf.Informer().AddEventHandler(c.loop.Handler()); err != nil {
		return nil, fmt.Errorf("watching cronjobs: %w", err)
	}
	onJob := func(obj any) {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		j, ok := obj.(*batchv1.Job)
		if !ok {
			return
		}
		if ref := ownerref.Controller(j); ref != nil && ref.Kind == Kind.Kind {
			c.loop.Enqueue(j.Namespace + "/" + ref.Name)
		}
	}
	if _, err := jobInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    onJob,
		UpdateFunc: func(_, cur any) { onJob(cur) },
		DeleteFunc: onJob,
	}); err != nil {
		return nil, fmt.Errorf("watching jobs: %w", err)
	}
	return c, nil
}

// Run runs the workers until ctx is done.
func (c *Controller) Run(ctx context.Context) { c.loop.Run(ctx) }

// Sync reconciles the CronJob namespace/name.
func (c *Controller) Sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cached, err := c.cjLister.CronJobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	cj := cached.DeepCopy()
	all, err := c.jobLister.Jobs(ns).List(labels.Everything())
	if err != nil {
		return err
	}
	var jobs []*batchv1.Job
	for _, j := range all {
		if ownerref.IsControlledBy(j, cj.UID) {
			jobs = append(jobs, j)
		}
	}
	wait, syncErr := c.syncCronJob(ctx, cj, jobs)
	if err := c.cleanupFinished(ctx, cj, jobs); err != nil {
		syncErr = errors.Join(syncErr, err)
	}
	if !apiequality.Semantic.DeepEqual(cached.Status, cj.Status) {
		if _, err := c.client.BatchV1().CronJobs(ns).UpdateStatus(ctx, cj, metav1.UpdateOptions{}); err != nil {
			return errors.Join(syncErr, fmt.Errorf("updating status of cronjob %s: %w", key, err))
		}
	}
	if syncErr != nil {
		return syncErr
	}
	if wait > 0 {
		return reconcile.RequeueAfter(wait)
	}
	return nil
}

// syncCronJob updates cj.Status in place and starts a Job if one is due.
// It returns how long until the next schedule time (0: do not wake).
func (c *Controller) syncCronJob(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job) (time.Duration, error) {
	now := c.clock.Now()
	c.refreshActive(ctx, cj, jobs)
	if cj.DeletionTimestamp != nil {
		return 0, nil
	}
	loc := time.Local
	if tz := cj.Spec.TimeZone; tz != nil && *tz != "" {
		l, err := time.LoadLocation(*tz)
		if err != nil {
			c.recorder.Eventf(cj, corev1.EventTypeWarning, "UnknownTimeZone", "invalid timeZone: %q: %v", *tz, err)
			return 0, nil
		}
		loc = l
	}
	if cj.Spec.Suspend != nil && *cj.Spec.Suspend {
		return 0, nil
	}
	sched, err := parseSchedule(cj.Spec.Schedule, loc)
	if err != nil {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "UnparseableSchedule", "unparseable schedule: %q : %v", cj.Spec.Schedule, err)
		return 0, nil
	}
	scheduled, missed := mostRecentScheduleTime(cj, now, sched)
	if missed > maxMissed {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "TooManyMissedTimes",
			"too many missed start times: %d. Set or decrease .spec.startingDeadlineSeconds or check clock skew", missed)
	}
	next := nextWait(sched, scheduled, cj, now)
	if scheduled == nil {
		return next, nil
	}
	if d := cj.Spec.StartingDeadlineSeconds; d != nil && scheduled.Add(time.Duration(*d)*time.Second).Before(now) {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "MissSchedule", "Missed scheduled time to start a job: %s", scheduled.UTC().Format(time.RFC1123Z))
		return next, nil
	}
	jobName := JobName(cj, *scheduled)
	if inActive(cj, jobName) || cj.Status.LastScheduleTime != nil && cj.Status.LastScheduleTime.Equal(&metav1.Time{Time: *scheduled}) {
		return next, nil
	}
	switch cj.Spec.ConcurrencyPolicy {
	case batchv1.ForbidConcurrent:
		if len(cj.Status.Active) > 0 {
			c.recorder.Eventf(cj, corev1.EventTypeNormal, "JobAlreadyActive", "Not starting job because prior execution is running and concurrency policy is Forbid")
			return next, nil
		}
	case batchv1.ReplaceConcurrent:
		for _, ref := range append([]corev1.ObjectReference(nil), cj.Status.Active...) {
			if err := c.deleteJob(ctx, cj, ref.Name, ref.UID); err != nil {
				return next, err
			}
			removeActive(cj, ref.UID)
		}
	}
	job := jobFromTemplate(cj, *scheduled, jobName)
	created, err := c.client.BatchV1().Jobs(cj.Namespace).Create(ctx, job, metav1.CreateOptions{})
	switch {
	case apierrors.IsAlreadyExists(err):
		// Made by us before (a stale cache): adopt its fate, do not redo.
		existing, gerr := c.client.BatchV1().Jobs(cj.Namespace).Get(ctx, jobName, metav1.GetOptions{})
		if gerr != nil || !ownerref.IsControlledBy(existing, cj.UID) {
			return next, fmt.Errorf("creating job %s: name taken by another object", jobName)
		}
		created = existing
	case err != nil:
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "FailedCreate", "Error creating job: %v", err)
		return next, fmt.Errorf("creating job %s: %w", jobName, err)
	default:
		c.recorder.Eventf(cj, corev1.EventTypeNormal, "SuccessfulCreate", "Created job %v", created.Name)
	}
	if !isFinished(created) && !inActive(cj, created.Name) {
		cj.Status.Active = append(cj.Status.Active, objectRef(created))
	}
	t := metav1.NewTime(*scheduled)
	cj.Status.LastScheduleTime = &t
	return next, nil
}

// refreshActive brings status.active in line with the Jobs: finished ones
// leave it (a successful one sets lastSuccessfulTime), running ones join
// it, and references to Jobs that no longer exist are dropped.
func (c *Controller) refreshActive(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job) {
	byUID := map[types.UID]*batchv1.Job{}
	for _, j := range jobs {
		byUID[j.UID] = j
		switch {
		case isFinished(j):
			if inActive(cj, j.Name) {
				removeActive(cj, j.UID)
				c.recorder.Eventf(cj, corev1.EventTypeNormal, "SawCompletedJob", "Saw completed job: %s, condition: %s", j.Name, finishedType(j))
			}
			if finishedType(j) == batchv1.JobComplete && j.Status.CompletionTime != nil &&
				(cj.Status.LastSuccessfulTime == nil || j.Status.CompletionTime.After(cj.Status.LastSuccessfulTime.Time)) {
				t := *j.Status.CompletionTime
				cj.Status.LastSuccessfulTime = &t
			}
		case !inActive(cj, j.Name) && j.DeletionTimestamp == nil:
			cj.Status.Active = append(cj.Status.Active, objectRef(j))
		}
	}
	for _, ref := range append([]corev1.ObjectReference(nil), cj.Status.Active...) {
		if _, ok := byUID[ref.UID]; ok {
			continue
		}
		// Not in the cache: make sure it is really gone before forgetting.
		j, err := c.client.BatchV1().Jobs(cj.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) || err == nil && j.UID != ref.UID {
			removeActive(cj, ref.UID)
		}
	}
}

// parseSchedule parses a standard cron schedule in loc ("@hourly" and a
// CRON_TZ= or TZ= prefix allowed, as Kubernetes).
func parseSchedule(schedule string, loc *time.Location) (cron.Schedule, error) {
	s := strings.TrimSpace(schedule)
	if !strings.HasPrefix(s, "TZ=") && !strings.HasPrefix(s, "CRON_TZ=") {
		s = "CRON_TZ=" + loc.String() + " " + s
	}
	return cron.ParseStandard(s)
}

// mostRecentScheduleTime returns the latest schedule time in (earliest,
// now] that has not been run, or nil, and how many were missed. earliest is
// the last schedule time (or creation), moved up to now minus
// startingDeadlineSeconds when that is later.
func mostRecentScheduleTime(cj *batchv1.CronJob, now time.Time, sched cron.Schedule) (*time.Time, int) {
	earliest := cj.CreationTimestamp.Time
	if cj.Status.LastScheduleTime != nil {
		earliest = cj.Status.LastScheduleTime.Time
	}
	if d := cj.Spec.StartingDeadlineSeconds; d != nil {
		if sd := now.Add(-time.Duration(*d) * time.Second); sd.After(earliest) {
			earliest = sd
		}
	}
	if earliest.After(now) {
		return nil, 0
	}
	t1 := sched.Next(earliest)
	if t1.IsZero() || t1.After(now) {
		return nil, 0
	}
	// Walk forward; after many steps jump close to now so a long outage
	// does not cost a long loop.
	last, n := t1, 1
	for t := sched.Next(t1); !t.IsZero() && !t.After(now); t = sched.Next(t) {
		last = t
		n++
		if n == maxMissed+1 {
			period := t.Sub(t1) / time.Duration(n-1)
			if period <= 0 {
				period = time.Minute
			}
			skip := int(now.Sub(t)/period) - 2
			if skip > 0 {
				jump := t.Add(time.Duration(skip) * period)
				// Find the latest time in (jump, now] by stepping.
				for j := sched.Next(jump); !j.IsZero() && !j.After(now); j = sched.Next(j) {
					last = j
				}
				return &last, n + skip
			}
		}
	}
	return &last, n
}

// nextWait is how long until the schedule time after the latest one
// considered (the one just run or now).
func nextWait(sched cron.Schedule, scheduled *time.Time, cj *batchv1.CronJob, now time.Time) time.Duration {
	from := now
	if scheduled != nil && scheduled.After(from) {
		from = *scheduled
	}
	next := sched.Next(from)
	if next.IsZero() {
		return 0
	}
	return next.Sub(now) + nextDelta
}

// JobName is the name of cj's Job for a schedule time.
func JobName(cj *batchv1.CronJob, scheduled time.Time) string {
	return fmt.Sprintf("%s-%d", cj.Name, scheduled.Unix()/60)
}

func jobFromTemplate(cj *batchv1.CronJob, scheduled time.Time, name string) *batchv1.Job {
	tmpl := cj.Spec.JobTemplate.DeepCopy()
	annotations := tmpl.Annotations
	if annotations == nil {
		annotations = map[string]string{}
	}
	loc := time.Local
	if tz := cj.Spec.TimeZone; tz != nil {
		if l, err := time.LoadLocation(*tz); err == nil {
			loc = l
		}
	}
	annotations[ScheduledTimestampAnnotation] = scheduled.In(loc).Format(time.RFC3339)
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: cj.Namespace,
			Labels: tmpl.Labels, Annotations: annotations,
			OwnerReferences: []metav1.OwnerReference{*ownerref.New(cj, Kind)},
		},
		Spec: tmpl.Spec,
	}
}

func objectRef(j *batchv1.Job) corev1.ObjectReference {
	return corev1.ObjectReference{
		Kind: "Job", APIVersion: "batch/v1", Namespace: j.Namespace, Name: j.Name, UID: j.UID, ResourceVersion: j.ResourceVersion,
	}
}

func inActive(cj *batchv1.CronJob, name string) bool {
	for _, r := range cj.Status.Active {
		if r.Name == name {
			return true
		}
	}
	return false
}

func removeActive(cj *batchv1.CronJob, uid types.UID) {
	var keep []corev1.ObjectReference
	for _, r := range cj.Status.Active {
		if r.UID != uid {
			keep = append(keep, r)
		}
	}
	cj.Status.Active = keep
}

func finishedType(j *batchv1.Job) batchv1.JobConditionType {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return c.Type
		}
	}
	return ""
}

func isFinished(j *batchv1.Job) bool { return finishedType(j) != "" }

// deleteJob deletes one of cj's Jobs and its pods (background).
func (c *Controller) deleteJob(ctx context.Context, cj *batchv1.CronJob, name string, uid types.UID) error {
	bg := metav1.DeletePropagationBackground
	err := c.client.BatchV1().Jobs(cj.Namespace).Delete(ctx, name, metav1.DeleteOptions{
		PropagationPolicy: &bg, Preconditions: &metav1.Preconditions{UID: &uid},
	})
	if err != nil && !apierrors.IsNotFound(err) {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "FailedDelete", "Deleted job: %v", err)
		return fmt.Errorf("deleting job %s/%s: %w", cj.Namespace, name, err)
	}
	c.recorder.Eventf(cj, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted job %v", name)
	return nil
}

// cleanupFinished deletes the oldest finished Jobs beyond
// successfulJobsHistoryLimit and failedJobsHistoryLimit.
func (c *Controller) cleanupFinished(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job) error {
	var ok, failed []*batchv1.Job
	for _, j := range jobs {
		if j.DeletionTimestamp != nil {
			continue
		}
		switch finishedType(j) {
		case batchv1.JobComplete:
			ok = append(ok, j)
		case batchv1.JobFailed:
			failed = append(failed, j)
		}
	}
	var errs []error
	for _, x := range []struct {
		jobs  []*batchv1.Job
		limit *int32
	}{{ok, cj.Spec.SuccessfulJobsHistoryLimit}, {failed, cj.Spec.FailedJobsHistoryLimit}} {
		if x.limit == nil || len(x.jobs) <= int(*x.limit) {
			continue
		}
		sort.Slice(x.jobs, func(i, k int) bool { return startedBefore(x.jobs[i], x.jobs[k]) })
		for _, j := range x.jobs[:len(x.jobs)-int(*x.limit)] {
			if err := c.deleteJob(ctx, cj, j.Name, j.UID); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// startedBefore orders Jobs by start time (unstarted last), then name.
func startedBefore(a, b *batchv1.Job) bool {
	switch {
	case a.Status.StartTime == nil && b.Status.StartTime == nil:
		return a.Name < b.Name
	case a.Status.StartTime == nil:
		return false
	case b.Status.StartTime == nil:
		return true
	case a.Status.StartTime.Equal(b.Status.StartTime):
		return a.Name < b.Name
	}
	return a.Status.StartTime.Before(b.Status.StartTime)
}
