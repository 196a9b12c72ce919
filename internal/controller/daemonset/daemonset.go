// Package daemonset is the DaemonSet controller: one pod of each
// DaemonSet on every node it should run on.
//
// A node is eligible when the pod template's nodeName (if any), node
// selector and required node affinity match it and the pod tolerates its
// NoSchedule and NoExecute taints. Daemon pods tolerate, as in
// Kubernetes, not-ready and unreachable (NoExecute), disk, memory and pid
// pressure and unschedulable (NoSchedule), and network-unavailable when
// they use the host network: so cordoned and failing nodes keep their
// daemons. A pod already on a node whose new taints it tolerates only as
// NoSchedule keeps running.
//
// Pods are created with a required node affinity to their node
// (matchFields metadata.name), not with spec.nodeName: the scheduler binds
// them, so resources and preemption apply, as in Kubernetes. Failed
// daemon pods are deleted and recreated with back-off.
//
// Updates follow updateStrategy: RollingUpdate replaces pods node by node
// within maxUnavailable, or, with maxSurge, starts the new pod beside the
// old one and deletes the old one once the new one is available; OnDelete
// leaves replacing to the user. Templates are ControllerRevisions
// (internal/controller/history); pods carry controller-revision-hash.
// Status reports desired/current/updated/misscheduled counts, ready,
// available and unavailable.
//
// Only the controller manager imports it.
package daemonset

import (
	"context"
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
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/podvisor/podvisor/internal/controller/history"
	"github.com/podvisor/podvisor/internal/controller/ownerref"
	"github.com/podvisor/podvisor/internal/controller/podcontrol"
	"github.com/podvisor/podvisor/internal/controller/reconcile"
)

// Kind is the DaemonSet's group, version and kind, for ControllerRefs.
var Kind = appsv1.SchemeGroupVersion.WithKind("DaemonSet")

// Config tunes the controller.
type Config struct {
	// Workers is the number of DaemonSets synced at once (default 2).
	Workers int
	// BurstReplicas caps pods created or deleted per sync (default 250).
	BurstReplicas int
	// MemoryHistory keeps revisions in the process (see
	// internal/controller/history).
	MemoryHistory bool
}

// Controller is the DaemonSet controller.
type Controller struct {
	cfg        Config
	client     kubernetes.Interface
	dsLister   appslisters.DaemonSetLister
	podLister  corelisters.PodLister
	nodeLister corelisters.NodeLister
	podControl podcontrol.Interface
	history    history.Store
	recorder   record.EventRecorder
	clock      clock.Clock
	log        *slog.Logger
	exp        *reconcile.Expectations
	backoff    *failedBackoff
	loop       *reconcile.Controller
}

// New returns the controller and registers its informers (DaemonSets,
// pods, nodes, and ControllerRevisions unless MemoryHistory).
func New(cfg Config, deps reconcile.Deps) (*Controller, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	if cfg.BurstReplicas <= 0 {
		cfg.BurstReplicas = 250
	}
	dsInf := deps.Informers.Apps().V1().DaemonSets()
	podInf := deps.Informers.Core().V1().Pods()
	nodeInf := deps.Informers.Core().V1().Nodes()
	var store history.Store = history.NewMemory()
	if !cfg.MemoryHistory {
		store = history.NewAPI(deps.Client, deps.Informers)
	}
	c := &Controller{
		cfg:        cfg,
		client:     deps.Client,
		dsLister:   dsInf.Lister(),
		podLister:  podInf.Lister(),
		nodeLister: nodeInf.Lister(),
		podControl: podcontrol.New(deps.Client, deps.Recorder),
		history:    store,
		recorder:   deps.Recorder,
		clock:      deps.Clock,
		log:        deps.Log,
		exp:        reconcile.NewExpectations(5*time.Minute, deps.Clock.Now),
		backoff:    &failedBackoff{byKey: map[string]backoffEntry{}},
	}
	c.loop = reconcile.New("daemonset", c.Sync, reconcile.Options{Workers: cfg.Workers, Logger: deps.Log})
	if _, err := dsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.loop.EnqueueObject,
		UpdateFunc: func(_, cur any) { c.loop.EnqueueObject(cur) },
		DeleteFunc: c.deleteDS,
	}); err != nil {
		return nil, fmt.Errorf("watching daemonsets: %w", err)
	}
	if _, err := podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	}); err != nil {
		return nil, fmt.Errorf("watching pods: %w", err)
	}
	if _, err := nodeInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { c.enqueueAll() },
		UpdateFunc: func(oldObj, curObj any) {
			old, cur := oldObj.(*corev1.Node), curObj.(*corev1.Node)
			// Heartbeats (status) do not change placement; labels,
			// taints and the rest of the spec do.
			if !apiequality.Semantic.DeepEqual(old.Labels, cur.Labels) || !apiequality.Semantic.DeepEqual(old.Spec, cur.Spec) {
				c.enqueueAll()
			}
		},
		DeleteFunc: func(any) { c.enqueueAll() },
	}); err != nil {
		return nil, fmt.Errorf("watching nodes: %w", err)
	}
	return c, nil
}

// Run runs the workers until ctx is done.
func (c *Controller) Run(ctx context.Context) { c.loop.Run(ctx) }

func (c *Controller) enqueueAll() {
	all, err := c.dsLister.List(labels.Everything())
	if err != nil {
		return
	}
	for _, ds := range all {
		c.loop.Enqueue(ds.Namespace + "/" + ds.Name)
	}
}

func (c *Controller) deleteDS(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	ds, ok := obj.(*appsv1.DaemonSet)
	if !ok {
		return
	}
	c.exp.Forget(ds.Namespace + "/" + ds.Name)
	if f, ok := c.history.(history.Forgetter); ok {
		f.ForgetOwner(ds.UID)
	}
}

func (c *Controller) resolve(namespace string, ref *metav1.OwnerReference) *appsv1.DaemonSet {
	if ref == nil || ref.Kind != Kind.Kind || ref.APIVersion != Kind.GroupVersion().String() {
		return nil
	}
	ds, err := c.dsLister.DaemonSets(namespace).Get(ref.Name)
	if err != nil || ds.UID != ref.UID {
		return nil
	}
	return ds
}

func (c *Controller) matching(pod *corev1.Pod) []*appsv1.DaemonSet {
	all, err := c.dsLister.DaemonSets(pod.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	var out []*appsv1.DaemonSet
	for _, ds := range all {
		sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
		if err == nil && !sel.Empty() && sel.Matches(labels.Set(pod.Labels)) {
			out = append(out, ds)
		}
	}
	return out
}

func (c *Controller) addPod(obj any) {
	pod := obj.(*corev1.Pod)
	ref := ownerref.Controller(pod)
	if ref == nil {
		for _, ds := range c.matching(pod) {
			c.loop.Enqueue(ds.Namespace + "/" + ds.Name)
		}
		return
	}
	ds := c.resolve(pod.Namespace, ref)
	if ds == nil {
		return
	}
	k := ds.Namespace + "/" + ds.Name
	if pod.DeletionTimestamp != nil {
		c.exp.DeletionObservedOf(k, string(pod.UID))
	} else {
		c.exp.CreationObserved(k)
	}
	c.loop.Enqueue(k)
}

func (c *Controller) updatePod(oldObj, curObj any) {
	old, cur := oldObj.(*corev1.Pod), curObj.(*corev1.Pod)
	if old.ResourceVersion == cur.ResourceVersion {
		return
	}
	curRef, oldRef := ownerref.Controller(cur), ownerref.Controller(old)
	if oldRef != nil && !apiequality.Semantic.DeepEqual(oldRef, curRef) {
		if ds := c.resolve(old.Namespace, oldRef); ds != nil {
			c.loop.Enqueue(ds.Namespace + "/" + ds.Name)
		}
	}
	if curRef == nil {
		for _, ds := range c.matching(cur) {
			c.loop.Enqueue(ds.Namespace + "/" + ds.Name)
		}
		return
	}
	ds := c.resolve(cur.Namespace, curRef)
	if ds == nil {
		return
	}
	k := ds.Namespace + "/" + ds.Name
	if cur.DeletionTimestamp != nil {
		c.exp.DeletionObservedOf(k, string(cur.UID))
	}
	c.loop.Enqueue(k)
}

func (c *Controller) deletePod(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	ds := c.resolve(pod.Namespace, ownerref.Controller(pod))
	if ds == nil {
		return
	}
	k := ds.Namespace + "/" + ds.Name
	c.exp.DeletionObservedOf(k, string(pod.UID))
	c.loop.Enqueue(k)
}

// failedBackoff delays recreating a daemon pod that keeps failing on a
// node (1s, doubling, at most 15 minutes).
type failedBackoff struct {
	mu sync.Mutex
	// +checklocks:mu
	byKey map[string]backoffEntry
}

type backoffEntry struct {
	delay time.Duration
	last  time.Time
}

// wait returns how long key must still wait (0: go ahead, and the next
// wait is doubled).
func (b *failedBackoff) wait(key string, now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.byKey[key]
	if ok && now.Before(e.last.Add(e.delay)) {
		return e.last.Add(e.delay).Sub(now)
	}
	switch {
	case !ok:
		e.delay = time.Second
	case now.Sub(e.last) > 2*15*time.Minute:
		e.delay = time.Second // quiet for long: start over
	default:
		e.delay = min(2*e.delay, 15*time.Minute)
	}
	e.last = now
	b.byKey[key] = e
	return 0
}

// Sync reconciles the DaemonSet namespace/name.
func (c *Controller) Sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cached, err := c.dsLister.DaemonSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.exp.Forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	ds := cached.DeepCopy()
	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil || sel.Empty() {
		c.recorder.Eventf(ds, corev1.EventTypeWarning, "SelectingAll", "This daemon set is selecting all pods. A non-empty selector is required.")
		return nil
	}
	nodes, err := c.nodeLister.List(labels.Everything())
	if err != nil {
		return err
	}
	if ds.DeletionTimestamp != nil {
		return nil
	}
	byNode, err := c.podsByNode(ctx, ds, sel)
	if err != nil {
		return err
	}
	cur, old, collisions, err := c.revisions(ctx, ds, sel)
	if err != nil {
		return err
	}
	hash := cur.Labels[appsv1.ControllerRevisionHashLabelKey]
	var wait time.Duration
	if c.exp.Satisfied(key) {
		if wait, err = c.manage(ctx, ds, nodes, byNode, hash); err != nil {
			return err
		}
		// Manage's creations and deletions come first; the rolling update
		// continues once they are observed.
		if c.exp.Satisfied(key) && ds.Spec.UpdateStrategy.Type != appsv1.OnDeleteDaemonSetStrategyType {
			if err := c.rollingUpdate(ctx, ds, nodes, byNode, hash); err != nil {
				return err
			}
		}
		if err := c.cleanupHistory(ctx, ds, byNode, old); err != nil {
			return err
		}
	}
	avail, err := c.updateStatus(ctx, ds, nodes, byNode, hash, collisions)
	if err != nil {
		return err
	}
	if avail > 0 && (wait == 0 || avail < wait) {
		wait = avail
	}
	if wait > 0 {
		return reconcile.RequeueAfter(wait)
	}
	return nil
}

// podsByNode claims the DaemonSet's pods and groups them by the node they
// run on or are meant for (their node affinity).
func (c *Controller) podsByNode(ctx context.Context, ds *appsv1.DaemonSet, sel labels.Selector) (map[string][]*corev1.Pod, error) {
	all, err := c.podLister.Pods(ds.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	claimer := &ownerref.Claimer{
		Owner: ds, OwnerKind: Kind, Selector: sel,
		Recheck: func(ctx context.Context) (metav1.Object, error) {
			return c.client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
		},
		Patch: func(ctx context.Context, obj metav1.Object, patch []byte) error {
			return c.podControl.PatchPod(ctx, obj.GetNamespace(), obj.GetName(), patch)
		},
	}
	owned, err := ownerref.Claim(ctx, claimer, all)
	if err != nil {
		return nil, err
	}
	out := map[string][]*corev1.Pod{}
	for _, p := range owned {
		if n := targetNode(p); n != "" {
			out[n] = append(out[n], p)
		}
	}
	return out, nil
}

// revisions finds or creates the revision of the current template, and
// returns it with the older ones.
func (c *Controller) revisions(ctx context.Context, ds *appsv1.DaemonSet, sel labels.Selector) (*appsv1.ControllerRevision, []*appsv1.ControllerRevision, int32, error) {
	revs, err := c.history.List(ds.Namespace, sel)
	if err != nil {
		return nil, nil, 0, err
	}
	revs = history.Owned(revs, ds.UID)
	history.SortByRevision(revs)
	var collisions int32
	if ds.Status.CollisionCount != nil {
		collisions = *ds.Status.CollisionCount
	}
	data, err := history.TemplateData(&ds.Spec.Template)
	if err != nil {
		return nil, nil, 0, err
	}
	want := history.New(ds, Kind, ds.Spec.Selector.MatchLabels, data, history.Next(revs), &collisions)
	var cur *appsv1.ControllerRevision
	switch equal := history.FindEqual(revs, want); {
	case len(equal) > 0 && equal[len(equal)-1] == lastOf(revs):
		cur = equal[len(equal)-1]
	case len(equal) > 0:
		cur, err = c.history.SetRevision(ctx, equal[len(equal)-1], want.Revision)
	default:
		cur, err = history.CreateUnique(ctx, c.history, ds, Kind, want, &collisions, revs)
	}
	if err != nil {
		return nil, nil, 0, err
	}
	var old []*appsv1.ControllerRevision
	for _, r := range revs {
		if r.Name != cur.Name {
			old = append(old, r)
		}
	}
	return cur, old, collisions, nil
}

func lastOf(revs []*appsv1.ControllerRevision) *appsv1.ControllerRevision {
	if len(revs) == 0 {
		return nil
	}
	return revs[len(revs)-1]
}

// cleanupHistory deletes old revisions no pod uses beyond
// revisionHistoryLimit (default 10).
func (c *Controller) cleanupHistory(ctx context.Context, ds *appsv1.DaemonSet, byNode map[string][]*corev1.Pod, old []*appsv1.ControllerRevision) error {
	limit := 10
	if ds.Spec.RevisionHistoryLimit != nil {
		limit = int(*ds.Spec.RevisionHistoryLimit)
	}
	if len(old) <= limit {
		return nil
	}
	live := map[string]bool{}
	for _, pods := range byNode {
		for _, p := range pods {
			live[p.Labels[appsv1.ControllerRevisionHashLabelKey]] = true
		}
	}
	var unused []*appsv1.ControllerRevision
	for _, r := range old {
		if !live[r.Labels[appsv1.ControllerRevisionHashLabelKey]] {
			unused = append(unused, r)
		}
	}
	history.SortByRevision(unused)
	for i := 0; i < len(unused) && len(old)-i > limit; i++ {
		if err := c.history.Delete(ctx, unused[i]); err != nil {
			return err
		}
	}
	return nil
}
