package stream

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	statsv1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/podvisor/podvisor/internal/kubelet/podnet"
	"github.com/podvisor/podvisor/internal/runtime/oci"
)

type fakeNetwork map[string]podnet.NetStats

func (f fakeNetwork) Stats(id string) (podnet.NetStats, error) {
	s, ok := f[id]
	if !ok {
		return s, oci.ErrNotFound
	}
	return s, nil
}

func TestSummary(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	now := t0
	started := t0.Add(-time.Hour)
	rt := execRuntime()
	rt.status = map[string]oci.ContainerStatus{}
	rt.stats = map[string]oci.Stats{
		"a1": {Timestamp: t0, CPUUsageNanos: 1e9, MemoryUsageBytes: 300, MemoryWorkingSetBytes: 200, MemoryLimitBytes: 1000, Pids: 2},
		"s1": {Timestamp: t0, CPUUsageNanos: 5e8, MemoryUsageBytes: 30, MemoryWorkingSetBytes: 20, Pids: 1},
	}
	podStart := metav1.NewTime(started.Add(-time.Second))
	pods := &fakePods{pods: []PodState{
		{Pod: &corev1.Pod{ObjectMeta: metav1ObjectMeta("ns", "web", "uid-1"), Status: corev1.PodStatus{StartTime: &podStart}}, UID: "uid-1",
			Containers: []ContainerRef{
				{Name: "app", ID: "a1", Attempt: 1, Running: true, StartedAt: started},
				{Name: "sidecar", ID: "s1", Running: true, StartedAt: started.Add(time.Minute)},
				{Name: "done", ID: "d1", Init: true},
			}},
		{Pod: &corev1.Pod{ObjectMeta: metav1ObjectMeta("ns", "pending", "uid-2")}, UID: "uid-2"},
	}}
	net := fakeNetwork{"uid-1": {Interface: "eth0", RxBytes: 10, TxBytes: 20, RxErrors: 1, TxErrors: 2}}
	ts := startTestServer(t, Config{NodeName: "node-a"}, Deps{Pods: pods, Runtime: rt, Network: net, Now: func() time.Time { return now }})
	ts.stats.proc = "testdata/proc"
	ctx := context.Background()
	ts.stats.sample(ctx)
	// Ten seconds later: a1 used 2.5 s of CPU (0.25 cores), s1 none.
	now = t0.Add(10 * time.Second)
	rt.stats["a1"] = oci.Stats{Timestamp: now, CPUUsageNanos: 3.5e9, MemoryUsageBytes: 300, MemoryWorkingSetBytes: 200, MemoryLimitBytes: 1000, Pids: 2}
	rt.stats["s1"] = oci.Stats{Timestamp: now, CPUUsageNanos: 5e8, MemoryUsageBytes: 30, MemoryWorkingSetBytes: 20, Pids: 1}
	ts.stats.sample(ctx)

	resp, err := httpClient(t, ts.restConfig(t, DefaultAPIServerClient)).Get(ts.url + "/stats/summary")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got statsv1.Summary
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	mt := metav1.NewTime(now)
	busy := uint64(1000+20+300+10+20+5) * 1e7
	want := statsv1.Summary{
		Node: statsv1.NodeStats{
			NodeName:  "node-a",
			StartTime: metav1.NewTime(time.Unix(1700000000, 0)),
			CPU:       &statsv1.CPUStats{Time: mt, UsageCoreNanoSeconds: u64(busy), UsageNanoCores: u64(0)},
			Memory: &statsv1.MemoryStats{Time: mt, AvailableBytes: u64((8000000 - 5000000) * 1024),
				UsageBytes: u64(6000000 * 1024), WorkingSetBytes: u64(5000000 * 1024)},
			Network: &statsv1.NetworkStats{Time: mt,
				InterfaceStats: statsv1.InterfaceStats{Name: "eth0", RxBytes: u64(5000), RxErrors: u64(1), TxBytes: u64(7000), TxErrors: u64(2)},
				Interfaces: []statsv1.InterfaceStats{
					{Name: "eth0", RxBytes: u64(5000), RxErrors: u64(1), TxBytes: u64(7000), TxErrors: u64(2)},
					{Name: "pv0", RxBytes: u64(300), RxErrors: u64(0), TxBytes: u64(400), TxErrors: u64(0)},
				}},
			Rlimit: &statsv1.RlimitStats{Time: mt, MaxPID: i64(4194304), NumOfRunningProcesses: i64(345)},
		},
		Pods: []statsv1.PodStats{
			{
				PodRef:    statsv1.PodReference{Name: "web", Namespace: "ns", UID: "uid-1"},
				StartTime: podStart,
				Containers: []statsv1.ContainerStats{
					{Name: "app", StartTime: metav1.NewTime(started),
						CPU:    &statsv1.CPUStats{Time: mt, UsageCoreNanoSeconds: u64(3.5e9), UsageNanoCores: u64(250000000)},
						Memory: &statsv1.MemoryStats{Time: mt, UsageBytes: u64(300), WorkingSetBytes: u64(200), AvailableBytes: u64(800)}},
					{Name: "sidecar", StartTime: metav1.NewTime(started.Add(time.Minute)),
						CPU:    &statsv1.CPUStats{Time: mt, UsageCoreNanoSeconds: u64(5e8), UsageNanoCores: u64(0)},
						Memory: &statsv1.MemoryStats{Time: mt, UsageBytes: u64(30), WorkingSetBytes: u64(20)}},
				},
				CPU:    &statsv1.CPUStats{Time: mt, UsageCoreNanoSeconds: u64(4e9), UsageNanoCores: u64(250000000)},
				Memory: &statsv1.MemoryStats{Time: mt, UsageBytes: u64(330), WorkingSetBytes: u64(220)},
				Network: &statsv1.NetworkStats{Time: mt,
					InterfaceStats: statsv1.InterfaceStats{Name: "eth0", RxBytes: u64(10), RxErrors: u64(1), TxBytes: u64(20), TxErrors: u64(2)},
					Interfaces:     []statsv1.InterfaceStats{{Name: "eth0", RxBytes: u64(10), RxErrors: u64(1), TxBytes: u64(20), TxErrors: u64(2)}}},
				ProcessStats:     &statsv1.ProcessStats{ProcessCount: u64(3)},
				EphemeralStorage: &statsv1.FsStats{Time: mt, UsedBytes: u64(0)},
			},
			{PodRef: statsv1.PodReference{Name: "pending", Namespace: "ns", UID: "uid-2"}, Containers: []statsv1.ContainerStats{}},
		},
	}
	if d := cmp.Diff(want, got, cmpopts.EquateApproxTime(time.Second)); d != "" {
		t.Errorf("summary (-want +got):\n%s", d)
	}

	// The resource metrics come from the same numbers.
	resp2, err := httpClient(t, ts.restConfig(t, DefaultAPIServerClient)).Get(ts.url + "/metrics/resource")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp2.Body)
	resp2.Body.Close()
	for _, line := range []string{
		`container_cpu_usage_seconds_total{container="app",namespace="ns",pod="web"} 3.5`,
		`container_memory_working_set_bytes{container="app",namespace="ns",pod="web"} 200`,
		`pod_memory_working_set_bytes{namespace="ns",pod="web"} 220`,
		`node_memory_working_set_bytes 5.12e+09`,
		`scrape_error 0`,
	} {
		if !strings.Contains(string(body), line) {
			t.Errorf("/metrics/resource lacks %q:\n%s", line, body)
		}
	}
}

func i64(v int64) *int64 { return &v }
