package stream

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	statsv1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// nodeKey is the sampler's key for the node's own CPU.
const nodeKey = "\x00node"

// cpuSample is a cumulative CPU reading.
type cpuSample struct {
	at    time.Time
	nanos uint64
}

// sampler keeps the last two CPU readings of the node and of each
// container, so that stats can report a rate (usageNanoCores) next to the
// cumulative time, as cAdvisor does between its housekeeping rounds.
type sampler struct {
	s    *Server
	proc string // procfs root

	mu      sync.Mutex
	samples map[string][2]cpuSample // [previous, latest]; +checklocks:mu
}

func newSampler(s *Server) *sampler {
	return &sampler{s: s, proc: "/proc", samples: map[string][2]cpuSample{}}
}

// run samples every interval until ctx ends.
func (sm *sampler) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		sm.sample(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sample reads the node's and every running container's CPU time once.
func (sm *sampler) sample(ctx context.Context) {
	seen := map[string]bool{nodeKey: true}
	if n, _, err := hostCPU(sm.proc); err == nil {
		sm.record(nodeKey, sm.s.now(), n)
	}
	for _, p := range sm.s.deps.Pods.ListPods() {
		for _, c := range p.Containers {
			if !c.Running || c.ID == "" {
				continue
			}
			st, err := sm.s.deps.Runtime.Stats(ctx, c.ID)
			if err != nil {
				continue
			}
			seen[c.ID] = true
			sm.record(c.ID, st.Timestamp, st.CPUUsageNanos)
		}
	}
	sm.mu.Lock()
	defer sm.mu.Unlock()
	for k := range sm.samples {
		if !seen[k] {
			delete(sm.samples, k)
		}
	}
}

func (sm *sampler) record(key string, at time.Time, nanos uint64) {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	s := sm.samples[key]
	if !s[1].at.IsZero() && !at.After(s[1].at) {
		return
	}
	sm.samples[key] = [2]cpuSample{s[1], {at: at, nanos: nanos}}
}

// rate returns the CPU rate between the last two samples in nanocores
// (1e9 is one core), or nil before there are two.
//
// Example: 2.5e9 ns of CPU over 10 s of wall time is 0.25 cores, i.e.
// 2.5e9 * 1e9 / 10e9 = 250,000,000 nanocores.
func (sm *sampler) rate(key string) *uint64 {
	sm.mu.Lock()
	s, ok := sm.samples[key]
	sm.mu.Unlock()
	if !ok || s[0].at.IsZero() || s[1].nanos < s[0].nanos {
		return nil
	}
	dt := s[1].at.Sub(s[0].at)
	if dt <= 0 {
		return nil
	}
	v := uint64(float64(s[1].nanos-s[0].nanos) * float64(time.Second) / float64(dt))
	return &v
}

func u64(v uint64) *uint64 { return &v }

// Summary builds /stats/summary: the node's CPU, memory, network, file
// systems and process counts, and per pod its containers' CPU and memory
// (from their cgroups), its network (from its veth) and its log usage.
func (s *Server) Summary(ctx context.Context) (*statsv1.Summary, error) {
	now := s.now()
	mt := metav1.NewTime(now)
	node := statsv1.NodeStats{NodeName: s.cfg.NodeName}
	if busy, boot, err := hostCPU(s.stats.proc); err == nil {
		node.StartTime = metav1.NewTime(boot)
		node.CPU = &statsv1.CPUStats{Time: mt, UsageCoreNanoSeconds: u64(busy), UsageNanoCores: s.stats.rate(nodeKey)}
	}
	if m, err := hostMemory(s.stats.proc); err == nil {
		ws := m.workingSet()
		node.Memory = &statsv1.MemoryStats{Time: mt, AvailableBytes: u64(m.Total - ws),
			UsageBytes: u64(m.Total - m.Free), WorkingSetBytes: u64(ws)}
	}
	if ifaces, def, err := hostNetwork(s.stats.proc); err == nil {
		ns := &statsv1.NetworkStats{Time: mt}
		for _, i := range ifaces {
			is := statsv1.InterfaceStats{Name: i.Name, RxBytes: u64(i.RxBytes), RxErrors: u64(i.RxErrors), TxBytes: u64(i.TxBytes), TxErrors: u64(i.TxErrors)}
			ns.Interfaces = append(ns.Interfaces, is)
			if i.Name == def {
				ns.InterfaceStats = is
			}
		}
		node.Network = ns
	}
	if s.cfg.RootDir != "" {
		if fs, err := statFS(s.cfg.RootDir); err == nil {
			node.Fs = fsStats(mt, fs, nil)
		}
	}
	if s.cfg.ImageFSDir != "" {
		if fs, err := statFS(s.cfg.ImageFSDir); err == nil {
			node.Runtime = &statsv1.RuntimeStats{ImageFs: fsStats(mt, fs, nil), ContainerFs: fsStats(mt, fs, nil)}
		}
	}
	if maxPID, procs, err := hostProcs(s.stats.proc); err == nil {
		node.Rlimit = &statsv1.RlimitStats{Time: mt, MaxPID: &maxPID, NumOfRunningProcesses: &procs}
	}

	sum := &statsv1.Summary{Node: node, Pods: []statsv1.PodStats{}}
	for _, p := range s.deps.Pods.ListPods() {
		sum.Pods = append(sum.Pods, s.podStats(ctx, p, mt))
	}
	return sum, nil
}

func fsStats(t metav1.Time, fs fsUsage, used *uint64) *statsv1.FsStats {
	st := &statsv1.FsStats{Time: t, AvailableBytes: u64(fs.Available), CapacityBytes: u64(fs.Capacity),
		UsedBytes: u64(fs.Used), Inodes: u64(fs.Inodes), InodesFree: u64(fs.InodesFree), InodesUsed: u64(fs.Inodes - fs.InodesFree)}
	if used != nil {
		st.UsedBytes = used
	}
	return st
}

// podStats gathers one pod's stats; a container whose stats cannot be
// read is listed without them.
func (s *Server) podStats(ctx context.Context, pod PodState, mt metav1.Time) statsv1.PodStats {
	p := pod.Pod
	ps := statsv1.PodStats{
		PodRef:     statsv1.PodReference{Name: p.Name, Namespace: p.Namespace, UID: string(pod.UID)},
		Containers: []statsv1.ContainerStats{},
	}
	if p.Status.StartTime != nil {
		ps.StartTime = *p.Status.StartTime
	}
	// The running instances, one per name.
	containers := map[string]ContainerRef{}
	for _, c := range pod.Containers {
		if c.Running && c.ID != "" {
			containers[c.Name] = c
		}
	}
	names := make([]string, 0, len(containers))
	for n := range containers {
		names = append(names, n)
	}
	sort.Strings(names)
	var cpuNanos, nanoCores, memUsage, memWS, pids, logs uint64
	haveCPU, haveRate, haveMem := false, true, false
	for _, n := range names {
		c := containers[n]
		cs := statsv1.ContainerStats{Name: n, StartTime: metav1.NewTime(c.StartedAt)}
		if ps.StartTime.IsZero() || c.StartedAt.Before(ps.StartTime.Time) {
			ps.StartTime = metav1.NewTime(c.StartedAt)
		}
		if st, err := s.deps.Runtime.Stats(ctx, c.ID); err == nil {
			at := metav1.NewTime(st.Timestamp)
			rate := s.stats.rate(c.ID)
			cs.CPU = &statsv1.CPUStats{Time: at, UsageCoreNanoSeconds: u64(st.CPUUsageNanos), UsageNanoCores: rate}
			cs.Memory = &statsv1.MemoryStats{Time: at, UsageBytes: u64(st.MemoryUsageBytes), WorkingSetBytes: u64(st.MemoryWorkingSetBytes)}
			if st.MemoryLimitBytes > 0 {
				cs.Memory.AvailableBytes = u64(st.MemoryLimitBytes - min(st.MemoryWorkingSetBytes, st.MemoryLimitBytes))
			}
			cpuNanos += st.CPUUsageNanos
			memUsage += st.MemoryUsageBytes
			memWS += st.MemoryWorkingSetBytes
			pids += st.Pids
			haveCPU, haveMem = true, true
			if rate == nil {
				haveRate = false
			} else {
				nanoCores += *rate
			}
		} else {
			s.log.Debug("stats: container", "pod", p.Name, "namespace", p.Namespace, "container", n, "err", err)
		}
		if st, err := s.deps.Runtime.Status(ctx, c.ID); err == nil && st.LogPath != "" {
			used := fileSizes(st.LogPath)
			logs += used
			if fs, err := statFS(filepath.Dir(st.LogPath)); err == nil {
				cs.Logs = fsStats(mt, fs, u64(used))
			}
		}
		ps.Containers = append(ps.Containers, cs)
	}
	if haveCPU {
		ps.CPU = &statsv1.CPUStats{Time: mt, UsageCoreNanoSeconds: u64(cpuNanos)}
		if haveRate {
			ps.CPU.UsageNanoCores = u64(nanoCores)
		}
		ps.ProcessStats = &statsv1.ProcessStats{ProcessCount: u64(pids)}
	}
	if haveMem {
		ps.Memory = &statsv1.MemoryStats{Time: mt, UsageBytes: u64(memUsage), WorkingSetBytes: u64(memWS)}
	}
	if s.deps.Network != nil && !pod.HostNetwork {
		if n, err := s.deps.Network.Stats(string(pod.UID)); err == nil {
			is := statsv1.InterfaceStats{Name: n.Interface, RxBytes: u64(n.RxBytes), RxErrors: u64(n.RxErrors),
				TxBytes: u64(n.TxBytes), TxErrors: u64(n.TxErrors)}
			ps.Network = &statsv1.NetworkStats{Time: mt, InterfaceStats: is, Interfaces: []statsv1.InterfaceStats{is}}
		}
	}
	if len(names) > 0 {
		ps.EphemeralStorage = &statsv1.FsStats{Time: mt, UsedBytes: u64(logs)}
	}
	return ps
}

// serveSummary serves /stats/summary (only_cpu_and_memory=true leaves
// out network and file systems, as metrics-server asks).
func (s *Server) serveSummary(w http.ResponseWriter, r *http.Request) {
	sum, err := s.Summary(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	if v := r.URL.Query().Get("only_cpu_and_memory"); v == "true" || v == "1" {
		sum.Node.Network, sum.Node.Fs, sum.Node.Runtime, sum.Node.Rlimit = nil, nil, nil, nil
		for i := range sum.Pods {
			p := &sum.Pods[i]
			p.Network, p.EphemeralStorage, p.VolumeStats, p.ProcessStats = nil, nil, nil, nil
			for j := range p.Containers {
				p.Containers[j].Logs, p.Containers[j].Rootfs = nil, nil
			}
		}
	}
	writeJSON(w, sum)
}

// servePods serves /pods: the pods the kubelet runs, as a v1 PodList.
func (s *Server) servePods(w http.ResponseWriter, r *http.Request) {
	list := corev1.PodList{TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"}, Items: []corev1.Pod{}}
	for _, p := range s.deps.Pods.ListPods() {
		list.Items = append(list.Items, *p.Pod)
	}
	writeJSON(w, &list)
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}
