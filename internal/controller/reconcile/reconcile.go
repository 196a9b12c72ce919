// Package reconcile is the harness every controller runs on: a
// rate-limited work queue of object keys fed by client-go informer event
// handlers, a fixed number of workers calling the controller's Reconcile,
// requeue with exponential back-off on error, and expectations so a
// controller does not act twice on creations and deletions its informers
// have not seen yet. Controllers (internal/controller/<name>) import it; it
// imports only client-go, apimachinery and k8s.io/utils/clock. Deps is what the
// controller manager (internal/controller/manager) gives each controller.
//
// A controller is a Reconcile function over keys ("namespace/name" or
// "name"): it reads current state from listers, compares with desired
// state, and writes through the API. It must be idempotent and may be called
// for a key at any time; the queue guarantees that one key is never
// reconciled by two workers at once.
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// Func reconciles the object named by key. Returning an error requeues the
// key with rate-limited back-off; returning nil forgets its failures;
// returning RequeueAfter(d) reconciles it again after d.
type Func func(ctx context.Context, key string) error

// requeueAfter is returned (wrapped) by a Func that wants its key reconciled
// again after a delay without counting as a failure.
type requeueAfter struct{ d time.Duration }

func (r requeueAfter) Error() string { return fmt.Sprintf("requeue after %v", r.d) }

// RequeueAfter returns an error telling the harness to reconcile the key
// again after d, without back-off and without logging an error. Use it for
// time-driven work (a CronJob's next run, a toleration's expiry).
func RequeueAfter(d time.Duration) error { return requeueAfter{d} }

// Options configure a Controller.
type Options struct {
	// Workers is the number of concurrent reconcilers; default 2.
	Workers int
	// RateLimiter overrides the per-item back-off (default: exponential
	// 5ms..1000s per item, plus an overall token bucket, as client-go's
	// default controller rate limiter).
	RateLimiter workqueue.TypedRateLimiter[string]
	// Logger receives the controller's logs; required.
	Logger *slog.Logger
}

// Controller runs one reconcile loop.
type Controller struct {
	name    string
	fn      Func
	queue   workqueue.TypedRateLimitingInterface[string]
	workers int
	log     *slog.Logger
}

// New returns a controller named name (used in logs and queue metrics) that
// calls fn for every queued key.
func New(name string, fn Func, opts Options) *Controller {
	rl := opts.RateLimiter
	if rl == nil {
		rl = workqueue.DefaultTypedControllerRateLimiter[string]()
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = 2
	}
	log := opts.Logger
	if log == nil {
		panic("reconcile.New: Options.Logger is required")
	}
	return &Controller{
		name:    name,
		fn:      fn,
		queue:   workqueue.NewTypedRateLimitingQueueWithConfig(rl, workqueue.TypedRateLimitingQueueConfig[string]{Name: name}),
		workers: workers,
		log:     log.With("queue", name),
	}
}

// Name returns the controller's name.
func (c *Controller) Name() string { return c.name }

// Enqueue adds key to the queue; duplicates collapse until it is processed.
func (c *Controller) Enqueue(key string) { c.queue.Add(key) }

// EnqueueAfter adds key after d.
func (c *Controller) EnqueueAfter(key string, d time.Duration) { c.queue.AddAfter(key, d) }

// EnqueueObject adds the key of obj (a typed object or a
// cache.DeletedFinalStateUnknown tombstone).
func (c *Controller) EnqueueObject(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		c.log.Error("cannot compute object key", "err", err)
		return
	}
	c.queue.Add(key)
}

// Handler returns informer event handlers that enqueue the key of every
// added, updated or deleted object. Controllers that react to related
// objects (a ReplicaSet to its pods) write their own handlers mapping the
// event to the owner's key and call Enqueue.
func (c *Controller) Handler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    c.EnqueueObject,
		UpdateFunc: func(_, obj any) { c.EnqueueObject(obj) },
		DeleteFunc: c.EnqueueObject,
	}
}

// Len returns the number of keys waiting; for tests and metrics.
func (c *Controller) Len() int { return c.queue.Len() }

// Run starts the workers and blocks until ctx is done, then shuts the queue
// down and waits for in-flight reconciles to return. Callers wait for their
// informers' caches to sync before calling Run.
func (c *Controller) Run(ctx context.Context) {
	c.log.Info("starting controller", "workers", c.workers)
	var wg sync.WaitGroup
	for i := 0; i < c.workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c.processNext(ctx) {
			}
		}()
	}
	<-ctx.Done()
	c.queue.ShutDown()
	wg.Wait()
	c.log.Info("stopped controller")
}

func (c *Controller) processNext(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	err := c.fn(ctx, key)
	var ra requeueAfter
	switch {
	case err == nil:
		c.queue.Forget(key)
	case errors.As(err, &ra):
		c.queue.Forget(key)
		c.queue.AddAfter(key, ra.d)
	case ctx.Err() != nil:
		// Shutting down: the error is the cancellation; nothing to retry.
	default:
		// A conflict is routine (a newer version is on its way through
		// the informer); anything else is something an operator should
		// see, like kube-controller-manager's HandleError. The rate
		// limiter's back-off bounds how often it is logged.
		level := slog.LevelWarn
		if apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) {
			level = slog.LevelDebug
		}
		c.log.Log(ctx, level, "reconcile failed; requeueing", "key", key, "err", err, "retries", c.queue.NumRequeues(key))
		c.queue.AddRateLimited(key)
	}
	return true
}
