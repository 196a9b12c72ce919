package podautoscaler

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	metricsv1beta1 "k8s.io/metrics/pkg/client/clientset/versioned/typed/metrics/v1beta1"

	"github.com/podvisor/podvisor/internal/controller/podstate"
)

// PodMetric is one pod's usage of a resource (milli-units: millicores,
// milli-bytes), sampled over [Timestamp-Window, Timestamp].
type PodMetric struct {
	Value     int64
	Timestamp time.Time
	Window    time.Duration
}

// MetricsClient reads resource usage of pods.
type MetricsClient interface {
	// PodMetrics returns the usage of resource by each pod (by name) in
	// namespace matching selector: of container only, or of all
	// containers when container is empty. Callers are concurrent.
	PodMetrics(ctx context.Context, namespace string, selector labels.Selector, res corev1.ResourceName, container string) (map[string]PodMetric, error)
}

// ResourceMetrics reads the resource metrics API (metrics.k8s.io).
type ResourceMetrics struct {
	Client metricsv1beta1.PodMetricsesGetter
}

var _ MetricsClient = ResourceMetrics{}

// PodMetrics implements MetricsClient.PodMetrics.
func (r ResourceMetrics) PodMetrics(ctx context.Context, namespace string, selector labels.Selector, res corev1.ResourceName, container string) (map[string]PodMetric, error) {
	list, err := r.Client.PodMetricses(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector.String()})
	if err != nil {
		return nil, fmt.Errorf("unable to fetch metrics from resource metrics API: %w", err)
	}
	if len(list.Items) == 0 {
		return nil, errors.New("no metrics returned from resource metrics API")
	}
	out := map[string]PodMetric{}
	for _, m := range list.Items {
		var sum int64
		found := false
		for _, ct := range m.Containers {
			if container != "" && ct.Name != container {
				continue
			}
			q, ok := ct.Usage[res]
			if !ok {
				continue
			}
			found = true
			sum += q.MilliValue()
		}
		if found {
			out[m.Name] = PodMetric{Value: sum, Timestamp: m.Timestamp.Time, Window: m.Window.Duration}
		}
	}
	return out, nil
}

// computeReplicas evaluates every metric and returns the largest
// proposal. If no metric can be evaluated, or some cannot and the others
// would scale down, it returns an error and sets ScalingActive=False with
// the first failure.
func (c *Controller) computeReplicas(ctx context.Context, hpa *autoscalingv2.HorizontalPodAutoscaler, sc *autoscalingv1.Scale) (int32, string, []autoscalingv2.MetricStatus, error) {
	specs := hpa.Spec.Metrics
	if len(specs) == 0 {
		util := int32(80)
		specs = []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
			Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &util},
		}}}
	}
	sel, err := selectorOf(sc)
	if err != nil {
		c.recorder.Eventf(hpa, corev1.EventTypeWarning, "SelectorRequired", "%v", err)
		c.setCondition(hpa, autoscalingv2.ScalingActive, corev1.ConditionFalse, "InvalidSelector", "the HPA target's scale is missing a selector")
		return 0, "", nil, err
	}
	current := sc.Spec.Replicas
	statuses := make([]autoscalingv2.MetricStatus, len(specs))
	var best int32
	bestName := ""
	invalid := 0
	var firstErr error
	var firstReason, firstMsg string
	for i, spec := range specs {
		n, name, st, reason, err := c.computeOne(ctx, hpa, spec, current, sel)
		if err != nil {
			invalid++
			if firstErr == nil {
				firstErr, firstReason = err, reason
				firstMsg = fmt.Sprintf("the HPA was unable to compute the replica count: %v", err)
				c.recorder.Eventf(hpa, corev1.EventTypeWarning, reason, "%v", err)
			}
			continue
		}
		statuses[i] = st
		if bestName == "" || n > best {
			best, bestName = n, name
		}
	}
	if invalid >= len(specs) || invalid > 0 && best < current {
		c.setCondition(hpa, autoscalingv2.ScalingActive, corev1.ConditionFalse, firstReason, "%s", firstMsg)
		c.recorder.Eventf(hpa, corev1.EventTypeWarning, "FailedComputeMetricsReplicas", "invalid metrics (%v invalid out of %v), first error is: %v", invalid, len(specs), firstErr)
		return 0, "", validStatuses(statuses), fmt.Errorf("computing replicas for %s/%s: %w", hpa.Namespace, hpa.Name, firstErr)
	}
	c.setCondition(hpa, autoscalingv2.ScalingActive, corev1.ConditionTrue, "ValidMetricFound", "the HPA was able to successfully calculate a replica count from %s", bestName)
	return best, bestName, validStatuses(statuses), nil
}

func validStatuses(st []autoscalingv2.MetricStatus) []autoscalingv2.MetricStatus {
	var out []autoscalingv2.MetricStatus
	for _, s := range st {
		if s.Type != "" {
			out = append(out, s)
		}
	}
	return out
}

// computeOne evaluates one metric: its proposal, a name for messages, its
// status, and on failure the condition reason.
func (c *Controller) computeOne(ctx context.Context, hpa *autoscalingv2.HorizontalPodAutoscaler, spec autoscalingv2.MetricSpec, current int32, sel labels.Selector) (int32, string, autoscalingv2.MetricStatus, string, error) {
	switch spec.Type {
	case autoscalingv2.ResourceMetricSourceType:
		if spec.Resource == nil {
			return 0, "", autoscalingv2.MetricStatus{}, "FailedGetResourceMetric", errors.New("resource metric without a resource")
		}
		name := fmt.Sprintf("%s resource", spec.Resource.Name)
		if spec.Resource.Target.Type == autoscalingv2.UtilizationMetricType {
			name += " utilization (percentage of request)"
		}
		n, cur, err := c.resourceReplicas(ctx, hpa.Namespace, current, spec.Resource.Name, "", spec.Resource.Target, sel)
		if err != nil {
			return 0, "", autoscalingv2.MetricStatus{}, "FailedGetResourceMetric", err
		}
		return n, name, autoscalingv2.MetricStatus{Type: spec.Type, Resource: &autoscalingv2.ResourceMetricStatus{Name: spec.Resource.Name, Current: cur}}, "", nil
	case autoscalingv2.ContainerResourceMetricSourceType:
		if spec.ContainerResource == nil {
			return 0, "", autoscalingv2.MetricStatus{}, "FailedGetContainerResourceMetric", errors.New("container resource metric without a resource")
		}
		cr := spec.ContainerResource
		name := fmt.Sprintf("%s container resource", cr.Name)
		n, cur, err := c.resourceReplicas(ctx, hpa.Namespace, current, cr.Name, cr.Container, cr.Target, sel)
		if err != nil {
			return 0, "", autoscalingv2.MetricStatus{}, "FailedGetContainerResourceMetric", err
		}
		return n, name, autoscalingv2.MetricStatus{Type: spec.Type, ContainerResource: &autoscalingv2.ContainerResourceMetricStatus{Name: cr.Name, Container: cr.Container, Current: cur}}, "", nil
	case autoscalingv2.PodsMetricSourceType:
		return 0, "", autoscalingv2.MetricStatus{}, "FailedGetPodsMetric", fmt.Errorf("unable to get metric %s: the custom metrics API (custom.metrics.k8s.io) is not served", metricName(spec))
	case autoscalingv2.ObjectMetricSourceType:
		return 0, "", autoscalingv2.MetricStatus{}, "FailedGetObjectMetric", fmt.Errorf("unable to get metric %s: the custom metrics API (custom.metrics.k8s.io) is not served", metricName(spec))
	case autoscalingv2.ExternalMetricSourceType:
		return 0, "", autoscalingv2.MetricStatus{}, "FailedGetExternalMetric", fmt.Errorf("unable to get external metric %s: the external metrics API (external.metrics.k8s.io) is not served", metricName(spec))
	}
	return 0, "", autoscalingv2.MetricStatus{}, "InvalidMetricSourceType", fmt.Errorf("unknown metric source type %q", spec.Type)
}

func metricName(spec autoscalingv2.MetricSpec) string {
	switch {
	case spec.Pods != nil:
		return spec.Pods.Metric.Name
	case spec.Object != nil:
		return spec.Object.Metric.Name
	case spec.External != nil:
		return spec.External.Metric.Name
	}
	return "?"
}

// resourceReplicas proposes replicas for a resource metric target.
func (c *Controller) resourceReplicas(ctx context.Context, namespace string, current int32, res corev1.ResourceName, container string, target autoscalingv2.MetricTarget, sel labels.Selector) (int32, autoscalingv2.MetricValueStatus, error) {
	metrics, err := c.metrics.PodMetrics(ctx, namespace, sel, res, container)
	if err != nil {
		return 0, autoscalingv2.MetricValueStatus{}, fmt.Errorf("unable to get metrics for resource %s: %w", res, err)
	}
	pods, err := c.podLister.Pods(namespace).List(sel)
	if err != nil {
		return 0, autoscalingv2.MetricValueStatus{}, err
	}
	if len(pods) == 0 {
		return 0, autoscalingv2.MetricValueStatus{}, errors.New("no pods returned by selector while calculating replica count")
	}
	ready, unready, missing, ignored := c.groupPods(pods, metrics, res)
	for name := range ignored {
		delete(metrics, name)
	}
	for name := range unready {
		delete(metrics, name)
	}
	if len(metrics) == 0 {
		return 0, autoscalingv2.MetricValueStatus{}, errors.New("did not receive metrics for targeted pods (pods might be unready)")
	}
	switch target.Type {
	case autoscalingv2.AverageValueMetricType:
		if target.AverageValue == nil {
			return 0, autoscalingv2.MetricValueStatus{}, errors.New("average value target without a value")
		}
		n, avg := c.rawReplicas(current, metrics, ready, unready, missing, target.AverageValue.MilliValue())
		return n, autoscalingv2.MetricValueStatus{AverageValue: resource.NewMilliQuantity(avg, resource.DecimalSI)}, nil
	case autoscalingv2.UtilizationMetricType:
		if target.AverageUtilization == nil {
			return 0, autoscalingv2.MetricValueStatus{}, errors.New("utilization target without a percentage")
		}
		requests, err := podRequests(pods, container, res)
		if err != nil {
			return 0, autoscalingv2.MetricValueStatus{}, err
		}
		n, util, raw, err := c.utilizationReplicas(current, metrics, requests, ready, unready, missing, *target.AverageUtilization)
		if err != nil {
			return 0, autoscalingv2.MetricValueStatus{}, err
		}
		return n, autoscalingv2.MetricValueStatus{AverageUtilization: &util, AverageValue: resource.NewMilliQuantity(raw, resource.DecimalSI)}, nil
	}
	return 0, autoscalingv2.MetricValueStatus{}, fmt.Errorf("unsupported target type %q for a resource metric", target.Type)
}

// groupPods sorts pods: ready ones with a sample, unready ones (pending,
// or for cpu still warming up), ones with no sample, and ignored ones
// (being deleted or failed).
func (c *Controller) groupPods(pods []*corev1.Pod, metrics map[string]PodMetric, res corev1.ResourceName) (ready int, unready, missing, ignored map[string]bool) {
	unready, missing, ignored = map[string]bool{}, map[string]bool{}, map[string]bool{}
	now := c.clock.Now()
	for _, p := range pods {
		if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodFailed {
			ignored[p.Name] = true
			continue
		}
		if p.Status.Phase == corev1.PodPending {
			unready[p.Name] = true
			continue
		}
		m, ok := metrics[p.Name]
		if !ok {
			missing[p.Name] = true
			continue
		}
		if res == corev1.ResourceCPU {
			cond := podstate.Condition(p, corev1.PodReady)
			var notReady bool
			switch {
			case cond == nil || p.Status.StartTime == nil:
				notReady = true
			case p.Status.StartTime.Add(c.cfg.CPUInitializationPeriod).After(now):
				notReady = cond.Status == corev1.ConditionFalse || m.Timestamp.Before(cond.LastTransitionTime.Add(m.Window))
			default:
				notReady = cond.Status == corev1.ConditionFalse && p.Status.StartTime.Add(c.cfg.InitialReadinessDelay).After(cond.LastTransitionTime.Time)
			}
			if notReady {
				unready[p.Name] = true
				continue
			}
		}
		ready++
	}
	return ready, unready, missing, ignored
}

// podRequests sums each pod's requests of res (of container only, if
// set). A container without a request is an error: utilization is
// undefined.
func podRequests(pods []*corev1.Pod, container string, res corev1.ResourceName) (map[string]int64, error) {
	out := map[string]int64{}
	for _, p := range pods {
		var sum int64
		for _, ct := range p.Spec.Containers {
			if container != "" && ct.Name != container {
				continue
			}
			q, ok := ct.Resources.Requests[res]
			if !ok {
				return nil, fmt.Errorf("missing request for %s in container %s of Pod %s", res, ct.Name, p.Name)
			}
			sum += q.MilliValue()
		}
		out[p.Name] = sum
	}
	return out, nil
}

// utilizationOf returns the usage ratio to the target, the utilization
// percentage and the average raw usage over the pods with samples.
func utilizationOf(metrics map[string]PodMetric, requests map[string]int64, target int32) (float64, int32, int64, error) {
	var usage, req int64
	n := 0
	for name, m := range metrics {
		r, ok := requests[name]
		if !ok {
			continue
		}
		usage += m.Value
		req += r
		n++
	}
	if req == 0 {
		return 0, 0, 0, errors.New("no metrics returned matched known pods")
	}
	util := int32(usage * 100 / req)
	return float64(util) / float64(target), util, usage / int64(n), nil
}

// utilizationReplicas is Kubernetes' replica calculation for a
// utilization target. Worked example: 4 ready pods at 90% of requests with
// a 60% target give a ratio 1.5 and ceil(1.5*4) = 6 replicas; at 63% the
// ratio 1.05 is within the 10% tolerance and nothing changes.
func (c *Controller) utilizationReplicas(current int32, metrics map[string]PodMetric, requests map[string]int64, ready int, unready, missing map[string]bool, target int32) (int32, int32, int64, error) {
	ratio, util, raw, err := utilizationOf(metrics, requests, target)
	if err != nil {
		return 0, 0, 0, err
	}
	upWithUnready := len(unready) > 0 && ratio > 1.0
	if !upWithUnready && len(missing) == 0 {
		if math.Abs(1.0-ratio) <= c.cfg.Tolerance {
			return current, util, raw, nil
		}
		return int32(math.Ceil(ratio * float64(ready))), util, raw, nil
	}
	// Assume the worst for the scale direction: missing pods use their
	// whole request on a scale-down, nothing on a scale-up; unready pods
	// nothing on a scale-up.
	if len(missing) > 0 {
		for name := range missing {
			if ratio < 1.0 {
				metrics[name] = PodMetric{Value: requests[name]}
			} else {
				metrics[name] = PodMetric{}
			}
		}
	}
	if upWithUnready {
		for name := range unready {
			metrics[name] = PodMetric{}
		}
	}
	newRatio, _, _, err := utilizationOf(metrics, requests, target)
	if err != nil {
		return 0, 0, 0, err
	}
	if math.Abs(1.0-newRatio) <= c.cfg.Tolerance || ratio < 1.0 && newRatio > 1.0 || ratio > 1.0 && newRatio < 1.0 {
		return current, util, raw, nil
	}
	n := int32(math.Ceil(newRatio * float64(len(metrics))))
	if newRatio < 1.0 && n > current || newRatio > 1.0 && n < current {
		return current, util, raw, nil
	}
	return n, util, raw, nil
}

// rawReplicas is the replica calculation for an average value target:
// the same as utilizationReplicas with usage itself in place of a
// percentage of requests.
func (c *Controller) rawReplicas(current int32, metrics map[string]PodMetric, ready int, unready, missing map[string]bool, target int64) (int32, int64) {
	ratioOf := func() (float64, int64) {
		var usage int64
		for _, m := range metrics {
			usage += m.Value
		}
		avg := usage / int64(len(metrics))
		return float64(avg) / float64(target), avg
	}
	ratio, avg := ratioOf()
	upWithUnready := len(unready) > 0 && ratio > 1.0
	if !upWithUnready && len(missing) == 0 {
		if math.Abs(1.0-ratio) <= c.cfg.Tolerance {
			return current, avg
		}
		return int32(math.Ceil(ratio * float64(ready))), avg
	}
	for name := range missing {
		if ratio < 1.0 {
			metrics[name] = PodMetric{Value: target}
		} else {
			metrics[name] = PodMetric{}
		}
	}
	if upWithUnready {
		for name := range unready {
			metrics[name] = PodMetric{}
		}
	}
	newRatio, _ := ratioOf()
	if math.Abs(1.0-newRatio) <= c.cfg.Tolerance || ratio < 1.0 && newRatio > 1.0 || ratio > 1.0 && newRatio < 1.0 {
		return current, avg
	}
	n := int32(math.Ceil(newRatio * float64(len(metrics))))
	if newRatio < 1.0 && n > current || newRatio > 1.0 && n < current {
		return current, avg
	}
	return n, avg
}
