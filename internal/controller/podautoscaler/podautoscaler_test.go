package podautoscaler

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	scalefake "k8s.io/client-go/scale/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/podvisor/podvisor/internal/testutil/controllertest"
)

func ptr[T any](v T) *T { return &v }

// fakeMetrics serves fixed cpu usage per pod, or an error.
type fakeMetrics struct {
	mu    sync.Mutex
	usage map[string]int64
	err   error
}

func (f *fakeMetrics) PodMetrics(_ context.Context, _ string, _ labels.Selector, _ corev1.ResourceName, _ string) (map[string]PodMetric, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	out := map[string]PodMetric{}
	for k, v := range f.usage {
		out[k] = PodMetric{Value: v, Timestamp: controllertest.Start, Window: 30 * time.Second}
	}
	return out, nil
}

// target is a Deployment seen through its scale subresource.
type target struct {
	mu       sync.Mutex
	replicas int32
	updates  []int32
}

func newHPA(minR, maxR int32, util int32) *autoscalingv2.HorizontalPodAutoscaler {
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", Generation: 1},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MinReplicas:    &minR,
			MaxReplicas:    maxR,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &util},
			}}},
		},
	}
}

func cpuPod(name string, ready bool) *corev1.Pod {
	started := metav1.NewTime(controllertest.Start.Add(-10 * time.Minute))
	status := corev1.ConditionTrue
	if !ready {
		status = corev1.ConditionFalse
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
		}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, StartTime: &started, Conditions: []corev1.PodCondition{{
			Type: corev1.PodReady, Status: status, LastTransitionTime: metav1.NewTime(controllertest.Start.Add(-9 * time.Minute)),
		}}},
	}
}

// warmingUp makes a pod started a minute ago, within the cpu
// initialization period.
func warmingUp(p *corev1.Pod) *corev1.Pod {
	p.Status.StartTime = &metav1.Time{Time: controllertest.Start.Add(-time.Minute)}
	p.Status.Conditions[0].LastTransitionTime = metav1.NewTime(controllertest.Start.Add(-time.Minute))
	return p
}

type hsim struct {
	t       *testing.T
	env     *controllertest.Env
	c       *Controller
	metrics *fakeMetrics
	target  *target
}

func newHSim(t *testing.T, hpa *autoscalingv2.HorizontalPodAutoscaler, replicas int32, pods ...*corev1.Pod) *hsim {
	t.Helper()
	objs := []runtime.Object{hpa}
	for _, p := range pods {
		objs = append(objs, p)
	}
	env := controllertest.New(t, objs...)
	tg := &target{replicas: replicas}
	scales := &scalefake.FakeScaleClient{}
	scales.AddReactor("get", "deployments", func(k8stesting.Action) (bool, runtime.Object, error) {
		tg.mu.Lock()
		defer tg.mu.Unlock()
		return true, &autoscalingv1.Scale{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"},
			Spec:       autoscalingv1.ScaleSpec{Replicas: tg.replicas},
			Status:     autoscalingv1.ScaleStatus{Replicas: tg.replicas, Selector: "app=web"},
		}, nil
	})
	scales.AddReactor("update", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		sc := a.(k8stesting.UpdateAction).GetObject().(*autoscalingv1.Scale)
		tg.mu.Lock()
		defer tg.mu.Unlock()
		tg.replicas = sc.Spec.Replicas
		tg.updates = append(tg.updates, sc.Spec.Replicas)
		return true, sc, nil
	})
	mapper := meta.NewDefaultRESTMapper(nil)
	mapper.Add(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, meta.RESTScopeNamespace)
	m := &fakeMetrics{usage: map[string]int64{}}
	c, err := New(Config{}, env.Deps, Deps{Scales: scales, Mapper: mapper, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	controllertest.Seed(t, env.Deps.Informers.Autoscaling().V2().HorizontalPodAutoscalers().Informer(), hpa)
	for _, p := range pods {
		controllertest.Seed(t, env.Deps.Informers.Core().V1().Pods().Informer(), p)
	}
	return &hsim{t: t, env: env, c: c, metrics: m, target: tg}
}

// sync evaluates once and feeds the written status back to the cache.
func (s *hsim) sync() *autoscalingv2.HorizontalPodAutoscaler {
	s.t.Helper()
	err := s.c.Sync(context.Background(), "ns/web")
	if err == nil || err.Error() != "requeue after 15s" {
		s.t.Fatalf("Sync = %v, want a requeue after the sync period", err)
	}
	hpa, gerr := s.env.Client.AutoscalingV2().HorizontalPodAutoscalers("ns").Get(context.Background(), "web", metav1.GetOptions{})
	if gerr != nil {
		s.t.Fatal(gerr)
	}
	controllertest.Seed(s.t, s.env.Deps.Informers.Autoscaling().V2().HorizontalPodAutoscalers().Informer(), hpa)
	return hpa
}

func (s *hsim) usage(each int64, names ...string) {
	s.metrics.mu.Lock()
	defer s.metrics.mu.Unlock()
	for _, n := range names {
		s.metrics.usage[n] = each
	}
}

func cond(hpa *autoscalingv2.HorizontalPodAutoscaler, t autoscalingv2.HorizontalPodAutoscalerConditionType) *autoscalingv2.HorizontalPodAutoscalerCondition {
	for i := range hpa.Status.Conditions {
		if hpa.Status.Conditions[i].Type == t {
			return &hpa.Status.Conditions[i]
		}
	}
	return nil
}

func fourPods() []*corev1.Pod {
	return []*corev1.Pod{cpuPod("a", true), cpuPod("b", true), cpuPod("c", true), cpuPod("d", true)}
}

func TestNoMetricsAPI(t *testing.T) {
	s := newHSim(t, newHPA(1, 10, 60), 4, fourPods()...)
	s.metrics.err = fmt.Errorf("unable to fetch metrics from resource metrics API: %w",
		apierrors.NewNotFound(schema.GroupResource{Group: "metrics.k8s.io", Resource: "pods"}, ""))
	hpa := s.sync()
	c := cond(hpa, autoscalingv2.ScalingActive)
	if c == nil || c.Status != corev1.ConditionFalse || c.Reason != "FailedGetResourceMetric" ||
		!strings.Contains(c.Message, "unable to get metrics for resource cpu") || !strings.Contains(c.Message, "metrics.k8s.io") {
		t.Errorf("ScalingActive = %+v", c)
	}
	if a := cond(hpa, autoscalingv2.AbleToScale); a == nil || a.Status != corev1.ConditionTrue {
		t.Errorf("AbleToScale = %+v, want True (the target's scale was read)", a)
	}
	if len(s.target.updates) != 0 {
		t.Errorf("scaled to %v without metrics", s.target.updates)
	}
	if hpa.Status.CurrentReplicas != 4 || hpa.Status.DesiredReplicas != 4 {
		t.Errorf("status replicas = %d/%d, want 4/4", hpa.Status.CurrentReplicas, hpa.Status.DesiredReplicas)
	}
	if ev := strings.Join(s.env.Events(), "\n"); !strings.Contains(ev, "FailedGetResourceMetric") || !strings.Contains(ev, "FailedComputeMetricsReplicas") {
		t.Errorf("events = %s", ev)
	}
}

func TestScaling(t *testing.T) {
	tests := []struct {
		name     string
		hpa      *autoscalingv2.HorizontalPodAutoscaler
		replicas int32
		usage    int64 // millicores per pod of 100m requests
		pods     []*corev1.Pod
		want     int32
		limited  string
	}{
		{name: "up: 90% of a 60% target", hpa: newHPA(1, 10, 60), replicas: 4, usage: 90, pods: fourPods(), want: 6},
		{name: "within tolerance", hpa: newHPA(1, 10, 60), replicas: 4, usage: 63, pods: fourPods(), want: 4},
		{name: "down: 30% of 60%", hpa: newHPA(1, 10, 60), replicas: 4, usage: 30, pods: fourPods(), want: 2},
		{name: "capped at max", hpa: newHPA(1, 5, 60), replicas: 4, usage: 90, pods: fourPods(), want: 5, limited: "TooManyReplicas"},
		{name: "at least min", hpa: newHPA(3, 10, 60), replicas: 4, usage: 10, pods: fourPods(), want: 3, limited: "TooFewReplicas"},
		{name: "scale-up rate: at most double", hpa: newHPA(1, 100, 10), replicas: 4, usage: 100, pods: fourPods(), want: 8, limited: "ScaleUpLimit"},
		{name: "below min: raised without metrics", hpa: newHPA(6, 10, 60), replicas: 4, usage: 60, pods: fourPods(), want: 6},
		{
			name: "unready pods count as idle on a scale-up", hpa: newHPA(1, 10, 50), replicas: 4, usage: 100,
			pods: []*corev1.Pod{cpuPod("a", true), cpuPod("b", true), warmingUp(cpuPod("c", false)), warmingUp(cpuPod("d", false))},
			// The 2 ready pods at 100% of a 50% target ask for double; the
			// 2 warming up count as idle: 200m of 400m is 50%, on target.
			want: 4,
		},
		{
			name: "pods unready long after start count normally", hpa: newHPA(1, 10, 50), replicas: 4, usage: 100,
			pods: []*corev1.Pod{cpuPod("a", true), cpuPod("b", true), cpuPod("c", false), cpuPod("d", false)},
			want: 8,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newHSim(t, tc.hpa, tc.replicas, tc.pods...)
			s.usage(tc.usage, "a", "b", "c", "d")
			hpa := s.sync()
			if s.target.replicas != tc.want {
				t.Errorf("replicas = %d, want %d", s.target.replicas, tc.want)
			}
			if hpa.Status.DesiredReplicas != tc.want || hpa.Status.CurrentReplicas != tc.replicas {
				t.Errorf("status = %d/%d, want %d/%d", hpa.Status.CurrentReplicas, hpa.Status.DesiredReplicas, tc.replicas, tc.want)
			}
			if tc.limited != "" {
				if c := cond(hpa, autoscalingv2.ScalingLimited); c == nil || c.Status != corev1.ConditionTrue || c.Reason != tc.limited {
					t.Errorf("ScalingLimited = %+v, want True/%s", c, tc.limited)
				}
			}
			if tc.want != tc.replicas && hpa.Status.LastScaleTime == nil {
				t.Error("lastScaleTime not set after a rescale")
			}
		})
	}
}

func TestDownscaleStabilization(t *testing.T) {
	s := newHSim(t, newHPA(1, 10, 60), 4, fourPods()...)
	s.usage(60, "a", "b", "c", "d")
	s.sync()
	s.usage(30, "a", "b", "c", "d")
	s.env.Clock.Step(time.Minute)
	hpa := s.sync()
	if s.target.replicas != 4 {
		t.Errorf("scaled down to %d within the stabilization window", s.target.replicas)
	}
	if c := cond(hpa, autoscalingv2.AbleToScale); c == nil || c.Reason != "ScaleDownStabilized" {
		t.Errorf("AbleToScale = %+v, want ScaleDownStabilized", c)
	}
	s.env.Clock.Step(5 * time.Minute)
	s.sync()
	if s.target.replicas != 2 {
		t.Errorf("replicas = %d after the window, want 2", s.target.replicas)
	}
}

func TestBehaviorPolicies(t *testing.T) {
	hpa := newHPA(1, 20, 10)
	hpa.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{
		ScaleUp: &autoscalingv2.HPAScalingRules{Policies: []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PodsScalingPolicy, Value: 1, PeriodSeconds: 60}}},
	}
	s := newHSim(t, hpa, 4, fourPods()...)
	s.usage(100, "a", "b", "c", "d")
	s.sync()
	if s.target.replicas != 5 {
		t.Fatalf("replicas = %d, want 5 (one pod per minute)", s.target.replicas)
	}
	// Within the same minute no more.
	s.env.Clock.Step(20 * time.Second)
	s.sync()
	if s.target.replicas != 5 {
		t.Errorf("replicas = %d 20s later, want still 5", s.target.replicas)
	}
	s.env.Clock.Step(50 * time.Second)
	s.sync()
	if s.target.replicas != 6 {
		t.Errorf("replicas = %d a minute later, want 6", s.target.replicas)
	}
}

func TestMissingRequest(t *testing.T) {
	p := cpuPod("a", true)
	p.Spec.Containers[0].Resources.Requests = nil
	s := newHSim(t, newHPA(1, 10, 60), 1, p)
	s.usage(50, "a")
	hpa := s.sync()
	if c := cond(hpa, autoscalingv2.ScalingActive); c == nil || c.Status != corev1.ConditionFalse || !strings.Contains(c.Message, "missing request for cpu") {
		t.Errorf("ScalingActive = %+v", c)
	}
}

func TestCustomMetricsUnavailable(t *testing.T) {
	hpa := newHPA(1, 10, 60)
	hpa.Spec.Metrics = []autoscalingv2.MetricSpec{{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{
		Metric: autoscalingv2.MetricIdentifier{Name: "qps"}, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: ptr(resource.MustParse("10"))},
	}}}
	s := newHSim(t, hpa, 2, cpuPod("a", true))
	got := s.sync()
	if c := cond(got, autoscalingv2.ScalingActive); c == nil || c.Reason != "FailedGetPodsMetric" || !strings.Contains(c.Message, "custom.metrics.k8s.io") {
		t.Errorf("ScalingActive = %+v", c)
	}
}

func TestTargetWithoutScale(t *testing.T) {
	s := newHSim(t, newHPA(1, 10, 60), 1)
	s.c.scales = &scalefake.FakeScaleClient{}
	s.c.scales.(*scalefake.FakeScaleClient).AddReactor("get", "*", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("deployments.apps \"web\" not found")
	})
	hpa := s.sync()
	if c := cond(hpa, autoscalingv2.AbleToScale); c == nil || c.Status != corev1.ConditionFalse || c.Reason != "FailedGetScale" {
		t.Errorf("AbleToScale = %+v", c)
	}
}
