// Package ttlafterfinished is the TTL-after-finished controller: a Job
// with spec.ttlSecondsAfterFinished is deleted (with its pods: foreground
// propagation) that many seconds after it finished (its Complete or Failed
// condition). It wakes up at each Job's expiry (RequeueAfter), and reads
// the Job fresh before deleting it so a TTL just changed is honoured.
//
// Only the controller manager imports it.
package ttlafterfinished

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	"github.com/podvisor/podvisor/internal/controller/reconcile"
)

// Config tunes the controller.
type Config struct {
	// Workers is the number of Jobs handled at once (default 5).
	Workers int
}

// Controller is the TTL-after-finished controller.
type Controller struct {
	client    kubernetes.Interface
	jobLister batchlisters.JobLister
	clock     clock.Clock
	log       *slog.Logger
	loop      *reconcile.Controller
}

// New returns the controller and registers its Job informer.
func New(cfg Config, deps reconcile.Deps) (*Controller, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = 5
	}
	inf := deps.Informers.Batch().V1().Jobs()
	c := &Controller{client: deps.Client, jobLister: inf.Lister(), clock: deps.Clock, log: deps.Log}
	c.loop = reconcile.New("ttl_jobs_to_delete", c.Sync, reconcile.Options{Workers: cfg.Workers, Logger: deps.Log})
	onJob := func(obj any) {
		if j, ok := obj.(*batchv1.Job); ok && needsCleanup(j) {
			c.loop.EnqueueObject(j)
		}
	}
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    onJob,
		UpdateFunc: func(_, cur any) { onJob(cur) },
	}); err != nil {
		return nil, fmt.Errorf("watching jobs: %w", err)
	}
	return c, nil
}

// Run runs the workers until ctx is done.
func (c *Controller) Run(ctx context.Context) { c.loop.Run(ctx) }

func needsCleanup(j *batchv1.Job) bool {
	_, finished := finishTime(j)
	return j.Spec.TTLSecondsAfterFinished != nil && finished && j.DeletionTimestamp == nil
}

// finishTime returns when j finished (its Complete or Failed condition's
// transition), if it did.
func finishTime(j *batchv1.Job) (time.Time, bool) {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			if c.LastTransitionTime.IsZero() && j.Status.CompletionTime != nil {
				return j.Status.CompletionTime.Time, true
			}
			return c.LastTransitionTime.Time, true
		}
	}
	return time.Time{}, false
}

// expiresIn returns how long until j's TTL runs out (<= 0: expired), and
// whether j has one at all.
func (c *Controller) expiresIn(j *batchv1.Job) (time.Duration, bool) {
	if !needsCleanup(j) {
		return 0, false
	}
	fin, _ := finishTime(j)
	return fin.Add(time.Duration(*j.Spec.TTLSecondsAfterFinished) * time.Second).Sub(c.clock.Now()), true
}

// Sync deletes the Job namespace/name if its TTL has run out, or asks to be
// called again when it will.
func (c *Controller) Sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	j, err := c.jobLister.Jobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	left, ok := c.expiresIn(j)
	if !ok {
		return nil
	}
	if left > 0 {
		return reconcile.RequeueAfter(left)
	}
	// The cache may be old: decide on the Job as it is now.
	fresh, err := c.client.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading job %s: %w", key, err)
	}
	left, ok = c.expiresIn(fresh)
	if !ok {
		return nil
	}
	if left > 0 {
		return reconcile.RequeueAfter(left)
	}
	fg := metav1.DeletePropagationForeground
	err = c.client.BatchV1().Jobs(ns).Delete(ctx, name, metav1.DeleteOptions{
		PropagationPolicy: &fg,
		Preconditions:     &metav1.Preconditions{ResourceVersion: &fresh.ResourceVersion},
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting expired job %s: %w", key, err)
	}
	c.log.Debug("deleted job after its TTL", "job", key)
	return nil
}
