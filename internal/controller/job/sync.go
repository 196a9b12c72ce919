package job

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/podvisor/podvisor/internal/controller/ownerref"
	"github.com/podvisor/podvisor/internal/controller/podcontrol"
	"github.com/podvisor/podvisor/internal/controller/podstate"
	"github.com/podvisor/podvisor/internal/controller/reconcile"
	"github.com/podvisor/podvisor/internal/controller/replicaset"
)

// state is what one sync knows about a Job.
type state struct {
	key     string
	job     *batchv1.Job
	pods    []*corev1.Pod
	active  []*corev1.Pod
	indexed bool
	// completions is spec.completions (-1 when unset).
	completions int
	// succeededIx are the succeeded indexes of an Indexed job, including
	// those found this sync.
	succeededIx indexSet
	// newSucceeded, newFailed, newIgnored are finished pods with the
	// tracking finalizer not yet recorded in uncountedTerminatedPods.
	newSucceeded, newFailed, newIgnored []*corev1.Pod
	// failJob is set when a podFailurePolicy FailJob rule matched.
	failJob string
	// requeue is the earliest time-driven wake-up wanted (0: none).
	requeue time.Duration
}

func (s *state) wake(d time.Duration) {
	if d > 0 && (s.requeue == 0 || d < s.requeue) {
		s.requeue = d
	}
}

func (s *state) uncounted() *batchv1.UncountedTerminatedPods {
	if s.job.Status.UncountedTerminatedPods == nil {
		s.job.Status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
	}
	return s.job.Status.UncountedTerminatedPods
}

func isSuspended(job *batchv1.Job) bool { return job.Spec.Suspend != nil && *job.Spec.Suspend }

func (c *Controller) sync(ctx context.Context, key string, job *batchv1.Job, pods []*corev1.Pod) error {
	now := c.clock.Now()
	s := &state{key: key, job: job, pods: pods, completions: -1}
	s.indexed = job.Spec.CompletionMode != nil && *job.Spec.CompletionMode == batchv1.IndexedCompletion
	if job.Spec.Completions != nil {
		s.completions = int(*job.Spec.Completions)
	}
	if s.indexed {
		s.succeededIx = parseIndexes(job.Status.CompletedIndexes, s.completions)
	}
	oldStatus := job.Status.DeepCopy()
	c.classify(s)

	uc := s.uncounted()
	succeeded := int(job.Status.Succeeded) + len(uc.Succeeded) + len(s.newSucceeded)
	if s.indexed {
		for _, p := range s.newSucceeded {
			if ix, ok := podIndex(p, s.completions); ok {
				s.succeededIx = s.succeededIx.with(ix)
			}
		}
		succeeded = s.succeededIx.total()
	}
	failed := int(job.Status.Failed) + len(uc.Failed) + len(s.newFailed)
	c.backoff.update(key, len(s.newSucceeded) > 0, s.newFailed, now)

	if job.Status.StartTime == nil && !isSuspended(job) {
		t := metav1.NewTime(now)
		job.Status.StartTime = &t
	}

	// The outcome, if known.
	target := condition(job.Status.Conditions, batchv1.JobFailureTarget)
	successMet := condition(job.Status.Conditions, batchv1.JobSuccessCriteriaMet)
	if target == nil && successMet == nil {
		switch {
		case s.failJob != "":
			target = c.setCondition(job, batchv1.JobFailureTarget, batchv1.JobReasonPodFailurePolicy, s.failJob, now)
		case job.Spec.BackoffLimit != nil && failed > int(*job.Spec.BackoffLimit) || pastBackoffLimitOnFailure(job, s.active):
			target = c.setCondition(job, batchv1.JobFailureTarget, batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit", now)
		case pastDeadline(job, now):
			target = c.setCondition(job, batchv1.JobFailureTarget, batchv1.JobReasonDeadlineExceeded, "Job was active longer than specified deadline", now)
		}
	}

	var manageErr error
	switch {
	case target != nil:
		// Failed: stop every pod. They keep their finalizers and are
		// counted as failed as they terminate.
		manageErr = c.deleteActive(ctx, s, s.active, false)
	case successMet != nil:
		manageErr = c.deleteActive(ctx, s, s.active, true)
	default:
		if d := deadlineIn(job, now); d > 0 {
			s.wake(d)
		}
		complete := false
		switch {
		case s.indexed:
			complete = s.completions >= 0 && succeeded >= s.completions
		case s.completions < 0:
			complete = succeeded > 0 && len(s.active) == 0
		default:
			complete = succeeded >= s.completions
		}
		if complete {
			// Done: pods still running are not needed.
			successMet = c.setCondition(job, batchv1.JobSuccessCriteriaMet, batchv1.JobReasonCompletionsReached, "Reached expected number of succeeded pods", now)
			manageErr = c.deleteActive(ctx, s, s.active, true)
			break
		}
		if c.exp.Satisfied(key) {
			manageErr = c.manage(ctx, s, succeeded)
		}
		c.suspendConditions(job, now)
	}

	active, ready, terminating := counts(s.pods)
	job.Status.Active = int32(active)
	job.Status.Ready = &ready
	job.Status.Terminating = &terminating
	if s.indexed {
		job.Status.CompletedIndexes = s.succeededIx.String()
	}
	if err := c.track(ctx, s, oldStatus, target, successMet, now); err != nil {
		return errors.Join(manageErr, err)
	}
	if manageErr != nil {
		return manageErr
	}
	if s.requeue > 0 {
		return reconcile.RequeueAfter(s.requeue)
	}
	return nil
}

// classify finds the active pods and the finished ones not yet recorded.
func (c *Controller) classify(s *state) {
	uc := s.uncounted()
	recorded := map[types.UID]bool{}
	for _, u := range uc.Succeeded {
		recorded[u] = true
	}
	for _, u := range uc.Failed {
		recorded[u] = true
	}
	for _, p := range s.pods {
		if podstate.IsActive(p) {
			s.active = append(s.active, p)
		}
		if !hasTrackingFinalizer(p) || recorded[p.UID] || c.finalizers.has(s.key, p.UID) {
			continue
		}
		switch {
		case p.Status.Phase == corev1.PodSucceeded:
			s.newSucceeded = append(s.newSucceeded, p)
		case p.Status.Phase == corev1.PodFailed || p.DeletionTimestamp != nil:
			// A pod being deleted before it succeeded counts as failed
			// (its replacement starts without waiting).
			switch action, msg := matchFailurePolicy(s.job, p); action {
			case batchv1.PodFailurePolicyActionIgnore:
				s.newIgnored = append(s.newIgnored, p)
			case batchv1.PodFailurePolicyActionFailJob:
				if s.failJob == "" {
					s.failJob = msg
				}
				s.newFailed = append(s.newFailed, p)
			default:
				s.newFailed = append(s.newFailed, p)
			}
		}
	}
}

func counts(pods []*corev1.Pod) (active int, ready, terminating int32) {
	for _, p := range pods {
		switch {
		case podstate.IsActive(p):
			active++
			if podstate.IsReady(p) {
				ready++
			}
		case p.DeletionTimestamp != nil && !podstate.IsTerminal(p):
			terminating++
		}
	}
	return active, ready, terminating
}

// manage creates and deletes pods towards the wanted number of active
// pods.
func (c *Controller) manage(ctx context.Context, s *state, succeeded int) error {
	job := s.job
	if isSuspended(job) {
		return c.deleteActive(ctx, s, s.active, true)
	}
	parallelism := 1
	if job.Spec.Parallelism != nil {
		parallelism = int(*job.Spec.Parallelism)
	}
	if s.indexed {
		return c.manageIndexed(ctx, s, parallelism)
	}
	want := 0
	switch {
	case s.completions < 0 && succeeded > 0:
		want = len(s.active) // after a success, let the others finish
	case s.completions < 0:
		want = parallelism
	default:
		want = min(max(s.completions-succeeded, 0), parallelism)
	}
	if excess := len(s.active) - want; excess > 0 {
		victims := append([]*corev1.Pod(nil), s.active...)
		podstate.SortForDeletion(victims, nil, c.clock.Now())
		return c.deleteActive(ctx, s, victims[:min(excess, c.cfg.BurstPods)], true)
	}
	missing := want - len(s.active)
	if missing <= 0 {
		return nil
	}
	if wait := c.backoff.remaining(s.key, c.clock.Now()); wait > 0 {
		s.wake(wait)
		return nil
	}
	return c.create(ctx, s, make([]int, min(missing, c.cfg.BurstPods)), false)
}

// manageIndexed keeps one pod per pending index, lowest indexes first.
func (c *Controller) manageIndexed(ctx context.Context, s *state, parallelism int) error {
	byIndex := map[int]*corev1.Pod{}
	var extra []*corev1.Pod
	keep := append([]*corev1.Pod(nil), s.active...)
	// Prefer keeping the most advanced pod of an index.
	podstate.SortForDeletion(keep, nil, c.clock.Now())
	for i := len(keep) - 1; i >= 0; i-- {
		p := keep[i]
		ix, ok := podIndex(p, s.completions)
		if !ok || s.succeededIx.has(ix) || byIndex[ix] != nil {
			extra = append(extra, p)
			continue
		}
		byIndex[ix] = p
	}
	pending := s.completions - s.succeededIx.total()
	want := min(parallelism, max(pending, 0))
	if excess := len(byIndex) - want; excess > 0 {
		// Drop the highest indexes.
		var ixs []int
		for ix := range byIndex {
			ixs = append(ixs, ix)
		}
		sort.Sort(sort.Reverse(sort.IntSlice(ixs)))
		for _, ix := range ixs[:excess] {
			extra = append(extra, byIndex[ix])
			delete(byIndex, ix)
		}
	}
	if len(extra) > 0 {
		if err := c.deleteActive(ctx, s, extra, true); err != nil {
			return err
		}
	}
	missing := want - len(byIndex)
	if missing <= 0 {
		return nil
	}
	if wait := c.backoff.remaining(s.key, c.clock.Now()); wait > 0 {
		s.wake(wait)
		return nil
	}
	var ixs []int
	for ix := 0; ix < s.completions && len(ixs) < min(missing, c.cfg.BurstPods); ix++ {
		if !s.succeededIx.has(ix) && byIndex[ix] == nil {
			ixs = append(ixs, ix)
		}
	}
	return c.create(ctx, s, ixs, true)
}

// create creates one pod per element of ixs (completion indexes when
// indexed), in slow-start batches.
func (c *Controller) create(ctx context.Context, s *state, ixs []int, indexed bool) error {
	job := s.job
	n := len(ixs)
	if n == 0 {
		return nil
	}
	c.exp.ExpectCreations(s.key, n)
	ref := ownerref.New(job, Kind)
	next := make(chan int, n)
	for _, ix := range ixs {
		next <- ix
	}
	close(next)
	created, err := replicaset.SlowStart(n, 1, func() error {
		ix := <-next
		pod := podcontrol.FromTemplate(&job.Spec.Template, job.Namespace, job.Name+"-", ref)
		pod.Finalizers = append(pod.Finalizers, batchv1.JobTrackingFinalizer)
		if indexed {
			addIndex(pod, job, ix)
		}
		_, err := c.podControl.CreatePod(ctx, pod, job)
		if err != nil && apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			c.exp.CreationObserved(s.key)
			return nil
		}
		return err
	})
	for i := created; i < n; i++ {
		c.exp.CreationObserved(s.key)
	}
	return err
}

// addIndex makes pod the pod of completion index ix.
func addIndex(pod *corev1.Pod, job *batchv1.Job, ix int) {
	v := strconv.Itoa(ix)
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[batchv1.JobCompletionIndexAnnotation] = v
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[batchv1.JobCompletionIndexAnnotation] = v
	pod.GenerateName = fmt.Sprintf("%s-%d-", job.Name, ix)
	if pod.Spec.Hostname == "" {
		pod.Spec.Hostname = fmt.Sprintf("%s-%d", job.Name, ix)
	}
	env := corev1.EnvVar{Name: "JOB_COMPLETION_INDEX", ValueFrom: &corev1.EnvVarSource{
		FieldRef: &corev1.ObjectFieldSelector{FieldPath: fmt.Sprintf("metadata.annotations['%s']", batchv1.JobCompletionIndexAnnotation)},
	}}
	for i := range pod.Spec.InitContainers {
		pod.Spec.InitContainers[i].Env = append(pod.Spec.InitContainers[i].Env, env)
	}
	for i := range pod.Spec.Containers {
		pod.Spec.Containers[i].Env = append(pod.Spec.Containers[i].Env, env)
	}
}

// podIndex returns pod's completion index if valid for completions.
func podIndex(pod *corev1.Pod, completions int) (int, bool) {
	v, ok := pod.Annotations[batchv1.JobCompletionIndexAnnotation]
	if !ok {
		return 0, false
	}
	ix, err := strconv.Atoi(v)
	if err != nil || ix < 0 || ix >= completions {
		return 0, false
	}
	return ix, true
}

// deleteActive deletes pods. With release, their tracking finalizer is
// removed first: a pod the controller removes on purpose (fewer pods
// wanted) is not a failure. Without it the pods keep their finalizers and
// are counted as failed (a failing Job).
func (c *Controller) deleteActive(ctx context.Context, s *state, pods []*corev1.Pod, release bool) error {
	if len(pods) == 0 {
		return nil
	}
	uids := make([]string, len(pods))
	for i, p := range pods {
		uids[i] = string(p.UID)
	}
	c.exp.ExpectDeletionsOf(s.key, uids)
	if release {
		var withFin []*corev1.Pod
		for _, p := range pods {
			if hasTrackingFinalizer(p) {
				withFin = append(withFin, p)
			}
		}
		if _, err := c.removeFinalizers(ctx, s.key, withFin); err != nil {
			for _, u := range uids {
				c.exp.DeletionObservedOf(s.key, u)
			}
			return err
		}
	}
	var errs []error
	for _, p := range pods {
		if err := c.podControl.DeletePod(ctx, p.Namespace, p.Name, p.UID, s.job); err != nil {
			c.exp.DeletionObservedOf(s.key, string(p.UID))
			if !apierrors.IsNotFound(err) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// track records finished pods with Kubernetes' finalizer protocol and
// writes the status: (1) new finished pods into uncountedTerminatedPods,
// (2) their finalizers removed, (3) pods whose finalizer is gone moved to
// the counters, and the final condition once nothing is left running.
func (c *Controller) track(ctx context.Context, s *state, oldStatus *batchv1.JobStatus, target, successMet *batchv1.JobCondition, now time.Time) error {
	job := s.job
	uc := s.uncounted()
	for _, p := range s.newSucceeded {
		uc.Succeeded = append(uc.Succeeded, p.UID)
	}
	for _, p := range s.newFailed {
		uc.Failed = append(uc.Failed, p.UID)
	}
	// Pods to release: the newly finished ones, and recorded ones whose
	// finalizer removal failed before.
	inUncounted := map[types.UID]bool{}
	for _, u := range append(append([]types.UID(nil), uc.Succeeded...), uc.Failed...) {
		inUncounted[u] = true
	}
	var release []*corev1.Pod
	for _, p := range s.pods {
		if !hasTrackingFinalizer(p) || c.finalizers.has(s.key, p.UID) {
			continue
		}
		if inUncounted[p.UID] || contains(s.newIgnored, p) {
			release = append(release, p)
		}
	}
	// (1) Persist what we are about to release.
	if err := c.writeStatus(ctx, job, oldStatus); err != nil {
		return err
	}
	written := job.Status.DeepCopy()
	// (2) Release.
	removed, relErr := c.removeFinalizers(ctx, s.key, release)
	// (3) Count what is released: pods whose finalizer we removed now,
	// and recorded pods that no longer carry it (or are gone).
	byUID := map[types.UID]*corev1.Pod{}
	for _, p := range s.pods {
		byUID[p.UID] = p
	}
	released := func(u types.UID) bool {
		if removed[u] {
			return true
		}
		p, ok := byUID[u]
		return (!ok || !hasTrackingFinalizer(p)) && !c.finalizers.has(s.key, u)
	}
	var keepS, keepF []types.UID
	for _, u := range uc.Succeeded {
		switch {
		case !released(u):
			keepS = append(keepS, u)
		case !s.indexed:
			job.Status.Succeeded++
		}
	}
	for _, u := range uc.Failed {
		if released(u) {
			job.Status.Failed++
		} else {
			keepF = append(keepF, u)
		}
	}
	uc.Succeeded, uc.Failed = keepS, keepF
	if s.indexed {
		job.Status.Succeeded = int32(s.succeededIx.total())
	}
	// The final condition, once all is counted and nothing runs (pods
	// deleted this sync still show as active: the next sync sees them go).
	_, _, terminating := counts(s.pods)
	if len(uc.Succeeded)+len(uc.Failed) == 0 && len(s.active) == 0 && terminating == 0 {
		switch {
		case target != nil:
			c.setCondition(job, batchv1.JobFailed, target.Reason, target.Message, now)
			c.recorder.Event(job, corev1.EventTypeWarning, target.Reason, target.Message)
		case successMet != nil:
			c.setCondition(job, batchv1.JobComplete, successMet.Reason, successMet.Message, now)
			t := metav1.NewTime(now)
			job.Status.CompletionTime = &t
			c.recorder.Event(job, corev1.EventTypeNormal, "Completed", "Job completed")
		}
	}
	if len(uc.Succeeded)+len(uc.Failed) == 0 {
		job.Status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
	}
	if err := c.writeStatus(ctx, job, written); err != nil {
		return errors.Join(relErr, err)
	}
	return relErr
}

func contains(pods []*corev1.Pod, p *corev1.Pod) bool {
	for _, x := range pods {
		if x.UID == p.UID {
			return true
		}
	}
	return false
}

// writeStatus updates job's status if it differs from old, the status
// last written or read; job takes the new resourceVersion.
func (c *Controller) writeStatus(ctx context.Context, job *batchv1.Job, old *batchv1.JobStatus) error {
	if apiequality.Semantic.DeepEqual(*old, job.Status) {
		return nil
	}
	updated, err := c.client.BatchV1().Jobs(job.Namespace).UpdateStatus(ctx, job, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("updating status of job %s/%s: %w", job.Namespace, job.Name, err)
	}
	job.ResourceVersion = updated.ResourceVersion
	return nil
}

func condition(conds []batchv1.JobCondition, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range conds {
		if conds[i].Type == t && conds[i].Status == corev1.ConditionTrue {
			return &conds[i]
		}
	}
	return nil
}

// setCondition sets a True condition of type t (unchanged if already so)
// and returns it.
func (c *Controller) setCondition(job *batchv1.Job, t batchv1.JobConditionType, reason, msg string, now time.Time) *batchv1.JobCondition {
	ts := metav1.NewTime(now)
	for i := range job.Status.Conditions {
		x := &job.Status.Conditions[i]
		if x.Type != t {
			continue
		}
		if x.Status != corev1.ConditionTrue || x.Reason != reason || x.Message != msg {
			if x.Status != corev1.ConditionTrue {
				x.LastTransitionTime = ts
			}
			x.Status, x.Reason, x.Message, x.LastProbeTime = corev1.ConditionTrue, reason, msg, ts
		}
		return x
	}
	job.Status.Conditions = append(job.Status.Conditions, batchv1.JobCondition{
		Type: t, Status: corev1.ConditionTrue, Reason: reason, Message: msg, LastProbeTime: ts, LastTransitionTime: ts,
	})
	return &job.Status.Conditions[len(job.Status.Conditions)-1]
}

// suspendConditions keeps the Suspended condition in line with
// spec.suspend; resuming restarts the clock of activeDeadlineSeconds.
func (c *Controller) suspendConditions(job *batchv1.Job, now time.Time) {
	var cur *batchv1.JobCondition
	for i := range job.Status.Conditions {
		if job.Status.Conditions[i].Type == batchv1.JobSuspended {
			cur = &job.Status.Conditions[i]
		}
	}
	ts := metav1.NewTime(now)
	switch {
	case isSuspended(job) && (cur == nil || cur.Status != corev1.ConditionTrue):
		if cur == nil {
			job.Status.Conditions = append(job.Status.Conditions, batchv1.JobCondition{Type: batchv1.JobSuspended})
			cur = &job.Status.Conditions[len(job.Status.Conditions)-1]
		}
		cur.Status, cur.Reason, cur.Message, cur.LastProbeTime, cur.LastTransitionTime = corev1.ConditionTrue, "JobSuspended", "Job suspended", ts, ts
		c.recorder.Event(job, corev1.EventTypeNormal, "Suspended", "Job suspended")
	case !isSuspended(job) && cur != nil && cur.Status == corev1.ConditionTrue:
		cur.Status, cur.Reason, cur.Message, cur.LastProbeTime, cur.LastTransitionTime = corev1.ConditionFalse, "JobResumed", "Job resumed", ts, ts
		job.Status.StartTime = &ts
		c.recorder.Event(job, corev1.EventTypeNormal, "Resumed", "Job resumed")
	}
}

// pastDeadline reports whether activeDeadlineSeconds has passed.
func pastDeadline(job *batchv1.Job, now time.Time) bool {
	if job.Spec.ActiveDeadlineSeconds == nil || job.Status.StartTime == nil || isSuspended(job) {
		return false
	}
	deadline := job.Status.StartTime.Add(time.Duration(*job.Spec.ActiveDeadlineSeconds) * time.Second)
	return !now.Before(deadline)
}

// deadlineIn returns the time left until activeDeadlineSeconds (0: none).
func deadlineIn(job *batchv1.Job, now time.Time) time.Duration {
	if job.Spec.ActiveDeadlineSeconds == nil || job.Status.StartTime == nil || isSuspended(job) {
		return 0
	}
	return job.Status.StartTime.Add(time.Duration(*job.Spec.ActiveDeadlineSeconds) * time.Second).Sub(now)
}

// pastBackoffLimitOnFailure: with restartPolicy OnFailure failures show
// as container restarts, which count against backoffLimit.
func pastBackoffLimitOnFailure(job *batchv1.Job, active []*corev1.Pod) bool {
	if job.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyOnFailure || job.Spec.BackoffLimit == nil {
		return false
	}
	var n int32
	for _, p := range active {
		for _, st := range append(append([]corev1.ContainerStatus(nil), p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
			n += st.RestartCount
		}
	}
	return *job.Spec.BackoffLimit == 0 && n > 0 || *job.Spec.BackoffLimit > 0 && n >= *job.Spec.BackoffLimit
}
