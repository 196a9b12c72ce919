// Package deployment is the Deployment controller. A Deployment owns
// ReplicaSets, one per pod template it has had (labelled and named by the
// template's pod-template-hash); the one matching the current template is
// the new ReplicaSet, the others are old. The controller moves replicas
// from old to new:
//
//   - RollingUpdate: scale the new ReplicaSet up while total pods stay
//     within replicas+maxSurge, scale old ones down while available pods
//     stay at least replicas-maxUnavailable (unhealthy old pods first);
//   - Recreate: scale old ReplicaSets to zero, wait until their pods are
//     gone, then scale the new one up.
//
// A change of spec.replicas alone (a scaling event) is spread over the
// ReplicaSets in proportion to their size. Revisions are recorded in the
// deployment.kubernetes.io/revision annotation of the ReplicaSets and the
// Deployment (a rolled-back-to ReplicaSet keeps its former numbers in
// deployment.kubernetes.io/revision-history); old ReplicaSets beyond
// spec.revisionHistoryLimit are deleted once empty. A paused Deployment is
// only scaled. Status carries replicas, updated/ready/available/
// unavailable/terminating counts, observedGeneration and the Available,
// Progressing (ReplicaSetUpdated, NewReplicaSetAvailable,
// ProgressDeadlineExceeded, ...) and ReplicaFailure conditions, so kubectl
// rollout status, history, undo, pause, resume and restart all work.
//
// Unlike Kubernetes, where a deployments/status update may also change
// annotations, the revision annotation is written with a metadata patch of
// the Deployment: our API server keeps everything but status on status
// updates.
//
// Only the controller manager imports it.
package deployment

import (
	"context"
	"fmt"
	"log/slog"

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
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/podvisor/podvisor/internal/controller/ownerref"
	"github.com/podvisor/podvisor/internal/controller/reconcile"
)

// Kind is the Deployment's group, version and kind, for ControllerRefs.
var Kind = appsv1.SchemeGroupVersion.WithKind("Deployment")

// Config tunes the controller.
type Config struct {
	// Workers is the number of Deployments synced at once (default 5).
	Workers int
}

// Controller is the Deployment controller.
type Controller struct {
	client    kubernetes.Interface
	dLister   appslisters.DeploymentLister
	rsLister  appslisters.ReplicaSetLister
	podLister corelisters.PodLister
	recorder  record.EventRecorder
	clock     clock.Clock
	log       *slog.Logger
	loop      *reconcile.Controller
}

// New returns the controller and registers its informers (Deployments,
// ReplicaSets, pods) on deps.Informers.
func New(cfg Config, deps reconcile.Deps) (*Controller, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = 5
	}
	dInf := deps.Informers.Apps().V1().Deployments()
	rsInf := deps.Informers.Apps().V1().ReplicaSets()
	podInf := deps.Informers.Core().V1().Pods()
	c := &Controller{
		client:    deps.Client,
		dLister:   dInf.Lister(),
		rsLister:  rsInf.Lister(),
		podLister: podInf.Lister(),
		recorder:  deps.Recorder,
		clock:     deps.Clock,
		log:       deps.Log,
	}
	c.loop = reconcile.New("deployment", c.Sync, reconcile.Options{Workers: cfg.Workers, Logger: deps.Log})
	if _, err := dInf.Informer().AddEventHandler(c.loop.Handler()); err != nil {
		return nil, fmt.Errorf("watching deployments: %w", err)
	}
	if _, err := rsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addRS,
		UpdateFunc: c.updateRS,
		DeleteFunc: c.deleteRS,
	}); err != nil {
		return nil, fmt.Errorf("watching replicasets: %w", err)
	}
	if _, err := podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: c.deletePod,
	}); err != nil {
		return nil, fmt.Errorf("watching pods: %w", err)
	}
	return c, nil
}

// Run runs the workers until ctx is done.
func (c *Controller) Run(ctx context.Context) { c.loop.Run(ctx) }

func (c *Controller) resolve(namespace string, ref *metav1.OwnerReference) *appsv1.Deployment {
	if ref == nil || ref.Kind != Kind.Kind || ref.APIVersion != Kind.GroupVersion().String() {
		return nil
	}
	d, err := c.dLister.Deployments(namespace).Get(ref.Name)
	if err != nil || d.UID != ref.UID {
		return nil
	}
	return d
}

// matching returns the Deployments whose selector matches an orphan
// ReplicaSet.
func (c *Controller) matching(rs *appsv1.ReplicaSet) []*appsv1.Deployment {
	all, err := c.dLister.Deployments(rs.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	var out []*appsv1.Deployment
	for _, d := range all {
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || sel.Empty() {
			continue
		}
		if sel.Matches(labels.Set(rs.Labels)) {
			out = append(out, d)
		}
	}
	return out
}

func (c *Controller) enqueue(d *appsv1.Deployment) { c.loop.Enqueue(d.Namespace + "/" + d.Name) }

func (c *Controller) addRS(obj any) {
	rs := obj.(*appsv1.ReplicaSet)
	if rs.DeletionTimestamp != nil {
		c.deleteRS(rs)
		return
	}
	if ref := ownerref.Controller(rs); ref != nil {
		if d := c.resolve(rs.Namespace, ref); d != nil {
			c.enqueue(d)
		}
		return
	}
	for _, d := range c.matching(rs) {
		c.enqueue(d)
	}
}

func (c *Controller) updateRS(oldObj, curObj any) {
	old, cur := oldObj.(*appsv1.ReplicaSet), curObj.(*appsv1.ReplicaSet)
	if old.ResourceVersion == cur.ResourceVersion {
		return
	}
	curRef, oldRef := ownerref.Controller(cur), ownerref.Controller(old)
	refChanged := !apiequality.Semantic.DeepEqual(curRef, oldRef)
	if refChanged && oldRef != nil {
		if d := c.resolve(old.Namespace, oldRef); d != nil {
			c.enqueue(d)
		}
	}
	if curRef != nil {
		if d := c.resolve(cur.Namespace, curRef); d != nil {
			c.enqueue(d)
		}
		return
	}
	if refChanged || !apiequality.Semantic.DeepEqual(old.Labels, cur.Labels) {
		for _, d := range c.matching(cur) {
			c.enqueue(d)
		}
	}
}

func (c *Controller) deleteRS(obj any) {
	rs, ok := obj.(*appsv1.ReplicaSet)
	if !ok {
		tomb, ok := obj.(cache.DeletedFinalStateUnknown)
		if !ok {
			return
		}
		if rs, ok = tomb.Obj.(*appsv1.ReplicaSet); !ok {
			return
		}
	}
	if d := c.resolve(rs.Namespace, ownerref.Controller(rs)); d != nil {
		c.enqueue(d)
	}
}

// deletePod wakes a Recreate Deployment waiting for its old pods to go.
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
	if ref == nil || ref.Kind != "ReplicaSet" {
		return
	}
	rs, err := c.rsLister.ReplicaSets(pod.Namespace).Get(ref.Name)
	if err != nil || rs.UID != ref.UID {
		return
	}
	d := c.resolve(rs.Namespace, ownerref.Controller(rs))
	if d != nil && d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		c.enqueue(d)
	}
}

// Sync reconciles the Deployment namespace/name.
func (c *Controller) Sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cached, err := c.dLister.Deployments(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	d := cached.DeepCopy()
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || sel.Empty() {
		// An empty selector would select every pod: refuse, as
		// Kubernetes does.
		c.recorder.Eventf(d, corev1.EventTypeWarning, "SelectingAll", "This deployment is selecting all pods. A non-empty selector is required.")
		if d.Status.ObservedGeneration < d.Generation {
			d.Status.ObservedGeneration = d.Generation
			_, err := c.client.AppsV1().Deployments(ns).UpdateStatus(ctx, d, metav1.UpdateOptions{})
			return err
		}
		return nil
	}
	rsList, err := c.claimReplicaSets(ctx, d, sel)
	if err != nil {
		return err
	}
	if d.DeletionTimestamp != nil {
		return c.syncStatusOnly(ctx, d, rsList)
	}
	if err := c.checkPaused(ctx, d); err != nil {
		return err
	}
	if d.Spec.Paused {
		return c.syncScale(ctx, d, rsList)
	}
	if c.isScalingEvent(d, rsList) {
		return c.syncScale(ctx, d, rsList)
	}
	switch d.Spec.Strategy.Type {
	case appsv1.RecreateDeploymentStrategyType:
		return c.rolloutRecreate(ctx, d, rsList, sel)
	default:
		return c.rolloutRolling(ctx, d, rsList)
	}
}

// claimReplicaSets returns the ReplicaSets d controls, adopting and
// releasing as its selector says.
func (c *Controller) claimReplicaSets(ctx context.Context, d *appsv1.Deployment, sel labels.Selector) ([]*appsv1.ReplicaSet, error) {
	all, err := c.rsLister.ReplicaSets(d.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	claimer := &ownerref.Claimer{
		Owner: d, OwnerKind: Kind, Selector: sel,
		Recheck: func(ctx context.Context) (metav1.Object, error) {
			return c.client.AppsV1().Deployments(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
		},
		Patch: func(ctx context.Context, obj metav1.Object, patch []byte) error {
			_, err := c.client.AppsV1().ReplicaSets(obj.GetNamespace()).Patch(ctx, obj.GetName(), types.StrategicMergePatchType, patch, metav1.PatchOptions{})
			return err
		},
	}
	return ownerref.Claim(ctx, claimer, all)
}
