// Package podautoscaler is the HorizontalPodAutoscaler controller
// (autoscaling/v2). Every sync period (15s) it reads each autoscaler's
// target through the scale subresource, computes the replicas its metrics
// ask for, and writes them back through the scale subresource:
//
//   - Resource and ContainerResource metrics (cpu, memory) come from the
//     resource metrics API (metrics.k8s.io, served by the node agents);
//     utilization is usage over requests of the ready pods, with
//     Kubernetes' handling of unready pods (cpu warm-up) and pods with no
//     sample, and a tolerance (10%) within which nothing changes.
//   - Pods, Object and External metrics need a custom or external metrics
//     API, which podvisor does not serve: they are reported as failing.
//   - When no metric can be read the autoscaler does not guess: it leaves
//     the target alone and sets ScalingActive=False with the reason
//     (FailedGetResourceMetric, ...) and the error in the message.
//   - Scale-down is stabilized over 5 minutes of recommendations and
//     scale-up limited to max(2x, 4) per step, or spec.behavior's
//     stabilization windows and rate policies when set; minReplicas and
//     maxReplicas bound the result (ScalingLimited says when they bite).
//
// Only the controller manager imports it.
package podautoscaler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	autoscalinglisters "k8s.io/client-go/listers/autoscaling/v2"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/scale"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/podvisor/podvisor/internal/controller/reconcile"
)

// Config tunes the controller; zero values get Kubernetes' defaults.
type Config struct {
	// Workers is the number of autoscalers evaluated at once (default 5).
	Workers int
	// SyncPeriod is how often each autoscaler is evaluated (default 15s).
	SyncPeriod time.Duration
	// DownscaleStabilization is the window of recommendations a scale-down
	// takes the highest of, without spec.behavior (default 5m).
	DownscaleStabilization time.Duration
	// Tolerance is the ratio of metric to target within which nothing is
	// changed (default 0.1).
	Tolerance float64
	// CPUInitializationPeriod: a pod's cpu samples are trusted only after
	// it was ready this long past its start (default 5m).
	CPUInitializationPeriod time.Duration
	// InitialReadinessDelay: a pod not ready within this of its start is
	// taken as never having been ready (default 30s).
	InitialReadinessDelay time.Duration
}

// Deps are what the controller needs beyond reconcile.Deps.
type Deps struct {
	// Scales reads and writes the targets' scale subresource.
	Scales scale.ScalesGetter
	// Mapper maps target kinds to resources.
	Mapper meta.RESTMapper
	// Metrics reads pod resource usage.
	Metrics MetricsClient
}

// Controller is the HorizontalPodAutoscaler controller.
type Controller struct {
	cfg       Config
	client    kubernetes.Interface
	hpaLister autoscalinglisters.HorizontalPodAutoscalerLister
	podLister corelisters.PodLister
	scales    scale.ScalesGetter
	mapper    meta.RESTMapper
	metrics   MetricsClient
	recorder  record.EventRecorder
	clock     clock.Clock
	log       *slog.Logger
	loop      *reconcile.Controller

	mu sync.Mutex
	// +checklocks:mu
	history map[string]*scaleHistory
}

// scaleHistory is what an autoscaler's stabilization and rate limits look
// back on.
type scaleHistory struct {
	recommendations []timedValue
	up, down        []timedValue
}

type timedValue struct {
	at    time.Time
	value int32
}

// New returns the controller and registers its informers (autoscalers and
// pods).
func New(cfg Config, deps reconcile.Deps, extra Deps) (*Controller, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = 5
	}
	if cfg.SyncPeriod <= 0 {
		cfg.SyncPeriod = 15 * time.Second
	}
	if cfg.DownscaleStabilization <= 0 {
		cfg.DownscaleStabilization = 5 * time.Minute
	}
	if cfg.Tolerance <= 0 {
		cfg.Tolerance = 0.1
	}
	if cfg.CPUInitializationPeriod <= 0 {
		cfg.CPUInitializationPeriod = 5 * time.Minute
	}
	if cfg.InitialReadinessDelay <= 0 {
		cfg.InitialReadinessDelay = 30 * time.Second
	}
	if extra.Scales == nil || extra.Mapper == nil || extra.Metrics == nil {
		return nil, errors.New("horizontal pod autoscaler: Scales, Mapper and Metrics are required")
	}
	inf := deps.Informers.Autoscaling().V2().HorizontalPodAutoscalers()
	c := &Controller{
		cfg: cfg, client: deps.Client, hpaLister: inf.Lister(),
		podLister: deps.Informers.Core().V1().Pods().Lister(),
		scales:    extra.Scales, mapper: extra.Mapper, metrics: extra.Metrics,
		recorder: deps.Recorder, clock: deps.Clock, log: deps.Log,
		history: map[string]*scaleHistory{},
	}
	c.loop = reconcile.New("horizontalpodautoscaler", c.Sync, reconcile.Options{Workers: cfg.Workers, Logger: deps.Log})
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.loop.EnqueueObject,
		UpdateFunc: func(old, cur any) {
			// Status writes of our own need no new evaluation.
			if o, n := old.(*autoscalingv2.HorizontalPodAutoscaler), cur.(*autoscalingv2.HorizontalPodAutoscaler); !apiequality.Semantic.DeepEqual(o.Spec, n.Spec) {
				c.loop.EnqueueObject(cur)
			}
		},
		DeleteFunc: c.loop.EnqueueObject,
	}); err != nil {
		return nil, fmt.Errorf("watching horizontalpodautoscalers: %w", err)
	}
	deps.Informers.Core().V1().Pods().Informer()
	return c, nil
}

// Run runs the workers until ctx is done.
func (c *Controller) Run(ctx context.Context) { c.loop.Run(ctx) }

// Sync evaluates the autoscaler namespace/name and asks to be evaluated
// again after the sync period.
func (c *Controller) Sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cached, err := c.hpaLister.HorizontalPodAutoscalers(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.mu.Lock()
		delete(c.history, key)
		c.mu.Unlock()
		return nil
	}
	if err != nil {
		return err
	}
	hpa := cached.DeepCopy()
	if err := c.reconcileHPA(ctx, key, hpa); err != nil {
		c.log.Debug("autoscaler not satisfied", "hpa", key, "err", err)
	}
	if !apiequality.Semantic.DeepEqual(cached.Status, hpa.Status) {
		if _, err := c.client.AutoscalingV2().HorizontalPodAutoscalers(ns).UpdateStatus(ctx, hpa, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("updating status of horizontalpodautoscaler %s: %w", key, err)
		}
	}
	return reconcile.RequeueAfter(c.cfg.SyncPeriod)
}

// reconcileHPA computes and applies the desired replicas, recording
// conditions, events and status in hpa.
func (c *Controller) reconcileHPA(ctx context.Context, key string, hpa *autoscalingv2.HorizontalPodAutoscaler) error {
	ref := hpa.Spec.ScaleTargetRef
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		c.setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionFalse, "FailedGetScale", "the HPA controller was unable to get the target's current scale: %v", err)
		return err
	}
	mapping, err := c.mapper.RESTMapping(schema.GroupKind{Group: gv.Group, Kind: ref.Kind}, gv.Version)
	if err != nil {
		c.recorder.Eventf(hpa, corev1.EventTypeWarning, "FailedGetScale", "%v", err)
		c.setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionFalse, "FailedGetScale", "the HPA controller was unable to get the target's current scale: %v", err)
		return err
	}
	gr := mapping.Resource.GroupResource()
	sc, err := c.scales.Scales(hpa.Namespace).Get(ctx, gr, ref.Name, metav1.GetOptions{})
	if err != nil {
		c.recorder.Eventf(hpa, corev1.EventTypeWarning, "FailedGetScale", "%v", err)
		c.setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionFalse, "FailedGetScale", "the HPA controller was unable to get the target's current scale: %v", err)
		return err
	}
	c.setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, "SucceededGetScale", "the HPA controller was able to get the target's current scale")
	current := sc.Spec.Replicas
	minReplicas := int32(1)
	if hpa.Spec.MinReplicas != nil {
		minReplicas = *hpa.Spec.MinReplicas
	}
	desired := int32(0)
	reason := ""
	rescale := true
	var statuses []autoscalingv2.MetricStatus
	switch {
	case current == 0 && minReplicas != 0:
		rescale = false
		c.setCondition(hpa, autoscalingv2.ScalingActive, corev1.ConditionFalse, "ScalingDisabled", "scaling is disabled since the replica count of the target is zero")
	case current > hpa.Spec.MaxReplicas:
		reason, desired = "Current number of replicas above Spec.MaxReplicas", hpa.Spec.MaxReplicas
	case current < minReplicas:
		reason, desired = "Current number of replicas below Spec.MinReplicas", minReplicas
	default:
		proposal, metricName, st, err := c.computeReplicas(ctx, hpa, sc)
		statuses = st
		if err != nil {
			c.setStatus(hpa, current, current, statuses, false)
			return err
		}
		reason = fmt.Sprintf("%s above target", metricName)
		if proposal < current {
			reason = "All metrics below target"
		}
		if hpa.Spec.Behavior == nil {
			desired = c.normalize(hpa, key, current, proposal, minReplicas)
		} else {
			desired = c.normalizeWithBehavior(hpa, key, current, proposal, minReplicas)
		}
		rescale = desired != current
	}
	if rescale {
		sc.Spec.Replicas = desired
		if _, err := c.scales.Scales(hpa.Namespace).Update(ctx, gr, sc, metav1.UpdateOptions{}); err != nil {
			c.recorder.Eventf(hpa, corev1.EventTypeWarning, "FailedRescale", "New size: %d; reason: %s; error: %v", desired, reason, err)
			c.setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionFalse, "FailedUpdateScale", "the HPA controller was unable to update the target scale: %v", err)
			c.setStatus(hpa, current, current, statuses, false)
			return err
		}
		c.setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, "SucceededRescale", "the HPA controller was able to update the target scale to %d", desired)
		c.recorder.Eventf(hpa, corev1.EventTypeNormal, "SuccessfulRescale", "New size: %d; reason: %s", desired, reason)
		c.recordScaleEvent(key, hpa.Spec.Behavior, current, desired)
	} else {
		desired = current
	}
	c.setStatus(hpa, current, desired, statuses, rescale)
	return nil
}

func (c *Controller) setStatus(hpa *autoscalingv2.HorizontalPodAutoscaler, current, desired int32, metrics []autoscalingv2.MetricStatus, rescaled bool) {
	hpa.Status.CurrentReplicas = current
	hpa.Status.DesiredReplicas = desired
	hpa.Status.CurrentMetrics = metrics
	hpa.Status.ObservedGeneration = &hpa.Generation
	if rescaled {
		t := metav1.NewTime(c.clock.Now())
		hpa.Status.LastScaleTime = &t
	}
}

// setCondition sets a condition, keeping its transition time when its
// status does not change.
func (c *Controller) setCondition(hpa *autoscalingv2.HorizontalPodAutoscaler, t autoscalingv2.HorizontalPodAutoscalerConditionType, status corev1.ConditionStatus, reason, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	now := metav1.NewTime(c.clock.Now())
	for i := range hpa.Status.Conditions {
		x := &hpa.Status.Conditions[i]
		if x.Type != t {
			continue
		}
		if x.Status != status {
			x.LastTransitionTime = now
		}
		x.Status, x.Reason, x.Message = status, reason, msg
		return
	}
	hpa.Status.Conditions = append(hpa.Status.Conditions, autoscalingv2.HorizontalPodAutoscalerCondition{
		Type: t, Status: status, Reason: reason, Message: msg, LastTransitionTime: now,
	})
}

// selectorOf parses the target's pod selector from its scale.
func selectorOf(sc *autoscalingv1.Scale) (labels.Selector, error) {
	if sc.Status.Selector == "" {
		return nil, errors.New("selector is required")
	}
	sel, err := labels.Parse(sc.Status.Selector)
	if err != nil {
		return nil, fmt.Errorf("couldn't convert selector into a corresponding internal selector object: %w", err)
	}
	return sel, nil
}
