package scheduler

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
)

// statusWriter patches pods' status asynchronously (the PodScheduled
// condition after a failed attempt, and status.nominatedNodeName), so the
// scheduling goroutine never waits on the API. Updates to the same pod
// coalesce: only the latest is written. An update that would not change
// the pod as last seen is not written at all, so a pod retried with the
// same outcome causes no write (and no watch event).
type statusWriter struct {
	client  kubernetes.Interface
	log     *slog.Logger
	clock   clock.PassiveClock
	queue   workqueue.TypedInterface[string]
	workers int

	mu sync.Mutex
	// +checklocks:mu
	pending map[string]statusUpdate
}

type statusUpdate struct {
	pod       *v1.Pod
	condition v1.PodCondition
	// nominated, if not nil, is the nominatedNodeName to write ("" clears).
	nominated *string
}

func newStatusWriter(client kubernetes.Interface, log *slog.Logger, clk clock.PassiveClock, workers int) *statusWriter {
	return &statusWriter{client: client, log: log, clock: clk, workers: max(1, workers),
		queue: workqueue.NewTypedWithConfig(workqueue.TypedQueueConfig[string]{Name: "scheduler-status"}), pending: map[string]statusUpdate{}}
}

// needed reports whether u changes pod.
func (u statusUpdate) needed() bool {
	if u.nominated != nil && *u.nominated != u.pod.Status.NominatedNodeName {
		return true
	}
	for _, c := range u.pod.Status.Conditions {
		if c.Type == u.condition.Type {
			return c.Status != u.condition.Status || c.Reason != u.condition.Reason || c.Message != u.condition.Message
		}
	}
	return true
}

// set queues an update of pod's status.
func (w *statusWriter) set(pod *v1.Pod, cond v1.PodCondition, nominated *string) {
	u := statusUpdate{pod: pod, condition: cond, nominated: nominated}
	if !u.needed() {
		return
	}
	key := pod.Namespace + "/" + pod.Name
	w.mu.Lock()
	if prev, ok := w.pending[key]; ok && u.nominated == nil {
		u.nominated = prev.nominated
	}
	w.pending[key] = u
	w.mu.Unlock()
	w.queue.Add(key)
}

// Run writes updates until ctx is done.
func (w *statusWriter) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for i := 0; i < w.workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for w.processNext(ctx) {
			}
		}()
	}
	<-ctx.Done()
	w.queue.ShutDown()
	wg.Wait()
}

func (w *statusWriter) processNext(ctx context.Context) bool {
	key, quit := w.queue.Get()
	if quit {
		return false
	}
	defer w.queue.Done(key)
	w.mu.Lock()
	u, ok := w.pending[key]
	delete(w.pending, key)
	w.mu.Unlock()
	if !ok {
		return true
	}
	if err := w.write(ctx, u); err != nil && ctx.Err() == nil {
		w.log.Info("updating pod status", "pod", key, "err", err)
	}
	return true
}

func (w *statusWriter) write(ctx context.Context, u statusUpdate) error {
	cond := u.condition
	cond.LastTransitionTime = metav1.NewTime(w.clock.Now())
	for _, c := range u.pod.Status.Conditions {
		if c.Type == cond.Type && c.Status == cond.Status {
			cond.LastTransitionTime = c.LastTransitionTime
		}
	}
	status := map[string]any{"conditions": []v1.PodCondition{cond}}
	if u.nominated != nil {
		if *u.nominated == "" {
			status["nominatedNodeName"] = nil
		} else {
			status["nominatedNodeName"] = *u.nominated
		}
	}
	body, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"uid": u.pod.UID},
		"status":   status,
	})
	if err != nil {
		return fmt.Errorf("encoding status patch: %w", err)
	}
	_, err = w.client.CoreV1().Pods(u.pod.Namespace).Patch(ctx, u.pod.Name, types.StrategicMergePatchType, body, metav1.PatchOptions{}, "status")
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		// Deleted, or replaced by a pod of the same name (uid mismatch).
		return nil
	}
	return err
}

// Len returns the number of pods waiting for a status write.
func (w *statusWriter) Len() int { return w.queue.Len() }

// unschedulableCondition is PodScheduled=False with reason and message.
func unschedulableCondition(reason, msg string) v1.PodCondition {
	return v1.PodCondition{Type: v1.PodScheduled, Status: v1.ConditionFalse, Reason: reason, Message: msg,
		LastProbeTime: metav1.Time{Time: time.Time{}}}
}
