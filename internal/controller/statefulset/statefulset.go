// Package statefulset is the StatefulSet controller: pods with stable
// identities <set>-<ordinal> (ordinals from spec.ordinals.start), stable
// hostnames under spec.serviceName, and stable storage: each
// volumeClaimTemplate gives every ordinal a PersistentVolumeClaim
// <template>-<set>-<ordinal>, created before its pod and kept (or deleted,
// per persistentVolumeClaimRetentionPolicy) when the pod goes.
//
// With podManagementPolicy OrderedReady pods are created one at a time in
// ordinal order, each after its predecessors are running and ready, and
// removed in reverse order; Parallel creates and removes without waiting.
// Updates follow updateStrategy: RollingUpdate replaces pods from the
// highest ordinal down to the partition, one at a time, each after the
// previous is healthy; OnDelete leaves replacing to the user. Pod
// templates are recorded as ControllerRevisions (internal/controller/
// history), pods carry controller-revision-hash, and status reports
// currentRevision/updateRevision with replicas, ready, available, current
// and updated counts.
//
// Only the controller manager imports it.
package statefulset

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

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

// Kind is the StatefulSet's group, version and kind, for ControllerRefs.
var Kind = appsv1.SchemeGroupVersion.WithKind("StatefulSet")

// Config tunes the controller.
type Config struct {
	// Workers is the number of StatefulSets synced at once (default 5).
	Workers int
	// MemoryHistory keeps revisions in the process instead of as
	// ControllerRevisions on the API server (for a server that does not
	// serve them; see internal/controller/history).
	MemoryHistory bool
}

// Controller is the StatefulSet controller.
type Controller struct {
	client     kubernetes.Interface
	setLister  appslisters.StatefulSetLister
	podLister  corelisters.PodLister
	pvcLister  corelisters.PersistentVolumeClaimLister
	podControl podcontrol.Interface
	history    history.Store
	recorder   record.EventRecorder
	clock      clock.Clock
	log        *slog.Logger
	loop       *reconcile.Controller
}

// New returns the controller and registers its informers (StatefulSets,
// pods, PVCs, and ControllerRevisions unless MemoryHistory).
func New(cfg Config, deps reconcile.Deps) (*Controller, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = 5
	}
	setInf := deps.Informers.Apps().V1().StatefulSets()
	podInf := deps.Informers.Core().V1().Pods()
	pvcInf := deps.Informers.Core().V1().PersistentVolumeClaims()
	var store history.Store = history.NewMemory()
	if !cfg.MemoryHistory {
		store = history.NewAPI(deps.Client, deps.Informers)
	}
	c := &Controller{
		client:     deps.Client,
		setLister:  setInf.Lister(),
		podLister:  podInf.Lister(),
		pvcLister:  pvcInf.Lister(),
		podControl: podcontrol.New(deps.Client, deps.Recorder),
		history:    store,
		recorder:   deps.Recorder,
		clock:      deps.Clock,
		log:        deps.Log,
	}
	c.loop = reconcile.New("statefulset", c.Sync, reconcile.Options{Workers: cfg.Workers, Logger: deps.Log})
	if _, err := setInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.loop.EnqueueObject,
		UpdateFunc: func(_, cur any) { c.loop.EnqueueObject(cur) },
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if set, ok := obj.(*appsv1.StatefulSet); ok {
				if f, ok := c.history.(history.Forgetter); ok {
					f.ForgetOwner(set.UID)
				}
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("watching statefulsets: %w", err)
	}
	if _, err := podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.onPod,
		UpdateFunc: func(old, cur any) { c.onPod(old); c.onPod(cur) },
		DeleteFunc: c.onPod,
	}); err != nil {
		return nil, fmt.Errorf("watching pods: %w", err)
	}
	pvcInf.Informer()
	return c, nil
}

// Run runs the workers until ctx is done.
func (c *Controller) Run(ctx context.Context) { c.loop.Run(ctx) }

// onPod enqueues the StatefulSet a pod belongs to (or could belong to).
func (c *Controller) onPod(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if ref := ownerref.Controller(pod); ref != nil {
		if ref.Kind == Kind.Kind && ref.APIVersion == Kind.GroupVersion().String() {
			c.loop.Enqueue(pod.Namespace + "/" + ref.Name)
		}
		return
	}
	sets, err := c.setLister.StatefulSets(pod.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, s := range sets {
		sel, err := metav1.LabelSelectorAsSelector(s.Spec.Selector)
		if err == nil && !sel.Empty() && sel.Matches(labels.Set(pod.Labels)) {
			c.loop.Enqueue(s.Namespace + "/" + s.Name)
		}
	}
}

// Sync reconciles the StatefulSet namespace/name.
func (c *Controller) Sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cached, err := c.setLister.StatefulSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	set := cached.DeepCopy()
	sel, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
	if err != nil || sel.Empty() {
		c.recorder.Eventf(set, corev1.EventTypeWarning, "InvalidSelector", "statefulset %s has an invalid or empty selector", key)
		return nil
	}
	pods, err := c.claimPods(ctx, set, sel)
	if err != nil {
		return err
	}
	revs, err := c.history.List(ns, sel)
	if err != nil {
		return err
	}
	revs = history.Owned(revs, set.UID)
	return c.update(ctx, set, pods, revs)
}

// claimPods returns the pods the set controls; a pod is adopted only if its
// name is one of the set's (<set>-<ordinal>).
func (c *Controller) claimPods(ctx context.Context, set *appsv1.StatefulSet, sel labels.Selector) ([]*corev1.Pod, error) {
	all, err := c.podLister.Pods(set.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var members []*corev1.Pod
	for _, p := range all {
		if _, ok := ordinalOf(set, p); ok || ownerref.IsControlledBy(p, set.UID) {
			members = append(members, p)
		}
	}
	claimer := &ownerref.Claimer{
		Owner: set, OwnerKind: Kind, Selector: sel,
		Recheck: func(ctx context.Context) (metav1.Object, error) {
			return c.client.AppsV1().StatefulSets(set.Namespace).Get(ctx, set.Name, metav1.GetOptions{})
		},
		Patch: func(ctx context.Context, obj metav1.Object, patch []byte) error {
			return c.podControl.PatchPod(ctx, obj.GetNamespace(), obj.GetName(), patch)
		},
	}
	return ownerref.Claim(ctx, claimer, members)
}

// ordinalOf parses <set>-<ordinal> from a pod's name.
func ordinalOf(set *appsv1.StatefulSet, pod *corev1.Pod) (int, bool) {
	rest, ok := strings.CutPrefix(pod.Name, set.Name+"-")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 0 || strconv.Itoa(n) != rest {
		return 0, false
	}
	return n, true
}

func replicas(set *appsv1.StatefulSet) int {
	if set.Spec.Replicas == nil {
		return 1
	}
	return int(*set.Spec.Replicas)
}

func startOrdinal(set *appsv1.StatefulSet) int {
	if set.Spec.Ordinals != nil {
		return int(set.Spec.Ordinals.Start)
	}
	return 0
}

// writeStatus updates set's status unless unchanged.
func (c *Controller) writeStatus(ctx context.Context, set *appsv1.StatefulSet, st appsv1.StatefulSetStatus) error {
	if apiequality.Semantic.DeepEqual(set.Status, st) {
		return nil
	}
	cp := set.DeepCopy()
	cp.Status = st
	if _, err := c.client.AppsV1().StatefulSets(set.Namespace).UpdateStatus(ctx, cp, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("updating status of statefulset %s/%s: %w", set.Namespace, set.Name, err)
	}
	return nil
}
