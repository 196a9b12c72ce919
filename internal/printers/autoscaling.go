package printers

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func scaleColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		{Name: "Name", Type: "string", Description: metaDoc("name")},
		column("Desired", "integer", autoscalingv1.ScaleSpec{}.SwaggerDoc()["replicas"]),
		column("Available", "integer", autoscalingv1.ScaleStatus{}.SwaggerDoc()["replicas"]),
		ageColumn(),
	}
}

func scaleRow(s *autoscalingv1.Scale, now time.Time) metav1.TableRow {
	return cells(s.Name, int64(s.Spec.Replicas), int64(s.Status.Replicas), age(s.CreationTimestamp, now))
}

func hpaColumns() []metav1.TableColumnDefinition {
	spec, status := autoscalingv2.HorizontalPodAutoscalerSpec{}.SwaggerDoc(), autoscalingv2.HorizontalPodAutoscalerStatus{}.SwaggerDoc()
	return []metav1.TableColumnDefinition{
		nameColumn(),
		column("Reference", "string", spec["scaleTargetRef"]),
		column("Targets", "string", spec["metrics"]),
		column("MinPods", "string", spec["minReplicas"]),
		column("MaxPods", "string", spec["maxReplicas"]),
		column("Replicas", "string", status["currentReplicas"]),
		ageColumn(),
	}
}

// quantity prints an optional quantity, "<nil>" when absent, as
// Quantity.String does.
func quantity(q *resource.Quantity) string { return q.String() }

// hpaTargets shows the first two metrics as current/target.
func hpaTargets(specs []autoscalingv2.MetricSpec, statuses []autoscalingv2.MetricStatus) string {
	if len(specs) == 0 {
		return "<none>"
	}
	const max = 2
	var list []string
	for i, s := range specs {
		var st *autoscalingv2.MetricStatus
		if i < len(statuses) {
			st = &statuses[i]
		}
		current := "<unknown>"
		switch s.Type {
		case autoscalingv2.ExternalMetricSourceType:
			if s.External.Target.AverageValue != nil {
				if st != nil && st.External != nil && st.External.Current.AverageValue != nil {
					current = st.External.Current.AverageValue.String()
				}
				list = append(list, fmt.Sprintf("%s/%s (avg)", current, s.External.Target.AverageValue.String()))
			} else {
				if st != nil && st.External != nil {
					current = quantity(st.External.Current.Value)
				}
				list = append(list, fmt.Sprintf("%s/%s", current, quantity(s.External.Target.Value)))
			}
		case autoscalingv2.PodsMetricSourceType:
			if st != nil && st.Pods != nil {
				current = quantity(st.Pods.Current.AverageValue)
			}
			list = append(list, fmt.Sprintf("%s/%s", current, quantity(s.Pods.Target.AverageValue)))
		case autoscalingv2.ObjectMetricSourceType:
			if s.Object.Target.AverageValue != nil {
				if st != nil && st.Object != nil && st.Object.Current.AverageValue != nil {
					current = st.Object.Current.AverageValue.String()
				}
				list = append(list, fmt.Sprintf("%s/%s (avg)", current, s.Object.Target.AverageValue.String()))
			} else {
				if st != nil && st.Object != nil {
					current = quantity(st.Object.Current.Value)
				}
				list = append(list, fmt.Sprintf("%s/%s", current, quantity(s.Object.Target.Value)))
			}
		case autoscalingv2.ResourceMetricSourceType:
			list = append(list, resourceTarget(s.Resource.Name, s.Resource.Target, func() *autoscalingv2.MetricValueStatus {
				if st != nil && st.Resource != nil {
					return &st.Resource.Current
				}
				return nil
			}()))
		case autoscalingv2.ContainerResourceMetricSourceType:
			list = append(list, resourceTarget(s.ContainerResource.Name, s.ContainerResource.Target, func() *autoscalingv2.MetricValueStatus {
				if st != nil && st.ContainerResource != nil {
					return &st.ContainerResource.Current
				}
				return nil
			}()))
		default:
			list = append(list, "<unknown type>")
		}
	}
	if len(list) > max {
		return fmt.Sprintf("%s + %d more...", strings.Join(list[:max], ", "), len(list)-max)
	}
	return strings.Join(list, ", ")
}

// resourceTarget shows a resource metric: "cpu: 40%/80%" or, for an
// average value target, "memory: 100Mi/200Mi".
func resourceTarget(name corev1.ResourceName, target autoscalingv2.MetricTarget, current *autoscalingv2.MetricValueStatus) string {
	cur := "<unknown>"
	if target.AverageValue != nil {
		if current != nil {
			cur = quantity(current.AverageValue)
		}
		return fmt.Sprintf("%s: %s/%s", name, cur, target.AverageValue.String())
	}
	if current != nil && current.AverageUtilization != nil {
		cur = fmt.Sprintf("%d%%", *current.AverageUtilization)
	}
	want := "<auto>"
	if target.AverageUtilization != nil {
		want = fmt.Sprintf("%d%%", *target.AverageUtilization)
	}
	return fmt.Sprintf("%s: %s/%s", name, cur, want)
}

func hpaRow(h *autoscalingv2.HorizontalPodAutoscaler, now time.Time) metav1.TableRow {
	minPods := "<unset>"
	if h.Spec.MinReplicas != nil {
		minPods = strconv.Itoa(int(*h.Spec.MinReplicas))
	}
	return cells(h.Name, h.Spec.ScaleTargetRef.Kind+"/"+h.Spec.ScaleTargetRef.Name, hpaTargets(h.Spec.Metrics, h.Status.CurrentMetrics),
		minPods, int64(h.Spec.MaxReplicas), int64(h.Status.CurrentReplicas), age(h.CreationTimestamp, now))
}
