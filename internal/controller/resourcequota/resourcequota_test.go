package resourcequota

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/podvisor/podvisor/internal/controller/reconcile"
)

var now = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func rl(kv ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		out[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}

func pod(name string, opts ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
			Requests: rl("cpu", "250m", "memory", "64Mi"), Limits: rl("cpu", "500m", "memory", "128Mi"),
		}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func quota(hard corev1.ResourceList, opts ...func(*corev1.ResourceQuota)) *corev1.ResourceQuota {
	q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "q", Namespace: "ns"}, Spec: corev1.ResourceQuotaSpec{Hard: hard}}
	for _, o := range opts {
		o(q)
	}
	return q
}

// equalLists compares quantities by value.
func equalLists(t *testing.T, want, got corev1.ResourceList) {
	t.Helper()
	for n, w := range want {
		g, ok := got[n]
		if !ok {
			t.Errorf("%s missing, want %s", n, w.String())
			continue
		}
		if g.Cmp(w) != 0 {
			t.Errorf("%s = %s, want %s", n, g.String(), w.String())
		}
	}
	for n, g := range got {
		if _, ok := want[n]; !ok {
			t.Errorf("unexpected %s = %s", n, g.String())
		}
	}
}

func TestPodUsage(t *testing.T) {
	deadline := int64(60)
	grace := int64(30)
	tests := []struct {
		name  string
		quota *corev1.ResourceQuota
		pods  []*corev1.Pod
		want  map[corev1.ResourceName]string
	}{
		{
			name:  "requests and limits summed",
			quota: quota(nil),
			pods:  []*corev1.Pod{pod("a"), pod("b")},
			want:  map[corev1.ResourceName]string{"pods": "2", "requests.cpu": "500m", "cpu": "500m", "limits.cpu": "1", "requests.memory": "128Mi", "limits.memory": "256Mi"},
		},
		{
			name:  "finished pods and pods past their deletion grace do not count",
			quota: quota(nil),
			pods: []*corev1.Pod{
				pod("a"),
				pod("done", func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }),
				pod("failed", func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }),
				pod("gone", func(p *corev1.Pod) {
					ts := metav1.NewTime(now.Add(-time.Minute))
					p.DeletionTimestamp, p.DeletionGracePeriodSeconds = &ts, &grace
				}),
				pod("going", func(p *corev1.Pod) {
					ts := metav1.NewTime(now.Add(-10 * time.Second))
					p.DeletionTimestamp, p.DeletionGracePeriodSeconds = &ts, &grace
				}),
			},
			want: map[corev1.ResourceName]string{"pods": "2", "requests.cpu": "500m"},
		},
		{
			name:  "init container larger than the containers sets the request",
			quota: quota(nil),
			pods: []*corev1.Pod{pod("a", func(p *corev1.Pod) {
				p.Spec.InitContainers = []corev1.Container{{Name: "i", Resources: corev1.ResourceRequirements{Requests: rl("cpu", "2", "memory", "1Gi")}}}
			})},
			want: map[corev1.ResourceName]string{"pods": "1", "requests.cpu": "2", "requests.memory": "1Gi"},
		},
		{
			name: "Terminating scope counts pods with activeDeadlineSeconds",
			quota: quota(nil, func(q *corev1.ResourceQuota) {
				q.Spec.Scopes = []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeTerminating}
			}),
			pods: []*corev1.Pod{pod("a"), pod("job", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = &deadline })},
			want: map[corev1.ResourceName]string{"pods": "1", "requests.cpu": "250m"},
		},
		{
			name: "NotTerminating scope",
			quota: quota(nil, func(q *corev1.ResourceQuota) {
				q.Spec.Scopes = []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeNotTerminating}
			}),
			pods: []*corev1.Pod{pod("a"), pod("b"), pod("job", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = &deadline })},
			want: map[corev1.ResourceName]string{"pods": "2"},
		},
		{
			name: "BestEffort scope",
			quota: quota(nil, func(q *corev1.ResourceQuota) {
				q.Spec.Scopes = []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeBestEffort}
			}),
			pods: []*corev1.Pod{pod("a"), pod("be", func(p *corev1.Pod) { p.Spec.Containers[0].Resources = corev1.ResourceRequirements{} })},
			want: map[corev1.ResourceName]string{"pods": "1", "requests.cpu": "0"},
		},
		{
			name: "PriorityClass scope selector",
			quota: quota(nil, func(q *corev1.ResourceQuota) {
				q.Spec.ScopeSelector = &corev1.ScopeSelector{MatchExpressions: []corev1.ScopedResourceSelectorRequirement{{
					ScopeName: corev1.ResourceQuotaScopePriorityClass, Operator: corev1.ScopeSelectorOpIn, Values: []string{"high"}}}}
			}),
			pods: []*corev1.Pod{pod("a"), pod("hi", func(p *corev1.Pod) { p.Spec.PriorityClassName = "high" })},
			want: map[corev1.ResourceName]string{"pods": "1", "limits.memory": "128Mi"},
		},
		{
			name:  "extended resources",
			quota: quota(nil),
			pods: []*corev1.Pod{pod("gpu", func(p *corev1.Pod) {
				p.Spec.Containers[0].Resources.Requests["example.com/gpu"] = resource.MustParse("2")
			}), pod("gpu2", func(p *corev1.Pod) {
				p.Spec.Containers[0].Resources.Requests["example.com/gpu"] = resource.MustParse("1")
			})},
			want: map[corev1.ResourceName]string{"requests.example.com/gpu": "3"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := PodUsage(tc.quota, tc.pods, now)
			for n, w := range tc.want {
				g := got[n]
				if g.Cmp(resource.MustParse(w)) != 0 {
					t.Errorf("%s = %s, want %s", n, g.String(), w)
				}
			}
		})
	}
}

func TestServiceUsage(t *testing.T) {
	no := false
	svc := func(typ corev1.ServiceType, ports int, opts ...func(*corev1.Service)) *corev1.Service {
		s := &corev1.Service{Spec: corev1.ServiceSpec{Type: typ}}
		for i := 0; i < ports; i++ {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Port: int32(80 + i)})
		}
		for _, o := range opts {
			o(s)
		}
		return s
	}
	got := ServiceUsage([]*corev1.Service{
		svc(corev1.ServiceTypeClusterIP, 2),
		svc(corev1.ServiceTypeNodePort, 2),
		svc(corev1.ServiceTypeLoadBalancer, 1),
		svc(corev1.ServiceTypeLoadBalancer, 3, func(s *corev1.Service) {
			s.Spec.AllocateLoadBalancerNodePorts = &no
			s.Spec.Ports[0].NodePort = 30001
		}),
	})
	equalLists(t, rl("services.nodeports", "4", "services.loadbalancers", "2"), got)
}

func TestClaimUsage(t *testing.T) {
	claim := func(class string, size string) *corev1.PersistentVolumeClaim {
		c := &corev1.PersistentVolumeClaim{Spec: corev1.PersistentVolumeClaimSpec{
			Resources: corev1.VolumeResourceRequirements{Requests: rl("storage", size)}}}
		if class != "" {
			c.Spec.StorageClassName = &class
		}
		return c
	}
	got := ClaimUsage([]*corev1.PersistentVolumeClaim{claim("gold", "1Gi"), claim("gold", "512Mi"), claim("", "2Gi"), claim("local-path", "100Mi")})
	equalLists(t, rl(
		"requests.storage", "3684Mi",
		"gold.storageclass.storage.k8s.io/requests.storage", "1536Mi",
		"gold.storageclass.storage.k8s.io/persistentvolumeclaims", "2",
		"local-path.storageclass.storage.k8s.io/requests.storage", "100Mi",
		"local-path.storageclass.storage.k8s.io/persistentvolumeclaims", "1",
	), got)
}

func TestReconcile(t *testing.T) {
	q := quota(rl("pods", "10", "requests.cpu", "4", "services", "5", "services.loadbalancers", "1",
		"configmaps", "10", "count/deployments.apps", "3", "requests.storage", "10Gi",
		"silver.storageclass.storage.k8s.io/requests.storage", "1Gi", "example.com/unknown", "1"))
	objs := []runtime.Object{
		q, pod("a"), pod("b"),
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s1", Namespace: "ns"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s2", Namespace: "ns"}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "elsewhere", Namespace: "other"}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm", Namespace: "ns"}},
		&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "ns"}, Spec: corev1.PersistentVolumeClaimSpec{
			Resources: corev1.VolumeResourceRequirements{Requests: rl("storage", "2Gi")}}},
	}
	client := fake.NewClientset(objs...)
	f := informers.NewSharedInformerFactory(client, 0)
	c, err := New(Config{ResyncPeriod: time.Minute}, reconcile.Deps{Client: client, Informers: f, Recorder: record.NewFakeRecorder(10),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Clock: clocktesting.NewFakeClock(now)})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		switch o := o.(type) {
		case *corev1.ResourceQuota:
			_ = f.Core().V1().ResourceQuotas().Informer().GetIndexer().Add(o)
		case *corev1.Pod:
			_ = f.Core().V1().Pods().Informer().GetIndexer().Add(o)
		case *corev1.Service:
			_ = f.Core().V1().Services().Informer().GetIndexer().Add(o)
		case *corev1.ConfigMap:
			_ = f.Core().V1().ConfigMaps().Informer().GetIndexer().Add(o)
		case *corev1.PersistentVolumeClaim:
			_ = f.Core().V1().PersistentVolumeClaims().Informer().GetIndexer().Add(o)
		}
	}
	err = c.Reconcile(context.Background(), "ns/q")
	if err == nil || err.Error() != reconcile.RequeueAfter(time.Minute).Error() {
		t.Fatalf("Reconcile: got %v, want a requeue after the resync period", err)
	}
	got, err := client.CoreV1().ResourceQuotas("ns").Get(context.Background(), "q", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	equalLists(t, q.Spec.Hard, got.Status.Hard)
	equalLists(t, rl("pods", "2", "requests.cpu", "500m", "services", "2", "services.loadbalancers", "1", "configmaps", "1",
		"count/deployments.apps", "0", "requests.storage", "2Gi", "silver.storageclass.storage.k8s.io/requests.storage", "0"), got.Status.Used)

	// A second pass over an unchanged namespace writes nothing.
	_ = f.Core().V1().ResourceQuotas().Informer().GetIndexer().Update(got)
	client.ClearActions()
	_ = c.Reconcile(context.Background(), "ns/q")
	for _, a := range client.Actions() {
		t.Errorf("unexpected write on an unchanged namespace: %v", a)
	}
}

func TestRelevantUpdates(t *testing.T) {
	now := metav1.NewTime(now)
	tests := []struct {
		name     string
		fn       func(o, n any) bool
		old, new any
		want     bool
	}{
		{"pod status heartbeat", podChanged, pod("a"), pod("a", func(p *corev1.Pod) { p.Status.PodIP = "10.0.0.1" }), false},
		{"pod finished", podChanged, pod("a"), pod("a", func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }), true},
		{"pod deleting", podChanged, pod("a"), pod("a", func(p *corev1.Pod) { p.DeletionTimestamp = &now }), true},
		{"pod resized", podChanged, pod("a"), pod("a", func(p *corev1.Pod) { p.Spec.Containers[0].Resources.Requests = rl("cpu", "1") }), true},
		{"service label", serviceChanged, &corev1.Service{}, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"a": "b"}}}, false},
		{"service type", serviceChanged, &corev1.Service{}, &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort}}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.fn(tc.old, tc.new); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
