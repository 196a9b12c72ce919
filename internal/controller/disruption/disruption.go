// Package disruption is the PodDisruptionBudget controller: it keeps each
// budget's status current so the eviction API can decide whether a pod
// may be evicted: expectedPods, currentHealthy (ready pods not being
// deleted and not recently evicted), desiredHealthy (from minAvailable,
// or expectedPods minus maxUnavailable), disruptionsAllowed, the
// evictions in flight (disruptedPods, forgotten after 2 minutes if the pod
// was not deleted), observedGeneration and the DisruptionAllowed
// condition.
//
// expectedPods comes from the pods' controllers (a Deployment through its
// ReplicaSet, a ReplicaSet, a StatefulSet, or any other kind through its
// scale subresource) when the budget uses maxUnavailable or a percentage,
// and is the number of matching pods for an integer minAvailable, as in
// Kubernetes. When a count cannot be made, disruptionsAllowed is 0 with
// condition reason SyncFailed: no eviction is allowed on a guess.
//
// Only the controller manager imports it.
package disruption

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	policylisters "k8s.io/client-go/listers/policy/v1"
	"k8s.io/client-go/scale"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	pdbhelper "k8s.io/component-helpers/apps/poddisruptionbudget"
	"k8s.io/utils/clock"

	"github.com/podvisor/podvisor/internal/controller/ownerref"
	"github.com/podvisor/podvisor/internal/controller/podstate"
	"github.com/podvisor/podvisor/internal/controller/reconcile"
)

// DeletionTimeout is how long an eviction counts as in flight: a pod the
// eviction API let go but that was not deleted within it counts again.
const DeletionTimeout = 2 * time.Minute

// Config tunes the controller.
type Config struct {
	// Workers is the number of budgets synced at once (default 2).
	Workers int
}

// Deps are what the controller needs beyond reconcile.Deps.
type Deps struct {
	// Scales reads the scale of pod controllers other than ReplicaSets,
	// Deployments and StatefulSets; nil means such pods are unmanaged.
	Scales scale.ScalesGetter
	// Mapper maps controller kinds to resources for Scales.
	Mapper meta.RESTMapper
}

// Controller is the disruption controller.
type Controller struct {
	client    kubernetes.Interface
	pdbLister policylisters.PodDisruptionBudgetLister
	podLister corelisters.PodLister
	rsLister  appslisters.ReplicaSetLister
	dLister   appslisters.DeploymentLister
	ssLister  appslisters.StatefulSetLister
	scales    scale.ScalesGetter
	mapper    meta.RESTMapper
	recorder  record.EventRecorder
	clock     clock.Clock
	log       *slog.Logger
	loop      *reconcile.Controller
}

// New returns the controller and registers its informers (budgets, pods,
// ReplicaSets, Deployments, StatefulSets).
func New(cfg Config, deps reconcile.Deps, extra Deps) (*Controller, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	inf := deps.Informers
	c := &Controller{
		client:    deps.Client,
		pdbLister: inf.Policy().V1().PodDisruptionBudgets().Lister(),
		podLister: inf.Core().V1().Pods().Lister(),
		rsLister:  inf.Apps().V1().ReplicaSets().Lister(),
		dLister:   inf.Apps().V1().Deployments().Lister(),
		ssLister:  inf.Apps().V1().StatefulSets().Lister(),
		scales:    extra.Scales,
		mapper:    extra.Mapper,
		recorder:  deps.Recorder,
		clock:     deps.Clock,
		log:       deps.Log,
	}
	c.loop = reconcile.New("disruption", c.Sync, reconcile.Options{Workers: cfg.Workers, Logger: deps.Log})
	if _, err := inf.Policy().V1().PodDisruptionBudgets().Informer().AddEventHandler(c.loop.Handler()); err != nil {
		return nil, fmt.Errorf("watching poddisruptionbudgets: %w", err)
	}
	if _, err := inf.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.onPod,
		UpdateFunc: func(old, cur any) { c.onPod(cur) },
		DeleteFunc: c.onPod,
	}); err != nil {
		return nil, fmt.Errorf("watching pods: %w", err)
	}
	inf.Apps().V1().ReplicaSets().Informer()
	inf.Apps().V1().Deployments().Informer()
	inf.Apps().V1().StatefulSets().Informer()
	return c, nil
}

// Run runs the workers until ctx is done.
func (c *Controller) Run(ctx context.Context) { c.loop.Run(ctx) }

// onPod enqueues the budgets that select a pod.
func (c *Controller) onPod(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	pdbs, err := c.pdbLister.PodDisruptionBudgets(pod.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, pdb := range pdbs {
		if sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector); err == nil && sel.Matches(labels.Set(pod.Labels)) {
			c.loop.Enqueue(pdb.Namespace + "/" + pdb.Name)
		}
	}
}

// Sync recomputes the status of the budget namespace/name.
func (c *Controller) Sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pdb, err := c.pdbLister.PodDisruptionBudgets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	wait, err := c.trySync(ctx, pdb)
	if err != nil {
		c.recorder.Eventf(pdb, corev1.EventTypeWarning, "CalculateExpectedPodCountFailed", "Failed to calculate the number of expected pods: %v", err)
		if ferr := c.failSafe(ctx, pdb, err); ferr != nil {
			return errors.Join(err, ferr)
		}
		return err
	}
	if wait > 0 {
		return reconcile.RequeueAfter(wait)
	}
	return nil
}

func (c *Controller) trySync(ctx context.Context, pdb *policyv1.PodDisruptionBudget) (time.Duration, error) {
	pods, err := c.selectedPods(pdb)
	if err != nil {
		return 0, err
	}
	if len(pods) == 0 {
		c.recorder.Eventf(pdb, corev1.EventTypeNormal, "NoPods", "No matching pods found")
	}
	expected, desired, unmanaged, err := c.expectedCount(ctx, pdb, pods)
	if err != nil {
		return 0, err
	}
	if len(unmanaged) > 0 {
		c.recorder.Eventf(pdb, corev1.EventTypeWarning, "UnmanagedPods", "Pods selected by this PodDisruptionBudget (selector: %v) were found to be unmanaged. As a result, the status of the PDB cannot be calculated correctly, which may result in undefined behavior. To account for these pods please set \".spec.minAvailable\" field of the PDB to an integer value.", pdb.Spec.Selector)
	}
	now := c.clock.Now()
	disrupted, wait := disruptedPods(pods, pdb, now)
	healthy := countHealthy(pods, disrupted)
	return wait, c.writeStatus(ctx, pdb, healthy, desired, expected, disrupted)
}

// selectedPods returns the budget's pods: those its selector matches (an
// empty selector matches every pod of the namespace; none matches none).
func (c *Controller) selectedPods(pdb *policyv1.PodDisruptionBudget) ([]*corev1.Pod, error) {
	if pdb.Spec.Selector == nil {
		return nil, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("parsing selector: %w", err)
	}
	return c.podLister.Pods(pdb.Namespace).List(sel)
}

// expectedCount returns expectedPods, desiredHealthy and the pods without
// a controller.
func (c *Controller) expectedCount(ctx context.Context, pdb *policyv1.PodDisruptionBudget, pods []*corev1.Pod) (expected, desired int32, unmanaged []string, err error) {
	switch {
	case pdb.Spec.MaxUnavailable != nil:
		expected, unmanaged, err = c.expectedScale(ctx, pdb, pods)
		if err != nil {
			return 0, 0, nil, err
		}
		mu, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MaxUnavailable, int(expected), true)
		if err != nil {
			return 0, 0, nil, fmt.Errorf("resolving maxUnavailable: %w", err)
		}
		desired = max(expected-int32(mu), 0)
	case pdb.Spec.MinAvailable != nil && pdb.Spec.MinAvailable.Type == intstr.Int:
		desired = pdb.Spec.MinAvailable.IntVal
		expected = int32(len(pods))
	case pdb.Spec.MinAvailable != nil:
		expected, unmanaged, err = c.expectedScale(ctx, pdb, pods)
		if err != nil {
			return 0, 0, nil, err
		}
		ma, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MinAvailable, int(expected), true)
		if err != nil {
			return 0, 0, nil, fmt.Errorf("resolving minAvailable: %w", err)
		}
		desired = int32(ma)
	}
	return expected, desired, unmanaged, nil
}

// expectedScale sums the replicas of the controllers of pods (each
// controller once).
func (c *Controller) expectedScale(ctx context.Context, pdb *policyv1.PodDisruptionBudget, pods []*corev1.Pod) (int32, []string, error) {
	scales := map[types.UID]int32{}
	var unmanaged []string
	for _, p := range pods {
		ref := ownerref.Controller(p)
		if ref == nil {
			unmanaged = append(unmanaged, p.Name)
			continue
		}
		uid, n, found, err := c.controllerScale(ctx, p.Namespace, ref)
		if err != nil {
			return 0, nil, err
		}
		if !found {
			return 0, nil, fmt.Errorf("found no controller for pod %q", p.Name)
		}
		scales[uid] = n
	}
	var total int32
	for _, n := range scales {
		total += n
	}
	return total, unmanaged, nil
}

// controllerScale finds the replicas of the workload behind a pod's
// controller reference: a Deployment behind its ReplicaSet, a ReplicaSet,
// a StatefulSet, or any kind with a scale subresource.
func (c *Controller) controllerScale(ctx context.Context, namespace string, ref *metav1.OwnerReference) (types.UID, int32, bool, error) {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return "", 0, false, fmt.Errorf("parsing apiVersion %q: %w", ref.APIVersion, err)
	}
	switch {
	case gv.Group == "apps" && ref.Kind == "ReplicaSet":
		rs, err := c.rsLister.ReplicaSets(namespace).Get(ref.Name)
		if apierrors.IsNotFound(err) || err == nil && rs.UID != ref.UID {
			return "", 0, false, nil
		}
		if err != nil {
			return "", 0, false, err
		}
		if dref := ownerref.Controller(rs); dref != nil && dref.Kind == "Deployment" {
			d, err := c.dLister.Deployments(namespace).Get(dref.Name)
			if apierrors.IsNotFound(err) || err == nil && d.UID != dref.UID {
				return "", 0, false, nil
			}
			if err != nil {
				return "", 0, false, err
			}
			return d.UID, replicasOr1(d.Spec.Replicas), true, nil
		}
		return rs.UID, replicasOr1(rs.Spec.Replicas), true, nil
	case gv.Group == "apps" && ref.Kind == "StatefulSet":
		ss, err := c.ssLister.StatefulSets(namespace).Get(ref.Name)
		if apierrors.IsNotFound(err) || err == nil && ss.UID != ref.UID {
			return "", 0, false, nil
		}
		if err != nil {
			return "", 0, false, err
		}
		return ss.UID, replicasOr1(ss.Spec.Replicas), true, nil
	}
	if c.scales == nil || c.mapper == nil {
		return "", 0, false, nil
	}
	mapping, err := c.mapper.RESTMapping(schema.GroupKind{Group: gv.Group, Kind: ref.Kind}, gv.Version)
	if err != nil {
		return "", 0, false, nil
	}
	sc, err := c.scales.Scales(namespace).Get(ctx, mapping.Resource.GroupResource(), ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", 0, false, nil
	}
	if err != nil {
		return "", 0, false, fmt.Errorf("reading scale of %s %s: %w", ref.Kind, ref.Name, err)
	}
	if sc.UID != ref.UID {
		return "", 0, false, nil
	}
	return sc.UID, sc.Spec.Replicas, true, nil
}

func replicasOr1(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

// disruptedPods keeps the evictions still in flight (pod not yet deleted,
// less than DeletionTimeout ago) and returns when the oldest expires.
func disruptedPods(pods []*corev1.Pod, pdb *policyv1.PodDisruptionBudget, now time.Time) (map[string]metav1.Time, time.Duration) {
	out := map[string]metav1.Time{}
	var wait time.Duration
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		t, ok := pdb.Status.DisruptedPods[p.Name]
		if !ok {
			continue
		}
		expiry := t.Add(DeletionTimeout)
		if !expiry.After(now) {
			continue
		}
		out[p.Name] = t
		if d := expiry.Sub(now); wait == 0 || d < wait {
			wait = d
		}
	}
	return out, wait
}

// countHealthy counts ready pods not being deleted or evicted.
func countHealthy(pods []*corev1.Pod, disrupted map[string]metav1.Time) int32 {
	var n int32
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		if _, ok := disrupted[p.Name]; ok {
			continue
		}
		if podstate.IsReady(p) {
			n++
		}
	}
	return n
}

func (c *Controller) writeStatus(ctx context.Context, pdb *policyv1.PodDisruptionBudget, healthy, desired, expected int32, disrupted map[string]metav1.Time) error {
	allowed := healthy - desired
	if expected <= 0 || allowed <= 0 {
		allowed = 0
	}
	cp := pdb.DeepCopy()
	cp.Status.CurrentHealthy = healthy
	cp.Status.DesiredHealthy = desired
	cp.Status.ExpectedPods = expected
	cp.Status.DisruptionsAllowed = allowed
	if len(disrupted) == 0 {
		disrupted = nil
	}
	cp.Status.DisruptedPods = disrupted
	cp.Status.ObservedGeneration = pdb.Generation
	pdbhelper.UpdateDisruptionAllowedCondition(cp)
	if apiequality.Semantic.DeepEqual(pdb.Status, cp.Status) {
		return nil
	}
	if _, err := c.client.PolicyV1().PodDisruptionBudgets(pdb.Namespace).UpdateStatus(ctx, cp, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("updating status of poddisruptionbudget %s/%s: %w", pdb.Namespace, pdb.Name, err)
	}
	return nil
}

// failSafe allows no disruption when the status cannot be computed.
func (c *Controller) failSafe(ctx context.Context, pdb *policyv1.PodDisruptionBudget, cause error) error {
	cp := pdb.DeepCopy()
	cp.Status.DisruptionsAllowed = 0
	meta.SetStatusCondition(&cp.Status.Conditions, metav1.Condition{
		Type: policyv1.DisruptionAllowedCondition, Status: metav1.ConditionFalse,
		Reason: policyv1.SyncFailedReason, Message: cause.Error(), ObservedGeneration: pdb.Status.ObservedGeneration,
		LastTransitionTime: metav1.NewTime(c.clock.Now()),
	})
	if apiequality.Semantic.DeepEqual(pdb.Status, cp.Status) {
		return nil
	}
	if _, err := c.client.PolicyV1().PodDisruptionBudgets(pdb.Namespace).UpdateStatus(ctx, cp, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("updating status of poddisruptionbudget %s/%s: %w", pdb.Namespace, pdb.Name, err)
	}
	return nil
}
