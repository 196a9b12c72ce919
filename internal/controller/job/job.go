// Package job is the Job controller: it runs a Job's pods to completion.
//
//   - NonIndexed jobs keep min(parallelism, completions-succeeded) pods
//     running (parallelism pods until the first success when completions
//     is unset); Indexed jobs run one pod per completion index
//     (annotation and label batch.kubernetes.io/job-completion-index,
//     hostname <job>-<index>, env JOB_COMPLETION_INDEX) and record
//     status.completedIndexes.
//   - A failed pod is replaced after an exponential back-off (10s,
//     doubling, at most 10m, as Kubernetes); the job fails when failures
//     exceed backoffLimit (or, with restartPolicy OnFailure, when its
//     containers restarted that often), when activeDeadlineSeconds passes,
//     or when a podFailurePolicy FailJob rule matches. Ignore rules make a
//     failure not count.
//   - Suspending deletes the active pods; resuming restarts the deadline.
//   - Conditions: FailureTarget or SuccessCriteriaMet as soon as the
//     outcome is known, then Failed or Complete (with completionTime) once
//     no pod of the job is left running; Suspended.
//
// Pods are counted with Kubernetes' finalizer-based tracking: every pod
// carries the batch.kubernetes.io/job-tracking finalizer, so it cannot
// vanish before it is counted. A finished pod is first written into
// status.uncountedTerminatedPods, then its finalizer is removed, then it
// moves from that list to the succeeded/failed counters. Each step is
// persisted before the next, so a restart of the controller at any point
// neither loses nor double-counts a pod.
//
// Only the controller manager imports it.
package job

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/podvisor/podvisor/internal/controller/ownerref"
	"github.com/podvisor/podvisor/internal/controller/podcontrol"
	"github.com/podvisor/podvisor/internal/controller/reconcile"
)

// Kind is the Job's group, version and kind, for ControllerRefs.
var Kind = batchv1.SchemeGroupVersion.WithKind("Job")

// Back-off between pod failures, as Kubernetes.
const (
	DefaultBackOff = 10 * time.Second
	MaxBackOff     = 10 * time.Minute
)

// Config tunes the controller.
type Config struct {
	// Workers is the number of Jobs synced at once (default 5).
	Workers int
	// BurstPods caps the pods created or deleted in one sync (default 500).
	BurstPods int
}

// Controller is the Job controller.
type Controller struct {
	cfg        Config
	client     kubernetes.Interface
	jobLister  batchlisters.JobLister
	podLister  corelisters.PodLister
	podControl podcontrol.Interface
	recorder   record.EventRecorder
	clock      clock.Clock
	log        *slog.Logger
	exp        *reconcile.Expectations
	finalizers *uidSets
	backoff    *backoffStore
	loop       *reconcile.Controller
	orphans    *reconcile.Controller
}

// New returns the controller and registers its informers (Jobs and pods).
func New(cfg Config, deps reconcile.Deps) (*Controller, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = 5
	}
	if cfg.BurstPods <= 0 {
		cfg.BurstPods = 500
	}
	jobInf := deps.Informers.Batch().V1().Jobs()
	podInf := deps.Informers.Core().V1().Pods()
	c := &Controller{
		cfg:        cfg,
		client:     deps.Client,
		jobLister:  jobInf.Lister(),
		podLister:  podInf.Lister(),
		podControl: podcontrol.New(deps.Client, deps.Recorder),
		recorder:   deps.Recorder,
		clock:      deps.Clock,
		log:        deps.Log,
		exp:        reconcile.NewExpectations(5*time.Minute, deps.Clock.Now),
		finalizers: newUIDSets(),
		backoff:    newBackoffStore(),
	}
	c.loop = reconcile.New("job", c.Sync, reconcile.Options{Workers: cfg.Workers, Logger: deps.Log})
	c.orphans = reconcile.New("job_orphan_pod", c.syncOrphanPod, reconcile.Options{Workers: 1, Logger: deps.Log})
	if _, err := jobInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.loop.EnqueueObject,
		UpdateFunc: func(_, cur any) { c.loop.EnqueueObject(cur) },
		DeleteFunc: c.deleteJob,
	}); err != nil {
		return nil, fmt.Errorf("watching jobs: %w", err)
	}
	if _, err := podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	}); err != nil {
		return nil, fmt.Errorf("watching pods: %w", err)
	}
	return c, nil
}

// Run runs the workers until ctx is done.
func (c *Controller) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); c.loop.Run(ctx) }()
	go func() { defer wg.Done(); c.orphans.Run(ctx) }()
	wg.Wait()
}

func jobKey(namespace, name string) string { return namespace + "/" + name }

func (c *Controller) resolve(namespace string, ref *metav1.OwnerReference) *batchv1.Job {
	if ref == nil || ref.Kind != Kind.Kind || ref.APIVersion != Kind.GroupVersion().String() {
		return nil
	}
	j, err := c.jobLister.Jobs(namespace).Get(ref.Name)
	if err != nil || j.UID != ref.UID {
		return nil
	}
	return j
}

func hasTrackingFinalizer(pod *corev1.Pod) bool {
	for _, f := range pod.Finalizers {
		if f == batchv1.JobTrackingFinalizer {
			return true
		}
	}
	return false
}

func (c *Controller) deleteJob(obj any) {
	j, ok := obj.(*batchv1.Job)
	if !ok {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			j, _ = tomb.Obj.(*batchv1.Job)
		}
	}
	if j == nil {
		return
	}
	k := jobKey(j.Namespace, j.Name)
	c.exp.Forget(k)
	c.finalizers.forget(k)
	c.backoff.forget(k)
	// Its pods keep their tracking finalizers: release them.
	pods, err := c.podLister.Pods(j.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, p := range pods {
		if hasTrackingFinalizer(p) && ownerref.IsControlledBy(p, j.UID) {
			c.orphans.Enqueue(p.Namespace + "/" + p.Name)
		}
	}
}

// matching returns the Jobs whose selector matches an orphan pod.
func (c *Controller) matching(pod *corev1.Pod) []*batchv1.Job {
	all, err := c.jobLister.Jobs(pod.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	var out []*batchv1.Job
	for _, j := range all {
		sel, err := metav1.LabelSelectorAsSelector(j.Spec.Selector)
		if err == nil && !sel.Empty() && sel.Matches(labels.Set(pod.Labels)) {
			out = append(out, j)
		}
	}
	return out
}

func (c *Controller) addPod(obj any) {
	pod := obj.(*corev1.Pod)
	ref := ownerref.Controller(pod)
	if pod.DeletionTimestamp != nil {
		// Seen first while being deleted (e.g. after a restart).
		if j := c.resolve(pod.Namespace, ref); j != nil {
			k := jobKey(j.Namespace, j.Name)
			c.exp.DeletionObservedOf(k, string(pod.UID))
			c.loop.Enqueue(k)
			return
		}
		if hasTrackingFinalizer(pod) {
			c.orphans.Enqueue(pod.Namespace + "/" + pod.Name)
		}
		return
	}
	if ref == nil {
		if hasTrackingFinalizer(pod) {
			c.orphans.Enqueue(pod.Namespace + "/" + pod.Name)
		}
		for _, j := range c.matching(pod) {
			c.loop.Enqueue(jobKey(j.Namespace, j.Name))
		}
		return
	}
	j := c.resolve(pod.Namespace, ref)
	if j == nil {
		if hasTrackingFinalizer(pod) {
			c.orphans.Enqueue(pod.Namespace + "/" + pod.Name)
		}
		return
	}
	k := jobKey(j.Namespace, j.Name)
	c.exp.CreationObserved(k)
	c.loop.Enqueue(k)
}

func (c *Controller) updatePod(oldObj, curObj any) {
	old, cur := oldObj.(*corev1.Pod), curObj.(*corev1.Pod)
	if old.ResourceVersion == cur.ResourceVersion {
		return
	}
	curRef, oldRef := ownerref.Controller(cur), ownerref.Controller(old)
	if !hasTrackingFinalizer(cur) && hasTrackingFinalizer(old) {
		if j := c.resolve(cur.Namespace, oldRef); j != nil {
			c.finalizers.done(jobKey(j.Namespace, j.Name), cur.UID)
		}
	}
	if cur.DeletionTimestamp != nil && old.DeletionTimestamp == nil {
		if j := c.resolve(cur.Namespace, curRef); j != nil {
			c.exp.DeletionObservedOf(jobKey(j.Namespace, j.Name), string(cur.UID))
		}
	}
	if oldRef != nil && !apiequality.Semantic.DeepEqual(oldRef, curRef) {
		if j := c.resolve(old.Namespace, oldRef); j != nil {
			c.loop.Enqueue(jobKey(j.Namespace, j.Name))
		}
	}
	if curRef == nil {
		if hasTrackingFinalizer(cur) {
			c.orphans.Enqueue(cur.Namespace + "/" + cur.Name)
		}
		for _, j := range c.matching(cur) {
			c.loop.Enqueue(jobKey(j.Namespace, j.Name))
		}
		return
	}
	j := c.resolve(cur.Namespace, curRef)
	if j == nil {
		if hasTrackingFinalizer(cur) {
			c.orphans.Enqueue(cur.Namespace + "/" + cur.Name)
		}
		return
	}
	c.loop.Enqueue(jobKey(j.Namespace, j.Name))
}

func (c *Controller) deletePod(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		tomb, ok := obj.(cache.DeletedFinalStateUnknown)
		if !ok {
			return
		}
		if pod, ok = tomb.Obj.(*corev1.Pod); !ok {
			return
		}
	}
	j := c.resolve(pod.Namespace, ownerref.Controller(pod))
	if j == nil {
		return
	}
	k := jobKey(j.Namespace, j.Name)
	c.exp.DeletionObservedOf(k, string(pod.UID))
	// Removed for good: no finalizer removal will be observed.
	c.finalizers.done(k, pod.UID)
	c.loop.Enqueue(k)
}

// syncOrphanPod removes the tracking finalizer from a pod whose Job is
// gone (or that no Job controls), so it can be deleted.
func (c *Controller) syncOrphanPod(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pod, err := c.podLister.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !hasTrackingFinalizer(pod) {
		return nil
	}
	if ref := ownerref.Controller(pod); ref != nil && ref.Kind == Kind.Kind {
		j, err := c.jobLister.Jobs(ns).Get(ref.Name)
		if err == nil && j.UID == ref.UID && j.DeletionTimestamp == nil {
			return nil // its Job takes care of it
		}
	}
	return c.removeFinalizer(ctx, pod)
}

// removeFinalizer removes the tracking finalizer from pod; a pod that is
// gone is fine.
func (c *Controller) removeFinalizer(ctx context.Context, pod *corev1.Pod) error {
	patch := fmt.Appendf(nil, `{"metadata":{"$deleteFromPrimitiveList/finalizers":[%q]}}`, batchv1.JobTrackingFinalizer)
	if err := c.podControl.PatchPod(ctx, pod.Namespace, pod.Name, patch); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}

// Sync reconciles the Job namespace/name.
func (c *Controller) Sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cached, err := c.jobLister.Jobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.exp.Forget(key)
		c.finalizers.forget(key)
		c.backoff.forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	job := cached.DeepCopy()
	if job.Spec.ManagedBy != nil && *job.Spec.ManagedBy != "" && *job.Spec.ManagedBy != batchv1.JobControllerName {
		return nil // another controller manages it
	}
	pods, err := c.claimPods(ctx, job)
	if err != nil {
		return err
	}
	if job.DeletionTimestamp != nil || isFinished(job) {
		// Nothing more to count: just let its pods go.
		return c.releaseAll(ctx, key, pods)
	}
	return c.sync(ctx, key, job, pods)
}

// claimPods returns the pods the Job controls, adopting and releasing.
func (c *Controller) claimPods(ctx context.Context, job *batchv1.Job) ([]*corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(job.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("job %s/%s has an invalid selector: %w", job.Namespace, job.Name, err)
	}
	all, err := c.podLister.Pods(job.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	claimer := &ownerref.Claimer{
		Owner: job, OwnerKind: Kind, Selector: sel,
		Recheck: func(ctx context.Context) (metav1.Object, error) {
			return c.client.BatchV1().Jobs(job.Namespace).Get(ctx, job.Name, metav1.GetOptions{})
		},
		Patch: func(ctx context.Context, obj metav1.Object, patch []byte) error {
			return c.podControl.PatchPod(ctx, obj.GetNamespace(), obj.GetName(), patch)
		},
	}
	return ownerref.Claim(ctx, claimer, all)
}

// releaseAll removes the tracking finalizer from every pod of a finished
// or deleted Job.
func (c *Controller) releaseAll(ctx context.Context, key string, pods []*corev1.Pod) error {
	var todo []*corev1.Pod
	for _, p := range pods {
		if hasTrackingFinalizer(p) && !c.finalizers.has(key, p.UID) {
			todo = append(todo, p)
		}
	}
	_, err := c.removeFinalizers(ctx, key, todo)
	return err
}

// removeFinalizers removes the tracking finalizer from pods in parallel
// and returns the uids whose finalizer is gone.
func (c *Controller) removeFinalizers(ctx context.Context, key string, pods []*corev1.Pod) (map[types.UID]bool, error) {
	uids := make([]types.UID, len(pods))
	for i, p := range pods {
		uids[i] = p.UID
	}
	c.finalizers.expect(key, uids)
	done := map[types.UID]bool{}
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	sem := make(chan struct{}, 50)
	for _, p := range pods {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := c.removeFinalizer(ctx, p)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				c.finalizers.done(key, p.UID)
				if firstErr == nil {
					firstErr = fmt.Errorf("removing the tracking finalizer of pod %s/%s: %w", p.Namespace, p.Name, err)
				}
				return
			}
			done[p.UID] = true
		}()
	}
	wg.Wait()
	return done, firstErr
}

func isFinished(job *batchv1.Job) bool {
	for _, c := range job.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// uidSets is, per Job key, the set of pod uids whose finalizer removal was
// requested but not yet observed: a stale cache still shows the finalizer
// on them and they must not be counted again.
type uidSets struct {
	mu sync.Mutex
	// +checklocks:mu
	byKey map[string]map[types.UID]bool
}

func newUIDSets() *uidSets { return &uidSets{byKey: map[string]map[types.UID]bool{}} }

func (s *uidSets) expect(key string, uids []types.UID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.byKey[key]
	if m == nil {
		m = map[types.UID]bool{}
		s.byKey[key] = m
	}
	for _, u := range uids {
		m[u] = true
	}
}

func (s *uidSets) done(key string, uid types.UID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.byKey[key]; m != nil {
		delete(m, uid)
		if len(m) == 0 {
			delete(s.byKey, key)
		}
	}
}

func (s *uidSets) has(key string, uid types.UID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byKey[key][uid]
}

func (s *uidSets) forget(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byKey, key)
}
