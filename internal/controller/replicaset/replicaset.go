// Package replicaset is the ReplicaSet controller: it keeps
// spec.replicas pods matching each ReplicaSet's selector, creating them
// from the template in slow-start batches (1, 2, 4, ...) and deleting the
// least valuable first (podstate.SortForDeletion), adopting orphan pods
// the selector matches and releasing pods that stop matching, and reports
// status (replicas, fullyLabeledReplicas, readyReplicas, availableReplicas
// with minReadySeconds, terminatingReplicas, observedGeneration, and the
// ReplicaFailure condition).
//
// It never acts twice on a stale cache: creations and deletions in flight
// are expectations (reconcile.Expectations) that pod events satisfy; until
// they are, a sync only updates status.
//
// Only the controller manager imports it.
package replicaset

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	"github.com/podvisor/podvisor/internal/controller/ownerref"
	"github.com/podvisor/podvisor/internal/controller/podcontrol"
	"github.com/podvisor/podvisor/internal/controller/podstate"
	"github.com/podvisor/podvisor/internal/controller/reconcile"
)

// Kind is the ReplicaSet's group, version and kind, for ControllerRefs.
var Kind = appsv1.SchemeGroupVersion.WithKind("ReplicaSet")

// Config tunes the controller.
type Config struct {
	// Workers is the number of ReplicaSets synced at once (default 5).
	Workers int
	// BurstReplicas caps the pods created or deleted in one sync (default
	// 500); the rest follow in the next sync.
	BurstReplicas int
}

// Controller is the ReplicaSet controller.
type Controller struct {
	cfg        Config
	client     kubernetes.Interface
	rsLister   appslisters.ReplicaSetLister
	podLister  corelisters.PodLister
	podControl podcontrol.Interface
	exp        *reconcile.Expectations
	clock      clock.Clock
	log        *slog.Logger
	loop       *reconcile.Controller
}

// New returns the controller and registers its informers (ReplicaSets and
// pods) on deps.Informers.
func New(cfg Config, deps reconcile.Deps) (*Controller, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = 5
	}
	if cfg.BurstReplicas <= 0 {
		cfg.BurstReplicas = 500
	}
	rsInf := deps.Informers.Apps().V1().ReplicaSets()
	podInf := deps.Informers.Core().V1().Pods()
	c := &Controller{
		cfg:        cfg,
		client:     deps.Client,
		rsLister:   rsInf.Lister(),
		podLister:  podInf.Lister(),
		podControl: podcontrol.New(deps.Client, deps.Recorder),
		exp:        reconcile.NewExpectations(5*time.Minute, deps.Clock.Now),
		clock:      deps.Clock,
		log:        deps.Log,
	}
	c.loop = reconcile.New("replicaset", c.Sync, reconcile.Options{Workers: cfg.Workers, Logger: deps.Log})
	if _, err := rsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.loop.EnqueueObject,
		UpdateFunc: func(_, cur any) { c.loop.EnqueueObject(cur) },
		DeleteFunc: c.deleteRS,
	}); err != nil {
		return nil, fmt.Errorf("watching replicasets: %w", err)
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
func (c *Controller) Run(ctx context.Context) { c.loop.Run(ctx) }

func key(namespace, name string) string { return namespace + "/" + name }

func (c *Controller) deleteRS(obj any) {
	if k, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
		c.exp.Forget(k)
	}
	c.loop.EnqueueObject(obj)
}

// resolve returns the ReplicaSet a ControllerRef points at, if it exists
// with that uid.
func (c *Controller) resolve(namespace string, ref *metav1.OwnerReference) *appsv1.ReplicaSet {
	if ref == nil || ref.Kind != Kind.Kind || ref.APIVersion != Kind.GroupVersion().String() {
		return nil
	}
	rs, err := c.rsLister.ReplicaSets(namespace).Get(ref.Name)
	if err != nil || rs.UID != ref.UID {
		return nil
	}
	return rs
}

// matching returns the ReplicaSets whose selector matches an orphan pod.
func (c *Controller) matching(pod *corev1.Pod) []*appsv1.ReplicaSet {
	all, err := c.rsLister.ReplicaSets(pod.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	var out []*appsv1.ReplicaSet
	for _, rs := range all {
		sel, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
		if err != nil || sel.Empty() {
			continue
		}
		if sel.Matches(labels.Set(pod.Labels)) {
			out = append(out, rs)
		}
	}
	return out
}

func (c *Controller) addPod(obj any) {
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		// Seen first while being deleted (e.g. after a restart).
		c.deletePod(pod)
		return
	}
	if ref := ownerref.Controller(pod); ref != nil {
		if rs := c.resolve(pod.Namespace, ref); rs != nil {
			k := key(rs.Namespace, rs.Name)
			c.exp.CreationObserved(k)
			c.loop.Enqueue(k)
		}
		return
	}
	for _, rs := range c.matching(pod) {
		c.loop.Enqueue(key(rs.Namespace, rs.Name))
	}
}

func (c *Controller) updatePod(oldObj, curObj any) {
	old, cur := oldObj.(*corev1.Pod), curObj.(*corev1.Pod)
	if old.ResourceVersion == cur.ResourceVersion {
		return // a resync
	}
	labelsChanged := !apiequality.Semantic.DeepEqual(old.Labels, cur.Labels)
	if cur.DeletionTimestamp != nil {
		// Graceful deletion began: the pod no longer counts; observe the
		// deletion now rather than when it is finally removed.
		c.deletePod(cur)
		if labelsChanged {
			c.deletePod(old)
		}
		return
	}
	curRef, oldRef := ownerref.Controller(cur), ownerref.Controller(old)
	refChanged := !apiequality.Semantic.DeepEqual(curRef, oldRef)
	if refChanged && oldRef != nil {
		if rs := c.resolve(old.Namespace, oldRef); rs != nil {
			c.loop.Enqueue(key(rs.Namespace, rs.Name))
		}
	}
	if curRef != nil {
		rs := c.resolve(cur.Namespace, curRef)
		if rs == nil {
			return
		}
		k := key(rs.Namespace, rs.Name)
		c.loop.Enqueue(k)
		// A pod that just became ready becomes available minReadySeconds
		// later: look again then.
		if !podstate.IsReady(old) && podstate.IsReady(cur) && rs.Spec.MinReadySeconds > 0 {
			c.loop.EnqueueAfter(k, time.Duration(rs.Spec.MinReadySeconds)*time.Second+time.Second)
		}
		return
	}
	if labelsChanged || refChanged {
		for _, rs := range c.matching(cur) {
			c.loop.Enqueue(key(rs.Namespace, rs.Name))
		}
	}
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
	ref := ownerref.Controller(pod)
	if ref == nil {
		return
	}
	rs := c.resolve(pod.Namespace, ref)
	if rs == nil {
		return
	}
	k := key(rs.Namespace, rs.Name)
	c.exp.DeletionObservedOf(k, string(pod.UID))
	c.loop.Enqueue(k)
}

// Sync reconciles the ReplicaSet namespace/name.
func (c *Controller) Sync(ctx context.Context, k string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(k)
	if err != nil {
		return nil
	}
	rs, err := c.rsLister.ReplicaSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.exp.Forget(k)
		return nil
	}
	if err != nil {
		return err
	}
	sel, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	if err != nil {
		// Validation prevents this; nothing to retry.
		c.log.Error("invalid selector", "replicaset", k, "err", err)
		return nil
	}
	needsSync := c.exp.Satisfied(k) && rs.DeletionTimestamp == nil

	all, err := c.podLister.Pods(ns).List(labels.Everything())
	if err != nil {
		return err
	}
	// Pods that are ours or could be: active ones, plus terminating ones
	// for the terminatingReplicas count.
	var candidates []*corev1.Pod
	for _, p := range all {
		if !podstate.IsTerminal(p) {
			candidates = append(candidates, p)
		}
	}
	claimer := &ownerref.Claimer{
		Owner: rs, OwnerKind: Kind, Selector: sel,
		Recheck: func(ctx context.Context) (metav1.Object, error) {
			return c.client.AppsV1().ReplicaSets(ns).Get(ctx, name, metav1.GetOptions{})
		},
		Patch: func(ctx context.Context, obj metav1.Object, patch []byte) error {
			return c.podControl.PatchPod(ctx, obj.GetNamespace(), obj.GetName(), patch)
		},
	}
	owned, err := ownerref.Claim(ctx, claimer, candidates)
	if err != nil {
		return err
	}
	var active, terminating []*corev1.Pod
	for _, p := range owned {
		if p.DeletionTimestamp != nil {
			terminating = append(terminating, p)
		} else {
			active = append(active, p)
		}
	}

	var manageErr error
	var diff int
	if needsSync {
		diff, manageErr = c.manage(ctx, rs, active)
	}
	status := c.status(rs, active, terminating, manageErr, diff)
	if _, err := c.updateStatus(ctx, rs, status); err != nil {
		return errors.Join(manageErr, err)
	}
	if manageErr != nil {
		return manageErr
	}
	// Pods ready but not yet available: come back when they will be.
	var wait time.Duration
	for _, p := range active {
		if d := podstate.AvailableIn(p, rs.Spec.MinReadySeconds, c.clock.Now()); d > 0 && (wait == 0 || d < wait) {
			wait = d
		}
	}
	if wait > 0 {
		return reconcile.RequeueAfter(wait)
	}
	return nil
}

// manage creates or deletes pods so that active has spec.replicas
// members. It returns the difference it acted on (negative: pods missing)
// and the first error.
func (c *Controller) manage(ctx context.Context, rs *appsv1.ReplicaSet, active []*corev1.Pod) (int, error) {
	k := key(rs.Namespace, rs.Name)
	want := int(ptrOr(rs.Spec.Replicas, 1))
	diff := len(active) - want
	switch {
	case diff < 0:
		n := min(-diff, c.cfg.BurstReplicas)
		c.exp.ExpectCreations(k, n)
		ref := ownerref.New(rs, Kind)
		created, err := SlowStart(n, 1, func() error {
			pod := podcontrol.FromTemplate(&rs.Spec.Template, rs.Namespace, rs.Name+"-", ref)
			_, err := c.podControl.CreatePod(ctx, pod, rs)
			if err != nil && apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
				// No pod will come; not an error worth retrying for.
				c.exp.CreationObserved(k)
				return nil
			}
			return err
		})
		// Creations that failed or were skipped will never be observed.
		for i := created; i < n; i++ {
			c.exp.CreationObserved(k)
		}
		return diff, err
	case diff > 0:
		n := min(diff, c.cfg.BurstReplicas)
		victims := c.podsToDelete(rs, active, n)
		uids := make([]string, len(victims))
		for i, p := range victims {
			uids[i] = string(p.UID)
		}
		c.exp.ExpectDeletionsOf(k, uids)
		var wg sync.WaitGroup
		errs := make([]error, len(victims))
		for i, p := range victims {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := c.podControl.DeletePod(ctx, p.Namespace, p.Name, p.UID, rs); err != nil {
					c.exp.DeletionObservedOf(k, string(p.UID))
					if !apierrors.IsNotFound(err) {
						errs[i] = err
					}
				}
			}()
		}
		wg.Wait()
		return diff, errors.Join(errs...)
	}
	return 0, nil
}

// podsToDelete picks n of active to delete. Pods are ranked by how many
// pods of related ReplicaSets (same owner, e.g. one Deployment's old and
// new ReplicaSets) share their node, so doubled-up nodes shrink first.
func (c *Controller) podsToDelete(rs *appsv1.ReplicaSet, active []*corev1.Pod, n int) []*corev1.Pod {
	if n >= len(active) {
		return active
	}
	related := c.relatedPods(rs, active)
	onNode := map[string]int{}
	for _, p := range related {
		if podstate.IsActive(p) {
			onNode[p.Spec.NodeName]++
		}
	}
	pods := append([]*corev1.Pod(nil), active...)
	ranks := make([]int, len(pods))
	for i, p := range pods {
		ranks[i] = onNode[p.Spec.NodeName]
	}
	podstate.SortForDeletion(pods, ranks, c.clock.Now())
	return pods[:n]
}

// relatedPods returns the pods of every ReplicaSet controlled by the same
// owner as rs (rs's own pods if it has no owner).
func (c *Controller) relatedPods(rs *appsv1.ReplicaSet, own []*corev1.Pod) []*corev1.Pod {
	ref := ownerref.Controller(rs)
	if ref == nil {
		return own
	}
	siblings, err := c.rsLister.ReplicaSets(rs.Namespace).List(labels.Everything())
	if err != nil {
		return own
	}
	uids := map[types.UID]bool{}
	for _, s := range siblings {
		if ownerref.IsControlledBy(s, ref.UID) {
			uids[s.UID] = true
		}
	}
	all, err := c.podLister.Pods(rs.Namespace).List(labels.Everything())
	if err != nil {
		return own
	}
	var out []*corev1.Pod
	for _, p := range all {
		if r := ownerref.Controller(p); r != nil && uids[r.UID] {
			out = append(out, p)
		}
	}
	return out
}

// SlowStart calls fn count times in batches of growing size (initial,
// then doubling), the calls of a batch concurrently; it stops after the
// first batch with an error, so a failing create (quota, admission) costs
// a few calls, not count. It returns the number of successful calls and
// the first error.
func SlowStart(count, initial int, fn func() error) (int, error) {
	done := 0
	for batch := min(count, initial); batch > 0; batch = min(2*batch, count-done) {
		errs := make(chan error, batch)
		var wg sync.WaitGroup
		for i := 0; i < batch; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := fn(); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		done += batch - len(errs)
		if err, failed := <-errs; failed {
			return done, err
		}
	}
	return done, nil
}

// status computes rs's status from the pods it owns.
func (c *Controller) status(rs *appsv1.ReplicaSet, active, terminating []*corev1.Pod, manageErr error, diff int) appsv1.ReplicaSetStatus {
	st := *rs.Status.DeepCopy()
	templateSel := labels.SelectorFromSet(rs.Spec.Template.Labels)
	var full, ready, avail int32
	now := c.clock.Now()
	for _, p := range active {
		if templateSel.Matches(labels.Set(p.Labels)) {
			full++
		}
		if podstate.IsReady(p) {
			ready++
			if podstate.IsAvailable(p, rs.Spec.MinReadySeconds, now) {
				avail++
			}
		}
	}
	st.Replicas = int32(len(active))
	st.FullyLabeledReplicas = full
	st.ReadyReplicas = ready
	st.AvailableReplicas = avail
	term := int32(len(terminating))
	st.TerminatingReplicas = &term
	st.ObservedGeneration = rs.Generation
	cond := failureCondition(st.Conditions)
	switch {
	case manageErr != nil && cond == nil:
		reason := "FailedCreate"
		if diff > 0 {
			reason = "FailedDelete"
		}
		st.Conditions = append(st.Conditions, appsv1.ReplicaSetCondition{
			Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue,
			LastTransitionTime: metav1.NewTime(now), Reason: reason, Message: manageErr.Error(),
		})
	case manageErr == nil && cond != nil:
		var keep []appsv1.ReplicaSetCondition
		for _, x := range st.Conditions {
			if x.Type != appsv1.ReplicaSetReplicaFailure {
				keep = append(keep, x)
			}
		}
		st.Conditions = keep
	}
	return st
}

func failureCondition(conds []appsv1.ReplicaSetCondition) *appsv1.ReplicaSetCondition {
	for i := range conds {
		if conds[i].Type == appsv1.ReplicaSetReplicaFailure {
			return &conds[i]
		}
	}
	return nil
}

// updateStatus writes st unless it is what rs already has; on a conflict
// it retries once on a fresh copy.
func (c *Controller) updateStatus(ctx context.Context, rs *appsv1.ReplicaSet, st appsv1.ReplicaSetStatus) (*appsv1.ReplicaSet, error) {
	if apiequality.Semantic.DeepEqual(rs.Status, st) {
		return rs, nil
	}
	cur := rs.DeepCopy()
	for attempt := 0; ; attempt++ {
		cur.Status = st
		updated, err := c.client.AppsV1().ReplicaSets(cur.Namespace).UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		if err == nil {
			return updated, nil
		}
		if attempt == 1 || !apierrors.IsConflict(err) {
			return nil, fmt.Errorf("updating status of replicaset %s/%s: %w", rs.Namespace, rs.Name, err)
		}
		fresh, gerr := c.client.AppsV1().ReplicaSets(cur.Namespace).Get(ctx, cur.Name, metav1.GetOptions{})
		if gerr != nil {
			return nil, fmt.Errorf("updating status of replicaset %s/%s: %w", rs.Namespace, rs.Name, gerr)
		}
		cur = fresh
	}
}

func ptrOr(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}
