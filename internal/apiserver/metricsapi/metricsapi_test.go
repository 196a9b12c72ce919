package metricsapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	statsv1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

type fakeSummaries struct {
	mu    sync.Mutex
	calls map[string]int
	sums  map[string]*statsv1.Summary
}

func (f *fakeSummaries) Summary(ctx context.Context, node string) (*statsv1.Summary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[node]++
	s, ok := f.sums[node]
	if !ok {
		return nil, errors.New("kubelet unreachable")
	}
	return s, nil
}

type fakeLister struct {
	nodes []*corev1.Node
	pods  []*corev1.Pod
}

func (f fakeLister) ListNodes(ctx context.Context) ([]*corev1.Node, error) { return f.nodes, nil }
func (f fakeLister) ListPods(ctx context.Context, ns string) ([]*corev1.Pod, error) {
	var out []*corev1.Pod
	for _, p := range f.pods {
		if ns == "" || p.Namespace == ns {
			out = append(out, p)
		}
	}
	return out, nil
}

func u64(v uint64) *uint64 { return &v }

func cpuMem(t metav1.Time, nano, ws uint64, withRate bool) (*statsv1.CPUStats, *statsv1.MemoryStats) {
	c := &statsv1.CPUStats{Time: t, UsageCoreNanoSeconds: u64(1)}
	if withRate {
		c.UsageNanoCores = u64(nano)
	}
	return c, &statsv1.MemoryStats{Time: t, WorkingSetBytes: u64(ws)}
}

func TestAPI(t *testing.T) {
	ts := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	node := func(name string, lbl map[string]string) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbl}}
	}
	pod := func(ns, name, uid, node string, lbl map[string]string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(uid), Labels: lbl}, Spec: corev1.PodSpec{NodeName: node}}
	}
	n1cpu, n1mem := cpuMem(ts, 500_000_000, 1<<30, true)
	aCPU, aMem := cpuMem(ts, 250_000_000, 64<<20, true)
	bCPU, bMem := cpuMem(ts, 1_000_000, 1<<20, true)
	newCPU, newMem := cpuMem(ts, 0, 1<<20, false)
	sums := &fakeSummaries{calls: map[string]int{}, sums: map[string]*statsv1.Summary{
		"n1": {Node: statsv1.NodeStats{NodeName: "n1", CPU: n1cpu, Memory: n1mem}, Pods: []statsv1.PodStats{
			{PodRef: statsv1.PodReference{Namespace: "a", Name: "web", UID: "u1"}, Containers: []statsv1.ContainerStats{
				{Name: "app", CPU: aCPU, Memory: aMem}, {Name: "side", CPU: bCPU, Memory: bMem}}},
			{PodRef: statsv1.PodReference{Namespace: "a", Name: "fresh", UID: "u2"}, Containers: []statsv1.ContainerStats{
				{Name: "app", CPU: newCPU, Memory: newMem}}},
			{PodRef: statsv1.PodReference{Namespace: "b", Name: "db", UID: "u3"}, Containers: []statsv1.ContainerStats{
				{Name: "db", CPU: bCPU, Memory: bMem}}},
		}},
	}}
	lister := fakeLister{
		nodes: []*corev1.Node{node("n1", map[string]string{"zone": "x"}), node("n2", nil)},
		pods: []*corev1.Pod{pod("a", "web", "u1", "n1", map[string]string{"app": "web"}), pod("a", "fresh", "u2", "n1", nil),
			pod("b", "db", "u3", "n1", map[string]string{"app": "db"}), pod("b", "pending", "u4", "", nil),
			pod("a", "recreated", "u9", "n1", nil)},
	}
	now := ts.Time
	api, err := New(Config{}, Deps{Summaries: sums, Lister: lister, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) (int, map[string]any) {
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		var v map[string]any
		json.Unmarshal(rec.Body.Bytes(), &v)
		return rec.Code, v
	}
	names := func(v map[string]any) []string {
		var out []string
		items, _ := v["items"].([]any)
		for _, it := range items {
			md := it.(map[string]any)["metadata"].(map[string]any)
			n := md["name"].(string)
			if ns, ok := md["namespace"].(string); ok {
				n = ns + "/" + n
			}
			out = append(out, n)
		}
		return out
	}
	tests := []struct {
		path      string
		wantCode  int
		wantKind  string
		wantNames []string
	}{
		{"/apis/metrics.k8s.io", 200, "APIGroup", nil},
		{"/apis/metrics.k8s.io/v1beta1", 200, "APIResourceList", nil},
		// n2's kubelet does not answer: it is left out.
		{"/apis/metrics.k8s.io/v1beta1/nodes", 200, "NodeMetricsList", []string{"n1"}},
		{"/apis/metrics.k8s.io/v1beta1/nodes?labelSelector=zone%3Dy", 200, "NodeMetricsList", nil},
		{"/apis/metrics.k8s.io/v1beta1/nodes/n1", 200, "NodeMetrics", nil},
		{"/apis/metrics.k8s.io/v1beta1/nodes/n2", 404, "Status", nil},
		// fresh has no CPU rate yet; pending has no node; recreated has no stats.
		{"/apis/metrics.k8s.io/v1beta1/pods", 200, "PodMetricsList", []string{"a/web", "b/db"}},
		{"/apis/metrics.k8s.io/v1beta1/namespaces/a/pods", 200, "PodMetricsList", []string{"a/web"}},
		{"/apis/metrics.k8s.io/v1beta1/pods?labelSelector=app%20in%20(db)", 200, "PodMetricsList", []string{"b/db"}},
		{"/apis/metrics.k8s.io/v1beta1/namespaces/b/pods/db", 200, "PodMetrics", nil},
		{"/apis/metrics.k8s.io/v1beta1/namespaces/a/pods/fresh", 404, "Status", nil},
		{"/apis/metrics.k8s.io/v1beta1/pods?labelSelector=%3D%3D", 400, "Status", nil},
		{"/apis/metrics.k8s.io/v1/nodes", 404, "Status", nil},
		{"/apis/metrics.k8s.io/v1beta1/services", 404, "Status", nil},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			code, v := get(tc.path)
			if code != tc.wantCode || v["kind"] != tc.wantKind {
				t.Fatalf("got %d %v, want %d %s", code, v["kind"], tc.wantCode, tc.wantKind)
			}
			if tc.wantNames != nil || v["items"] != nil {
				if d := cmp.Diff(tc.wantNames, names(v)); d != "" {
					t.Errorf("items (-want +got):\n%s", d)
				}
			}
		})
	}
	// Usage is the rate and the working set, per container.
	_, v := get("/apis/metrics.k8s.io/v1beta1/namespaces/a/pods/web")
	want := []any{
		map[string]any{"name": "app", "usage": map[string]any{"cpu": "250m", "memory": "64Mi"}},
		map[string]any{"name": "side", "usage": map[string]any{"cpu": "1m", "memory": "1Mi"}},
	}
	if d := cmp.Diff(want, v["containers"]); d != "" {
		t.Errorf("containers (-want +got):\n%s", d)
	}
	_, v = get("/apis/metrics.k8s.io/v1beta1/nodes/n1")
	if d := cmp.Diff(map[string]any{"cpu": "500m", "memory": "1Gi"}, v["usage"]); d != "" {
		t.Errorf("node usage (-want +got):\n%s", d)
	}
	// All of that came from one scrape per node (cache), and a new one
	// once the cache expired.
	if sums.calls["n1"] != 1 {
		t.Errorf("n1 scraped %d times, want 1", sums.calls["n1"])
	}
	now = now.Add(11 * time.Second)
	get("/apis/metrics.k8s.io/v1beta1/nodes/n1")
	if sums.calls["n1"] != 2 {
		t.Errorf("n1 scraped %d times after the cache expired, want 2", sums.calls["n1"])
	}
}
